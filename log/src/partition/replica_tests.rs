//! A partition as a replica: a follower's appends keep the leader's offsets and epochs, a
//! replicated high watermark bounds what readers see while a follower reads to the log end, and
//! the leader epochs (OffsetsForLeaderEpoch's answers) follow appends, truncation and restarts.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;

use super::Partition;
use super::tests::{append, batch, block, manager};
use crate::{AppendError, AppendOrigin, Isolation, LogConfig};

/// The bytes of the batches `p` holds from `from`, read as a follower reads them.
fn replica_read(p: &Partition, from: i64) -> Bytes {
    let result = p.read_isolated(from, u32::MAX, Isolation::LogEnd).unwrap();
    let mut bytes = Vec::new();
    for range in &result.ranges {
        range.read_into(&mut bytes).unwrap();
    }
    Bytes::from(bytes)
}

fn replicate(follower: &Partition, bytes: Bytes) -> crate::AppendInfo {
    block(follower.append_from(AppendOrigin::Replication, bytes, -1, 0).unwrap().wait()).unwrap()
}

#[test]
fn a_follower_copies_offsets_and_epochs_and_the_high_watermark_bounds_readers() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(dir.path());
    let leader = m.open_partition("t", 0, LogConfig::default(), 0).unwrap();
    let follower = m.open_partition("t", 1, LogConfig::default(), 0).unwrap();
    append(&leader, batch(3, 10), 0); // epoch 1 (the helper's), offsets 0..3
    leader.set_replicated_high_watermark(0);
    assert_eq!((leader.high_watermark(), leader.log_end_offset()), (0, 3));
    assert!(leader.read(0, u32::MAX).unwrap().ranges.is_empty(), "consumers see nothing unreplicated");

    let copied = replicate(&follower, replica_read(&leader, 0));
    assert_eq!((copied.base_offset, copied.last_offset), (0, 2));
    assert_eq!(follower.end_offset_for_epoch(1), (1, 3));
    leader.set_replicated_high_watermark(follower.log_end_offset());
    assert_eq!(leader.high_watermark(), 3);
    assert_eq!(replica_read(&follower, 0), replica_read(&leader, 0), "byte for byte the leader's batches");

    // A replica's batches must continue its log.
    let gap = follower.append_from(AppendOrigin::Replication, replica_read(&leader, 0), -1, 0);
    assert!(matches!(gap, Err(AppendError::ReplicaGap { expected: 3, found: 0 })));
}

#[test]
fn leader_epochs_follow_appends_truncation_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    {
        let m = manager(dir.path());
        let p = m.open_partition("t", 0, LogConfig::default(), 0).unwrap();
        append(&p, batch(3, 10), 0); // epoch 1: 0..3
        block(p.append(batch(2, 10), 4, 0).unwrap().wait()).unwrap(); // epoch 4: 3..5
        p.begin_leader_epoch(6).unwrap(); // led from 5 in epoch 6, nothing written yet
        assert_eq!(p.latest_epoch(), 6);
        assert_eq!(p.end_offset_for_epoch(1), (1, 3));
        assert_eq!(p.end_offset_for_epoch(2), (1, 3), "an epoch the log lacks ends where the next starts");
        assert_eq!(p.end_offset_for_epoch(4), (4, 5));
        assert_eq!(p.end_offset_for_epoch(6), (6, 5));
        p.truncate_to(3).unwrap();
        assert_eq!(p.latest_epoch(), 1);
        assert_eq!(p.end_offset_for_epoch(1), (1, 3));
        block(p.append(batch(1, 10), 7, 0).unwrap().wait()).unwrap(); // epoch 7: 3..4
        m.shutdown().unwrap();
    }
    let m = manager(dir.path());
    let p = m.open_partition("t", 0, LogConfig::default(), 0).unwrap();
    assert_eq!(p.end_offset_for_epoch(1), (1, 3));
    assert_eq!(p.end_offset_for_epoch(7), (7, 4));
    // A log from before the checkpoint existed rebuilds it from its batches.
    drop(p);
    m.shutdown().unwrap();
    std::fs::remove_file(dir.path().join("t-0").join(crate::leader_epochs::LEADER_EPOCH_FILE)).unwrap();
    let m = manager(dir.path());
    let p = m.open_partition("t", 0, LogConfig::default(), 0).unwrap();
    assert_eq!((p.latest_epoch(), p.end_offset_for_epoch(1)), (7, (1, 3)));
}
