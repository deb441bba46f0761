//! Replaying `__consumer_offsets` rebuilds the durable state; snapshots compact it.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use strata_groups::*;

#[test]
fn replay_restores_groups_members_and_offsets() {
    let mut h = Harness::new();
    let (a, _) = h.stable_single(b"x");
    let (b, a_join, _) = h.add_second(&a);
    let generation = a_join.generation_id;
    let (t, _) = h.sync_with(&a, generation, vec![assign(&a, b"pa"), assign(&b, b"pb")]);
    h.sync_reply(t, None);
    h.commit(&a, generation, "t", 0, 100);
    h.commit(&b, generation, "t", 1, 200);
    h.commit(&b, generation, "t", 1, 201);

    let restart = h.now + 5_000;
    let mut replayed = Harness::replay(&h.log, config(), restart);
    assert_eq!(replayed.snapshot(), h.c.snapshot());
    let summary = replayed.group_summary(GROUP).unwrap();
    assert_eq!(summary.state, GroupState::Stable);
    assert_eq!(summary.generation, generation);
    assert_eq!(summary.leader.as_deref(), Some(a.as_str()));
    assert_eq!(summary.members, vec![a.clone(), b.clone()]);
    assert_eq!(replayed.describe_group(GROUP, 5), h.c.describe_group(GROUP, 5));
    assert_eq!(replayed.offset_fetch(GROUP, None, false), h.c.offset_fetch(GROUP, None, false));
    assert_eq!(replayed.offset_fetch(GROUP, None, false).partitions[1].offset, 201);

    // The members carry on with their generation; one that never comes back expires.
    let beat = |c: &mut Coordinator, member: &str, now| {
        c.heartbeat(
            HeartbeatRequest {
                group_id: GROUP.into(),
                generation_id: generation,
                member_id: member.into(),
                group_instance_id: None,
            },
            now,
        )
        .reply
        .error
    };
    assert_eq!(beat(&mut replayed, &a, restart + 1_000), None);
    let sync = replayed.sync_group(
        5,
        SyncGroupRequest {
            group_id: GROUP.into(),
            generation_id: generation,
            member_id: b.clone(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![],
        },
        restart + 1_000,
    );
    assert_eq!(&sync.reply.unwrap().assignment[..], b"pb");
    assert_eq!(beat(&mut replayed, &a, restart + 9_000), None);
    replayed.tick(restart + 11_001);
    assert_eq!(replayed.group_summary(GROUP).unwrap().members, vec![a.clone()]);
    assert_eq!(beat(&mut replayed, &a, restart + 11_002), Some(GroupError::RebalanceInProgress));
}

#[test]
fn tombstones_delete_on_replay() {
    let mut h = Harness::new();
    let (a, generation) = h.stable_single(b"x");
    h.commit(&a, generation, "t", 0, 1);
    h.commit(&a, generation, "u", 0, 1);
    h.leave(vec![by_id(&a)]);
    let out = h.c.offset_delete(GROUP, &[TopicPartition::new("u", 0)], h.now);
    h.absorb(out.effects);
    let replayed = Harness::replay(&h.log, config(), h.now);
    assert_eq!(replayed.offset_fetch(GROUP, None, false).partitions.len(), 1);
    assert_eq!(replayed.group_summary(GROUP).unwrap().state, GroupState::Empty);

    let out = h.c.delete_groups(&[GROUP.to_owned()], h.now);
    h.absorb(out.effects);
    let replayed = Harness::replay(&h.log, config(), h.now);
    assert!(replayed.group_summary(GROUP).is_none());
    assert!(replayed.snapshot().is_empty());
}

#[test]
fn snapshot_bounds_replay_to_live_state() {
    let mut h = Harness::new();
    let (a, generation) = h.stable_single(b"x");
    for offset in 0..1_000 {
        h.commit(&a, generation, "t", (offset % 4) as i32, offset);
    }
    assert_eq!(h.log.len(), 1_001);
    let snapshot = h.c.snapshot();
    assert_eq!(snapshot.len(), 1 + 4, "one group record and one per partition");
    let replayed = Harness::replay(&snapshot, config(), h.now);
    assert_eq!(replayed.offset_fetch(GROUP, None, false), h.c.offset_fetch(GROUP, None, false));
    assert_eq!(replayed.snapshot(), snapshot);
}

#[test]
fn unknown_record_types_are_skipped_and_corrupt_ones_reported() {
    let mut replayer = Coordinator::replayer(config(), Box::new(SeededMemberIds::new(0)));
    // Key version 3: a Kafka 4 consumer-group record this coordinator does not use.
    replayer.apply(&[0, 3, 0, 1, b'g'], Some(&[0, 0, 1])).unwrap();
    assert!(replayer.apply(&[0, 1, 0, 9], Some(&[])).is_err());
    assert_eq!(replayer.counts(), (1, 1));
    assert!(replayer.finish(0).snapshot().is_empty());
}

/// One step of a random workload.
#[derive(Debug, Clone)]
enum Op {
    JoinNew,
    JoinStatic(u8),
    Rejoin(u8),
    Sync(u8),
    Heartbeat(u8),
    Leave(u8),
    Commit(u8, i32, i64),
    Standalone(i32, i64),
    Advance(i64),
    DeleteGroup,
    DeleteOffset(i32),
    /// A transactional commit by producer `.1` (member picked by `.0`, or none when `.0` is even).
    TxnCommit(u8, i64, i32, i64),
    EndTxn(i64, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::JoinNew),
        2 => (0u8..3).prop_map(Op::JoinStatic),
        3 => any::<u8>().prop_map(Op::Rejoin),
        4 => any::<u8>().prop_map(Op::Sync),
        2 => any::<u8>().prop_map(Op::Heartbeat),
        1 => any::<u8>().prop_map(Op::Leave),
        3 => (any::<u8>(), 0i32..3, 0i64..1000).prop_map(|(m, p, o)| Op::Commit(m, p, o)),
        1 => (0i32..3, 0i64..1000).prop_map(|(p, o)| Op::Standalone(p, o)),
        4 => prop_oneof![Just(100i64), Just(3_000), Just(11_000), Just(40_000), Just(700_000)].prop_map(Op::Advance),
        1 => Just(Op::DeleteGroup),
        1 => (0i32..3).prop_map(Op::DeleteOffset),
        3 => (any::<u8>(), 0i64..3, 0i32..3, 0i64..1000).prop_map(|(m, pid, p, o)| Op::TxnCommit(m, pid, p, o)),
        2 => (0i64..3, any::<bool>()).prop_map(|(pid, commit)| Op::EndTxn(pid, commit)),
    ]
}

