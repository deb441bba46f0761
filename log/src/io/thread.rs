//! The writer thread: drains the queue in batches, runs each through `batch::execute`, and calls
//! every job's `done` in submission order (see the `io` module docs for the whole contract).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};

use super::WriteJob;
use super::batch::{self, Backend};
use super::faults::Faults;
use super::slots::Slots;
use super::stats::StatCounters;

pub(super) enum Message {
    Job(WriteJob),
    Stop,
}

thread_local! {
    /// Jobs submitted from inside a `done` callback; `Some` only on a writer thread.
    static REENTRANT_JOBS: RefCell<Option<Vec<WriteJob>>> = const { RefCell::new(None) };
}

/// Queues a job submitted on the writer thread (from a `done` callback) for its next batch,
/// outside the bounded queue, so such a submit cannot deadlock on a full queue.
pub(super) fn push_reentrant(job: WriteJob) {
    REENTRANT_JOBS.with_borrow_mut(|local| match local {
        Some(local) => local.push(job),
        // Cannot happen: the writer thread sets its list up before running any callback.
        None => *local = Some(vec![job]),
    });
}

/// Everything the writer thread owns.
pub(super) struct WriterThread {
    pub(super) receiver: Receiver<Message>,
    pub(super) backend: Box<dyn Backend>,
    pub(super) faults: Option<Arc<Faults>>,
    pub(super) batch_jobs_max: usize,
    pub(super) stats: Arc<StatCounters>,
    pub(super) slots: Arc<Slots>,
    pub(super) stopped: Arc<AtomicBool>,
    pub(super) submitting: Arc<AtomicUsize>,
}

impl Drop for WriterThread {
    /// However the thread ends, callers sleeping for a slot must learn that none will come back.
    fn drop(&mut self) {
        self.slots.close();
    }
}

impl WriterThread {
    pub(super) fn run(mut self) {
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
