//! Produce: each partition's record set is checked the way Kafka's
//! `ProduceRequest.validateRecords` does (exactly one v2 batch; zstd only from v7) by reading the
//! batch header alone, then handed to its log; the log validates the CRC and counts, enforces
//! `max.message.bytes`, checks idempotent-producer sequences and assigns offsets. Every partition
//! of a request is appended (queued for the writer) first and awaited afterwards, so their writes
//! share the writer's batches and fsyncs.
//!
//! Appends run on the runtime thread through `Partition::try_append`, which never blocks; only a
//! partition whose append would wait (a full write queue, a segment roll, the first append after a
//! clean start, the partition busy with a blocking operation) is appended with the blocking
//! `append` inside `block_in_place`, so the common produce does not hand its worker thread over.
//! Once every partition is appended (the log copied the record sets), the request is dropped and
//! only what the answer needs is kept, so the request frame, which the record sets and names
//! are slices of, can be reused while the writes are awaited.
//!
//! acks: 0 never answers (and, as Kafka, closes the connection when a partition failed, so the
//! producer notices and refreshes its metadata); 1 answers once the write has completed; -1
//! answers once the batch is durable under the topic's flush policy (the log fsyncs before
//! completing when `flush.messages` says so) and, in a cluster, once every in-sync replica has
//! it, with `min.insync.replicas` enforced before and after (`replicated`). Any other acks is
//! INVALID_REQUIRED_ACKS for every partition.
//!
//! In a cluster, a partition refused with NOT_LEADER_OR_FOLLOWER names its current leader and
//! where it is reached (v10+, KIP-951, [`crate::leader_hint`]).
//!
//! Versions 0-2 are always advertised (Kafka 4 does, so that librdkafka keeps producing compressed
//! v2 batches, KAFKA-18659). With `strata.legacy.protocol.enable` they are served: their v0/v1
//! message sets are converted to v2 batches by `strata_wire::legacy::produce` and appended like
//! any other (a partition whose message set does not read is refused alone, see
//! `crate::errors`). Without it the connection is closed, as reference Kafka 4.1.2 closes it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use strata_log::{AppendError, AppendInfo, AppendOrigin, Partition, PendingAppend};
use strata_wire::batch::{BatchHeader, Compression};
use strata_wire::compression::BATCH_DECOMPRESSED_BYTES_MAX;
use strata_wire::legacy::produce::{LegacyProduce, Refusal};

use crate::api::ApiSpec;
use crate::errors::{self, ErrorCode};
use crate::replication::LeaderState;
use crate::reply::{Outcome, Pending, RequestContext};

#[cfg(test)]
mod tests;
mod verify;
use crate::state::{Broker, now_ms};
use crate::topics::Topic;

/// The key and versions of Produce, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::Produce, 0, 13);

/// First Produce version that may carry zstd batches (KIP-110).
const ZSTD_VERSION_MIN: i16 = 7;
/// First Produce version that names topics by id instead of by name.
const TOPIC_ID_VERSION_MIN: i16 = 13;

/// Kafka 4's answer to Produce v0-2, which it advertises but no longer serves: it closes the
/// connection (reference Kafka 4.1.2 logs "Received request for api with key 0 (Produce) and
/// unsupported version 2" and disconnects).
pub fn refuse_removed_version(ctx: &RequestContext) -> Outcome {
    tracing::info!(version = ctx.api_version, client = %ctx.client_id, "Produce v0-2 is no longer supported");
    Outcome::Close(format!("unsupported Produce version {}", ctx.api_version))
}

/// Where one partition of the request stands before the writes are awaited.
enum Step {
    /// Refused before anything was written.
    Failed { code: i16, message: String },
    /// Refused for records Kafka's validator rejects (INVALID_RECORD), each named by its index in
    /// the batch (KIP-467), before anything was written.
    InvalidRecords { message: String, record_errors: Vec<(i32, String)> },
    /// Already appended (an idempotent producer's retry): the original offsets, answered once the
    /// original's write (and fsync, where the flush policy asks) is done, which may still be in
    /// flight from another connection.
    Duplicate { partition: Arc<Partition>, base_offset: i64, last_offset: i64, all_in_sync: Option<AllInSync> },
    /// Queued for the writer.
    Pending(PendingAppend, Option<AllInSync>),
}

/// acks=all on a partition with followers: the answer waits until every in-sync replica has the
/// batch (the high watermark passes it), for at most the request's timeout.
struct AllInSync {
    leader: Arc<LeaderState>,
    min_insync: usize,
    timeout: Duration,
}

