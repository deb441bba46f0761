//! Transactional offset commits (TxnOffsetCommit): pending until their transaction ends, then
//! committed or dropped; KIP-447's member checks; require_stable; and replay of transactional
//! records and markers.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use strata_groups::*;

fn tp(partition: i32) -> Vec<TopicPartition> {
    vec![TopicPartition::new("t", partition)]
}

fn fetch(c: &Coordinator, stable: bool) -> FetchedOffset {
    c.offset_fetch(GROUP, Some(&tp(0)), stable).partitions.remove(0)
}

#[test]
fn pending_offsets_are_invisible_until_commit_and_dropped_on_abort() {
    let mut h = Harness::new();
    let (a, generation) = h.stable_single(b"x");
    h.commit(&a, generation, "t", 0, 5);
    assert_eq!(h.txn_commit(1000, commit_request(&a, generation, "t", 0, 10)), None);
    let record = h.log.last().unwrap();
    assert_eq!(record.transaction, Some(TxnProducer { producer_id: 1000, producer_epoch: 0 }));
    assert_eq!(record.partition, h.c.partition_for(GROUP));

    // Not visible: the last committed offset is answered, or UNSTABLE_OFFSET_COMMIT when stable
    // offsets are required.
    assert_eq!(fetch(&h.c, false).offset, 5);
    let unstable = fetch(&h.c, true);
    assert_eq!((unstable.offset, unstable.error), (-1, Some(GroupError::UnstableOffsetCommit)));
    let other = h.c.offset_fetch(GROUP, Some(&tp(1)), true).partitions.remove(0);
    assert_eq!(other.error, None, "only partitions with a pending offset are unstable");

    // A marker on another offsets partition changes nothing.
    let elsewhere = (h.c.partition_for(GROUP) + 1) % h.c.config().offsets_topic_partitions;
    assert_eq!(h.c.transaction_completed(elsewhere, 1000, true), 0);
    assert_eq!(fetch(&h.c, false).offset, 5);

    assert_eq!(h.end_txn(1000, true), 1);
    assert_eq!(fetch(&h.c, true), FetchedOffset { error: None, ..fetch(&h.c, false) });
    assert_eq!(fetch(&h.c, false).offset, 10);

    assert_eq!(h.txn_commit(1000, commit_request(&a, generation, "t", 0, 20)), None);
    assert_eq!(h.end_txn(1000, false), 1);
    assert_eq!(fetch(&h.c, true).offset, 10, "an aborted offset never shows");
    assert_eq!(h.end_txn(1000, true), 0, "nothing pending any more");
}

#[test]
fn a_regular_commit_after_the_transactional_one_wins() {
    let mut h = Harness::new();
    let (a, generation) = h.stable_single(b"x");
    h.txn_commit(7, commit_request(&a, generation, "t", 0, 10));
    h.commit(&a, generation, "t", 0, 15);
    h.end_txn(7, true);
    assert_eq!(h.committed("t", 0), 15);
    assert_eq!(h.replay_log(config(), h.now).offset_fetch(GROUP, Some(&tp(0)), false).partitions[0].offset, 15);
}

#[test]
fn kip_447_checks_as_kafka() {
    let mut h = Harness::new();
    // An unknown group with a generation: ILLEGAL_GENERATION; nothing is left behind.
    assert_eq!(h.txn_commit(1, commit_request("m", 1, "t", 0, 1)), Some(GroupError::IllegalGeneration));
    assert!(h.c.group_summary(GROUP).is_none());
    let (a, generation) = h.stable_single(b"x");
    assert_eq!(h.txn_commit(1, commit_request("ghost", generation, "t", 0, 1)), Some(GroupError::UnknownMemberId));
    assert_eq!(h.txn_commit(1, commit_request(&a, generation + 1, "t", 0, 1)), Some(GroupError::IllegalGeneration));
    // Generation -1 with a member id still names a member: the generation must match.
    assert_eq!(h.txn_commit(1, commit_request(&a, -1, "t", 0, 1)), Some(GroupError::IllegalGeneration));
    // v0-2 carry no member: accepted in a Stable group (OffsetCommit would refuse it).
    assert_eq!(h.txn_commit(1, commit_request("", -1, "t", 0, 1)), None);
    assert_eq!(h.commit("", -1, "t", 0, 1), Some(GroupError::UnknownMemberId));

    // A static member is known by its instance id.
    let request = |member: &str, instance: &str| TxnOffsetCommitRequest {
        group_id: GROUP.into(),
        producer_id: 2,
        producer_epoch: 0,
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: Some(instance.into()),
        offsets: vec![entry("t", 1, 1)],
    };
    let error = |c: &mut Coordinator, member: &str, instance: &str| {
        c.txn_offset_commit(request(member, instance), 0).reply.partitions[0].error
    };
    assert_eq!(error(&mut h.c, &a, "unknown-instance"), Some(GroupError::UnknownMemberId));

    // Metadata over the limit is refused per partition.
    let too_long = "m".repeat(h.c.config().offset_metadata_bytes_max + 1);
    let mut big = request("", "i");
    big.group_instance_id = None;
    big.generation_id = -1;
    big.offsets[0].metadata = Some(too_long);
    let reply = h.c.txn_offset_commit(big, 0);
    assert_eq!(reply.reply.partitions[0].error, Some(GroupError::OffsetMetadataTooLarge));
    assert!(reply.effects.records.is_empty());

    // An empty group id is INVALID_GROUP_ID.
    let mut empty = request("", "i");
    empty.group_id = String::new();
    assert_eq!(h.c.txn_offset_commit(empty, 0).reply.partitions[0].error, Some(GroupError::InvalidGroupId));
}

