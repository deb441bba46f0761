//! The writer: the single place where log bytes reach the disk.
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
//! [`faults`] wraps the same engine with injected torn writes, short writes and failing fsyncs;
//! [`power_cut`] records what reached the disk durably and simulates a power cut.

mod batch;
pub mod faults;
pub mod power_cut;
mod pwrite;
mod slots;
#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report
pub(crate) mod tests;
mod uring;

use std::cell::RefCell;
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{JoinHandle, ThreadId};

use bytes::Bytes;

use self::batch::Backend;
pub use self::batch::FsyncFailed;
use self::faults::Faults;
use self::slots::Slots;

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
    /// Called exactly once on the writer thread with the job's outcome, in submission order. Not
    /// called at all when `submit` returns an error.
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
struct StatCounters {
    batches: AtomicU64,
    jobs: AtomicU64,
    writes: AtomicU64,
    write_resubmits: AtomicU64,
    fsyncs: AtomicU64,
}

impl StatCounters {
    fn snapshot(&self) -> WriterStats {
        WriterStats {
            batches: self.batches.load(Ordering::Relaxed),
            jobs: self.jobs.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            write_resubmits: self.write_resubmits.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
        }
    }
}

/// The handle callers share. Cheap to clone; the last clone dropped without `stop` lets the thread
/// finish the queued jobs and exit on its own.
#[derive(Clone)]
pub struct Writer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("kind", &self.inner.kind).finish_non_exhaustive()
    }
}

struct Inner {
    kind: IoKind,
    /// Unbounded: every job in it holds one of `slots`, which is the bound.
    sender: Sender<Message>,
    slots: Arc<Slots>,
    /// Set by `stop` before it queues `Message::Stop`; `submit` refuses work once it is set.
    stopped: Arc<AtomicBool>,
    /// `submit` calls between their `stopped` check and the end of their send (see `drain_after_stop`).
    submitting: Arc<AtomicUsize>,
    stats: Arc<StatCounters>,
    thread_id: ThreadId,
    thread: Mutex<Option<JoinHandle<()>>>,
}

enum Message {
    Job(WriteJob),
    Stop,
}

thread_local! {
    /// Jobs submitted from inside a `done` callback; `Some` only on a writer thread.
    static REENTRANT_JOBS: RefCell<Option<Vec<WriteJob>>> = const { RefCell::new(None) };
}

impl Writer {
    /// Starts the writer thread on io_uring, or on the pwrite fallback (with one `warn!` line saying
    /// why) when the ring cannot be set up or `force_fallback` is set.
    pub fn start(options: WriterOptions) -> Result<Writer, IoError> {
        Self::start_inner(options, None)
    }

    /// Like [`Writer::start`], but every batch goes through `faults` first (test support: torn
    /// writes, short writes, failing fsyncs, a simulated process death). See [`faults`].
    pub fn start_with_faults(options: WriterOptions, faults: Arc<Faults>) -> Result<Writer, IoError> {
        Self::start_inner(options, Some(faults))
    }

    fn start_inner(options: WriterOptions, faults: Option<Arc<Faults>>) -> Result<Writer, IoError> {
        let ring_entries = options.ring_entries.max(1);
        let backend: Box<dyn Backend> = if options.force_fallback {
            Box::new(pwrite::PwriteBackend)
        } else {
            match uring::UringBackend::new(ring_entries) {
                Ok(backend) => Box::new(backend),
                Err(error) => {
                    tracing::warn!(%error, "io_uring is unavailable; the log writer falls back to pwrite + fdatasync");
                    Box::new(pwrite::PwriteBackend)
                }
            }
        };
        let kind = backend.kind();
        let (sender, receiver) = channel();
        let slots = Arc::new(Slots::new(options.queue_depth_max));
        let stopped = Arc::new(AtomicBool::new(false));
        let submitting = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(StatCounters::default());
        let worker = WriterThread {
            receiver,
            backend,
            faults,
            batch_jobs_max: ring_entries as usize,
            stats: Arc::clone(&stats),
            slots: Arc::clone(&slots),
            stopped: Arc::clone(&stopped),
            submitting: Arc::clone(&submitting),
        };
        let thread = std::thread::Builder::new()
            .name("strata-log-writer".into())
            .spawn(move || worker.run())
            .map_err(IoError::Spawn)?;
        let inner = Inner {
            kind,
            sender,
            slots,
            stopped,
            submitting,
            stats,
            thread_id: thread.thread().id(),
            thread: Mutex::new(Some(thread)),
        };
        Ok(Writer { inner: Arc::new(inner) })
    }

