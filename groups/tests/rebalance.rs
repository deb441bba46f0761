//! The rebalance state machine with a fake clock: joins, syncs, heartbeats, timeouts, leaves,
//! static members, protocol selection.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use strata_groups::*;

#[test]
fn single_member_happy_path() {
    let mut h = Harness::new();
    let (id, token, reply) = h.join_new();
    let reply = h.join_reply(token, reply);
    assert_eq!(reply.error, None);
    assert_eq!(reply.generation_id, 1);
    assert_eq!(reply.leader, id);
    assert_eq!(reply.member_id, id);
    assert_eq!(reply.protocol_name.as_deref(), Some("range"));
    assert_eq!(reply.members.len(), 1);
    assert_eq!(reply.members[0].metadata, subscription(&["t"]));
    assert_eq!(h.state(), GroupState::CompletingRebalance);
    assert!(id.starts_with("client-"));

    let (token, sync) = h.sync_with(&id, 1, vec![assign(&id, b"p0")]);
    let sync = h.sync_reply(token, sync);
    assert_eq!(sync.error, None);
    assert_eq!(&sync.assignment[..], b"p0");
    assert_eq!(h.state(), GroupState::Stable);
    // The assignment is persisted as a group metadata record.
    assert_eq!(h.log.len(), 1);
    assert_eq!(h.heartbeat(&id, 1), None);

    let described = h.c.describe_group(GROUP, 5);
    assert_eq!(described.state, GroupState::Stable);
    assert_eq!(described.protocol, "range");
    assert_eq!(&described.members[0].assignment[..], b"p0");
    assert!(h.parked.is_empty());
}

#[test]
fn two_members_converge_to_one_generation() {
    let mut h = Harness::new();
    let (a, gen1) = h.stable_single(b"all");
    assert_eq!(gen1, 1);

    // B joins: the group starts a rebalance and B waits.
    let (b, b_token, b_reply) = h.join_new();
    assert!(b_reply.is_none());
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    // A learns of it through its heartbeat, and rejoins.
    assert_eq!(h.heartbeat(&a, 1), Some(GroupError::RebalanceInProgress));
    let (a_token, a_reply) = h.join(&a);
    let a_join = h.join_reply(a_token, a_reply);
    let b_join = h.join_reply(b_token, None);
    assert_eq!((a_join.generation_id, b_join.generation_id), (2, 2));
    assert_eq!(a_join.leader, a);
    assert_eq!(b_join.leader, a);
    assert_eq!(a_join.members.iter().map(|m| m.member_id.clone()).collect::<Vec<_>>(), vec![a.clone(), b.clone()]);
    assert!(b_join.members.is_empty());

    // B syncs first and waits for the leader's assignment.
    let (b_sync, immediate) = h.sync_with(&b, 2, vec![]);
    assert!(immediate.is_none());
    let (a_sync, a_immediate) = h.sync_with(&a, 2, vec![assign(&a, b"p0"), assign(&b, b"p1")]);
    assert_eq!(&h.sync_reply(a_sync, a_immediate).assignment[..], b"p0");
    assert_eq!(&h.sync_reply(b_sync, None).assignment[..], b"p1");
    assert_eq!(h.state(), GroupState::Stable);
    assert_eq!(h.heartbeat(&b, 2), None);
    assert_eq!(h.heartbeat(&a, 1), Some(GroupError::IllegalGeneration));
}

/// A small model of a consumer client: join (with the MEMBER_ID_REQUIRED round trip), sync,
/// heartbeat every second, rejoin when told to.
#[derive(Debug, Clone, PartialEq)]
enum Client {
    Idle,
    Joining(RequestToken),
    Syncing(RequestToken, i32),
    Stable(i32),
}

