//! W9's share consumers (KIP-932): `consumers` raw-protocol members of one share group, each on a
//! thread and socket of its own. A member joins with ShareGroupHeartbeat (its own member id, a
//! Kafka `Uuid` string as Kafka 4.1's clients make one), ShareFetches the partitions assigned to it, accepts every
//! record it acquired in its next ShareFetch (acknowledgements ride on the fetch, as the clients
//! send them), heartbeats when the group's interval says, and follows a new assignment: it
//! accepts what it holds of the partitions it loses with a ShareAcknowledge, then forgets them.
//! The group reads until it has acquired `expected` records or `time_max` passes.
//!
//! Raw protocol, as W8: a ShareConsumer of librdkafka is still a preview, and the one `rdkafka`
//! binding here has none. Each member decodes only answer headers and acquired-record ranges, so
//! what the run measures is the broker's side of share delivery.

use crate::error::BenchError;
use crate::group_read::{ReadSpec, ReadTotals};
use crate::loadgen::Consumed;
use bytes::{Buf, Bytes};
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::share_acknowledge_request::{
    AcknowledgePartition, AcknowledgeTopic, AcknowledgementBatch as AckBatch,
};
use kafka_protocol::messages::share_fetch_request::{AcknowledgementBatch, FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::{
    ApiKey, GroupId, IncrementalAlterConfigsRequest, MetadataRequest, ResponseHeader, ShareAcknowledgeRequest,
    ShareFetchRequest, ShareGroupHeartbeatRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Request, StrBytes};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_testkit::frame;
use uuid::Uuid;

/// The versions Kafka 4.1's clients speak (and Strata serves).
const HEARTBEAT_VERSION: i16 = 1;
const SHARE_FETCH_VERSION: i16 = 1;
const SHARE_ACKNOWLEDGE_VERSION: i16 = 1;
const METADATA_VERSION: i16 = 12;
const INCREMENTAL_ALTER_CONFIGS_VERSION: i16 = 1;
/// ConfigResource type GROUP (KIP-848).
const GROUP_RESOURCE: i8 = 32;
/// IncrementalAlterConfigs' SET operation.
const SET: i8 = 0;
/// KIP-932's acknowledgement type Accept.
const ACCEPT: i8 = 1;
/// Records one ShareFetch may acquire (the Java client's `max.poll.records` default).
const MAX_RECORDS: i32 = 500;
const FETCH_MAX_BYTES: i32 = 50 << 20;
const PARTITION_MAX_BYTES: i32 = 1 << 20;
const FETCH_WAIT_MS: i32 = 500;
/// An answer frame larger than this is a bug.
const ANSWER_BYTES_MAX: usize = 64 << 20;
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// COORDINATOR_LOAD_IN_PROGRESS and COORDINATOR_NOT_AVAILABLE: the heartbeat is sent again.
const RETRIABLE: [i16; 2] = [14, 15];
/// Until the first heartbeat answers with an interval.
const HEARTBEAT_INTERVAL_FIRST: Duration = Duration::from_millis(500);

/// Runs the group's members until they have read `expected` records or `time_max` passes.
pub fn run(spec: &ReadSpec) -> Result<Consumed, BenchError> {
    let topic_id = topic_id(&spec.bootstrap, &spec.topic)?;
    read_from_the_start(&spec.bootstrap, &spec.group)?;
    let totals = Arc::new(ReadTotals::default());
    let start = Instant::now();
    let members: Vec<_> = (0..spec.consumers)
        .map(|_| {
            let (spec, totals) = (spec.clone(), Arc::clone(&totals));
            std::thread::spawn(move || {
                if let Err(error) = Member::join(&spec, topic_id).and_then(|m| m.read(&spec, &totals, start)) {
                    totals.fail(error);
                }
            })
        })
        .collect();
    for member in members {
        if member.join().is_err() {
            totals.fail("a share consumer thread panicked".into());
        }
    }
    Ok(totals.consumed(spec.record_bytes))
}

/// One connection, its requests answered in order.
struct Conn {
    stream: TcpStream,
    correlation_id: i32,
}

impl Conn {
    fn connect(bootstrap: &str) -> Result<Conn, String> {
        let stream = TcpStream::connect(bootstrap).map_err(|e| format!("connecting to {bootstrap}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| e.to_string())?;
        Ok(Conn { stream, correlation_id: 0 })
    }

    fn call<R: Request>(&mut self, version: i16, request: &R) -> Result<R::Response, String> {
        let api_key = ApiKey::try_from(R::KEY).map_err(|()| format!("unknown api key {}", R::KEY))?;
        self.correlation_id += 1;
        let body = frame::encode_request(self.correlation_id, version, request);
        self.stream.write_all(&frame::framed(&body)).map_err(|e| format!("{api_key:?}: writing: {e}"))?;
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).map_err(|e| format!("{api_key:?}: reading: {e}"))?;
        let size = usize::try_from(i32::from_be_bytes(size)).map_err(|_| format!("{api_key:?}: negative size"))?;
        if size > ANSWER_BYTES_MAX {
            return Err(format!("{api_key:?}: a {size}-byte answer"));
        }
        let mut answer = vec![0u8; size];
        self.stream.read_exact(&mut answer).map_err(|e| format!("{api_key:?}: reading: {e}"))?;
        let mut answer = Bytes::from(answer);
        let header = ResponseHeader::decode(&mut answer, api_key.response_header_version(version))
            .map_err(|e| format!("{api_key:?}: answer header: {e}"))?;
        if header.correlation_id != self.correlation_id {
            return Err(format!("{api_key:?}: answer to request {} out of turn", header.correlation_id));
        }
        let response = R::Response::decode(&mut answer, version).map_err(|e| format!("{api_key:?}: answer: {e}"))?;
        if answer.has_remaining() {
            return Err(format!("{api_key:?}: {} bytes after the answer", answer.remaining()));
        }
        Ok(response)
    }
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The topic's id (ShareFetch names topics by id).
fn topic_id(bootstrap: &str, topic: &str) -> Result<Uuid, BenchError> {
    let fail = |reason: String| BenchError::Workload { workload: "W9".into(), reason };
    let mut conn = Conn::connect(bootstrap).map_err(fail)?;
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(TopicName(text(topic))))]));
    let answer = conn.call(METADATA_VERSION, &request).map_err(fail)?;
    answer
        .topics
        .first()
        .filter(|t| t.error_code == 0)
        .map(|t| t.topic_id)
        .ok_or_else(|| fail(format!("no topic {topic} in the metadata")))
}

