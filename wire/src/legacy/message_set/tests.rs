//! Message-set tests on exact bytes: vectors computed independently (Python's zlib.crc32 over the
//! layout of Kafka's protocol guide), compressed wrappers, refusals, and the v2 conversion.

use super::*;
use kafka_protocol::records::RecordBatchDecoder;

/// offset 0, magic 0, no compression, null key, value "a".
const V0_NULL_KEY_A: &str = "00000000000000000000000f51df3a320000ffffffff0000000161";
/// offset 7, magic 1, CreateTime 1700000000000, key "k", value "v".
const V1_K_V: &str = "00000000000000070000001839268c3301000000018bcfe56800000000016b0000000176";

fn hex(s: &str) -> Bytes {
    Bytes::from(
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect::<Vec<u8>>(),
    )
}

/// (offset, magic, timestamp, key, value)
type Plain<'a> = (i64, i8, i64, Option<&'a [u8]>, Option<&'a [u8]>);

fn set_of(messages: &[Plain<'_>]) -> BytesMut {
    let mut out = BytesMut::new();
    for &(offset, magic, timestamp, key, value) in messages {
        write_message(&mut out, offset, magic, 0, timestamp, key, value);
    }
    out
}

fn wrapper(magic: i8, codec: Compression, attributes_extra: i8, timestamp: i64, inner: &[u8]) -> Bytes {
    let compressed = compress(codec, inner).expect("compress");
    let mut out = BytesMut::new();
    write_message(&mut out, 1, magic, codec as i8 | attributes_extra, timestamp, None, Some(&compressed));
    out.freeze()
}

#[test]
fn writes_the_exact_bytes_of_v0_and_v1_messages() {
    let mut out = BytesMut::new();
    write_message(&mut out, 0, MAGIC_V0, 0, 12345, None, Some(b"a"));
    assert_eq!(out.freeze(), hex(V0_NULL_KEY_A));
    let mut out = BytesMut::new();
    write_message(&mut out, 7, MAGIC_V1, 0, 1_700_000_000_000, Some(b"k"), Some(b"v"));
    assert_eq!(out.freeze(), hex(V1_K_V));
}

#[test]
fn reads_plain_messages_of_both_magics() {
    let mut bytes = BytesMut::from(&hex(V0_NULL_KEY_A)[..]);
    bytes.put_slice(&hex(V1_K_V));
    let set = read_message_set(&bytes.freeze()).expect("valid");
    assert_eq!(set.compression, Compression::None);
    assert_eq!(
        set.messages,
        vec![
            LegacyMessage {
                offset: 0,
                magic: 0,
                timestamp: NO_TIMESTAMP,
                key: None,
                value: Some(Bytes::from_static(b"a"))
            },
            LegacyMessage {
                offset: 7,
                magic: 1,
                timestamp: 1_700_000_000_000,
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from_static(b"v"))
            },
        ]
    );
}

#[test]
fn a_flipped_bit_is_a_crc_mismatch() {
    let mut bytes = hex(V1_K_V).to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert!(matches!(read_message_set(&Bytes::from(bytes)), Err(MessageSetError::Crc { position: 0, .. })));
}

#[test]
fn cut_short_bad_magic_and_empty_sets_are_refused() {
    let whole = hex(V1_K_V);
    assert!(matches!(
        read_message_set(&whole.slice(..whole.len() - 1)),
        Err(MessageSetError::Truncated { position: 0 })
    ));
    assert!(matches!(read_message_set(&whole.slice(..5)), Err(MessageSetError::Truncated { position: 0 })));
    assert_eq!(read_message_set(&Bytes::new()), Err(MessageSetError::Empty));
    let mut magic2 = whole.to_vec();
    magic2[16] = 2;
    assert!(matches!(read_message_set(&Bytes::from(magic2)), Err(MessageSetError::Magic { magic: 2, .. })));
    let mut small = whole.to_vec();
    small[8..12].copy_from_slice(&3i32.to_be_bytes());
    assert!(matches!(read_message_set(&Bytes::from(small)), Err(MessageSetError::Size { size: 3, .. })));
}