fn run_clients(h: &mut Harness, start_ms: &[i64], steps: usize) -> Vec<(String, Client)> {
    let mut clients: Vec<(String, Client)> = start_ms.iter().map(|_| (String::new(), Client::Idle)).collect();
    let start = h.now;
    for _ in 0..steps {
        h.advance(100);
        for (i, (id, state)) in clients.iter_mut().enumerate() {
            if h.now - start < start_ms[i] {
                continue;
            }
            match state.clone() {
                Client::Idle => {
                    let (token, reply) = h.join(id);
                    match reply {
                        None => *state = Client::Joining(token),
                        Some(r) if r.error == Some(GroupError::MemberIdRequired) => *id = r.member_id,
                        Some(r) if r.error.is_none() => {
                            let (t, s) = h.sync_with(id, r.generation_id, leader_assignments(&r));
                            on_sync(h, state, t, s, r.generation_id);
                        }
                        Some(r) => panic!("client {id} join failed: {:?}", r.error),
                    }
                }
                Client::Joining(token) => {
                    if let Some(Completed::Join { reply, .. }) = h.done.remove(&token) {
                        match reply.error {
                            None => {
                                let (t, s) = h.sync_with(id, reply.generation_id, leader_assignments(&reply));
                                on_sync(h, state, t, s, reply.generation_id);
                            }
                            Some(GroupError::RebalanceInProgress) => *state = Client::Idle,
                            Some(e) => panic!("client {id} join answered {e:?}"),
                        }
                    }
                }
                Client::Syncing(token, generation) => {
                    if let Some(Completed::Sync { reply, .. }) = h.done.remove(&token) {
                        *state = match reply.error {
                            None => Client::Stable(generation),
                            Some(GroupError::RebalanceInProgress) => Client::Idle,
                            Some(e) => panic!("client {id} sync answered {e:?}"),
                        };
                    }
                }
                Client::Stable(generation) => {
                    if (h.now - start) % 1000 == 0 {
                        match h.heartbeat(id, generation) {
                            None => {}
                            Some(GroupError::RebalanceInProgress | GroupError::IllegalGeneration) => {
                                *state = Client::Idle
                            }
                            Some(e) => panic!("client {id} heartbeat answered {e:?}"),
                        }
                    }
                }
            }
        }
    }
    clients
}

fn leader_assignments(reply: &JoinGroupReply) -> Vec<MemberAssignment> {
    reply
        .members
        .iter()
        .map(|m| MemberAssignment { member_id: m.member_id.clone(), assignment: Bytes::from(m.member_id.clone()) })
        .collect()
}

fn on_sync(h: &mut Harness, state: &mut Client, token: RequestToken, reply: Option<SyncGroupReply>, generation: i32) {
    *state = match reply {
        None => Client::Syncing(token, generation),
        Some(r) if r.error.is_none() => Client::Stable(generation),
        Some(r) if r.error == Some(GroupError::RebalanceInProgress) => Client::Idle,
        Some(r) => panic!("sync failed: {:?} (now {})", r.error, h.now),
    };
}

#[test]
fn many_members_joining_together_converge_without_unknown_member_loops() {
    // With Kafka's initial delay, twenty members starting within a second form generation 1.
    let mut h = Harness::with_config(CoordinatorConfig::default());
    let starts: Vec<i64> = (0..20).map(|i| i * 50).collect();
    let clients = run_clients(&mut h, &starts, 100);
    let summary = h.summary();
    assert_eq!(summary.state, GroupState::Stable);
    assert_eq!(summary.members.len(), 20);
    assert_eq!(summary.generation, 1);
    assert!(clients.iter().all(|(_, c)| *c == Client::Stable(1)), "{clients:?}");
    assert!(h.parked.is_empty());
}

#[test]
fn many_members_staggered_without_delay_converge() {
    // No initial delay and members arriving one by one: several rebalances, but they settle
    // on a single generation that every client holds, with every member assigned.
    let mut h = Harness::new();
    let starts: Vec<i64> = (0..8).map(|i| i * 700).collect();
    let clients = run_clients(&mut h, &starts, 400);
    let summary = h.summary();
    assert_eq!(summary.state, GroupState::Stable);
    assert_eq!(summary.members.len(), 8);
    assert!(clients.iter().all(|(_, c)| *c == Client::Stable(summary.generation)), "{clients:?}");
    let described = h.c.describe_group(GROUP, 5);
    for member in &described.members {
        assert_eq!(member.assignment, Bytes::from(member.member_id.clone()));
    }
}