/// One topic of the request, as the response needs it once the request is gone: owned copies,
/// no slice of the request frame.
struct TopicSteps {
    name: TopicName,
    topic_id: uuid::Uuid,
    /// `(partition index, step)` in request order.
    partitions: Vec<(i32, Step)>,
}

impl TopicSteps {
    fn new(topic: &TopicProduceData, partitions: Vec<(i32, Step)>) -> TopicSteps {
        // A copy: the request's name is a slice of its frame.
        let name = TopicName(StrBytes::from_string(topic.name.0.as_str().to_owned()));
        TopicSteps { name, topic_id: topic.topic_id, partitions }
    }
}

/// Validates and appends every partition now (offsets are assigned in the order requests arrive
/// on the connection) and returns the wait for the writes and the response.
pub fn start(broker: &Arc<Broker>, ctx: RequestContext, req: ProduceRequest) -> Pending {
    start_with_refusals(broker, ctx, req, &[])
}

/// Starts a Produce v0-2 request, whose message sets were converted to v2 batches when it was
/// decoded; the partitions whose message sets were refused are answered with their error.
pub fn start_legacy(broker: &Arc<Broker>, ctx: RequestContext, legacy: LegacyProduce) -> Pending {
    start_with_refusals(broker, ctx, legacy.request, &legacy.refused)
}

fn start_with_refusals(broker: &Arc<Broker>, ctx: RequestContext, req: ProduceRequest, refused: &[Refusal]) -> Pending {
    let acks = req.acks;
    let whole_request_error = if !(-1..=1).contains(&acks) {
        // Kafka refuses the whole request without touching the log, and answers even for acks
        // it does not know (there is no "no response" to fall back on).
        Some((ResponseError::InvalidRequiredAcks, format!("acks must be 0, 1 or -1, not {acks}")))
    } else if req.transactional_id.is_none() && has_transactional_batch(&req) {
        // Kafka's KafkaApis.handleProduceRequest: transactional records need a transactional id
        // the client may use.
        let message = "transactional records need a transactional id".to_owned();
        Some((ResponseError::TransactionalIdAuthorizationFailed, message))
    } else {
        None
    };
    if let Some((error, message)) = whole_request_error {
        let refused =
            |p: &PartitionProduceData| (p.index, Step::Failed { code: error.code(), message: message.clone() });
        let topics =
            req.topic_data.iter().map(|t| TopicSteps::new(t, t.partition_data.iter().map(refused).collect())).collect();
        drop(req);
        let broker = Arc::clone(broker);
        return Pending::later(async move { respond(&broker, &ctx, topics).await });
    }
    let now = now_ms();
    let timeout = Duration::from_millis(u64::try_from(req.timeout_ms).unwrap_or(0));
    let transactional_id = req.transactional_id.as_ref().map(|id| id.0.to_string());
    // Every partition is queued, in request order, before any is awaited.
    let topics: Vec<TopicSteps> = req
        .topic_data
        .into_iter()
        .enumerate()
        .map(|(topic_at, topic)| {
            let found = find_topic(broker, ctx.api_version, &topic);
            let compacted = found.as_deref().is_some_and(|t| is_compacted(broker, t));
            let partitions = topic
                .partition_data
                .iter()
                .enumerate()
                .map(|(partition_at, p)| {
                    let refusal = refused.iter().find(|r| r.topic == topic_at && r.partition == partition_at);
                    let step = match refusal {
                        Some(r) => Step::Failed { code: r.error.code(), message: r.error.to_string() },
                        None => match verify_transactional(
                            broker,
                            ctx.api_version,
                            transactional_id.as_deref(),
                            found.as_deref(),
                            p,
                        ) {
                            Err((code, message)) => Step::Failed { code, message },
                            Ok(()) => match all_in_sync(broker, acks, found.as_deref(), p.index, timeout) {
                                Err(step) => step,
                                Ok(wait) => append_one(
                                    ctx.api_version,
                                    broker.node_id(),
                                    found.as_deref(),
                                    compacted,
                                    p,
                                    now,
                                    wait,
                                ),
                            },
                        },
                    };
                    (p.index, step)
                })
                .collect();
            TopicSteps::new(&topic, partitions)
        })
        .collect();
    if acks == 0 {
        let failed = topics
            .iter()
            .flat_map(|t| &t.partitions)
            .any(|(_, s)| matches!(s, Step::Failed { .. } | Step::InvalidRecords { .. }));
        let outcome = if failed {
            Outcome::Close("a produce request with acks=0 failed".into())
        } else {
            // The writes complete on their own; nobody waits for them.
            Outcome::Silent
        };
        return Pending::ready(outcome);
    }
    let broker = Arc::clone(broker);
    Pending::later(async move { respond(&broker, &ctx, topics).await })
}

