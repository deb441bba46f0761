//! The writer: the single place where log bytes reach the disk.
//!
//! A job that asks for no fdatasync may also be written at once on the caller's thread
//! ([`Writer::write_now`], the partition's choice when none of its writes is in flight), through
//! the same batch code, fault plan and power-cut record; everything else goes through the thread.
//!
//! One dedicated OS thread owns the I/O backend (an io_uring ring, or the positioned-write fallback
//! when io_uring cannot be set up). Callers [`Writer::submit`] [`WriteJob`]s into a bounded queue;
//! `submit` blocks while `queue_depth_max` jobs are already queued, which is how a slow disk slows
//! producers down (back-pressure) instead of growing memory. A caller that must not block (a
//! partition's append on an async runtime thread) instead takes a place in the queue with
//! [`Writer::try_reserve`] before it commits to a job, and later fills it with
//! [`Reservation::submit`], which never blocks ([`slots`] keeps the bound).
//!
//! The thread drains up to `ring_entries` queued jobs at a time (a *batch*) and then:
//! 1. writes every job's bytes at its position (io_uring: all writes in one submission; short writes
//!    are resubmitted for the rest),
//! 2. runs one `fdatasync` per distinct file that any job of the batch asked to sync, after all the
//!    batch's writes completed (group commit: a hundred `flush.messages=1` appends to one partition
//!    cost one fdatasync, not a hundred),
//! 3. calls every job's `done` in submission order, on the writer thread.
//!
//! Because `done` runs in submission order, a caller that submits a partition's batches in offset
//! order also publishes them in offset order.
//!
//! Failure semantics: a job whose write or requested fsync fails gets the error in `done` (an
//! fsync's error wrapped in [`FsyncFailed`], so the owner can tell it from a write's); a failed
//! write also fails every later job of the same batch on the same file (so nothing after a hole is
//! acknowledged). The owner of a file must treat any error as fatal for that file: the bytes of
//! later batches may still reach it.
//!
//! `done` must not block for long: it stalls every other job. It may call `submit` again (such jobs
//! go to the next batch without touching the bounded queue, so it cannot deadlock), and it may
//! panic without killing the writer (the panic is caught and logged).
//!
//! Files: this one (the job and option types), `writer` (the public handle, [`Writer`] and
//! [`Reservation`]), `thread` (the writer thread's loop), `batch` (one batch: writes, group-commit
//! fsyncs, outcomes), `slots` (the queue bound), `stats`, and the backends `uring` and `pwrite`.
//! [`faults`] wraps the same engine with injected torn writes, short writes, failing writes and
//! failing fsyncs; [`power_cut`] records what reached the disk durably and simulates a power cut.

mod batch;
pub mod faults;
pub mod power_cut;
mod pwrite;
mod slots;
mod stats;
#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report
pub(crate) mod tests;
mod thread;
mod uring;
mod writer;

use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;

pub use self::batch::FsyncFailed;
use self::stats::StatCounters;
pub use self::stats::WriterStats;
pub use self::writer::{Reservation, Writer};

/// Which backend a [`Writer`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoKind {
    /// One io_uring ring owned by the writer thread.
    IoUring,
    /// Plain `pwrite` + `fdatasync` on the writer thread (io_uring unavailable or not wanted).
    Fallback,
}

/// How to start a [`Writer`].
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Jobs that may wait in the queue before `submit` blocks (back-pressure). At least 1.
    pub queue_depth_max: usize,
    /// io_uring submission-queue size; also the most jobs drained into one batch. At least 1.
    pub ring_entries: u32,
    /// Use the pwrite fallback even when io_uring works (tests, or an operator's choice).
    pub force_fallback: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions { queue_depth_max: 1024, ring_entries: 256, force_fallback: false }
    }
}

/// One write (and/or fdatasync) for the writer thread.
pub struct WriteJob {
    /// Kept alive by the job until `done` has run, so the fd stays valid while the kernel uses it.
    pub file: Arc<File>,
    /// Byte position in `file` where `data` goes.
    pub position: u64,
    /// May be empty for a pure fsync.
    pub data: Bytes,
    /// fdatasync `file` after the write (and after every other write of the batch), before `done`.
    pub sync: bool,
    /// Called exactly once with the job's outcome: on the writer thread, in submission order, or,
    /// for [`Writer::write_now`], on the caller's thread before it returns. Not called at all when
    /// `submit` or `write_now` returns an error.
    pub done: Box<dyn FnOnce(std::io::Result<()>) + Send>,
}

impl std::fmt::Debug for WriteJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteJob")
            .field("file", &self.file)
            .field("position", &self.position)
            .field("data_len", &self.data.len())
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

/// Errors of the writer itself (I/O errors of a job go to its `done`).
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// `submit` after `stop`, or after the writer thread ended.
    #[error("the log writer has stopped")]
    Stopped,
    /// The OS refused to start the writer thread.
    #[error("could not start the log writer thread: {0}")]
    Spawn(#[source] std::io::Error),
}
