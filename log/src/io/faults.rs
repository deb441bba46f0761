//! Fault injection for the writer (test support, usable from any crate's tests).
//!
//! A [`Faults`] handle is given to [`Writer::start_with_faults`](super::Writer::start_with_faults)
//! and shared with the test, which arms faults while the writer runs. Faults are decided before the
//! backend runs, so io_uring and the fallback see exactly the same ones:
//!
//! - **short writes**: [`Faults::short_writes`] caps every write call/SQE at `n` bytes, so the
//!   backends' real resubmit-the-rest paths run;
//! - **torn writes**: [`Faults::tear_write_job`] lets only the first `keep_bytes` of one job's data
//!   reach the file; then either that job fails ([`TearMode::FailJob`], or [`TearMode::Errno`] with
//!   a given OS error such as `ENOSPC` for a disk filling up mid-write) or the "process dies"
//!   ([`TearMode::ProcessDies`]): from then on nothing reaches the disk, no fsync runs and every job
//!   (including the rest of that batch) fails, just as if the broker was killed mid-write with the
//!   page cache intact;
//! - **failing writes**: [`Faults::fail_writes`] makes every write fail with an OS error (`EIO`, or
//!   `ENOSPC`: a full disk) without writing anything, until it is cleared (space came back);
//! - **failing fsyncs**: [`Faults::fail_fsync`] / [`Faults::fail_all_fsyncs`] make an fdatasync
//!   report an OS error (`EIO`, `ENOSPC`) without running it; every sync job on that file in that
//!   batch gets the error;
//! - [`Faults::die`]: the process "dies" now;
//! - **held writes**: [`Faults::hold_writes`] stops the writer before the next write job until
//!   released, so a test can act while a write is in flight.
//!
//! Jobs and fsyncs are numbered from 0 in the order the writer meets them (write jobs count only
//! jobs with data); [`Faults::write_jobs_seen`] and [`Faults::fsyncs_seen`] tell a test where it is.
//!
//! A typical recovery test: start a writer with faults, open partitions on it, arm a torn write
//! with `ProcessDies`, append until an append fails, drop everything, reopen the directory without
//! faults and check what recovery kept.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// What happens after a torn write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TearMode {
    /// The torn job fails with `EIO`; the writer goes on.
    FailJob,
    /// The process "dies" right after the prefix reached the file.
    ProcessDies,
    /// The torn job fails with this OS error (`ENOSPC`: the disk filled up mid-write); the writer
    /// goes on.
    Errno(i32),
}

/// How many faults were actually injected so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub torn_writes: u64,
    pub failed_fsyncs: u64,
    pub failed_writes: u64,
}

/// The shared fault plan. See the module docs.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<State>,
    released: Condvar,
}

#[derive(Debug, Default)]
struct State {
    chunk_bytes_max: Option<usize>,
    tears: Vec<(u64, usize, TearMode)>,
    /// (fsync index, errno).
    fsync_failures: Vec<(u64, i32)>,
    all_fsyncs_fail: Option<i32>,
    all_writes_fail: Option<i32>,
    dead: bool,
    held: bool,
    write_jobs_seen: u64,
    fsyncs_seen: u64,
    counts: FaultCounts,
}

/// The fault layer's verdict on one job's write.
pub(crate) struct WriteDecision {
    /// Bytes of the job's data that reach the backend.
    pub write_len: usize,
    /// The job's outcome regardless of what the backend reports.
    pub error: Option<io::Error>,
    pub process_dies: bool,
}

