//! Incremental fetch sessions (KIP-227) on real sockets: a full fetch at epoch 0 opens a session,
//! incremental fetches name only what changed and get only the partitions with news, from any
//! connection; wrong epochs, unknown ids and a change of topic naming are refused with Kafka's
//! codes; epoch -1 closes the session. Fetch v12 (topics by name) and v17 (by id). Run against
//! reference Kafka too with `STRATA_REFERENCE_KAFKA=HOST:PORT`.

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use strata_testkit::RawConn;
use strata_testkit::codes::{
    FETCH_SESSION_ID_NOT_FOUND, FETCH_SESSION_TOPIC_ID_ERROR, INVALID_FETCH_SESSION_EPOCH, NONE,
};
use strata_testkit::requests;
use strata_tests::transactions::{bootstraps, create_topic_ready, plain_batch, produce_txn, unique, wait_fetchable};
use strata_tests::{Broker, BrokerOptions};
use uuid::Uuid;

/// Fetch by topic name, and the newest version reference Kafka 4.1 serves (by topic id).
const VERSIONS: [i16; 2] = [12, 17];
/// An incremental fetch with nothing new waits this long for news.
const WAIT_MS: i32 = 200;
const BATCH_RECORDS: i64 = 5;

/// A topic as Fetch names it at some version.
struct Target {
    version: i16,
    name: String,
    id: Uuid,
}

impl Target {
    fn create(conn: &mut RawConn, version: i16, partitions: i32) -> Target {
        let name = unique(&format!("sessions-v{version}"));
        create_topic_ready(conn, &name, partitions);
        wait_fetchable(conn, &name, &(0..partitions).collect::<Vec<_>>());
        let metadata = requests::metadata(conn, Some(&[&name]), false);
        Target { version, name, id: metadata.topics[0].topic_id }
    }

    fn topic(&self, partitions: &[(i32, i64)]) -> FetchTopic {
        let partitions = partitions
            .iter()
            .map(|&(p, offset)| {
                FetchPartition::default().with_partition(p).with_fetch_offset(offset).with_partition_max_bytes(1 << 20)
            })
            .collect();
        let topic = FetchTopic::default().with_partitions(partitions);
        if self.version >= 13 {
            topic.with_topic_id(self.id)
        } else {
            topic.with_topic(TopicName(StrBytes::from_string(self.name.clone())))
        }
    }

    /// A fetch in `session` at `epoch` naming `partitions` (index, offset) and forgetting
    /// `forget`; a full fetch (epoch 0 or -1) answers at once, an incremental one waits for news.
    fn fetch(&self, session: i32, epoch: i32, partitions: &[(i32, i64)], forget: &[i32]) -> FetchRequest {
        let topics = if partitions.is_empty() { Vec::new() } else { vec![self.topic(partitions)] };
        let forgotten = if forget.is_empty() {
            Vec::new()
        } else {
            let topic = ForgottenTopic::default().with_partitions(forget.to_vec());
            vec![if self.version >= 13 {
                topic.with_topic_id(self.id)
            } else {
                topic.with_topic(TopicName(StrBytes::from_string(self.name.clone())))
            }]
        };
        let full = epoch <= 0;
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(if full { 0 } else { WAIT_MS })
            .with_min_bytes(if full { 0 } else { 1 })
            .with_max_bytes(8 << 20)
            .with_session_id(session)
            .with_session_epoch(epoch)
            .with_topics(topics)
            .with_forgotten_topics_data(forgotten)
    }
}

/// (partition, high watermark, whether records came) for every partition answered.
fn answered(response: &FetchResponse) -> Vec<(i32, i64, bool)> {
    response
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .inspect(|p| assert_eq!(p.error_code, NONE, "partition {} error", p.partition_index))
        .map(|p| (p.partition_index, p.high_watermark, p.records.as_ref().is_some_and(|r| !r.is_empty())))
        .collect()
}

fn produce(conn: &mut RawConn, target: &Target, partition: i32) {
    let batch = plain_batch(usize::try_from(BATCH_RECORDS).expect("small"));
    assert_eq!(produce_txn(conn, 9, None, &target.name, partition, batch).0, NONE);
}

