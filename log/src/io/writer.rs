//! The writer's public handle: start it, submit jobs (blocking on a full queue, or into a place
//! reserved without blocking), read its counters, stop it. The thread behind it is in `thread`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{JoinHandle, ThreadId};

use super::batch::{self, Backend};
use super::faults::Faults;
use super::slots::Slots;
use super::stats::{StatCounters, WriterStats};
use super::thread::{Message, WriterThread, push_reentrant};
use super::{IoError, IoKind, WriteJob, WriterOptions, pwrite, uring};

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
    /// The writer thread's fault plan, which [`Writer::write_now`] goes through too.
    faults: Option<Arc<Faults>>,
    thread_id: ThreadId,
    thread: Mutex<Option<JoinHandle<()>>>,
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
            faults: faults.clone(),
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
            faults,
            thread_id: thread.thread().id(),
            thread: Mutex::new(Some(thread)),
        };
        Ok(Writer { inner: Arc::new(inner) })
    }

    /// Queue places held now (tests).
    #[cfg(test)]
    pub(crate) fn slots_used(&self) -> usize {
        self.inner.slots.used()
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

    /// Whether [`Writer::write_now`] may be used: always, except while a test's [`Faults`] hold
    /// the writer (a held write must stay in flight, not block its caller).
    pub fn writes_now(&self) -> bool {
        self.inner.faults.as_ref().is_none_or(|faults| !faults.holds_writes())
    }

    /// Writes a job that asks for no fdatasync at once, on the calling thread, and runs its `done`
    /// here before returning: a positioned write into the page cache, as the fallback backend does,
    /// through the same fault plan and power-cut record as the writer thread. For an append with no
    /// other write of its file in flight (the caller's ordering), it takes the hand-offs to the
    /// writer thread and back out of the path (a write that must be synced still goes to the queue,
    /// where many share one fdatasync). Fails like [`Writer::submit`] once the writer has stopped.
    pub fn write_now(&self, job: WriteJob) -> Result<(), IoError> {
        assert!(!job.sync, "a job that asks for an fdatasync goes through the queue");
        if self.inner.stopped.load(Ordering::SeqCst) {
            return Err(IoError::Stopped);
        }
        let stats = &self.inner.stats;
        let jobs = [job];
        let result = batch::execute(&mut pwrite::PwriteBackend, self.inner.faults.as_deref(), &jobs, stats)
            .pop()
            .unwrap_or_else(|| Err(std::io::Error::other("a batch of one job gave no outcome")));
        let [job] = jobs;
        stats.jobs.fetch_add(1, Ordering::Relaxed);
        (job.done)(result);
        Ok(())
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