#[test]
fn initial_delay_waits_and_extends_for_new_members() {
    let mut h = Harness::with_config(CoordinatorConfig { initial_rebalance_delay_ms: 3_000, ..config() });
    let (_, t1, r1) = h.join_new();
    assert!(r1.is_none());
    h.advance(2_000);
    let (_, t2, r2) = h.join_new();
    assert!(r2.is_none());
    // The first delay ends at 3 s, but a member came meanwhile: wait up to 3 s more.
    h.advance(1_500);
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert!(h.done.is_empty());
    h.advance(3_000);
    let (j1, j2) = (h.join_reply(t1, None), h.join_reply(t2, None));
    assert_eq!((j1.generation_id, j2.generation_id), (1, 1));
    assert_eq!(h.state(), GroupState::CompletingRebalance);
}

#[test]
fn member_id_required_flow() {
    let mut h = Harness::new();
    let (_, reply) = h.join("");
    let reply = reply.unwrap();
    assert_eq!(reply.error, Some(GroupError::MemberIdRequired));
    assert_eq!(reply.generation_id, -1);
    assert!(!reply.member_id.is_empty());
    // The pending id is not yet a member.
    assert_eq!(h.heartbeat(&reply.member_id, 0), Some(GroupError::UnknownMemberId));
    // Unused for a session timeout, it expires: joining with it then fails.
    h.advance(i64::from(SESSION_MS) + 1);
    let (_, late) = h.join(&reply.member_id);
    assert_eq!(late.unwrap().error, Some(GroupError::UnknownMemberId));

    // JoinGroup v3 and older get a member id without the round trip.
    let mut old = h.join_request("", None, protocols(&["range"]));
    old.version = 3;
    let (token, reply) = h.join_with(old);
    let reply = h.join_reply(token, reply);
    assert_eq!(reply.error, None);
    assert_eq!(reply.generation_id, 1);
}

#[test]
fn pending_member_holds_the_rebalance_until_it_joins() {
    let mut h = Harness::new();
    let (a, _) = h.stable_single(b"x");
    let (_, first) = h.join("");
    let pending = first.unwrap().member_id;
    let (a_token, a_reply) = h.join(&a); // the leader rejoins: a rebalance starts
    assert!(a_reply.is_none());
    h.advance(1_000);
    assert!(h.done.is_empty(), "the rebalance waits for the pending member");
    let (b_token, _) = h.join(&pending);
    assert_eq!(h.join_reply(a_token, None).generation_id, 2);
    assert_eq!(h.join_reply(b_token, None).generation_id, 2);
}

#[test]
fn session_timeout_expires_a_silent_member() {
    let mut h = Harness::new();
    let (a, _) = h.stable_single(b"x");
    let (b, a_join, _) = h.add_second(&a);
    let generation = a_join.generation_id;
    let (ta, _) = h.sync_with(&a, generation, vec![assign(&a, b"0"), assign(&b, b"1")]);
    h.sync_reply(ta, None);
    let (tb, rb) = h.sync_with(&b, generation, vec![]);
    h.sync_reply(tb, rb);
    assert_eq!(h.state(), GroupState::Stable);

    // A heartbeats every 3 s, B is silent: B expires after its 10 s session.
    for _ in 0..3 {
        h.advance(3_000);
        assert_eq!(h.heartbeat(&a, generation), None);
    }
    assert_eq!(h.summary().members.len(), 2);
    h.advance(1_001);
    assert_eq!(h.summary().members, vec![a.clone()]);
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert_eq!(h.heartbeat(&a, generation), Some(GroupError::RebalanceInProgress));
    assert_eq!(h.heartbeat(&b, generation), Some(GroupError::UnknownMemberId));
    let (token, reply) = h.join(&a);
    let reply = h.join_reply(token, reply);
    assert_eq!(reply.generation_id, generation + 1);
    assert_eq!(reply.members.len(), 1);
}

