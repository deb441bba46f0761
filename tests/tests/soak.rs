//! Soak: everything at once, with the broker restarted under it, checked end to end.
//!
//! An idempotent producer (acks=all) writes numbered messages to a 4-partition topic with small
//! segments (rolls all the time); two consumers in one group read them with synchronous manual
//! commits; a third thread creates, uses and deletes topics; and the broker is restarted every few
//! seconds on the same port, alternately cleanly (SIGTERM) and by SIGKILL, under
//! `log.flush.interval.messages=1`. At the end, after the producer has flushed and the group has
//! read to the end:
//!
//! - every acknowledged message is in the log exactly once, at the offset it was acknowledged at;
//! - each partition's offsets are dense from 0 (no gaps, no duplicates);
//! - the group consumed every acknowledged message, and never consumed an offset below one it had
//!   already committed successfully (exactly once per group past its committed offsets);
//! - the group's committed offsets end at the log end;
//! - topic churn kept working across restarts.
//!
//! `STRATA_SOAK_SECS` sets how long the load runs (default 30 s, the CI variant; a long soak is
//! e.g. `STRATA_SOAK_SECS=1800`); the broker restarts every `STRATA_SOAK_RESTART_SECS` (default 8).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, Producer};
use strata_tests::clients::{self, CLIENT_TIMEOUT, block_on, client_config};
use strata_tests::{Broker, BrokerOptions};

const TOPIC: &str = "soak";
const PARTITIONS: i32 = 4;
const GROUP: &str = "soak-group";
const CONSUMERS: usize = 2;

fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default))
}

/// What the consumers saw, shared between their threads.
#[derive(Default)]
struct GroupLog {
    /// `(partition, offset)` → message number, for every record consumed (re-deliveries included).
    consumed: Mutex<HashMap<(i32, i64), usize>>,
    /// Per partition, the highest offset a successful commit covered.
    committed: Mutex<BTreeMap<i32, i64>>,
    /// Records consumed below an offset already committed successfully.
    below_committed: Mutex<Vec<String>>,
    commits: AtomicUsize,
    /// Records the group read more than once (after a rebalance or restart, above its commits).
    redelivered: AtomicUsize,
}

/// The message number a soak value carries (`soak-<n>`).
fn number(value: &[u8]) -> Option<usize> {
    std::str::from_utf8(value).ok()?.strip_prefix("soak-")?.parse().ok()
}

fn run_consumer(bootstrap: String, log: Arc<GroupLog>, stop: Arc<AtomicBool>) {
    let consumer: BaseConsumer = client_config(&bootstrap)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    let mut last_commit = Instant::now();
    let mut uncommitted = 0usize;
    while !stop.load(Ordering::SeqCst) {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            let (partition, offset) = (message.partition(), message.offset());
            let n = message.payload().and_then(number).unwrap_or(usize::MAX);
            let committed = log.committed.lock().expect("lock").get(&partition).copied().unwrap_or(0);
            if offset < committed {
                log.below_committed
                    .lock()
                    .expect("lock")
                    .push(format!("partition {partition} offset {offset} consumed after a commit of {committed}"));
            }
            let mut consumed = log.consumed.lock().expect("lock");
            if let Some(earlier) = consumed.insert((partition, offset), n) {
                assert_eq!(earlier, n, "partition {partition} offset {offset} changed its record");
                log.redelivered.fetch_add(1, Ordering::Relaxed);
            }
            uncommitted += 1;
        }
        if uncommitted > 0 && (uncommitted >= 200 || last_commit.elapsed() > Duration::from_millis(500)) {
            // Commit what this member has consumed; a commit refused (rebalance, restart) is
            // simply not counted: the records are read again by whoever owns them next.
            if let Ok(positions) = consumer.position()
                && consumer.commit(&positions, CommitMode::Sync).is_ok()
            {
                let mut committed = log.committed.lock().expect("lock");
                for element in positions.elements() {
                    if let Some(offset) = element.offset().to_raw().filter(|o| *o >= 0) {
                        let entry = committed.entry(element.partition()).or_insert(0);
                        *entry = (*entry).max(offset);
                    }
                }
                log.commits.fetch_add(1, Ordering::Relaxed);
                uncommitted = 0;
            }
            last_commit = Instant::now();
        }
    }
    consumer.unsubscribe();
}

