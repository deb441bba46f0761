//! One W8 producer connection: a ProduceRequest (acks=1, one uncompressed v2 batch of one record)
//! to its partition every interval at its phase of the schedule, each answered before the next is
//! sent. The record's value starts with its stamp; its timestamp is the wall clock.
//!
//! Before the schedule starts, the connection sends one unmeasured record until it is accepted:
//! reference Kafka answers NOT_LEADER_OR_FOLLOWER for a moment after a topic is created, and a
//! retriable error is tolerated there only. From then on any error fails the run.

use super::conn::Conn;
use super::refusal::Refusal;
use super::schedule::{self, Plan};
use super::shared::{STAMP_BYTES, Shared, UNMEASURED};
use super::{ANSWER_WAIT_MAX, READY_RETRY_PAUSE, READY_WAIT_MAX};
use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, StrBytes};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use strata_testkit::batches::Batch;
use strata_testkit::frame;
use tokio::sync::watch;

/// Produce v9, as the raw-protocol producer of W2R (and served by Kafka 4.1).
pub const PRODUCE_VERSION: i16 = crate::rawload::PRODUCE_VERSION;
/// acks=1: the leader's append answers the request.
const ACKS_LEADER: i16 = 1;
/// How long the broker may take to answer a produce (it does not wait for replicas here).
const PRODUCE_TIMEOUT_MS: i32 = 30_000;

/// One producer connection's place in the workload.
#[derive(Debug)]
pub struct Producer {
    pub index: usize,
    pub producers: usize,
    pub partition: i32,
    pub topic: Arc<str>,
    pub record_bytes: usize,
    pub interval: Duration,
    pub conn: Conn,
}

/// The ProduceRequest frame (size prefix included) of one record with `value` on `partition`.
pub fn request_frame(topic: &str, partition: i32, value: &[u8], timestamp_ms: i64, correlation_id: i32) -> Vec<u8> {
    let batch = Batch::new().record(None, Some(value), timestamp_ms).encode();
    let request =
        ProduceRequest::default().with_acks(ACKS_LEADER).with_timeout_ms(PRODUCE_TIMEOUT_MS).with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![
                    PartitionProduceData::default().with_index(partition).with_records(Some(batch)),
                ]),
        ]);
    frame::framed(&frame::encode_request(correlation_id, PRODUCE_VERSION, &request))
}

/// The offset the answer gave the record, or why the partition refused it.
pub fn read_answer(mut body: Bytes, correlation_id: i32, partition: i32) -> Result<i64, Refusal> {
    let header = ResponseHeader::decode(&mut body, ApiKey::Produce.response_header_version(PRODUCE_VERSION))
        .map_err(|e| Refusal::malformed(format!("decoding a produce answer's header: {e}")))?;
    if header.correlation_id != correlation_id {
        return Err(Refusal::malformed(format!(
            "produce answer with correlation id {}, expected {correlation_id}",
            header.correlation_id
        )));
    }
    let response = ProduceResponse::decode(&mut body, PRODUCE_VERSION)
        .map_err(|e| Refusal::malformed(format!("decoding a produce answer: {e}")))?;
    let answer = response
        .responses
        .iter()
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == partition)
        .ok_or_else(|| Refusal::malformed(format!("the produce answer has no partition {partition}")))?;
    if answer.error_code != 0 {
        return Err(Refusal::code(answer.error_code, format!("produce to partition {partition}")));
    }
    Ok(answer.base_offset)
}

impl Producer {
    /// Runs the connection until the plan's window ends or the run fails.
    pub async fn run(mut self, shared: Arc<Shared>, mut plan: watch::Receiver<Option<Plan>>) {
        if let Err(reason) = self.run_inner(&shared, &mut plan).await {
            shared.fail(format!("producer {} (partition {}): {reason}", self.index, self.partition));
        }
    }

    async fn run_inner(&mut self, shared: &Shared, plan: &mut watch::Receiver<Option<Plan>>) -> Result<(), String> {
        let mut value: Vec<u8> = (0..self.record_bytes.max(STAMP_BYTES)).map(|i| (i % 251) as u8).collect();
        let mut correlation_id: i32 = 0;
        self.get_ready(shared, &mut value, &mut correlation_id).await?;
        let plan = match plan.wait_for(Option::is_some).await {
            Ok(plan) => (*plan).ok_or("the schedule was set empty")?,
            Err(_) => return Ok(()), // the coordinator gave up on the run; it says why
        };
        let partition = usize::try_from(self.partition).unwrap_or(usize::MAX);
        for round in 0.. {
            let due = schedule::due(&plan, self.index, self.producers, self.interval, round);
            if due >= plan.measure_until {
                break;
            }
            // A late answer makes the next send late too: the open loop catches up at once
            // (tokio's sleep returns at once for a past instant) so the offered rate holds.
            tokio::time::sleep_until(due.into()).await;
            if shared.failed() {
                break;
            }
            let measured = plan.measures(due);
            let sent = Instant::now();
            value[..STAMP_BYTES].copy_from_slice(&shared.stamp(sent, measured).to_le_bytes());
            correlation_id = correlation_id.wrapping_add(1);
            if measured {
                shared.sent_measured();
            }
            let body = self.send(&value, correlation_id).await?;
            let answered = Instant::now();
            shared.produce_answers.fetch_add(1, Ordering::AcqRel);
            let offset = read_answer(body, correlation_id, self.partition).map_err(|r| r.reason)?;
            shared.produced(partition, offset);
            if measured {
                shared.acknowledged(&plan, sent, answered);
            }
        }
        Ok(())
    }

