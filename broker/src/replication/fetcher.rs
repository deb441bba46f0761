//! A follower's replica fetcher (Kafka's `ReplicaFetcherThread`): one task per leader broker,
//! copying the partitions this broker follows there. For each partition it first finds where its
//! log and the leader's agree (OffsetsForLeaderEpoch with its newest epoch, KIP-101/279) and cuts
//! its log there, then fetches from its log end as replica `node` (Fetch v12), appends what comes
//! back with the leader's offsets and epochs, and takes the leader's high watermark. Its fetch
//! offsets tell the leader how far it is.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use strata_log::{AppendOrigin, Partition};
use strata_wire::batch::BatchHeader;
use tokio::sync::watch;
use uuid::Uuid;

use crate::peers::conn::{PeerConn, PeerError};

/// Fetch v12: the last version naming topics by name, with the replica id at the top.
const FETCH_VERSION: i16 = 12;
const OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 4;
/// How long the leader may hold a fetch that finds nothing new.
const FETCH_MAX_WAIT_MS: i32 = 500;
const FETCH_MAX_BYTES: i32 = 16 * 1024 * 1024;
const PARTITION_MAX_BYTES: i32 = 4 * 1024 * 1024;
/// The longest a request to the leader may take before the connection is dropped.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed connection or a partition the leader does not lead (yet).
const BACKOFF: Duration = Duration::from_millis(200);

/// A partition this broker follows.
#[derive(Debug, Clone)]
pub struct Followed {
    pub topic: String,
    pub topic_id: Uuid,
    pub index: i32,
    pub leader_epoch: i32,
    pub log: Arc<Partition>,
}

type Key = (Uuid, i32);

/// Runs until the assignment's sender is dropped: copies the partitions `assignment` holds from
/// the leader at `address`.
pub async fn run(node: i32, leader: i32, address: String, mut assignment: watch::Receiver<Vec<Followed>>) {
    // The leader epoch each partition's log was last made to agree with the leader in.
    let mut agreed: HashMap<Key, i32> = HashMap::new();
    loop {
        if assignment.has_changed().is_err() {
            return; // no longer following this leader
        }
        let mut conn = match PeerConn::connect(&address, node).await {
            Ok(conn) => conn,
            Err(error) => {
                tracing::debug!(leader, %error, "replica fetcher cannot connect");
                tokio::time::sleep(BACKOFF).await;
                continue;
            }
        };
        tracing::info!(node, leader, %address, "replica fetcher connected");
        if let Err(error) = follow(&mut conn, node, &mut assignment, &mut agreed).await {
            tracing::info!(leader, %error, "replica fetcher lost its leader; reconnecting");
            tokio::time::sleep(BACKOFF).await;
        }
    }
}

async fn follow(
    conn: &mut PeerConn,
    node: i32,
    assignment: &mut watch::Receiver<Vec<Followed>>,
    agreed: &mut HashMap<Key, i32>,
) -> Result<(), PeerError> {
    loop {
        let partitions = assignment.borrow_and_update().clone();
        agreed.retain(|key, _| partitions.iter().any(|p| (p.topic_id, p.index) == *key));
        if partitions.is_empty() {
            if assignment.changed().await.is_err() {
                return Ok(());
            }
            continue;
        }
        let unsure: Vec<&Followed> =
            partitions.iter().filter(|p| agreed.get(&(p.topic_id, p.index)) != Some(&p.leader_epoch)).collect();
        if !unsure.is_empty() {
            agree(conn, node, &unsure, agreed).await?;
        }
        let fetching: Vec<&Followed> =
            partitions.iter().filter(|p| agreed.get(&(p.topic_id, p.index)) == Some(&p.leader_epoch)).collect();
        if fetching.is_empty() {
            tokio::time::sleep(BACKOFF).await;
            continue;
        }
        if !fetch(conn, node, &fetching, agreed).await? {
            tokio::time::sleep(BACKOFF).await;
        }
    }
}

