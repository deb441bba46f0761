//! A partition: an ordered set of segments, the offsets handed out, and who may see what.
//!
//! Concurrency (Partition is `Send + Sync`, shared as `Arc`):
//! - `order` serializes everything that submits writes (append, roll, maintain, truncate,
//!   shutdown), so submission order, and therefore completion order, is offset order.
//! - `state` guards the segments and counters. It is held only for memory work and small file
//!   operations, never across `Writer::submit` (a completion callback on the writer thread takes
//!   it, and `submit` may block on a full queue: holding it there could deadlock).
//! - Completion callbacks (on the writer thread) advance indexes, sizes and the high watermark,
//!   so a reader never sees a batch before its write completed.
//! - Operations that change segments other than by appending (roll, truncate, shutdown) first
//!   wait, under `order`, until no write is in flight (`drained`), so in-flight writes always
//!   target the active segment.
//!
//! Invariant: `log_start <= last_stable_offset <= high_watermark <= dirty_end`, and every in-flight
//! write lies in the active segment between its completed size and `dirty_size`.
//!
//! Transactions: the last stable offset is the first offset of the earliest transaction still
//! open (the producer state knows them from the moment their first batch is assigned offsets) or
//! whose marker is not written yet (`txn_ends`), else the high watermark. It is published with the
//! high watermark (a marker's write completing moves both; DeleteRecords may move it alone).

mod append;
mod maintain;
mod open;
mod producers;
mod read;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use tokio::sync::{oneshot, watch};

use crate::config::LogConfig;
use crate::error::LogError;
use crate::io::Writer;
use crate::leader_epochs::LeaderEpochs;
use crate::log_dir::LogDirHealth;
use crate::offset::Offset;
use crate::producer_state::ProducerState;
use crate::segment::Segment;

pub use append::AppendOrigin;
pub use producers::ActiveProducer;
pub use read::{FileRange, Isolation, ReadResult};

/// File descriptors the manager's partitions may hold, shared by them.
#[derive(Debug)]
pub(crate) struct OpenFiles {
    pub(crate) open: AtomicUsize,
    pub(crate) max: usize,
}

/// What every partition of one data directory shares with the others.
#[derive(Debug)]
pub(crate) struct DirShared {
    pub(crate) files: Arc<OpenFiles>,
    pub(crate) health: Arc<LogDirHealth>,
}

/// Descriptors one segment holds (log, index, time index).
pub(crate) const FILES_PER_SEGMENT: usize = 3;

impl OpenFiles {
    pub(crate) fn acquire(&self, n: usize) -> Result<(), LogError> {
        let open = self.open.fetch_add(n, Ordering::SeqCst) + n;
        if open > self.max {
            self.open.fetch_sub(n, Ordering::SeqCst);
            return Err(LogError::TooManyOpenFiles { open: open - n, max: self.max });
        }
        Ok(())
    }

    pub(crate) fn release(&self, n: usize) {
        self.open.fetch_sub(n, Ordering::SeqCst);
    }
}

/// What an append was given (offsets are final once the write completes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// -1 unless the topic uses LogAppendTime.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
}

/// An append whose offsets are assigned and whose write is queued.
#[derive(Debug)]
pub struct PendingAppend {
    pub info: AppendInfo,
    completion: oneshot::Receiver<Result<AppendInfo, LogError>>,
}

impl PendingAppend {
    /// Resolves once the bytes are written (and fsynced if the flush policy asked for it) and
    /// visible to readers.
    pub async fn wait(self) -> Result<AppendInfo, LogError> {
        self.completion.await.unwrap_or(Err(LogError::Closed))
    }
}

pub(crate) struct State {
    pub(crate) config: LogConfig,
    pub(crate) segments: BTreeMap<i64, Segment>,
    pub(crate) log_start: Offset,
    /// Next offset to assign.
    pub(crate) dirty_end: Offset,
    /// Bytes of the active segment including queued writes.
    pub(crate) dirty_size: u32,
    pub(crate) pending_jobs: usize,
    pub(crate) pending_batches: usize,
    /// The writer refused a job (it stopped): this partition refuses appends until reopened.
    pub(crate) failed: Option<Arc<std::io::Error>>,
    /// A write found the disk full: it and every write after it failed, and the next append first
    /// rewinds to the last completed write (`rewind`).
    pub(crate) disk_full: Option<Arc<std::io::Error>>,
    pub(crate) closed: bool,
    pub(crate) producers: ProducerState,
    /// `(marker offset, first offset)` of transactions whose marker is assigned but not yet below
    /// the high watermark: they stay unstable until the marker is written.
    pub(crate) txn_ends: VecDeque<(i64, i64)>,
    pub(crate) unflushed_messages: u64,
    pub(crate) last_flush_ms: i64,
    /// The clean-shutdown marker is still on disk and must go before the first change.
    pub(crate) clean_marker_present: bool,
    /// Every segment below this base offset is known durable (sealed and fsynced).
    pub(crate) recovery_point: Offset,
    pub(crate) recovery_point_persisted: Offset,
    pub(crate) snapshots: BTreeSet<i64>,
    /// Each leader epoch's first offset (see `leader_epochs`).
    pub(crate) epochs: LeaderEpochs,
    /// The replicated high watermark (`Partition::set_replicated_high_watermark`): readers see no
    /// further, however far the log is written. `i64::MAX` while nothing bounds it (a partition
    /// with no other in-sync replica).
    pub(crate) replicated: i64,
}