    /// Sends one unmeasured record until the partition accepts it; only retriable errors, and
    /// only for [`READY_WAIT_MAX`], are waited out.
    async fn get_ready(&mut self, shared: &Shared, value: &mut [u8], correlation_id: &mut i32) -> Result<(), String> {
        value[..STAMP_BYTES].copy_from_slice(&UNMEASURED.to_le_bytes());
        let give_up_at = Instant::now() + READY_WAIT_MAX;
        loop {
            *correlation_id = correlation_id.wrapping_add(1);
            let body = self.send(value, *correlation_id).await?;
            shared.produce_answers.fetch_add(1, Ordering::AcqRel);
            match read_answer(body, *correlation_id, self.partition) {
                Ok(offset) => {
                    shared.produced(usize::try_from(self.partition).unwrap_or(usize::MAX), offset);
                    shared.ready.fetch_add(1, Ordering::AcqRel);
                    return Ok(());
                }
                Err(refusal) if refusal.retriable() && Instant::now() < give_up_at && !shared.failed() => {
                    tokio::time::sleep(READY_RETRY_PAUSE).await;
                }
                Err(refusal) => return Err(format!("not ready: {}", refusal.reason)),
            }
        }
    }

    async fn send(&mut self, value: &[u8], correlation_id: i32) -> Result<Bytes, String> {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let frame = request_frame(&self.topic, self.partition, value, now_ms, correlation_id);
        self.conn.exchange(&frame, ANSWER_WAIT_MAX).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Buf;
    use kafka_protocol::messages::RequestHeader;
    use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};

    #[test]
    fn the_request_carries_one_record_with_the_stamp() {
        let value = [42u8; 1024];
        let mut frame = Bytes::from(request_frame("bench-w8", 7, &value, 1_700_000_000_000, 5));
        assert_eq!(frame.get_i32() as usize, frame.len());
        let header =
            RequestHeader::decode(&mut frame, ApiKey::Produce.request_header_version(PRODUCE_VERSION)).unwrap();
        assert_eq!((header.correlation_id, header.request_api_version), (5, PRODUCE_VERSION));
        let request = ProduceRequest::decode(&mut frame, PRODUCE_VERSION).unwrap();
        assert_eq!(request.acks, 1);
        let partition = &request.topic_data[0].partition_data[0];
        assert_eq!(partition.index, 7);
        let records = strata_testkit::batches::decode(partition.records.as_ref().unwrap());
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].records.len(), 1);
        assert_eq!(records[0].records[0].value.as_deref(), Some(&value[..]));
        assert_eq!(records[0].records[0].timestamp, 1_700_000_000_000);
    }

    fn answer(correlation_id: i32, index: i32, error_code: i16, base_offset: i64) -> Bytes {
        let partition = PartitionProduceResponse::default()
            .with_index(index)
            .with_error_code(error_code)
            .with_base_offset(base_offset);
        let response = ProduceResponse::default()
            .with_responses(vec![TopicProduceResponse::default().with_partition_responses(vec![partition])]);
        frame::encode_response::<ProduceRequest>(correlation_id, PRODUCE_VERSION, &response).freeze()
    }

    #[test]
    fn answers_give_the_offset_or_a_refusal() {
        assert_eq!(read_answer(answer(3, 7, 0, 41), 3, 7), Ok(41));
        let not_leader = strata_testkit::codes::NOT_LEADER_OR_FOLLOWER;
        let refusal = read_answer(answer(3, 7, not_leader, -1), 3, 7).unwrap_err();
        assert!(refusal.retriable(), "{refusal:?}");
        assert!(refusal.reason.contains("NotLeaderOrFollower"), "{}", refusal.reason);
        let refusal = read_answer(answer(3, 7, strata_testkit::codes::MESSAGE_TOO_LARGE, -1), 3, 7).unwrap_err();
        assert!(!refusal.retriable());
        assert!(read_answer(answer(4, 7, 0, 41), 3, 7).is_err(), "wrong correlation id");
        assert!(read_answer(answer(3, 6, 0, 41), 3, 7).is_err(), "wrong partition");
    }
}