fn by_topic<'a, T>(partitions: &[&'a Followed], each: impl Fn(&'a Followed) -> T) -> BTreeMap<&'a str, Vec<T>> {
    let mut topics: BTreeMap<&str, Vec<T>> = BTreeMap::new();
    for p in partitions {
        topics.entry(p.topic.as_str()).or_default().push(each(p));
    }
    topics
}

fn find<'a>(partitions: &[&'a Followed], topic: &str, index: i32) -> Option<&'a Followed> {
    partitions.iter().copied().find(|p| p.topic == topic && p.index == index)
}

/// Cuts each partition's log where it stops agreeing with the leader's (KIP-279): the leader
/// answers where its log ends the newest epoch this replica has; a replica that has an epoch the
/// leader lacks cuts where its own log ends the leader's answer epoch.
async fn agree(
    conn: &mut PeerConn,
    node: i32,
    partitions: &[&Followed],
    agreed: &mut HashMap<Key, i32>,
) -> Result<(), PeerError> {
    let topics = by_topic(partitions, |p| {
        OffsetForLeaderPartition::default()
            .with_partition(p.index)
            .with_current_leader_epoch(p.leader_epoch)
            .with_leader_epoch(p.log.latest_epoch())
    });
    let request = OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(node)).with_topics(
        topics
            .into_iter()
            .map(|(name, partitions)| {
                OffsetForLeaderTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(name.to_string())))
                    .with_partitions(partitions)
            })
            .collect(),
    );
    let response = conn.call(OFFSET_FOR_LEADER_EPOCH_VERSION, &request, CALL_TIMEOUT).await?;
    for topic in &response.topics {
        for answer in &topic.partitions {
            let Some(p) = find(partitions, topic.topic.0.as_str(), answer.partition) else { continue };
            if answer.error_code != 0 {
                tracing::debug!(topic = %p.topic, partition = p.index, code = answer.error_code, "leader cannot say where our logs agree yet");
                continue;
            }
            let ours = p.log.latest_epoch();
            let end = p.log.log_end_offset();
            let target = if answer.end_offset < 0 || ours < 0 {
                // The leader knows no epoch at or below ours (or we have none): Kafka's fallback,
                // the high watermark.
                if ours < 0 { end } else { p.log.high_watermark() }
            } else if answer.leader_epoch == ours {
                answer.end_offset
            } else {
                answer.end_offset.min(p.log.end_offset_for_epoch(answer.leader_epoch).1)
            };
            if target < end {
                tracing::warn!(topic = %p.topic, partition = p.index, from = end, to = target, leader_epoch = p.leader_epoch, "follower truncates a divergent tail");
                let log = Arc::clone(&p.log);
                let cut = tokio::task::spawn_blocking(move || log.truncate_to(target)).await;
                match cut {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::error!(topic = %p.topic, partition = p.index, %error, "follower truncation failed");
                        continue;
                    }
                    Err(error) => {
                        tracing::error!(%error, "follower truncation task failed");
                        continue;
                    }
                }
            }
            agreed.insert((p.topic_id, p.index), p.leader_epoch);
        }
    }
    Ok(())
}

