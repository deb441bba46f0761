//! `Partition::try_append`, the append that never blocks: it appends like `append` when nothing
//! would wait, and otherwise refuses with the record set back and no side effect (same end offset,
//! same producer state, nothing queued), so a later blocking `append` takes the very next offset.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::Partition;
use super::tests::{append, batch, batch_with, block, manager, options};
use crate::io::tests::gate;
use crate::io::{Writer, WriterOptions};
use crate::{AppendError, LogConfig, LogManager, TryAppendError};

/// What a refusal must leave untouched.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    dirty_end: i64,
    dirty_size: u32,
    pending_jobs: usize,
    producers: Vec<u8>,
    high_watermark: i64,
    segments: usize,
}

fn observe(p: &Partition) -> Observed {
    let state = p.inner.lock_state();
    Observed {
        dirty_end: state.dirty_end.0,
        dirty_size: state.dirty_size,
        pending_jobs: state.pending_jobs,
        producers: state.producers.encode(0),
        high_watermark: p.high_watermark(),
        segments: state.segments.len(),
    }
}

// The partitions here are led in epoch 1 from the start (see `begin_leader_epoch`): a new
// epoch's first batch is written blocking, which `try_append_refuses_a_new_leader_epoch` shows.

/// Asserts that `try_append` refuses `set` as "would block", changing nothing, and hands it back.
fn assert_would_block(p: &Partition, set: Bytes) {
    let before = observe(p);
    match p.try_append(set.clone(), 1, 0) {
        Err(TryAppendError::WouldBlock(back)) => assert_eq!(back, set, "the record set comes back unchanged"),
        other => panic!("expected WouldBlock, got {other:?}"),
    }
    assert_eq!(observe(p), before, "a refused try_append changed the partition");
}

fn try_append(p: &Partition, set: Bytes) -> crate::AppendInfo {
    block(p.try_append(set, 1, 0).unwrap().wait()).unwrap()
}

#[test]
fn try_append_appends_like_append() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(dir.path());
    let p = m.open_partition("t", 0, LogConfig::default(), 0).unwrap();
    p.begin_leader_epoch(1).unwrap();
    let a = try_append(&p, batch_with(3, 0, 7, 0, 0));
    let b = append(&p, batch_with(2, 0, 7, 0, 3), 0);
    let c = try_append(&p, batch_with(1, 0, 7, 0, 5));
    assert_eq!((a.base_offset, a.last_offset), (0, 2));
    assert_eq!((b.base_offset, c.base_offset, c.last_offset), (3, 5, 5));
    assert_eq!(p.high_watermark(), 6);
    // Refusals that `append` makes come back as `Refused`, with the same meaning.
    assert!(matches!(
        p.try_append(batch_with(1, 0, 7, 0, 5), 1, 0),
        Err(TryAppendError::Refused(AppendError::DuplicateSequence { base_offset: 5, .. }))
    ));
    assert!(matches!(p.try_append(Bytes::new(), 1, 0), Err(TryAppendError::Refused(AppendError::Corrupt(_)))));
    m.shutdown().unwrap();
}

#[test]
fn try_append_refuses_when_the_segment_must_roll() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(dir.path());
    let one = batch(2, 0).len() as u32;
    let p = m.open_partition("t", 0, LogConfig { segment_bytes: one * 2, ..LogConfig::default() }, 0).unwrap();
    p.begin_leader_epoch(1).unwrap();
    try_append(&p, batch_with(2, 0, 9, 0, 0));
    try_append(&p, batch_with(2, 0, 9, 0, 2));
    // The active segment is full: the next append rolls, which waits for in-flight writes.
    assert_would_block(&p, batch_with(2, 0, 9, 0, 4));
    let rolled = append(&p, batch_with(2, 0, 9, 0, 4), 0);
    assert_eq!(rolled.base_offset, 4, "the refused append took no offset");
    assert_eq!(p.inner.lock_state().segments.len(), 2);
    // The new segment has room again.
    assert_eq!(try_append(&p, batch_with(1, 0, 9, 0, 6)).base_offset, 6);
    // An age roll is refused too.
    let p = m.open_partition("u", 0, LogConfig { segment_ms: 100, ..LogConfig::default() }, 0).unwrap();
    p.begin_leader_epoch(1).unwrap();
    try_append(&p, batch(1, 0));
    let before = observe(&p);
    assert!(matches!(p.try_append(batch(1, 0), 1, 500), Err(TryAppendError::WouldBlock(_))));
    assert_eq!(observe(&p), before);
    m.shutdown().unwrap();
}

#[test]
fn try_append_refuses_while_the_clean_marker_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let m = manager(dir.path());
        let p = m.open_partition("t", 0, LogConfig::default(), 0).unwrap();
        p.begin_leader_epoch(1).unwrap();
        append(&p, batch_with(2, 0, 5, 0, 0), 0);
        m.shutdown().unwrap();
    }
    let marker = dir.path().join("t-0/clean-shutdown");
    let m = manager(dir.path());
    let p = m.open_partition("t", 0, LogConfig::default(), 0).unwrap();
    p.begin_leader_epoch(1).unwrap();
    assert!(marker.exists());
    // Removing the marker fsyncs the directory: not on the fast path.
    assert_would_block(&p, batch_with(1, 0, 5, 0, 2));
    assert!(marker.exists(), "a refused try_append removed the marker");
    assert_eq!(append(&p, batch_with(1, 0, 5, 0, 2), 0).base_offset, 2);
    assert!(!marker.exists());
    assert_eq!(try_append(&p, batch_with(1, 0, 5, 0, 3)).base_offset, 3);
    m.shutdown().unwrap();
}

