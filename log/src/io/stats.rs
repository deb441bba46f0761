//! The writer's counters: what it did, for tests (group commit, short writes) and metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of what the writer did, for tests (group commit, short writes) and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Batches drained from the queue.
    pub batches: u64,
    /// Jobs completed (their `done` called).
    pub jobs: u64,
    /// Write system calls or write SQEs issued, resubmissions included.
    pub writes: u64,
    /// Writes that moved fewer bytes than asked and were resubmitted for the rest.
    pub write_resubmits: u64,
    /// fdatasync calls or fsync SQEs issued.
    pub fsyncs: u64,
}

#[derive(Default)]
pub(crate) struct StatCounters {
    pub(crate) batches: AtomicU64,
    pub(crate) jobs: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) write_resubmits: AtomicU64,
    pub(crate) fsyncs: AtomicU64,
}

impl StatCounters {
    pub(crate) fn snapshot(&self) -> WriterStats {
        WriterStats {
            batches: self.batches.load(Ordering::Relaxed),
            jobs: self.jobs.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            write_resubmits: self.write_resubmits.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
        }
    }
}
