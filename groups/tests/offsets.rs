//! Committed offsets: commit checks, fetch, delete, retention; and the admin APIs.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use strata_groups::*;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[test]
fn commit_checks_generation_member_and_rebalance() {
    let mut h = Harness::new();
    let (a, generation) = h.stable_single(b"x");
    assert_eq!(h.commit(&a, generation, "t", 0, 10), None);
    assert_eq!(h.committed("t", 0), 10);
    assert_eq!(h.commit(&a, generation + 1, "t", 0, 11), Some(GroupError::IllegalGeneration));
    assert_eq!(h.commit("ghost", generation, "t", 0, 11), Some(GroupError::UnknownMemberId));
    // A commit without group management is refused while the group has members.
    assert_eq!(h.commit("", -1, "t", 0, 11), Some(GroupError::UnknownMemberId));
    assert_eq!(h.committed("t", 0), 10);

    // PreparingRebalance: the old generation may still commit (e.g. while revoking).
    let (b, b_token, _) = h.join_new();
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert_eq!(h.commit(&a, generation, "t", 0, 12), None);
    // CompletingRebalance: REBALANCE_IN_PROGRESS.
    let (t, r) = h.join(&a);
    let new_generation = h.join_reply(t, r).generation_id;
    h.join_reply(b_token, None);
    assert_eq!(h.state(), GroupState::CompletingRebalance);
    assert_eq!(h.commit(&b, new_generation, "t", 0, 13), Some(GroupError::RebalanceInProgress));
    assert_eq!(h.committed("t", 0), 12);
}

#[test]
fn standalone_commits_and_fetch() {
    let mut h = Harness::new();
    // No group yet: generation -1 creates one used only for offsets.
    assert_eq!(h.commit("", -1, "t", 3, 42), None);
    let fetched = h.c.offset_fetch(GROUP, None, false);
    assert_eq!(fetched.error, None);
    assert_eq!(fetched.partitions.len(), 1);
    assert_eq!(fetched.partitions[0].offset, 42);
    assert_eq!(fetched.partitions[0].metadata, "meta");
    assert_eq!(h.c.list_groups(&[], &[])[0].state, GroupState::Empty);
    // A real generation for a group that does not exist.
    let out = h.c.offset_commit(
        OffsetCommitRequest {
            group_id: "other".into(),
            generation_id: 3,
            member_id: "m".into(),
            group_instance_id: None,
            offsets: vec![OffsetCommitEntry {
                partition: TopicPartition::new("t", 0),
                offset: 1,
                leader_epoch: 5,
                metadata: None,
            }],
        },
        h.now,
    );
    assert_eq!(out.reply.partitions[0].error, Some(GroupError::IllegalGeneration));
    assert!(out.effects.records.is_empty());
    // Unknown group / partition: offset -1, no error.
    let none = h.c.offset_fetch("nobody", Some(&[TopicPartition::new("t", 0)]), false);
    assert_eq!((none.error, none.partitions[0].offset, none.partitions[0].leader_epoch), (None, -1, -1));
}

#[test]
fn commit_records_and_metadata_limit() {
    let mut h = Harness::with_config(CoordinatorConfig { offset_metadata_bytes_max: 4, ..config() });
    let out = h.c.offset_commit(
        OffsetCommitRequest {
            group_id: GROUP.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            offsets: vec![
                OffsetCommitEntry {
                    partition: TopicPartition::new("t", 0),
                    offset: 7,
                    leader_epoch: 2,
                    metadata: Some("ok".into()),
                },
                OffsetCommitEntry {
                    partition: TopicPartition::new("t", 1),
                    offset: 8,
                    leader_epoch: 2,
                    metadata: Some("too long".into()),
                },
            ],
        },
        h.now,
    );
    let errors: Vec<_> = out.reply.partitions.iter().map(|p| p.error).collect();
    assert_eq!(errors, vec![None, Some(GroupError::OffsetMetadataTooLarge)]);
    assert_eq!(out.effects.records.len(), 1);
    let record = &out.effects.records[0];
    assert_eq!(record.partition, offsets_partition_for(GROUP, 50));
    let decoded = records::decode_record(&record.key, record.value.as_deref()).unwrap();
    match decoded {
        records::DecodedRecord::Offset { group, topic, partition, value: Some(v) } => {
            assert_eq!((group.as_str(), topic.as_str(), partition), (GROUP, "t", 0));
            assert_eq!((v.offset, v.leader_epoch, v.metadata.as_str(), v.commit_timestamp_ms), (7, 2, "ok", h.now));
        }
        other => panic!("unexpected record {other:?}"),
    }
    let fetched = h.c.offset_fetch(GROUP, Some(&[TopicPartition::new("t", 0)]), false);
    assert_eq!(fetched.partitions[0].leader_epoch, 2);
}

