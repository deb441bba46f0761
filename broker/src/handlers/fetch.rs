//! Fetch: record data leaves as file ranges (`sendfile`, or the copying path when
//! `strata.fetch.transfer=copy`) framed by [`strata_wire::fetch_framing`], so it never passes
//! through this handler.
//!
//! v0-3 (served with `strata.legacy.protocol.enable`) are the exception: their clients read
//! message sets of format v0 or v1, so the record data is read into memory and down-converted by
//! `strata_wire::legacy::fetch` (see there for the rules), with the same limits and long poll,
//! counted in stored bytes. A partition whose stored data does not convert is answered
//! CORRUPT_MESSAGE.
//!
//! Limits, as Kafka's `ReplicaManager.readFromLog`: each partition reads at most
//! `min(partition_max_bytes, what is left of max_bytes)`, in whole batches; the first partition
//! that returns data gets at least one whole batch even when that batch is larger (so a consumer
//! never stalls behind a large batch); later partitions return nothing rather than exceed the
//! limit. A fetch offset inside a batch returns that whole batch (the client skips the records
//! before its offset).
//!
//! Isolation: READ_UNCOMMITTED reads up to the high watermark; READ_COMMITTED
//! (`isolation_level = 1`) only up to the last stable offset (the first offset of the earliest
//! open transaction), and lists the aborted transactions overlapping the batches returned (the
//! log's txn index), so the client drops their records. Every partition reports its last stable
//! offset.
//!
//! Long poll: when fewer than `min_bytes` are available and no partition has an error, the
//! handler waits ([`super::fetch_wait`]) until reading again can find enough bytes or
//! `max_wait_ms` passes, then reads again and answers. Appends wake it; it reads the logs again
//! only when the bytes published since its last read can meet `min_bytes` (or a transaction
//! ended, the log start moved, a write failed), so a fetch with a large `min_bytes` costs no
//! reads while small appends trickle in.
//!
//! Fetch from the closest replica (KIP-392): a consumer's fetch (v11+) in a cluster may be served
//! by any replica of the partition, a follower reading up to the high watermark its leader last
//! gave it; with `replica.selector.class` the rack-aware selector, the leader answers a consumer
//! whose `client.rack` is not its own with no records and the in-sync replica of that rack to
//! fetch from (`preferred_read_replica`). A partition refused with NOT_LEADER_OR_FOLLOWER or
//! FENCED_LEADER_EPOCH names its current leader and where it is reached (v16+, KIP-951,
//! [`crate::leader_hint`]).
//!
//! Followers (a replica id of 0 or more, in a cluster) read up to the log end rather than the high
//! watermark, and each of their fetch offsets reports their progress to the partition's leader
//! (`crate::replication`) before the read, which may raise the high watermark.
//!
//! Fetch sessions (KIP-227, [`super::fetch_session`]): a full fetch at epoch 0 opens a session
//! over its partitions; an incremental fetch reads every partition of its session and answers only
//! those with news, topics grouped as the session orders its partitions.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::FetchTopic;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchRequest, TopicName};
use strata_log::{FileRange, Isolation, Partition, ReadError};
use strata_wire::fetch_framing::{
    FramedPartition, FramedResponse, FramedTopic, Piece, RecordData, encode_fetch_response,
};
use strata_wire::frame::{finish_frame, start_frame};
use strata_wire::legacy;
use strata_wire::legacy::fetch::{LegacyFetchPartition, LegacyFetchTopic, down_convert, magic_for};
use tokio::time::Instant;
use uuid::Uuid;

use super::fetch_session::{self, Plan, TOPIC_ID_VERSION_MIN};
use super::fetch_wait::LongPoll;
use crate::api::ApiSpec;
use crate::errors::{self, ErrorCode};
use crate::fetch_sessions::{FetchParams, PartitionAnswer, PartitionKey, TopicKey};
use crate::locate::{locate, locate_replica};
use crate::reply::{Chunk, Outcome, RequestContext};
use crate::state::{Broker, now_ms};
use crate::topics::Topic;

/// The key and versions of Fetch, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::Fetch, 4, 18).with_legacy_min(0);

/// First Fetch version that carries the client's rack (KIP-392).
const CLIENT_RACK_VERSION_MIN: i16 = 11;
/// First Fetch version that carries the replica id in `replica_state`.
const REPLICA_STATE_VERSION_MIN: i16 = 15;
/// Kafka's `isolation_level` for READ_COMMITTED.
const READ_COMMITTED: i8 = 1;