#[test]
fn incremental_fetches_carry_only_the_partitions_with_news() {
    let broker = Broker::start_default();
    for bootstrap in bootstraps(broker.bootstrap()) {
        for version in VERSIONS {
            let at = format!("{bootstrap}, Fetch v{version}");
            let mut conn = RawConn::connect(&bootstrap);
            let mut other = RawConn::connect(&bootstrap);
            let target = Target::create(&mut conn, version, 3);
            produce(&mut conn, &target, 0);

            // Epoch 0 opens a session and answers every partition.
            let response = conn.request(version, &target.fetch(0, 0, &[(0, 0), (1, 0), (2, 0)], &[]));
            assert_eq!(response.error_code, NONE, "{at}");
            let session = response.session_id;
            assert!(session > 0, "a session is opened ({at})");
            assert_eq!(answered(&response), vec![(0, BATCH_RECORDS, true), (1, 0, false), (2, 0, false)], "{at}");

            // Nothing new: partition 0 moved on to the end of its data, and the answer is empty.
            let response = conn.request(version, &target.fetch(session, 1, &[(0, BATCH_RECORDS)], &[]));
            assert_eq!((response.error_code, response.session_id), (NONE, session), "{at}");
            assert_eq!(answered(&response), vec![], "nothing new ({at})");

            // Records in partition 1: only it is answered, on another connection too.
            produce(&mut conn, &target, 1);
            let response = other.request(version, &target.fetch(session, 2, &[], &[]));
            assert_eq!((response.error_code, response.session_id), (NONE, session), "{at}");
            assert_eq!(answered(&response), vec![(1, BATCH_RECORDS, true)], "{at}");

            // The same epoch again is refused, and the session stays as it was.
            let response = conn.request(version, &target.fetch(session, 2, &[], &[]));
            assert_eq!(response.error_code, INVALID_FETCH_SESSION_EPOCH, "{at}");

            // Partition 2 forgotten before its records arrive: not answered; named again: answered.
            produce(&mut conn, &target, 2);
            let response = conn.request(version, &target.fetch(session, 3, &[(1, BATCH_RECORDS)], &[2]));
            assert_eq!(answered(&response), vec![], "a forgotten partition is not answered ({at})");
            let response = conn.request(version, &target.fetch(session, 4, &[(2, 0)], &[]));
            assert_eq!(answered(&response), vec![(2, BATCH_RECORDS, true)], "{at}");

            // A session opened with one way of naming topics is refused to the other.
            let other_version = if version >= 13 { 12 } else { 17 };
            let response = conn.request(other_version, &target.fetch(session, 5, &[], &[]));
            assert_eq!(response.error_code, FETCH_SESSION_TOPIC_ID_ERROR, "{at}");

            // An id the broker never gave.
            let unknown = if session == i32::MAX { 1 } else { session + 1 };
            let response = conn.request(version, &target.fetch(unknown, 1, &[], &[]));
            assert_eq!(response.error_code, FETCH_SESSION_ID_NOT_FOUND, "{at}");

            // Epoch -1 closes the session and is answered in full, without one.
            let response = conn.request(version, &target.fetch(session, -1, &[(0, 0)], &[]));
            assert_eq!((response.error_code, response.session_id), (NONE, 0), "{at}");
            assert_eq!(answered(&response), vec![(0, BATCH_RECORDS, true)], "{at}");
            let response = conn.request(version, &target.fetch(session, 5, &[], &[]));
            assert_eq!(response.error_code, FETCH_SESSION_ID_NOT_FOUND, "closed ({at})");
        }
    }
}

#[test]
fn a_full_session_cache_keeps_its_young_sessions() {
    let broker = Broker::start(BrokerOptions::default().with("max.incremental.fetch.session.cache.slots", "1"));
    let mut conn = RawConn::connect(broker.bootstrap());
    let version = VERSIONS[1];
    let target = Target::create(&mut conn, version, 2);
    let first = conn.request(version, &target.fetch(0, 0, &[(0, 0)], &[])).session_id;
    assert!(first > 0);
    // The only slot is taken by a session two minutes have not passed for: even a bigger one
    // gets none, and fetches in full.
    let second = conn.request(version, &target.fetch(0, 0, &[(0, 0), (1, 0)], &[]));
    assert_eq!((second.error_code, second.session_id), (NONE, 0));
    assert_eq!(answered(&second).len(), 2);
    // Closing the first frees the slot.
    assert_eq!(conn.request(version, &target.fetch(first, -1, &[], &[])).session_id, 0);
    assert!(conn.request(version, &target.fetch(0, 0, &[(0, 0), (1, 0)], &[])).session_id > 0);
}
