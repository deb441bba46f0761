//! ShareFetch (v1, KIP-932): a share consumer's fetch. It opens its share session (epoch 0, with
//! the partitions named), continues it (the next epoch: partitions named join it, forgotten ones
//! leave it) or closes it (epoch -1: what the member holds is released). Acknowledgements ride
//! along per partition and are applied first (each batch all or nothing, INVALID_RECORD_STATE in
//! the partition's `acknowledge_error_code` for a record this member does not hold). Then, for
//! each partition of the session this broker leads, records are read from the group's first
//! available offset and acquired for the member under a lock (`acquisition_lock_timeout_ms`):
//! the answer carries the batches read and the offset runs acquired, at most `max_records`
//! records in all. When nothing is acquired it waits up to `max_wait_ms` for records, checking
//! every few milliseconds. A group starts reading a partition at its high watermark
//! (`share.auto.offset.reset=latest`, Kafka's default) the first time it fetches it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::share_fetch_request::AcknowledgementBatch;
use kafka_protocol::messages::share_fetch_response::{
    AcquiredRecords, LeaderIdAndEpoch, PartitionData, ShareFetchableTopicResponse,
};
use kafka_protocol::messages::{ApiKey, ResponseKind, ShareFetchRequest, ShareFetchResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::reply::{Outcome, RequestContext};
use crate::shares::delivery_time::{TOPIC_DELAY_SETTING, due_times};
use crate::shares::unreadable::{self, unreadable_ranges};
use crate::shares::{GroupShareConfig, PartitionKey, Shares};
use crate::state::{Broker, now_ms};
use crate::topics::topic_value;
use strata_shares::Admission;

/// The key and versions of ShareFetch, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::ShareFetch, 1, 1);

/// Records per fetch when the request does not bound them.
const MAX_RECORDS_DEFAULT: usize = 500;
/// How often a waiting fetch looks for records again.
const POLL: Duration = Duration::from_millis(20);
/// The longest a fetch waits, whatever it asks.
const MAX_WAIT_CAP: Duration = Duration::from_secs(30);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ShareFetchRequest) -> Outcome {
    let respond = |response: ShareFetchResponse| ctx.respond(ResponseKind::ShareFetch(response));
    let refuse = |error: ResponseError, message: &str| {
        respond(
            ShareFetchResponse::default()
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message.to_string()))),
        )
    };
    let (Some(group), Some(member)) = (req.group_id.as_ref(), req.member_id.as_ref()) else {
        return refuse(ResponseError::InvalidRequest, "GroupId and MemberId are required");
    };
    let (group, member) = (group.0.to_string(), member.to_string());
    if member.is_empty() {
        return refuse(ResponseError::InvalidRequest, "MemberId can't be empty");
    }
    let epoch = req.share_session_epoch;
    let named: Vec<PartitionKey> =
        req.topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.topic_id, p.partition_index))).collect();
    let forgotten: Vec<PartitionKey> =
        req.forgotten_topics_data.iter().flat_map(|t| t.partitions.iter().map(move |&p| (t.topic_id, p))).collect();
    let acks: Vec<(PartitionKey, &[AcknowledgementBatch])> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| ((t.topic_id, p.partition_index), &p.acknowledgement_batches[..]))
        })
        .filter(|(_, batches)| !batches.is_empty())
        .collect();
    if epoch == 0 && !acks.is_empty() {
        return refuse(ResponseError::InvalidRequest, "Acknowledge data present on initial ShareFetch request");
    }
    let settings = Shares::group_config(broker, &group);
    let session = if epoch == -1 {
        Ok(Vec::new())
    } else {
        // Where this broker coordinates the group, only its members open sessions.
        let coordinates = broker.cluster.is_none() || crate::coordinator_owner::check_group(broker, &group).is_ok();
        broker.shares.session((&group, &member), epoch, &named, &forgotten, now_ms(), coordinates)
    };
    let session = match session {
        Ok(partitions) => partitions,
        Err(error) => return refuse(error.kafka_error(), &error.to_string()),
    };
    let mut answers: BTreeMap<PartitionKey, PartitionData> = BTreeMap::new();
    for (key, batches) in acks {
        let wire: Vec<(i64, i64, &[i8])> =
            batches.iter().map(|b| (b.first_offset, b.last_offset, &b.acknowledge_types[..])).collect();
        let code = broker.shares.acknowledge(&group, &member, key, &wire, now_ms()).err().map_or(0, |e| e.code());
        answers.insert(key, PartitionData::default().with_partition_index(key.1).with_acknowledge_error_code(code));
    }
    if epoch == -1 {
        if let Err(error) = broker.shares.session((&group, &member), -1, &[], &[], now_ms(), false) {
            return refuse(error.kafka_error(), &error.to_string());
        }
        if let Err(error) = Shares::persist(broker).await {
            return refuse(error.kafka_error(), &error.to_string());
        }
        return respond(response(&settings, answers));
    }
    let max_records = usize::try_from(req.max_records).ok().filter(|n| *n > 0).unwrap_or(MAX_RECORDS_DEFAULT);
    let max_bytes = u32::try_from(req.max_bytes).ok().filter(|n| *n > 0).unwrap_or(u32::MAX);
    let wait = Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0)).min(MAX_WAIT_CAP);
    let deadline = Instant::now() + wait;
    let max_partition_bytes: BTreeMap<PartitionKey, i32> = req
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| ((t.topic_id, p.partition_index), p.partition_max_bytes)))
        .collect();
    crate::shares::remote::load(broker, &group, &session, epoch == 0).await;
    loop {
        let fetched =
            fetch(broker, (&group, &settings), &member, &session, max_records, max_bytes, &max_partition_bytes);
        let found = fetched.values().any(|p| !p.acquired_records.is_empty());
        for (key, data) in fetched {
            let answer = answers.entry(key).or_insert_with(|| PartitionData::default().with_partition_index(key.1));
            answer.error_code = data.error_code;
            answer.records = data.records;
            answer.acquired_records = data.acquired_records;
            answer.current_leader = data.current_leader;
        }
        if found || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
    answers.retain(|_, p| {
        p.error_code != 0 || p.acknowledge_error_code != 0 || !p.acquired_records.is_empty() || p.records.is_some()
    });
    // Acknowledgements and acquisitions (delivery counts) are written before the answer.
    if let Err(error) = Shares::persist(broker).await {
        return refuse(error.kafka_error(), &error.to_string());
    }
    crate::shares::dead_letters::deliver(broker).await;
    respond(response(&settings, answers))
}

