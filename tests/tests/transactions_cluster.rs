//! Transactions across a three-broker cluster, with librdkafka: a transaction writes to
//! partitions led by every broker, and its coordinator (the leader of its `__transaction_state`
//! partition) reaches the others as Kafka's does: partition leaders verify the producer's
//! batches with it over AddPartitionsToTxn, and it sends them its commit and abort markers over
//! WriteTxnMarkers, also to the group coordinator for offsets committed in the transaction. A
//! read_committed consumer reads exactly the committed records of every partition (a partition
//! whose marker never arrived would hold it back at its open transaction forever), and the
//! group's offsets appear with the commit. When a partition's leader dies inside a transaction,
//! the commit's marker reaches its successor.

use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::Producer;
use strata_testkit::codes;
use strata_testkit::raw::RawConn;
use strata_tests::clients::{self, CLIENT_TIMEOUT};
use strata_tests::cluster::{Cluster, partition_states};

/// How long a change may take to reach every broker (fencing takes the session timeout).
const CONVERGE: Duration = Duration::from_secs(40);
const PARTITIONS: i32 = 3;
const TOPIC: &str = "spread";

fn first(bootstrap: &str) -> &str {
    bootstrap.split(',').next().unwrap_or(bootstrap)
}

/// Creates `TOPIC` with its leaders spread over the three brokers.
fn create_spread_topic(bootstrap: &str) {
    strata_tests::cluster::create_spread_topic(bootstrap, TOPIC, CONVERGE);
}

/// What a read_committed reader finds after the transactions `(count, tag)` of `send` committed:
/// each partition's values in offset order, partition after partition.
fn committed_values(transactions: &[(usize, &str)]) -> Vec<String> {
    let mut values = Vec::new();
    for partition in 0..PARTITIONS {
        for (count, tag) in transactions {
            values.extend((0..*count).map(|i| format!("{tag}-{partition}-{i}")));
        }
    }
    values
}

/// The broker coordinating `key` of `key_type` (0 group, 1 transactional id).
fn coordinator(bootstrap: &str, key_type: i8, key: &str) -> i32 {
    let find = kafka_protocol::messages::FindCoordinatorRequest::default()
        .with_key_type(key_type)
        .with_key(kafka_protocol::protocol::StrBytes::from_string(key.to_string()));
    let found = RawConn::connect(first(bootstrap)).request(3, &find);
    assert_eq!(found.error_code, codes::NONE, "FindCoordinator {key}");
    found.node_id.0
}

/// Reads every partition from the start, read_committed, until `count` values arrived and a
/// second passed without more; the values of each partition in offset order, partition after
/// partition.
fn read_committed(bootstrap: &str, count: usize) -> Vec<String> {
    let consumer = clients::consumer(bootstrap, &[("isolation.level", "read_committed")]);
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment.add_partition_offset(TOPIC, partition, Offset::Beginning).expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let mut read: Vec<(i32, i64, String)> = Vec::new();
    let deadline = Instant::now() + CONVERGE;
    let mut quiet_since = Instant::now();
    while read.len() < count || quiet_since.elapsed() < Duration::from_secs(1) {
        assert!(Instant::now() < deadline, "{} of {count} committed values: {read:?}", read.len());
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            // A broker just killed stays in Metadata until it is fenced; librdkafka reports
            // its failed connections and retries.
            Some(Err(error)) => eprintln!("read_committed: {error}"),
            Some(Ok(message)) => {
                let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
                read.push((message.partition(), message.offset(), value));
                quiet_since = Instant::now();
            }
        }
    }
    read.sort();
    read.into_iter().map(|(_, _, value)| value).collect()
}

/// The group's committed offset of each partition, asked of its coordinator.
fn committed_offsets(bootstrap: &str, group: &str) -> Vec<i64> {
    let mut config = clients::client_config(bootstrap);
    config.set("group.id", group).set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config.create().expect("create a consumer");
    let mut asked = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        asked.add_partition(TOPIC, partition);
    }
    let offsets = consumer.committed_offsets(asked, CLIENT_TIMEOUT).expect("OffsetFetch");
    (0..PARTITIONS)
        .map(|p| match offsets.find_partition(TOPIC, p).map(|e| e.offset()) {
            Some(Offset::Offset(offset)) => offset,
            other => panic!("no committed offset for {TOPIC}/{p}: {other:?}"),
        })
        .collect()
}

