//! Replication under a sequence of faults (issue 14), with a history check: librdkafka's
//! idempotent acks=all producer and an assigned consumer run throughout while, in turn, the
//! leader of a partition is SIGKILLed (and restarted), the leader of another is frozen with
//! SIGSTOP for longer than the session timeout (and resumed, a stale leader that must not keep
//! acknowledging writes), the leader of a third is cut off from the other nodes by a network
//! partition (each broker runs in a network namespace of its own, `strata_tests::netns`) and
//! healed, the active controller is cut off (it must stop acting as one while another is elected
//! and takes metadata changes), and every broker is restarted in turn (SIGTERM). At the end every
//! acknowledged message is in the log at its acknowledged offset, no message is there twice,
//! each partition keeps the send order, and everything the consumer read during the faults is
//! what the final log holds at that offset (`strata_tests::history`). The time from each fault
//! to a new leader taking writes is printed. `STRATA_REPLICATION_FAULT_ROUNDS` repeats the
//! sequence (1 in CI).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::Consumer;
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use strata_testkit::batches::Batch;
use strata_testkit::codes;
use strata_testkit::raw::RawConn;
use strata_testkit::requests;
use strata_tests::cluster::{Cluster, TEST_SESSION_TIMEOUT_MS, eventually, partition_states};
use strata_tests::{clients, data, history};

const TOPIC: &str = "history";
const PARTITIONS: i32 = 3;
/// How long a change may take to reach every broker.
const CONVERGE: Duration = Duration::from_secs(60);
/// Messages available to the producer; it sends one every `PACE` until the faults are over.
const MESSAGES_MAX: usize = 200_000;
const PACE: Duration = Duration::from_millis(2);

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Each partition's (leader, leader epoch, in-sync replicas) as broker `bootstrap` tells it.
fn partitions(bootstrap: &str) -> Vec<(i32, i32, BTreeSet<i32>)> {
    partition_states(bootstrap, TOPIC)
}

/// The address of a live broker other than `avoid`.
fn other_than(cluster: &Cluster, avoid: i32) -> String {
    let node = if avoid == 1 { 2 } else { 1 };
    cluster.brokers[usize::try_from(node - 1).expect("node id")].bootstrap().to_string()
}

fn all_in_sync(cluster: &Cluster, what: &str) {
    let all = BTreeSet::from([1, 2, 3]);
    let bootstrap = other_than(cluster, 0);
    eventually(CONVERGE, what, || {
        let known = partitions(&bootstrap);
        (known.len() == 3 && known.iter().all(|(l, _, isr)| *l >= 1 && *isr == all)).then_some(())
    });
}

/// Waits until `partition` has a leader other than `old` that takes an acks=all write; returns
/// how long that took from `since`.
fn new_leader_takes_writes(cluster: &Cluster, partition: i32, old: i32, since: Instant) -> (i32, Duration) {
    let bootstrap = other_than(cluster, old);
    let index = usize::try_from(partition).expect("partition");
    eventually(CONVERGE, "a new leader takes writes", || {
        let (leader, _, _) = partitions(&bootstrap).get(index)?.clone();
        if leader < 1 || leader == old {
            return None;
        }
        let address = cluster.brokers[usize::try_from(leader - 1).expect("node id")].bootstrap();
        let probe = Batch::new().numbered(1, None, now_ms()).encode();
        let answer = requests::produce(&mut RawConn::connect(address), TOPIC, partition, probe);
        (answer.error_code == codes::NONE).then(|| (leader, since.elapsed()))
    })
}

