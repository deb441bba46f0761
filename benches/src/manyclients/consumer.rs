//! One W8 consumer connection: consumer `i` long-polls partition `i` with Fetch v12 (by topic
//! name, no fetch session; served by Kafka 4.1 too) from offset 0, advancing past every record it
//! receives, and times each measured record from the send instant its value carries to the
//! arrival of the answer that carries it.
//!
//! Until its first answer without an error, a retriable error is waited out (reference Kafka
//! answers NOT_LEADER_OR_FOLLOWER for a moment after a topic is created); after that any error
//! fails the run. Once the producers are done it stops when it has read its partition up to the
//! end their answers reported, or when the drain time runs out (the run then reports what is
//! missing).

use super::conn::Conn;
use super::refusal::Refusal;
use super::schedule::Plan;
use super::shared::{STAMP_BYTES, Shared, UNMEASURED};
use super::{ANSWER_WAIT_MAX, READY_RETRY_PAUSE, READY_WAIT_MAX};
use bytes::{Buf, Bytes};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::records::{Record, RecordBatchDecoder};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use strata_testkit::frame;
use tokio::sync::watch;

/// Fetch v12: the last version that names topics rather than ids.
pub const FETCH_VERSION: i16 = 12;
/// Long-poll bound: an idle partition is answered empty after this long.
const MAX_WAIT_MS: i32 = 500;
/// Answer as soon as there is one byte.
const MIN_BYTES: i32 = 1;
const PARTITION_BYTES_MAX: i32 = 1 << 20;
/// No fetch session (KIP-227's FINAL_EPOCH): every fetch is a full one.
const SESSIONLESS_EPOCH: i32 = -1;
/// A consumer, not a replica.
const CONSUMER_REPLICA_ID: i32 = -1;

/// One consumer connection's place in the workload.
#[derive(Debug)]
pub struct Consumer {
    pub partition: i32,
    pub topic: Arc<str>,
    pub conn: Conn,
}

/// The Fetch frame (size prefix included) of `partition` from `offset`.
pub fn request_frame(topic: &str, partition: i32, offset: i64, correlation_id: i32) -> Vec<u8> {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(CONSUMER_REPLICA_ID))
        .with_max_wait_ms(MAX_WAIT_MS)
        .with_min_bytes(MIN_BYTES)
        .with_max_bytes(PARTITION_BYTES_MAX)
        .with_session_id(0)
        .with_session_epoch(SESSIONLESS_EPOCH)
        .with_topics(vec![
            FetchTopic::default().with_topic(TopicName(StrBytes::from_string(topic.to_string()))).with_partitions(
                vec![
                    FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(PARTITION_BYTES_MAX),
                ],
            ),
        ]);
    frame::framed(&frame::encode_request(correlation_id, FETCH_VERSION, &request))
}

/// The records of `partition` at or after `offset` in a fetch answer, or why there are none.
pub fn read_answer(mut body: Bytes, correlation_id: i32, partition: i32, offset: i64) -> Result<Vec<Record>, Refusal> {
    let header = ResponseHeader::decode(&mut body, ApiKey::Fetch.response_header_version(FETCH_VERSION))
        .map_err(|e| Refusal::malformed(format!("decoding a fetch answer's header: {e}")))?;
    if header.correlation_id != correlation_id {
        return Err(Refusal::malformed(format!(
            "fetch answer with correlation id {}, expected {correlation_id}",
            header.correlation_id
        )));
    }
    let response = FetchResponse::decode(&mut body, FETCH_VERSION)
        .map_err(|e| Refusal::malformed(format!("decoding a fetch answer: {e}")))?;
    if response.error_code != 0 {
        return Err(Refusal::code(response.error_code, "fetch".into()));
    }
    let answer = response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| Refusal::malformed(format!("the fetch answer has no partition {partition}")))?;
    if answer.error_code != 0 {
        return Err(Refusal::code(answer.error_code, format!("fetch of partition {partition} at offset {offset}")));
    }
    let records = match &answer.records {
        Some(bytes) => complete_records(bytes).map_err(Refusal::malformed)?,
        None => Vec::new(),
    };
    Ok(records.into_iter().filter(|r| r.offset >= offset).collect())
}

/// The records of every whole batch in `bytes`. An answer may end in a batch cut short at the
/// partition's byte limit (Kafka's does); clients drop it and fetch it again from its offset, and
/// so does this. `strata_testkit::batches::decode` is not used: it panics on bytes it cannot
/// decode, as a test should, where a benchmark must report them.
fn complete_records(bytes: &Bytes) -> Result<Vec<Record>, String> {
    let mut buf = bytes.clone();
    let mut records = Vec::new();
    while buf.has_remaining() {
        match RecordBatchDecoder::decode(&mut buf) {
            Ok(set) => records.extend(set.records),
            // The first batch is always whole (a broker answers an oversized first batch whole),
            // so an error after it is the cut-short last batch.
            Err(_) if !records.is_empty() => break,
            Err(e) => return Err(format!("decoding record batches: {e}")),
        }
    }
    Ok(records)
}

/// The stamp at the start of a record's value; `None` for a value too short to hold one.
fn stamp(value: Option<&Bytes>) -> Option<u64> {
    let head = value?.get(..STAMP_BYTES)?;
    Some(u64::from_le_bytes(<[u8; STAMP_BYTES]>::try_from(head).ok()?))
}

impl Consumer {
    /// Runs the connection until it has read its partition to the end after the producers are
    /// done, the drain time is over, or the run fails.
    pub async fn run(mut self, shared: Arc<Shared>, plan: watch::Receiver<Option<Plan>>) {
        if let Err(reason) = self.run_inner(&shared, &plan).await {
            shared.fail(format!("consumer of partition {}: {reason}", self.partition));
        }
    }