/// Creates, uses and deletes topics until stopped; returns how many rounds completed. Each step
/// is retried while the broker restarts.
fn run_churn(bootstrap: String, stop: Arc<AtomicBool>) -> usize {
    let admin: AdminClient<DefaultClientContext> = client_config(&bootstrap).create().expect("admin");
    let options = AdminOptions::new().operation_timeout(Some(CLIENT_TIMEOUT)).request_timeout(Some(CLIENT_TIMEOUT));
    let retry = |what: &str, step: &mut dyn FnMut() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !step() {
            assert!(Instant::now() < deadline, "topic churn: {what} kept failing for 60 s");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let mut rounds = 0;
    while !stop.load(Ordering::SeqCst) {
        let name = format!("churn-{rounds}");
        let topic = NewTopic::new(&name, 1, TopicReplication::Fixed(1));
        retry("create", &mut || match block_on(admin.create_topics([&topic], &options)) {
            Ok(results) => results.iter().all(|r| match r {
                Ok(_) => true,
                // A retry after a lost answer finds it created.
                Err((_, code)) => *code == rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
            }),
            Err(_) => false,
        });
        let producer =
            clients::producer(&bootstrap, &[("acks", "all"), ("enable.idempotence", "true"), ("linger.ms", "0")]);
        for i in 0..10usize {
            let value = format!("churn-{rounds}-{i}");
            let record = BaseRecord::with_opaque_to(&name, i).partition(0).payload(value.as_bytes());
            producer.send::<[u8], [u8]>(record).map_err(|(e, _)| e).expect("queue a churn message");
        }
        retry("produce", &mut || producer.flush(Duration::from_secs(5)).is_ok());
        let delivered = producer.context().take();
        assert!(delivered.values().all(Result::is_ok), "churn messages delivered: {delivered:?}");
        retry("delete", &mut || match block_on(admin.delete_topics(&[&name], &options)) {
            Ok(results) => results.iter().all(|r| match r {
                Ok(_) => true,
                Err((_, code)) => *code == rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
            }),
            Err(_) => false,
        });
        rounds += 1;
    }
    rounds
}

#[test]
fn soak_with_restarts_loses_nothing_and_duplicates_nothing() {
    let load_for = env_secs("STRATA_SOAK_SECS", 30);
    let restart_every = env_secs("STRATA_SOAK_RESTART_SECS", 8);
    let mut broker = Broker::start(
        BrokerOptions::default()
            .with("log.flush.interval.messages", "1")
            .with("group.initial.rebalance.delay.ms", "0")
            .with("offsets.topic.num.partitions", "4"),
    );
    let bootstrap = broker.bootstrap().to_owned();
    clients::create_topic_with(&bootstrap, TOPIC, PARTITIONS, &[("internal.segment.bytes", "65536")]);

    let stop = Arc::new(AtomicBool::new(false));
    let group_log = Arc::new(GroupLog::default());
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let (bootstrap, log, stop) = (bootstrap.clone(), Arc::clone(&group_log), Arc::clone(&stop));
            std::thread::spawn(move || run_consumer(bootstrap, log, stop))
        })
        .collect();
    let churn = {
        let (bootstrap, stop) = (bootstrap.clone(), Arc::clone(&stop));
        std::thread::spawn(move || run_churn(bootstrap, stop))
    };

    // The producer: numbered messages, keyed so they spread over the partitions; its delivery
    // reports say where each one was acknowledged. A long message timeout rides out restarts.
    let producer = clients::producer(
        &bootstrap,
        &[("acks", "all"), ("enable.idempotence", "true"), ("linger.ms", "2"), ("message.timeout.ms", "300000")],
    );
    let started = Instant::now();
    let mut next_restart = started + restart_every;
    let mut sent = 0usize;
    let (mut clean_restarts, mut kills) = (0, 0);
    while started.elapsed() < load_for {
        for _ in 0..50 {
            let (key, value) = (format!("k{sent}"), format!("soak-{sent}"));
            let record = BaseRecord::with_opaque_to(TOPIC, sent).key(key.as_bytes()).payload(value.as_bytes());
            if producer.send::<[u8], [u8]>(record).is_ok() {
                sent += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
        if Instant::now() >= next_restart {
            if (clean_restarts + kills) % 2 == 0 {
                broker.stop_ok();
                clean_restarts += 1;
            } else {
                broker.kill();
                kills += 1;
            }
            broker.restart_on_same_port();
            next_restart = Instant::now() + restart_every;
        }
    }
    producer.flush(Duration::from_secs(300)).expect("every message delivered or failed");
    let outcomes = producer.context().take();
    let mut acked: HashMap<usize, (i32, i64)> = HashMap::new();
    let mut failed = 0usize;
    for (n, outcome) in outcomes {
        match outcome {
            Ok(at) => {
                acked.insert(n, at);
            }
            Err(_) => failed += 1,
        }
    }
    assert_eq!(failed, 0, "with a 300 s message timeout every message is delivered");
    assert_eq!(acked.len(), sent, "a delivery report for every message");

    // Let the group read to the end (every acknowledged offset consumed and committed).
    let ends: BTreeMap<i32, i64> = {
        let reader = clients::consumer(&bootstrap, &[]);
        (0..PARTITIONS).map(|p| (p, reader.fetch_watermarks(TOPIC, p, CLIENT_TIMEOUT).expect("watermarks").1)).collect()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let caught_up = {
            let committed = group_log.committed.lock().expect("lock");
            ends.iter().all(|(p, end)| committed.get(p).copied().unwrap_or(0) >= *end)
        };
        if caught_up {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the group did not commit up to the log end {ends:?} in 120 s: {:?}",
            group_log.committed.lock().expect("lock")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::SeqCst);
    for consumer in consumers {
        consumer.join().expect("consumer thread");
    }
    let churn_rounds = churn.join().expect("churn thread");

    // The log itself: dense offsets, each acknowledged message exactly once where it was acked.
    let log = clients::consume_all(&bootstrap, TOPIC, PARTITIONS);
    let mut by_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let mut where_found: HashMap<usize, Vec<(i32, i64)>> = HashMap::new();
    for record in &log {
        by_partition.entry(record.partition).or_default().push(record.offset);
        let n = record.value.as_deref().and_then(number).expect("a soak value");
        where_found.entry(n).or_default().push((record.partition, record.offset));
    }
    for (partition, offsets) in &by_partition {
        let dense: Vec<i64> = (0..i64::try_from(offsets.len()).expect("fits")).collect();
        assert!(*offsets == dense, "partition {partition}: offsets are not dense from 0");
        assert_eq!(Some(&i64::try_from(offsets.len()).expect("fits")), ends.get(partition), "log end");
    }
    for (n, at) in &acked {
        assert_eq!(where_found.get(n), Some(&vec![*at]), "message {n}: acknowledged at {at:?}, found at");
    }
    let duplicates: Vec<_> = where_found.iter().filter(|(_, at)| at.len() > 1).collect();
    assert!(duplicates.is_empty(), "messages written more than once: {duplicates:?}");

    // The group: everything acknowledged consumed, nothing re-read below a successful commit.
    let consumed = group_log.consumed.lock().expect("lock");
    let missing: Vec<_> = acked.iter().filter(|(n, at)| consumed.get(at) != Some(n)).take(10).collect();
    assert!(missing.is_empty(), "acknowledged messages the group never consumed (first 10): {missing:?}");
    let below = group_log.below_committed.lock().expect("lock");
    assert!(below.is_empty(), "records re-read below a successful commit: {below:?}");

    let commits = group_log.commits.load(Ordering::Relaxed);
    eprintln!(
        "soak: {sent} messages over {:?}, {clean_restarts} clean restarts and {kills} SIGKILLs, {commits} group commits, \
         {churn_rounds} topic churn rounds, {} records re-delivered to the group",
        load_for,
        group_log.redelivered.load(Ordering::Relaxed)
    );
    assert!(clean_restarts >= 1 && kills >= 1, "the soak restarted the broker both ways");
    assert!(churn_rounds >= 1, "topic churn completed at least one round");
    broker.stop_ok();
}
