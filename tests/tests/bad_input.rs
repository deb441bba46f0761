//! Bad input on a raw socket. Each test sends one thing a broken or hostile client might send,
//! checks the exact Kafka error code (or that the connection is closed, where Kafka closes it),
//! and then checks that the broker still serves a new client.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, MetadataRequest};
use kafka_protocol::protocol::Decodable;
use strata_testkit::batches::Batch;
use strata_testkit::codes::*;
use strata_testkit::requests::{self, LATEST_TIMESTAMP};
use strata_testkit::{RawConn, Reply};
use strata_tests::{Broker, BrokerOptions};

/// A request header v1 (api key, version, correlation id, client id "t"), as raw bytes.
fn header_v1(api_key: i16, version: i16, correlation_id: i32) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_i16(api_key);
    buf.put_i16(version);
    buf.put_i32(correlation_id);
    buf.put_i16(1);
    buf.put_u8(b't');
    buf
}

#[test]
fn oversized_frame_size_closes_the_connection() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    // 2 GiB - 1: far above socket.request.max.bytes (100 MiB by default); the broker must not
    // try to allocate it.
    conn.send_bytes(&i32::MAX.to_be_bytes());
    conn.send_bytes(&header_v1(18, 0, 1));
    conn.expect_closed("frame size i32::MAX");
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn frame_one_byte_over_socket_request_max_bytes_closes_the_connection() {
    let broker = Broker::start(BrokerOptions::default().with("socket.request.max.bytes", "10000"));
    let mut ok = RawConn::connect(broker.bootstrap());
    // A normal request under the limit is answered; one byte over the limit is refused before
    // the broker reads (or allocates for) the body.
    let (_, request) = ok.encode_request(3, &ApiVersionsRequest::default());
    ok.send_frame(&request);
    assert!(matches!(ok.read_reply(), Reply::Frame(_)), "a small ApiVersions request is answered");

    let mut conn = RawConn::connect(broker.bootstrap());
    conn.send_bytes(&10_001i32.to_be_bytes());
    conn.send_bytes(&vec![0u8; 10_001]);
    conn.expect_closed("frame of socket.request.max.bytes + 1");
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn negative_frame_size_closes_the_connection() {
    let broker = Broker::start_default();
    for size in [-1i32, i32::MIN] {
        let mut conn = RawConn::connect(broker.bootstrap());
        conn.send_bytes(&size.to_be_bytes());
        conn.send_bytes(&header_v1(18, 0, 1));
        conn.expect_closed(&format!("frame size {size}"));
    }
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn frame_too_short_for_a_header_closes_the_connection() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    conn.send_frame(&[0, 18, 0]);
    conn.expect_closed("3-byte frame");
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn garbage_after_a_valid_header_closes_the_connection() {
    let broker = Broker::start_default();
    // Metadata v12 (flexible): header v2 = v1 + empty tagged fields, then a "topics" compact
    // array whose varint length claims billions of entries.
    let mut frame = header_v1(3, 12, 7);
    frame.put_u8(0);
    frame.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0xde, 0xad, 0xbe, 0xef]);
    let mut conn = RawConn::connect(broker.bootstrap());
    conn.send_frame(&frame);
    conn.expect_closed("Metadata v12 with a garbage body");

    // Produce v9 cut off in the middle of its body.
    let request = requests::produce_request("t", 0, requests::records(3, 0).encode(), 1);
    let mut conn = RawConn::connect(broker.bootstrap());
    let (_, bytes) = conn.encode_request(9, &request);
    conn.send_frame(&bytes[..bytes.len() - 20]);
    conn.expect_closed("Produce v9 truncated by 20 bytes");
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn unknown_api_key_closes_the_connection() {
    let broker = Broker::start_default();
    for key in [999i16, -1, 10_000] {
        let mut conn = RawConn::connect(broker.bootstrap());
        conn.send_frame(&header_v1(key, 0, 5));
        conn.expect_closed(&format!("api key {key}"));
    }
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn unsupported_api_versions_version_gets_a_v0_reply_with_the_key_list() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    // ApiVersions v127: the client may send any header/body it likes; the broker answers in v0.
    let mut frame = header_v1(18, 127, 42);
    frame.put_slice(&[0, 0, 0]);
    conn.send_frame(&frame);
    let mut reply = conn.read_frame();
    // Response header v0: the correlation id only.
    assert!(reply.len() >= 4, "reply too short: {reply:?}");
    let correlation_id = i32::from_be_bytes([reply[0], reply[1], reply[2], reply[3]]);
    assert_eq!(correlation_id, 42, "correlation id");
    let mut body: Bytes = reply.split_off(4);
    let response = ApiVersionsResponse::decode(&mut body, 0).expect("a v0 ApiVersions body");
    assert!(body.is_empty(), "{} bytes after the v0 ApiVersions body", body.len());
    assert_eq!(response.error_code, UNSUPPORTED_VERSION, "error code");
    let apiversions = response.api_keys.iter().find(|k| k.api_key == 18).expect("ApiVersions in the key list");
    assert_eq!(apiversions.min_version, 0);
    assert!(apiversions.max_version >= 3, "ApiVersions max version {}", apiversions.max_version);
    assert!(response.api_keys.iter().any(|k| k.api_key == 0), "Produce in the key list");
    assert!(response.api_keys.iter().any(|k| k.api_key == 1), "Fetch in the key list");
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn unsupported_version_of_another_api_is_refused() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    // Metadata v99: Kafka closes the connection (InvalidRequestException); an error answer with
    // the right correlation id is also acceptable, anything else (a hang, a crash) is not.
    let mut frame = header_v1(3, 99, 77);
    frame.put_u8(0);
    frame.put_slice(&[1, 0, 0, 0]);
    conn.send_frame(&frame);
    match conn.read_reply() {
        Reply::Closed => {}
        Reply::Frame(reply) => {
            assert!(reply.len() >= 4, "reply too short: {reply:?}");
            let correlation_id = i32::from_be_bytes([reply[0], reply[1], reply[2], reply[3]]);
            assert_eq!(correlation_id, 77, "correlation id of the answer to Metadata v99");
        }
    }
    // A supported Metadata version on a new connection still works.
    let mut conn = RawConn::connect(broker.bootstrap());
    let response = conn.request(12, &MetadataRequest::default());
    assert_eq!(response.brokers.len(), 1);
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn corrupt_crc_in_produce_is_corrupt_message() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "crc", 1);
    let good = requests::records(5, 1_000).encode();
    let mut bad = BytesMut::from(&good[..]);
    let last = bad.len() - 1;
    bad[last] ^= 0x5a; // inside the CRC-covered record data
    let answer = requests::produce(&mut conn, "crc", 0, bad.freeze());
    assert_eq!(answer.error_code, CORRUPT_MESSAGE, "produce with a bad CRC");
    let mut bad_crc_field = BytesMut::from(&good[..]);
    bad_crc_field[17] ^= 0xff; // the CRC itself (bytes 17..21 of the batch)
    let answer = requests::produce(&mut conn, "crc", 0, bad_crc_field.freeze());
    assert_eq!(answer.error_code, CORRUPT_MESSAGE, "produce with a wrong CRC field");
    let latest = requests::list_offset(&mut conn, "crc", 0, LATEST_TIMESTAMP);
    assert_eq!(latest.offset, 0, "nothing was appended");
    // The same connection still works, and the good batch goes in.
    let answer = requests::produce(&mut conn, "crc", 0, good);
    assert_eq!(answer.error_code, NONE);
    assert_eq!(answer.base_offset, 0);
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn produce_v2_closes_the_connection_without_the_legacy_protocol() {
    // Kafka 4's answer (reference Kafka 4.1.2 disconnects); by default Strata serves Produce v2
    // (tests/tests/legacy_protocol.rs).
    let broker = Broker::start(BrokerOptions::default().with("strata.legacy.protocol.enable", "false"));
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "old", 1);
    // kafka-protocol only encodes Produce v3+; v2 is v3 without the leading transactional_id.
    let request = requests::produce_request("old", 0, requests::records(2, 0).encode(), 1);
    let (_, v3) = conn.encode_request(3, &request);
    let header_len = 2 + 2 + 4 + 2 + "strata-tests".len();
    let mut v2 = BytesMut::new();
    v2.put_slice(&v3[..header_len]);
    v2[2..4].copy_from_slice(&2i16.to_be_bytes());
    assert_eq!(&v3[header_len..header_len + 2], &[0xff, 0xff], "null transactional id");
    v2.put_slice(&v3[header_len + 2..]);
    conn.send_frame(&v2);
    conn.expect_closed("Produce v2 without strata.legacy.protocol.enable");
    let latest = requests::list_offset(&mut RawConn::connect(broker.bootstrap()), "old", 0, LATEST_TIMESTAMP);
    assert_eq!(latest.offset, 0, "a v2 produce appends nothing");
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn produce_to_unknown_topic_without_auto_create_is_unknown_topic() {
    let broker = Broker::start(BrokerOptions::default().with("auto.create.topics.enable", "false"));
    let mut conn = RawConn::connect(broker.bootstrap());
    let answer = requests::produce(&mut conn, "nope", 0, requests::records(1, 0).encode());
    assert_eq!(answer.error_code, UNKNOWN_TOPIC_OR_PARTITION);
    let metadata = requests::metadata(&mut conn, Some(&["nope"]), true);
    assert_eq!(metadata.topics.len(), 1);
    assert_eq!(metadata.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION, "metadata of an unknown topic");
    // A partition past the end of an existing topic is unknown too.
    requests::create_topic_ok(&mut conn, "two", 2);
    let answer = requests::produce(&mut conn, "two", 2, requests::records(1, 0).encode());
    assert_eq!(answer.error_code, UNKNOWN_TOPIC_OR_PARTITION, "produce to partition 2 of a 2-partition topic");
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn invalid_topic_names_are_invalid_topic_exception() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    let long = "x".repeat(250);
    for name in ["bad name", "a/b", "", ".", "..", "tab\tname", "ünïcode", long.as_str()] {
        let result = requests::create_topic(&mut conn, name, 1);
        assert_eq!(result.error_code, INVALID_TOPIC_EXCEPTION, "CreateTopics {name:?}");
    }
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn creating_an_existing_topic_is_topic_already_exists() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "twice", 2);
    let result = requests::create_topic(&mut conn, "twice", 2);
    assert_eq!(result.error_code, TOPIC_ALREADY_EXISTS);
    let result = requests::create_topic(&mut conn, "zero-partitions", 0);
    assert_eq!(result.error_code, INVALID_PARTITIONS, "CreateTopics with 0 partitions");
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn fetch_out_of_range_is_offset_out_of_range() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "range", 1);
    let answer = requests::produce(&mut conn, "range", 0, requests::records(5, 0).encode());
    assert_eq!(answer.error_code, NONE);
    let past = requests::fetch(&mut conn, "range", 0, 100);
    assert_eq!(past.error_code, OFFSET_OUT_OF_RANGE, "fetch at offset 100 of 5");
    // Kafka answers an out-of-range fetch with unknown (-1) watermarks, so they are not checked.
    let negative = requests::fetch(&mut conn, "range", 0, -5);
    assert_eq!(negative.error_code, OFFSET_OUT_OF_RANGE, "fetch at offset -5");
    let at_end = requests::fetch(&mut conn, "range", 0, 5);
    assert_eq!(at_end.error_code, NONE, "fetch at the high watermark is not out of range");
    assert!(at_end.records.as_ref().is_none_or(Bytes::is_empty), "no records at the end");
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn acks_2_is_invalid_required_acks() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "acks", 1);
    let batch = requests::records(1, 0).encode();
    let answer = requests::produce_acks(&mut conn, "acks", 0, batch.clone(), 2);
    assert_eq!(answer.error_code, INVALID_REQUIRED_ACKS, "acks=2");
    let answer = requests::produce_acks(&mut conn, "acks", 0, batch, -2);
    assert_eq!(answer.error_code, INVALID_REQUIRED_ACKS, "acks=-2");
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn batch_over_max_message_bytes_is_message_too_large() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "big", 1);
    // 1.2 MB of incompressible-looking bytes in one record: above the 1048588-byte default.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let value: Vec<u8> = (0..1_200_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let batch = Batch::new().record(Some(b"k"), Some(&value), requests::epoch_ms()).encode();
    let answer = requests::produce(&mut conn, "big", 0, batch);
    assert_eq!(answer.error_code, MESSAGE_TOO_LARGE);
    let latest = requests::list_offset(&mut conn, "big", 0, LATEST_TIMESTAMP);
    assert_eq!(latest.offset, 0, "nothing was appended");
    requests::assert_serves(broker.bootstrap());
}

