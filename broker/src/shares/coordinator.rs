//! The share coordinator, in a cluster (Kafka's `ShareCoordinator`): the broker leading a
//! `__share_group_state` partition keeps the latest state of every share-partition whose key
//! falls in it, loaded from the partition when it comes to lead it, and answers
//! ReadShareGroupState and WriteShareGroupState for them; the leaders of the share groups'
//! partitions keep their share-partitions' state through it ([`super::remote`]). A write is
//! answered once the partition's in-sync replicas hold it.
//!
//! Each state names the leader epoch of the partition leader that wrote it: a read or a write
//! from an older leader epoch is refused (FENCED_LEADER_EPOCH), and a read from a newer one
//! records that epoch before it answers, so a deposed leader cannot write over its successor's
//! state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use strata_shares::{PartitionSnapshot, SnapshotRecord, StateKey};

use super::state_log::{SHARE_STATE_TOPIC, Snapshots, StateLog};
use crate::groups::{CoordinatorAppend, Leaders, OffsetsLog, StoreError, wait_all};
use crate::state::Broker;
use crate::topics::Topic;

/// Why the share coordinator refuses a read or a write.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// NOT_COORDINATOR: another broker leads the key's partition (or none does).
    #[error("this broker does not coordinate {SHARE_STATE_TOPIC} partition {0}")]
    NotCoordinator(i32),
    /// COORDINATOR_LOAD_IN_PROGRESS.
    #[error("{SHARE_STATE_TOPIC} partition {0} is still loading")]
    Loading(i32),
    /// COORDINATOR_NOT_AVAILABLE: the topic does not exist yet.
    #[error("{SHARE_STATE_TOPIC} does not exist yet")]
    NoTopic,
    /// FENCED_LEADER_EPOCH.
    #[error("leader epoch {sent} is older than the share-partition's {known}")]
    FencedLeaderEpoch { sent: i32, known: i32 },
    /// FENCED_STATE_EPOCH: the state was started afresh (AlterShareGroupOffsets) since.
    #[error("state epoch {sent} is older than the share-partition's {known}")]
    FencedStateEpoch { sent: i32, known: i32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The partitions this broker leads, with their states.
#[derive(Debug)]
struct Loaded {
    log: StateLog,
    /// Each partition led, with the leader epoch it was loaded in.
    partitions: BTreeMap<i32, i32>,
    latest: Snapshots,
}

/// The share coordinator of this cluster member.
#[derive(Debug, Default)]
pub struct ShareCoordinator {
    loaded: Mutex<Option<Loaded>>,
}

impl ShareCoordinator {
    /// Loads the partitions of `__share_group_state` this broker leads (`leaders`, each in its
    /// current leader epoch) and forgets the others; nothing changes while they stay the same.
    pub fn follow(&self, topic: Arc<Topic>, leaders: Leaders) {
        let partitions: BTreeMap<i32, i32> = leaders.iter().map(|(&p, state)| (p, state.leader_epoch)).collect();
        let all: Vec<i32> = partitions.keys().copied().collect();
        let mut loaded = self.lock();
        if loaded.as_ref().is_some_and(|l| l.partitions == partitions) {
            return;
        }
        match crate::blocking::run(|| StateLog::load(OffsetsLog::led(topic, leaders), &all)) {
            Ok((log, latest)) => *loaded = Some(Loaded { log, partitions, latest }),
            Err(error) => {
                tracing::error!(%error, "cannot load the {SHARE_STATE_TOPIC} partitions this broker leads");
                *loaded = None;
            }
        }
    }

    /// `key`'s state for a partition leader in `leader_epoch` (`None`: it has none yet).
    pub async fn read(
        &self,
        broker: &Broker,
        key: StateKey,
        leader_epoch: i32,
    ) -> Result<Option<SnapshotRecord>, CoordinatorError> {
        let (record, pending) = {
            let mut guard = self.lock();
            let loaded = checked(broker, &mut guard, &key)?;
            let Some(known) = loaded.latest.get(&key).cloned() else { return Ok(None) };
            if leader_epoch < known.leader_epoch {
                return Err(CoordinatorError::FencedLeaderEpoch { sent: leader_epoch, known: known.leader_epoch });
            }
            if leader_epoch == known.leader_epoch {
                return Ok(Some(known));
            }
            loaded.write(key, known.state, known.state_epoch, leader_epoch)?
        };
        wait_all(Ok(pending)).await?;
        Ok(Some(record))
    }

    /// Writes `key`'s `state` from a partition leader in `leader_epoch`; done once the
    /// partition's in-sync replicas hold it.
    pub async fn write(
        &self,
        broker: &Broker,
        key: StateKey,
        state: PartitionSnapshot,
        (state_epoch, leader_epoch): (i32, i32),
    ) -> Result<(), CoordinatorError> {
        let pending = {
            let mut guard = self.lock();
            let loaded = checked(broker, &mut guard, &key)?;
            if let Some(known) = loaded.latest.get(&key) {
                if leader_epoch < known.leader_epoch {
                    return Err(CoordinatorError::FencedLeaderEpoch { sent: leader_epoch, known: known.leader_epoch });
                }
                if state_epoch < known.state_epoch {
                    return Err(CoordinatorError::FencedStateEpoch { sent: state_epoch, known: known.state_epoch });
                }
            }
            loaded.write(key, state, state_epoch, leader_epoch)?.1
        };
        Ok(wait_all(Ok(pending)).await?)
    }

    /// `key`'s state as it is, for the group coordinator (ReadShareGroupStateSummary): no leader
    /// epoch is checked or recorded.
    pub fn summary(&self, broker: &Broker, key: &StateKey) -> Result<Option<SnapshotRecord>, CoordinatorError> {
        let mut guard = self.lock();
        Ok(checked(broker, &mut guard, key)?.latest.get(key).cloned())
    }

    /// Starts `key`'s state afresh at `start_offset` in the next state epoch
    /// (InitializeShareGroupState, for AlterShareGroupOffsets): the partition leader's writes
    /// from the state it had are refused, and it reads the new one.
    pub async fn initialize(&self, broker: &Broker, key: StateKey, start_offset: i64) -> Result<(), CoordinatorError> {
        let pending = {
            let mut guard = self.lock();
            let loaded = checked(broker, &mut guard, &key)?;
            let (state_epoch, leader_epoch) =
                loaded.latest.get(&key).map_or((0, 0), |k| (k.state_epoch.wrapping_add(1).max(0), k.leader_epoch));
            let state = PartitionSnapshot { start_offset, batches: Vec::new() };
            loaded.write(key, state, state_epoch, leader_epoch)?.1
        };
        Ok(wait_all(Ok(pending)).await?)
    }

    /// Deletes `key`'s state (DeleteShareGroupState, for DeleteShareGroupOffsets and
    /// DeleteGroups).
    pub async fn delete(&self, broker: &Broker, key: StateKey) -> Result<(), CoordinatorError> {
        let pending = {
            let mut guard = self.lock();
            let loaded = checked(broker, &mut guard, &key)?;
            if loaded.latest.remove(&key).is_none() {
                return Ok(());
            }
            loaded.log.append(&[(key, None)], crate::state::now_ms())?.0
        };
        Ok(wait_all(Ok(pending)).await?)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Loaded>> {
        self.loaded.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The loaded partitions, if this broker coordinates `key`.
fn checked<'a>(
    broker: &Broker,
    guard: &'a mut MutexGuard<'_, Option<Loaded>>,
    key: &StateKey,
) -> Result<&'a mut Loaded, CoordinatorError> {
    let topic = broker.topics.get(SHARE_STATE_TOPIC).ok_or(CoordinatorError::NoTopic)?;
    let partition = key.state_partition(topic.partition_count());
    let epoch = topic.leadership(partition).filter(|l| l.is_led_by(broker.node_id())).map(|l| l.leader_epoch);
    let Some(epoch) = epoch else { return Err(CoordinatorError::NotCoordinator(partition)) };
    match guard.as_mut() {
        Some(loaded) if loaded.partitions.get(&partition) == Some(&epoch) => Ok(loaded),
        _ => Err(CoordinatorError::Loading(partition)),
    }
}

impl Loaded {
    /// Queues `key`'s new state (its snapshot epoch one past the last) and takes it as the
    /// latest; compacts the partitions that are due. Returns the record and the appends to wait
    /// for.
    fn write(
        &mut self,
        key: StateKey,
        state: PartitionSnapshot,
        state_epoch: i32,
        leader_epoch: i32,
    ) -> Result<(SnapshotRecord, Vec<CoordinatorAppend>), StoreError> {
        let now = crate::state::now_ms();
        let known = self.latest.get(&key);
        let record = SnapshotRecord {
            snapshot_epoch: known.map_or(0, |k| k.snapshot_epoch.wrapping_add(1).max(0)),
            state_epoch,
            leader_epoch,
            create_timestamp: known.map_or(now, |k| k.create_timestamp),
            write_timestamp: now,
            state,
        };
        let (pending, due) = self.log.append(&[(key.clone(), Some(record.clone()))], now)?;
        self.latest.insert(key, record.clone());
        for partition in due {
            let live: Vec<(StateKey, SnapshotRecord)> = self
                .latest
                .iter()
                .filter(|(k, _)| self.log.partition_of(k) == partition)
                .map(|(k, r)| (k.clone(), r.clone()))
                .collect();
            self.log.compact(partition, &live, now);
        }
        Ok((record, pending))
    }
}
