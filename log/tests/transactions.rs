//! Transactions in the log, through the public API on real files: open transactions hold the last
//! stable offset back, markers (built by `strata_wire::control`) end them, aborts go to the
//! segment's `.txnindex` in Kafka's layout, read_committed reads stop at the last stable offset,
//! and all of it survives an unclean close (the writer stopped, no shutdown: what a SIGKILL
//! leaves on disk), a missing or torn txn index, truncation, DeleteRecords and retention.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use strata_log::{AppendError, Isolation, LogConfig, LogManager, LogOptions, Partition};
use strata_testkit::batches::Batch;
use strata_wire::control::{Marker, marker_batch};

const TOPIC: &str = "txn";

fn options() -> LogOptions {
    LogOptions { force_fallback_io: true, ..LogOptions::default() }
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

fn open(dir: &Path, config: LogConfig) -> (LogManager, Arc<Partition>) {
    let manager = LogManager::open(dir, options()).unwrap();
    let partition = manager.open_partition(TOPIC, 0, config, 0).unwrap();
    (manager, partition)
}

/// Closes like a SIGKILL would leave the files: the writer stops, nothing is shut down.
fn crash(manager: LogManager) {
    manager.writer().stop();
    drop(manager);
}

fn append(p: &Partition, set: Bytes) -> Result<(i64, i64), AppendError> {
    let pending = p.append(set, 1, 0)?;
    let info = block(pending.wait())?;
    Ok((info.base_offset, info.last_offset))
}

/// `n` records of producer `pid` (epoch 0) with first sequence `seq`; transactional or not.
fn data(pid: i64, seq: i32, n: usize, transactional: bool) -> Bytes {
    let batch = Batch::new().numbered(n, Some(50), 1_000).producer(pid, 0, seq);
    if transactional { batch.transactional() } else { batch }.encode()
}

fn plain(n: usize) -> Bytes {
    Batch::new().numbered(n, Some(50), 1_000).encode()
}

fn marker(pid: i64, epoch: i16, commit: bool) -> Bytes {
    marker_batch(&Marker { producer_id: pid, producer_epoch: epoch, coordinator_epoch: 0, commit }, 2_000)
}

fn txn_index_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{TOPIC}-0")).join(format!("{base:020}.txnindex"))
}

/// Kafka's `AbortedTxn` bytes.
fn entry(pid: i64, first: i64, last: i64, lso: i64) -> Vec<u8> {
    let mut out = 0i16.to_be_bytes().to_vec();
    for v in [pid, first, last, lso] {
        out.extend(v.to_be_bytes());
    }
    out
}

/// Base offsets of the batches a read returns.
fn batch_bases(p: &Partition, offset: i64, isolation: Isolation) -> Vec<i64> {
    let result = p.read_isolated(offset, 1 << 20, isolation).unwrap();
    let mut bytes = Vec::new();
    for range in &result.ranges {
        range.read_into(&mut bytes).unwrap();
    }
    strata_testkit::batches::decode(&Bytes::from(bytes)).iter().map(|s| s.records[0].offset).collect()
}

/// 0-1 plain, 2-3 producer 10 (open), 4 plain, 5 producer 11 (open).
fn two_open_transactions(p: &Partition) {
    assert_eq!(append(p, plain(2)).unwrap(), (0, 1));
    assert_eq!(append(p, data(10, 0, 2, true)).unwrap(), (2, 3));
    assert_eq!(append(p, plain(1)).unwrap(), (4, 4));
    assert_eq!(append(p, data(11, 0, 1, true)).unwrap(), (5, 5));
}

