//! Transactional data on raw sockets: a client's transactional batch opens a transaction in the
//! partition's log (its producer from InitProducerId, the partition added to its transaction, as
//! Produce verifies them with the transaction coordinator), and until it ends
//! READ_COMMITTED fetches stop at the last stable offset (reported in every fetch answer) while
//! READ_UNCOMMITTED ones read on; ListOffsets READ_COMMITTED answers LATEST with the last stable
//! offset. The open transaction survives a SIGKILL of the broker. Clients may not write control
//! batches, nor transactional ones without a transactional id, nor non-transactional ones from a
//! producer whose transaction is open.
//!
//! Markers come only from the transaction coordinator, so commits, aborts and the aborted
//! transactions a READ_COMMITTED fetch lists are tested at the log level (`log/tests/transactions.rs`).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{ProduceRequest, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, NO_PARTITION_LEADER_EPOCH, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use strata_testkit::RawConn;
use strata_testkit::batches::decode;
use strata_testkit::codes::{INVALID_RECORD, INVALID_TXN_STATE, NONE, TRANSACTIONAL_ID_AUTHORIZATION_FAILED};
use strata_testkit::requests::{
    self, FETCH_VERSION, LATEST_TIMESTAMP, LIST_OFFSETS_VERSION, MAX_TIMESTAMP, PRODUCE_VERSION,
};
use strata_tests::Broker;
use strata_tests::transactions::{add_partitions, init_ok};

const TOPIC: &str = "txn";
const READ_UNCOMMITTED: i8 = 0;
const READ_COMMITTED: i8 = 1;
const TXN_ID: &str = "tx-1";
/// The producer of the forged batches, which no coordinator knows.
const FORGED_PRODUCER: (i64, i16) = (4_242, 0);

fn produce_request(record_set: Bytes, transactional_id: Option<&'static str>) -> ProduceRequest {
    requests::produce_request(TOPIC, 0, record_set, -1)
        .with_transactional_id(transactional_id.map(|id| TransactionalId(StrBytes::from_static_str(id))))
}

/// Produces and returns `(error code, base offset)` of the one partition.
fn produce(conn: &mut RawConn, record_set: Bytes, transactional_id: Option<&'static str>) -> (i16, i64) {
    let response = conn.request(PRODUCE_VERSION, &produce_request(record_set, transactional_id));
    let partition = &response.responses[0].partition_responses[0];
    (partition.error_code, partition.base_offset)
}

fn transactional(producer: (i64, i16), count: usize, base_ts: i64, sequence: i32) -> Bytes {
    requests::records(count, base_ts).producer(producer.0, producer.1, sequence).transactional().encode()
}

fn fetch(conn: &mut RawConn, offset: i64, isolation_level: i8) -> PartitionData {
    let request = requests::fetch_request(TOPIC, 0, offset, 8 * 1024 * 1024).with_isolation_level(isolation_level);
    let response = conn.request(FETCH_VERSION, &request);
    let mut partitions = response.responses.into_iter().flat_map(|t| t.partitions);
    let partition = partitions.next().expect("one partition in the fetch response");
    assert_eq!(partition.error_code, NONE, "fetch error code");
    partition
}

/// Every record offset in a fetch answer.
fn offsets(partition: &PartitionData) -> Vec<i64> {
    let records = partition.records.clone().unwrap_or_default();
    decode(&records).iter().flat_map(|set| set.records.iter().map(|r| r.offset)).collect()
}

fn latest(conn: &mut RawConn, isolation_level: i8) -> i64 {
    let request = requests::list_offsets_request(TOPIC, 0, LATEST_TIMESTAMP).with_isolation_level(isolation_level);
    let response = conn.request(LIST_OFFSETS_VERSION, &request);
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, NONE, "list offsets error code");
    partition.offset
}

/// 0-2 plain, 3-4 transactional (left open), 5-6 plain; the transaction's producer.
fn open_transaction(conn: &mut RawConn) -> (i64, i16) {
    requests::create_topic_ok(conn, TOPIC, 1);
    let producer = init_ok(conn, TXN_ID, 60_000);
    assert_eq!(add_partitions(conn, TXN_ID, producer, TOPIC, &[0]), vec![NONE]);
    assert_eq!(produce(conn, requests::records(3, 1_000).encode(), None), (NONE, 0));
    assert_eq!(produce(conn, transactional(producer, 2, 2_000, 0), Some(TXN_ID)), (NONE, 3));
    assert_eq!(produce(conn, requests::records(2, 3_000).encode(), None), (NONE, 5));
    producer
}