#[test]
fn rebalance_timeout_drops_members_that_do_not_rejoin() {
    let mut h = Harness::new();
    let (a, _) = h.stable_single(b"x");
    let (b, b_token, _) = h.join_new();
    // A never rejoins but keeps heartbeating (it is told REBALANCE_IN_PROGRESS each time).
    for _ in 0..9 {
        h.advance(3_000);
        assert_eq!(h.heartbeat(&a, 1), Some(GroupError::RebalanceInProgress));
    }
    assert!(h.done.is_empty());
    h.advance(3_001); // past the 30 s rebalance timeout
    let reply = h.join_reply(b_token, None);
    assert_eq!(reply.generation_id, 2);
    assert_eq!(reply.leader, b);
    assert_eq!(h.summary().members, vec![b]);
    assert_eq!(h.heartbeat(&a, 1), Some(GroupError::UnknownMemberId));
}

#[test]
fn rejoin_during_rebalance_answers_the_retried_join() {
    let mut h = Harness::new();
    let (a, _) = h.stable_single(b"x");
    let (_b, b_token, _) = h.join_new();
    // B retries its join (say, a client-side timeout) while the rebalance is still preparing.
    let b_id = h.summary().members[1].clone();
    let (b_retry, _) = h.join(&b_id);
    match h.done.remove(&b_token) {
        Some(Completed::Join { reply, .. }) => assert_eq!(reply.error, Some(GroupError::RebalanceInProgress)),
        other => panic!("first join not answered: {other:?}"),
    }
    let (a_token, _) = h.join(&a);
    assert_eq!(h.join_reply(a_token, None).generation_id, 2);
    assert_eq!(h.join_reply(b_retry, None).generation_id, 2);
    assert!(h.parked.is_empty());
}

#[test]
fn rejoin_with_same_metadata_while_completing_gets_the_current_generation() {
    let mut h = Harness::new();
    let (id, token, reply) = h.join_new();
    let first = h.join_reply(token, reply);
    assert_eq!(h.state(), GroupState::CompletingRebalance);
    let (_, again) = h.join(&id);
    let again = again.unwrap();
    assert_eq!(again.generation_id, first.generation_id);
    assert_eq!(again.members.len(), 1, "the leader gets the member list again");
    assert_eq!(h.state(), GroupState::CompletingRebalance);
}

#[test]
fn new_metadata_in_stable_group_triggers_a_rebalance() {
    let mut h = Harness::new();
    let (a, _) = h.stable_single(b"x");
    let (b, _, _) = h.add_second(&a);
    let (ta, _) = h.sync_with(&a, 2, vec![]);
    h.sync_reply(ta, None);
    // A follower rejoining with unchanged metadata: answered at once, no rebalance.
    let (_, same) = h.join(&b);
    assert_eq!(same.unwrap().generation_id, 2);
    assert_eq!(h.state(), GroupState::Stable);
    // With new metadata (a new subscription) the group rebalances.
    let mut changed = h.join_request(&b, None, protocols(&["range"]));
    changed.protocols[0].metadata = subscription(&["t", "u"]);
    let (_, reply) = h.join_with(changed);
    assert!(reply.is_none());
    assert_eq!(h.state(), GroupState::PreparingRebalance);
}

