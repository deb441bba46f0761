//! Raw transaction requests for the transaction tests (built with `kafka-protocol`, sent with the
//! test kit's raw client), and what a partition holds batch by batch, markers included.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::describe_transactions_response::TransactionState;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, DescribeTransactionsRequest, EndTxnRequest, EndTxnResponse, FindCoordinatorRequest,
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use strata_testkit::RawConn;
use strata_testkit::batches::{Batch, decode};
use strata_testkit::codes::{
    CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS as LOAD_IN_PROGRESS, NOT_COORDINATOR, NOT_LEADER_OR_FOLLOWER,
};
use strata_testkit::requests;

pub const INIT_PRODUCER_ID_VERSION: i16 = 5;
pub const ADD_PARTITIONS_VERSION: i16 = 3;
pub const END_TXN_VERSION: i16 = 4;

pub fn txn_id(id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(id.to_owned()))
}

/// FindCoordinator (v3, key type 1) for `id`, retried until the coordinator answers as a client
/// retries it (reference Kafka creates `__transaction_state` on the first such request): the
/// coordinator's node id.
pub fn find_coordinator(conn: &mut RawConn, id: &str) -> i32 {
    let request = FindCoordinatorRequest::default().with_key(StrBytes::from_string(id.to_owned())).with_key_type(1);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = conn.request(3, &request);
        if response.error_code == 0 {
            return response.node_id.0;
        }
        assert!(Instant::now() < deadline, "no coordinator for {id}: {response:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// InitProducerId for `id` with a transaction timeout, after finding its coordinator and past
/// its loading (COORDINATOR_LOAD_IN_PROGRESS and NOT_COORDINATOR are retried, as clients do).
pub fn init(conn: &mut RawConn, id: &str, timeout_ms: i32) -> InitProducerIdResponse {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn_id(id)))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if !id.is_empty() {
            find_coordinator(conn, id);
        }
        let response = conn.request(INIT_PRODUCER_ID_VERSION, &request);
        let loading = [LOAD_IN_PROGRESS, NOT_COORDINATOR].contains(&response.error_code);
        if !loading || Instant::now() > deadline {
            return response;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// InitProducerId that must succeed: the producer id and epoch.
pub fn init_ok(conn: &mut RawConn, id: &str, timeout_ms: i32) -> (i64, i16) {
    let response = init(conn, id, timeout_ms);
    assert_eq!(response.error_code, 0, "InitProducerId {id}");
    (response.producer_id.0, response.producer_epoch)
}

/// InitProducerId that may first meet the abort it starts (an open transaction is aborted and
/// the caller told CONCURRENT_TRANSACTIONS until its markers are written), retried as a client
/// retries it: the producer id and epoch.
pub fn init_when_settled(conn: &mut RawConn, id: &str, timeout_ms: i32) -> (i64, i16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = init(conn, id, timeout_ms);
        match answer.error_code {
            0 => return (answer.producer_id.0, answer.producer_epoch),
            CONCURRENT_TRANSACTIONS if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("InitProducerId {id} answered {other}"),
        }
    }
}

/// AddPartitionsToTxn v3 (the producer's form): every partition's error code, in order.
pub fn add_partitions(conn: &mut RawConn, id: &str, producer: (i64, i16), topic: &str, partitions: &[i32]) -> Vec<i16> {
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id(id))
        .with_v3_and_below_producer_id(ProducerId(producer.0))
        .with_v3_and_below_producer_epoch(producer.1)
        .with_v3_and_below_topics(vec![
            AddPartitionsToTxnTopic::default()
                .with_name(requests::topic_name(topic))
                .with_partitions(partitions.to_vec()),
        ]);
    let response = conn.request(ADD_PARTITIONS_VERSION, &request);
    response
        .results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| t.results_by_partition.iter().map(|p| p.partition_error_code))
        .collect()
}

/// EndTxn at `version`.
pub fn end_txn(conn: &mut RawConn, version: i16, id: &str, producer: (i64, i16), commit: bool) -> EndTxnResponse {
    let request = EndTxnRequest::default()
        .with_transactional_id(txn_id(id))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_committed(commit);
    conn.request(version, &request)
}

/// A transactional batch of `count` records from `producer`, starting at `sequence`.
pub fn txn_batch(producer: (i64, i16), sequence: i32, count: usize) -> Bytes {
    requests::records(count, 0).producer(producer.0, producer.1, sequence).transactional().encode()
}

