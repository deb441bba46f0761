//! Transactions with librdkafka (the rdkafka crate) against the real broker: commits and aborts
//! over several partitions leave their commit and abort markers in every partition (read back
//! with a raw Fetch); a read_committed consumer reads exactly the committed records; and a second
//! producer with the same transactional id fences the first.

use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use strata_testkit::RawConn;
use strata_tests::Broker;
use strata_tests::clients::{self, CLIENT_TIMEOUT};
use strata_tests::transactions::{Stored, wait_for_layout};

/// Markers are written after EndTxn's answer; they land well within this.
const MARKERS_WITHIN: Duration = Duration::from_secs(20);

#[test]
fn commit_and_abort_write_markers_to_every_partition() {
    let broker = Broker::start_default();
    clients::create_topic(broker.bootstrap(), "orders", 3);
    let producer = clients::transactional_producer(broker.bootstrap(), "orders-tx");

    producer.begin_transaction().expect("begin");
    clients::send_tagged(&producer, "orders", 3, 4, "committed");
    producer.commit_transaction(CLIENT_TIMEOUT).expect("commit");

    producer.begin_transaction().expect("begin again");
    clients::send_tagged(&producer, "orders", 3, 2, "aborted");
    producer.abort_transaction(CLIENT_TIMEOUT).expect("abort");

    let mut conn = RawConn::connect(broker.bootstrap());
    let expected = [Stored::data(4), Stored::commit(), Stored::data(2), Stored::abort()];
    wait_for_layout(&mut conn, "orders", 3, &expected, MARKERS_WITHIN);

    // A read_committed consumer sees the committed records only; a read_uncommitted one all.
    let mut committed = read_values("orders", broker.bootstrap(), "read_committed", 12);
    committed.sort();
    let mut expected: Vec<String> = (0..3).flat_map(|p| (0..4).map(move |i| format!("committed-{p}-{i}"))).collect();
    expected.sort();
    assert_eq!(committed, expected, "read_committed");
    assert_eq!(read_values("orders", broker.bootstrap(), "read_uncommitted", 18).len(), 18, "read_uncommitted");
}

/// Reads partitions 0-2 of `topic` from the start at `isolation` until `count` values arrived
/// and a second passed without more.
fn read_values(topic: &str, bootstrap: &str, isolation: &str, count: usize) -> Vec<String> {
    let consumer = clients::consumer(bootstrap, &[("isolation.level", isolation), ("auto.offset.reset", "earliest")]);
    let mut assignment = TopicPartitionList::new();
    for partition in 0..3 {
        assignment.add_partition_offset(topic, partition, Offset::Beginning).expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let mut values = Vec::new();
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let mut quiet_since = Instant::now();
    while values.len() < count || quiet_since.elapsed() < Duration::from_secs(1) {
        assert!(Instant::now() < deadline, "{isolation}: {} of {count} values: {values:?}", values.len());
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(error)) => panic!("{isolation}: {error}"),
            Some(Ok(message)) => {
                values.push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned());
                quiet_since = Instant::now();
            }
        }
    }
    values
}

#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let broker = Broker::start_default();
    clients::create_topic(broker.bootstrap(), "zombies", 2);
    let zombie = clients::transactional_producer(broker.bootstrap(), "zombie-tx");
    zombie.begin_transaction().expect("begin");
    clients::send_tagged(&zombie, "zombies", 2, 3, "zombie");

    // The new producer's InitProducerId aborts the zombie's open transaction and bumps the epoch.
    let successor = clients::transactional_producer(broker.bootstrap(), "zombie-tx");
    let error = zombie.commit_transaction(CLIENT_TIMEOUT).expect_err("the zombie is fenced");
    let KafkaError::Transaction(error) = error else { panic!("a transaction error: {error:?}") };
    assert!(error.is_fatal(), "fencing is fatal for the zombie: {error:?}");
    assert!(matches!(error.code(), RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::Fenced), "fenced: {error:?}");

    successor.begin_transaction().expect("begin");
    clients::send_tagged(&successor, "zombies", 2, 1, "successor");
    successor.commit_transaction(CLIENT_TIMEOUT).expect("the successor commits");
    let mut conn = RawConn::connect(broker.bootstrap());
    let expected = [Stored::data(3), Stored::abort(), Stored::data(1), Stored::commit()];
    wait_for_layout(&mut conn, "zombies", 2, &expected, MARKERS_WITHIN);
}