#[test]
fn static_member_fencing_and_no_rebalance_error() {
    let mut h = Harness::new();
    let join = h.join_request("", Some("i1"), protocols(&["range"]));
    let (token, reply) = h.join_with(join);
    let joined = h.join_reply(token, reply);
    let member = joined.member_id.clone();
    let request = |member_id: &str| TxnOffsetCommitRequest {
        group_id: GROUP.into(),
        producer_id: 3,
        producer_epoch: 0,
        generation_id: joined.generation_id,
        member_id: member_id.into(),
        group_instance_id: Some("i1".into()),
        offsets: vec![entry("t", 0, 4)],
    };
    // CompletingRebalance: OffsetCommit answers REBALANCE_IN_PROGRESS, TxnOffsetCommit accepts.
    assert_eq!(h.state(), GroupState::CompletingRebalance);
    let out = h.c.txn_offset_commit(request("someone-else"), h.now);
    assert_eq!(out.reply.partitions[0].error, Some(GroupError::FencedInstanceId));
    let out = h.c.txn_offset_commit(request(&member), h.now);
    assert_eq!(out.reply.partitions[0].error, None);
}

#[test]
fn replay_keeps_open_transactions_pending_until_their_marker() {
    let mut h = Harness::new();
    let (a, generation) = h.stable_single(b"x");
    h.txn_commit(1, commit_request(&a, generation, "t", 0, 10));
    h.end_txn(1, true);
    h.txn_commit(2, commit_request(&a, generation, "t", 1, 20));
    h.end_txn(2, false);
    h.txn_commit(3, commit_request(&a, generation, "t", 2, 30));

    let mut replayed = h.replay_log(config(), h.now);
    assert_eq!(replayed.snapshot(), h.c.snapshot());
    let all: Vec<_> = (0..3).map(|p| TopicPartition::new("t", p)).collect();
    let offsets = |c: &Coordinator, stable| {
        c.offset_fetch(GROUP, Some(&all), stable)
            .partitions
            .into_iter()
            .map(|f| (f.offset, f.error))
            .collect::<Vec<_>>()
    };
    let unstable = Some(GroupError::UnstableOffsetCommit);
    assert_eq!(offsets(&replayed, true), vec![(10, None), (-1, None), (-1, unstable)]);
    assert!(replayed.has_open_transactions(replayed.partition_for(GROUP)));

    // The still-open transaction commits after the restart.
    assert_eq!(replayed.transaction_completed(replayed.partition_for(GROUP), 3, true), 1);
    assert_eq!(offsets(&replayed, true), vec![(10, None), (-1, None), (30, None)]);
    assert!(!replayed.has_open_transactions(replayed.partition_for(GROUP)));

    // A snapshot keeps the open transaction's records, transactional, for the marker to come.
    let snapshot = h.c.snapshot();
    assert_eq!(snapshot.iter().filter(|r| r.transaction.is_some()).count(), 1);
    let from_snapshot = Harness::replay(&snapshot, config(), h.now);
    assert_eq!(offsets(&from_snapshot, true), vec![(10, None), (-1, None), (-1, unstable)]);
}

#[test]
fn pending_offsets_keep_a_group_and_their_partition_from_expiring() {
    let config =
        CoordinatorConfig { offsets_retention_ms: 1_000, offsets_retention_check_interval_ms: 100, ..config() };
    let mut h = Harness::with_config(config.clone());
    h.commit("", -1, "t", 0, 1);
    h.txn_commit(9, commit_request("", -1, "t", 0, 2));
    h.advance(100);
    h.advance(5_000);
    assert_eq!(h.committed("t", 0), 1, "an offset with a pending transactional one does not expire");
    h.end_txn(9, true);
    assert_eq!(h.committed("t", 0), 2);
    h.advance(5_000);
    assert!(h.c.group_summary(GROUP).is_none(), "expired once the transaction ended");

    // Deleting the group tombstones a partition that only had a pending offset.
    h.txn_commit(9, commit_request("", -1, "t", 1, 3));
    let out = h.c.delete_groups(&[GROUP.to_owned()], h.now);
    h.absorb(out.effects);
    let replayed = h.replay_log(config, h.now);
    assert!(replayed.group_summary(GROUP).is_none());
    h.end_txn(9, true);
    assert!(h.c.group_summary(GROUP).is_none());
}