/// One fetch of every partition in `partitions`; true if it brought anything or the leader held
/// it (so the next one may follow at once).
async fn fetch(
    conn: &mut PeerConn,
    node: i32,
    partitions: &[&Followed],
    agreed: &mut HashMap<Key, i32>,
) -> Result<bool, PeerError> {
    let topics = by_topic(partitions, |p| {
        FetchPartition::default()
            .with_partition(p.index)
            .with_current_leader_epoch(p.leader_epoch)
            .with_fetch_offset(p.log.log_end_offset())
            .with_log_start_offset(p.log.log_start_offset())
            .with_partition_max_bytes(PARTITION_MAX_BYTES)
    });
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(node))
        .with_max_wait_ms(FETCH_MAX_WAIT_MS)
        .with_min_bytes(1)
        .with_max_bytes(FETCH_MAX_BYTES)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(name.to_string())))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    let response = conn.call(FETCH_VERSION, &request, CALL_TIMEOUT).await?;
    if response.error_code != 0 {
        tracing::debug!(code = response.error_code, "leader refused the replica fetch");
        return Ok(false);
    }
    let mut healthy = true;
    // Every partition's write is submitted before any is waited for, so they go to disk together.
    let mut writing = Vec::new();
    // Partitions whose leader moved its log start past this replica's (retention, DeleteRecords,
    // a coordinator's snapshot): this replica moves its own once it holds what lies before it.
    let mut log_starts = Vec::new();
    for topic in response.responses {
        for data in topic.partitions {
            let Some(p) = find(partitions, topic.topic.0.as_str(), data.partition_index) else { continue };
            match ResponseError::try_from_code(data.error_code) {
                None => {
                    if data.log_start_offset > p.log.log_start_offset() {
                        log_starts.push((p, data.log_start_offset));
                    }
                    let records = whole_batches(data.records.unwrap_or_default());
                    if records.is_empty() {
                        p.log.set_replicated_high_watermark(data.high_watermark);
                        continue;
                    }
                    let now = crate::state::now_ms();
                    match crate::blocking::append(AppendOrigin::Replication, &p.log, records, -1, now) {
                        Ok(pending) => writing.push((p, pending, data.high_watermark)),
                        Err(error) => {
                            tracing::warn!(topic = %p.topic, partition = p.index, %error, "follower append refused");
                            agreed.remove(&(p.topic_id, p.index));
                            healthy = false;
                        }
                    }
                }
                Some(ResponseError::OffsetOutOfRange) if p.log.log_end_offset() < data.log_start_offset => {
                    // The leader deleted what this replica lacks: start over at its log start.
                    let (log, start) = (Arc::clone(&p.log), data.log_start_offset);
                    tracing::warn!(topic = %p.topic, partition = p.index, log_end = log.log_end_offset(), start, "follower restarts its log at the leader's log start");
                    let restarted = tokio::task::spawn_blocking(move || log.truncate_fully_and_start_at(start)).await;
                    if !matches!(restarted, Ok(Ok(()))) {
                        tracing::error!(topic = %p.topic, partition = p.index, "follower could not restart its log");
                    }
                }
                Some(error) => {
                    tracing::debug!(topic = %p.topic, partition = p.index, ?error, "replica fetch refused");
                    agreed.remove(&(p.topic_id, p.index));
                    healthy = false;
                }
            }
        }
    }
    for (p, pending, high_watermark) in writing {
        match pending.wait().await {
            Ok(_) => p.log.set_replicated_high_watermark(high_watermark),
            Err(error) => {
                tracing::warn!(topic = %p.topic, partition = p.index, %error, "follower append failed");
                agreed.remove(&(p.topic_id, p.index));
                healthy = false;
            }
        }
    }
    for (p, leader_start) in log_starts {
        // No further than this replica's high watermark (Kafka's follower does the same).
        let (log, before) = (Arc::clone(&p.log), leader_start.min(p.log.high_watermark()));
        if before <= log.log_start_offset() {
            continue;
        }
        match tokio::task::spawn_blocking(move || log.delete_records(before)).await {
            Ok(Ok(start)) => {
                tracing::debug!(topic = %p.topic, partition = p.index, start, "follower moved its log start")
            }
            Ok(Err(error)) => {
                tracing::warn!(topic = %p.topic, partition = p.index, %error, "follower cannot move its log start")
            }
            Err(error) => tracing::warn!(%error, "follower log start task failed"),
        }
    }
    Ok(healthy)
}

/// The complete batches at the front of `records` (a fetch may end inside one).
fn whole_batches(records: Bytes) -> Bytes {
    let mut at = 0;
    while let Ok(header) = BatchHeader::parse(&records[at..]) {
        let total = header.total_bytes();
        if total == 0 || at + total > records.len() {
            break;
        }
        at += total;
    }
    records.slice(..at)
}