#[test]
fn the_last_stable_offset_follows_open_transactions_and_markers() {
    let dir = tempfile::tempdir().unwrap();
    let (m, p) = open(dir.path(), LogConfig::default());
    assert_eq!(p.last_stable_offset(), 0);
    two_open_transactions(&p);
    assert_eq!((p.last_stable_offset(), p.high_watermark()), (2, 6));
    // read_committed stops below the first open transaction; read_uncommitted does not.
    assert_eq!(batch_bases(&p, 0, Isolation::ReadCommitted), vec![0]);
    assert_eq!(batch_bases(&p, 0, Isolation::ReadUncommitted), vec![0, 2, 4, 5]);
    let committed = p.read_isolated(2, 1 << 20, Isolation::ReadCommitted).unwrap();
    assert!(committed.ranges.is_empty());
    assert_eq!((committed.last_stable_offset, committed.end_offset), (2, 2));
    let read = p.read_isolated(0, 1 << 20, Isolation::ReadCommitted).unwrap();
    assert_eq!(read.end_offset, 2);

    // More data of producer 10 stays in its transaction; a commit ends it.
    assert_eq!(append(&p, data(10, 2, 1, true)).unwrap(), (6, 6));
    let mut lso = p.subscribe();
    lso.mark_unchanged();
    assert_eq!(append(&p, marker(10, 0, true)).unwrap(), (7, 7));
    assert!(lso.has_changed().unwrap(), "a marker's write wakes the watchers");
    assert_eq!(p.last_stable_offset(), 5);
    assert_eq!(batch_bases(&p, 0, Isolation::ReadCommitted), vec![0, 2, 4]);
    // An abort ends the other one: everything is stable, and the abort is indexed.
    assert_eq!(append(&p, marker(11, 0, false)).unwrap(), (8, 8));
    assert_eq!(p.last_stable_offset(), 9);
    assert_eq!(p.last_stable_offset(), p.high_watermark());
    assert_eq!(batch_bases(&p, 0, Isolation::ReadCommitted), vec![0, 2, 4, 5, 6, 7, 8]);
    assert_eq!(p.aborted_transactions(0, 9), vec![(11, 5)]);
    assert_eq!(p.aborted_transactions(0, 5), vec![], "the range ends before the transaction");
    assert_eq!(p.aborted_transactions(9, 9), vec![], "the range starts after its marker");
    assert_eq!(p.aborted_transactions(8, 9), vec![(11, 5)]);
    // Producer 10's commit left nothing open: the entry's last stable offset is the marker's + 1.
    assert_eq!(std::fs::read(txn_index_path(dir.path(), 0)).unwrap(), entry(11, 5, 8, 9));
    // Non-transactional data never holds the offset back.
    append(&p, data(12, 0, 1, false)).unwrap();
    assert_eq!(p.last_stable_offset(), p.high_watermark());
    m.shutdown().unwrap();
}

#[test]
fn markers_are_fenced_by_epochs_and_malformed_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (m, p) = open(dir.path(), LogConfig::default());
    let txn = |epoch: i16, seq: i32| Batch::new().numbered(1, None, 0).producer(1, epoch, seq).transactional().encode();
    append(&p, txn(5, 0)).unwrap();
    assert!(matches!(
        append(&p, marker(1, 4, true)),
        Err(AppendError::InvalidProducerEpoch { epoch: 4, current: 5, .. })
    ));
    assert_eq!(p.last_stable_offset(), 0, "the refused marker ended nothing");
    // A marker with a newer epoch (KIP-890's bump at the end of a transaction) ends it.
    append(&p, marker(1, 6, false)).unwrap();
    assert_eq!(p.last_stable_offset(), 2);
    assert_eq!(p.aborted_transactions(0, 2), vec![(1, 0)]);
    // Data of the old epoch is fenced; the new epoch starts at sequence 0.
    assert!(matches!(append(&p, txn(5, 1)), Err(AppendError::InvalidProducerEpoch { .. })));
    assert_eq!(append(&p, txn(6, 0)).unwrap(), (2, 2));
    // An older transaction coordinator is fenced.
    let old_coordinator =
        marker_batch(&Marker { producer_id: 1, producer_epoch: 6, coordinator_epoch: -5, commit: true }, 0);
    assert!(matches!(append(&p, old_coordinator), Err(AppendError::CoordinatorFenced { .. })));
    // A control batch that is no marker.
    let mut bad = marker(1, 6, true).to_vec();
    bad[61 + 8] = 9; // the control type's low byte
    let crc = crc32c::crc32c(&bad[21..]);
    bad[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(append(&p, Bytes::from(bad)), Err(AppendError::InvalidMarker(_))));
    assert_eq!(p.last_stable_offset(), 2);
    m.shutdown().unwrap();
}

