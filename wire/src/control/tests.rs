//! Tests of the end-transaction marker codec: Kafka's exact bytes, round trips, and refusals.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression as KCompression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::*;
use crate::batch::BatchHeader;

fn marker(commit: bool) -> Marker {
    Marker { producer_id: 4_000, producer_epoch: 7, coordinator_epoch: 12, commit }
}

/// A control batch with any key and value, as a hostile or future writer could make it.
fn control_batch(key: Option<&[u8]>, value: Option<&[u8]>, control: bool, compression: KCompression) -> Vec<u8> {
    let record = Record {
        transactional: true,
        control,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: 4_000,
        producer_epoch: 7,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_000,
        key: key.map(Bytes::copy_from_slice),
        value: value.map(Bytes::copy_from_slice),
        headers: Default::default(),
    };
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(&mut out, std::iter::once(&record), &RecordEncodeOptions { version: 2, compression })
        .unwrap();
    out.to_vec()
}

#[test]
fn the_bytes_are_kafkas() {
    // Kafka's MemoryRecords.withEndTransactionMarker(0, 1_700_000_000_000, -1, 4000, 7,
    // new EndTransactionMarker(COMMIT, 12)), laid out by hand from DefaultRecordBatch and
    // DefaultRecord: 78 bytes, as kafka-dump-log reports for every marker batch.
    let mut expected: Vec<u8> = Vec::new();
    expected.extend(0i64.to_be_bytes()); // base offset
    expected.extend(66i32.to_be_bytes()); // batch length
    expected.extend((-1i32).to_be_bytes()); // partition leader epoch
    expected.push(2); // magic
    let crc_at = expected.len();
    expected.extend(0u32.to_be_bytes()); // crc, filled below
    expected.extend(0x30i16.to_be_bytes()); // attributes: transactional | control
    expected.extend(0i32.to_be_bytes()); // last offset delta
    expected.extend(1_700_000_000_000i64.to_be_bytes()); // base timestamp
    expected.extend(1_700_000_000_000i64.to_be_bytes()); // max timestamp
    expected.extend(4_000i64.to_be_bytes()); // producer id
    expected.extend(7i16.to_be_bytes()); // producer epoch
    expected.extend((-1i32).to_be_bytes()); // base sequence
    expected.extend(1i32.to_be_bytes()); // record count
    // Record: length 16 (zigzag 32), attributes 0, timestamp delta 0, offset delta 0,
    // key length 4 (zigzag 8), key, value length 6 (zigzag 12), value, no headers.
    expected.extend([32, 0, 0, 0, 8, 0, 0, 0, 1, 12, 0, 0, 0, 0, 0, 12, 0]);
    let crc = crc32c::crc32c(&expected[21..]);
    expected[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());

    let got = marker_batch(&marker(true), 1_700_000_000_000);
    assert_eq!(got.len(), 78);
    assert_eq!(&got[..], &expected[..]);
}

/// The commit marker reference Kafka 4.1.2 wrote at offset 2 of a partition (producer 0, epoch 1
/// after KIP-890's bump, coordinator epoch 0, leader epoch 0), as `kafka-dump-log` listed it
/// ("size: 78 ... endTxnMarker: COMMIT coordinatorEpoch: 0"), copied from the segment file.
const KAFKA_COMMIT_MARKER: &str = "0000000000000002000000420000000002d2055068003000000000000001a23b032343000001a23b0323430000\
                                   0000000000000001ffffffff000000012000000008000000010c00000000000000";

fn unhex(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
}

#[test]
fn matches_a_marker_reference_kafka_wrote() {
    let kafka = unhex(KAFKA_COMMIT_MARKER);
    assert_eq!(kafka.len(), 78);
    let marker = Marker { producer_id: 0, producer_epoch: 1, coordinator_epoch: 0, commit: true };
    assert_eq!(parse_marker(&kafka), Ok(marker));
    let mut ours = marker_batch(&marker, 1_796_286_391_107).to_vec();
    crate::batch::set_base_offset(&mut ours, 2);
    crate::batch::set_partition_leader_epoch(&mut ours, 0);
    assert_eq!(ours, kafka);
}

#[test]
fn header_fields() {
    let batch = marker_batch(&marker(false), 5);
    let h = validate_batch(&batch).unwrap();
    assert!(h.is_control());
    assert!(h.is_transactional());
    assert_eq!(h.base_offset, 0);
    assert_eq!(h.base_sequence, -1);
    assert_eq!(h.record_count, 1);
    assert_eq!(h.producer_id, 4_000);
    assert_eq!(h.producer_epoch, 7);
    assert_eq!(h.max_timestamp, 5);
    assert_eq!(h.compression(), Compression::None);
}

