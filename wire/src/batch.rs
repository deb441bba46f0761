//! Kafka v2 record-batch headers: parsing, validation and the few in-place rewrites the log makes.
//!
//! Layout of the 61-byte header (all big-endian), as in Kafka's `DefaultRecordBatch`:
//!
//! ```text
//!  0 baseOffset i64        8 batchLength i32     12 partitionLeaderEpoch i32   16 magic i8
//! 17 crc u32 (CRC32C over attributes..end of batch)
//! 21 attributes i16       23 lastOffsetDelta i32 27 baseTimestamp i64        35 maxTimestamp i64
//! 43 producerId i64       51 producerEpoch i16  53 baseSequence i32         57 recordCount i32
//! 61 records...
//! ```
//!
//! `baseOffset`, `batchLength` and `partitionLeaderEpoch` lie before the CRC-covered region, so the
//! log can assign offsets without recomputing the checksum. No I/O here, and no panic on any input:
//! every length is checked against the buffer before it is used.

use thiserror::Error;

/// Bytes from `baseOffset` up to and including `recordCount`.
pub const BATCH_HEADER_BYTES: usize = 61;
/// Bytes before `batchLength` counts: `baseOffset` (8) + `batchLength` (4).
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// The only record-batch format we accept.
pub const MAGIC_V2: i8 = 2;

const BATCH_LENGTH_AT: usize = 8;
const LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const MAX_TIMESTAMP_AT: usize = 35;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 1 << 3;
const TRANSACTIONAL_BIT: i16 = 1 << 4;
const CONTROL_BIT: i16 = 1 << 5;

/// The compression codec named by the low three attribute bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    fn from_attributes(attributes: i16) -> Option<Compression> {
        match attributes & COMPRESSION_MASK {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// Why a record set or batch was refused. The broker maps these to `CORRUPT_MESSAGE`
/// (`CrcMismatch`, `BatchLength`) or `INVALID_RECORD` (the rest, `Truncated` and `TooShort`
/// included: Kafka's batch iterator sees no whole batch there), as Kafka does.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    #[error("record set is empty")]
    Empty,
    #[error("batch header at byte {at} needs {need} bytes, {have} left")]
    TooShort { at: usize, need: usize, have: usize },
    #[error("batch at byte {at} has magic {magic}, only v2 is supported")]
    Magic { at: usize, magic: i8 },
    #[error("batch at byte {at} has batch length {batch_length}, below the header size")]
    BatchLength { at: usize, batch_length: i32 },
    #[error("batch at byte {at} is {need} bytes long but only {have} bytes are left")]
    Truncated { at: usize, need: usize, have: usize },
    #[error("batch at byte {at} has crc {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { at: usize, stored: u32, computed: u32 },
    #[error("batch at byte {at} has unknown compression codec {codec}")]
    Compression { at: usize, codec: i16 },
    #[error("batch at byte {at} has record count {record_count}")]
    RecordCount { at: usize, record_count: i32 },
    #[error("batch at byte {at} has last offset delta {last_offset_delta} for {record_count} records")]
    OffsetDelta { at: usize, last_offset_delta: i32, record_count: i32 },
}

/// The fixed header fields of one v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Parses the header at the start of `buf`: length, magic, batch length and codec are checked,
    /// the CRC and the records are not (see [`validate_batch`]).
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        parse_at(buf, 0)
    }

    /// Bytes the whole batch occupies, `baseOffset` included.
    pub fn total_bytes(&self) -> usize {
        // parse() refuses negative lengths, so the cast cannot wrap.
        LOG_OVERHEAD_BYTES + self.batch_length.max(0) as usize
    }

    pub fn compression(&self) -> Compression {
        // parse() refuses unknown codecs; None is a safe answer for a hand-built header.
        Compression::from_attributes(self.attributes).unwrap_or(Compression::None)
    }

    pub fn timestamp_type_is_log_append(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_BIT != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// Offset of the last record; saturates rather than wrapping on a hostile base offset.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.saturating_add(i64::from(self.last_offset_delta))
    }
}

fn be_i64(buf: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(b)
}

fn be_i32(buf: &[u8], at: usize) -> i32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    i32::from_be_bytes(b)
}

