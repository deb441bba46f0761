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

mod snapshot;

pub use snapshot::{PartitionSnapshot, StateBatch, delivery_state};

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

/// Whether a record that enters the window, or waits there undelivered, may be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Now,
    /// Not before this time (delayed delivery).
    At(i64),
    /// Never: archived unread (a transaction marker, or an aborted transaction's record for a
    /// `read_committed` group, as Kafka's `filterAbortedTransactionalAcquiredRecords`).
    Never,
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
    /// Whether a record may be waiting for the dead-letter topic (set as one is finished so,
    /// cleared once they are taken): every share request asks, and most groups have none.
    dead_letters_waiting: bool,
}

impl SharePartition {
    /// An empty window starting at `start` (where the group begins reading: the log end for
    /// `share.auto.offset.reset=latest`, the log start for `earliest`).
    pub fn new(start: i64, config: ShareConfig) -> SharePartition {
        SharePartition { start, end: start, records: BTreeMap::new(), config, dead_letters_waiting: false }
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
        range: (i64, i64),
        now_ms: i64,
        due: impl Fn(i64) -> Option<i64>,
    ) -> Vec<Acquired> {
        self.acquire_admitted(member, max_records, range, now_ms, |offset| {
            due(offset).map_or(Admission::Now, Admission::At)
        })
    }

    /// [`SharePartition::acquire_due`], where `admit(offset)` also says which records are never
    /// delivered: those are archived, unread, as they enter the window (or while they wait in it
    /// undelivered), and the window's start moves past them.
    pub fn acquire_admitted(
        &mut self,
        member: &str,
        max_records: usize,
        (from, upto): (i64, i64),
        now_ms: i64,
        admit: impl Fn(i64) -> Admission,
    ) -> Vec<Acquired> {
        self.expire_locks(now_ms);
        let lock_expires_ms = now_ms.saturating_add(self.config.lock_duration_ms);
        let held = || RecordState::Acquired { member: member.to_string(), lock_expires_ms };
        let mut taken: Vec<(i64, i16)> = Vec::new();
        let mut archived = false;
        for (&offset, record) in self.records.range_mut(from..upto.max(from)) {
            if taken.len() >= max_records {
                break;
            }
            if !record.ready(now_ms) {
                continue;
            }
            // Never delivered and not due (a restart forgets when it is due: asked again).
            if record.delivery_count == 0 {
                match admit(offset) {
                    Admission::At(at) if at > now_ms => {
                        record.available_at_ms = at;
                        continue;
                    }
                    Admission::Never => {
                        record.state = RecordState::Archived;
                        archived = true;
                        continue;
                    }
                    Admission::Now | Admission::At(_) => {}
                }
            }
            record.state = held();
            record.delivery_count = record.delivery_count.saturating_add(1);
            taken.push((offset, record.delivery_count));
        }
        let width = i64::try_from(self.config.max_in_flight).unwrap_or(i64::MAX);
        let window_end = upto.min(self.start.saturating_add(width));
        while taken.len() < max_records && self.end < window_end {
            let offset = self.end;
            let record = match admit(offset) {
                Admission::At(at) if at > now_ms => InFlight { available_at_ms: at, ..InFlight::fresh() },
                Admission::Never => {
                    archived = true;
                    InFlight { state: RecordState::Archived, ..InFlight::fresh() }
                }
                Admission::Now | Admission::At(_) => {
                    taken.push((offset, 1));
                    InFlight { state: held(), delivery_count: 1, available_at_ms: 0 }
                }
            };
            self.records.insert(offset, record);
            self.end += 1;
        }
        if archived {
            self.advance_start();
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
                let dead_letter = match ack {
                    AckType::Accept => {
                        record.state = RecordState::Acknowledged;
                        false
                    }
                    AckType::Gap => {
                        record.state = RecordState::Archived;
                        false
                    }
                    AckType::Reject => record.finish(&config, DeadLetterReason::Rejected),
                    AckType::Release => record.release(&config, now_ms),
                };
                self.dead_letters_waiting |= dead_letter;
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
                self.dead_letters_waiting |= record.release(&config, now_ms);
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
                self.dead_letters_waiting |= record.release(&config, now_ms);
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
        if !std::mem::take(&mut self.dead_letters_waiting) {
            return Vec::new();
        }
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
                    self.dead_letters_waiting = true;
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

impl InFlight {
    /// Never delivered and available.
    fn fresh() -> InFlight {
        InFlight { state: RecordState::Available, delivery_count: 0, available_at_ms: 0 }
    }

    /// Released at `now_ms` (by its member, or its lock expired): archived after the last
    /// delivery allowed, otherwise available again once its retry backoff is over. Whether it
    /// now waits for the dead-letter topic.
    fn release(&mut self, config: &ShareConfig, now_ms: i64) -> bool {
        if self.delivery_count >= config.delivery_count_limit {
            return self.finish(config, DeadLetterReason::DeliveryLimit);
        }
        self.state = RecordState::Available;
        self.available_at_ms = now_ms.saturating_add(config.retry_backoff.after(self.delivery_count));
        false
    }

    /// Done with, unprocessed: to the dead-letter topic first if the group has one (then true).
    fn finish(&mut self, config: &ShareConfig, reason: DeadLetterReason) -> bool {
        self.state = if config.dead_letter {
            RecordState::DeadLettering { reason, writing: false }
        } else {
            RecordState::Archived
        };
        config.dead_letter
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
mod tests;