fn pick(h: &Harness, k: u8) -> String {
    let members = h.c.group_summary(GROUP).map(|s| s.members).unwrap_or_default();
    if members.is_empty() || k % 8 == 7 { format!("ghost-{k}") } else { members[k as usize % members.len()].clone() }
}

fn apply(h: &mut Harness, op: &Op) {
    let generation = h.c.group_summary(GROUP).map_or(-1, |s| s.generation);
    match op {
        Op::JoinNew => {
            h.join_new();
        }
        Op::JoinStatic(i) => {
            let instance = format!("i{i}");
            let request = h.join_request("", Some(&instance), protocols(&["range"]));
            h.join_with(request);
        }
        Op::Rejoin(k) => {
            let id = pick(h, *k);
            h.join(&id);
        }
        Op::Sync(k) => {
            let id = pick(h, *k);
            let members = h.c.group_summary(GROUP).map(|s| s.members).unwrap_or_default();
            let assignments = members.iter().map(|m| assign(m, b"p")).collect();
            h.sync_with(&id, generation, assignments);
        }
        Op::Heartbeat(k) => {
            let id = pick(h, *k);
            h.heartbeat(&id, generation);
        }
        Op::Leave(k) => {
            let id = pick(h, *k);
            h.leave(vec![by_id(&id)]);
        }
        Op::Commit(k, p, o) => {
            let id = pick(h, *k);
            h.commit(&id, generation, "t", *p, *o);
        }
        Op::Standalone(p, o) => {
            h.commit("", -1, "s", *p, *o);
        }
        Op::Advance(ms) => h.advance(*ms),
        Op::DeleteGroup => {
            let out = h.c.delete_groups(&[GROUP.to_owned()], h.now);
            h.absorb(out.effects);
        }
        Op::DeleteOffset(p) => {
            let out = h.c.offset_delete(GROUP, &[TopicPartition::new("t", *p), TopicPartition::new("s", *p)], h.now);
            h.absorb(out.effects);
        }
        Op::TxnCommit(k, producer_id, p, o) => {
            if k % 2 == 0 {
                h.txn_commit(*producer_id, commit_request("", -1, "t", *p, *o));
            } else {
                let id = pick(h, *k);
                h.txn_commit(*producer_id, commit_request(&id, generation, "t", *p, *o));
            }
        }
        Op::EndTxn(producer_id, commit) => {
            h.end_txn(*producer_id, *commit);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Whatever the clients do (transactional commits and their ends included): replaying every
    /// record and marker emitted gives the live durable state,
    /// a snapshot replays to itself, and once time passes no request stays parked.
    #[test]
    fn replay_of_emitted_records_matches_live_state(ops in proptest::collection::vec(op(), 1..60)) {
        let config = CoordinatorConfig {
            offsets_retention_ms: 600_000,
            offsets_retention_check_interval_ms: 60_000,
            ..config()
        };
        let mut h = Harness::with_config(config.clone());
        for op in &ops {
            apply(&mut h, op);
        }
        let live = h.c.snapshot();
        let replayed = h.replay_log(config.clone(), h.now);
        prop_assert_eq!(&replayed.snapshot(), &live);
        let all: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new("t", p)).collect();
        for stable in [false, true] {
            prop_assert_eq!(
                replayed.offset_fetch(GROUP, Some(&all), stable),
                h.c.offset_fetch(GROUP, Some(&all), stable)
            );
        }
        let from_snapshot = Harness::replay(&live, config, h.now);
        prop_assert_eq!(&from_snapshot.snapshot(), &live);

        // Liveness: sessions and rebalance timeouts answer every parked request.
        h.advance(400_000);
        h.advance(400_000);
        prop_assert!(h.parked.is_empty(), "still parked: {:?}", h.parked);
    }
}

#[test]
fn a_partition_unloaded_and_loaded_again_from_the_log_comes_back_whole() {
    let mut h = Harness::new();
    let (a, generation) = h.stable_single(b"x");
    h.commit(&a, generation, "t", 0, 42);
    let before = (h.c.group_summary(GROUP), h.c.offset_fetch(GROUP, None, false));
    let partition = h.c.partition_for(GROUP);
    let other = (partition + 1) % config().offsets_topic_partitions;
    assert_eq!(h.c.unload_partition(other), 0, "another partition holds none of its groups");
    assert_eq!(h.c.unload_partition(partition), 1, "the group goes with its partition");
    assert_eq!(h.c.group_summary(GROUP), None);
    h.c.absorb(Harness::replay(&h.log, config(), h.now));
    assert_eq!((h.c.group_summary(GROUP), h.c.offset_fetch(GROUP, None, false)), before);
}
