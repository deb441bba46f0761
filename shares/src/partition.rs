//! One share group's view of one partition (Kafka's `SharePartition`, KIP-932): the
//! share-partition start offset (SPSO), below which every record is done with, and the in-flight
//! window above it up to the end offset (SPEO), with each record's state and delivery count.
//!
//! Records are acquired in offset order by a member, under a lock of `lock_duration_ms`; the
//! member acknowledges those it holds: accepted (acknowledged), released (available again),
//! rejected (archived) or a gap (archived: no record at that offset). A lock that expires makes
//! its record available again, and a record released or expired after its
//! `delivery_count_limit`th delivery is archived instead. The start moves past every leading
//! record that is acknowledged or archived. No sockets, no clock: callers pass the time.

use std::collections::BTreeMap;

/// How a member acknowledges a record (ShareFetch and ShareAcknowledge `acknowledge_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckType {
    /// No record at this offset (a compacted or control record the client skipped).
    Gap,
    Accept,
    Release,
    Reject,
}

impl AckType {
    /// Kafka's wire value: 0 gap, 1 accept, 2 release, 3 reject.
    pub fn from_wire(value: i8) -> Option<AckType> {
        match value {
            0 => Some(AckType::Gap),
            1 => Some(AckType::Accept),
            2 => Some(AckType::Release),
            3 => Some(AckType::Reject),
            _ => None,
        }
    }
}

/// A record's state in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordState {
    Available,
    /// Held by `member` until `lock_expires_ms`.
    Acquired {
        member: String,
        lock_expires_ms: i64,
    },
    Acknowledged,
    Archived,
    /// Rejected, or past the delivery limit, in a group with a dead-letter topic: archived once
    /// it is written there (`writing` while the broker is at it).
    DeadLettering {
        reason: DeadLetterReason,
        writing: bool,
    },
}

/// Why a record goes to the dead-letter topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// A consumer rejected it.
    Rejected,
    /// It was released, or its lock expired, after its last allowed delivery.
    DeliveryLimit,
}

/// A record to write to the group's dead-letter topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetter {
    pub offset: i64,
    pub delivery_count: i16,
    pub reason: DeadLetterReason,
}

/// How long a released record (or one whose lock expired) waits before it is delivered again:
/// `initial_ms` after its first delivery, multiplied by `multiplier` after each further one, at
/// most `max_ms`. Kafka has no such wait (`initial_ms` 0, the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBackoff {
    pub initial_ms: i64,
    pub multiplier: u32,
    pub max_ms: i64,
}

impl RetryBackoff {
    /// No wait: a released record may be delivered again at once, as in Kafka.
    pub const NONE: RetryBackoff = RetryBackoff { initial_ms: 0, multiplier: 1, max_ms: 0 };

    /// The wait before the delivery after `delivery_count` deliveries.
    pub fn after(&self, delivery_count: i16) -> i64 {
        if self.initial_ms <= 0 {
            return 0;
        }
        let mut wait = self.initial_ms;
        for _ in 1..delivery_count {
            wait = wait.saturating_mul(i64::from(self.multiplier));
            if wait >= self.max_ms {
                break;
            }
        }
        wait.min(self.max_ms.max(self.initial_ms))
    }
}

/// The group's limits (Kafka's `group.share.*` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareConfig {
    /// Deliveries after which a released or expired record is archived
    /// (`group.share.delivery.count.limit`, 5).
    pub delivery_count_limit: i16,
    /// How long an acquired record stays locked to its member (`group.share.record.lock.duration.ms`).
    pub lock_duration_ms: i64,
    /// The most records in flight, the window's width (`group.share.partition.max.record.locks`).
    pub max_in_flight: usize,
    /// The wait before a released record is delivered again (beyond Kafka).
    pub retry_backoff: RetryBackoff,
    /// Whether the group has a dead-letter topic: records rejected or past the delivery limit
    /// are written there before they are archived.
    pub dead_letter: bool,
}

impl Default for ShareConfig {
    fn default() -> Self {
        ShareConfig {
            delivery_count_limit: 5,
            lock_duration_ms: 30_000,
            max_in_flight: 2000,
            retry_backoff: RetryBackoff::NONE,
            dead_letter: false,
        }
    }
}

