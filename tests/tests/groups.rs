//! Consumer groups end to end with librdkafka (issue 4): partitions shared among the members of a
//! group on a 4-partition topic, rebalances when members join, leave and die, committed offsets
//! that survive a restart, static membership and the cooperative-sticky protocol.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use strata_tests::Broker;
use strata_tests::clients;
use strata_tests::data;

const TOPIC: &str = "shared";
const PARTITIONS: i32 = 4;
const REBALANCE_TIMEOUT: Duration = Duration::from_secs(30);

/// Records rebalance callbacks so tests can tell whether (and how much) a member was disturbed.
#[derive(Default)]
struct Events {
    assigned: Mutex<Vec<BTreeSet<i32>>>,
    revoked: Mutex<Vec<BTreeSet<i32>>>,
}

fn partitions_of(list: &TopicPartitionList) -> BTreeSet<i32> {
    list.elements().iter().map(|e| e.partition()).collect()
}

impl ClientContext for Events {}

impl ConsumerContext for Events {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => self.assigned.lock().expect("lock").push(partitions_of(list)),
            Rebalance::Revoke(list) => self.revoked.lock().expect("lock").push(partitions_of(list)),
            Rebalance::Error(_) => {}
        }
    }
}

type Member = BaseConsumer<Events>;