impl State {
    pub(crate) fn active(&self) -> Option<&Segment> {
        self.segments.values().next_back()
    }

    pub(crate) fn active_mut(&mut self) -> Option<&mut Segment> {
        self.segments.values_mut().next_back()
    }

    /// The end of the completed writes: the log end offset replicas and acks=1 go by.
    pub(crate) fn log_end(&self) -> Offset {
        self.active().map_or(self.log_start, |s| s.next_offset)
    }

    /// What readers see up to: the log end, bounded by the replicated high watermark.
    pub(crate) fn high_watermark(&self) -> Offset {
        let end = self.log_end();
        Offset(end.0.min(self.replicated.max(self.log_start.0)))
    }

    /// The first offset a read_committed consumer may not see yet (see the module docs).
    pub(crate) fn last_stable_offset(&self) -> Offset {
        let high_watermark = self.high_watermark();
        let open = self.producers.first_open_txn().unwrap_or(i64::MAX);
        let ending = self.txn_ends.iter().filter(|(marker, _)| *marker >= high_watermark.0).map(|(_, first)| *first);
        let first_unstable = ending.fold(open, i64::min);
        Offset(first_unstable.min(high_watermark.0).max(self.log_start.0))
    }

    pub(crate) fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| u64::from(s.size)).sum()
    }

    /// An append of `batches` batches is no longer in flight.
    pub(crate) fn uncount_pending(&mut self, batches: usize) {
        assert!(
            self.pending_jobs > 0 && self.pending_batches >= batches,
            "uncounting an append of {batches} batches from {} pending batches in {} appends",
            self.pending_batches,
            self.pending_jobs
        );
        self.pending_jobs -= 1;
        self.pending_batches -= batches;
    }

    /// The partition's invariants, asserted after every change of the state: a failure is a bug in
    /// this crate, never an input or an I/O error.
    pub(crate) fn assert_invariants(&self) {
        let high_watermark = self.high_watermark();
        assert!(
            self.log_start <= high_watermark && high_watermark <= self.dirty_end,
            "log start {} <= high watermark {} <= dirty end {}",
            self.log_start.0,
            high_watermark.0,
            self.dirty_end.0
        );
        // Every pending append holds at least one batch.
        assert!(
            self.pending_batches >= self.pending_jobs && (self.pending_jobs > 0 || self.pending_batches == 0),
            "{} pending batches in {} pending appends",
            self.pending_batches,
            self.pending_jobs
        );
        let Some(active) = self.active() else { panic!("a partition without a segment") };
        assert!(
            self.dirty_size >= active.size,
            "dirty size {} below the written size {}",
            self.dirty_size,
            active.size
        );
        for (base, segment) in &self.segments {
            assert!(*base == segment.base.0 && segment.base <= segment.next_offset, "segment {base} is inconsistent");
        }
        for (older, newer) in self.segments.values().zip(self.segments.values().skip(1)) {
            assert!(
                older.base < newer.base && older.next_offset <= newer.base,
                "segment {} (up to {}) overlaps segment {}",
                older.base.0,
                older.next_offset.0,
                newer.base.0
            );
        }
    }
}

pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) writer: Writer,
    pub(crate) files: Arc<OpenFiles>,
    pub(crate) health: Arc<LogDirHealth>,
    pub(crate) order: Mutex<()>,
    pub(crate) state: Mutex<State>,
    pub(crate) drained: Condvar,
    pub(crate) high_watermark: AtomicI64,
    /// `State::log_end`, published with the high watermark.
    pub(crate) log_end: AtomicI64,
    pub(crate) log_start: AtomicI64,
    pub(crate) last_stable: AtomicI64,
    pub(crate) hw_tx: watch::Sender<i64>,
    /// Bytes of batches written since the partition opened.
    pub(crate) published_bytes: AtomicU64,
    /// Times the waiters were woken for something other than an append (a failed write, a close).
    pub(crate) alarms: AtomicU64,
}

