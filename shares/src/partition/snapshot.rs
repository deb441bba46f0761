//! A share-partition's durable state: what `__share_group_state` keeps of its window (the
//! start offset, and each in-flight record's state and delivery count), and the window rebuilt
//! from it after a restart.

use super::{DeadLetterReason, InFlight, RecordState, ShareConfig, SharePartition};

/// A record's delivery state as `__share_group_state` keeps it (Kafka's `RecordState` ids).
pub mod delivery_state {
    pub const AVAILABLE: i8 = 0;
    pub const ACKNOWLEDGED: i8 = 2;
    /// KIP-1191's state of a record on its way to the dead-letter topic.
    pub const ARCHIVING: i8 = 3;
    pub const ARCHIVED: i8 = 4;
}

/// Consecutive offsets of the window in one durable state with one delivery count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateBatch {
    pub first_offset: i64,
    pub last_offset: i64,
    /// One of [`delivery_state`].
    pub delivery_state: i8,
    pub delivery_count: i16,
}

impl StateBatch {
    /// Offsets `first..=last` in `delivery_state`, delivered `delivery_count` times.
    pub fn new((first_offset, last_offset): (i64, i64), delivery_state: i8, delivery_count: i16) -> StateBatch {
        StateBatch { first_offset, last_offset, delivery_state, delivery_count }
    }
}

/// What of a share-partition survives a restart: its start offset and the in-flight records'
/// states and delivery counts (a record acquired now is kept as available: it is delivered again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSnapshot {
    pub start_offset: i64,
    pub batches: Vec<StateBatch>,
}

impl SharePartition {
    /// The durable state of the window.
    pub fn snapshot(&self) -> PartitionSnapshot {
        let mut batches: Vec<StateBatch> = Vec::new();
        for (&offset, record) in &self.records {
            let delivery_state = match record.state {
                RecordState::Available | RecordState::Acquired { .. } => delivery_state::AVAILABLE,
                RecordState::Acknowledged => delivery_state::ACKNOWLEDGED,
                RecordState::Archived => delivery_state::ARCHIVED,
                RecordState::DeadLettering { .. } => delivery_state::ARCHIVING,
            };
            match batches.last_mut() {
                Some(b)
                    if b.last_offset + 1 == offset
                        && b.delivery_state == delivery_state
                        && b.delivery_count == record.delivery_count =>
                {
                    b.last_offset = offset;
                }
                _ => batches.push(StateBatch {
                    first_offset: offset,
                    last_offset: offset,
                    delivery_state,
                    delivery_count: record.delivery_count,
                }),
            }
        }
        PartitionSnapshot { start_offset: self.start, batches }
    }

    /// The window `snapshot` describes, every record of it available at once (a record delivered
    /// as often as the limit allows is archived), the end after its last batch. Batches below
    /// the start, out of order or of an unknown state are ignored.
    pub fn restore(snapshot: &PartitionSnapshot, config: ShareConfig) -> SharePartition {
        let mut partition = SharePartition::new(snapshot.start_offset, config);
        for batch in &snapshot.batches {
            let first = batch.first_offset.max(partition.end);
            if batch.last_offset < first || batch.last_offset.saturating_sub(first) >= MAX_RESTORED_BATCH {
                continue;
            }
            let state = match batch.delivery_state {
                delivery_state::AVAILABLE if batch.delivery_count >= config.delivery_count_limit => {
                    RecordState::Archived
                }
                delivery_state::AVAILABLE => RecordState::Available,
                delivery_state::ACKNOWLEDGED => RecordState::Acknowledged,
                delivery_state::ARCHIVED => RecordState::Archived,
                delivery_state::ARCHIVING => {
                    let reason = if batch.delivery_count >= config.delivery_count_limit {
                        DeadLetterReason::DeliveryLimit
                    } else {
                        DeadLetterReason::Rejected
                    };
                    partition.dead_letters_waiting = true;
                    RecordState::DeadLettering { reason, writing: false }
                }
                _ => continue,
            };
            // Offsets skipped between batches were never in flight: available, never delivered.
            for offset in partition.end..first {
                partition.records.insert(offset, InFlight::fresh());
            }
            for offset in first..=batch.last_offset {
                let record =
                    InFlight { state: state.clone(), delivery_count: batch.delivery_count, available_at_ms: 0 };
                partition.records.insert(offset, record);
            }
            partition.end = batch.last_offset + 1;
        }
        partition.advance_start();
        partition
    }
}

/// The widest batch a snapshot may restore (a window is at most `max_in_flight` wide; this
/// only stops a corrupt batch from filling memory).
const MAX_RESTORED_BATCH: i64 = 1 << 20;