fn member(bootstrap: &str, group: &str, settings: &[(&str, &str)]) -> Member {
    let mut config = clients::client_config(bootstrap);
    config
        .set("group.id", group)
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    for (key, value) in settings {
        config.set(*key, *value);
    }
    let consumer: Member = config.create_with_context(Events::default()).expect("create group consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    consumer
}

fn assignment(consumer: &Member) -> BTreeSet<i32> {
    partitions_of(&consumer.assignment().expect("assignment"))
}

/// Polls every member (keeping what they consume, as `(member index, partition, offset)`) until
/// `done` holds or the timeout passes.
fn pump(members: &[&Member], what: &str, done: impl Fn() -> bool) -> Vec<(usize, i32, i64)> {
    let deadline = Instant::now() + REBALANCE_TIMEOUT;
    let mut consumed = Vec::new();
    loop {
        for (i, m) in members.iter().enumerate() {
            if let Some(Ok(message)) = m.poll(Duration::from_millis(50)) {
                consumed.push((i, message.partition(), message.offset()));
            }
        }
        if done() {
            return consumed;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached in {REBALANCE_TIMEOUT:?}; assignments {:?}",
            members.iter().map(|m| assignment(m)).collect::<Vec<_>>()
        );
    }
}

fn all_partitions() -> BTreeSet<i32> {
    (0..PARTITIONS).collect()
}

fn setup(messages: usize) -> Broker {
    let broker = Broker::start_default();
    clients::create_topic(broker.bootstrap(), TOPIC, PARTITIONS);
    if messages > 0 {
        let data = data::generate(TOPIC, messages, PARTITIONS);
        clients::produce_all(broker.bootstrap(), TOPIC, &data, &[("acks", "all")]);
    }
    broker
}

#[test]
fn second_member_splits_the_partitions() {
    let broker = setup(0);
    let a = member(broker.bootstrap(), "split", &[]);
    pump(&[&a], "first member gets everything", || assignment(&a) == all_partitions());
    let b = member(broker.bootstrap(), "split", &[]);
    pump(&[&a, &b], "two members split 2/2", || assignment(&a).len() == 2 && assignment(&b).len() == 2);
    let (pa, pb) = (assignment(&a), assignment(&b));
    assert!(pa.is_disjoint(&pb), "overlapping assignments {pa:?} {pb:?}");
    assert_eq!(pa.union(&pb).copied().collect::<BTreeSet<_>>(), all_partitions());
}

#[test]
fn member_that_closes_is_taken_over_at_once() {
    let broker = setup(0);
    // A long session timeout: takeover within it proves the LeaveGroup was honoured.
    let settings = [("session.timeout.ms", "45000")];
    let a = member(broker.bootstrap(), "leave", &settings);
    let b = member(broker.bootstrap(), "leave", &settings);
    pump(&[&a, &b], "two members split 2/2", || assignment(&a).len() == 2 && assignment(&b).len() == 2);
    let closed_at = Instant::now();
    drop(b); // close: LeaveGroup
    pump(&[&a], "remaining member takes everything", || assignment(&a) == all_partitions());
    assert!(closed_at.elapsed() < Duration::from_secs(20), "takeover took {:?}", closed_at.elapsed());
}

#[test]
fn killed_member_is_taken_over_after_the_session_timeout_without_loss_or_rereads() {
    let messages = 4_000;
    // The topic stays empty until the group has settled, so that neither member has read
    // anything before the partitions are split.
    let broker = setup(0);
    // The child consumes slowly and commits each message; it is SIGKILLed mid-topic.
    let mut child = Command::new(env!("CARGO_BIN_EXE_group_child"))
        .args([broker.bootstrap(), "kill", TOPIC, "6000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn group_child");
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let a = member(broker.bootstrap(), "kill", &[]);
    let mut child_committed: HashMap<i32, i64> = HashMap::new();
    let mut child_consumed = 0;
    let mut child_last_consumed: HashMap<i32, i64> = HashMap::new();
    let mut a_consumed = Vec::new();
    let mut produced = false;
    let deadline = Instant::now() + REBALANCE_TIMEOUT;
    // Run until both share the topic and the child has committed a fair amount.
    while !(child_committed.len() >= 2 && child_consumed >= 200) {
        assert!(
            Instant::now() < deadline,
            "group never settled: A has {:?}, child committed {child_committed:?}",
            assignment(&a)
        );
        if !produced && assignment(&a).len() == 2 {
            let data = data::generate(TOPIC, messages, PARTITIONS);
            clients::produce_all(broker.bootstrap(), TOPIC, &data, &[("acks", "all")]);
            produced = true;
        }
        if let Some(Ok(m)) = a.poll(Duration::from_millis(20)) {
            a_consumed.push((m.partition(), m.offset()));
            a.commit_message(&m, CommitMode::Sync).expect("commit");
        }
        while let Ok(line) = rx.try_recv() {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["consumed", p, o] => {
                    child_consumed += 1;
                    child_last_consumed.insert(p.parse().expect("partition"), o.parse().expect("offset"));
                }
                ["committed", p, o] => {
                    child_committed.insert(p.parse().expect("partition"), o.parse().expect("offset"));
                }
                _ => panic!("unexpected child line {line:?}"),
            }
        }
    }
    assert_eq!(assignment(&a).len(), 2, "A's share when the child is killed");
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        match line.split(' ').collect::<Vec<_>>().as_slice() {
            ["committed", p, o] => {
                child_committed.insert(p.parse().expect("partition"), o.parse().expect("offset"));
            }
            ["consumed", p, o] => {
                child_last_consumed.insert(p.parse().expect("partition"), o.parse().expect("offset"));
            }
            _ => {}
        }
    }
    let child_partitions: BTreeSet<i32> = all_partitions().difference(&assignment(&a)).copied().collect();
    let killed_at = Instant::now();
    // A takes everything over after the session timeout, and reads to the end.
    let end = i64::try_from(messages).expect("fits") / i64::from(PARTITIONS);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut next_per_partition: HashMap<i32, i64> = HashMap::new();
    let mut first_after_takeover: HashMap<i32, i64> = HashMap::new();
    for (p, o) in &a_consumed {
        next_per_partition.insert(*p, o + 1);
    }
    // A dead member's partition it had already read to the end leaves nothing to take over.
    for p in &child_partitions {
        if child_committed.get(p) == Some(&end) {
            next_per_partition.insert(*p, end);
        }
    }
    assert!(
        child_partitions.iter().any(|p| child_committed.get(p).copied().unwrap_or(0) < end),
        "the child finished its partitions before the kill: {child_committed:?}"
    );
    while !(0..PARTITIONS).all(|p| next_per_partition.get(&p) == Some(&end)) {
        assert!(
            Instant::now() < deadline,
            "takeover incomplete after {:?}: read up to {next_per_partition:?} (end {end}); A's assignment {:?}, \
             position {:?}; child had {child_partitions:?}, committed {child_committed:?}",
            killed_at.elapsed(),
            assignment(&a),
            a.position().map(|p| p.elements().iter().map(|e| (e.partition(), e.offset())).collect::<Vec<_>>())
        );
        if let Some(Ok(m)) = a.poll(Duration::from_millis(50)) {
            let (p, o) = (m.partition(), m.offset());
            if child_partitions.contains(&p) {
                first_after_takeover.entry(p).or_insert(o);
            } else {
                assert_eq!(next_per_partition.get(&p).copied().unwrap_or(0), o, "own partition {p} re-read or skipped");
            }
            next_per_partition.insert(p, o + 1);
            a.commit_message(&m, CommitMode::Sync).expect("commit");
        }
    }
    let took = killed_at.elapsed();
    assert!(took >= Duration::from_secs(3), "takeover after {took:?}: before the session timeout?");
    for p in &child_partitions {
        let committed = child_committed.get(p).copied().unwrap_or(0);
        if committed == end {
            continue;
        }
        // The child prints "committed" after its synchronous commit returns, so a SIGKILL between
        // the two leaves the broker one commit ahead of what was printed: the last message the
        // child said it consumed may be committed too.
        let in_flight_commit = child_last_consumed.get(p).map(|o| o + 1);
        let resumed = first_after_takeover.get(p).copied();
        assert!(
            resumed == Some(committed) || (resumed.is_some() && resumed == in_flight_commit),
            "partition {p}: the new owner resumed at {resumed:?}; the dead member had committed {committed} \
             (or {in_flight_commit:?} if its last commit landed unprinted)"
        );
    }
}

