//! The long poll of a Fetch that found fewer than `min_bytes`, as Kafka's `DelayedFetch`: it is
//! woken by every append to one of its partitions (their high-watermark watch channels), but it
//! reads the logs again only when that can answer it, judged from counters alone: the bytes found
//! at the last read plus the bytes published since then reach `min_bytes`, or something other
//! than an append happened (a read_committed fetch's open transaction ended, replication moved the
//! high watermark over bytes written earlier, the log start moved, the high watermark went back, a
//! write failed or the partition closed). The estimate errs on the side of reading: per-partition
//! limits and bytes above the last stable offset count, so a read may still find too few and the
//! wait goes on; it never waits while enough bytes are there.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use strata_log::{Partition, Progress};
use tokio::sync::watch;
use tokio::time::Instant;

/// The partitions a fetch waits on, and where they stood when it last read them.
pub struct LongPoll {
    logs: Vec<Arc<Partition>>,
    watches: Vec<watch::Receiver<i64>>,
    seen: Vec<Progress>,
    read_committed: bool,
}

impl LongPoll {
    /// Subscribes to every partition before the first read, so an append between that read and
    /// the wait still wakes the poll.
    pub fn new<'a>(logs: impl Iterator<Item = &'a Arc<Partition>>, read_committed: bool) -> LongPoll {
        let logs: Vec<Arc<Partition>> = logs.cloned().collect();
        let watches = logs.iter().map(|log| log.subscribe()).collect();
        LongPoll { seen: vec![Progress::default(); logs.len()], logs, watches, read_committed }
    }

    /// No partition to wait on (all unknown or in error): the fetch answers at once.
    pub fn is_empty(&self) -> bool {
        self.logs.is_empty()
    }

    /// Notes where every partition stands; call just before reading them.
    pub fn mark(&mut self) {
        for (seen, log) in self.seen.iter_mut().zip(&self.logs) {
            *seen = log.progress();
        }
    }

    /// Waits until a read may find `min_bytes` in all (the last read, marked before it, found
    /// `found`) or until `deadline`.
    pub async fn wait(&mut self, found: usize, min_bytes: usize, deadline: Instant) {
        loop {
            tokio::select! {
                () = changed_any(&mut self.watches) => {}
                () = tokio::time::sleep_until(deadline) => return,
            }
            if self.worth_reading(found, min_bytes) {
                return;
            }
        }
    }

    fn worth_reading(&self, found: usize, min_bytes: usize) -> bool {
        let mut bytes = found as u64;
        for (before, log) in self.seen.iter().zip(&self.logs) {
            let now = log.progress();
            if changed_other_than_by_appends(before, &now, self.read_committed) {
                return true;
            }
            bytes = bytes.saturating_add(now.published_bytes.saturating_sub(before.published_bytes));
        }
        bytes >= min_bytes as u64
    }
}

/// Whether the partition moved in a way the published-bytes count does not describe.
fn changed_other_than_by_appends(before: &Progress, now: &Progress, read_committed: bool) -> bool {
    // An open transaction ended: bytes published while it was open become readable to
    // read_committed now, though they were counted (and not found) before.
    let stable_caught_up =
        read_committed && before.last_stable < before.high_watermark && now.last_stable != before.last_stable;
    // Replication moved the high watermark over bytes written before: readable now, though
    // counted (and not found) when they were written.
    let replicated = now.high_watermark > before.high_watermark && before.log_end > before.high_watermark;
    stable_caught_up
        || replicated
        || now.log_start != before.log_start
        || now.high_watermark < before.high_watermark
        || now.alarms != before.alarms
}

/// Resolves when any of `watches` sees a new high watermark (or its partition closed).
async fn changed_any(watches: &mut [watch::Receiver<i64>]) {
    type Changed<'a> = Pin<Box<dyn Future<Output = Result<(), watch::error::RecvError>> + Send + 'a>>;
    let mut waits: Vec<Changed<'_>> = watches.iter_mut().map(|w| Box::pin(w.changed()) as Changed<'_>).collect();
    std::future::poll_fn(|cx| {
        if waits.iter_mut().any(|w| w.as_mut().poll(cx).is_ready()) { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(published_bytes: u64, high_watermark: i64, last_stable: i64) -> Progress {
        Progress { published_bytes, high_watermark, log_end: high_watermark, last_stable, log_start: 0, alarms: 0 }
    }

    #[test]
    fn a_high_watermark_moved_by_replication_is_read() {
        // Offsets 10..20 were written but not yet replicated when the fetch last read.
        let before = Progress { log_end: 20, ..at(100, 10, 10) };
        assert!(changed_other_than_by_appends(&before, &Progress { log_end: 20, ..at(100, 15, 15) }, false));
        assert!(!changed_other_than_by_appends(&at(100, 10, 10), &at(150, 15, 15), false), "an append alone");
    }

    #[test]
    fn appends_alone_are_counted_not_read() {
        assert!(!changed_other_than_by_appends(&at(100, 10, 10), &at(500, 20, 20), false));
        assert!(!changed_other_than_by_appends(&at(100, 10, 10), &at(500, 20, 20), true));
    }

    #[test]
    fn an_ended_transaction_is_read_by_read_committed() {
        // Offsets 5..10 were an open transaction; its marker made them stable.
        assert!(changed_other_than_by_appends(&at(100, 10, 5), &at(120, 11, 11), true));
        assert!(!changed_other_than_by_appends(&at(100, 10, 5), &at(120, 11, 11), false));
    }

    #[test]
    fn log_start_truncation_and_alarms_are_read() {
        let before = at(100, 10, 10);
        assert!(changed_other_than_by_appends(&before, &Progress { log_start: 3, ..before }, false));
        assert!(changed_other_than_by_appends(&before, &at(100, 8, 8), false));
        assert!(changed_other_than_by_appends(&before, &Progress { alarms: 1, ..before }, false));
    }
}