#[test]
fn nothing_acknowledged_is_lost_through_kills_pauses_partitions_and_rolling_restarts() {
    let rounds: usize = std::env::var("STRATA_REPLICATION_FAULT_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut cluster = Cluster::start_in_network(3, &[("replica.lag.time.max.ms", "3000")]);
    let bootstrap = cluster.bootstrap();
    eventually(CONVERGE, "every broker is registered", || {
        let brokers =
            requests::metadata(&mut RawConn::connect(cluster.brokers[0].bootstrap()), Some(&[]), false).brokers;
        (brokers.len() == 3).then_some(())
    });
    let mut request = requests::create_topics_request(TOPIC, PARTITIONS);
    request.topics[0].replication_factor = 3;
    request.topics[0].configs = vec![
        CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("min.insync.replicas"))
            .with_value(Some(StrBytes::from_static_str("2"))),
    ];
    let created = RawConn::connect(cluster.node(1).bootstrap()).request(5, &request);
    assert_eq!(created.topics[0].error_code, codes::NONE, "{:?}", created.topics[0].error_message);
    all_in_sync(&cluster, "the topic is known everywhere, all replicas in sync");

    let messages = Arc::new(data::generate("history", MESSAGES_MAX, PARTITIONS));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = Arc::new(clients::producer(
        &bootstrap,
        &[("acks", "all"), ("enable.idempotence", "true"), ("message.timeout.ms", "120000")],
    ));
    let sending = {
        let (producer, messages, stop) = (Arc::clone(&producer), Arc::clone(&messages), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) && sent < messages.len() {
                clients::send(&producer, TOPIC, &messages[sent]);
                sent += 1;
                std::thread::sleep(PACE);
            }
            sent
        })
    };
    let reading = {
        let (bootstrap, stop) = (bootstrap.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let consumer = clients::consumer(&bootstrap, &[]);
            let mut assignment = TopicPartitionList::new();
            for partition in 0..PARTITIONS {
                assignment.add_partition_offset(TOPIC, partition, Offset::Beginning).expect("assignment");
            }
            consumer.assign(&assignment).expect("assign");
            let mut reads = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(message)) => reads.push(clients::to_consumed(&message)),
                    Some(Err(error)) => eprintln!("consumer during the faults: {error}"),
                    None => {}
                }
            }
            reads
        })
    };

    let session = Duration::from_millis(TEST_SESSION_TIMEOUT_MS);
    let mut report = Vec::new();
    for round in 0..rounds {
        std::thread::sleep(Duration::from_secs(2));
        // SIGKILL the leader of partition 0.
        let victim = partitions(&bootstrap_of(&cluster))[0].0;
        cluster.node(victim).kill();
        let (leader, took) = new_leader_takes_writes(&cluster, 0, victim, Instant::now());
        report.push(format!("round {round}: SIGKILL of leader {victim}: broker {leader} took writes after {took:?}"));
        std::thread::sleep(Duration::from_secs(2));
        cluster.node(victim).restart_on_same_port();
        all_in_sync(&cluster, "the killed broker rejoins every in-sync set");

        // SIGSTOP the leader of partition 1 for longer than the session timeout.
        let frozen = partitions(&bootstrap_of(&cluster))[1].0;
        cluster.node(frozen).pause();
        let paused_at = Instant::now();
        let (leader, took) = new_leader_takes_writes(&cluster, 1, frozen, paused_at);
        report.push(format!("round {round}: SIGSTOP of leader {frozen}: broker {leader} took writes after {took:?}"));
        std::thread::sleep((session + Duration::from_secs(2)).saturating_sub(paused_at.elapsed()));
        cluster.node(frozen).resume();
        all_in_sync(&cluster, "the frozen broker rejoins every in-sync set");

        // Cut the leader of partition 2 off from every other node (and from the clients) for
        // longer than the session timeout, then heal the network.
        let isolated = partitions(&bootstrap_of(&cluster))[2].0;
        cluster.cut_off(isolated);
        let cut_at = Instant::now();
        let (leader, took) = new_leader_takes_writes(&cluster, 2, isolated, cut_at);
        report.push(format!("round {round}: leader {isolated} cut off: broker {leader} took writes after {took:?}"));
        std::thread::sleep((session + Duration::from_secs(2)).saturating_sub(cut_at.elapsed()));
        cluster.heal(isolated);
        all_in_sync(&cluster, "the cut-off broker rejoins every in-sync set");

        // Cut the active controller off from the quorum: it stops acting as the controller,
        // another is elected and metadata changes are taken again.
        let controller = eventually(CONVERGE, "a controller is known", || {
            Some(active_controller(&bootstrap_of(&cluster))).filter(|&c| c >= 1)
        });
        let resigned_before = resignations(&cluster, controller);
        cluster.cut_off(controller);
        let cut_at = Instant::now();
        let majority = other_than(&cluster, controller);
        let successor = eventually(CONVERGE, "another controller is elected", || {
            let now = active_controller(&majority);
            (now >= 1 && now != controller).then_some(now)
        });
        let created = create_topic(&majority, &format!("after-cut-{round}"));
        report.push(format!(
            "round {round}: controller {controller} cut off: controller {successor} took a CreateTopics ({created}) after {:?}",
            cut_at.elapsed()
        ));
        assert_eq!(created, codes::NONE, "the new controller takes metadata changes");
        eventually(CONVERGE, "the cut-off controller stops acting as one", || {
            (resignations(&cluster, controller) > resigned_before).then_some(())
        });
        cluster.heal(controller);
        all_in_sync(&cluster, "the cut-off controller's broker rejoins every in-sync set");

        // A rolling restart.
        for node in 1..=3 {
            cluster.node(node).stop_ok();
            cluster.node(node).restart_on_same_port();
            all_in_sync(&cluster, "the restarted broker rejoins every in-sync set");
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let Ok(sent) = sending.join() else {
        dump_logs(&cluster);
        panic!("the producer failed (see above)");
    };
    let reads = reading.join().expect("consumer thread");
    producer.flush(Duration::from_secs(120)).expect("flush the producer");
    let outcomes = producer.context().take();
    assert_eq!(outcomes.len(), sent, "every sent message was answered");

    let log = clients::consume_all(&bootstrap, TOPIC, PARTITIONS);
    let summary = history::check(&messages[..sent], &outcomes, &reads, &log).unwrap_or_else(|e| {
        dump_logs(&cluster);
        panic!("{e}")
    });
    for line in &report {
        eprintln!("{line}");
    }
    eprintln!("{sent} sent: {summary:?}");
    let mut errors: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for error in outcomes.values().filter_map(|o| o.as_ref().err()) {
        *errors.entry(error.to_string()).or_default() += 1;
    }
    assert!(summary.acknowledged > sent / 2, "most messages were acknowledged: {summary:?}, failures: {errors:?}");
    assert!(summary.reads_checked > 0, "the consumer read during the faults");
}

/// The active controller as broker `bootstrap` knows it (-1 for none).
fn active_controller(bootstrap: &str) -> i32 {
    requests::metadata(&mut RawConn::connect(bootstrap), Some(&[]), false).controller_id.0
}

/// How often node `node` has logged that it stopped acting as the active controller.
fn resignations(cluster: &Cluster, node: i32) -> usize {
    let broker = &cluster.brokers[usize::try_from(node - 1).expect("node id")];
    broker.stderr_log().matches("no longer the active controller").count()
}

/// Creates a one-partition topic through `bootstrap`; the error code.
/// Creates topic `name` through `bootstrap` as an admin client does: asked again while the
/// answer is REQUEST_TIMED_OUT (the quorum may still be settling), which a later answer of
/// TOPIC_ALREADY_EXISTS then confirms. Returns the last answer other than a timeout.
fn create_topic(bootstrap: &str, name: &str) -> i16 {
    let request = requests::create_topics_request(name, 1).with_timeout_ms(5_000);
    let mut timed_out = false;
    eventually(CONVERGE, "a CreateTopics answered within its timeout", || {
        match RawConn::connect(bootstrap).request(5, &request).topics[0].error_code {
            codes::REQUEST_TIMED_OUT => {
                timed_out = true;
                None
            }
            codes::TOPIC_ALREADY_EXISTS if timed_out => Some(codes::NONE),
            code => Some(code),
        }
    })
}

fn bootstrap_of(cluster: &Cluster) -> String {
    other_than(cluster, 0)
}

/// Every broker's log lines about the topic, for a failure's diagnosis.
fn dump_logs(cluster: &Cluster) {
    for (node, broker) in (1..).zip(&cluster.brokers) {
        eprintln!("--- broker {node} ---");
        for line in
            broker.stderr_log().lines().filter(|l| l.contains(TOPIC) || l.contains("WARN") || l.contains("ERROR"))
        {
            eprintln!("{line}");
        }
    }
}
