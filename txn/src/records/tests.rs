//! Exact bytes, worked out by hand from Kafka's TransactionLogKey.json and TransactionLogValue.json.
#![allow(clippy::unwrap_used)]

use super::*;

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition { topic: topic.into(), partition }
}

fn ongoing() -> TxnLogValue {
    TxnLogValue {
        producer_id: 5,
        previous_producer_id: -1,
        next_producer_id: -1,
        producer_epoch: 1,
        timeout_ms: 60_000,
        state: TxnState::Ongoing,
        partitions: vec![tp("a", 0), tp("a", 2)],
        last_update_ms: 100,
        start_ms: 90,
        client_transaction_version: 2,
    }
}

#[test]
fn key_bytes() {
    assert_eq!(encode_key("t1").as_ref(), [0, 0, 0, 2, b't', b'1']);
    assert_eq!(decode_key(&[0, 0, 0, 2, b't', b'1']).unwrap().as_deref(), Some("t1"));
    // Unknown key versions are skipped, as Kafka's UnknownKey.
    assert_eq!(decode_key(&[0, 1, 0, 0]).unwrap(), None);
    assert!(matches!(decode_key(&[0, 0, 0, 3, b'x']), Err(RecordError::Truncated { .. })));
    assert_eq!(decode_key(&[0, 0, 0, 1, b'x', 9]), Err(RecordError::TrailingBytes(1)));
}

#[rustfmt::skip]
const ONGOING_V1: [u8; 51] = [
    0, 1,                               // version 1
    0, 0, 0, 0, 0, 0, 0, 5,             // producer id
    0, 1,                               // epoch
    0, 0, 0xEA, 0x60,                   // timeout 60000
    1,                                  // Ongoing
    2,                                  // one topic (compact: n + 1)
    2, b'a',                            // compact string "a"
    3, 0, 0, 0, 0, 0, 0, 0, 2,          // partition ids [0, 2]
    0,                                  // topic's tagged fields
    0, 0, 0, 0, 0, 0, 0, 100,           // last update
    0, 0, 0, 0, 0, 0, 0, 90,            // start
    1, 2, 2, 0, 2,                      // one tagged field: tag 2 (ClientTransactionVersion), 2 bytes, 2
];

#[test]
fn value_v1_bytes() {
    assert_eq!(ongoing().encode().as_ref(), ONGOING_V1);
    assert_eq!(TxnLogValue::decode(&ONGOING_V1).unwrap(), ongoing());
}

#[test]
fn value_v1_tagged_producer_ids() {
    let value =
        TxnLogValue { previous_producer_id: 4, next_producer_id: 6, client_transaction_version: 0, ..ongoing() };
    let bytes = value.encode();
    let tail = &bytes[bytes.len() - 21..];
    assert_eq!(tail, [2, 0, 8, 0, 0, 0, 0, 0, 0, 0, 4, 1, 8, 0, 0, 0, 0, 0, 0, 0, 6]);
    assert_eq!(TxnLogValue::decode(&bytes).unwrap(), value);
}

#[test]
fn empty_state_writes_null_partitions() {
    let value = TxnLogValue { state: TxnState::Empty, partitions: vec![], start_ms: -1, ..ongoing() };
    let bytes = value.encode();
    assert_eq!(bytes[17], 0, "compact null array");
    assert_eq!(TxnLogValue::decode(&bytes).unwrap(), value);
}

#[rustfmt::skip]
const ONGOING_V0: [u8; 52] = [
    0, 0,                               // version 0
    0, 0, 0, 0, 0, 0, 0, 5,
    0, 1,
    0, 0, 0xEA, 0x60,
    1,
    0, 0, 0, 1,                         // one topic
    0, 1, b'a',
    0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, // partition ids [2, 0], unsorted as a log may hold them
    0, 0, 0, 0, 0, 0, 0, 100,
    0, 0, 0, 0, 0, 0, 0, 90,
];

#[test]
fn value_v0_decodes() {
    let expected = TxnLogValue { client_transaction_version: 0, ..ongoing() };
    assert_eq!(TxnLogValue::decode(&ONGOING_V0).unwrap(), expected);
}

#[test]
fn corrupt_values_are_errors() {
    assert_eq!(
        TxnLogValue::decode(&[0, 2]),
        Err(RecordError::UnsupportedVersion { schema: "TransactionLogValue", version: 2 })
    );
    let mut bad_state = ONGOING_V1;
    bad_state[16] = 9;
    assert_eq!(TxnLogValue::decode(&bad_state), Err(RecordError::Malformed("unknown transaction state")));
    // A huge partition count must not allocate: it is checked against the bytes left.
    let mut huge = ONGOING_V0;
    huge[17..21].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(TxnLogValue::decode(&huge), Err(RecordError::Truncated { .. })));
    for len in 0..ONGOING_V1.len() {
        assert!(TxnLogValue::decode(&ONGOING_V1[..len]).is_err(), "prefix of {len} bytes");
    }
    let mut trailing = ONGOING_V1.to_vec();
    trailing.push(0);
    assert_eq!(TxnLogValue::decode(&trailing), Err(RecordError::TrailingBytes(1)));
}

#[test]
fn unknown_and_ignored_tags_are_skipped() {
    // ONGOING_V1 with a NextProducerEpoch (tag 3 = 7) and an unknown tag 9 (3 bytes) added.
    let mut bytes = ONGOING_V1[..ONGOING_V1.len() - 5].to_vec();
    bytes.extend_from_slice(&[3, 2, 2, 0, 2, 3, 2, 0, 7, 9, 3, 1, 2, 3]);
    assert_eq!(TxnLogValue::decode(&bytes).unwrap(), ongoing());
    // A tag whose size runs past the record is an error, not a panic.
    let mut bad = ONGOING_V1[..ONGOING_V1.len() - 5].to_vec();
    bad.extend_from_slice(&[1, 9, 200, 1]);
    assert!(matches!(TxnLogValue::decode(&bad), Err(RecordError::Truncated { .. })));
}
