//! Transactions with librdkafka (the rdkafka crate) against the real broker: commits and aborts
//! over several partitions leave their commit and abort markers in every partition (read back
//! with a raw Fetch), consumed offsets committed in a transaction, and a second producer with the
//! same transactional id fencing the first.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use strata_testkit::RawConn;
use strata_tests::Broker;
use strata_tests::clients::{self, CLIENT_TIMEOUT};
use strata_tests::transactions::{Stored, wait_for_layout};

/// Markers are written after EndTxn's answer; they land well within this.
const MARKERS_WITHIN: Duration = Duration::from_secs(20);

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
    let expected = [Stored::data(4), Stored::commit(), Stored::data(2), Stored::abort()];
    wait_for_layout(&mut conn, "orders", 3, &expected, MARKERS_WITHIN);
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
    let expected = [Stored::data(3), Stored::abort(), Stored::data(1), Stored::commit()];
    wait_for_layout(&mut conn, "zombies", 2, &expected, MARKERS_WITHIN);
}