#[test]
fn leader_leaving_mid_sync_restarts_the_rebalance() {
    let mut h = Harness::new();
    let (a, _) = h.stable_single(b"x");
    let (b, a_join, _) = h.add_second(&a);
    assert_eq!(a_join.leader, a);
    let generation = a_join.generation_id;
    // B waits for the assignment; the leader leaves instead of syncing.
    let (b_sync, immediate) = h.sync_with(&b, generation, vec![]);
    assert!(immediate.is_none());
    let left = h.leave(vec![by_id(&a)]);
    assert_eq!(left.members[0].error, None);
    assert_eq!(h.sync_reply(b_sync, None).error, Some(GroupError::RebalanceInProgress));
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    // B rejoins and is the new generation's leader.
    let (token, reply) = h.join(&b);
    let reply = h.join_reply(token, reply);
    assert_eq!(reply.generation_id, generation + 1);
    assert_eq!(reply.leader, b);
    let (t, s) = h.sync_with(&b, reply.generation_id, vec![assign(&b, b"all")]);
    assert_eq!(&h.sync_reply(t, s).assignment[..], b"all");
}

/// A (leader) and B in a new generation, B parked in SyncGroup: (a, b, generation, B's token).
fn follower_waiting_in_sync(h: &mut Harness) -> (String, String, i32, RequestToken) {
    let (a, _) = h.stable_single(b"x");
    let (b, a_join, _) = h.add_second(&a);
    let (b_sync, immediate) = h.sync_with(&b, a_join.generation_id, vec![]);
    assert!(immediate.is_none());
    (a, b, a_join.generation_id, b_sync)
}

#[test]
fn leader_session_expiring_mid_sync_restarts_the_rebalance() {
    let mut h = Harness::new();
    // B waits in SyncGroup (which keeps its session alive); the leader goes silent.
    let (_, b, generation, b_sync) = follower_waiting_in_sync(&mut h);
    h.advance(i64::from(SESSION_MS) - 1);
    assert!(h.parked.contains(&b_sync));
    h.advance(1);
    assert_eq!(h.sync_reply(b_sync, None).error, Some(GroupError::RebalanceInProgress));
    assert_eq!(h.summary().members, vec![b.clone()]);
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    let (t, r) = h.join(&b);
    let reply = h.join_reply(t, r);
    assert_eq!((reply.generation_id, reply.leader.as_str()), (generation + 1, b.as_str()));
}

fn static_join(h: &Harness, member_id: &str, instance: &str, version: i16) -> JoinGroupRequest {
    let mut request = h.join_request(member_id, Some(instance), protocols(&["range"]));
    request.version = version;
    request
}

/// Two static members, Stable in generation 2, with assignments "A" and "B".
fn stable_static_pair(h: &mut Harness) -> (String, String) {
    let (ta, ra) = h.join_with(static_join(h, "", "i-a", 7));
    assert!(ra.is_none() || ra.as_ref().unwrap().error.is_none());
    let a_join = h.join_reply(ta, ra);
    let a = a_join.member_id.clone();
    assert!(a.starts_with("i-a-"), "static member ids start with the instance id: {a}");
    let (ts, rs) = h.sync_with(&a, 1, vec![assign(&a, b"A")]);
    h.sync_reply(ts, rs);
    let (tb, rb) = h.join_with(static_join(h, "", "i-b", 7));
    assert!(rb.is_none());
    let (ta2, _) = h.join_with(static_join(h, &a, "i-a", 7));
    let b = h.join_reply(tb, None).member_id;
    assert_eq!(h.join_reply(ta2, None).generation_id, 2);
    let (ts, _) = h.sync_with(&a, 2, vec![assign(&a, b"A"), assign(&b, b"B")]);
    h.sync_reply(ts, None);
    let (ts, rs) = h.sync_with(&b, 2, vec![]);
    assert_eq!(&h.sync_reply(ts, rs).assignment[..], b"B");
    (a, b)
}

