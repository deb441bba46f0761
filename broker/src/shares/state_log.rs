//! `__share_group_state`: where the share groups' durable state is kept (Kafka's share
//! coordinator topic, its records in Kafka's schemas, `strata_shares::records`). Each time a
//! share-partition's state changes, the broker appends a whole snapshot of it, keyed by group,
//! topic id and partition, to the topic's partition Kafka would choose; at start-up the latest
//! snapshot of each key is read back. The topic is created with the first share-partition
//! (`share.coordinator.state.topic.num.partitions`, compacted as the other internal topics).
//!
//! Kept short as `__consumer_offsets` is (see `crate::groups`' compaction): once a partition has
//! taken [`RECORDS_SINCE_COMPACTION_MAX`] snapshots, and twice as many as it has live keys, the
//! live keys' snapshots are written again and the log start moved to the first of them.

use std::collections::HashMap;

use strata_groups::Record as StateRecord;
use strata_shares::records::{self, Decoded};
use strata_shares::{SnapshotRecord, StateKey};

use crate::groups::{CoordinatorAppend, OffsetsLog, Replayed, StoreError, move_log_start};
use crate::state::Broker;
use crate::topics::{NewTopic, TopicError};

/// The internal topic's name, as Kafka's.
pub const SHARE_STATE_TOPIC: &str = "__share_group_state";

/// Snapshots a partition may take after its last compaction before it is compacted again.
const RECORDS_SINCE_COMPACTION_MAX: u64 = 10_000;