impl Faults {
    /// An empty plan (no faults until armed).
    pub fn new() -> Arc<Faults> {
        Arc::new(Faults::default())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every write call (pwrite) or SQE moves at most `chunk_bytes_max` bytes (at least 1); `None`
    /// turns it off.
    pub fn short_writes(&self, chunk_bytes_max: Option<usize>) {
        self.state().chunk_bytes_max = chunk_bytes_max.map(|n| n.max(1));
    }

    /// Tears write job number `job_index` (counted from 0 over the jobs with data): only the first
    /// `keep_bytes` of its data reach the file.
    pub fn tear_write_job(&self, job_index: u64, keep_bytes: usize, mode: TearMode) {
        self.state().tears.push((job_index, keep_bytes, mode));
    }

    /// fdatasync number `fsync_index` (counted from 0) fails with OS error `errno` without running.
    pub fn fail_fsync(&self, fsync_index: u64, errno: i32) {
        self.state().fsync_failures.push((fsync_index, errno));
    }

    /// Every fdatasync from now on fails with OS error `errno` (or, with `None`, works again).
    pub fn fail_all_fsyncs(&self, errno: Option<i32>) {
        self.state().all_fsyncs_fail = errno;
    }

    /// Every write job from now on fails with OS error `errno` and writes nothing (`ENOSPC`: the disk
    /// is full); `None`: writes work again (space came back).
    pub fn fail_writes(&self, errno: Option<i32>) {
        self.state().all_writes_fail = errno;
    }

    /// The process "dies" now: no later job reaches the disk and each fails.
    pub fn die(&self) {
        self.state().dead = true;
    }

    /// While `true`, the writer waits before each write job (after counting it in
    /// [`Faults::write_jobs_seen`]); `false` lets it go on.
    pub fn hold_writes(&self, hold: bool) {
        self.state().held = hold;
        self.released.notify_all();
    }

    /// Whether [`Faults::hold_writes`] holds the writer now.
    pub(crate) fn holds_writes(&self) -> bool {
        self.state().held
    }

    pub fn is_dead(&self) -> bool {
        self.state().dead
    }

    /// Write jobs (jobs with data) the writer has met so far, dead ones included.
    pub fn write_jobs_seen(&self) -> u64 {
        self.state().write_jobs_seen
    }

    /// fdatasyncs the writer has wanted so far, failed ones included.
    pub fn fsyncs_seen(&self) -> u64 {
        self.state().fsyncs_seen
    }

    pub fn counts(&self) -> FaultCounts {
        self.state().counts
    }

    pub(crate) fn chunk_bytes_max(&self) -> usize {
        self.state().chunk_bytes_max.unwrap_or(usize::MAX)
    }

    /// Called once per job with data, in submission order.
    pub(crate) fn on_write(&self, data_len: usize) -> WriteDecision {
        let mut state = self.state();
        let index = state.write_jobs_seen;
        state.write_jobs_seen += 1;
        while state.held {
            state = self.released.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        if state.dead {
            return WriteDecision { write_len: 0, error: Some(Self::dead_error()), process_dies: true };
        }
        if let Some(errno) = state.all_writes_fail {
            state.counts.failed_writes += 1;
            return WriteDecision {
                write_len: 0,
                error: Some(io::Error::from_raw_os_error(errno)),
                process_dies: false,
            };
        }
        let Some(position) = state.tears.iter().position(|(at, _, _)| *at == index) else {
            return WriteDecision { write_len: data_len, error: None, process_dies: false };
        };
        let (_, keep_bytes, mode) = state.tears.swap_remove(position);
        state.counts.torn_writes += 1;
        let process_dies = mode == TearMode::ProcessDies;
        state.dead |= process_dies;
        let error = match mode {
            TearMode::Errno(errno) => io::Error::from_raw_os_error(errno),
            TearMode::FailJob | TearMode::ProcessDies => io::Error::other("injected torn write"),
        };
        WriteDecision { write_len: keep_bytes.min(data_len), error: Some(error), process_dies }
    }

    /// Called once per fdatasync the batch wants; `Some(errno)` = report that failure and skip it.
    pub(crate) fn on_fsync(&self) -> Option<i32> {
        let mut state = self.state();
        let index = state.fsyncs_seen;
        state.fsyncs_seen += 1;
        let planned = state.fsync_failures.iter().position(|(at, _)| *at == index);
        let errno = planned.map(|at| state.fsync_failures.swap_remove(at).1).or(state.all_fsyncs_fail);
        if errno.is_some() {
            state.counts.failed_fsyncs += 1;
        }
        errno
    }

    pub(crate) fn dead_error() -> io::Error {
        io::Error::other("injected: the process died (fault injection)")
    }
}
