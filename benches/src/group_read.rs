//! One group's read of a backlog (W9): what the read is (the spec both kinds of group take), and
//! what its consumer threads have read together: the count, when the first and the last records
//! came, records per tick, and the first error.

use crate::loadgen::{Consumed, TICK};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// `consumers` members of group `group` read `topic`, which holds `expected` records.
#[derive(Debug, Clone)]
pub struct ReadSpec {
    pub bootstrap: String,
    pub topic: String,
    pub group: String,
    pub consumers: usize,
    pub expected: u64,
    pub record_bytes: usize,
    pub time_max: Duration,
}

/// Ticks a series may hold (a day of 100 ms ticks); later records are counted, not plotted.
const TICKS_MAX: usize = 1 << 20;

#[derive(Default)]
pub struct ReadTotals {
    count: AtomicU64,
    window: Mutex<Option<(Instant, Instant)>>,
    per_tick: Mutex<Vec<u64>>,
    first_error: Mutex<Option<String>>,
}

impl ReadTotals {
    /// Records read so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// `records` read now, in the run that began at `start`.
    pub fn add(&self, records: u64, start: Instant) {
        if records == 0 {
            return;
        }
        let now = Instant::now();
        self.count.fetch_add(records, Ordering::AcqRel);
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let first = window.map_or(now, |(first, _)| first);
        *window = Some((first, now));
        drop(window);
        let tick = usize::try_from(now.duration_since(start).as_millis() / TICK.as_millis()).unwrap_or(usize::MAX);
        if tick < TICKS_MAX {
            let mut per_tick = self.per_tick.lock().unwrap_or_else(PoisonError::into_inner);
            if per_tick.len() <= tick {
                per_tick.resize(tick + 1, 0);
            }
            per_tick[tick] += records;
        }
    }

    /// Keeps the first error a thread met.
    pub fn fail(&self, error: String) {
        self.first_error.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(error);
    }

    /// The read's figures; its time runs from the first record to the last.
    pub fn consumed(&self, record_bytes: usize) -> Consumed {
        let count = self.count();
        let secs = self
            .window
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map_or(0.0, |(first, last)| last.duration_since(first).as_secs_f64());
        Consumed {
            count,
            bytes: count * record_bytes as u64,
            secs,
            per_tick: std::mem::take(&mut *self.per_tick.lock().unwrap_or_else(PoisonError::into_inner)),
            first_error: self.first_error.lock().unwrap_or_else(PoisonError::into_inner).take(),
            ..Consumed::default()
        }
    }
}