/// Why the share groups' state could not be written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create {SHARE_STATE_TOPIC}: {0}")]
    Topic(#[from] TopicError),
    #[error("cannot write {SHARE_STATE_TOPIC}: {0}")]
    Store(#[from] StoreError),
    /// In a cluster: the share coordinator could not be reached, or refused the write.
    #[error("the share coordinator refused the state: {0:?}")]
    Coordinator(kafka_protocol::ResponseError),
}

/// Creates the topic with `replication_factor` replicas of each partition, unless it exists.
fn create_topic(broker: &Broker, replication_factor: i32) -> Result<std::sync::Arc<crate::topics::Topic>, TopicError> {
    let new = NewTopic {
        name: SHARE_STATE_TOPIC,
        partitions: broker.config.settings.share_coordinator_state_topic_num_partitions,
        replication_factor,
        overrides: crate::groups::internal_topic_overrides(),
        internal: true,
    };
    broker.topics.get_or_create(&broker.log, &broker.config, new, crate::state::now_ms())
}

/// The latest snapshot of each share-partition.
pub type Snapshots = HashMap<StateKey, SnapshotRecord>;

/// The topic, and how many snapshots each partition took since it was last compacted.
#[derive(Debug)]
pub struct StateLog {
    log: OffsetsLog,
    partitions: i32,
    since_compaction: Vec<u64>,
}

impl StateLog {
    /// The topic if it exists (share groups were used before), with every snapshot it holds,
    /// the latest of each key; `None` when it does not exist yet.
    pub fn open(topics: &crate::topics::Topics) -> Result<Option<(StateLog, Snapshots)>, StoreError> {
        let Some(topic) = topics.get(SHARE_STATE_TOPIC) else { return Ok(None) };
        let log = OffsetsLog::new(topic);
        let all: Vec<i32> = (0..i32::try_from(log.partition_count()).unwrap_or(i32::MAX)).collect();
        StateLog::load(log, &all).map(Some)
    }

    /// `log` with the latest snapshot of each key its partitions `partitions` hold (a share
    /// coordinator in a cluster loads the partitions it leads).
    pub fn load(log: OffsetsLog, partitions: &[i32]) -> Result<(StateLog, Snapshots), StoreError> {
        let partition_count = i32::try_from(log.partition_count()).unwrap_or(i32::MAX);
        let mut latest = Snapshots::new();
        let mut replay = |replayed: Replayed<'_>| {
            let Replayed::Record { key, value, .. } = replayed else { return Ok(()) };
            match records::decode(key, value) {
                Ok(Decoded::Snapshot(key, Some(snapshot))) => {
                    latest.insert(key, snapshot);
                }
                Ok(Decoded::Snapshot(key, None)) => {
                    latest.remove(&key);
                }
                Ok(Decoded::Other(record_type)) => {
                    tracing::warn!(record_type, "skipping a {SHARE_STATE_TOPIC} record Strata does not write");
                }
                Err(error) => tracing::warn!(%error, "skipping a {SHARE_STATE_TOPIC} record"),
            }
            Ok(())
        };
        let counts = log.replay(partitions, &mut replay)?;
        let since_compaction = (0..partition_count).map(|p| counts.get(&p).copied().unwrap_or(0)).collect();
        tracing::info!(share_partitions = latest.len(), partitions = partitions.len(), "loaded {SHARE_STATE_TOPIC}");
        Ok((StateLog { log, partitions: partition_count, since_compaction }, latest))
    }

    /// Creates the topic (a single node's first share-partition).
    pub fn create(broker: &Broker) -> Result<StateLog, TopicError> {
        let topic = create_topic(broker, 1)?;
        let partitions = topic.partition_count();
        let since_compaction = vec![0; usize::try_from(partitions).unwrap_or(0)];
        Ok(StateLog { log: OffsetsLog::new(topic), partitions, since_compaction })
    }

    /// Creates the topic in a cluster (the first share-partition that needs a share
    /// coordinator), with `share.coordinator.state.topic.replication.factor` replicas.
    pub fn create_replicated(broker: &Broker) -> Result<(), TopicError> {
        create_topic(broker, broker.config.settings.share_coordinator_state_topic_replication_factor).map(|_| ())
    }

    /// Queues `snapshots` (`None`: a tombstone) under the share groups' lock, which keeps the
    /// log's order theirs; returns the appends to wait for. Partitions due for compaction are named in the
    /// second part: the caller writes their live snapshots with [`StateLog::compact`].
    pub fn append(
        &mut self,
        snapshots: &[(StateKey, Option<SnapshotRecord>)],
        now_ms: i64,
    ) -> Result<(Vec<CoordinatorAppend>, Vec<i32>), StoreError> {
        let records = snapshots
            .iter()
            .map(|(key, snapshot)| self.record(key, snapshot.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let pending = self.log.append(&records, now_ms)?;
        for record in &records {
            if let Some(n) = usize::try_from(record.partition).ok().and_then(|i| self.since_compaction.get_mut(i)) {
                *n += 1;
            }
        }
        let due = (0..self.partitions).filter(|&p| self.count(p) > RECORDS_SINCE_COMPACTION_MAX).collect();
        Ok((pending.into_iter().map(|(_, append)| append).collect(), due))
    }

    /// Which `__share_group_state` partition `key`'s records go to.
    pub fn partition_of(&self, key: &StateKey) -> i32 {
        key.state_partition(self.partitions)
    }

    /// Compacts `partition` if it took twice as many snapshots as it has `live` keys: writes
    /// their snapshots again and, once written, moves the log start to the first of them.
    pub fn compact(&mut self, partition: i32, live: &[(StateKey, SnapshotRecord)], now_ms: i64) {
        let live_count = live.len() as u64;
        if self.count(partition) <= live_count.saturating_mul(2) {
            return;
        }
        let Ok(log) = self.log.partition(partition).cloned() else { return };
        let (before, written_at) = if live.is_empty() {
            let end = log.high_watermark();
            (end, end)
        } else {
            let records =
                live.iter().map(|(key, snapshot)| self.record(key, Some(snapshot))).collect::<Result<Vec<_>, _>>();
            match records.and_then(|records| self.log.append(&records, now_ms)) {
                Ok(mut pending) => match pending.pop() {
                    Some((_, append)) => (append.append.info.base_offset, append.append.info.last_offset + 1),
                    None => return,
                },
                Err(error) => {
                    tracing::warn!(partition, %error, "cannot compact {SHARE_STATE_TOPIC}");
                    return;
                }
            }
        };
        if let Some(n) = usize::try_from(partition).ok().and_then(|i| self.since_compaction.get_mut(i)) {
            *n = live_count;
        }
        tracing::info!(partition, live = live_count, log_start = before, "compacting {SHARE_STATE_TOPIC}");
        move_log_start(log, before, written_at);
    }

    fn count(&self, partition: i32) -> u64 {
        usize::try_from(partition).ok().and_then(|i| self.since_compaction.get(i)).copied().unwrap_or(0)
    }

    /// `key`'s record: its snapshot, or (`None`) a tombstone deleting its state.
    fn record(&self, key: &StateKey, snapshot: Option<&SnapshotRecord>) -> Result<StateRecord, StoreError> {
        let encoded = records::encode_key(key).map_err(|e| StoreError::Encode(e.to_string()))?;
        Ok(StateRecord {
            partition: self.partition_of(key),
            key: encoded,
            value: snapshot.map(records::encode_value),
            transaction: None,
        })
    }
}
