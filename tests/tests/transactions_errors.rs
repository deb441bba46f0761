//! Transaction error paths on raw sockets, with the codes Kafka 4.1.2 answers (set
//! `STRATA_REFERENCE_KAFKA=HOST:PORT` to run the same assertions against reference Kafka too):
//! InitProducerId's argument checks, AddPartitionsToTxn of unknown topics, unknown producers and
//! fenced epochs, EndTxn without a transaction and from a zombie, and KIP-890's verification of
//! transactional batches per Produce version.

use std::time::Duration;

use strata_testkit::RawConn;
use strata_testkit::codes::*;
use strata_tests::Broker;
use strata_tests::transactions::*;

const TIMEOUT_MS: i32 = 60_000;

#[test]
fn init_producer_id_checks_its_arguments() {
    let broker = Broker::start_default();
    for bootstrap in bootstraps(broker.bootstrap()) {
        let mut conn = RawConn::connect(&bootstrap);
        let id = unique("init-args");
        assert_eq!(init(&mut conn, &id, 900_001).error_code, INVALID_TRANSACTION_TIMEOUT, "{bootstrap}: over the max");
        assert_eq!(init(&mut conn, &id, 0).error_code, INVALID_TRANSACTION_TIMEOUT, "{bootstrap}: zero");
        assert_eq!(init(&mut conn, "", TIMEOUT_MS).error_code, INVALID_REQUEST, "{bootstrap}: empty id");
        let (pid, epoch) = init_ok(&mut conn, &id, TIMEOUT_MS);
        // Again: the same producer id, the epoch bumped (the old producer is fenced).
        let again = init_ok(&mut conn, &id, TIMEOUT_MS);
        assert_eq!(again, (pid, epoch + 1), "{bootstrap}: re-init bumps the epoch");
    }
}

#[test]
fn add_partitions_refuses_unknown_topics_producers_and_old_epochs() {
    let broker = Broker::start_default();
    for bootstrap in bootstraps(broker.bootstrap()) {
        let mut conn = RawConn::connect(&bootstrap);
        let (topic, id) = (unique("add-errors"), unique("add-errors-tx"));
        create_topic_ready(&mut conn, &topic, 2);
        let producer = init_ok(&mut conn, &id, TIMEOUT_MS);
        let codes = add_partitions(&mut conn, &id, producer, &unique("no-such-topic"), &[0]);
        assert_eq!(codes, vec![UNKNOWN_TOPIC_OR_PARTITION], "{bootstrap}: unknown topic");
        let codes = add_partitions(&mut conn, &id, (producer.0 + 1_000_000, 0), &topic, &[0]);
        assert_eq!(codes, vec![INVALID_PRODUCER_ID_MAPPING], "{bootstrap}: another producer id");
        assert_eq!(add_partitions(&mut conn, &id, producer, &topic, &[0, 1]), vec![NONE, NONE], "{bootstrap}");
        // A second InitProducerId aborts the open transaction: CONCURRENT_TRANSACTIONS until the
        // abort is complete, then the epoch is two ahead (fence, then the new producer's bump).
        let successor = init_when_settled(&mut conn, &id, TIMEOUT_MS);
        assert_eq!(successor, (producer.0, producer.1 + 2), "{bootstrap}: fenced and bumped");
        assert_eq!(add_partitions(&mut conn, &id, producer, &topic, &[0]), vec![PRODUCER_FENCED], "{bootstrap}");
    }
}

#[test]
fn end_txn_without_a_transaction_or_from_a_zombie_is_refused() {
    let broker = Broker::start_default();
    for bootstrap in bootstraps(broker.bootstrap()) {
        let mut conn = RawConn::connect(&bootstrap);
        let (topic, id) = (unique("end-errors"), unique("end-errors-tx"));
        create_topic_ready(&mut conn, &topic, 1);
        let never = unique("never-initialised");
        find_coordinator(&mut conn, &never);
        let unknown = end_txn(&mut conn, END_TXN_VERSION, &never, (1, 0), true);
        assert_eq!(unknown.error_code, INVALID_PRODUCER_ID_MAPPING, "{bootstrap}: unknown transactional id");
        let producer = init_ok(&mut conn, &id, TIMEOUT_MS);
        let empty = end_txn(&mut conn, END_TXN_VERSION, &id, producer, true);
        assert_eq!(empty.error_code, INVALID_TXN_STATE, "{bootstrap}: commit with no transaction open");
        let successor = init_ok(&mut conn, &id, TIMEOUT_MS);
        assert_eq!(successor.1, producer.1 + 1);
        let zombie = end_txn(&mut conn, END_TXN_VERSION, &id, producer, false);
        assert_eq!(zombie.error_code, PRODUCER_FENCED, "{bootstrap}: a zombie's EndTxn v4");
        let old_client = end_txn(&mut conn, 1, &id, producer, false);
        assert_eq!(old_client.error_code, INVALID_PRODUCER_EPOCH, "{bootstrap}: a zombie's EndTxn v1");
    }
}