/// Whether any partition's record set starts with a transactional batch (Kafka's
/// `ProduceRequest.hasTransactionalRecords`).
fn has_transactional_batch(req: &ProduceRequest) -> bool {
    let partitions = req.topic_data.iter().flat_map(|t| &t.partition_data);
    partitions.filter_map(|p| p.records.as_deref()).any(|r| BatchHeader::parse(r).is_ok_and(|h| h.is_transactional()))
}

fn find_topic(broker: &Broker, version: i16, topic: &TopicProduceData) -> Option<Arc<Topic>> {
    if version >= TOPIC_ID_VERSION_MIN {
        broker.topics.by_id(topic.topic_id)
    } else {
        broker.topics.get(topic.name.0.as_str())
    }
}

/// Whether the topic's `cleanup.policy` includes `compact`, so that every record needs a key.
fn is_compacted(broker: &Broker, topic: &Topic) -> bool {
    crate::topics::topic_value(&broker.config, &topic.overrides, "cleanup.policy")
        .is_some_and(|(policy, _)| policy.split(',').any(|p| p.trim() == "compact"))
}

/// What acks=all waits for on `topic`'s partition `index` when this broker leads it with
/// followers; NOT_ENOUGH_REPLICAS before anything is appended when fewer replicas than the
/// topic's `min.insync.replicas` are in sync (Kafka's `Partition.appendRecordsToLeader`).
fn all_in_sync(
    broker: &Broker,
    acks: i16,
    topic: Option<&Topic>,
    index: i32,
    timeout: Duration,
) -> Result<Option<AllInSync>, Step> {
    let Some(topic) = topic.filter(|_| acks == -1 && broker.cluster.is_some()) else { return Ok(None) };
    let Some(leadership) = topic.leadership(index) else { return Ok(None) }; // refused by append_one
    // A leader that has not taken up this epoch yet (its replication state follows the registry
    // a moment later) cannot wait for its followers: the client retries, as with Kafka's
    // partition not yet made leader.
    let leader = broker.replication.leading(topic.id, index).filter(|l| l.leader_epoch == leadership.leader_epoch);
    let Some(leader) = leader.filter(|_| leadership.is_led_by(broker.node_id())) else {
        let message =
            format!("this broker does not lead {}-{index} in epoch {} yet", topic.name, leadership.leader_epoch);
        return Err(Step::Failed { code: ResponseError::NotLeaderOrFollower.code(), message });
    };
    let min_insync = crate::topics::topic_value(&broker.config, &topic.overrides, "min.insync.replicas")
        .and_then(|(value, _)| value.parse::<usize>().ok())
        .unwrap_or(1);
    // The committed in-sync replicas, as Metadata gives them (the leader's own view takes them
    // up a moment later).
    let isr = &leadership.isr;
    if isr.len() < min_insync {
        let message = format!(
            "The size of the current ISR {isr:?} is insufficient to satisfy the min.isr requirement of {min_insync} for partition {}-{index}",
            topic.name
        );
        return Err(Step::Failed { code: ResponseError::NotEnoughReplicas.code(), message });
    }
    Ok(Some(AllInSync { leader, min_insync, timeout }))
}

fn append_one(
    version: i16,
    node: i32,
    topic: Option<&Topic>,
    compacted: bool,
    data: &PartitionProduceData,
    now: i64,
    all_in_sync: Option<AllInSync>,
) -> Step {
    let fail = |error: ResponseError, message: String| Step::Failed { code: error.code(), message };
    let Some(topic) = topic else {
        let code = errors::unknown_topic(version >= TOPIC_ID_VERSION_MIN).code();
        return Step::Failed { code, message: "unknown topic".into() };
    };
    if topic.internal {
        return fail(ResponseError::InvalidTopicException, format!("cannot produce to internal topic {}", topic.name));
    }
    let Some(leadership) = topic.leadership(data.index) else {
        return fail(ResponseError::UnknownTopicOrPartition, format!("{} has no partition {}", topic.name, data.index));
    };
    let not_leader = || Step::Failed {
        code: ResponseError::NotLeaderOrFollower.code(),
        message: format!("this broker does not lead {}-{}", topic.name, data.index),
    };
    let Some(partition) = topic.partition(data.index).filter(|_| leadership.is_led_by(node)) else {
        return not_leader();
    };
    let records = data.records.clone().unwrap_or_default();
    if let Err((error, message)) = check_record_set(version, &records) {
        return fail(error, message);
    }
    if compacted && let Some(step) = check_keys(&topic.name, data.index, &records) {
        return step;
    }
    match crate::blocking::append(AppendOrigin::Client, partition, records, leadership.leader_epoch, now) {
        Ok(pending) => Step::Pending(pending, all_in_sync),
        Err(AppendError::DuplicateSequence { base_offset, last_offset, .. }) => {
            Step::Duplicate { partition: Arc::clone(partition), base_offset, last_offset, all_in_sync }
        }
        Err(error) => {
            tracing::debug!(topic = %topic.name, partition = data.index, %error, "append refused");
            Step::Failed { code: error.code(), message: error.to_string() }
        }
    }
}

