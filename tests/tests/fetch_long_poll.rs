//! A long-polling Fetch answers as soon as its `min_bytes` can be met, and not before: when the
//! bytes arrive in several appends, spread over partitions, and (read_committed) when they were
//! written inside a transaction and become readable only at its commit. The broker wakes the poll
//! on every append but reads the logs again only when its counters say `min_bytes` can be met
//! (`broker/src/handlers/fetch_wait.rs`); these tests check that it never waits while enough is
//! there. Run against reference Kafka too with `STRATA_REFERENCE_KAFKA=HOST:PORT`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use strata_testkit::RawConn;
use strata_testkit::codes::NONE;
use strata_testkit::requests::FETCH_VERSION;
use strata_tests::Broker;
use strata_tests::transactions::{
    add_partitions, bootstraps, create_topic_ready, end_txn, init_ok, plain_batch, produce_txn, txn_batch, unique,
    wait_fetchable,
};

const READ_UNCOMMITTED: i8 = 0;
const READ_COMMITTED: i8 = 1;
/// Long enough that an answer before it can only come from `min_bytes` being met.
const MAX_WAIT_MS: i32 = 20_000;
/// How soon after the last byte the answer must come (the poll wakes on the append itself).
const PROMPT: Duration = Duration::from_secs(5);

/// A fetch of `partitions` of `topic` from offset 0 that waits for `min_bytes`.
fn long_poll(topic: &str, partitions: &[i32], min_bytes: usize, isolation_level: i8) -> FetchRequest {
    let wanted = partitions
        .iter()
        .map(|p| FetchPartition::default().with_partition(*p).with_fetch_offset(0).with_partition_max_bytes(1 << 20))
        .collect();
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(MAX_WAIT_MS)
        .with_min_bytes(i32::try_from(min_bytes).expect("min_bytes fits i32"))
        .with_max_bytes(8 << 20)
        .with_isolation_level(isolation_level)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(wanted),
        ])
}

/// Sends `request` on its own connection from another thread; the answer arrives on the channel.
fn fetch_in_background(bootstrap: &str, request: FetchRequest) -> mpsc::Receiver<(FetchResponse, Instant)> {
    let (tx, rx) = mpsc::channel();
    let mut conn = RawConn::connect(bootstrap);
    std::thread::spawn(move || {
        let response = conn.request(FETCH_VERSION, &request);
        let _ = tx.send((response, Instant::now()));
    });
    rx
}

/// Fails if the fetch has already answered: `min_bytes` is not met yet.
fn assert_still_waiting(rx: &mpsc::Receiver<(FetchResponse, Instant)>, what: &str) {
    std::thread::sleep(Duration::from_millis(300));
    if let Ok((response, _)) = rx.try_recv() {
        panic!("the fetch answered before {what}: {response:?}");
    }
}

fn record_bytes(response: &FetchResponse) -> usize {
    response
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .inspect(|p| assert_eq!(p.error_code, NONE, "partition {} error", p.partition_index))
        .map(|p| p.records.as_ref().map_or(0, Bytes::len))
        .sum()
}

#[test]
fn min_bytes_met_by_appends_over_two_partitions_answers_at_once() {
    let broker = Broker::start_default();
    for bootstrap in bootstraps(broker.bootstrap()) {
        let mut conn = RawConn::connect(&bootstrap);
        let topic = unique("poll-two");
        create_topic_ready(&mut conn, &topic, 2);
        wait_fetchable(&mut conn, &topic, &[0, 1]);
        let batch = plain_batch(5);
        // Four batches in all, two to each partition: the answer comes after the fourth.
        let rx = fetch_in_background(&bootstrap, long_poll(&topic, &[0, 1], 4 * batch.len(), READ_UNCOMMITTED));
        for (n, partition) in [0, 1, 0].into_iter().enumerate() {
            assert_still_waiting(&rx, &format!("batch {} of 4 ({bootstrap})", n + 1));
            assert_eq!(produce_txn(&mut conn, 9, None, &topic, partition, batch.clone()).0, NONE);
        }
        assert_still_waiting(&rx, &format!("batch 4 of 4 ({bootstrap})"));
        assert_eq!(produce_txn(&mut conn, 9, None, &topic, 1, batch.clone()).0, NONE);
        let sent = Instant::now();
        let (response, answered) = rx.recv_timeout(Duration::from_secs(30)).expect("the fetch answers");
        assert!(answered.saturating_duration_since(sent) < PROMPT, "answered {:?} late", answered - sent);
        assert!(record_bytes(&response) >= 4 * batch.len(), "{bootstrap}");
    }
}

#[test]
fn a_read_committed_long_poll_answers_when_the_transaction_holding_its_bytes_commits() {
    let broker = Broker::start_default();
    for bootstrap in bootstraps(broker.bootstrap()) {
        let mut conn = RawConn::connect(&bootstrap);
        let topic = unique("poll-txn");
        let id = unique("poll-txn-id");
        create_topic_ready(&mut conn, &topic, 1);
        wait_fetchable(&mut conn, &topic, &[0]);
        let producer = init_ok(&mut conn, &id, 60_000);
        assert_eq!(add_partitions(&mut conn, &id, producer, &topic, &[0]), vec![NONE]);
        let batch = txn_batch(producer, 0, 20);
        let rx = fetch_in_background(&bootstrap, long_poll(&topic, &[0], batch.len(), READ_COMMITTED));
        assert_still_waiting(&rx, &format!("anything was produced ({bootstrap})"));
        // The bytes are in the log but not stable: read_committed keeps waiting.
        assert_eq!(produce_txn(&mut conn, 9, Some(&id), &topic, 0, batch.clone()).0, NONE);
        assert_still_waiting(&rx, &format!("the transaction committed ({bootstrap})"));
        let committed = Instant::now();
        assert_eq!(end_txn(&mut conn, 3, &id, producer, true).error_code, NONE);
        let (response, answered) = rx.recv_timeout(Duration::from_secs(30)).expect("the fetch answers");
        assert!(answered.saturating_duration_since(committed) < PROMPT, "answered {:?} late", answered - committed);
        assert!(record_bytes(&response) >= batch.len(), "{bootstrap}");
        let partition = &response.responses[0].partitions[0];
        assert!(partition.last_stable_offset > 20, "last stable offset {} ({bootstrap})", partition.last_stable_offset);
    }
}