#[test]
fn static_member_rejoins_without_rebalance() {
    let mut h = Harness::new();
    let (a, b) = stable_static_pair(&mut h);
    let records_before = h.log.len();

    // B restarts: a join with no member id but its instance id.
    let (t, reply) = h.join_with(static_join(&h, "", "i-b", 7));
    let reply = h.join_reply(t, reply);
    assert_eq!(reply.error, None);
    assert_eq!(reply.generation_id, 2, "no new generation");
    assert_ne!(reply.member_id, b);
    assert_eq!(reply.leader, a);
    assert!(reply.members.is_empty());
    assert_eq!(h.state(), GroupState::Stable);
    assert_eq!(h.log.len(), records_before + 1, "the new member id is persisted");

    // It syncs for its old assignment; the old id is fenced; A never noticed.
    let new_b = reply.member_id;
    let (ts, rs) = h.sync_with(&new_b, 2, vec![]);
    assert_eq!(&h.sync_reply(ts, rs).assignment[..], b"B");
    let fenced = h.c.heartbeat(
        HeartbeatRequest {
            group_id: GROUP.into(),
            generation_id: 2,
            member_id: b.clone(),
            group_instance_id: Some("i-b".into()),
        },
        h.now,
    );
    assert_eq!(fenced.reply.error, Some(GroupError::FencedInstanceId));
    assert_eq!(h.heartbeat(&a, 2), None);
    assert_eq!(h.summary().generation, 2);
}

#[test]
fn static_leader_rejoin_keeps_the_old_leader_id_before_v9_and_skips_assignment_from_v9() {
    let mut h = Harness::new();
    let (a, _b) = stable_static_pair(&mut h);
    let (t, reply) = h.join_with(static_join(&h, "", "i-a", 7));
    let old_style = h.join_reply(t, reply);
    assert_eq!(old_style.leader, a, "v<9: the old id, so the client does not act as leader");
    assert!(!old_style.skip_assignment);
    assert!(old_style.members.is_empty());

    let (t, reply) = h.join_with(static_join(&h, "", "i-a", 9));
    let v9 = h.join_reply(t, reply);
    assert_eq!(v9.leader, v9.member_id);
    assert!(v9.skip_assignment);
    assert_eq!(v9.members.len(), 2);
    assert_eq!(h.state(), GroupState::Stable);
    assert_eq!(h.summary().generation, 2);
}

#[test]
fn static_member_with_new_protocol_triggers_rebalance() {
    let mut h = Harness::new();
    stable_static_pair(&mut h);
    let mut request = static_join(&h, "", "i-b", 7);
    request.protocols = protocols(&["range", "roundrobin"]);
    // "range" stays selected: still no rebalance.
    let (t, reply) = h.join_with(request.clone());
    assert_eq!(h.join_reply(t, reply).generation_id, 2);
    assert_eq!(h.state(), GroupState::Stable);
}

/// [`stable_static_pair`], then a dynamic member joins: all three in generation 3, which is
/// CompletingRebalance.
fn static_pair_and_dynamic_third(h: &mut Harness) -> (String, String, String) {
    let (a, b) = stable_static_pair(h);
    let (c, c_token, _) = h.join_new();
    let (ta, _) = h.join_with(static_join(h, &a, "i-a", 7));
    let (tb, _) = h.join_with(static_join(h, &b, "i-b", 7));
    for t in [c_token, ta, tb] {
        assert_eq!(h.join_reply(t, None).generation_id, 3);
    }
    (a, b, c)
}

#[test]
fn static_member_replaced_while_completing_rebalances_and_fences_old_sync() {
    let mut h = Harness::new();
    let (a, b, c) = static_pair_and_dynamic_third(&mut h);
    // B syncs and waits.
    let (b_sync, _) = h.sync_with(&b, 3, vec![]);
    // B's process restarts before the leader syncs.
    let (t_new, r_new) = h.join_with(static_join(&h, "", "i-b", 7));
    assert!(r_new.is_none());
    assert_eq!(h.sync_reply(b_sync, None).error, Some(GroupError::FencedInstanceId));
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    let (ta, _) = h.join_with(static_join(&h, &a, "i-a", 7));
    let (tc, _) = h.join(&c);
    for t in [ta, tc, t_new] {
        assert_eq!(h.join_reply(t, None).generation_id, 4);
    }
}