/// Sets the group's `share.auto.offset.reset` to earliest (a share group starts at the log end by
/// default, past the backlog), as `kafka-configs.sh --entity-type groups` does.
fn read_from_the_start(bootstrap: &str, group: &str) -> Result<(), BenchError> {
    let fail = |reason: String| BenchError::Workload { workload: "W9".into(), reason };
    let mut conn = Conn::connect(bootstrap).map_err(fail)?;
    let config = AlterableConfig::default()
        .with_name(text("share.auto.offset.reset"))
        .with_config_operation(SET)
        .with_value(Some(text("earliest")));
    let resource = AlterConfigsResource::default()
        .with_resource_type(GROUP_RESOURCE)
        .with_resource_name(text(group))
        .with_configs(vec![config]);
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![resource]);
    let answer = conn.call(INCREMENTAL_ALTER_CONFIGS_VERSION, &request).map_err(fail)?;
    match answer.responses.first() {
        Some(r) if r.error_code == 0 => Ok(()),
        Some(r) => {
            Err(fail(format!("setting share.auto.offset.reset: error {} ({:?})", r.error_code, r.error_message)))
        }
        None => Err(fail("setting share.auto.offset.reset: no answer".into())),
    }
}

/// A member of the share group.
struct Member {
    conn: Conn,
    member_id: String,
    member_epoch: i32,
    heartbeat_interval: Duration,
    heartbeat_at: Instant,
    topic_id: Uuid,
    assigned: BTreeSet<i32>,
    /// The share session's next epoch (0 opens it).
    session_epoch: i32,
    /// Per partition, the acquired ranges not yet accepted.
    held: BTreeMap<i32, Vec<(i64, i64)>>,
}