#[test]
fn retention_expires_offsets_of_empty_groups_only() {
    let config =
        CoordinatorConfig { offsets_retention_ms: DAY_MS, offsets_retention_check_interval_ms: 60_000, ..config() };
    let mut h = Harness::with_config(config);
    h.advance(0);
    let (a, generation) = h.stable_single(b"x");
    assert_eq!(h.commit(&a, generation, "t", 0, 5), None);
    // Two days later the member is still there (heartbeating): nothing expires.
    for _ in 0..(2 * DAY_MS / 5_000) {
        h.advance(5_000);
        assert_eq!(h.heartbeat(&a, generation), None);
    }
    assert_eq!(h.committed("t", 0), 5);
    // The member leaves: retention counts from when the group became empty.
    h.leave(vec![by_id(&a)]);
    assert_eq!(h.state(), GroupState::Empty);
    let emptied_at = h.now;
    h.advance(DAY_MS - 120_000);
    assert_eq!(h.committed("t", 0), 5);
    let log_before = h.log.len();
    h.advance(120_000);
    assert!(h.now - emptied_at >= DAY_MS);
    assert!(h.c.group_summary(GROUP).is_none(), "empty group without offsets is removed");
    assert_eq!(h.committed("t", 0), -1);
    // One offset tombstone and one group tombstone.
    let tombstones: Vec<_> = h.log[log_before..].iter().filter(|r| r.value.is_none()).collect();
    assert_eq!(tombstones.len(), 2);
}

#[test]
fn retention_of_standalone_commits_counts_from_each_commit() {
    let config =
        CoordinatorConfig { offsets_retention_ms: DAY_MS, offsets_retention_check_interval_ms: 60_000, ..config() };
    let mut h = Harness::with_config(config);
    h.advance(0);
    assert_eq!(h.commit("", -1, "t", 0, 1), None);
    h.advance(DAY_MS / 2);
    assert_eq!(h.commit("", -1, "t", 1, 2), None);
    h.advance(DAY_MS / 2 + 60_000);
    assert_eq!(h.committed("t", 0), -1);
    assert_eq!(h.committed("t", 1), 2);
    h.advance(DAY_MS / 2);
    assert!(h.c.group_summary(GROUP).is_none());
}

#[test]
fn stable_consumer_group_expires_only_unsubscribed_topics() {
    let config =
        CoordinatorConfig { offsets_retention_ms: DAY_MS, offsets_retention_check_interval_ms: 60_000, ..config() };
    let mut h = Harness::with_config(config);
    h.advance(0);
    let (a, generation) = h.stable_single(b"x"); // subscribed to "t"
    assert_eq!(h.commit(&a, generation, "t", 0, 5), None);
    assert_eq!(h.commit(&a, generation, "old-topic", 0, 9), None);
    for _ in 0..(DAY_MS / 5_000 + 20) {
        h.advance(5_000);
        h.heartbeat(&a, generation);
    }
    assert_eq!(h.committed("t", 0), 5);
    assert_eq!(h.committed("old-topic", 0), -1);
}

