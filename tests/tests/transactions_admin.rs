//! The transaction admin APIs on raw sockets: FindCoordinator for transactional ids (single and
//! batched keys), DescribeTransactions (state, producer, timeout, start time, partitions; unknown
//! ids), ListTransactions with each filter, DescribeProducers and ApiVersions. Set `STRATA_REFERENCE_KAFKA=HOST:PORT` to run the
//! same assertions against reference Kafka 4.1.2.

use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::{
    DescribeProducersRequest, FindCoordinatorRequest, ListTransactionsRequest, ListTransactionsResponse, ProducerId,
};
use kafka_protocol::protocol::StrBytes;
use strata_testkit::RawConn;
use strata_testkit::codes::*;
use strata_tests::Broker;
use strata_tests::transactions::*;

const TIMEOUT_MS: i32 = 60_000;

#[test]
fn find_coordinator_answers_transactional_ids() {
    let broker = Broker::start_default();
    for bootstrap in bootstraps(broker.bootstrap()) {
        let mut conn = RawConn::connect(&bootstrap);
        let node = find_coordinator(&mut conn, &unique("find-one"));
        assert!(node >= 0, "{bootstrap}: a node id");
        let keys = [unique("find-a"), unique("find-b"), String::new()];
        let request = FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(keys.iter().map(|k| StrBytes::from_string(k.clone())).collect());
        let response = conn.request(4, &request);
        let answers: Vec<(String, i16, i32)> =
            response.coordinators.iter().map(|c| (c.key.to_string(), c.error_code, c.node_id.0)).collect();
        // Kafka answers even an empty transactional id with its coordinator.
        let expected = vec![(keys[0].clone(), NONE, node), (keys[1].clone(), NONE, node), (String::new(), NONE, node)];
        assert_eq!(answers, expected, "{bootstrap}: batched keys");
    }
}

#[test]
fn describe_transactions_shows_each_state() {
    let broker = Broker::start_default();
    for bootstrap in bootstraps(broker.bootstrap()) {
        let mut conn = RawConn::connect(&bootstrap);
        let (topic, id) = (unique("describe"), unique("describe-tx"));
        create_topic_ready(&mut conn, &topic, 2);
        let producer = init_ok(&mut conn, &id, TIMEOUT_MS);
        let empty = describe(&mut conn, &id);
        assert_eq!(
            (empty.error_code, empty.transaction_state.as_str(), empty.producer_id.0, empty.producer_epoch),
            (NONE, "Empty", producer.0, producer.1),
            "{bootstrap}: {empty:?}"
        );
        assert_eq!((empty.transaction_timeout_ms, empty.transaction_start_time_ms), (TIMEOUT_MS, -1), "{bootstrap}");
        let before = strata_testkit::requests::epoch_ms();
        assert_eq!(add_partitions(&mut conn, &id, producer, &topic, &[1, 0]), vec![NONE, NONE]);
        let ongoing = describe(&mut conn, &id);
        let mut partitions: Vec<(String, i32)> =
            ongoing.topics.iter().flat_map(|t| t.partitions.iter().map(|p| (t.topic.to_string(), *p))).collect();
        partitions.sort();
        assert_eq!(ongoing.transaction_state.as_str(), "Ongoing", "{bootstrap}");
        assert_eq!(partitions, vec![(topic.clone(), 0), (topic.clone(), 1)], "{bootstrap}");
        assert!(ongoing.transaction_start_time_ms >= before, "{bootstrap}: started now: {ongoing:?}");
        assert_eq!(end_txn(&mut conn, END_TXN_VERSION, &id, producer, true).error_code, NONE);
        let committed = wait_for_state(&mut conn, &id, "CompleteCommit", std::time::Duration::from_secs(20));
        assert!(committed.topics.is_empty(), "{bootstrap}: a complete transaction lists no partitions");
        let unknown_id = unique("describe-unknown");
        find_coordinator(&mut conn, &unknown_id);
        let unknown = describe(&mut conn, &unknown_id);
        assert_eq!(unknown.error_code, TRANSACTIONAL_ID_NOT_FOUND, "{bootstrap}: {unknown:?}");
    }
}

