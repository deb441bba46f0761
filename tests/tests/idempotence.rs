//! The idempotent producer: librdkafka with `enable.idempotence=true` writes each message once,
//! and on raw sockets a retried batch is answered with its original offset while a gap in the
//! sequence is OUT_OF_ORDER_SEQUENCE_NUMBER.

use kafka_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use kafka_protocol::records::Compression;
use strata_testkit::RawConn;
use strata_testkit::codes::*;
use strata_testkit::requests::{self, LATEST_TIMESTAMP};
use strata_tests::Broker;
use strata_tests::clients;
use strata_tests::data;

#[test]
fn idempotent_librdkafka_producer_writes_each_message_once() {
    let broker = Broker::start_default();
    clients::create_topic(broker.bootstrap(), "idem", 3);
    let messages = data::generate("idem", 50_000, 3);
    let offsets = clients::produce_all(
        broker.bootstrap(),
        "idem",
        &messages,
        &[("enable.idempotence", "true"), ("compression.type", "lz4"), ("max.in.flight.requests.per.connection", "5")],
    );
    let consumed = clients::consume_all(broker.bootstrap(), "idem", 3);
    data::assert_same(&messages, &consumed, Some(&offsets));
    // Batches carry the producer id the broker handed out.
    let mut conn = RawConn::connect(broker.bootstrap());
    let fetched = requests::fetch(&mut conn, "idem", 0, 0);
    let batches = strata_testkit::batches::decode(&fetched.records.expect("records"));
    assert!(batches[0].records[0].producer_id >= 0, "idempotent batches carry a producer id");
}

#[test]
fn retried_batch_gets_its_original_offset_and_gaps_are_out_of_order() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "seq", 1);
    let init = conn
        .request(4, &InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60_000));
    assert_eq!(init.error_code, NONE, "InitProducerId");
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    assert!(pid >= 0);

    // Something from another (non-idempotent) producer first, so offsets and sequences differ.
    let plain = requests::produce(&mut conn, "seq", 0, requests::records(3, 0).encode());
    assert_eq!((plain.error_code, plain.base_offset), (NONE, 0));

    let first = requests::records(4, 10).producer(pid, epoch, 0).encode();
    let answer = requests::produce(&mut conn, "seq", 0, first.clone());
    assert_eq!((answer.error_code, answer.base_offset), (NONE, 3), "first idempotent batch");

    // The same batch again (a retry after a lost answer): same offset, nothing appended.
    let retry = requests::produce(&mut conn, "seq", 0, first);
    assert_eq!((retry.error_code, retry.base_offset), (NONE, 3), "duplicate answered with the original offset");
    assert_eq!(requests::list_offset(&mut conn, "seq", 0, LATEST_TIMESTAMP).offset, 7, "duplicate not appended");

    // The next sequence (4) is accepted.
    let next = requests::records(2, 20).producer(pid, epoch, 4).compression(Compression::Zstd).encode();
    let answer = requests::produce(&mut conn, "seq", 0, next);
    assert_eq!((answer.error_code, answer.base_offset), (NONE, 7), "next sequence");

    // A gap (sequence 10 where 6 is due) is refused.
    let gap = requests::records(1, 30).producer(pid, epoch, 10).encode();
    let answer = requests::produce(&mut conn, "seq", 0, gap);
    assert_eq!(answer.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER, "sequence gap");
    assert_eq!(requests::list_offset(&mut conn, "seq", 0, LATEST_TIMESTAMP).offset, 9, "gap not appended");
}

#[test]
fn producer_state_survives_a_restart() {
    let mut broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "seq-restart", 1);
    let init = conn
        .request(4, &InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60_000));
    assert_eq!(init.error_code, NONE);
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    let batch = requests::records(5, 10).producer(pid, epoch, 0).encode();
    let answer = requests::produce(&mut conn, "seq-restart", 0, batch.clone());
    assert_eq!((answer.error_code, answer.base_offset), (NONE, 0));
    drop(conn);

    broker.restart();
    let mut conn = RawConn::connect(broker.bootstrap());
    let retry = requests::produce(&mut conn, "seq-restart", 0, batch);
    assert_eq!((retry.error_code, retry.base_offset), (NONE, 0), "duplicate after restart gets the original offset");
    assert_eq!(requests::list_offset(&mut conn, "seq-restart", 0, LATEST_TIMESTAMP).offset, 5);
}