/// Produce (acks=-1) of one record set with the request's transactional id: the partition's
/// error code and message.
pub fn produce_txn(
    conn: &mut RawConn,
    version: i16,
    id: Option<&str>,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> (i16, Option<String>) {
    let request: ProduceRequest =
        requests::produce_request(topic, partition, records, -1).with_transactional_id(id.map(txn_id));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = conn.request(version, &request);
        let answer = &response.responses[0].partition_responses[0];
        // Reference Kafka may not lead a new partition for a moment after Metadata shows it.
        if answer.error_code != NOT_LEADER_OR_FOLLOWER || Instant::now() > deadline {
            return (answer.error_code, answer.error_message.as_ref().map(|m| m.to_string()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// DescribeTransactions of one id.
pub fn describe(conn: &mut RawConn, id: &str) -> TransactionState {
    let response = conn.request(0, &DescribeTransactionsRequest::default().with_transactional_ids(vec![txn_id(id)]));
    response.transaction_states.into_iter().next().expect("one transaction state")
}

/// Waits until `id`'s state is `state` (markers and timeouts complete in the background).
pub fn wait_for_state(conn: &mut RawConn, id: &str, state: &str, within: Duration) -> TransactionState {
    let deadline = Instant::now() + within;
    loop {
        let described = describe(conn, id);
        if described.transaction_state.as_str() == state {
            return described;
        }
        assert!(Instant::now() < deadline, "{id} never reached {state}: {described:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One batch as a partition holds it: `marker` is `Some(commit)` for a control batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub marker: Option<bool>,
    pub records: usize,
    pub transactional: bool,
}

impl Stored {
    pub const fn data(records: usize) -> Stored {
        Stored { marker: None, records, transactional: true }
    }
    pub const fn commit() -> Stored {
        Stored { marker: Some(true), records: 1, transactional: true }
    }
    pub const fn abort() -> Stored {
        Stored { marker: Some(false), records: 1, transactional: true }
    }
}

/// Every batch of a partition from offset 0, read with a raw Fetch (read_uncommitted).
pub fn layout(conn: &mut RawConn, topic: &str, partition: i32) -> Vec<Stored> {
    let fetched = requests::fetch(conn, topic, partition, 0);
    let sets = decode(&fetched.records.unwrap_or_default());
    sets.iter()
        .map(|set| {
            let first = &set.records[0];
            let marker = first.control.then(|| {
                let key = first.key.as_ref().expect("a control record has a key");
                // Key: version i16, type i16 (0 abort, 1 commit).
                i16::from_be_bytes([key[2], key[3]]) == 1
            });
            Stored { marker, records: set.records.len(), transactional: first.transactional }
        })
        .collect()
}

/// Waits until partitions `0..partitions` of `topic` each hold `expected`: markers are written
/// after EndTxn's answer, so they may land a moment after it.
pub fn wait_for_layout(conn: &mut RawConn, topic: &str, partitions: i32, expected: &[Stored], within: Duration) {
    let deadline = Instant::now() + within;
    for partition in 0..partitions {
        loop {
            let seen = layout(conn, topic, partition);
            if seen == expected {
                break;
            }
            assert!(Instant::now() < deadline, "{topic}-{partition}: {seen:?}, expected {expected:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A batch that is not transactional, for contrast.
pub fn plain_batch(count: usize) -> Bytes {
    Batch::new().numbered(count, None, requests::epoch_ms()).encode()
}

/// Where to run a raw scenario: the Strata broker under test, and reference Kafka too when
/// `STRATA_REFERENCE_KAFKA` names one (`bash compat/reference-kafka.sh start PORT DIR`), so the
/// same assertions check that the expected codes are Kafka's.
pub fn bootstraps(strata: &str) -> Vec<String> {
    let mut all = vec![strata.to_owned()];
    all.extend(std::env::var("STRATA_REFERENCE_KAFKA").ok().filter(|b| !b.is_empty()));
    all
}

/// A name unique to this run (reference Kafka keeps its topics and transactional ids).
pub fn unique(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

/// Creates a topic and waits until every partition has a leader (reference Kafka elects them
/// a moment after CreateTopics answers).
pub fn create_topic_ready(conn: &mut RawConn, name: &str, partitions: i32) {
    requests::create_topic_ok(conn, name, partitions);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metadata = requests::metadata(conn, Some(&[name]), false);
        let ready = metadata.topics.iter().all(|t| {
            t.error_code == 0
                && t.partitions.len() == usize::try_from(partitions).unwrap_or(0)
                && t.partitions.iter().all(|p| p.leader_id.0 >= 0)
        });
        if ready {
            return;
        }
        assert!(Instant::now() < deadline, "{name} has no leaders: {metadata:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until every partition answers a fetch without an error (reference Kafka answers
/// NOT_LEADER_OR_FOLLOWER for a moment after Metadata shows a new partition's leader).
pub fn wait_fetchable(conn: &mut RawConn, topic: &str, partitions: &[i32]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for partition in partitions {
        while requests::fetch(conn, topic, *partition, 0).error_code != 0 {
            assert!(Instant::now() < deadline, "{topic}-{partition} never became fetchable");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