/// The state the recovery tests expect: producer 10's transaction (from 2) still open, producer
/// 11's (at 5) aborted by the marker at 6; then plain data.
fn open_and_aborted(p: &Partition) {
    two_open_transactions(p);
    assert_eq!(append(p, marker(11, 0, false)).unwrap(), (6, 6));
    assert_eq!(append(p, plain(3)).unwrap(), (7, 9));
}

/// `marker_segment`: the base of the segment holding the abort marker.
fn check_open_and_aborted(dir: &Path, p: &Partition, marker_segment: i64) {
    assert_eq!((p.last_stable_offset(), p.high_watermark()), (2, 10));
    assert_eq!(p.aborted_transactions(0, 10), vec![(11, 5)]);
    // The abort happened with producer 10's transaction open from 2.
    assert_eq!(std::fs::read(txn_index_path(dir, marker_segment)).unwrap(), entry(11, 5, 6, 2));
    // The open transaction can still be ended.
    assert_eq!(append(p, marker(10, 0, true)).unwrap(), (10, 10));
    assert_eq!(p.last_stable_offset(), 11);
}

#[test]
fn an_unclean_close_recovers_open_transactions_and_the_txn_index() {
    let dir = tempfile::tempdir().unwrap();
    let (m, p) = open(dir.path(), LogConfig::default());
    open_and_aborted(&p);
    drop(p);
    crash(m);
    let (m, p) = open(dir.path(), LogConfig::default());
    check_open_and_aborted(dir.path(), &p, 0);
    m.shutdown().unwrap();
}

#[test]
fn a_clean_shutdown_keeps_open_transactions_in_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (m, p) = open(dir.path(), LogConfig::default());
    open_and_aborted(&p);
    drop(p);
    m.shutdown().unwrap();
    let (m, p) = open(dir.path(), LogConfig::default());
    check_open_and_aborted(dir.path(), &p, 0);
    m.shutdown().unwrap();
}

/// Segments of one batch each: the abort marker (offset 6) seals into its own segment.
fn one_batch_segments() -> LogConfig {
    LogConfig { segment_bytes: 14, ..LogConfig::default() }
}

#[test]
fn a_missing_or_torn_txn_index_is_rebuilt_even_below_the_recovery_point() {
    for damage in ["missing", "torn", "garbled"] {
        let dir = tempfile::tempdir().unwrap();
        let (m, p) = open(dir.path(), one_batch_segments());
        open_and_aborted(&p);
        let path = txn_index_path(dir.path(), 6);
        assert_eq!(std::fs::read(&path).unwrap(), entry(11, 5, 6, 2));
        p.maintain(0).unwrap(); // persists the recovery point past the sealed segments
        drop(p);
        m.shutdown().unwrap(); // clean: only an unsound txn index makes the open scan
        match damage {
            "missing" => std::fs::remove_file(&path).unwrap(),
            "torn" => std::fs::write(&path, &entry(11, 5, 6, 2)[..20]).unwrap(),
            _ => std::fs::write(&path, entry(11, 5, 6, 2).iter().map(|b| b ^ 0xff).collect::<Vec<_>>()).unwrap(),
        }
        let (m, p) = open(dir.path(), one_batch_segments());
        assert_eq!(std::fs::read(&path).unwrap(), entry(11, 5, 6, 2), "{damage}");
        check_open_and_aborted(dir.path(), &p, 6);
        m.shutdown().unwrap();
    }
}

#[test]
fn truncation_and_deletion_keep_the_txn_index_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let (m, p) = open(dir.path(), one_batch_segments());
    open_and_aborted(&p);
    // Truncating the abort marker away drops its entry and reopens its transaction.
    p.truncate_to(6).unwrap();
    assert_eq!(p.aborted_transactions(0, 10), vec![]);
    assert!(!txn_index_path(dir.path(), 6).exists(), "the marker's segment went with it");
    assert_eq!(p.last_stable_offset(), 2);
    // Abort both now: the entries land in the marker segments.
    assert_eq!(append(&p, marker(11, 0, false)).unwrap(), (6, 6));
    assert_eq!(append(&p, marker(10, 0, false)).unwrap(), (7, 7));
    assert_eq!(p.last_stable_offset(), 8);
    assert_eq!(p.aborted_transactions(0, 8), vec![(11, 5), (10, 2)]);
    assert_eq!(p.aborted_transactions(4, 8), vec![(11, 5), (10, 2)]);
    // DeleteRecords past the first marker's segment removes its file and entry.
    p.delete_records(7).unwrap();
    assert!(!txn_index_path(dir.path(), 6).exists());
    assert_eq!(p.aborted_transactions(7, 8), vec![(10, 2)]);
    m.shutdown().unwrap();
}

