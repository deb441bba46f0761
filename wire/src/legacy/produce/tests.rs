//! Produce v0-2 on exact bytes: a request as an old client sends it, and each response layout.

use super::*;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use crate::legacy::message_set::MessageSetError;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// acks 1, timeout 1000, topic "t": partition 0 with one v0 message (null key, value "a"),
/// partition 1 with the same message's last byte flipped.
fn request() -> Bytes {
    let good = "00000000000000000000000f51df3a320000ffffffff0000000161";
    let bad = "00000000000000000000000f51df3a320000ffffffff0000000160";
    Bytes::from(hex(
        &format!("0001000003e8000000010001740000000200000000_0000001b{good}000000010000001b{bad}").replace('_', "")
    ))
}

#[test]
fn decodes_a_v0_request_and_converts_each_message_set() {
    let decoded = decode_request(request()).expect("decodes");
    assert_eq!(decoded.request.acks, 1);
    assert_eq!(decoded.request.timeout_ms, 1000);
    let topic = &decoded.request.topic_data[0];
    assert_eq!(topic.name.0.as_str(), "t");
    assert_eq!(topic.partition_data.len(), 2);
    let batch = topic.partition_data[0].records.clone().expect("converted");
    let records = RecordBatchDecoder::decode(&mut batch.clone()).expect("a v2 batch").records;
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].key.clone(), records[0].value.clone(), records[0].timestamp),
        (None, Some(Bytes::from_static(b"a")), -1)
    );
    assert_eq!(topic.partition_data[1].index, 1);
    assert_eq!(topic.partition_data[1].records, None);
    assert_eq!(decoded.refused.len(), 1);
    assert_eq!((decoded.refused[0].topic, decoded.refused[0].partition), (0, 1));
    assert!(matches!(decoded.refused[0].error, MessageSetError::Crc { .. }));
}

#[test]
fn truncated_and_oversized_requests_are_errors() {
    let whole = request();
    for cut in [1, 5, 12, 20, whole.len() - 1] {
        assert!(decode_request(whole.slice(..cut)).is_err(), "cut at {cut}");
    }
    let mut huge = hex("0001000003e8");
    huge.extend_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(decode_request(Bytes::from(huge)), Err(LegacyError::Count { what: "topics", .. })));
    let mut extra = whole.to_vec();
    extra.push(0);
    assert_eq!(decode_request(Bytes::from(extra)).err(), Some(LegacyError::TrailingBytes { left: 1 }));
}

fn response() -> ProduceResponse {
    let partition = PartitionProduceResponse::default()
        .with_index(3)
        .with_error_code(0)
        .with_base_offset(42)
        .with_log_append_time_ms(-1);
    let topic = TopicProduceResponse::default()
        .with_name(TopicName(StrBytes::from_static_str("t")))
        .with_partition_responses(vec![partition]);
    ProduceResponse::default().with_responses(vec![topic]).with_throttle_time_ms(0)
}

#[test]
fn encodes_each_response_layout() {
    let topic = "0000000100017400000001000000030000000000000000002a";
    let cases =
        [(0, topic.to_string()), (1, format!("{topic}00000000")), (2, format!("{topic}ffffffffffffffff00000000"))];
    for (version, expected) in cases {
        let mut out = BytesMut::new();
        encode_response(version, &response(), &mut out).expect("encodes");
        assert_eq!(out.to_vec(), hex(&expected), "v{version}");
    }
}