fn be_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Parses the header of the batch starting at `buf[0]`; `at` is only used in error messages.
fn parse_at(buf: &[u8], at: usize) -> Result<BatchHeader, BatchError> {
    if buf.len() < BATCH_HEADER_BYTES {
        return Err(BatchError::TooShort { at, need: BATCH_HEADER_BYTES, have: buf.len() });
    }
    let magic = buf[MAGIC_AT] as i8;
    if magic != MAGIC_V2 {
        return Err(BatchError::Magic { at, magic });
    }
    let batch_length = be_i32(buf, BATCH_LENGTH_AT);
    if batch_length < (BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32 {
        return Err(BatchError::BatchLength { at, batch_length });
    }
    let attributes = be_i16(buf, ATTRIBUTES_AT);
    if Compression::from_attributes(attributes).is_none() {
        return Err(BatchError::Compression { at, codec: attributes & COMPRESSION_MASK });
    }
    Ok(BatchHeader {
        base_offset: be_i64(buf, 0),
        batch_length,
        partition_leader_epoch: be_i32(buf, LEADER_EPOCH_AT),
        magic,
        crc: u32::from_be_bytes([buf[CRC_AT], buf[CRC_AT + 1], buf[CRC_AT + 2], buf[CRC_AT + 3]]),
        attributes,
        last_offset_delta: be_i32(buf, 23),
        base_timestamp: be_i64(buf, 27),
        max_timestamp: be_i64(buf, MAX_TIMESTAMP_AT),
        producer_id: be_i64(buf, 43),
        producer_epoch: be_i16(buf, 51),
        base_sequence: be_i32(buf, 53),
        record_count: be_i32(buf, 57),
    })
}

/// Fully checks the one batch at the start of `buf` (header, length inside the buffer, CRC32C,
/// record count, offset delta) and returns its header. Bytes after the batch are ignored, so the
/// log's recovery scan can walk a segment batch by batch with it.
pub fn validate_batch(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    validate_at(buf, 0)
}

fn validate_at(buf: &[u8], at: usize) -> Result<BatchHeader, BatchError> {
    let header = parse_at(buf, at)?;
    let total = header.total_bytes();
    if total > buf.len() {
        return Err(BatchError::Truncated { at, need: total, have: buf.len() });
    }
    let computed = crc32c::crc32c(&buf[ATTRIBUTES_AT..total]);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch { at, stored: header.crc, computed });
    }
    if header.record_count <= 0 {
        return Err(BatchError::RecordCount { at, record_count: header.record_count });
    }
    if i64::from(header.last_offset_delta) != i64::from(header.record_count) - 1 {
        return Err(BatchError::OffsetDelta {
            at,
            last_offset_delta: header.last_offset_delta,
            record_count: header.record_count,
        });
    }
    Ok(header)
}

/// Validates every batch of a produce record set and returns their headers in order. The set must
/// be non-empty and consist of whole batches only.
pub fn validate_record_set(buf: &[u8]) -> Result<Vec<BatchHeader>, BatchError> {
    if buf.is_empty() {
        return Err(BatchError::Empty);
    }
    let mut headers = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let header = validate_at(&buf[at..], at)?;
        at += header.total_bytes();
        headers.push(header);
    }
    Ok(headers)
}

/// Rewrites `baseOffset`. Not covered by the CRC. `batch` should be a validated batch; a slice
/// shorter than a header is left untouched rather than panicking.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    if let Some(field) = batch.get_mut(0..8) {
        field.copy_from_slice(&base_offset.to_be_bytes());
    }
}

/// Rewrites `partitionLeaderEpoch`. Not covered by the CRC.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    if let Some(field) = batch.get_mut(LEADER_EPOCH_AT..LEADER_EPOCH_AT + 4) {
        field.copy_from_slice(&epoch.to_be_bytes());
    }
}