#[test]
fn offset_delete() {
    let mut h = Harness::new();
    let (a, generation) = h.stable_single(b"x"); // subscribed to "t"
    h.commit(&a, generation, "t", 0, 1);
    h.commit(&a, generation, "u", 0, 2);
    let out = h.c.offset_delete(GROUP, &[TopicPartition::new("t", 0), TopicPartition::new("u", 0)], h.now);
    let errors: Vec<_> = out.reply.partitions.iter().map(|p| p.error).collect();
    assert_eq!(errors, vec![Some(GroupError::GroupSubscribedToTopic), None]);
    assert_eq!(out.effects.records.len(), 1);
    assert!(out.effects.records[0].value.is_none());
    assert_eq!(h.committed("u", 0), -1);
    assert_eq!(h.committed("t", 0), 1);

    h.leave(vec![by_id(&a)]);
    let out = h.c.offset_delete(GROUP, &[TopicPartition::new("t", 0)], h.now);
    assert_eq!(out.reply.error, None);
    assert_eq!(out.reply.partitions[0].error, None);
    assert_eq!(h.committed("t", 0), -1);

    let unknown = h.c.offset_delete("nobody", &[TopicPartition::new("t", 0)], h.now);
    assert_eq!(unknown.reply.error, Some(GroupError::GroupIdNotFound));
}

#[test]
fn delete_groups() {
    let mut h = Harness::new();
    let (a, generation) = h.stable_single(b"x");
    h.commit(&a, generation, "t", 0, 1);
    let out = h.c.delete_groups(&[GROUP.to_owned(), "nobody".to_owned()], h.now);
    let errors: Vec<_> = out.reply.iter().map(|d| d.error).collect();
    assert_eq!(errors, vec![Some(GroupError::NonEmptyGroup), Some(GroupError::GroupIdNotFound)]);
    assert!(out.effects.records.is_empty());

    h.leave(vec![by_id(&a)]);
    let out = h.c.delete_groups(&[GROUP.to_owned()], h.now);
    assert_eq!(out.reply[0].error, None);
    // A tombstone for the offset and one for the group.
    assert_eq!(out.effects.records.len(), 2);
    assert!(out.effects.records.iter().all(|r| r.value.is_none()));
    assert!(h.c.group_summary(GROUP).is_none());
    assert_eq!(h.c.describe_group(GROUP, 5).state, GroupState::Dead);
    assert_eq!(h.c.describe_group(GROUP, 6).error, Some(GroupError::GroupIdNotFound));
}

#[test]
fn describe_and_list_groups() {
    let mut h = Harness::new();
    let (a, _) = h.stable_single(b"x");
    h.commit("", -1, "t", 0, 1); // refused (members exist) — the group stays as it is
    let out = h.c.offset_commit(
        OffsetCommitRequest {
            group_id: "solo".into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            offsets: vec![OffsetCommitEntry {
                partition: TopicPartition::new("t", 0),
                offset: 1,
                leader_epoch: -1,
                metadata: None,
            }],
        },
        h.now,
    );
    assert_eq!(out.reply.partitions[0].error, None);

    let all = h.c.list_groups(&[], &[]);
    let listed: Vec<_> =
        all.iter().map(|g| (g.group_id.as_str(), g.state, g.protocol_type.as_str(), g.group_type)).collect();
    assert_eq!(
        listed,
        vec![(GROUP, GroupState::Stable, "consumer", "classic"), ("solo", GroupState::Empty, "", "classic")]
    );
    let stable = h.c.list_groups(&["STABLE".to_owned()], &[]);
    assert_eq!(stable.len(), 1);
    assert!(h.c.list_groups(&["Dead".to_owned()], &[]).is_empty());
    assert!(h.c.list_groups(&[], &["consumer".to_owned()]).is_empty());
    assert_eq!(h.c.list_groups(&[], &["Classic".to_owned()]).len(), 2);

    let described = h.c.describe_group(GROUP, 5);
    assert_eq!(described.members[0].member_id, a);
    assert_eq!(described.members[0].client_host, "/127.0.0.1");
    // Not Stable: no metadata, no assignment, no protocol.
    h.join_new();
    let preparing = h.c.describe_group(GROUP, 5);
    assert_eq!(preparing.state, GroupState::PreparingRebalance);
    assert_eq!(preparing.protocol, "");
    assert!(preparing.members.iter().all(|m| m.assignment.is_empty() && m.metadata.is_empty()));
}