    /// The backend actually in use.
    pub fn kind(&self) -> IoKind {
        self.inner.kind
    }

    /// What the writer has done so far.
    pub fn stats(&self) -> WriterStats {
        self.inner.stats.snapshot()
    }

    /// Queues a job; blocks while `queue_depth_max` jobs are already queued. On error the job is
    /// dropped and its `done` is never called.
    pub fn submit(&self, job: WriteJob) -> Result<(), IoError> {
        if self.on_writer_thread() {
            push_reentrant(job);
            return Ok(());
        }
        if self.inner.stopped.load(Ordering::SeqCst) {
            return Err(IoError::Stopped);
        }
        // The blocking part: wait for a place, then queue the job in it as a reservation would.
        self.inner.slots.take()?;
        Reservation { writer: self, holds_slot: true }.submit(job)
    }

    /// Takes a place in the queue without blocking, or `None` when `queue_depth_max` jobs are
    /// already queued or reserved. The place is given back if the reservation is dropped unused.
    /// On the writer thread itself (a `done` callback) it always succeeds: such submits bypass the
    /// queue.
    pub fn try_reserve(&self) -> Option<Reservation<'_>> {
        if self.on_writer_thread() {
            return Some(Reservation { writer: self, holds_slot: false });
        }
        self.inner.slots.try_take().then(|| Reservation { writer: self, holds_slot: true })
    }

    fn on_writer_thread(&self) -> bool {
        std::thread::current().id() == self.inner.thread_id
    }

    /// Completes every job queued before (and racing with) this call, then joins the thread. Later
    /// `submit`s fail with [`IoError::Stopped`]. Idempotent; from a `done` callback it only asks the
    /// thread to stop (it cannot join itself).
    pub fn stop(&self) {
        if !self.inner.stopped.swap(true, Ordering::SeqCst) {
            // `Stop` holds no slot: it never waits for room (the channel is unbounded).
            let _ = self.inner.sender.send(Message::Stop);
        }
        if self.on_writer_thread() {
            return;
        }
        let handle = self.inner.thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the log writer thread panicked");
        }
    }
}

/// A place in the writer's queue, taken by [`Writer::try_reserve`]: the job it is filled with is
/// queued without blocking. Dropped unused, it gives the place back.
#[must_use = "a reservation holds a place in the writer's queue until it is used or dropped"]
pub struct Reservation<'a> {
    writer: &'a Writer,
    /// False on the writer thread, whose submits bypass the queue.
    holds_slot: bool,
}

impl std::fmt::Debug for Reservation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation").field("holds_slot", &self.holds_slot).finish_non_exhaustive()
    }
}

impl Reservation<'_> {
    /// Queues the job in the reserved place; never blocks. Fails like [`Writer::submit`] once the
    /// writer has stopped (the job is dropped, its `done` never called).
    pub fn submit(mut self, job: WriteJob) -> Result<(), IoError> {
        let writer = self.writer;
        if !std::mem::replace(&mut self.holds_slot, false) {
            push_reentrant(job);
            return Ok(());
        }
        // Counted in `submitting` from before the `stopped` check to the end of the send (see
        // `drain_after_stop`); the slot goes back if the job is not queued.
        let inner = &writer.inner;
        inner.submitting.fetch_add(1, Ordering::SeqCst);
        let sent = !inner.stopped.load(Ordering::SeqCst) && inner.sender.send(Message::Job(job)).is_ok();
        inner.submitting.fetch_sub(1, Ordering::SeqCst);
        if sent {
            Ok(())
        } else {
            inner.slots.give_back();
            Err(IoError::Stopped)
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.holds_slot {
            self.writer.inner.slots.give_back();
        }
    }
}