/// A run of records acquired with one delivery count (ShareFetch's `AcquiredRecords`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acquired {
    pub first_offset: i64,
    pub last_offset: i64,
    pub delivery_count: i16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    /// INVALID_RECORD_STATE: an offset of the batch is not acquired by this member (never was,
    /// was acknowledged already, or its lock expired).
    #[error("offsets {first}..={last} are not all acquired by this member")]
    InvalidRecordState { first: i64, last: i64 },
    /// INVALID_REQUEST: a batch whose last offset is below its first, or whose types are neither
    /// one nor one per offset.
    #[error("invalid acknowledgement batch {first}..={last} with {types} types")]
    InvalidBatch { first: i64, last: i64, types: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct InFlight {
    state: RecordState,
    delivery_count: i16,
    /// An available record is not delivered before this (its retry backoff).
    available_at_ms: i64,
}

/// One partition's share state for one group.
#[derive(Debug, Clone)]
pub struct SharePartition {
    /// SPSO: every record below it is done with.
    start: i64,
    /// SPEO: one past the last record that entered the window.
    end: i64,
    /// Every offset of `[start, end)`.
    records: BTreeMap<i64, InFlight>,
    config: ShareConfig,
}

impl SharePartition {
    /// An empty window starting at `start` (where the group begins reading: the log end for
    /// `share.auto.offset.reset=latest`, the log start for `earliest`).
    pub fn new(start: i64, config: ShareConfig) -> SharePartition {
        SharePartition { start, end: start, records: BTreeMap::new(), config }
    }

    /// Applies the group's settings as they are now (a change to them counts from here on).
    pub fn set_config(&mut self, config: ShareConfig) {
        self.config = config;
    }

    /// SPSO.
    pub fn start_offset(&self) -> i64 {
        self.start
    }

    /// SPEO.
    pub fn end_offset(&self) -> i64 {
        self.end
    }

    /// The state and delivery count of `offset`, if it is in the window.
    pub fn record(&self, offset: i64) -> Option<(&RecordState, i16)> {
        self.records.get(&offset).map(|r| (&r.state, r.delivery_count))
    }

    /// Where a fetch for this group reads from at `now_ms`: the first record of the window that
    /// may be delivered (available, its retry backoff over), else the window's end.
    pub fn next_fetch_offset(&self, now_ms: i64) -> i64 {
        self.records.iter().find(|(_, r)| r.ready(now_ms)).map_or(self.end, |(offset, _)| *offset)
    }

    /// When the earliest available record's retry backoff ends, if one is waiting.
    pub fn next_retry_at(&self, now_ms: i64) -> Option<i64> {
        self.records
            .values()
            .filter(|r| r.state == RecordState::Available && r.available_at_ms > now_ms)
            .map(|r| r.available_at_ms)
            .min()
    }

    /// Acquires up to `max_records` records of `from..upto` (what the fetch read, below what the
    /// log may hand out) for `member`, locked until `now_ms` plus the lock duration: first the
    /// available ones in the window, in offset order, then new ones from the window's end, the
    /// window never wider than `max_in_flight`. Each acquisition is one more delivery. Locks
    /// expired by `now_ms` end first.
    pub fn acquire(&mut self, member: &str, max_records: usize, from: i64, upto: i64, now_ms: i64) -> Vec<Acquired> {
        self.acquire_due(member, max_records, (from, upto), now_ms, |_| None)
    }

    /// [`SharePartition::acquire`], where `due(offset)` is when a record may first be delivered
    /// (delayed delivery; `None`: at once). A record not due yet is left available, never
    /// delivered, until then; later records are acquired past it.
    pub fn acquire_due(
        &mut self,
        member: &str,
        max_records: usize,
        (from, upto): (i64, i64),
        now_ms: i64,
        due: impl Fn(i64) -> Option<i64>,
    ) -> Vec<Acquired> {
        self.expire_locks(now_ms);
        let lock_expires_ms = now_ms.saturating_add(self.config.lock_duration_ms);
        let held = || RecordState::Acquired { member: member.to_string(), lock_expires_ms };
        let waiting = |offset: i64| due(offset).filter(|&at| at > now_ms);
        let mut taken: Vec<(i64, i16)> = Vec::new();
        for (&offset, record) in self.records.range_mut(from..upto.max(from)) {
            if taken.len() >= max_records {
                break;
            }
            if !record.ready(now_ms) {
                continue;
            }
            // Never delivered and not due (a restart forgets when it is due: asked again).
            if record.delivery_count == 0
                && let Some(at) = waiting(offset)
            {
                record.available_at_ms = at;
                continue;
            }
            record.state = held();
            record.delivery_count = record.delivery_count.saturating_add(1);
            taken.push((offset, record.delivery_count));
        }
        let width = i64::try_from(self.config.max_in_flight).unwrap_or(i64::MAX);
        let window_end = upto.min(self.start.saturating_add(width));
        while taken.len() < max_records && self.end < window_end {
            let offset = self.end;
            match waiting(offset) {
                Some(at) => {
                    let record = InFlight { available_at_ms: at, ..InFlight::fresh() };
                    self.records.insert(offset, record);
                }
                None => {
                    self.records.insert(offset, InFlight { state: held(), delivery_count: 1, available_at_ms: 0 });
                    taken.push((offset, 1));
                }
            }
            self.end += 1;
        }
        runs(&taken)
    }

    /// Acknowledges offsets `first..=last` with `types` (one for the whole batch, or one per
    /// offset) at `now_ms`. Every offset must be acquired by `member` under a lock that has not
    /// expired, or nothing changes (beyond ending the expired locks).
    pub fn acknowledge(
        &mut self,
        member: &str,
        first: i64,
        last: i64,
        types: &[AckType],
        now_ms: i64,
    ) -> Result<(), ShareError> {
        self.expire_locks(now_ms);
        let count = last.checked_sub(first).and_then(|d| usize::try_from(d).ok()).map(|d| d + 1);
        let per_offset = match (count, types.len()) {
            (Some(_), 1) => false,
            (Some(n), t) if n == t => true,
            _ => return Err(ShareError::InvalidBatch { first, last, types: types.len() }),
        };
        let held_by_member = |offset: i64| matches!(self.records.get(&offset), Some(InFlight { state: RecordState::Acquired { member: m, .. }, .. }) if m == member);
        if !(first..=last).all(held_by_member) {
            return Err(ShareError::InvalidRecordState { first, last });
        }
        let config = self.config;
        for (i, offset) in (first..=last).enumerate() {
            let ack = if per_offset { types[i] } else { types[0] };
            if let Some(record) = self.records.get_mut(&offset) {
                match ack {
                    AckType::Accept => record.state = RecordState::Acknowledged,
                    AckType::Gap => record.state = RecordState::Archived,
                    AckType::Reject => record.finish(&config, DeadLetterReason::Rejected),
                    AckType::Release => record.release(&config, now_ms),
                }
            }
        }
        self.advance_start();
        Ok(())
    }

    /// Releases every record `member` holds at `now_ms` (it left the group or closed its share
    /// session), as an explicit release would. Returns how many.
    pub fn release_member(&mut self, member: &str, now_ms: i64) -> usize {
        let config = self.config;
        let mut released_count = 0;
        for record in self.records.values_mut() {
            if matches!(&record.state, RecordState::Acquired { member: m, .. } if m == member) {
                record.release(&config, now_ms);
                released_count += 1;
            }
        }
        self.advance_start();
        released_count
    }

    /// Ends every lock that expired by `now_ms`: those records become available again (or
    /// archived at the delivery limit). Returns how many.
    pub fn expire_locks(&mut self, now_ms: i64) -> usize {
        let config = self.config;
        let mut expired = 0;
        for record in self.records.values_mut() {
            if matches!(record.state, RecordState::Acquired { lock_expires_ms, .. } if lock_expires_ms <= now_ms) {
                record.release(&config, now_ms);
                expired += 1;
            }
        }
        self.advance_start();
        expired
    }

    /// When the earliest lock expires, if any record is acquired.
    pub fn next_lock_expiry(&self) -> Option<i64> {
        self.records
            .values()
            .filter_map(|r| match r.state {
                RecordState::Acquired { lock_expires_ms, .. } => Some(lock_expires_ms),
                _ => None,
            })
            .min()
    }

    /// The records due for the dead-letter topic that no one is writing yet, now marked as
    /// being written.
    pub fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        let mut taken = Vec::new();
        for (&offset, record) in self.records.iter_mut() {
            if let RecordState::DeadLettering { reason, writing: writing @ false } = &mut record.state {
                *writing = true;
                taken.push(DeadLetter { offset, delivery_count: record.delivery_count, reason: *reason });
            }
        }
        taken
    }

    /// `offsets` were written to the dead-letter topic (`written`) and are archived, or were not
    /// and wait for another try.
    pub fn dead_lettered(&mut self, offsets: &[i64], written: bool) {
        for offset in offsets {
            if let Some(record) = self.records.get_mut(offset)
                && let RecordState::DeadLettering { writing, .. } = &mut record.state
            {
                if written {
                    record.state = RecordState::Archived;
                } else {
                    *writing = false;
                }
            }
        }
        self.advance_start();
    }

    /// The log's start moved to `log_start` (retention, DeleteRecords): records below it are gone
    /// and leave the window.
    pub fn move_start_to(&mut self, log_start: i64) {
        if log_start <= self.start {
            return;
        }
        self.records = self.records.split_off(&log_start);
        self.start = log_start;
        self.end = self.end.max(log_start);
        self.advance_start();
    }

    /// Moves the start past every leading record that is acknowledged or archived.
    fn advance_start(&mut self) {
        while let Some(entry) = self.records.first_entry() {
            if !matches!(entry.get().state, RecordState::Acknowledged | RecordState::Archived) {
                break;
            }
            let offset = *entry.key();
            entry.remove();
            self.start = offset + 1;
        }
        if self.records.is_empty() {
            self.start = self.end;
        }
        debug_assert!(self.start <= self.end);
    }
}

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