/// Kafka handles one request of a connection at a time, so when a request closes the connection
/// nothing pipelined behind it runs. A produce sent right after such a request must not be
/// appended (it would be in the log and never answered).
#[test]
fn nothing_pipelined_after_a_request_that_closes_the_connection_is_executed() {
    let broker = Broker::start_default();
    let mut setup = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut setup, "piped", 1);
    let records = requests::records(5, 0).encode();

    // An unsupported version, then a valid acks=1 produce, in one write.
    let mut conn = RawConn::connect(broker.bootstrap());
    let mut pipelined = BytesMut::new();
    let unsupported = header_v1(3, 99, 1);
    pipelined.put_i32(unsupported.len() as i32);
    pipelined.put_slice(&unsupported);
    let (_, produce) =
        conn.encode_request(requests::PRODUCE_VERSION, &requests::produce_request("piped", 0, records.clone(), 1));
    pipelined.put_i32(produce.len() as i32);
    pipelined.put_slice(&produce);
    conn.send_bytes(&pipelined);
    conn.expect_closed("Metadata v99 followed by a produce");

    // A failed acks=0 produce (unknown topic), then a valid acks=0 and a valid acks=1 produce.
    let mut conn = RawConn::connect(broker.bootstrap());
    let mut pipelined = BytesMut::new();
    for (topic, acks) in [("no-such-topic", 0), ("piped", 0), ("piped", 1)] {
        let (_, produce) =
            conn.encode_request(requests::PRODUCE_VERSION, &requests::produce_request(topic, 0, records.clone(), acks));
        pipelined.put_i32(produce.len() as i32);
        pipelined.put_slice(&produce);
    }
    conn.send_bytes(&pipelined);
    conn.expect_closed("a failed acks=0 produce followed by two produces");

    let latest = requests::list_offset(&mut setup, "piped", 0, LATEST_TIMESTAMP);
    assert_eq!(latest.offset, 0, "no produce pipelined after a closing request was appended");
    requests::assert_serves(broker.bootstrap());
}

/// Kafka refuses DeleteRecords on an internal topic with INVALID_TOPIC_EXCEPTION (low watermark
/// -1): moving `__consumer_offsets`' log start would drop every committed offset at the next
/// replay.
#[test]
fn delete_records_on_an_internal_topic_is_refused() {
    use kafka_protocol::messages::DeleteRecordsRequest;
    use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    let request = DeleteRecordsRequest::default().with_timeout_ms(5000).with_topics(vec![
        DeleteRecordsTopic::default()
            .with_name(requests::topic_name("__consumer_offsets"))
            .with_partitions(vec![DeleteRecordsPartition::default().with_partition_index(0).with_offset(-1)]),
    ]);
    let response = conn.request(2, &request);
    let partition = &response.topics[0].partitions[0];
    assert_eq!((partition.error_code, partition.low_watermark), (INVALID_TOPIC_EXCEPTION, -1));
    requests::assert_serves(broker.bootstrap());
}