/// Record data as file ranges, described to the framing by its length.
#[derive(Debug)]
struct FileRecords(Vec<FileRange>);

impl RecordData for FileRecords {
    fn records_len(&self) -> usize {
        self.0.iter().map(|r| r.len as usize).sum()
    }
}

/// One requested partition, resolved to its log (or to the error that answers it).
struct Wanted {
    index: i32,
    params: FetchParams,
    log: Result<Arc<Partition>, i16>,
    /// The replica the consumer should fetch this partition from instead (KIP-392): answered
    /// with no records and this id.
    preferred: Option<i32>,
}

/// How a consumer's fetch is routed among a partition's replicas (KIP-392).
#[derive(Default)]
struct Routing {
    /// A consumer's fetch (v11+, which carries the client's rack) may be served by a follower.
    follower_may_serve: bool,
    /// The consumer's rack, when the leader sends consumers to a replica in their rack.
    client_rack: Option<String>,
}

struct WantedTopic {
    key: TopicKey,
    name: TopicName,
    id: Uuid,
    /// The id of the topic found, whether the request named it by id or by name.
    resolved: Option<Uuid>,
    partitions: Vec<Wanted>,
}

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: FetchRequest) -> Outcome {
    let version = ctx.api_version;
    let by_id = version >= TOPIC_ID_VERSION_MIN;
    let plan = match fetch_session::plan(broker, version, &req, now_ms()) {
        Ok(plan) => plan,
        Err(error) => {
            tracing::debug!(%error, session = req.session_id, epoch = req.session_epoch, "incremental fetch refused");
            return encode(ctx, FramedResponse { error_code: error.code(), ..FramedResponse::default() });
        }
    };
    let routing = routing(broker, version, &req);
    let wanted: Vec<WantedTopic> = match &plan {
        Plan::Incremental { partitions, .. } => resolve_session(broker, by_id, &routing, partitions),
        Plan::Sessionless | Plan::Full => {
            req.topics.iter().map(|t| resolve_request(broker, by_id, &routing, t)).collect()
        }
    };
    let read_committed = req.isolation_level == READ_COMMITTED;
    // A follower in a cluster reads to the log end, and its fetch offsets are its progress.
    let follower = replica_id(version, &req).filter(|_| broker.cluster.is_some());
    let isolation = match (follower, read_committed) {
        (Some(_), _) => Isolation::LogEnd,
        (None, true) => Isolation::ReadCommitted,
        (None, false) => Isolation::ReadUncommitted,
    };
    if let Some(follower) = follower {
        for topic in &wanted {
            for p in topic.partitions.iter().filter(|p| p.log.is_ok()) {
                let Some(topic_id) = topic.resolved else { continue };
                broker.replication.follower_fetched(broker, topic_id, p.index, follower, p.params.fetch_offset);
            }
        }
    }
    let max_bytes = u32::try_from(req.max_bytes).unwrap_or(0);
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0));
    let logs = wanted.iter().flat_map(|t| &t.partitions).filter_map(|p| p.log.as_ref().ok());
    let mut poll = LongPoll::new(logs, read_committed);
    loop {
        poll.mark();
        let (topics, bytes, any_error) = read_all(&wanted, max_bytes, isolation);
        let enough = bytes >= min_bytes || any_error || poll.is_empty();
        if enough || Instant::now() >= deadline {
            if legacy::is_legacy(ctx.api_key, version) {
                return encode_legacy(ctx, &wanted, topics);
            }
            let mut response = answer(broker, &plan, replica_id(version, &req).is_some(), by_id, &wanted, topics);
            crate::leader_hint::fill_fetch(broker, version, by_id, &mut response);
            return encode(ctx, response);
        }
        drop(topics);
        poll.wait(bytes, min_bytes, deadline).await;
    }
}

/// The follower that sent the fetch, if one did (its session may displace consumers' sessions).
fn replica_id(version: i16, req: &FetchRequest) -> Option<i32> {
    let replica = if version >= REPLICA_STATE_VERSION_MIN { req.replica_state.replica_id } else { req.replica_id };
    (replica.0 >= 0).then_some(replica.0)
}

