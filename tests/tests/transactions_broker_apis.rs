//! The inter-broker transaction APIs on raw sockets: AddPartitionsToTxn v4+ (a batch of
//! transactions, each verify-only or adding on a transaction version 2 producer's behalf) and
//! WriteTxnMarkers (markers written to local partitions). Set `STRATA_REFERENCE_KAFKA=HOST:PORT`
//! to run the AddPartitionsToTxn assertions against reference Kafka 4.1.2 too. WriteTxnMarkers
//! runs against Strata only: reference Kafka 4.1.2 left this request unanswered for over 10 s on
//! its client listener (its coordinator sends it to brokers, not clients).

use kafka_protocol::messages::add_partitions_to_txn_request::{AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction};
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, ProducerId, WriteTxnMarkersRequest};
use strata_testkit::RawConn;
use strata_testkit::codes::*;
use strata_testkit::requests::topic_name;
use strata_tests::Broker;
use strata_tests::transactions::*;

const TIMEOUT_MS: i32 = 60_000;

fn transaction(
    id: &str,
    producer: (i64, i16),
    verify_only: bool,
    topic: &str,
    partitions: &[i32],
) -> AddPartitionsToTxnTransaction {
    AddPartitionsToTxnTransaction::default()
        .with_transactional_id(txn_id(id))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_verify_only(verify_only)
        .with_topics(vec![
            AddPartitionsToTxnTopic::default().with_name(topic_name(topic)).with_partitions(partitions.to_vec()),
        ])
}

#[test]
fn add_partitions_v4_verifies_and_adds_batches_of_transactions() {
    let broker = Broker::start_default();
    for bootstrap in bootstraps(broker.bootstrap()) {
        let mut conn = RawConn::connect(&bootstrap);
        let topic = unique("batched");
        let (verified, added) = (unique("batched-verify"), unique("batched-add"));
        create_topic_ready(&mut conn, &topic, 3);
        let verified_producer = init_ok(&mut conn, &verified, TIMEOUT_MS);
        let added_producer = init_ok(&mut conn, &added, TIMEOUT_MS);
        assert_eq!(add_partitions(&mut conn, &verified, verified_producer, &topic, &[0]), vec![NONE]);
        let request = AddPartitionsToTxnRequest::default().with_transactions(vec![
            transaction(&verified, verified_producer, true, &topic, &[0, 1]),
            transaction(&added, added_producer, false, &topic, &[2]),
        ]);
        let response = conn.request(5, &request);
        assert_eq!(response.error_code, NONE, "{bootstrap}");
        let mut results: Vec<(String, i32, i16)> = response
            .results_by_transaction
            .iter()
            .flat_map(|t| {
                t.topic_results.iter().flat_map(move |topic| {
                    topic
                        .results_by_partition
                        .iter()
                        .map(move |p| (t.transactional_id.to_string(), p.partition_index, p.partition_error_code))
                })
            })
            .collect();
        results.sort();
        let mut expected =
            vec![(verified.clone(), 0, NONE), (verified.clone(), 1, TRANSACTION_ABORTABLE), (added.clone(), 2, NONE)];
        expected.sort();
        assert_eq!(results, expected, "{bootstrap}");
        // Verification changed nothing; the add started the second transaction.
        let described = describe(&mut conn, &verified);
        assert_eq!(described.topics.iter().map(|t| t.partitions.clone()).collect::<Vec<_>>(), vec![vec![0]]);
        assert_eq!(describe(&mut conn, &added).transaction_state.as_str(), "Ongoing", "{bootstrap}");
    }
}

#[test]
fn write_txn_markers_writes_to_local_partitions() {
    let broker = Broker::start_default();
    {
        let bootstrap = broker.bootstrap();
        let mut conn = RawConn::connect(bootstrap);
        let topic = unique("markers");
        create_topic_ready(&mut conn, &topic, 1);
        let (code, message) = produce_txn(&mut conn, 9, None, &topic, 0, plain_batch(2));
        assert_eq!(code, NONE, "{bootstrap}: {message:?}");
        let marker = |commit: bool, topic: &str, partitions: Vec<i32>| {
            WritableTxnMarker::default()
                .with_producer_id(ProducerId(4242))
                .with_producer_epoch(0)
                .with_transaction_result(commit)
                .with_coordinator_epoch(0)
                .with_topics(vec![
                    WritableTxnMarkerTopic::default().with_name(topic_name(topic)).with_partition_indexes(partitions),
                ])
        };
        let request = WriteTxnMarkersRequest::default()
            .with_markers(vec![marker(true, &topic, vec![0, 7]), marker(false, &unique("no-such-topic"), vec![0])]);
        let response = conn.request(1, &request);
        let codes: Vec<Vec<(i32, i16)>> = response
            .markers
            .iter()
            .map(|m| {
                m.topics.iter().flat_map(|t| t.partitions.iter().map(|p| (p.partition_index, p.error_code))).collect()
            })
            .collect();
        assert_eq!(
            codes,
            vec![vec![(0, NONE), (7, UNKNOWN_TOPIC_OR_PARTITION)], vec![(0, UNKNOWN_TOPIC_OR_PARTITION)]],
            "{bootstrap}"
        );
        let stored = layout(&mut conn, &topic, 0);
        assert_eq!(stored.last(), Some(&Stored::commit()), "{bootstrap}: the marker is in the log: {stored:?}");
    }
}
