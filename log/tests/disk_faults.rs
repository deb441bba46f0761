//! Disk errors at the log level, injected through the writer's fault layer (`io::faults`):
//! - a failed fdatasync (EIO, or ENOSPC) or a failed write (EIO) takes the whole log directory
//!   offline for writes, as Kafka does: appends fail with `StorageOffline` (the broker answers
//!   KAFKA_STORAGE_ERROR), appends in flight fail, nothing is retried even once the disk works again
//!   (fsyncgate), reads of what was written go on, and a restart recovers everything acknowledged;
//! - a write that finds the disk full (ENOSPC) fails only its append (`DiskFull`), leaves no offset
//!   handed out and no byte of it behind, and appends resume without a restart once space is back.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report

mod common;
#[path = "../benches/support/mod.rs"]
mod support;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use common::read_all;
use strata_log::io::faults::{Faults, TearMode};
use strata_log::io::{Writer, WriterOptions};
use strata_log::{AppendError, LogConfig, LogError, LogManager, LogOptions, Partition, PendingAppend};
use strata_wire::batch::{set_base_offset, set_partition_leader_epoch};

const NOW_MS: i64 = support::BASE_TIMESTAMP_MS;
const LEADER_EPOCH: i32 = 1;

fn config() -> LogConfig {
    LogConfig { flush_messages: 1, segment_bytes: 8 * 1024, ..LogConfig::default() }
}

struct Log {
    manager: LogManager,
    faults: Arc<Faults>,
    partitions: Vec<Arc<Partition>>,
    runtime: tokio::runtime::Runtime,
}

fn open(dir: &Path) -> Log {
    let faults = Faults::new();
    let writer = Writer::start_with_faults(WriterOptions::default(), Arc::clone(&faults)).unwrap();
    let manager = LogManager::with_writer(dir, LogOptions::default(), writer).unwrap();
    let partitions = (0..2).map(|p| manager.open_partition("t", p, config(), NOW_MS).unwrap()).collect();
    Log { manager, faults, partitions, runtime: tokio::runtime::Builder::new_current_thread().build().unwrap() }
}

fn batch(id: u64) -> Bytes {
    support::record_batch(id, 3, 100)
}

/// The batch as stored at `base_offset`.
fn stored(id: u64, base_offset: i64) -> Vec<u8> {
    let mut bytes = batch(id).to_vec();
    set_base_offset(&mut bytes, base_offset);
    set_partition_leader_epoch(&mut bytes, LEADER_EPOCH);
    bytes
}

impl Log {
    fn append(&self, partition: usize, id: u64) -> Result<PendingAppend, AppendError> {
        self.partitions[partition].append(batch(id), LEADER_EPOCH, NOW_MS)
    }

    fn wait(&self, pending: PendingAppend) -> Result<i64, LogError> {
        self.runtime.block_on(pending.wait()).map(|info| info.base_offset)
    }

    /// Appends and waits; the base offset it was acknowledged at.
    fn append_acked(&self, partition: usize, id: u64) -> i64 {
        let pending = self.append(partition, id).unwrap();
        self.wait(pending).unwrap()
    }
}

fn is_offline(error: &LogError) -> bool {
    matches!(error, LogError::StorageOffline { .. })
}

fn is_offline_append(error: &AppendError) -> bool {
    matches!(error, AppendError::Storage(e) if is_offline(e))
}

/// Appends that fail one way take the directory offline; checks everything the module docs say.
fn offline_after(fail: impl FnOnce(&Faults), errno: i32) {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let mut acked = Vec::new();
    for id in 0..5 {
        acked.push((id % 2, id, log.append_acked((id % 2) as usize, id)));
    }
    assert!(log.manager.storage_offline().is_none());
    fail(&log.faults);
    // Three appends in flight together (queued while the writer is held); the first write (or its
    // fsync) fails, and the later ones fail when they complete, whatever their own outcome.
    log.faults.hold_writes(true);
    let in_flight: Vec<_> = (10..13).map(|id| log.append(0, id).unwrap()).collect();
    log.faults.hold_writes(false);
    for pending in in_flight {
        let error = log.wait(pending).unwrap_err();
        assert!(is_offline(&error), "an append in flight failed with {error:?}");
    }
    let cause = log.manager.storage_offline().expect("the directory is offline");
    assert_eq!(cause.raw_os_error().or_else(|| strata_log::io::FsyncFailed::of(&cause)?.raw_os_error()), Some(errno));
    assert!(log.partitions[1].storage_offline().is_some(), "the whole directory is offline, not one partition");
    // No retry: the disk works again, the directory stays offline until a restart.
    log.faults.fail_all_fsyncs(None);
    log.faults.fail_writes(None);
    for partition in 0..2 {
        let error = log.append(partition, 20).unwrap_err();
        assert!(is_offline_append(&error), "partition {partition}: {error:?}");
    }
    // Reads of what was written go on.
    for partition in 0..2 {
        let on_disk: Vec<_> = read_all(&log.partitions[partition]).into_iter().map(|(offset, _)| offset).collect();
        let expected: Vec<_> = acked.iter().filter(|(p, _, _)| *p == partition as u64).map(|(_, _, o)| *o).collect();
        assert_eq!(on_disk, expected, "partition {partition}");
    }
    drop(log);
    // A restart recovers every acknowledged batch, and appends work again.
    let log = open(dir.path());
    for (partition, id, offset) in &acked {
        let batches = read_all(&log.partitions[*partition as usize]);
        let found = batches.iter().find(|(o, _)| o == offset).map(|(_, bytes)| bytes.clone());
        assert_eq!(found, Some(stored(*id, *offset)), "acknowledged batch {id} at {offset}");
    }
    log.append_acked(0, 30);
    log.manager.shutdown().unwrap();
}