#[test]
fn committed_offsets_survive_a_broker_restart() {
    let mut broker = setup(400);
    {
        let a = member(broker.bootstrap(), "durable-group", &[]);
        pump(&[&a], "member gets everything", || assignment(&a) == all_partitions());
        let mut commit = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            commit.add_partition_offset(TOPIC, p, Offset::Offset(i64::from(10 + p))).expect("tpl");
        }
        a.commit(&commit, CommitMode::Sync).expect("commit");
    }
    broker.stop_ok();
    broker.restart();
    let b = member(broker.bootstrap(), "durable-group", &[]);
    let mut wanted = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        wanted.add_partition(TOPIC, p);
    }
    let committed = b.committed_offsets(wanted, clients::CLIENT_TIMEOUT).expect("OffsetFetch after restart");
    for p in 0..PARTITIONS {
        let element = committed.find_partition(TOPIC, p).expect("partition");
        assert_eq!(element.offset(), Offset::Offset(i64::from(10 + p)), "committed offset of {p} after restart");
    }
    // Consumption resumes there.
    let consumed = pump(&[&b], "resume at the committed offsets", || assignment(&b) == all_partitions());
    let consumed =
        [consumed, pump(&[&b], "one message per partition", || false_after(Duration::from_secs(3)))].concat();
    let mut first: HashMap<i32, i64> = HashMap::new();
    for (_, p, o) in consumed {
        first.entry(p).or_insert(o);
    }
    for p in 0..PARTITIONS {
        assert_eq!(first.get(&p).copied(), Some(i64::from(10 + p)), "first offset read from partition {p}");
    }
}

/// A `done` condition that becomes true once `d` has passed since the first call.
fn false_after(d: Duration) -> bool {
    thread_local!(static START: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) });
    START.with(|start| {
        let begun = start.get().unwrap_or_else(|| {
            let now = Instant::now();
            start.set(Some(now));
            now
        });
        if begun.elapsed() >= d {
            start.set(None);
            true
        } else {
            false
        }
    })
}

#[test]
fn static_member_rejoins_without_a_rebalance() {
    let broker = setup(0);
    let a = member(broker.bootstrap(), "static", &[("group.instance.id", "static-a"), ("session.timeout.ms", "30000")]);
    let b = member(broker.bootstrap(), "static", &[("group.instance.id", "static-b"), ("session.timeout.ms", "30000")]);
    pump(&[&a, &b], "two static members split 2/2", || assignment(&a).len() == 2 && assignment(&b).len() == 2);
    let (a_before, b_before) = (assignment(&a), assignment(&b));
    let a_rebalances =
        a.context().assigned.lock().expect("lock").len() + a.context().revoked.lock().expect("lock").len();
    drop(b); // a static member's close sends no LeaveGroup
    let b2 =
        member(broker.bootstrap(), "static", &[("group.instance.id", "static-b"), ("session.timeout.ms", "30000")]);
    pump(&[&a, &b2], "static member back with its partitions", || assignment(&b2) == b_before);
    pump(&[&a, &b2], "quiet period", || false_after(Duration::from_secs(3)));
    assert_eq!(assignment(&a), a_before, "the other member's assignment did not change");
    let a_after = a.context().assigned.lock().expect("lock").len() + a.context().revoked.lock().expect("lock").len();
    assert_eq!(a_after, a_rebalances, "the other member saw no rebalance");
}

#[test]
fn cooperative_sticky_moves_only_what_it_must() {
    let broker = setup(0);
    let settings = [("partition.assignment.strategy", "cooperative-sticky")];
    let a = member(broker.bootstrap(), "coop", &settings);
    pump(&[&a], "first member gets everything", || assignment(&a) == all_partitions());
    let b = member(broker.bootstrap(), "coop", &settings);
    pump(&[&a, &b], "two members split 2/2", || assignment(&a).len() == 2 && assignment(&b).len() == 2);
    let revoked = a.context().revoked.lock().expect("lock").clone();
    assert!(!revoked.is_empty(), "A gave up partitions through an incremental revoke");
    for r in &revoked {
        assert!(r.len() <= 2, "A had {r:?} revoked at once: an eager rebalance, not a cooperative one");
    }
    let (pa, pb) = (assignment(&a), assignment(&b));
    assert!(pa.is_disjoint(&pb));
    assert_eq!(pa.union(&pb).copied().collect::<BTreeSet<_>>(), all_partitions());
}