/// Queues a job submitted on the writer thread (from a `done` callback) for its next batch,
/// outside the bounded queue, so such a submit cannot deadlock on a full queue.
fn push_reentrant(job: WriteJob) {
    REENTRANT_JOBS.with_borrow_mut(|local| match local {
        Some(local) => local.push(job),
        // Cannot happen: the writer thread sets its list up before running any callback.
        None => *local = Some(vec![job]),
    });
}

/// Everything the writer thread owns.
struct WriterThread {
    receiver: Receiver<Message>,
    backend: Box<dyn Backend>,
    faults: Option<Arc<Faults>>,
    batch_jobs_max: usize,
    stats: Arc<StatCounters>,
    slots: Arc<Slots>,
    stopped: Arc<AtomicBool>,
    submitting: Arc<AtomicUsize>,
}

impl Drop for WriterThread {
    /// However the thread ends, callers sleeping for a slot must learn that none will come back.
    fn drop(&mut self) {
        self.slots.close();
    }
}

impl WriterThread {
    fn run(mut self) {
        REENTRANT_JOBS.with_borrow_mut(|local| *local = Some(Vec::new()));
        let mut jobs: Vec<WriteJob> = Vec::with_capacity(self.batch_jobs_max);
        let mut stopping = false;
        loop {
            // Jobs submitted by the previous batch's callbacks go first: they were submitted first.
            REENTRANT_JOBS.with_borrow_mut(|local| jobs.extend(local.iter_mut().flat_map(std::mem::take)));
            if jobs.is_empty() && !stopping && self.stopped.load(Ordering::SeqCst) {
                stopping = true; // `stop` came from a callback (or raced): drain what is left
            }
            if jobs.is_empty() && !stopping {
                match self.receiver.recv() {
                    Ok(Message::Job(job)) => jobs.push(self.dequeued(job)),
                    Ok(Message::Stop) => stopping = true,
                    Err(_) => stopping = true, // every Writer handle is gone
                }
            }
            while jobs.len() < self.batch_jobs_max && !stopping {
                match self.receiver.try_recv() {
                    Ok(Message::Job(job)) => jobs.push(self.dequeued(job)),
                    Ok(Message::Stop) | Err(TryRecvError::Disconnected) => stopping = true,
                    Err(TryRecvError::Empty) => break,
                }
            }
            if jobs.is_empty() {
                if stopping && self.drain_after_stop(&mut jobs) {
                    return;
                }
                continue;
            }
            self.run_batch(&mut jobs);
        }
    }

    /// After `Stop`: collects jobs whose `submit` raced with `stop`. Returns true once no `submit`
    /// can still deliver a job (so the thread may exit without dropping one unanswered).
    fn drain_after_stop(&mut self, jobs: &mut Vec<WriteJob>) -> bool {
        // `stop` sets `stopped` before queuing `Stop`; a submit that starts after we read
        // `submitting == 0` therefore sees `stopped` and never sends.
        let quiet = !self.stopped.load(Ordering::SeqCst) || self.submitting.load(Ordering::SeqCst) == 0;
        while jobs.len() < self.batch_jobs_max {
            match self.receiver.try_recv() {
                Ok(Message::Job(job)) => jobs.push(self.dequeued(job)),
                Ok(Message::Stop) => {}
                Err(_) => break,
            }
        }
        if jobs.is_empty() {
            if quiet {
                return true;
            }
            std::thread::yield_now();
        }
        false
    }

    /// A job just taken out of the channel: its queue place is free again.
    fn dequeued(&self, job: WriteJob) -> WriteJob {
        self.slots.give_back();
        job
    }

    fn run_batch(&mut self, jobs: &mut Vec<WriteJob>) {
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        let results = batch::execute(self.backend.as_mut(), self.faults.as_deref(), jobs, &self.stats);
        for (job, result) in jobs.drain(..).zip(results) {
            let done = job.done;
            let file = job.file; // the fd stays open until the callback has run
            // Counted before the callback, so whoever the callback wakes sees it counted.
            self.stats.jobs.fetch_add(1, Ordering::Relaxed);
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| done(result))).is_err() {
                tracing::error!("a log writer completion callback panicked");
            }
            drop(file);
        }
    }
}