/// KIP-890: a transactional batch's partition must be in the producer's transaction (or, for
/// Produce v12+, is added to it) before the batch is appended; see `verify.rs`. Anything that
/// does not read as one batch of an existing partition is left to `append_one` to refuse.
fn verify_transactional(
    broker: &Broker,
    version: i16,
    transactional_id: Option<&str>,
    topic: Option<&Topic>,
    data: &PartitionProduceData,
) -> Result<(), (i16, String)> {
    // Without a transactional id the request holds no transactional batch (refused whole above).
    let Some(transactional_id) = transactional_id else { return Ok(()) };
    let Some(topic) = topic.filter(|t| !t.internal) else { return Ok(()) };
    let Some(partition) = topic.partition(data.index) else { return Ok(()) };
    let Some(header) = data.records.as_ref().and_then(|r| BatchHeader::parse(r).ok()) else { return Ok(()) };
    let tp = strata_groups::TopicPartition { topic: topic.name.clone(), partition: data.index };
    verify::transactional_batch(broker, version, transactional_id, tp, partition, &header)
}

/// Kafka's `ProduceRequest.validateRecords`, from the first batch header only: there must be
/// exactly one v2 batch, zstd needs v7+, and clients may not write control batches (only the
/// transaction coordinator writes markers). Transactional batches are verified with the
/// coordinator (`verify.rs`), then go to the log, whose producer state opens their transaction.
fn check_record_set(version: i16, records: &Bytes) -> Result<(), (ResponseError, String)> {
    let header = BatchHeader::parse(records).map_err(|e| (e.kafka_error(), e.to_string()))?;
    let total = header.total_bytes();
    if total > records.len() {
        // Kafka's batch iterator finds no complete batch.
        return Err((ResponseError::InvalidRecord, "the record set holds no complete record batch".into()));
    }
    if total < records.len() {
        return Err((
            ResponseError::InvalidRecord,
            "a produce request may hold only one record batch per partition".into(),
        ));
    }
    if version < ZSTD_VERSION_MIN && header.compression() == Compression::Zstd {
        return Err((
            ResponseError::UnsupportedCompressionType,
            format!("zstd needs Produce v7 or later, not v{version}"),
        ));
    }
    if header.is_control() {
        return Err((ResponseError::InvalidRecord, "clients may not write control batches".into()));
    }
    Ok(())
}

/// Kafka's `LogValidator.validateKey`: a compacted topic refuses the batch if any record has no
/// key, naming each such record. A compressed batch is decompressed (with a bound) to look.
fn check_keys(topic: &str, partition: i32, records: &Bytes) -> Option<Step> {
    let infos = match strata_wire::records::records(records, BATCH_DECOMPRESSED_BYTES_MAX) {
        Ok(infos) => infos,
        Err(error) => {
            return Some(Step::Failed { code: ResponseError::InvalidRecord.code(), message: error.to_string() });
        }
    };
    let record_errors: Vec<(i32, String)> = infos
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.has_key)
        .map(|(i, _)| {
            let message =
                format!("Compacted topic cannot accept message without key in topic partition {topic}-{partition}");
            (i32::try_from(i).unwrap_or(i32::MAX), message)
        })
        .collect();
    if record_errors.is_empty() {
        return None;
    }
    let shown: Vec<String> = record_errors
        .iter()
        .take(3)
        .map(|(index, message)| format!("RecordError(batchIndex={index}, message='{message}')"))
        .collect();
    let message = format!(
        "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
        record_errors.len(),
        shown.join(", ")
    );
    Some(Step::InvalidRecords { message, record_errors })
}