impl InFlight {
    /// Never delivered and available.
    fn fresh() -> InFlight {
        InFlight { state: RecordState::Available, delivery_count: 0, available_at_ms: 0 }
    }

    /// Released at `now_ms` (by its member, or its lock expired): archived after the last
    /// delivery allowed, otherwise available again once its retry backoff is over.
    fn release(&mut self, config: &ShareConfig, now_ms: i64) {
        if self.delivery_count >= config.delivery_count_limit {
            self.finish(config, DeadLetterReason::DeliveryLimit);
        } else {
            self.state = RecordState::Available;
            self.available_at_ms = now_ms.saturating_add(config.retry_backoff.after(self.delivery_count));
        }
    }

    /// Done with, unprocessed: to the dead-letter topic first if the group has one.
    fn finish(&mut self, config: &ShareConfig, reason: DeadLetterReason) {
        self.state = if config.dead_letter {
            RecordState::DeadLettering { reason, writing: false }
        } else {
            RecordState::Archived
        };
    }

    /// Whether it may be delivered at `now_ms`.
    fn ready(&self, now_ms: i64) -> bool {
        self.state == RecordState::Available && self.available_at_ms <= now_ms
    }
}

/// Consecutive offsets with one delivery count, merged into runs.
fn runs(taken: &[(i64, i16)]) -> Vec<Acquired> {
    let mut runs: Vec<Acquired> = Vec::new();
    for &(offset, delivery_count) in taken {
        match runs.last_mut() {
            Some(run) if run.last_offset + 1 == offset && run.delivery_count == delivery_count => {
                run.last_offset = offset;
            }
            _ => runs.push(Acquired { first_offset: offset, last_offset: offset, delivery_count }),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ShareConfig {
        ShareConfig {
            delivery_count_limit: 3,
            lock_duration_ms: 1000,
            max_in_flight: 10,
            retry_backoff: RetryBackoff::NONE,
            dead_letter: false,
        }
    }

    fn run(first: i64, last: i64, delivery_count: i16) -> Acquired {
        Acquired { first_offset: first, last_offset: last, delivery_count }
    }

    #[test]
    fn records_go_to_one_member_at_a_time_and_accepted_ones_move_the_start() {
        let mut p = SharePartition::new(100, config());
        assert_eq!(p.acquire("a", 3, 0, 110, 0), [run(100, 102, 1)]);
        assert_eq!(p.acquire("b", 3, 0, 110, 0), [run(103, 105, 1)], "b gets the next records, not a's");
        assert_eq!(p.acquire("c", 10, 0, 106, 0), [], "nothing more is fetchable");
        p.acknowledge("b", 103, 105, &[AckType::Accept], 0).expect("b holds them");
        assert_eq!(p.start_offset(), 100, "a's records still lead the window");
        p.acknowledge("a", 100, 102, &[AckType::Accept], 0).expect("a holds them");
        assert_eq!((p.start_offset(), p.end_offset()), (106, 106));
    }

    #[test]
    fn only_the_holder_may_acknowledge_and_a_refused_batch_changes_nothing() {
        let mut p = SharePartition::new(0, config());
        p.acquire("a", 4, 0, 10, 0);
        let refused = p.acknowledge("b", 0, 1, &[AckType::Accept], 0);
        assert_eq!(refused, Err(ShareError::InvalidRecordState { first: 0, last: 1 }));
        // One offset of the batch beyond what a holds: the whole batch is refused.
        assert!(p.acknowledge("a", 2, 4, &[AckType::Accept], 0).is_err());
        assert!(matches!(p.record(2), Some((RecordState::Acquired { .. }, 1))));
        assert_eq!(
            p.acknowledge("a", 3, 2, &[AckType::Accept], 0),
            Err(ShareError::InvalidBatch { first: 3, last: 2, types: 1 })
        );
        assert!(p.acknowledge("a", 0, 2, &[AckType::Accept, AckType::Accept], 0).is_err(), "two types for three");
        p.acknowledge("a", 0, 3, &[AckType::Accept], 0).expect("a holds 0..=3");
        assert!(p.acknowledge("a", 0, 0, &[AckType::Accept], 0).is_err(), "acknowledged twice");
    }

    #[test]
    fn released_records_are_delivered_again_until_the_limit_archives_them() {
        let mut p = SharePartition::new(0, config());
        for delivery in 1..=3 {
            assert_eq!(p.acquire("a", 2, 0, 2, 0), [run(0, 1, delivery)]);
            p.acknowledge("a", 0, 1, &[AckType::Release], 0).expect("release");
        }
        assert_eq!(p.start_offset(), 2, "archived after the third delivery");
        assert_eq!(p.acquire("a", 2, 0, 2, 0), []);
    }

    #[test]
    fn per_offset_types_reject_and_gap_archive() {
        let mut p = SharePartition::new(0, config());
        p.acquire("a", 4, 0, 4, 0);
        let types = [AckType::Accept, AckType::Gap, AckType::Release, AckType::Reject];
        p.acknowledge("a", 0, 3, &types, 0).expect("per offset");
        assert_eq!(p.start_offset(), 2);
        assert_eq!(p.record(2), Some((&RecordState::Available, 1)));
        assert_eq!(p.record(3), Some((&RecordState::Archived, 1)));
        assert_eq!(p.acquire("b", 10, 0, 4, 0), [run(2, 2, 2)], "the released record, delivered a second time");
    }

    #[test]
    fn an_expired_lock_frees_the_record_and_its_holder_can_no_longer_acknowledge() {
        let mut p = SharePartition::new(0, config());
        p.acquire("a", 2, 0, 2, 0);
        assert_eq!(p.next_lock_expiry(), Some(1000));
        assert_eq!(p.expire_locks(999), 0);
        let late = p.acknowledge("a", 0, 1, &[AckType::Accept], 1000);
        assert_eq!(late, Err(ShareError::InvalidRecordState { first: 0, last: 1 }), "the lock ended at 1000");
        assert_eq!(p.record(0), Some((&RecordState::Available, 1)));
        assert_eq!(p.acquire("b", 5, 0, 2, 2000), [run(0, 1, 2)]);
        assert_eq!(p.next_lock_expiry(), Some(3000));
    }

    #[test]
    fn a_leaving_member_releases_what_it_holds() {
        let mut p = SharePartition::new(0, config());
        p.acquire("a", 2, 0, 4, 0);
        p.acquire("b", 2, 0, 4, 0);
        assert_eq!(p.release_member("a", 0), 2);
        assert_eq!(p.acquire("c", 5, 0, 4, 0), [run(0, 1, 2)]);
    }

    #[test]
    fn the_window_holds_at_most_max_in_flight_records() {
        let mut p = SharePartition::new(0, config());
        assert_eq!(p.acquire("a", 100, 0, 1000, 0), [run(0, 9, 1)]);
        assert_eq!(p.acquire("b", 100, 0, 1000, 0), [], "full until the start moves");
        p.acknowledge("a", 0, 4, &[AckType::Accept], 0).expect("accept");
        assert_eq!(p.acquire("b", 100, 0, 1000, 0), [run(10, 14, 1)]);
    }

    #[test]
    fn a_fetch_reads_from_the_first_available_record_and_acquires_only_what_it_read() {
        let mut p = SharePartition::new(0, config());
        p.acquire("a", 6, 0, 6, 0);
        p.acknowledge("a", 2, 3, &[AckType::Release], 0).expect("release");
        assert_eq!(p.next_fetch_offset(0), 2);
        assert_eq!(p.acquire("b", 10, 2, 3, 0), [run(2, 2, 2)], "the read ended at 3");
        assert_eq!(p.next_fetch_offset(0), 3);
        assert_eq!(p.acquire("b", 10, 3, 8, 0), [run(3, 3, 2), run(6, 7, 1)]);
        p.acknowledge("b", 2, 3, &[AckType::Release], 0).expect("release");
        assert_eq!(p.acquire("c", 10, 3, 8, 0), [run(3, 3, 3)], "the read began at 3: 2 stays available");
        assert_eq!(p.next_fetch_offset(0), 2);
    }

    #[test]
    fn a_released_record_waits_out_its_retry_backoff_growing_with_each_delivery() {
        let backoff = RetryBackoff { initial_ms: 100, multiplier: 4, max_ms: 1000 };
        assert_eq!([1, 2, 3, 4].map(|n| backoff.after(n)), [100, 400, 1000, 1000]);
        assert_eq!(RetryBackoff::NONE.after(3), 0);
        let mut p = SharePartition::new(0, ShareConfig { delivery_count_limit: 5, retry_backoff: backoff, ..config() });
        p.acquire("a", 1, 0, 1, 0);
        p.acknowledge("a", 0, 0, &[AckType::Release], 50).expect("release");
        assert_eq!((p.next_fetch_offset(149), p.next_retry_at(149)), (1, Some(150)), "backing off until 150");
        assert_eq!(p.acquire("b", 1, 0, 1, 149), []);
        assert_eq!(p.acquire("b", 1, 0, 1, 150), [run(0, 0, 2)]);
        // Its lock expires at 1150: the second wait is 400 ms.
        assert_eq!(p.acquire("c", 1, 0, 1, 1150), [], "expired at 1150, back at 1550");
        assert_eq!(p.next_retry_at(1150), Some(1550));
        assert_eq!(p.acquire("c", 1, 0, 1, 1550), [run(0, 0, 3)]);
        assert_eq!(p.release_member("c", 1600), 1);
        assert_eq!(p.next_retry_at(1600), Some(2600), "capped at 1000 ms");
    }

    #[test]
    fn a_snapshot_restores_what_was_done_and_delivers_the_rest_again() {
        let mut p = SharePartition::new(0, config());
        p.acquire("a", 6, 0, 6, 0);
        p.acknowledge("a", 0, 0, &[AckType::Accept], 1).expect("accept");
        p.acknowledge("a", 2, 2, &[AckType::Reject], 1).expect("reject");
        p.acknowledge("a", 3, 3, &[AckType::Release], 1).expect("release");
        p.acquire("b", 1, 3, 6, 2);
        p.acknowledge("b", 3, 3, &[AckType::Release], 3).expect("release");
        p.acquire("c", 1, 3, 6, 4);
        p.acknowledge("c", 3, 3, &[AckType::Release], 5).expect("release: archived at the limit");
        let snapshot = p.snapshot();
        assert_eq!(snapshot.start_offset, 1);
        let state = |first, last, delivery_state, delivery_count| StateBatch {
            first_offset: first,
            last_offset: last,
            delivery_state,
            delivery_count,
        };
        use delivery_state::*;
        assert_eq!(
            snapshot.batches,
            [state(1, 1, AVAILABLE, 1), state(2, 2, ARCHIVED, 1), state(3, 3, ARCHIVED, 3), state(4, 5, AVAILABLE, 1)]
        );
        let mut back = SharePartition::restore(&snapshot, config());
        assert_eq!((back.start_offset(), back.end_offset()), (1, 6));
        assert_eq!(back.acquire("d", 10, 0, 10, 10), [run(1, 1, 2), run(4, 5, 2), run(6, 9, 1)]);
        assert_eq!(back.record(3), Some((&RecordState::Archived, 3)));
        // At the limit when written: archived on the way back.
        let limit = PartitionSnapshot { start_offset: 7, batches: vec![state(7, 7, AVAILABLE, 3), state(9, 9, 9, 1)] };
        let back = SharePartition::restore(&limit, config());
        assert_eq!((back.start_offset(), back.end_offset()), (8, 8), "archived, and the unknown state ignored");
    }

    #[test]
    fn with_a_dead_letter_topic_rejected_and_exhausted_records_wait_until_written() {
        let config = ShareConfig { dead_letter: true, delivery_count_limit: 2, ..config() };
        let mut p = SharePartition::new(0, config);
        p.acquire("a", 3, 0, 3, 0);
        p.acknowledge("a", 0, 0, &[AckType::Reject], 1).expect("reject");
        p.acknowledge("a", 1, 2, &[AckType::Release], 1).expect("release");
        assert_eq!(p.acquire("a", 3, 0, 3, 2), [run(1, 2, 2)]);
        p.acknowledge("a", 1, 1, &[AckType::Release], 3).expect("past the limit");
        let letter = |offset, delivery_count, reason| DeadLetter { offset, delivery_count, reason };
        use DeadLetterReason::*;
        assert_eq!(p.take_dead_letters(), [letter(0, 1, Rejected), letter(1, 2, DeliveryLimit)]);
        assert_eq!(p.take_dead_letters(), [], "being written");
        assert_eq!(p.start_offset(), 0, "not done with until written");
        // Written to the state topic meanwhile: back as dead letters to write.
        let back = SharePartition::restore(&p.snapshot(), config);
        assert_eq!(back.snapshot().batches[0].delivery_state, delivery_state::ARCHIVING);
        p.dead_lettered(&[1], false);
        assert_eq!(p.take_dead_letters(), [letter(1, 2, DeliveryLimit)], "a failed write is tried again");
        p.dead_lettered(&[0, 1], true);
        assert_eq!((p.start_offset(), p.record(1)), (2, None), "archived and passed");
        assert_eq!(p.acquire("b", 3, 0, 3, 4), [], "2 is still held by a");
    }

    #[test]
    fn a_record_is_not_delivered_before_it_is_due() {
        let mut p = SharePartition::new(0, config());
        let due = |offset: i64| (offset == 1).then_some(500);
        assert_eq!(p.acquire_due("a", 10, (0, 3), 100, due), [run(0, 0, 1), run(2, 2, 1)], "1 waits");
        assert_eq!(p.next_fetch_offset(100), 3);
        assert_eq!(p.next_retry_at(100), Some(500));
        assert_eq!(p.acquire_due("a", 10, (0, 3), 499, due), []);
        assert_eq!(p.acquire_due("b", 10, (0, 3), 500, due), [run(1, 1, 1)], "due: a first delivery");
        // Once delivered, a release is not held back by the due time again.
        p.acknowledge("b", 1, 1, &[AckType::Release], 501).expect("release");
        assert_eq!(p.acquire_due("b", 10, (0, 3), 501, |_| Some(10_000)), [run(1, 1, 2)]);
        // Restored from a snapshot (which keeps no due time), it is asked again.
        let mut fresh = SharePartition::new(0, config());
        fresh.acquire_due("a", 10, (0, 2), 0, |offset| (offset == 0).then_some(900));
        let mut back = SharePartition::restore(&fresh.snapshot(), config());
        let in_flight = back.acquire_due("c", 10, (0, 2), 100, |offset| (offset == 0).then_some(900));
        assert_eq!(in_flight, [run(1, 1, 2)], "0 still waits; 1 was in flight");
        assert_eq!(back.acquire_due("c", 10, (0, 2), 900, |offset| (offset == 0).then_some(900)), [run(0, 0, 1)]);
    }

    #[test]
    fn a_log_start_past_the_window_drops_what_is_gone() {
        let mut p = SharePartition::new(0, config());
        p.acquire("a", 4, 0, 4, 0);
        p.move_start_to(2);
        assert_eq!((p.start_offset(), p.end_offset()), (2, 4));
        assert_eq!(p.record(1), None);
        p.move_start_to(50);
        assert_eq!((p.start_offset(), p.end_offset()), (50, 50));
        assert_eq!(p.acquire("a", 1, 0, 60, 0), [run(50, 50, 1)]);
    }

    /// One step of a random schedule.
    #[derive(Debug, Clone)]
    enum Step {
        Acquire { member: u8, max: usize, fetchable: i64 },
        Acknowledge { member: u8, first: i64, len: i64, ack: u8 },
        Leave { member: u8 },
        Tick { ms: i64 },
        LogStart { offset: i64 },
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            (0u8..3, 0usize..6, 0i64..40).prop_map(|(member, max, fetchable)| Step::Acquire { member, max, fetchable }),
            (0u8..3, 0i64..40, 0i64..4, 0u8..4).prop_map(|(member, first, len, ack)| Step::Acknowledge {
                member,
                first,
                len,
                ack
            }),
            (0u8..3).prop_map(|member| Step::Leave { member }),
            (0i64..800).prop_map(|ms| Step::Tick { ms }),
            (0i64..40).prop_map(|offset| Step::LogStart { offset }),
        ]
    }

    proptest::proptest! {
        /// Whatever members do, the window is exactly `[start, end)`, no wider than
        /// `max_in_flight`, starts at a record still in play, and no record is delivered more
        /// than the limit allows.
        #[test]
        fn the_window_stays_consistent(steps in proptest::collection::vec(step(), 1..80)) {
            // With a retry backoff: records wait between deliveries, and the window holds still.
            let config = ShareConfig { retry_backoff: RetryBackoff { initial_ms: 50, multiplier: 2, max_ms: 400 }, ..config() };
            let mut p = SharePartition::new(0, config);
            let mut now = 0;
            for step in steps {
                match step {
                    Step::Acquire { member, max, fetchable } => {
                        let acquired = p.acquire(&member.to_string(), max, 0, fetchable, now);
                        let count: i64 = acquired.iter().map(|a| a.last_offset - a.first_offset + 1).sum();
                        proptest::prop_assert!(usize::try_from(count).unwrap_or(usize::MAX) <= max);
                    }
                    Step::Acknowledge { member, first, len, ack } => {
                        let ack = AckType::from_wire(i8::try_from(ack).unwrap_or(0)).unwrap_or(AckType::Accept);
                        p.expire_locks(now);
                        let before = p.clone().records;
                        if p.acknowledge(&member.to_string(), first, first + len, &[ack], now).is_err() {
                            proptest::prop_assert_eq!(&before, &p.records, "a refused batch changes nothing");
                        }
                    }
                    Step::Leave { member } => {
                        p.release_member(&member.to_string(), now);
                    }
                    Step::Tick { ms } => {
                        now += ms;
                        p.expire_locks(now);
                    }
                    Step::LogStart { offset } => p.move_start_to(offset),
                }
                let keys: Vec<i64> = p.records.keys().copied().collect();
                let expected: Vec<i64> = (p.start..p.end).collect();
                proptest::prop_assert_eq!(keys, expected);
                proptest::prop_assert!(p.records.len() <= config.max_in_flight);
                if let Some(first) = p.records.values().next() {
                    proptest::prop_assert!(!matches!(first.state, RecordState::Acknowledged | RecordState::Archived));
                }
                for record in p.records.values() {
                    proptest::prop_assert!(record.delivery_count <= config.delivery_count_limit);
                }
            }
        }
    }
}