/// KIP-392's routing of this fetch: a consumer's fetch of v11+ in a cluster may be served by a
/// follower, and, with the rack-aware selector, the leader sends a consumer in another rack to a
/// replica in its own.
fn routing(broker: &Broker, version: i16, req: &FetchRequest) -> Routing {
    if broker.cluster.is_none() || version < CLIENT_RACK_VERSION_MIN || replica_id(version, req).is_some() {
        return Routing::default();
    }
    let rack = req.rack_id.as_str();
    let rack_aware = broker.config.settings.replica_selector_class == crate::config_defs::RACK_AWARE_SELECTOR;
    let client_rack =
        (rack_aware && !rack.is_empty() && broker.rack().as_deref() != Some(rack)).then(|| rack.to_string());
    Routing { follower_may_serve: true, client_rack }
}

/// The in-sync replica on a live broker in `rack` that a consumer there should fetch `index` of
/// `topic` from, if there is one (Kafka's `RackAwareReplicaSelector`).
fn preferred_replica(broker: &Broker, topic: &Topic, index: i32, rack: &str) -> Option<i32> {
    let image = broker.topics.cluster_image()?;
    let leadership = topic.leadership(index)?;
    leadership
        .isr
        .iter()
        .copied()
        .find(|replica| image.broker(*replica).is_some_and(|b| !b.fenced && b.rack.as_deref() == Some(rack)))
}

fn resolve_request(broker: &Broker, by_id: bool, routing: &Routing, topic: &FetchTopic) -> WantedTopic {
    let key = fetch_session::topic_key(by_id, &topic.topic, topic.topic_id);
    let partitions = topic.partitions.iter().map(|p| (p.partition, fetch_session::params(p)));
    resolve(broker, by_id, routing, key, topic.topic.clone(), topic.topic_id, partitions)
}

/// A session's partitions, each run of partitions of one topic as one topic (as Kafka groups an
/// incremental response).
fn resolve_session(
    broker: &Broker,
    by_id: bool,
    routing: &Routing,
    partitions: &[(PartitionKey, FetchParams)],
) -> Vec<WantedTopic> {
    let mut topics = Vec::new();
    for run in partitions.chunk_by(|(a, _), (b, _)| a.0 == b.0) {
        let key = run[0].0.0.clone();
        let (name, id) = fetch_session::topic_name_and_id(&key);
        let members = run.iter().map(|((_, index), params)| (*index, *params));
        topics.push(resolve(broker, by_id, routing, key, name, id, members));
    }
    topics
}

fn resolve(
    broker: &Broker,
    by_id: bool,
    routing: &Routing,
    key: TopicKey,
    name: TopicName,
    id: Uuid,
    partitions: impl Iterator<Item = (i32, FetchParams)>,
) -> WantedTopic {
    let found = if by_id { broker.topics.by_id(id) } else { broker.topics.get(name.0.as_str()) };
    let unknown = errors::unknown_topic(by_id).code();
    let not_leader = ResponseError::NotLeaderOrFollower.code();
    let partitions = partitions
        .map(|(index, params)| {
            let epoch = params.current_leader_epoch;
            let (log, preferred) = match locate(broker.node_id(), found.as_deref(), index, epoch, unknown) {
                Err(code) if code == not_leader && routing.follower_may_serve => {
                    (locate_replica(found.as_deref(), index, epoch, unknown), None)
                }
                Ok(log) => {
                    let rack = routing.client_rack.as_deref();
                    let preferred =
                        rack.zip(found.as_deref()).and_then(|(r, t)| preferred_replica(broker, t, index, r));
                    (Ok(log), preferred)
                }
                Err(code) => (Err(code), None),
            };
            Wanted { index, params, log, preferred }
        })
        .collect();
    WantedTopic { key, name, id, resolved: found.map(|t| t.id), partitions }
}