#[test]
fn compressed_wrappers_of_every_codec_give_their_inner_messages() {
    let inner = set_of(&[(0, MAGIC_V1, 100, Some(b"k0"), Some(b"v0")), (1, MAGIC_V1, 101, None, Some(b"v1"))]);
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
        let set =
            read_message_set(&wrapper(MAGIC_V1, codec, 0, 999, &inner)).unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        assert_eq!(set.compression, codec);
        let got: Vec<_> =
            set.messages.iter().map(|m| (m.offset, m.timestamp, m.key.clone(), m.value.clone())).collect();
        assert_eq!(
            got,
            vec![
                (0, 100, Some(Bytes::from_static(b"k0")), Some(Bytes::from_static(b"v0"))),
                (1, 101, None, Some(Bytes::from_static(b"v1")))
            ],
            "{codec:?}"
        );
    }
}

#[test]
fn raw_snappy_is_read_as_well_as_xerial_framed() {
    let inner = set_of(&[(0, MAGIC_V0, 0, None, Some(b"raw"))]);
    let raw = snap::raw::Encoder::new().compress_vec(&inner).expect("snappy");
    let mut out = BytesMut::new();
    write_message(&mut out, 0, MAGIC_V0, Compression::Snappy as i8, 0, None, Some(&raw));
    let set = read_message_set(&out.freeze()).expect("raw snappy");
    assert_eq!(set.messages.len(), 1);
    assert_eq!(set.messages[0].value.as_deref(), Some(&b"raw"[..]));
}

#[test]
fn log_append_time_wrappers_stamp_their_inner_messages() {
    let inner = set_of(&[(0, MAGIC_V1, 100, None, Some(b"a")), (1, MAGIC_V1, 101, None, Some(b"b"))]);
    let set =
        read_message_set(&wrapper(MAGIC_V1, Compression::Gzip, LOG_APPEND_TIME_FLAG, 5555, &inner)).expect("valid");
    assert!(set.messages.iter().all(|m| m.timestamp == 5555));
}

#[test]
fn nested_compression_and_broken_inner_messages_are_refused() {
    let innermost = set_of(&[(0, MAGIC_V0, 0, None, Some(b"x"))]);
    let nested = wrapper(MAGIC_V0, Compression::Gzip, 0, 0, &innermost);
    assert_eq!(
        read_message_set(&wrapper(MAGIC_V0, Compression::Gzip, 0, 0, &nested)),
        Err(MessageSetError::NestedCompression)
    );
    let mut bad_inner = innermost.to_vec();
    let last = bad_inner.len() - 1;
    bad_inner[last] ^= 0xff;
    assert!(matches!(
        read_message_set(&wrapper(MAGIC_V0, Compression::Gzip, 0, 0, &bad_inner)),
        Err(MessageSetError::Crc { .. })
    ));
    let mut garbage = BytesMut::new();
    write_message(&mut garbage, 0, MAGIC_V0, Compression::Gzip as i8, 0, None, Some(b"not gzip"));
    assert!(matches!(
        read_message_set(&garbage.freeze()),
        Err(MessageSetError::Decompress { codec: Compression::Gzip, .. })
    ));
    let mut zstd = BytesMut::new();
    write_message(&mut zstd, 0, MAGIC_V1, 4, 0, None, Some(b"x"));
    assert_eq!(read_message_set(&zstd.freeze()), Err(MessageSetError::Codec { codec: 4 }));
}

#[test]
fn converts_to_one_valid_v2_batch_keeping_keys_values_and_timestamps() {
    for codec in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4] {
        let messages =
            [(0, MAGIC_V0, 0, Some(&b"k"[..]), Some(&b"old"[..])), (1, MAGIC_V1, 1_700_000_000_123, None, None)];
        let set = if codec == Compression::None {
            read_message_set(&set_of(&messages).freeze())
        } else {
            read_message_set(&wrapper(MAGIC_V1, codec, 0, 0, &set_of(&messages)))
        }
        .expect("valid");
        let batch = to_record_batch(&set).expect("converts");
        let header = crate::batch::BatchHeader::parse(&batch).expect("a valid v2 batch");
        assert_eq!(header.total_bytes(), batch.len(), "{codec:?}: one batch");
        let decoded = RecordBatchDecoder::decode(&mut batch.clone()).expect("decodes");
        assert_eq!(decoded.compression, codec);
        let got: Vec<_> = decoded
            .records
            .iter()
            .map(|r| (r.offset, r.timestamp, r.key.clone(), r.value.clone(), r.producer_id, r.sequence))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, NO_TIMESTAMP, Some(Bytes::from_static(b"k")), Some(Bytes::from_static(b"old")), -1, -1),
                (1, 1_700_000_000_123, None, None, -1, 0),
            ],
            "{codec:?}"
        );
    }
}