/// `id` as Kafka writes a `Uuid` (URL-safe base64 without padding), the only member id form
/// Kafka's ShareFetch accepts.
fn kafka_uuid(id: Uuid) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

impl Member {
    fn join(spec: &ReadSpec, topic_id: Uuid) -> Result<Member, String> {
        let mut member = Member {
            conn: Conn::connect(&spec.bootstrap)?,
            member_id: kafka_uuid(Uuid::new_v4()),
            member_epoch: 0,
            heartbeat_interval: HEARTBEAT_INTERVAL_FIRST,
            heartbeat_at: Instant::now(),
            topic_id,
            assigned: BTreeSet::new(),
            session_epoch: 0,
            held: BTreeMap::new(),
        };
        let deadline = Instant::now() + spec.time_max;
        while member.assigned.is_empty() {
            if Instant::now() > deadline {
                return Err(format!("member {} was assigned no partition", member.member_id));
            }
            member.heartbeat(spec)?;
            if member.assigned.is_empty() {
                std::thread::sleep(member.heartbeat_interval.min(HEARTBEAT_INTERVAL_FIRST));
            }
        }
        Ok(member)
    }

    /// Heartbeats; returns the partitions this member no longer has.
    fn heartbeat(&mut self, spec: &ReadSpec) -> Result<BTreeSet<i32>, String> {
        let subscribed = (self.member_epoch == 0).then(|| vec![TopicName(text(&spec.topic))]);
        let request = ShareGroupHeartbeatRequest::default()
            .with_group_id(GroupId(text(&spec.group)))
            .with_member_id(text(&self.member_id))
            .with_member_epoch(self.member_epoch)
            .with_subscribed_topic_names(subscribed);
        let answer = self.conn.call(HEARTBEAT_VERSION, &request)?;
        if RETRIABLE.contains(&answer.error_code) {
            // A broker just started may still be loading its groups: asked again at the interval.
            self.heartbeat_at = Instant::now() + HEARTBEAT_INTERVAL_FIRST;
            return Ok(BTreeSet::new());
        }
        if answer.error_code != 0 {
            return Err(format!("ShareGroupHeartbeat: error {} ({:?})", answer.error_code, answer.error_message));
        }
        self.member_epoch = answer.member_epoch;
        self.heartbeat_interval = Duration::from_millis(u64::try_from(answer.heartbeat_interval_ms).unwrap_or(5000));
        self.heartbeat_at = Instant::now() + self.heartbeat_interval;
        let Some(assignment) = answer.assignment else { return Ok(BTreeSet::new()) };
        let now: BTreeSet<i32> = assignment
            .topic_partitions
            .iter()
            .filter(|t| t.topic_id == self.topic_id)
            .flat_map(|t| t.partitions.iter().copied())
            .collect();
        let lost = self.assigned.difference(&now).copied().collect();
        self.assigned = now;
        Ok(lost)
    }

    fn read(mut self, spec: &ReadSpec, totals: &ReadTotals, start: Instant) -> Result<(), String> {
        let deadline = start + spec.time_max;
        let mut forgotten = BTreeSet::new();
        while totals.count() < spec.expected && Instant::now() < deadline {
            if Instant::now() >= self.heartbeat_at {
                let lost = self.heartbeat(spec)?;
                if !lost.is_empty() {
                    self.acknowledge(spec, &lost)?;
                    forgotten.extend(lost);
                }
            }
            let acquired = self.fetch(spec, &std::mem::take(&mut forgotten))?;
            totals.add(acquired, start);
        }
        Ok(())
    }