impl Inner {
    pub(crate) fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn lock_order(&self) -> MutexGuard<'_, ()> {
        self.order.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until no write is in flight. Call with `order` held so none can start.
    pub(crate) fn quiesce<'a>(&'a self, mut state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        while state.pending_jobs > 0 {
            state = self.drained.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        state
    }

    /// Wakes every [`Partition::wait_written`] waiter to look at the state again (after a write
    /// failed or the partition closed, when the high watermark will not move).
    pub(crate) fn wake_waiters(&self) {
        self.alarms.fetch_add(1, Ordering::AcqRel);
        self.hw_tx.send_modify(|_| {});
    }

    /// Publishes the high watermark, last stable offset and log start after they changed.
    pub(crate) fn publish(&self, state: &State) {
        state.assert_invariants();
        let hw = state.high_watermark().0;
        self.log_start.store(state.log_start.0, Ordering::Release);
        let stable = state.last_stable_offset().0;
        let stable_moved = self.last_stable.swap(stable, Ordering::AcqRel) != stable;
        let end = state.log_end().0;
        let end_moved = self.log_end.swap(end, Ordering::AcqRel) != end;
        self.high_watermark.store(hw, Ordering::Release);
        // Watchers wake when any moves: a read_committed long poll waits for the last stable
        // offset, which DeleteRecords past an open transaction moves alone; an acks=1 produce and
        // a follower's fetch wait for the log end, which runs ahead of a replicated high watermark.
        self.hw_tx.send_if_modified(|v| {
            let changed = *v != hw || stable_moved || end_moved;
            *v = hw;
            changed
        });
    }
}

/// A partition's [`Partition::progress`]: counters that only grow, and offsets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of batches written since the partition opened (markers included).
    pub published_bytes: u64,
    pub high_watermark: i64,
    /// The log end: above a replicated high watermark, written bytes become readable when the
    /// high watermark moves, not when they are written.
    pub log_end: i64,
    pub last_stable: i64,
    pub log_start: i64,
    /// Wake-ups for a failed write or a close, when the offsets may not move at all.
    pub alarms: u64,
}

/// One partition's log. See the module docs for its concurrency rules.
pub struct Partition {
    pub(crate) inner: Arc<Inner>,
    pub(crate) topic: String,
    pub(crate) partition: i32,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("high_watermark", &self.high_watermark())
            .finish_non_exhaustive()
    }
}

impl Partition {
    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    pub fn log_start_offset(&self) -> i64 {
        self.inner.log_start.load(Ordering::Acquire)
    }

    /// The high watermark: the log end offset of completed writes, bounded by the replicated
    /// high watermark when one is set. Consumers read below it.
    pub fn high_watermark(&self) -> i64 {
        self.inner.high_watermark.load(Ordering::Acquire)
    }

    /// The log end offset of completed writes (Kafka's LEO): what a follower's fetch reads up to
    /// and what the leader reports as this replica's progress.
    pub fn log_end_offset(&self) -> i64 {
        self.inner.log_end.load(Ordering::Acquire)
    }

    /// Bounds what readers see by `offset`, the high watermark replication decided (a leader: the
    /// least log end of the in-sync replicas; a follower: the leader's high watermark);
    /// `i64::MAX` lifts the bound. The high watermark is `min(log end, offset)`.
    pub fn set_replicated_high_watermark(&self, offset: i64) {
        let mut state = self.inner.lock_state();
        if state.replicated == offset {
            return;
        }
        state.replicated = offset;
        let high_watermark = state.high_watermark().0;
        state.txn_ends.retain(|(marker, _)| *marker >= high_watermark);
        self.inner.publish(&state);
    }

    /// Records that this replica leads from the log end on in `epoch` (Kafka's `makeLeader`
    /// assigning the epoch's start offset), when that is a new epoch; durable on return. The
    /// first append of the epoch then need not write the checkpoint.
    pub fn begin_leader_epoch(&self, epoch: i32) -> Result<(), LogError> {
        let inner = &self.inner;
        let _order = inner.lock_order();
        let mut state = inner.lock_state();
        let end = state.dirty_end.0;
        if state.epochs.latest().is_some_and(|latest| latest >= epoch) || epoch < 0 {
            return Ok(());
        }
        let mut epochs = state.epochs.clone();
        epochs.assign(epoch, end);
        append::remove_clean_marker(inner, &mut state)?;
        epochs.write(&inner.dir)?;
        state.epochs = epochs;
        Ok(())
    }

    /// The newest leader epoch of a batch in the log (-1: none).
    pub fn latest_epoch(&self) -> i32 {
        self.inner.lock_state().epochs.latest().unwrap_or(crate::leader_epochs::UNDEFINED_EPOCH)
    }

