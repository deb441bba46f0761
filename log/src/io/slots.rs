//! The writer's queue bound: at most `max` jobs may be queued (reserved by a caller or waiting in
//! the channel, not yet taken by the writer thread).
//!
//! The bound lives in a counter rather than in a bounded channel so that a caller can *reserve* a
//! place before it commits to a job: a partition's non-blocking append takes a slot first and only
//! then hands out offsets, so "the queue is full" is known before anything changed, and the later
//! send cannot block (the channel itself is unbounded; every job in it holds a slot).
//!
//! Concurrency: any thread may take slots; only the writer thread gives them back (when it takes a
//! job out of the channel), or a caller whose reserved job never reached the channel. A blocked
//! [`Slots::take`] sleeps on a condition variable that a give-back signals only when someone waits,
//! so the writer thread's common path is one atomic subtraction.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

use super::IoError;

pub(crate) struct Slots {
    /// Slots held: reserved by callers plus jobs in the channel. Never above `max` except through
    /// the writer thread's own submits, which bypass the queue entirely.
    used: AtomicUsize,
    max: usize,
    /// Callers sleeping in `take` (a give-back signals only when this is non-zero).
    waiters: AtomicUsize,
    lock: Mutex<()>,
    room: Condvar,
    /// The writer thread has ended: no slot will ever come back.
    closed: AtomicBool,
}

impl Slots {
    pub(crate) fn new(max: usize) -> Slots {
        Slots {
            used: AtomicUsize::new(0),
            max: max.max(1),
            waiters: AtomicUsize::new(0),
            lock: Mutex::new(()),
            room: Condvar::new(),
            closed: AtomicBool::new(false),
        }
    }

    /// Takes a slot if one is free; never blocks.
    pub(crate) fn try_take(&self) -> bool {
        self.used.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| (used < self.max).then_some(used + 1)).is_ok()
    }

    /// Takes a slot, sleeping while all are held (back-pressure). Fails once the writer thread has
    /// ended, since nothing would free a slot then.
    pub(crate) fn take(&self) -> Result<(), IoError> {
        if self.try_take() {
            return Ok(());
        }
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        // Counted before the retry below: either that retry sees a slot given back, or the give-back
        // sees this waiter and signals (it must take `lock` to do so, which it gets only once this
        // thread sleeps). SeqCst on both sides orders the two.
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let result = loop {
            if self.try_take() {
                break Ok(());
            }
            if self.closed.load(Ordering::SeqCst) {
                break Err(IoError::Stopped);
            }
            guard = self.room.wait(guard).unwrap_or_else(PoisonError::into_inner);
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
        result
    }

    /// Frees one slot and wakes one sleeping `take`, if any. A woken taker that loses the slot to a
    /// `try_take` sleeps again; the slot is in use either way, so no wake-up is lost.
    pub(crate) fn give_back(&self) {
        let before = self.used.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(before > 0, "a slot given back that was never taken");
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.room.notify_one();
        }
    }

    /// The writer thread has ended: wakes every sleeping `take` to fail.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.room.notify_all();
    }

    /// Slots held now (tests).
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }
}