#[test]
fn try_append_refuses_when_the_write_queue_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let writer =
        Writer::start(WriterOptions { queue_depth_max: 2, force_fallback: true, ..WriterOptions::default() }).unwrap();
    let m = LogManager::with_writer(&dir.path().join("data"), options(), writer.clone()).unwrap();
    // Every append is synced, so none is written at once past the queue.
    let config = LogConfig { flush_messages: 1, ..LogConfig::default() };
    let p = m.open_partition("t", 0, config, 0).unwrap();
    p.begin_leader_epoch(1).unwrap();
    let q = m.open_partition("u", 0, config, 0).unwrap();
    q.begin_leader_epoch(1).unwrap();
    assert_eq!(try_append(&p, batch_with(1, 0, 3, 0, 0)).base_offset, 0);

    let scratch = Arc::new(tempfile::tempfile().unwrap());
    let release = gate(&writer, &scratch);
    // Two places: one taken by another partition, one by this one's fast path.
    let other = q.try_append(batch(1, 0), 1, 0).unwrap();
    let queued = p.try_append(batch_with(1, 0, 3, 0, 1), 1, 0).unwrap();
    assert_eq!(queued.info.base_offset, 1);
    assert_would_block(&p, batch_with(1, 0, 3, 0, 2));
    assert_would_block(&q, batch(1, 0));

    // The blocking append waits for room, then takes the next offset with the same sequence.
    let blocked = {
        let p = Arc::clone(&p);
        std::thread::spawn(move || p.append(batch_with(1, 0, 3, 0, 2), 1, 0).map(|pending| pending.info))
    };
    std::thread::sleep(Duration::from_millis(100));
    assert!(!blocked.is_finished(), "append must wait for a place in the queue");
    release.send(()).unwrap();
    assert_eq!(blocked.join().unwrap().unwrap().base_offset, 2);
    assert_eq!(block(queued.wait()).unwrap().base_offset, 1);
    assert_eq!(block(other.wait()).unwrap().base_offset, 0);
    // Room again: the fast path works, and the sequence goes on.
    assert_eq!(try_append(&p, batch_with(1, 0, 3, 0, 3)).base_offset, 3);
    assert!(matches!(
        p.try_append(batch_with(1, 0, 3, 0, 2), 1, 0),
        Err(TryAppendError::Refused(AppendError::DuplicateSequence { base_offset: 2, .. }))
    ));
    assert_eq!(p.high_watermark(), 4);
    m.shutdown().unwrap();
}

#[test]
fn try_append_refuses_while_the_partition_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(dir.path());
    let p = m.open_partition("t", 0, LogConfig::default(), 0).unwrap();
    p.begin_leader_epoch(1).unwrap();
    try_append(&p, batch(1, 0));
    // Maintenance or a blocking append holds `order` while it waits: the fast path does not queue
    // behind it.
    let order = p.inner.lock_order();
    assert_would_block(&p, batch(1, 0));
    drop(order);
    assert_eq!(try_append(&p, batch(1, 0)).base_offset, 1);
    m.shutdown().unwrap();
}

#[test]
fn try_append_refuses_a_new_leader_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(dir.path());
    let p = m.open_partition("t", 0, LogConfig::default(), 0).unwrap();
    // The epoch checkpoint must be written (and fsynced) before the first batch of an epoch.
    assert_would_block(&p, batch(1, 0));
    let a = append(&p, batch(1, 0), 0);
    assert_eq!(p.latest_epoch(), 1);
    assert_eq!(p.end_offset_for_epoch(1), (1, a.last_offset + 1));
    let b = try_append(&p, batch(1, 0));
    assert_eq!(b.base_offset, a.last_offset + 1, "the epoch's later batches need not block");
    match p.try_append(batch(1, 0), 2, 0) {
        Err(TryAppendError::WouldBlock(_)) => {}
        other => panic!("a newer epoch must block, got {other:?}"),
    }
}

#[test]
fn an_append_with_nothing_in_flight_is_written_at_once_past_a_busy_writer() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Writer::start(WriterOptions { force_fallback: true, ..WriterOptions::default() }).unwrap();
    let m = LogManager::with_writer(&dir.path().join("data"), options(), writer.clone()).unwrap();
    let p = m.open_partition("t", 0, LogConfig::default(), 0).unwrap();
    p.begin_leader_epoch(1).unwrap();
    let synced = m.open_partition("s", 0, LogConfig { flush_messages: 1, ..LogConfig::default() }, 0).unwrap();
    synced.begin_leader_epoch(1).unwrap();
    try_append(&p, batch(1, 0));

    let scratch = Arc::new(tempfile::tempfile().unwrap());
    let release = gate(&writer, &scratch);
    // The writer thread is stuck: an append that needs no fdatasync is written and published by
    // the appending thread, in order, and readable at once.
    for expected in 1..4 {
        let pending = p.try_append(batch(2, 0), 1, 0).unwrap();
        assert_eq!(pending.info.base_offset, expected * 2 - 1);
        assert_eq!(p.high_watermark(), expected * 2 + 1, "published before try_append returned");
        assert_eq!(block(pending.wait()).unwrap().base_offset, expected * 2 - 1);
    }
    assert_eq!(p.high_watermark(), 7);
    assert_eq!(p.read(1, 1 << 20).unwrap().end_offset, 7);
    // One whose fdatasync is due waits for the writer, as does everything after it.
    let queued = synced.try_append(batch(1, 0), 1, 0).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(synced.high_watermark(), 0, "a synced append is not done before its fdatasync");
    release.send(()).unwrap();
    assert_eq!(block(queued.wait()).unwrap().base_offset, 0);
    m.shutdown().unwrap();
}