#[test]
fn a_transaction_over_every_broker_commits_and_aborts_on_each() {
    let mut cluster = Cluster::start(3, &[("replica.lag.time.max.ms", "3000")]);
    let bootstrap = cluster.bootstrap();
    create_spread_topic(&bootstrap);
    let transactional_id = "spread-tx";
    let producer = clients::transactional_producer(&bootstrap, transactional_id);
    let txn_coordinator = coordinator(&bootstrap, 1, transactional_id);
    // A group another broker coordinates: its offsets' marker goes over WriteTxnMarkers too.
    let group = (0..)
        .map(|i| format!("spread-readers-{i}"))
        .find(|group| coordinator(&bootstrap, 0, group) != txn_coordinator)
        .expect("a group coordinated elsewhere");

    producer.begin_transaction().expect("begin");
    clients::send_tagged(&producer, TOPIC, PARTITIONS, 5, "committed");
    producer.commit_transaction(CLIENT_TIMEOUT).expect("commit");

    producer.begin_transaction().expect("begin again");
    clients::send_tagged(&producer, TOPIC, PARTITIONS, 3, "aborted");
    producer.abort_transaction(CLIENT_TIMEOUT).expect("abort");

    // Offsets committed in the transaction reach the group's coordinator with its commit.
    let group_reader: BaseConsumer = {
        let mut config = clients::client_config(&bootstrap);
        config.set("group.id", &group);
        config.create().expect("create the group's consumer")
    };
    let group_metadata = group_reader.group_metadata().expect("group metadata");
    producer.begin_transaction().expect("begin a third");
    clients::send_tagged(&producer, TOPIC, PARTITIONS, 2, "with-offsets");
    let mut offsets = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        offsets.add_partition_offset(TOPIC, partition, Offset::Offset(100 + i64::from(partition))).expect("offset");
    }
    producer.send_offsets_to_transaction(&offsets, &group_metadata, CLIENT_TIMEOUT).expect("send offsets");
    producer.commit_transaction(CLIENT_TIMEOUT).expect("commit with offsets");

    let expected = committed_values(&[(5, "committed"), (2, "with-offsets")]);
    let read = read_committed(&bootstrap, expected.len());
    assert_eq!(read, expected, "read_committed reads the committed records of every partition");
    assert_eq!(committed_offsets(&bootstrap, &group), [100, 101, 102], "the transaction's offsets are committed");

    // The leader of a partition (not the coordinator) dies inside a transaction: its records are
    // in its in-sync followers (acks=all), and the commit's marker reaches the new leader.
    producer.begin_transaction().expect("begin a fourth");
    clients::send_tagged(&producer, TOPIC, PARTITIONS, 4, "failover");
    let states = partition_states(first(&bootstrap), TOPIC);
    let (victim_partition, victim) = states
        .iter()
        .enumerate()
        .map(|(p, (leader, _, _))| (p, *leader))
        .find(|(_, leader)| *leader != txn_coordinator)
        .expect("a partition led by another broker than the coordinator");
    cluster.node(victim).kill();
    let killed_at = Instant::now();
    producer.commit_transaction(CLIENT_TIMEOUT).expect("commit across the failover");
    let survivor = (1..=3).find(|&n| n != victim).expect("a survivor");
    let survivor_bootstrap = cluster.node(survivor).bootstrap().to_string();
    let expected = committed_values(&[(5, "committed"), (2, "with-offsets"), (4, "failover")]);
    let read = read_committed(&survivor_bootstrap, expected.len());
    eprintln!(
        "leader {victim} of {TOPIC}/{victim_partition} killed: every commit marker read after {:?}",
        killed_at.elapsed()
    );
    assert_eq!(read, expected, "the failed-over partition holds the committed transaction");
}