/// The response to `plan`: every partition read, or (incremental) those with news; a full fetch
/// opens its session here, over what it answered.
fn answer(
    broker: &Broker,
    plan: &Plan,
    replica: bool,
    by_id: bool,
    wanted: &[WantedTopic],
    topics: Vec<FramedTopic<FileRecords>>,
) -> FramedResponse<FileRecords> {
    let answered = wanted.iter().zip(&topics).flat_map(|(w, t)| {
        w.partitions.iter().zip(&t.partitions).map(move |(p, framed)| {
            let answer = PartitionAnswer {
                records_len: framed.records.as_ref().map_or(0, RecordData::records_len),
                high_watermark: framed.data.high_watermark,
                log_start_offset: framed.data.log_start_offset,
                error: framed.data.error_code != 0,
            };
            ((w.key.clone(), p.index), p.params, answer)
        })
    });
    match plan {
        Plan::Sessionless => FramedResponse { topics, ..FramedResponse::default() },
        Plan::Full => {
            let session_id = fetch_session::open(broker, replica, by_id, now_ms(), answered.collect());
            FramedResponse { session_id, topics, ..FramedResponse::default() }
        }
        Plan::Incremental { id, epoch, .. } => {
            let selected = answered.map(|(key, _, answer)| (key, answer));
            match fetch_session::select(broker, *id, *epoch, selected) {
                Ok(keep) => {
                    FramedResponse { session_id: *id, topics: carried(topics, keep), ..FramedResponse::default() }
                }
                Err(error) => FramedResponse { error_code: error.code(), ..FramedResponse::default() },
            }
        }
    }
}

/// `topics` with only the partitions `keep` says, in order; topics left empty are dropped.
fn carried(topics: Vec<FramedTopic<FileRecords>>, keep: Vec<bool>) -> Vec<FramedTopic<FileRecords>> {
    let mut keep = keep.into_iter();
    topics
        .into_iter()
        .filter_map(|mut topic| {
            topic.partitions.retain(|_| keep.next().unwrap_or(true));
            (!topic.partitions.is_empty()).then_some(topic)
        })
        .collect()
}

/// Reads every partition within the byte limits; returns the topics, the record bytes found and
/// whether any partition has an error or was sent to another replica (which ends a long poll at
/// once, as in Kafka).
fn read_all(
    wanted: &[WantedTopic],
    max_bytes: u32,
    isolation: Isolation,
) -> (Vec<FramedTopic<FileRecords>>, usize, bool) {
    let read_committed = isolation == Isolation::ReadCommitted;
    let mut left = max_bytes;
    let mut first_data = true;
    let mut bytes = 0usize;
    let mut any_error = false;
    let topics = wanted
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    if let Some(replica) = p.preferred {
                        // Sent elsewhere: no records, and the consumer need not wait for them.
                        any_error = true;
                        let data = PartitionData::default()
                            .with_partition_index(p.index)
                            .with_preferred_read_replica(kafka_protocol::messages::BrokerId(replica));
                        let data = match &p.log {
                            Ok(log) => data
                                .with_high_watermark(log.high_watermark())
                                .with_last_stable_offset(log.last_stable_offset())
                                .with_log_start_offset(log.log_start_offset()),
                            Err(_) => data,
                        };
                        return FramedPartition { data, records: Some(FileRecords(Vec::new())) };
                    }
                    let limit = u32::try_from(p.params.max_bytes).unwrap_or(0).min(left);
                    let read = p.log.as_ref().map_err(|code| *code).and_then(|log| {
                        let result = log.read_isolated(p.params.fetch_offset, limit, isolation).map_err(|e| {
                            if !matches!(e, ReadError::OffsetOutOfRange { .. }) {
                                tracing::warn!(partition = p.index, error = %e, "fetch read failed");
                            }
                            e.code()
                        })?;
                        Ok((log, result))
                    });
                    match read {
                        Ok((log, result)) => {
                            let mut records = FileRecords(result.ranges);
                            let len = records.records_len();
                            if len > limit as usize && !first_data {
                                // Only the first partition with data may exceed the limits.
                                records.0.clear();
                            }
                            let len = records.records_len();
                            if len > 0 {
                                first_data = false;
                                bytes += len;
                                left = left.saturating_sub(u32::try_from(len).unwrap_or(u32::MAX));
                            }
                            let aborted = read_committed.then(|| match len {
                                0 => Vec::new(),
                                _ => aborted_transactions(log, p.params.fetch_offset, result.end_offset),
                            });
                            let data = PartitionData::default()
                                .with_partition_index(p.index)
                                .with_high_watermark(result.high_watermark)
                                .with_last_stable_offset(result.last_stable_offset)
                                .with_log_start_offset(result.log_start_offset)
                                .with_aborted_transactions(aborted);
                            FramedPartition { data, records: Some(records) }
                        }
                        Err(code) => {
                            any_error = true;
                            FramedPartition { data: failed(p.index, code), records: Some(FileRecords(Vec::new())) }
                        }
                    }
                })
                .collect();
            FramedTopic { topic: topic.name.clone(), topic_id: topic.id, partitions }
        })
        .collect();
    (topics, bytes, any_error)
}