/// One pass over the session's partitions: what each gives the member now.
fn fetch(
    broker: &Broker,
    group: (&str, &GroupShareConfig),
    member: &str,
    session: &[PartitionKey],
    max_records: usize,
    max_bytes: u32,
    partition_max_bytes: &BTreeMap<PartitionKey, i32>,
) -> BTreeMap<PartitionKey, PartitionData> {
    let (group, settings) = group;
    let mut out = BTreeMap::new();
    let (mut records_left, mut bytes_left) = (max_records, max_bytes);
    for &key in session {
        let (topic_id, index) = key;
        let topic = broker.topics.by_id(topic_id);
        let data = PartitionData::default().with_partition_index(index);
        let leader = topic.as_ref().and_then(|t| t.leadership(index));
        let current_leader = LeaderIdAndEpoch::default()
            .with_leader_id(leader.as_ref().map_or(-1, |l| l.leader))
            .with_leader_epoch(leader.as_ref().map_or(-1, |l| l.leader_epoch));
        let data = data.with_current_leader(current_leader);
        let log = match crate::locate::locate(
            broker.node_id(),
            topic.as_deref(),
            index,
            -1,
            ResponseError::UnknownTopicId.code(),
        ) {
            Ok(log) => log,
            Err(code) => {
                out.insert(key, data.with_error_code(code));
                continue;
            }
        };
        if records_left == 0 || bytes_left == 0 {
            continue;
        }
        // In a cluster, only once the share coordinator gave the state back.
        let leader_epoch = leader.as_ref().map_or(-1, |l| l.leader_epoch);
        if !broker.shares.is_loaded(group, key, leader_epoch) {
            continue;
        }
        // What the group may read up to, as ListOffsets has it: the last stable offset (never
        // past the high watermark) or the high watermark.
        let readable_end = if settings.read_committed { log.last_stable_offset() } else { log.high_watermark() };
        let from =
            broker.shares.next_fetch_offset((group, settings), key, (log.log_start_offset(), readable_end), now_ms());
        if from >= readable_end {
            continue;
        }
        let limit = partition_max_bytes.get(&key).and_then(|b| u32::try_from(*b).ok()).unwrap_or(u32::MAX);
        let read = match log.read(from, limit.min(bytes_left)) {
            Ok(read) => read,
            Err(error) => {
                tracing::debug!(%error, "share fetch read");
                continue;
            }
        };
        let upto = read.end_offset.min(readable_end);
        let bytes = match crate::blocking::run(|| read.copy_bytes()) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(%error, "share fetch: cannot read the partition's records");
                continue;
            }
        };
        let topic_delay = topic
            .as_ref()
            .and_then(|t| topic_value(&broker.config, &t.overrides, TOPIC_DELAY_SETTING))
            .and_then(|(value, _)| value.trim().parse::<i64>().ok())
            .unwrap_or(0);
        let due = due_times(&bytes, topic_delay);
        let unreadable = match settings.read_committed {
            true => unreadable_ranges(&bytes, &log.aborted_transactions(from, upto)),
            false => Vec::new(),
        };
        let admit = |offset: i64| match due.get(&offset) {
            _ if unreadable::contains(&unreadable, offset) => Admission::Never,
            Some(&at) => Admission::At(at),
            None => Admission::Now,
        };
        let acquired = broker.shares.acquire((group, member), key, records_left, (from, upto), now_ms(), admit);
        if acquired.is_empty() {
            continue;
        }
        let count: i64 = acquired.iter().map(|a| a.last_offset - a.first_offset + 1).sum();
        records_left = records_left.saturating_sub(usize::try_from(count).unwrap_or(usize::MAX));
        bytes_left = bytes_left.saturating_sub(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        let acquired = acquired
            .iter()
            .map(|a| {
                AcquiredRecords::default()
                    .with_first_offset(a.first_offset)
                    .with_last_offset(a.last_offset)
                    .with_delivery_count(a.delivery_count)
            })
            .collect();
        out.insert(key, data.with_records(Some(bytes.into())).with_acquired_records(acquired));
    }
    out
}

/// The response: partitions grouped by topic id.
fn response(settings: &GroupShareConfig, answers: BTreeMap<PartitionKey, PartitionData>) -> ShareFetchResponse {
    let mut topics: Vec<ShareFetchableTopicResponse> = Vec::new();
    for ((topic_id, _), data) in answers {
        match topics.iter_mut().find(|t| t.topic_id == topic_id) {
            Some(topic) => topic.partitions.push(data),
            None => {
                topics.push(ShareFetchableTopicResponse::default().with_topic_id(topic_id).with_partitions(vec![data]))
            }
        }
    }
    let lock_ms = i32::try_from(settings.config.lock_duration_ms).unwrap_or(i32::MAX);
    ShareFetchResponse::default().with_acquisition_lock_timeout_ms(lock_ms).with_responses(topics)
}
