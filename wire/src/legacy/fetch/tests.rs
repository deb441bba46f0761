//! Fetch v0-3 on exact bytes, and down-conversion of stored v2 batches to magic 0 and 1.

use super::*;
use crate::legacy::message_set::read_message_set;
use strata_testkit::batches::Batch;

fn hex(s: &str) -> Bytes {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    Bytes::from(
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect::<Vec<u8>>(),
    )
}

#[test]
fn decodes_v0_and_v3_requests() {
    // replica -1, max wait 500, min bytes 1, topic "t": partition 2 at offset 7, 1 MiB.
    let v0 = hex("ffffffff 000001f4 00000001 00000001 0001 74 00000001 00000002 0000000000000007 00100000");
    let request = decode_request(0, v0).expect("v0");
    assert_eq!(
        (request.replica_id.0, request.max_wait_ms, request.min_bytes, request.max_bytes),
        (-1, 500, 1, i32::MAX)
    );
    let p = &request.topics[0].partitions[0];
    assert_eq!(
        (request.topics[0].topic.0.as_str(), p.partition, p.fetch_offset, p.partition_max_bytes),
        ("t", 2, 7, 1 << 20)
    );
    let v3 = hex("ffffffff 000001f4 00000001 00000400 00000001 0001 74 00000001 00000002 0000000000000007 00100000");
    assert_eq!(decode_request(3, v3.clone()).expect("v3").max_bytes, 1024);
    assert!(matches!(
        decode_request(0, v3),
        Err(LegacyError::Count { .. }) | Err(LegacyError::TrailingBytes { .. }) | Err(LegacyError::Truncated { .. })
    ));
    assert!(decode_request(3, hex("ffffffff 000001f4")).is_err());
}

#[test]
fn encodes_v0_and_v1_responses() {
    let topics = [LegacyFetchTopic {
        name: "t".into(),
        partitions: vec![LegacyFetchPartition {
            index: 2,
            error_code: 0,
            high_watermark: 9,
            records: Bytes::from_static(b"xy"),
        }],
    }];
    let body = "00000001 0001 74 00000001 00000002 0000 0000000000000009 00000002 7879";
    let mut out = BytesMut::new();
    encode_response(0, 0, &topics, &mut out);
    assert_eq!(out.freeze(), hex(body));
    let mut out = BytesMut::new();
    encode_response(1, 5, &topics, &mut out);
    assert_eq!(out.freeze(), hex(&format!("00000005 {body}")));
}

fn stored(compression: Compression, base_offset: i64) -> Bytes {
    let batch = (0..3i64).fold(Batch::new(), |batch, i| {
        let key = format!("k{i}");
        batch.record((i != 1).then_some(key.as_bytes()), Some(format!("v{i}").as_bytes()), 1000 + i)
    });
    batch.base_offset(base_offset).leader_epoch(0).compression(compression).encode()
}

/// (offset, magic, timestamp, key, value)
type Read = (i64, i8, i64, Option<Bytes>, Option<Bytes>);

fn offsets_and_values(set: &Bytes) -> Vec<Read> {
    read_message_set(set)
        .expect("a valid message set")
        .messages
        .into_iter()
        .map(|m| (m.offset, m.magic, m.timestamp, m.key, m.value))
        .collect()
}

#[test]
fn plain_batches_become_plain_messages_from_the_fetch_offset() {
    let mut two = BytesMut::from(&stored(Compression::None, 10)[..]);
    two.put_slice(&stored(Compression::None, 13));
    let two = two.freeze();
    let v0 = down_convert(&two, MAGIC_V0, 11).expect("converts");
    let got = offsets_and_values(&v0);
    assert_eq!(got.iter().map(|m| m.0).collect::<Vec<_>>(), [11, 12, 13, 14, 15]);
    assert!(got.iter().all(|m| m.1 == 0 && m.2 == NO_TIMESTAMP));
    assert_eq!((got[0].3.clone(), got[0].4.clone()), (None, Some(Bytes::from_static(b"v1"))));
    // The first message exactly: offset 11, magic 0, null key, value "v1".
    let mut expected = BytesMut::new();
    write_message(&mut expected, 11, 0, 0, 0, None, Some(b"v1"));
    assert_eq!(&v0[..expected.len()], &expected[..]);

    let v1 = down_convert(&two, MAGIC_V1, 0).expect("converts");
    let got = offsets_and_values(&v1);
    assert_eq!(
        got.iter().map(|m| (m.0, m.2)).collect::<Vec<_>>(),
        [(10, 1000), (11, 1001), (12, 1002), (13, 1000), (14, 1001), (15, 1002)]
    );
    // A batch cut at the end is left out.
    assert_eq!(offsets_and_values(&down_convert(&two.slice(..two.len() - 5), MAGIC_V1, 0).expect("converts")).len(), 3);
}

#[test]
fn compressed_batches_become_one_wrapper_of_the_same_codec() {
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
        let v1 = down_convert(&stored(codec, 20), MAGIC_V1, 0).expect("converts");
        // The wrapper sits at the last offset and says which codec it holds.
        assert_eq!(i64::from_be_bytes(v1[0..8].try_into().expect("8")), 22, "{codec:?}");
        assert_eq!(v1[17] as i8 & 0x07, codec as i8, "{codec:?} attributes");
        let set = read_message_set(&v1).expect("valid");
        assert_eq!(set.compression, codec);
        // Inner offsets are relative in magic 1.
        assert_eq!(
            set.messages.iter().map(|m| (m.offset, m.timestamp)).collect::<Vec<_>>(),
            [(0, 1000), (1, 1001), (2, 1002)]
        );
    }
    let v0 = down_convert(&stored(Compression::Gzip, 20), MAGIC_V0, 21).expect("converts");
    let set = read_message_set(&v0).expect("valid");
    assert_eq!(set.compression, Compression::Gzip);
    assert_eq!(
        set.messages.iter().map(|m| m.offset).collect::<Vec<_>>(),
        [21, 22],
        "absolute inner offsets in magic 0"
    );
    let lz4_v0 = down_convert(&stored(Compression::Lz4, 20), MAGIC_V0, 0).expect("converts");
    assert_eq!(read_message_set(&lz4_v0).expect("valid").compression, Compression::None, "lz4 goes plain for magic 0");
}