    async fn run_inner(&mut self, shared: &Shared, plan: &watch::Receiver<Option<Plan>>) -> Result<(), String> {
        let partition = usize::try_from(self.partition).unwrap_or(usize::MAX);
        let give_up_ready_at = Instant::now() + READY_WAIT_MAX;
        let mut ready = false;
        let mut offset: i64 = 0;
        let mut correlation_id: i32 = 0;
        while !shared.failed() {
            if let Some(until) = shared.drain_until()
                && (offset >= shared.log_end(partition) || Instant::now() >= until)
            {
                break;
            }
            correlation_id = correlation_id.wrapping_add(1);
            let frame = request_frame(&self.topic, self.partition, offset, correlation_id);
            let body = self.conn.exchange(&frame, ANSWER_WAIT_MAX).await?;
            let arrived = Instant::now();
            shared.fetch_answers.fetch_add(1, Ordering::AcqRel);
            let records = match read_answer(body, correlation_id, self.partition, offset) {
                Ok(records) => records,
                Err(refusal) if !ready && refusal.retriable() && arrived < give_up_ready_at => {
                    tokio::time::sleep(READY_RETRY_PAUSE).await;
                    continue;
                }
                Err(refusal) => return Err(refusal.reason),
            };
            if !ready {
                ready = true;
                shared.ready.fetch_add(1, Ordering::AcqRel);
            }
            // Measured records exist only once the plan is set.
            let current_plan = *plan.borrow();
            for record in records {
                offset = record.offset + 1;
                let Some(sent) = stamp(record.value.as_ref()) else {
                    return Err(format!("record at offset {} has no {STAMP_BYTES}-byte stamp", record.offset));
                };
                if let Some(plan) = current_plan.filter(|_| sent != UNMEASURED) {
                    shared.consumed(&plan, sent, record.value.as_ref().map_or(0, Bytes::len), arrived);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::RequestHeader;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use strata_testkit::batches::Batch;

    #[test]
    fn the_request_long_polls_one_partition_by_name() {
        let mut frame = Bytes::from(request_frame("bench-w8", 3, 77, 9));
        assert_eq!(frame.get_i32() as usize, frame.len());
        let header = RequestHeader::decode(&mut frame, ApiKey::Fetch.request_header_version(FETCH_VERSION)).unwrap();
        assert_eq!((header.correlation_id, header.request_api_version), (9, FETCH_VERSION));
        let request = FetchRequest::decode(&mut frame, FETCH_VERSION).unwrap();
        assert_eq!((request.max_wait_ms, request.min_bytes, request.session_epoch), (500, 1, -1));
        let topic = &request.topics[0];
        assert_eq!(topic.topic.0.as_str(), "bench-w8");
        assert_eq!((topic.partitions[0].partition, topic.partitions[0].fetch_offset), (3, 77));
        assert_eq!(topic.partitions[0].partition_max_bytes, 1 << 20);
    }

    fn batch(offset: i64, stamp: u64) -> Bytes {
        let mut value = vec![0u8; 1024];
        value[..STAMP_BYTES].copy_from_slice(&stamp.to_le_bytes());
        Batch::new().record(None, Some(&value), 1_700_000_000_000).base_offset(offset).encode()
    }

    fn answer(correlation_id: i32, partition: i32, error_code: i16, records: Option<Bytes>) -> Bytes {
        let data =
            PartitionData::default().with_partition_index(partition).with_error_code(error_code).with_records(records);
        let response = FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_static_str("bench-w8")))
                .with_partitions(vec![data]),
        ]);
        frame::encode_response::<FetchRequest>(correlation_id, FETCH_VERSION, &response).freeze()
    }

    #[test]
    fn answers_give_the_records_from_the_offset_on_and_drop_a_cut_short_last_batch() {
        let mut bytes = BytesMut::new();
        for (offset, stamp) in [(4, 1), (5, 2), (6, UNMEASURED)] {
            bytes.extend_from_slice(&batch(offset, stamp));
        }
        let whole = bytes.clone().freeze();
        let records = read_answer(answer(1, 2, 0, Some(whole)), 1, 2, 5).unwrap();
        assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), [5, 6]);
        assert_eq!(stamp(records[0].value.as_ref()), Some(2));
        assert_eq!(stamp(records[1].value.as_ref()), Some(UNMEASURED));

        let cut = bytes.split_to(bytes.len() - 100).freeze();
        let records = read_answer(answer(1, 2, 0, Some(cut)), 1, 2, 4).unwrap();
        assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), [4, 5]);

        assert!(read_answer(answer(1, 2, 0, None), 1, 2, 0).unwrap().is_empty());
    }

    #[test]
    fn errors_and_garbage_are_refusals() {
        let not_leader = strata_testkit::codes::NOT_LEADER_OR_FOLLOWER;
        let refusal = read_answer(answer(1, 2, not_leader, None), 1, 2, 0).unwrap_err();
        assert!(refusal.retriable());
        assert!(read_answer(answer(1, 3, 0, None), 1, 2, 0).is_err(), "another partition");
        assert!(read_answer(answer(2, 2, 0, None), 1, 2, 0).is_err(), "another correlation id");
        let garbage = Bytes::from_static(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9]);
        assert!(read_answer(answer(1, 2, 0, Some(garbage)), 1, 2, 0).is_err(), "an undecodable first batch");
        assert_eq!(stamp(Some(&Bytes::from_static(b"short"))), None);
    }
}