#[test]
fn leave_group_batch() {
    let mut h = Harness::new();
    let (a, _b, c) = static_pair_and_dynamic_third(&mut h);
    let reply = h.leave(vec![
        by_id(&c),
        LeavingMember { member_id: String::new(), group_instance_id: Some("i-b".into()) },
        by_id("nobody"),
        LeavingMember { member_id: "wrong-id".into(), group_instance_id: Some("i-a".into()) },
        LeavingMember { member_id: String::new(), group_instance_id: Some("i-zzz".into()) },
    ]);
    let errors: Vec<_> = reply.members.iter().map(|m| m.error).collect();
    assert_eq!(
        errors,
        vec![
            None,
            None,
            Some(GroupError::UnknownMemberId),
            Some(GroupError::FencedInstanceId),
            Some(GroupError::UnknownMemberId)
        ]
    );
    assert_eq!(h.summary().members, vec![a.clone()]);
    assert_eq!(h.state(), GroupState::PreparingRebalance);

    // The last member leaving empties the group: a new generation with no members is stored.
    let records = h.log.len();
    let reply = h.leave(vec![by_id(&a)]);
    assert_eq!(reply.members[0].error, None);
    let summary = h.summary();
    assert_eq!(summary.state, GroupState::Empty);
    assert_eq!(summary.generation, 4);
    assert_eq!(h.log.len(), records + 1);
    assert!(h.parked.is_empty());
    // Unknown group: every member is unknown.
    let out = h.c.leave_group(LeaveGroupRequest { group_id: "other".into(), members: vec![by_id("x")] }, h.now);
    assert_eq!(out.reply.members[0].error, Some(GroupError::UnknownMemberId));
}

#[test]
fn protocol_selection_and_consistency() {
    let mut h = Harness::with_config(CoordinatorConfig { initial_rebalance_delay_ms: 1_000, ..config() });
    let mut tokens = Vec::new();
    for names in [&["range", "roundrobin"][..], &["roundrobin", "range"][..], &["roundrobin", "sticky", "range"][..]] {
        let (_, first) = h.join_with(h.join_request("", None, protocols(names)));
        let id = first.unwrap().member_id;
        let (t, r) = h.join_with(h.join_request(&id, None, protocols(names)));
        assert!(r.is_none());
        tokens.push(t);
    }
    // No common protocol with the group: rejected.
    let (_, r) = h.join_with(h.join_request("", None, protocols(&["sticky"])));
    assert_eq!(r.unwrap().error, Some(GroupError::InconsistentGroupProtocol));
    // Another protocol type: rejected.
    let mut other_type = h.join_request("", None, protocols(&["range"]));
    other_type.protocol_type = "connect".into();
    let (_, r) = h.join_with(other_type);
    assert_eq!(r.unwrap().error, Some(GroupError::InconsistentGroupProtocol));

    // The initial delay is extended once, since members arrived during it.
    h.advance(1_000);
    assert!(h.done.is_empty());
    h.advance(1_000);
    for t in tokens {
        assert_eq!(h.join_reply(t, None).protocol_name.as_deref(), Some("roundrobin"), "two votes of three");
    }
}

#[test]
fn join_validation_errors() {
    let mut h = Harness::new();
    let mut bad = h.join_request("", None, protocols(&["range"]));
    bad.session_timeout_ms = 5_999;
    assert_eq!(h.join_with(bad).1.unwrap().error, Some(GroupError::InvalidSessionTimeout));
    let mut bad = h.join_request("", None, protocols(&["range"]));
    bad.session_timeout_ms = 1_800_001;
    assert_eq!(h.join_with(bad).1.unwrap().error, Some(GroupError::InvalidSessionTimeout));
    let mut bad = h.join_request("", None, vec![]);
    bad.group_id = String::new();
    assert_eq!(h.join_with(bad).1.unwrap().error, Some(GroupError::InvalidGroupId));
    let empty_protocols = h.join_request("", None, vec![]);
    assert_eq!(h.join_with(empty_protocols).1.unwrap().error, Some(GroupError::InconsistentGroupProtocol));
    // A member id for a group that does not exist.
    assert_eq!(h.join("ghost").1.unwrap().error, Some(GroupError::UnknownMemberId));
    // None of these left a group behind.
    assert!(h.c.list_groups(&[], &[]).is_empty());
}