    /// OffsetsForLeaderEpoch for this replica (Kafka's `endOffsetFor`, see `leader_epochs`): the
    /// largest epoch at or below `epoch` and the offset where its successor starts.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        let state = self.inner.lock_state();
        state.epochs.end_offset_for(epoch, state.log_end().0)
    }

    /// Resolves once the high watermark reaches `end` (an acks=all produce: every in-sync replica
    /// holds the offsets below it), or fails as [`Partition::wait_written`] does.
    pub async fn wait_replicated(&self, end: i64) -> Result<(), LogError> {
        self.wait_until(end, &self.inner.high_watermark).await
    }

    /// The last stable offset (Kafka's LSO): read_committed consumers read below it. The first
    /// offset of the earliest open transaction, else the high watermark. One atomic load.
    pub fn last_stable_offset(&self) -> i64 {
        self.inner.last_stable.load(Ordering::Acquire)
    }

    /// Every aborted transaction overlapping `[fetch_offset, upper_offset)`, as
    /// `(producer id, first offset)`, for a read_committed fetch of that range (Kafka's
    /// `collectAbortedTransactions`).
    pub fn aborted_transactions(&self, fetch_offset: i64, upper_offset: i64) -> Vec<(i64, i64)> {
        let state = self.inner.lock_state();
        let start = state.segments.range(..=fetch_offset).next_back().map_or(i64::MIN, |(base, _)| *base);
        let mut found = Vec::new();
        for segment in state.segments.range(start..).map(|(_, s)| s) {
            if segment.txn_index.collect(fetch_offset, upper_offset, &mut found) {
                break;
            }
        }
        found.into_iter().map(|t| (t.producer_id, t.first_offset)).collect()
    }

    /// Where the partition stands, in atomic loads only: what a waiting fetch compares with what it
    /// saw when it last read, to tell whether reading again can find enough bytes.
    pub fn progress(&self) -> Progress {
        let inner = &self.inner;
        Progress {
            published_bytes: inner.published_bytes.load(Ordering::Acquire),
            high_watermark: inner.high_watermark.load(Ordering::Acquire),
            log_end: inner.log_end.load(Ordering::Acquire),
            last_stable: inner.last_stable.load(Ordering::Acquire),
            log_start: inner.log_start.load(Ordering::Acquire),
            alarms: inner.alarms.load(Ordering::Acquire),
        }
    }

    /// High-watermark changes, for fetch long-polls; it also wakes when the last stable offset
    /// moves, so read_committed long polls wait on it too.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.inner.hw_tx.subscribe()
    }

    /// Resolves once every offset below `end` is written, and fsynced where the flush policy asked
    /// for it: the point at which the append that took those offsets is acknowledged. Writes
    /// complete in offset order, so the log end passing `end` means exactly that. Fails if
    /// the partition failed a write or closed first, when those offsets may never be written.
    /// An idempotent producer's retry of a batch still in flight waits here before it is answered
    /// as a duplicate, so its acknowledgement can never outlive a crash that loses the original.
    pub async fn wait_written(&self, end: i64) -> Result<(), LogError> {
        self.wait_until(end, &self.inner.log_end).await
    }

    async fn wait_until(&self, end: i64, offset: &AtomicI64) -> Result<(), LogError> {
        let mut high_watermark = self.subscribe();
        loop {
            high_watermark.borrow_and_update();
            if offset.load(Ordering::Acquire) >= end {
                return Ok(());
            }
            {
                let state = self.inner.lock_state();
                self.inner.health.check()?;
                if let Some(source) = &state.failed {
                    return Err(LogError::WriteFailed { source: Arc::clone(source) });
                }
                if let Some(source) = &state.disk_full {
                    return Err(LogError::DiskFull { source: Arc::clone(source) });
                }
                if state.closed {
                    return Err(LogError::Closed);
                }
            }
            if high_watermark.changed().await.is_err() {
                return Err(LogError::Closed);
            }
        }
    }

    /// Why the partition's log directory is offline for writes, if it is (see `log_dir`).
    pub fn storage_offline(&self) -> Option<Arc<std::io::Error>> {
        self.inner.health.offline_cause().cloned()
    }

    pub fn size_bytes(&self) -> u64 {
        self.inner.lock_state().size_bytes()
    }

    pub fn config(&self) -> LogConfig {
        self.inner.lock_state().config
    }

    /// New settings apply from the next append or `maintain`.
    pub fn set_config(&self, config: LogConfig) {
        self.inner.lock_state().config = config.clamped();
    }
}

/// Reads the batch header at `position`, or `None` if the bytes there are not one.
pub(crate) fn read_header(file: &File, position: u64) -> std::io::Result<Option<strata_wire::batch::BatchHeader>> {
    let mut buf = [0u8; strata_wire::batch::BATCH_HEADER_BYTES];
    match file.read_exact_at(&mut buf, position) {
        Ok(()) => Ok(strata_wire::batch::BatchHeader::parse(&buf).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod replica_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod try_append_tests;