    /// One ShareFetch of the assigned partitions, accepting what was held; the records acquired.
    fn fetch(&mut self, spec: &ReadSpec, forgotten: &BTreeSet<i32>) -> Result<u64, String> {
        let partitions = self
            .assigned
            .iter()
            .map(|&index| {
                let acks = self
                    .held
                    .remove(&index)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(first, last)| {
                        AcknowledgementBatch::default()
                            .with_first_offset(first)
                            .with_last_offset(last)
                            .with_acknowledge_types(vec![ACCEPT])
                    })
                    .collect();
                FetchPartition::default()
                    .with_partition_index(index)
                    .with_partition_max_bytes(PARTITION_MAX_BYTES)
                    .with_acknowledgement_batches(acks)
            })
            .collect();
        let forgotten_topics = if forgotten.is_empty() {
            Vec::new()
        } else {
            vec![
                ForgottenTopic::default()
                    .with_topic_id(self.topic_id)
                    .with_partitions(forgotten.iter().copied().collect()),
            ]
        };
        let request = ShareFetchRequest::default()
            .with_group_id(Some(GroupId(text(&spec.group))))
            .with_member_id(Some(text(&self.member_id)))
            .with_share_session_epoch(self.next_session_epoch())
            .with_max_wait_ms(FETCH_WAIT_MS)
            .with_min_bytes(1)
            .with_max_bytes(FETCH_MAX_BYTES)
            .with_max_records(MAX_RECORDS)
            .with_batch_size(MAX_RECORDS)
            .with_topics(vec![FetchTopic::default().with_topic_id(self.topic_id).with_partitions(partitions)])
            .with_forgotten_topics_data(forgotten_topics);
        let answer = self.conn.call(SHARE_FETCH_VERSION, &request)?;
        if answer.error_code != 0 {
            return Err(format!("ShareFetch: error {} ({:?})", answer.error_code, answer.error_message));
        }
        let mut acquired = 0u64;
        for partition in answer.responses.iter().flat_map(|t| &t.partitions) {
            if partition.error_code != 0 || partition.acknowledge_error_code != 0 {
                return Err(format!(
                    "ShareFetch of partition {}: error {}, acknowledgement error {}",
                    partition.partition_index, partition.error_code, partition.acknowledge_error_code
                ));
            }
            for run in &partition.acquired_records {
                acquired += u64::try_from(run.last_offset - run.first_offset + 1).unwrap_or(0);
                self.held.entry(partition.partition_index).or_default().push((run.first_offset, run.last_offset));
            }
        }
        Ok(acquired)
    }

    /// Accepts what this member holds of `partitions` with a ShareAcknowledge.
    fn acknowledge(&mut self, spec: &ReadSpec, partitions: &BTreeSet<i32>) -> Result<(), String> {
        let acks: Vec<AcknowledgePartition> = partitions
            .iter()
            .filter_map(|index| self.held.remove(index).map(|ranges| (*index, ranges)))
            .map(|(index, ranges)| {
                let batches = ranges
                    .into_iter()
                    .map(|(first, last)| {
                        AckBatch::default()
                            .with_first_offset(first)
                            .with_last_offset(last)
                            .with_acknowledge_types(vec![ACCEPT])
                    })
                    .collect();
                AcknowledgePartition::default().with_partition_index(index).with_acknowledgement_batches(batches)
            })
            .collect();
        if acks.is_empty() {
            return Ok(());
        }
        let request = ShareAcknowledgeRequest::default()
            .with_group_id(Some(GroupId(text(&spec.group))))
            .with_member_id(Some(text(&self.member_id)))
            .with_share_session_epoch(self.next_session_epoch())
            .with_topics(vec![AcknowledgeTopic::default().with_topic_id(self.topic_id).with_partitions(acks)]);
        let answer = self.conn.call(SHARE_ACKNOWLEDGE_VERSION, &request)?;
        if answer.error_code != 0 {
            return Err(format!("ShareAcknowledge: error {} ({:?})", answer.error_code, answer.error_message));
        }
        Ok(())
    }

    fn next_session_epoch(&mut self) -> i32 {
        let epoch = self.session_epoch;
        self.session_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
        epoch
    }
}