/// What every fetch and list-offsets answer says while the transaction from offset 3 is open.
fn assert_stable_at_3(conn: &mut RawConn) {
    let uncommitted = fetch(conn, 0, READ_UNCOMMITTED);
    assert_eq!(offsets(&uncommitted), (0..7).collect::<Vec<_>>(), "read_uncommitted reads to the high watermark");
    assert_eq!((uncommitted.high_watermark, uncommitted.last_stable_offset), (7, 3));
    assert_eq!(uncommitted.aborted_transactions, None, "only read_committed answers list aborts");

    let committed = fetch(conn, 0, READ_COMMITTED);
    assert_eq!(offsets(&committed), vec![0, 1, 2], "read_committed stops at the last stable offset");
    assert_eq!((committed.high_watermark, committed.last_stable_offset), (7, 3));
    assert_eq!(committed.aborted_transactions, Some(Vec::new()));

    for from in [3, 5, 7] {
        let committed = fetch(conn, from, READ_COMMITTED);
        assert!(offsets(&committed).is_empty(), "nothing stable from {from}");
        assert_eq!(committed.last_stable_offset, 3);
    }
    assert_eq!(offsets(&fetch(conn, 5, READ_UNCOMMITTED)), vec![5, 6]);

    assert_eq!(latest(conn, READ_COMMITTED), 3, "ListOffsets read_committed: the last stable offset");
    assert_eq!(latest(conn, READ_UNCOMMITTED), 7, "ListOffsets read_uncommitted: the high watermark");
}

#[test]
fn read_committed_stops_at_an_open_transaction() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    let producer = open_transaction(&mut conn);
    assert_stable_at_3(&mut conn);
    // More batches of the same transaction keep it open from its first offset.
    assert_eq!(produce(&mut conn, transactional(producer, 1, 4_000, 2), Some(TXN_ID)), (NONE, 7));
    assert_eq!(fetch(&mut conn, 0, READ_COMMITTED).last_stable_offset, 3);
    // While it is open, the producer's data must be transactional (Kafka's INVALID_TXN_STATE).
    let plain_from_producer = requests::records(1, 4_000).producer(producer.0, producer.1, 3).encode();
    assert_eq!(produce(&mut conn, plain_from_producer, None).0, INVALID_TXN_STATE);
    // The newest record (offset 7) is past the last stable offset: read_committed finds none.
    let max_timestamp = |conn: &mut RawConn, isolation_level| {
        let request = requests::list_offsets_request(TOPIC, 0, MAX_TIMESTAMP).with_isolation_level(isolation_level);
        conn.request(LIST_OFFSETS_VERSION, &request).topics[0].partitions[0].offset
    };
    assert_eq!(max_timestamp(&mut conn, READ_COMMITTED), -1);
    assert_eq!(max_timestamp(&mut conn, READ_UNCOMMITTED), 7);
}

#[test]
fn an_open_transaction_survives_a_broker_kill() {
    let mut broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    open_transaction(&mut conn);
    broker.kill();
    broker.restart();
    let mut conn = RawConn::connect(broker.bootstrap());
    assert_stable_at_3(&mut conn);
}

/// A control batch as a client could forge one (the coordinator writes the real ones).
fn control_batch() -> Bytes {
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        producer_id: FORGED_PRODUCER.0,
        producer_epoch: 0,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 0,
        key: Some(Bytes::from_static(&[0, 0, 0, 1])),
        value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
        headers: Default::default(),
    };
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut out, std::iter::once(&record), &options).expect("encode a control batch");
    out.freeze()
}

#[test]
fn clients_may_not_write_markers_nor_transactions_without_an_id() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, TOPIC, 1);
    assert_eq!(produce(&mut conn, control_batch(), Some("tx-1")).0, INVALID_RECORD);
    assert_eq!(
        produce(&mut conn, transactional(FORGED_PRODUCER, 1, 0, 0), None).0,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    assert_eq!(latest(&mut conn, READ_UNCOMMITTED), 0, "nothing was written");
    assert_eq!(latest(&mut conn, READ_COMMITTED), 0);
}