fn list(conn: &mut RawConn, version: i16, request: ListTransactionsRequest) -> ListTransactionsResponse {
    conn.request(version, &request)
}

/// The transactional ids of `response` among `ours`, sorted, with their states.
fn listed(response: &ListTransactionsResponse, ours: &[&String]) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = response
        .transaction_states
        .iter()
        .filter(|t| ours.iter().any(|id| id.as_str() == t.transactional_id.as_str()))
        .map(|t| (t.transactional_id.to_string(), t.transaction_state.to_string()))
        .collect();
    found.sort();
    found
}

#[test]
fn list_transactions_filters_by_state_producer_duration_and_pattern() {
    let broker = Broker::start_default();
    for bootstrap in bootstraps(broker.bootstrap()) {
        let mut conn = RawConn::connect(&bootstrap);
        let topic = unique("list");
        let (idle, open) = (unique("list-idle"), unique("list-open"));
        create_topic_ready(&mut conn, &topic, 1);
        let idle_producer = init_ok(&mut conn, &idle, TIMEOUT_MS);
        let open_producer = init_ok(&mut conn, &open, TIMEOUT_MS);
        assert_eq!(add_partitions(&mut conn, &open, open_producer, &topic, &[0]), vec![NONE]);
        let ours = [&idle, &open];
        let state = |s: &str| StrBytes::from_string(s.to_owned());

        let all = list(&mut conn, 0, ListTransactionsRequest::default());
        let expected_all = vec![(idle.clone(), "Empty".to_owned()), (open.clone(), "Ongoing".to_owned())];
        assert_eq!((all.error_code, listed(&all, &ours)), (NONE, expected_all.clone()), "{bootstrap}");

        let ongoing = list(
            &mut conn,
            0,
            ListTransactionsRequest::default().with_state_filters(vec![state("Ongoing"), state("Bogus")]),
        );
        assert_eq!(listed(&ongoing, &ours), vec![(open.clone(), "Ongoing".to_owned())], "{bootstrap}");
        assert_eq!(ongoing.unknown_state_filters, vec![state("Bogus")], "{bootstrap}: unknown state names come back");

        let by_producer =
            ListTransactionsRequest::default().with_producer_id_filters(vec![ProducerId(idle_producer.0)]);
        assert_eq!(
            listed(&list(&mut conn, 0, by_producer), &ours),
            vec![(idle.clone(), "Empty".to_owned())],
            "{bootstrap}"
        );

        // v1: only transactions running longer than the duration. The open one has run for
        // milliseconds; the idle one has no start time (-1), which Kafka counts from the epoch.
        let long = list(&mut conn, 1, ListTransactionsRequest::default().with_duration_filter(3_600_000));
        assert_eq!(listed(&long, &ours), vec![(idle.clone(), "Empty".to_owned())], "{bootstrap}: an hour");

        // v2: a pattern the whole transactional id must match.
        let pattern = ListTransactionsRequest::default()
            .with_transactional_id_pattern(Some(state(&format!("{}.*", open.trim_end_matches(char::is_numeric)))));
        let matched = list(&mut conn, 2, pattern);
        assert_eq!(listed(&matched, &ours), vec![(open.clone(), "Ongoing".to_owned())], "{bootstrap}: pattern");
        assert_eq!(end_txn(&mut conn, END_TXN_VERSION, &open, open_producer, false).error_code, NONE);
    }
}

