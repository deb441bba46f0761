//! Byte-exact and round-trip tests of the `__consumer_offsets` record schemas.
#![allow(clippy::unwrap_used)] // tests unwrap what they just built

use super::*;
use proptest::prelude::*;

#[test]
fn offset_commit_key_bytes() {
    let key = RecordKey::OffsetCommit { group: "g".into(), topic: "t".into(), partition: 3 };
    let bytes = key.encode();
    assert_eq!(&bytes[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
    assert_eq!(RecordKey::decode(&bytes).unwrap(), Some(key));
}

#[test]
fn group_metadata_key_bytes() {
    let key = RecordKey::GroupMetadata { group: "ab".into() };
    assert_eq!(&key.encode()[..], &[0, 2, 0, 2, b'a', b'b']);
    // Key version 0 is the ZooKeeper-era offset key, same layout as 1.
    assert_eq!(
        RecordKey::decode(&[0, 0, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]).unwrap(),
        Some(RecordKey::OffsetCommit { group: "g".into(), topic: "t".into(), partition: 3 })
    );
}

#[test]
fn offset_commit_value_v3_bytes() {
    let value = OffsetCommitValue {
        offset: 42,
        leader_epoch: 7,
        metadata: "m".into(),
        commit_timestamp_ms: 1000,
        expire_timestamp_ms: -1,
    };
    let bytes = value.encode();
    let mut expected = vec![0, 3];
    expected.extend_from_slice(&42i64.to_be_bytes());
    expected.extend_from_slice(&7i32.to_be_bytes());
    expected.extend_from_slice(&[0, 1, b'm']);
    expected.extend_from_slice(&1000i64.to_be_bytes());
    assert_eq!(&bytes[..], &expected[..]);
    assert_eq!(OffsetCommitValue::decode(&bytes).unwrap(), value);
}

#[test]
fn offset_commit_value_v1_when_expiring() {
    let value = OffsetCommitValue {
        offset: 1,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp_ms: 5,
        expire_timestamp_ms: 9,
    };
    let bytes = value.encode();
    assert_eq!(&bytes[..2], &[0, 1]);
    assert_eq!(bytes.len(), 2 + 8 + 2 + 8 + 8);
    assert_eq!(OffsetCommitValue::decode(&bytes).unwrap(), value);
}

#[test]
fn offset_commit_value_v4_flexible_decodes() {
    let mut v4 = vec![0, 4];
    v4.extend_from_slice(&10i64.to_be_bytes());
    v4.extend_from_slice(&2i32.to_be_bytes());
    v4.extend_from_slice(&[3, b'h', b'i']); // compact string "hi" (length + 1)
    v4.extend_from_slice(&77i64.to_be_bytes());
    v4.extend_from_slice(&[1, 0, 2, 0xAB, 0xCD]); // one unknown tagged field, skipped
    let value = OffsetCommitValue::decode(&v4).unwrap();
    assert_eq!(value.offset, 10);
    assert_eq!(value.leader_epoch, 2);
    assert_eq!(value.metadata, "hi");
    assert_eq!(value.commit_timestamp_ms, 77);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    assert!(matches!(RecordKey::decode(&[0]), Err(RecordError::Truncated { .. })));
    assert!(matches!(RecordKey::decode(&[0, 2, 0, 5, b'a']), Err(RecordError::Truncated { .. })));
    assert!(matches!(RecordKey::decode(&[0, 2, 0xFF, 0xFE]), Err(RecordError::Malformed(_))));
    assert!(matches!(RecordKey::decode(&[0, 2, 0, 1, b'a', 9]), Err(RecordError::TrailingBytes(1))));
    assert!(matches!(OffsetCommitValue::decode(&[0, 9]), Err(RecordError::UnsupportedVersion { version: 9, .. })));
    // A member count far beyond the bytes present must not allocate for it.
    let mut huge = vec![0, 3, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF];
    huge.extend_from_slice(&(-1i64).to_be_bytes());
    huge.extend_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(GroupMetadataValue::decode(&huge), Err(RecordError::Truncated { .. })));
    assert_eq!(decode_record(&[0, 5, 1, 2], None).unwrap(), DecodedRecord::Unknown { key_version: 5 });
}

#[test]
fn tombstones_decode_without_value() {
    let key = RecordKey::GroupMetadata { group: "g".into() }.encode();
    assert_eq!(decode_record(&key, None).unwrap(), DecodedRecord::Group { group: "g".into(), value: None });
}

fn member_strategy() -> impl Strategy<Value = MemberMetadata> {
    (
        "[a-z0-9-]{0,12}",
        proptest::option::of("[a-z]{1,6}"),
        "[a-z]{0,6}",
        "[0-9./]{0,9}",
        any::<i32>(),
        any::<i32>(),
        proptest::collection::vec(any::<u8>(), 0..16),
        proptest::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(|(member_id, group_instance_id, client_id, client_host, rebalance, session, sub, asg)| {
            MemberMetadata {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms: rebalance,
                session_timeout_ms: session,
                subscription: Bytes::from(sub),
                assignment: Bytes::from(asg),
            }
        })
}

proptest! {
    #[test]
    fn group_metadata_round_trips(
        protocol_type in "[a-z]{0,8}",
        generation in any::<i32>(),
        protocol in proptest::option::of("[a-z]{1,8}"),
        leader in proptest::option::of("[a-z0-9-]{1,8}"),
        ts in any::<i64>(),
        members in proptest::collection::vec(member_strategy(), 0..5),
    ) {
        let value = GroupMetadataValue { protocol_type, generation, protocol, leader, current_state_timestamp_ms: ts, members };
        let bytes = value.encode();
        prop_assert_eq!(&bytes[..2], &[0u8, 3][..]);
        prop_assert_eq!(GroupMetadataValue::decode(&bytes).unwrap(), value);
        // Every strict prefix is an error, never a panic or a wrong value.
        for cut in 0..bytes.len() {
            prop_assert!(GroupMetadataValue::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn offset_value_round_trips(offset in any::<i64>(), epoch in any::<i32>(), metadata in ".{0,20}", ts in any::<i64>()) {
        let value = OffsetCommitValue { offset, leader_epoch: epoch, metadata, commit_timestamp_ms: ts, expire_timestamp_ms: -1 };
        prop_assert_eq!(OffsetCommitValue::decode(&value.encode()).unwrap(), value);
    }

    #[test]
    fn arbitrary_bytes_never_panic(key in proptest::collection::vec(any::<u8>(), 0..40), value in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = decode_record(&key, Some(&value));
    }
}