/// Marks the batch as `LogAppendTime` and sets its max timestamp to `ts_ms`, then recomputes the
/// CRC (both fields are covered by it). `batch` starts at a validated batch; bytes after that
/// batch are not touched. A slice shorter than its header says is left untouched.
pub fn set_log_append_time(batch: &mut [u8], ts_ms: i64) {
    let Ok(header) = BatchHeader::parse(batch) else { return };
    let total = header.total_bytes();
    if total > batch.len() {
        return;
    }
    let attributes = be_i16(batch, ATTRIBUTES_AT) | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&ts_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..total]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression as KCompression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    fn record(offset: i64, timestamp: i64, producer_id: i64, sequence: i32) -> Record {
        Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: if producer_id >= 0 { 3 } else { -1 },
            timestamp_type: TimestampType::Creation,
            offset,
            sequence,
            timestamp,
            key: Some(Bytes::from_static(b"key")),
            value: Some(Bytes::from(vec![b'v'; 100])),
            headers: Default::default(),
            delete_horizon: false,
        }
    }

    fn encode(records: &[Record], compression: KCompression) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions { version: 2, compression };
        RecordBatchEncoder::encode(&mut buf, records.iter(), &options).unwrap();
        buf.to_vec()
    }

    fn batch(n: i64, compression: KCompression) -> Vec<u8> {
        let records: Vec<Record> = (0..n).map(|i| record(i, 1_000 + i, 7, i as i32)).collect();
        encode(&records, compression)
    }

    #[test]
    fn parses_a_real_batch() {
        let buf = batch(5, KCompression::None);
        let headers = validate_record_set(&buf).unwrap();
        assert_eq!(headers.len(), 1);
        let h = headers[0];
        assert_eq!(h.total_bytes(), buf.len());
        assert_eq!(h.magic, 2);
        assert_eq!(h.record_count, 5);
        assert_eq!(h.last_offset_delta, 4);
        assert_eq!(h.base_timestamp, 1_000);
        assert_eq!(h.max_timestamp, 1_004);
        assert_eq!(h.producer_id, 7);
        assert_eq!(h.producer_epoch, 3);
        assert_eq!(h.base_sequence, 0);
        assert_eq!(h.compression(), Compression::None);
        assert!(!h.timestamp_type_is_log_append());
        assert!(!h.is_transactional());
        assert!(!h.is_control());
        assert_eq!(h.last_offset(), 4);
        assert_eq!(BatchHeader::parse(&buf).unwrap(), h);
    }

    #[test]
    fn compressed_batches_validate_and_report_codec() {
        for (k, c) in [
            (KCompression::Gzip, Compression::Gzip),
            (KCompression::Snappy, Compression::Snappy),
            (KCompression::Lz4, Compression::Lz4),
            (KCompression::Zstd, Compression::Zstd),
        ] {
            let buf = batch(10, k);
            let headers = validate_record_set(&buf).unwrap();
            assert_eq!(headers[0].compression(), c);
            assert_eq!(headers[0].record_count, 10);
        }
    }

    #[test]
    fn several_batches_in_one_set() {
        let mut buf = batch(3, KCompression::None);
        buf.extend(batch(2, KCompression::Lz4));
        let headers = validate_record_set(&buf).unwrap();
        assert_eq!(headers.iter().map(|h| h.record_count).collect::<Vec<_>>(), vec![3, 2]);
        assert_eq!(headers[0].total_bytes() + headers[1].total_bytes(), buf.len());
    }

    #[test]
    fn every_flipped_bit_in_the_crc_region_is_caught() {
        let buf = batch(2, KCompression::None);
        for byte in ATTRIBUTES_AT..buf.len() {
            let mut bad = buf.clone();
            bad[byte] ^= 0x10;
            let err = validate_record_set(&bad).unwrap_err();
            // A flip in the codec bits is seen as an unknown codec or a CRC mismatch; both refuse.
            assert!(
                matches!(err, BatchError::CrcMismatch { .. } | BatchError::Compression { .. }),
                "byte {byte}: {err:?}"
            );
        }
    }

    #[test]
    fn crc_mismatch_reports_the_stored_value() {
        let mut buf = batch(1, KCompression::None);
        let last = buf.len() - 1;
        buf[last] ^= 0xff;
        let stored = BatchHeader::parse(&buf).unwrap().crc;
        assert!(matches!(
            validate_batch(&buf),
            Err(BatchError::CrcMismatch { at: 0, stored: s, .. }) if s == stored
        ));
    }

    #[test]
    fn truncated_and_short_buffers_are_refused() {
        let buf = batch(3, KCompression::None);
        assert_eq!(validate_record_set(&[]), Err(BatchError::Empty));
        for cut in 1..buf.len() {
            let err = validate_record_set(&buf[..cut]).unwrap_err();
            if cut < BATCH_HEADER_BYTES {
                assert!(matches!(err, BatchError::TooShort { .. }), "{cut}: {err:?}");
            } else {
                assert!(matches!(err, BatchError::Truncated { .. }), "{cut}: {err:?}");
            }
        }
        // A whole batch followed by a torn second one: the error names the second batch's start.
        let mut two = buf.clone();
        two.extend_from_slice(&buf[..20]);
        assert_eq!(
            validate_record_set(&two),
            Err(BatchError::TooShort { at: buf.len(), need: BATCH_HEADER_BYTES, have: 20 })
        );
    }

    #[test]
    fn header_field_checks() {
        let good = batch(2, KCompression::None);

        let mut bad = good.clone();
        bad[MAGIC_AT] = 1;
        assert_eq!(validate_record_set(&bad), Err(BatchError::Magic { at: 0, magic: 1 }));

        let mut bad = good.clone();
        bad[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(matches!(validate_record_set(&bad), Err(BatchError::BatchLength { .. })));

        // Zero-filled bytes (a torn tail on disk) are not a batch.
        assert!(validate_batch(&[0u8; 200]).is_err());
    }

    /// Rewrites a header field and fixes the CRC, to reach the checks that come after it.
    fn with_field(good: &[u8], at: usize, value: &[u8]) -> Vec<u8> {
        let mut bad = good.to_vec();
        bad[at..at + value.len()].copy_from_slice(value);
        let crc = crc32c::crc32c(&bad[ATTRIBUTES_AT..]);
        bad[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        bad
    }

    #[test]
    fn record_count_and_offset_delta_checks() {
        let good = batch(2, KCompression::None);
        let bad = with_field(&good, 57, &0i32.to_be_bytes());
        assert_eq!(validate_batch(&bad), Err(BatchError::RecordCount { at: 0, record_count: 0 }));
        let bad = with_field(&good, 23, &5i32.to_be_bytes());
        assert_eq!(validate_batch(&bad), Err(BatchError::OffsetDelta { at: 0, last_offset_delta: 5, record_count: 2 }));
        let bad = with_field(&good, ATTRIBUTES_AT, &7i16.to_be_bytes());
        assert_eq!(validate_batch(&bad), Err(BatchError::Compression { at: 0, codec: 7 }));
    }

    #[test]
    fn offset_and_epoch_rewrites_keep_the_crc_valid() {
        let mut buf = batch(4, KCompression::Gzip);
        set_base_offset(&mut buf, 1_234_567);
        set_partition_leader_epoch(&mut buf, 9);
        let h = validate_batch(&buf).unwrap();
        assert_eq!(h.base_offset, 1_234_567);
        assert_eq!(h.partition_leader_epoch, 9);
        assert_eq!(h.last_offset(), 1_234_570);
        // And a real decoder sees the same offsets.
        let mut bytes = Bytes::from(buf);
        let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
        let offsets: Vec<i64> = set.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![1_234_567, 1_234_568, 1_234_569, 1_234_570]);
        assert_eq!(set.records[0].partition_leader_epoch, 9);
    }

    #[test]
    fn log_append_time_rewrite() {
        let mut buf = batch(3, KCompression::None);
        let first_len = buf.len();
        buf.extend(batch(1, KCompression::None));
        set_log_append_time(&mut buf, 99_000);
        // Only the first batch changed; the one after it still validates untouched.
        assert!(!validate_batch(&buf[first_len..]).unwrap().timestamp_type_is_log_append());
        buf.truncate(first_len);
        let h = validate_batch(&buf).unwrap();
        assert!(h.timestamp_type_is_log_append());
        assert_eq!(h.max_timestamp, 99_000);
        assert_eq!(h.base_timestamp, 1_000);
        let mut bytes = Bytes::from(buf);
        let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
        assert!(set.records.iter().all(|r| r.timestamp_type == TimestampType::LogAppend));
        // (The crate's decoder keeps per-record create times; Kafka's own clients read a
        // LogAppendTime batch's records as its max timestamp, which is what we set.)
    }

    #[test]
    fn setters_leave_short_slices_alone() {
        let mut short = [0u8; 4];
        set_base_offset(&mut short, 1);
        set_partition_leader_epoch(&mut short, 1);
        set_log_append_time(&mut short, 1);
        assert_eq!(short, [0u8; 4]);
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]
            #[test]
            fn never_panics_on_arbitrary_bytes(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
                let _ = validate_record_set(&buf);
                let _ = BatchHeader::parse(&buf);
            }

            #[test]
            fn never_panics_on_mutated_real_batches(
                flips in proptest::collection::vec((0usize..400, any::<u8>()), 1..8),
                cut in 0usize..400,
            ) {
                let mut buf = super::batch(3, kafka_protocol::records::Compression::None);
                for (at, v) in flips {
                    let len = buf.len();
                    buf[at % len] = v;
                }
                buf.truncate(cut.max(1));
                if let Ok(headers) = validate_record_set(&buf) {
                    let total: usize = headers.iter().map(|h| h.total_bytes()).sum();
                    prop_assert_eq!(total, buf.len());
                }
            }
        }
    }
}