#[test]
fn group_max_size() {
    let mut h = Harness::with_config(CoordinatorConfig { group_size_max: 1, ..config() });
    h.stable_single(b"x");
    let (_, reply) = h.join("");
    assert_eq!(reply.unwrap().error, Some(GroupError::GroupMaxSizeReached));
}

#[test]
fn sync_and_heartbeat_errors() {
    let mut h = Harness::new();
    let (a, generation) = h.stable_single(b"x");
    assert_eq!(h.sync_with(&a, generation + 1, vec![]).1.unwrap().error, Some(GroupError::IllegalGeneration));
    assert_eq!(h.sync_with("ghost", generation, vec![]).1.unwrap().error, Some(GroupError::UnknownMemberId));
    assert_eq!(h.heartbeat("ghost", generation), Some(GroupError::UnknownMemberId));
    // Stable: a repeated SyncGroup gets the stored assignment.
    assert_eq!(&h.sync_with(&a, generation, vec![]).1.unwrap().assignment[..], b"x");
    // Mismatched protocol name (v5+).
    let out = h.c.sync_group(
        77,
        SyncGroupRequest {
            group_id: GROUP.into(),
            generation_id: generation,
            member_id: a.clone(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: Some("roundrobin".into()),
            assignments: vec![],
        },
        h.now,
    );
    assert_eq!(out.reply.unwrap().error, Some(GroupError::InconsistentGroupProtocol));
    // During a rebalance: SyncGroup is told to rejoin.
    h.join_new();
    assert_eq!(h.sync_with(&a, generation, vec![]).1.unwrap().error, Some(GroupError::RebalanceInProgress));
    // Unknown group.
    let out = h.c.heartbeat(
        HeartbeatRequest { group_id: "nope".into(), generation_id: 1, member_id: a, group_instance_id: None },
        h.now,
    );
    assert_eq!(out.reply.error, Some(GroupError::UnknownMemberId));
}

#[test]
fn next_deadline_tracks_sessions() {
    let mut h = Harness::new();
    h.advance(0); // schedules the first retention pass, 10 minutes out
    let (a, generation) = h.stable_single(b"x");
    let deadline = h.c.next_deadline_ms().unwrap();
    assert_eq!(deadline, h.now + i64::from(SESSION_MS));
    h.advance(5_000);
    assert_eq!(h.heartbeat(&a, generation), None);
    assert_eq!(h.c.next_deadline_ms().unwrap(), h.now + i64::from(SESSION_MS));
}

#[test]
fn member_that_never_syncs_is_dropped_after_the_rebalance_timeout() {
    let mut h = Harness::new();
    // B syncs and waits; the leader A heartbeats (valid in CompletingRebalance) but never syncs.
    let (a, b, generation, b_sync) = follower_waiting_in_sync(&mut h);
    for _ in 0..9 {
        h.advance(3_000);
        assert_eq!(h.heartbeat(&a, generation), None);
    }
    assert!(h.parked.contains(&b_sync));
    h.advance(3_000); // 30 s after the join phase: the rebalance timeout
    assert_eq!(h.sync_reply(b_sync, None).error, Some(GroupError::RebalanceInProgress));
    assert_eq!(h.summary().members, vec![b.clone()]);
    let (t, r) = h.join(&b);
    let reply = h.join_reply(t, r);
    assert_eq!((reply.generation_id, reply.leader.as_str()), (generation + 1, b.as_str()));
}
