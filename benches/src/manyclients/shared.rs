//! What W8's tasks share: the instant record stamps count from, how many connections are ready,
//! counts of answered requests, each partition's end as its produce answers show it, the first
//! failure, the drain deadline, and the tally of what the measured window saw.
//!
//! Every task runs on the one runtime thread, so the locks are never contended; they are there
//! because tasks are spawned as `Send` futures, not for parallelism.

use super::schedule::Plan;
use crate::histogram::Latency;
use crate::loadgen::TICK;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Bytes at the start of each record value that carry its send instant (nanoseconds since
/// [`Shared::base`], little-endian), as in the rdkafka load generator.
pub const STAMP_BYTES: usize = 8;
/// The stamp of a record outside the measured window (readiness and warm-up sends).
pub const UNMEASURED: u64 = u64::MAX;

/// What the measured window saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Records due in the window that were sent.
    pub sent: u64,
    /// Of those, the ones answered without an error.
    pub delivered: u64,
    pub produce_latency: Latency,
    /// When the last measured record was acknowledged.
    pub last_ack: Option<Instant>,
    /// Measured records read back, and their value bytes.
    pub consumed: u64,
    pub consumed_bytes: u64,
    pub e2e_latency: Latency,
    /// Records acknowledged and read back per [`TICK`] from the window's start.
    pub delivered_per_tick: Vec<u64>,
    pub consumed_per_tick: Vec<u64>,
}

/// State shared by the coordinator and every connection's task.
#[derive(Debug)]
pub struct Shared {
    pub base: Instant,
    /// Connections whose first request was answered without an error.
    pub ready: AtomicUsize,
    pub produce_answers: AtomicU64,
    pub fetch_answers: AtomicU64,
    failed: AtomicBool,
    first_failure: Mutex<Option<String>>,
    /// Per partition, one past the highest offset a produce answer reported.
    log_end: Vec<AtomicI64>,
    /// Set once the producers are done: consumers stop when caught up or at this instant.
    drain_until: OnceLock<Instant>,
    tally: Mutex<Tally>,
}

impl Shared {
    pub fn new(partitions: usize) -> Shared {
        Shared {
            base: Instant::now(),
            ready: AtomicUsize::new(0),
            produce_answers: AtomicU64::new(0),
            fetch_answers: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            first_failure: Mutex::new(None),
            log_end: (0..partitions).map(|_| AtomicI64::new(0)).collect(),
            drain_until: OnceLock::new(),
            tally: Mutex::new(Tally::default()),
        }
    }

    /// The stamp a record sent at `sent` carries: its instant, or [`UNMEASURED`].
    pub fn stamp(&self, sent: Instant, measured: bool) -> u64 {
        if measured {
            u64::try_from(sent.duration_since(self.base).as_nanos()).unwrap_or(UNMEASURED)
        } else {
            UNMEASURED
        }
    }

    /// Fails the run (the first reason is kept); every task stops at its next step.
    pub fn fail(&self, reason: String) {
        self.failed.store(true, Ordering::Release);
        self.first_failure.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(reason);
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    pub fn first_failure(&self) -> Option<String> {
        self.first_failure.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A produce answer put a record at `offset` of `partition`.
    pub fn produced(&self, partition: usize, offset: i64) {
        if let Some(end) = self.log_end.get(partition) {
            end.fetch_max(offset.saturating_add(1), Ordering::AcqRel);
        }
    }

    pub fn log_end(&self, partition: usize) -> i64 {
        self.log_end.get(partition).map_or(0, |end| end.load(Ordering::Acquire))
    }

    /// The producers are done; consumers may read until `until`.
    pub fn start_drain(&self, until: Instant) {
        let _ = self.drain_until.set(until);
    }

    /// `None` while producers run; then the instant the drain ends.
    pub fn drain_until(&self) -> Option<Instant> {
        self.drain_until.get().copied()
    }

    /// A measured record was sent.
    pub fn sent_measured(&self) {
        self.tally().sent += 1;
    }

    /// A measured record sent at `sent` was acknowledged at `answered`.
    pub fn acknowledged(&self, plan: &Plan, sent: Instant, answered: Instant) {
        let mut tally = self.tally();
        tally.delivered += 1;
        tally.produce_latency.record(answered.saturating_duration_since(sent));
        tally.last_ack = Some(tally.last_ack.map_or(answered, |last| last.max(answered)));
        bump(&mut tally.delivered_per_tick, answered.saturating_duration_since(plan.measure_from));
    }

    /// A measured record stamped `stamp` with `value_bytes` bytes was read back at `arrived`.
    pub fn consumed(&self, plan: &Plan, stamp: u64, value_bytes: usize, arrived: Instant) {
        let sent = self.base + Duration::from_nanos(stamp);
        let mut tally = self.tally();
        tally.consumed += 1;
        tally.consumed_bytes += value_bytes as u64;
        tally.e2e_latency.record(arrived.saturating_duration_since(sent));
        bump(&mut tally.consumed_per_tick, arrived.saturating_duration_since(plan.measure_from));
    }

    /// The tally so far (taken out; the run is over when this is called).
    pub fn take_tally(&self) -> Tally {
        std::mem::take(&mut *self.tally())
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn bump(per_tick: &mut Vec<u64>, since_start: Duration) {
    let tick = usize::try_from(since_start.as_nanos() / TICK.as_nanos()).unwrap_or(usize::MAX);
    if tick >= per_tick.len() {
        // A tick past any sane run's length is a clock oddity; it is not worth the memory.
        if tick > 1 << 20 {
            return;
        }
        per_tick.resize(tick + 1, 0);
    }
    per_tick[tick] += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_and_tallies_follow_the_window() {
        let shared = Shared::new(2);
        let plan = Plan::new(shared.base, Duration::from_secs(1), Duration::from_secs(1));
        assert_eq!(shared.stamp(plan.measure_from, false), UNMEASURED);
        let sent = plan.measure_from + Duration::from_millis(250);
        let stamp = shared.stamp(sent, true);
        assert_eq!(stamp, 1_250_000_000);
        shared.sent_measured();
        shared.acknowledged(&plan, sent, sent + Duration::from_millis(2));
        shared.consumed(&plan, stamp, 1024, sent + Duration::from_millis(5));
        let tally = shared.take_tally();
        assert_eq!((tally.sent, tally.delivered, tally.consumed, tally.consumed_bytes), (1, 1, 1, 1024));
        assert!((tally.produce_latency.quantile_ms(0.5) - 2.0).abs() < 0.01);
        assert!((tally.e2e_latency.quantile_ms(0.5) - 5.0).abs() < 0.01);
        assert_eq!(tally.delivered_per_tick, vec![0, 0, 1]);
    }

    #[test]
    fn partition_ends_only_grow_and_the_first_failure_is_kept() {
        let shared = Shared::new(2);
        shared.produced(1, 9);
        shared.produced(1, 4);
        shared.produced(7, 4);
        assert_eq!((shared.log_end(0), shared.log_end(1), shared.log_end(7)), (0, 10, 0));
        assert!(!shared.failed());
        shared.fail("first".into());
        shared.fail("second".into());
        assert!(shared.failed());
        assert_eq!(shared.first_failure().as_deref(), Some("first"));
    }
}
