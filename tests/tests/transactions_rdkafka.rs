//! Transactions with librdkafka (the rdkafka crate) against the real broker: commits and aborts
//! over several partitions leave their commit and abort markers in every partition (read back
//! with a raw Fetch), consumed offsets committed in a transaction, and a second producer with the
//! same transactional id fencing the first.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use strata_testkit::RawConn;
use strata_testkit::batches::decode;
use strata_testkit::requests;
use strata_tests::Broker;
use strata_tests::clients::{self, CLIENT_TIMEOUT};

/// A transactional librdkafka producer.
fn transactional_producer(bootstrap: &str, transactional_id: &str) -> BaseProducer {
    let mut config: ClientConfig = clients::client_config(bootstrap);
    config.set("transactional.id", transactional_id).set("transaction.timeout.ms", "60000");
    let producer: BaseProducer = config.create().expect("create a transactional producer");
    producer.init_transactions(CLIENT_TIMEOUT).expect("init_transactions");
    producer
}

/// Sends `count` records to each of `partitions` and waits until they are acknowledged.
fn send(producer: &BaseProducer, topic: &str, partitions: i32, count: usize, tag: &str) {
    for partition in 0..partitions {
        for i in 0..count {
            let value = format!("{tag}-{partition}-{i}");
            let record = BaseRecord::<(), str>::to(topic).partition(partition).payload(&value);
            producer.send(record).map_err(|(e, _)| e).expect("queue a record");
        }
    }
    producer.flush(CLIENT_TIMEOUT).expect("flush");
}

/// What a partition holds, batch by batch: `Some(commit)` for a marker, `None` for data (with
/// the number of records and whether the batch is transactional).
fn layout(conn: &mut RawConn, topic: &str, partition: i32) -> Vec<(Option<bool>, usize, bool)> {
    let fetched = requests::fetch(conn, topic, partition, 0);
    let sets = decode(&fetched.records.expect("records"));
    sets.iter()
        .map(|set| {
            let first = &set.records[0];
            let marker = first.control.then(|| {
                let key = first.key.as_ref().expect("a control record has a key");
                // Key: version i16, type i16 (0 abort, 1 commit).
                i16::from_be_bytes([key[2], key[3]]) == 1
            });
            (marker, set.records.len(), first.transactional)
        })
        .collect()
}

/// Waits until every partition of `topic` shows `expected`: markers are written after EndTxn's
/// answer, so they may land a moment after `commit_transaction` returns.
fn wait_for_layout(conn: &mut RawConn, topic: &str, partitions: i32, expected: &[(Option<bool>, usize, bool)]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    for partition in 0..partitions {
        loop {
            let seen = layout(conn, topic, partition);
            if seen == expected {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{topic}-{partition}: {seen:?}, expected {expected:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn commit_and_abort_write_markers_to_every_partition() {
    let broker = Broker::start_default();
    clients::create_topic(broker.bootstrap(), "orders", 3);
    let producer = transactional_producer(broker.bootstrap(), "orders-tx");

    producer.begin_transaction().expect("begin");
    send(&producer, "orders", 3, 4, "committed");
    producer.commit_transaction(CLIENT_TIMEOUT).expect("commit");

    producer.begin_transaction().expect("begin again");
    send(&producer, "orders", 3, 2, "aborted");
    producer.abort_transaction(CLIENT_TIMEOUT).expect("abort");

    let mut conn = RawConn::connect(broker.bootstrap());
    let expected = [(None, 4, true), (Some(true), 1, true), (None, 2, true), (Some(false), 1, true)];
    wait_for_layout(&mut conn, "orders", 3, &expected);
}

#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let broker = Broker::start_default();
    clients::create_topic(broker.bootstrap(), "zombies", 2);
    let zombie = transactional_producer(broker.bootstrap(), "zombie-tx");
    zombie.begin_transaction().expect("begin");
    send(&zombie, "zombies", 2, 3, "zombie");

    // The new producer's InitProducerId aborts the zombie's open transaction and bumps the epoch.
    let successor = transactional_producer(broker.bootstrap(), "zombie-tx");
    let error = zombie.commit_transaction(CLIENT_TIMEOUT).expect_err("the zombie is fenced");
    let KafkaError::Transaction(error) = error else { panic!("a transaction error: {error:?}") };
    assert!(error.is_fatal(), "fencing is fatal for the zombie: {error:?}");
    assert!(matches!(error.code(), RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::Fenced), "fenced: {error:?}");

    successor.begin_transaction().expect("begin");
    send(&successor, "zombies", 2, 1, "successor");
    successor.commit_transaction(CLIENT_TIMEOUT).expect("the successor commits");
    let mut conn = RawConn::connect(broker.bootstrap());
    let expected = [(None, 3, true), (Some(false), 1, true), (None, 1, true), (Some(true), 1, true)];
    wait_for_layout(&mut conn, "zombies", 2, &expected);
}