#[test]
fn transactional_batches_are_verified_per_produce_version() {
    let broker = Broker::start_default();
    for bootstrap in bootstraps(broker.bootstrap()) {
        let mut conn = RawConn::connect(&bootstrap);
        let (topic, id) = (unique("verify"), unique("verify-tx"));
        create_topic_ready(&mut conn, &topic, 3);
        let producer = init_ok(&mut conn, &id, TIMEOUT_MS);
        assert_eq!(add_partitions(&mut conn, &id, producer, &topic, &[0]), vec![NONE]);
        // In the transaction: appended.
        let added = produce_txn(&mut conn, 9, Some(&id), &topic, 0, txn_batch(producer, 0, 2));
        assert_eq!(added.0, NONE, "{bootstrap}: a partition in the transaction: {added:?}");
        // Not in it: refused, with the code each version knows.
        let v9 = produce_txn(&mut conn, 9, Some(&id), &topic, 1, txn_batch(producer, 0, 2));
        assert_eq!(v9, (INVALID_TXN_STATE, Some("Partition was not added to the transaction".into())), "{bootstrap}");
        let v11 = produce_txn(&mut conn, 11, Some(&id), &topic, 1, txn_batch(producer, 0, 2));
        assert_eq!(v11.0, TRANSACTION_ABORTABLE, "{bootstrap}: v11 {v11:?}");
        // Without the request's transactional id.
        let anonymous = produce_txn(&mut conn, 9, None, &topic, 0, txn_batch(producer, 2, 1));
        assert_eq!(anonymous.0, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "{bootstrap}: {anonymous:?}");
        // Produce v12 (transaction version 2) adds the partition itself.
        let v12 = produce_txn(&mut conn, 12, Some(&id), &topic, 2, txn_batch(producer, 0, 3));
        assert_eq!(v12.0, NONE, "{bootstrap}: v12 adds the partition: {v12:?}");
        let described = describe(&mut conn, &id);
        let mut partitions: Vec<i32> = described.topics.iter().flat_map(|t| t.partitions.clone()).collect();
        partitions.sort_unstable(); // Kafka's order is its hash set's
        assert_eq!(
            (described.transaction_state.as_str(), partitions),
            ("Ongoing", vec![0, 2]),
            "{bootstrap}: {described:?}"
        );
        // A fenced producer's batch: INVALID_PRODUCER_EPOCH.
        let end = end_txn(&mut conn, END_TXN_VERSION, &id, producer, false);
        assert_eq!(end.error_code, NONE, "{bootstrap}: abort");
        let successor = init_when_settled(&mut conn, &id, TIMEOUT_MS);
        assert!(successor.1 > producer.1);
        let zombie = produce_txn(&mut conn, 12, Some(&id), &topic, 1, txn_batch(producer, 0, 1));
        assert_eq!(zombie.0, INVALID_PRODUCER_EPOCH, "{bootstrap}: a zombie's batch {zombie:?}");
    }
}

#[test]
fn transaction_version_2_bumps_the_epoch_at_every_end_txn() {
    let broker = Broker::start_default();
    for bootstrap in bootstraps(broker.bootstrap()) {
        let mut conn = RawConn::connect(&bootstrap);
        let (topic, id) = (unique("tv2"), unique("tv2-tx"));
        create_topic_ready(&mut conn, &topic, 2);
        let (pid, epoch) = init_ok(&mut conn, &id, TIMEOUT_MS);
        // Produce v12 adds each partition to the transaction itself (no AddPartitionsToTxn).
        for partition in 0..2 {
            let (code, message) =
                produce_txn(&mut conn, 12, Some(&id), &topic, partition, txn_batch((pid, epoch), 0, 2));
            assert_eq!(code, NONE, "{bootstrap}: {message:?}");
        }
        let commit = end_txn(&mut conn, 5, &id, (pid, epoch), true);
        assert_eq!(
            (commit.error_code, commit.producer_id.0, commit.producer_epoch),
            (NONE, pid, epoch + 1),
            "{bootstrap}"
        );
        wait_for_state(&mut conn, &id, "CompleteCommit", Duration::from_secs(20));
        // The next transaction runs under the bumped epoch, its sequences from 0.
        let next = (pid, epoch + 1);
        let (code, message) = produce_txn(&mut conn, 12, Some(&id), &topic, 0, txn_batch(next, 0, 1));
        assert_eq!(code, NONE, "{bootstrap}: the next transaction: {message:?}");
        let abort = end_txn(&mut conn, 5, &id, next, false);
        assert_eq!((abort.error_code, abort.producer_epoch), (NONE, epoch + 2), "{bootstrap}");
        wait_for_state(&mut conn, &id, "CompleteAbort", Duration::from_secs(20));
        // A retried abort (the epoch before the bump) is answered as before; a stale commit is fenced.
        let retried = end_txn(&mut conn, 5, &id, next, false);
        assert_eq!((retried.error_code, retried.producer_epoch), (NONE, epoch + 2), "{bootstrap}: retry");
        let stale = end_txn(&mut conn, 5, &id, (pid, epoch), true);
        assert_eq!(stale.error_code, PRODUCER_FENCED, "{bootstrap}: a stale epoch");
        let expected = [Stored::data(2), Stored::commit(), Stored::data(1), Stored::abort()];
        wait_for_layout(&mut conn, &topic, 1, &expected, Duration::from_secs(20));
        assert_eq!(layout(&mut conn, &topic, 1), vec![Stored::data(2), Stored::commit()], "{bootstrap}");
    }
}