#[test]
fn within_a_segment_truncation_cuts_the_txn_index() {
    let dir = tempfile::tempdir().unwrap();
    let (m, p) = open(dir.path(), LogConfig::default());
    open_and_aborted(&p);
    p.truncate_to(6).unwrap();
    assert_eq!(std::fs::read(txn_index_path(dir.path(), 0)).unwrap(), Vec::<u8>::new());
    assert_eq!(p.aborted_transactions(0, 10), vec![]);
    assert_eq!((p.last_stable_offset(), p.high_watermark()), (2, 6));
    m.shutdown().unwrap();
}

#[test]
fn retention_never_passes_an_open_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { retention_bytes: 0, ..one_batch_segments() };
    let (m, p) = open(dir.path(), config);
    append(&p, plain(1)).unwrap(); // 0
    append(&p, data(10, 0, 1, true)).unwrap(); // 1, open
    for _ in 0..4 {
        append(&p, plain(1)).unwrap(); // 2..=5
    }
    p.maintain(0).unwrap();
    assert_eq!(p.log_start_offset(), 1, "the segment holding the open transaction's start stays");
    append(&p, marker(10, 0, true)).unwrap(); // 6
    p.maintain(0).unwrap();
    assert_eq!(p.log_start_offset(), 6, "once stable, retention goes on (the active segment stays)");
    m.shutdown().unwrap();
}

#[test]
fn delete_records_past_an_open_transaction_moves_the_last_stable_offset_and_wakes_watchers() {
    let dir = tempfile::tempdir().unwrap();
    let (m, p) = open(dir.path(), LogConfig::default());
    append(&p, plain(1)).unwrap(); // 0
    append(&p, data(10, 0, 1, true)).unwrap(); // 1, open
    append(&p, plain(1)).unwrap(); // 2
    assert_eq!(p.last_stable_offset(), 1);
    let mut watch = p.subscribe();
    watch.mark_unchanged();
    // The transaction's data is gone, and its producer with it: nothing is open any more.
    p.delete_records(2).unwrap();
    assert_eq!((p.last_stable_offset(), p.high_watermark()), (3, 3));
    assert!(watch.has_changed().unwrap(), "the high watermark did not move, the last stable offset did");
    m.shutdown().unwrap();
}

#[test]
fn read_committed_stops_at_the_last_stable_offset_whatever_the_index_says() {
    for index_interval_bytes in [1, 300, 4096] {
        let dir = tempfile::tempdir().unwrap();
        let (m, p) = open(dir.path(), LogConfig { index_interval_bytes, ..LogConfig::default() });
        for _ in 0..10 {
            append(&p, plain(2)).unwrap(); // 0..=19
        }
        append(&p, data(10, 0, 1, true)).unwrap(); // 20, open
        for _ in 0..10 {
            append(&p, plain(2)).unwrap(); // 21..=40
        }
        assert_eq!(p.last_stable_offset(), 20);
        for from in [0, 5, 18, 19] {
            let read = p.read_isolated(from, 1 << 20, Isolation::ReadCommitted).unwrap();
            assert_eq!(read.end_offset, 20, "interval {index_interval_bytes}, from {from}");
            let bases = batch_bases(&p, from, Isolation::ReadCommitted);
            assert_eq!(bases.last(), Some(&18), "interval {index_interval_bytes}, from {from}");
        }
        let read = p.read_isolated(0, 1 << 20, Isolation::ReadUncommitted).unwrap();
        assert_eq!(read.end_offset, 41);
        // A byte limit inside the stable part ends the range on a batch boundary below it.
        let one = p.read_isolated(0, 1, Isolation::ReadCommitted).unwrap();
        assert_eq!(one.end_offset, 2);
        m.shutdown().unwrap();
    }
}