#[test]
fn round_trips_commit_and_abort() {
    for m in [
        marker(true),
        marker(false),
        Marker { producer_id: 0, producer_epoch: 0, coordinator_epoch: 0, commit: true },
        Marker { producer_id: i64::MAX, producer_epoch: i16::MAX, coordinator_epoch: i32::MAX, commit: false },
    ] {
        assert_eq!(parse_marker(&marker_batch(&m, 1)), Ok(m));
    }
}

#[test]
fn a_real_decoder_sees_one_control_record() {
    let mut bytes = marker_batch(&marker(false), 9);
    let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
    assert_eq!(set.records.len(), 1);
    let r = &set.records[0];
    assert!(r.control && r.transactional);
    assert_eq!(r.key.as_deref(), Some(&[0u8, 0, 0, 0][..]));
    assert_eq!(r.value.as_deref(), Some(&[0u8, 0, 0, 0, 0, 12][..]));
}

#[test]
fn parses_a_batch_at_any_offset_and_leader_epoch() {
    let mut batch = marker_batch(&marker(true), 1).to_vec();
    crate::batch::set_base_offset(&mut batch, 123_456);
    crate::batch::set_partition_leader_epoch(&mut batch, 3);
    assert_eq!(parse_marker(&batch), Ok(marker(true)));
}

#[test]
fn newer_versions_read_as_version_zero() {
    let batch = control_batch(Some(&[0, 5, 0, 1, 9]), Some(&[0, 2, 0, 0, 0, 12, 1, 2]), true, KCompression::None);
    assert_eq!(parse_marker(&batch), Ok(marker(true)));
}

#[test]
fn malformed_markers_are_refused() {
    let none = KCompression::None;
    let cases: Vec<(Vec<u8>, ControlError)> = vec![
        (control_batch(Some(&[0, 0, 0, 1]), Some(&[0, 0, 0, 0, 0, 1]), false, none), ControlError::NotControl),
        (
            control_batch(Some(&[0, 0, 0, 1]), Some(&[0, 0, 0, 0, 0, 1]), true, KCompression::Gzip),
            ControlError::Compressed,
        ),
        (
            control_batch(Some(&[0, 0, 0, 2]), Some(&[0, 0, 0, 0, 0, 1]), true, none),
            ControlError::NotAMarker { control_type: 2 },
        ),
        (
            control_batch(Some(&[0, 0, 0]), Some(&[0, 0, 0, 0, 0, 1]), true, none),
            ControlError::KeyTooShort { need: 4, have: 3 },
        ),
        (control_batch(None, Some(&[0, 0, 0, 0, 0, 1]), true, none), ControlError::KeyTooShort { need: 4, have: 0 }),
        (
            control_batch(Some(&[0, 0, 0, 1]), Some(&[0, 0, 0, 0, 0]), true, none),
            ControlError::ValueTooShort { need: 6, have: 5 },
        ),
        (
            control_batch(Some(&[0xff, 0xff, 0, 1]), Some(&[0, 0, 0, 0, 0, 1]), true, none),
            ControlError::Version { field: "key", version: -1 },
        ),
        (
            control_batch(Some(&[0, 0, 0, 1]), Some(&[0x80, 0, 0, 0, 0, 1]), true, none),
            ControlError::Version { field: "value", version: i16::MIN },
        ),
    ];
    for (batch, want) in cases {
        assert_eq!(parse_marker(&batch), Err(want));
    }
}

#[test]
fn a_corrupt_or_torn_batch_is_refused() {
    let good = marker_batch(&marker(true), 1).to_vec();
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(parse_marker(&bad), Err(ControlError::Batch(BatchError::CrcMismatch { .. }))));
    for cut in 0..good.len() {
        assert!(matches!(parse_marker(&good[..cut]), Err(ControlError::Batch(_))), "{cut}");
    }
    assert_eq!(BatchHeader::parse(&good).unwrap().total_bytes(), good.len());
}

mod prop {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn never_panics_on_mutated_markers(flips in proptest::collection::vec((0usize..78, any::<u8>()), 1..6)) {
            let mut buf = super::marker_batch(&super::marker(false), 1).to_vec();
            for (at, v) in flips {
                buf[at] = v;
            }
            // Fix the CRC so the record parser, not the checksum, meets the damage.
            let crc = crc32c::crc32c(&buf[21..]);
            buf[17..21].copy_from_slice(&crc.to_be_bytes());
            let _ = super::parse_marker(&buf);
        }
    }
}