/// Awaits every queued write and builds the response, in request order, with the current leader
/// of each partition this broker turned away (KIP-951, [`crate::leader_hint`]).
async fn respond(broker: &Broker, ctx: &RequestContext, topics: Vec<TopicSteps>) -> Outcome {
    let mut responses = Vec::with_capacity(topics.len());
    for topic in topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for (index, step) in topic.partitions {
            let answer = match step {
                Step::Failed { code, message } => failed(index, code, message),
                Step::InvalidRecords { message, record_errors } => {
                    let errors = record_errors
                        .into_iter()
                        .map(|(batch_index, message)| {
                            BatchIndexAndErrorMessage::default()
                                .with_batch_index(batch_index)
                                .with_batch_index_error_message(Some(StrBytes::from_string(message)))
                        })
                        .collect();
                    failed(index, ResponseError::InvalidRecord.code(), message).with_record_errors(errors)
                }
                Step::Duplicate { partition, base_offset, last_offset, all_in_sync } => {
                    let end = last_offset.saturating_add(1);
                    match partition.wait_written(end).await {
                        Ok(()) => match replicated(all_in_sync, end).await {
                            Ok(()) => PartitionProduceResponse::default()
                                .with_index(index)
                                .with_base_offset(base_offset)
                                .with_log_start_offset(partition.log_start_offset()),
                            Err((code, message)) => failed(index, code, message),
                        },
                        Err(error) => failed(index, error.code(), error.to_string()),
                    }
                }
                Step::Pending(pending, all_in_sync) => match pending.wait().await {
                    Ok(info) => match replicated(all_in_sync, info.last_offset.saturating_add(1)).await {
                        Ok(()) => appended(index, info),
                        Err((code, message)) => failed(index, code, message),
                    },
                    Err(error) => {
                        tracing::warn!(topic = %topic.name.0, partition = index, %error, "append failed");
                        failed(index, error.code(), error.to_string())
                    }
                },
            };
            partitions.push(answer);
        }
        let mut response = TopicProduceResponse::default().with_partition_responses(partitions);
        if ctx.api_version >= TOPIC_ID_VERSION_MIN {
            response = response.with_topic_id(topic.topic_id);
        } else {
            response = response.with_name(topic.name);
        }
        responses.push(response);
    }
    let mut response = ProduceResponse::default().with_responses(responses);
    let by_id = ctx.api_version >= TOPIC_ID_VERSION_MIN;
    crate::leader_hint::fill_produce(broker, ctx.api_version, by_id, &mut response);
    ctx.respond(ResponseKind::Produce(response))
}

/// acks=all: waits until the in-sync replicas hold everything below `end` (Kafka's
/// `DelayedProduce`): NOT_LEADER_OR_FOLLOWER if this broker stopped leading the partition
/// meanwhile, REQUEST_TIMED_OUT if they do not within the request's timeout, and
/// NOT_ENOUGH_REPLICAS_AFTER_APPEND if the in-sync replicas shrank below `min.insync.replicas`
/// meanwhile (the batch is in the log, but not as replicated as asked).
async fn replicated(all_in_sync: Option<AllInSync>, end: i64) -> Result<(), (i16, String)> {
    let Some(AllInSync { leader, min_insync, timeout }) = all_in_sync else { return Ok(()) };
    let waited = tokio::time::timeout(timeout, async {
        tokio::select! {
            replicated = leader.log.wait_replicated(end) => Some(replicated),
            () = leader.resigned() => None,
        }
    });
    match waited.await {
        Err(_) => {
            let message = format!("the in-sync replicas did not all take the batch within {timeout:?}");
            return Err((ResponseError::RequestTimedOut.code(), message));
        }
        Ok(Some(Err(error))) => return Err((error.code(), error.to_string())),
        Ok(Some(Ok(()))) | Ok(None) => {}
    }
    if leader.has_resigned() {
        // Another leader took over while the batch waited: its offsets may now hold that
        // leader's records, so it is not acknowledged (the producer retries there).
        let message = format!("this broker stopped leading the partition in epoch {}", leader.leader_epoch);
        return Err((ResponseError::NotLeaderOrFollower.code(), message));
    }
    let isr = leader.isr();
    if isr.len() < min_insync {
        let message = format!("the in-sync replicas {isr:?} shrank below min.insync.replicas {min_insync}");
        return Err((ResponseError::NotEnoughReplicasAfterAppend.code(), message));
    }
    Ok(())
}

fn appended(index: i32, info: AppendInfo) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_base_offset(info.base_offset)
        .with_log_append_time_ms(info.log_append_time_ms)
        .with_log_start_offset(info.log_start_offset)
}

/// A refused partition, as Kafka's `PartitionResponse(error)`: every offset -1.
fn failed(index: i32, code: i16, message: String) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code)
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_error_message(Some(StrBytes::from_string(message)))
}