#[test]
fn a_failed_fsync_takes_the_log_directory_offline() {
    offline_after(|faults| faults.fail_fsync(faults.fsyncs_seen(), libc::EIO), libc::EIO);
}

#[test]
fn an_fsync_finding_the_disk_full_takes_the_log_directory_offline_too() {
    // ENOSPC from fsync (delayed allocation, thin provisioning) is an fsync failure like any other.
    offline_after(|faults| faults.fail_fsync(faults.fsyncs_seen(), libc::ENOSPC), libc::ENOSPC);
}

#[test]
fn a_failed_write_takes_the_log_directory_offline() {
    offline_after(|faults| faults.fail_writes(Some(libc::EIO)), libc::EIO);
}

#[test]
fn a_full_disk_fails_appends_until_space_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let mut acked = Vec::new();
    for id in 0..4 {
        acked.push((id, log.append_acked(0, id)));
    }
    let high_watermark = log.partitions[0].high_watermark();
    // The disk fills up in the middle of a write: 40 bytes of it land, then ENOSPC. The appends
    // queued behind it fail too. The writer is held until all three are queued: otherwise one
    // queued after the failure was handled is a new write, and the disk took it (CI saw that).
    log.faults.tear_write_job(log.faults.write_jobs_seen(), 40, TearMode::Errno(libc::ENOSPC));
    log.faults.hold_writes(true);
    let in_flight: Vec<_> = (10..13).map(|id| log.append(0, id).unwrap()).collect();
    log.faults.hold_writes(false);
    for pending in in_flight {
        let error = log.wait(pending).unwrap_err();
        assert!(matches!(error, LogError::DiskFull { .. }), "{error:?}");
    }
    assert_eq!(log.partitions[0].high_watermark(), high_watermark, "no offset of a failed append is visible");
    assert!(log.manager.storage_offline().is_none(), "a full disk does not take the directory offline");
    // Still full: appends keep failing, nothing is written.
    log.faults.fail_writes(Some(libc::ENOSPC));
    let error = log.wait(log.append(0, 20).unwrap()).unwrap_err();
    assert!(matches!(error, LogError::DiskFull { .. }), "{error:?}");
    assert_eq!(read_all(&log.partitions[0]).len(), acked.len(), "reads go on");
    // Space comes back: appends resume at the offset after the last acknowledged one, no restart.
    log.faults.fail_writes(None);
    for id in 30..33 {
        acked.push((id, log.append_acked(0, id)));
    }
    assert_eq!(acked[4].1, high_watermark, "the failed appends left no gap in the offsets");
    let expected: Vec<_> = acked.iter().map(|(id, offset)| (*offset, stored(*id, *offset))).collect();
    assert_eq!(read_all(&log.partitions[0]), expected);
    log.append_acked(1, 40);
    drop(log);
    // And a restart finds exactly the acknowledged batches.
    let log = open(dir.path());
    assert_eq!(read_all(&log.partitions[0]), expected);
    log.manager.shutdown().unwrap();
}

#[test]
fn a_full_disk_during_a_roll_leaves_the_partition_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let mut acked = Vec::new();
    // Fill the first segment up to a roll, with the disk full for every write from some point.
    let mut id = 0;
    while log.partitions[0].size_bytes() < u64::from(config().segment_bytes) - 300 {
        acked.push((id, log.append_acked(0, id)));
        id += 1;
    }
    log.faults.fail_writes(Some(libc::ENOSPC));
    for attempt in 0..3 {
        if let Ok(pending) = log.append(0, 100 + attempt) {
            assert!(matches!(log.wait(pending), Err(LogError::DiskFull { .. })));
        }
    }
    let segments = std::fs::read_dir(dir.path().join("t-0"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".log"))
        .count();
    assert_eq!(segments, 2, "the first failed append rolled the segment");
    log.faults.fail_writes(None);
    for id in 200..210 {
        acked.push((id, log.append_acked(0, id)));
    }
    let expected: Vec<_> = acked.iter().map(|(id, offset)| (*offset, stored(*id, *offset))).collect();
    assert_eq!(read_all(&log.partitions[0]), expected);
    drop(log);
    let log = open(dir.path());
    assert_eq!(read_all(&log.partitions[0]), expected);
    log.manager.shutdown().unwrap();
}
