//! The fsync ceiling of a partitioned log: W4 acknowledges 16 partitions after fsync, and each
//! partition is its own file, so every flush is 16 `fdatasync`s (each extending its file, which on
//! ext4 means a journal commit) rather than the one file of the plain write+fdatasync ceiling.
//! Here `files` threads, on the broker's CPU, each write their share of a flush to their own file
//! and `fdatasync` it, all at once; a round ends when the last of them is done.

use crate::error::BenchError;
use crate::histogram::Latency;
use crate::pinning::pin_current_thread;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// One flush spread over several files: bytes written and the latency of each round.
#[derive(Debug, Clone)]
pub struct SpreadSync {
    pub files: usize,
    /// Bytes per round, over all files.
    pub round_bytes: usize,
    pub bytes: u64,
    pub secs: f64,
    pub round_latency: Latency,
}

impl SpreadSync {
    pub fn mb_per_sec(&self) -> f64 {
        if self.secs > 0.0 { self.bytes as f64 / 1e6 / self.secs } else { 0.0 }
    }
}

/// Writes `round_bytes` per round, split over `files` files written and fdatasynced at once, until
/// `bytes_max` or `time_max`; the threads run on `cpu` when given.
pub fn measure(
    dir: &Path,
    files: usize,
    round_bytes: usize,
    bytes_max: u64,
    time_max: Duration,
    cpu: Option<usize>,
) -> Result<SpreadSync, BenchError> {
    let files = files.max(1);
    let share = (round_bytes / files).max(1);
    let paths: Vec<PathBuf> = (0..files).map(|i| dir.join(format!("ceiling-spread-{i}.bin"))).collect();
    let opened: Vec<File> = paths
        .iter()
        .map(|p| {
            OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(p)
                .map_err(BenchError::io(format!("creating {}", p.display())))
        })
        .collect::<Result<_, _>>()?;
    let rounds = bytes_max.div_ceil((share * files) as u64).max(1);
    // Every round starts and ends at the barrier; `stop` tells the threads the last round is done.
    let barrier = Arc::new(Barrier::new(files + 1));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::with_capacity(files);
    for mut file in opened {
        let (barrier, stop) = (Arc::clone(&barrier), Arc::clone(&stop));
        workers.push(std::thread::spawn(move || -> Result<(), BenchError> {
            // A failing thread keeps meeting the barrier (or every other thread would wait forever)
            // and reports its first error at the end.
            let mut failed = cpu.map_or(Ok(()), pin_current_thread);
            let data: Vec<u8> = (0..share).map(|i| (i % 251) as u8).collect();
            loop {
                barrier.wait();
                if stop.load(std::sync::atomic::Ordering::Acquire) {
                    return failed;
                }
                if failed.is_ok() {
                    failed = file
                        .write_all(&data)
                        .and_then(|()| file.sync_data())
                        .map_err(BenchError::io("write+fdatasync of a spread ceiling file"));
                }
                barrier.wait();
            }
        }));
    }
    let mut round_latency = Latency::new();
    let start = Instant::now();
    let mut done = 0u64;
    while done < rounds && start.elapsed() < time_max {
        let t = Instant::now();
        barrier.wait();
        barrier.wait();
        round_latency.record(t.elapsed());
        done += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Release);
    barrier.wait();
    let mut failure = None;
    for worker in workers {
        let result = worker
            .join()
            .map_err(|_| BenchError::Workload {
                workload: "ceilings".into(),
                reason: "a spread fsync thread panicked".into(),
            })
            .and_then(|r| r);
        if let Err(e) = result {
            failure.get_or_insert(e);
        }
    }
    for path in &paths {
        let _ = std::fs::remove_file(path);
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(SpreadSync { files, round_bytes: share * files, bytes: done * (share * files) as u64, secs, round_latency })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_round_writes_each_files_share_and_is_timed() {
        let dir = tempfile::tempdir().unwrap();
        let s = measure(dir.path(), 4, 16 << 10, 160 << 10, Duration::from_secs(10), None).unwrap();
        assert_eq!(s.round_latency.count(), 10);
        assert_eq!(s.bytes, 160 << 10);
        assert!(s.mb_per_sec() > 0.0);
    }
}