/// The aborted transactions a READ_COMMITTED client needs for the records in
/// `[fetch_offset, end_offset)`.
fn aborted_transactions(log: &Partition, fetch_offset: i64, end_offset: i64) -> Vec<AbortedTransaction> {
    log.aborted_transactions(fetch_offset, end_offset)
        .into_iter()
        .map(|(producer_id, first_offset)| {
            AbortedTransaction::default().with_producer_id(producer_id.into()).with_first_offset(first_offset)
        })
        .collect()
}

/// A partition answered with an error, as Kafka's `FetchResponse.partitionResponse`: offsets -1.
fn failed(index: i32, code: i16) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(code)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_aborted_transactions(None)
}

fn encode(ctx: &RequestContext, response: FramedResponse<FileRecords>) -> Outcome {
    match encode_fetch_response(ctx.api_version, ctx.correlation_id, response) {
        Ok(pieces) => {
            let mut chunks = Vec::with_capacity(pieces.len() + 2);
            for piece in pieces {
                match piece {
                    Piece::Bytes(bytes) => chunks.push(Chunk::Bytes(bytes)),
                    Piece::Records(records) => chunks.extend(records.0.into_iter().map(Chunk::File)),
                }
            }
            Outcome::Reply(chunks)
        }
        Err(error) => {
            tracing::error!(%error, "cannot frame Fetch response; closing the connection");
            Outcome::Close(error.to_string())
        }
    }
}

/// Answers a Fetch v0-3: the record data read into memory and down-converted to the message format
/// of the version (`strata_wire::legacy::fetch`).
fn encode_legacy(ctx: &RequestContext, wanted: &[WantedTopic], topics: Vec<FramedTopic<FileRecords>>) -> Outcome {
    let magic = magic_for(ctx.api_version);
    let legacy_topics: Vec<LegacyFetchTopic> = topics
        .into_iter()
        .zip(wanted)
        .map(|(topic, asked)| {
            let partitions = topic
                .partitions
                .into_iter()
                .zip(&asked.partitions)
                .map(|(p, w)| {
                    let mut answer = LegacyFetchPartition {
                        index: p.data.partition_index,
                        error_code: p.data.error_code,
                        high_watermark: p.data.high_watermark,
                        records: bytes::Bytes::new(),
                    };
                    let ranges = p.records.map(|r| r.0).unwrap_or_default();
                    match read_ranges(&ranges).map(|stored| down_convert(&stored, magic, w.params.fetch_offset)) {
                        Ok(Ok(records)) => answer.records = records,
                        Ok(Err(error)) => {
                            tracing::warn!(partition = answer.index, %error, "cannot down-convert for an old Fetch");
                            answer.error_code = ResponseError::CorruptMessage.code();
                        }
                        Err(error) => {
                            tracing::warn!(partition = answer.index, %error, "fetch read failed");
                            answer.error_code = ResponseError::KafkaStorageError.code();
                        }
                    }
                    answer
                })
                .collect();
            LegacyFetchTopic { name: topic.topic.0.as_str().to_owned(), partitions }
        })
        .collect();
    let mut out = bytes::BytesMut::new();
    let start = start_frame(&mut out);
    out.extend_from_slice(&ctx.correlation_id.to_be_bytes());
    legacy::fetch::encode_response(ctx.api_version, 0, &legacy_topics, &mut out);
    finish_frame(&mut out, start);
    Outcome::Reply(vec![Chunk::Bytes(out.freeze())])
}

/// The bytes of `ranges`, read from the page cache.
fn read_ranges(ranges: &[FileRange]) -> std::io::Result<bytes::Bytes> {
    use std::os::unix::fs::FileExt;
    let mut out = vec![0u8; ranges.iter().map(|r| r.len as usize).sum()];
    let mut at = 0;
    for range in ranges {
        let len = range.len as usize;
        range.file.read_exact_at(&mut out[at..at + len], range.position)?;
        at += len;
    }
    Ok(bytes::Bytes::from(out))
}