#[test]
fn api_versions_reports_transaction_version_2() {
    let broker = Broker::start_default();
    for bootstrap in bootstraps(broker.bootstrap()) {
        let mut conn = RawConn::connect(&bootstrap);
        let response = conn.request(3, &strata_testkit::requests::api_versions_request());
        // Reference Kafka 4.1.2 lists only metadata.version among its supported features, and
        // finalizes transaction.version at 2 (clients read the finalized level).
        let finalized = response.finalized_features.iter().find(|f| f.name.as_str() == "transaction.version");
        let finalized = finalized.map(|f| (f.min_version_level, f.max_version_level));
        assert_eq!(finalized, Some((2, 2)), "{bootstrap}: finalized transaction.version");
        assert!(response.finalized_features_epoch >= 0, "{bootstrap}: clients take features of an epoch >= 0");
        let versions =
            |key: i16| response.api_keys.iter().find(|k| k.api_key == key).map(|k| (k.min_version, k.max_version));
        // InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, WriteTxnMarkers,
        // DescribeProducers, DescribeTransactions, ListTransactions: Kafka 4.1.2's ranges.
        let expected = [
            (22, (0, 5)),
            (24, (0, 5)),
            (25, (0, 4)),
            (26, (0, 5)),
            (27, (1, 1)),
            (61, (0, 0)),
            (65, (0, 0)),
            (66, (0, 2)),
        ];
        for (key, range) in expected {
            assert_eq!(versions(key), Some(range), "{bootstrap}: API key {key}");
        }
    }
}

#[test]
fn describe_producers_shows_open_and_completed_transactions() {
    let broker = Broker::start_default();
    for bootstrap in bootstraps(broker.bootstrap()) {
        let mut conn = RawConn::connect(&bootstrap);
        let (topic, id) = (unique("producers"), unique("producers-tx"));
        create_topic_ready(&mut conn, &topic, 1);
        let producer = init_ok(&mut conn, &id, TIMEOUT_MS);
        assert_eq!(add_partitions(&mut conn, &id, producer, &topic, &[0]), vec![NONE]);
        let before = strata_testkit::requests::epoch_ms();
        let (code, message) = produce_txn(&mut conn, 9, Some(&id), &topic, 0, txn_batch(producer, 0, 2));
        assert_eq!(code, NONE, "{bootstrap}: {message:?}");
        let request = DescribeProducersRequest::default().with_topics(vec![
            TopicRequest::default()
                .with_name(strata_testkit::requests::topic_name(&topic))
                .with_partition_indexes(vec![0, 9]),
        ]);
        // The last timestamp of partition 0's one producer.
        let last_timestamp = |conn: &mut RawConn| {
            let response = conn.request(0, &request);
            response.topics[0].partitions[0].active_producers[0].last_timestamp
        };
        // (error, [(producer id, epoch, last sequence, current transaction start)]) per partition.
        let describe_producers = |conn: &mut RawConn| {
            let response = conn.request(0, &request);
            response.topics[0]
                .partitions
                .iter()
                .map(|p| {
                    let producers: Vec<(i64, i32, i32, i64)> = p
                        .active_producers
                        .iter()
                        .map(|a| (a.producer_id.0, a.producer_epoch, a.last_sequence, a.current_txn_start_offset))
                        .collect();
                    (p.partition_index, p.error_code, producers)
                })
                .collect::<Vec<_>>()
        };
        let epoch = i32::from(producer.1);
        let open = describe_producers(&mut conn);
        let expected = vec![(0, NONE, vec![(producer.0, epoch, 1, 0)]), (9, UNKNOWN_TOPIC_OR_PARTITION, vec![])];
        assert_eq!(open, expected, "{bootstrap}: an open transaction from offset 0");
        // The batch's largest timestamp (its records are stamped from the time it was built).
        let batch_timestamp = last_timestamp(&mut conn);
        assert!(
            (before..before + 60_000).contains(&batch_timestamp),
            "{bootstrap}: last timestamp {batch_timestamp}, batch built at {before}"
        );
        assert_eq!(end_txn(&mut conn, END_TXN_VERSION, &id, producer, true).error_code, NONE);
        wait_for_state(&mut conn, &id, "CompleteCommit", std::time::Duration::from_secs(20));
        let done = describe_producers(&mut conn);
        let expected = vec![(0, NONE, vec![(producer.0, epoch, 1, -1)]), (9, UNKNOWN_TOPIC_OR_PARTITION, vec![])];
        assert_eq!(done, expected, "{bootstrap}: the transaction completed");
        // The marker's timestamp, taken when the coordinator wrote it.
        assert!(last_timestamp(&mut conn) >= batch_timestamp, "{bootstrap}: the marker's timestamp");
    }
}
