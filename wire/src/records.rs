//! The records inside a v2 batch, as far as the broker reads them: each record's offset delta,
//! timestamp and whether it has a key. The broker stores batches as produced and looks inside only
//! to answer a timestamp lookup with the exact record and to check that a compacted topic gets
//! keys; a compressed body is decompressed with a bound ([`crate::compression`]). Record layout
//! (Kafka's `DefaultRecord`): length varint, attributes i8, timestamp delta varlong, offset delta
//! varint, key length varint (-1 for null), key, value length, value, headers. No panic on any
//! input: every length is checked against the buffer before it is used.

use thiserror::Error;

use crate::batch::{BATCH_HEADER_BYTES, BatchHeader, Compression};
use crate::compression::{DecompressError, decompress};

/// What the broker reads of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordInfo {
    pub offset_delta: i32,
    pub timestamp: i64,
    pub has_key: bool,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordsError {
    #[error("not a v2 record batch")]
    Header,
    #[error(transparent)]
    Decompress(#[from] DecompressError),
    #[error("record {index} of the batch does not parse")]
    Malformed { index: usize },
}

/// Every record of one batch, decompressing its body (up to `decompressed_bytes_max` bytes) when
/// it is compressed.
pub fn records(batch: &[u8], decompressed_bytes_max: usize) -> Result<Vec<RecordInfo>, RecordsError> {
    let header = BatchHeader::parse(batch).map_err(|_| RecordsError::Header)?;
    let end = header.total_bytes().min(batch.len());
    let body = batch.get(BATCH_HEADER_BYTES..end).ok_or(RecordsError::Header)?;
    match header.compression() {
        Compression::None => walk(&header, body),
        codec => walk(&header, &decompress(codec, body, decompressed_bytes_max)?),
    }
}

/// `(offset delta, timestamp)` of every record of one uncompressed batch, in order (the log uses
/// it to answer a timestamp lookup with the exact record, as Kafka does). `None` for compressed
/// batches (the log does not decompress) and for records that do not parse.
pub fn record_timestamps(batch: &[u8]) -> Option<Vec<(i32, i64)>> {
    let header = BatchHeader::parse(batch).ok()?;
    if header.compression() != Compression::None {
        return None;
    }
    let records = records(batch, 0).ok()?;
    Some(records.into_iter().map(|r| (r.offset_delta, r.timestamp)).collect())
}

fn walk(header: &BatchHeader, body: &[u8]) -> Result<Vec<RecordInfo>, RecordsError> {
    let count = usize::try_from(header.record_count).unwrap_or(0);
    // Each record takes at least 7 bytes: never allocate more than the body can hold.
    let mut out = Vec::with_capacity(count.min(body.len() / 7));
    let mut at = 0;
    for index in 0..count {
        let malformed = || RecordsError::Malformed { index };
        let len = usize::try_from(read_varlong(body, &mut at).ok_or_else(malformed)?).map_err(|_| malformed())?;
        let next = at.checked_add(len).filter(|n| *n <= body.len()).ok_or_else(malformed)?;
        let record = &body[..next];
        let mut field = at + 1; // attributes (unused)
        let timestamp_delta = read_varlong(record, &mut field).ok_or_else(malformed)?;
        let offset_delta =
            i32::try_from(read_varlong(record, &mut field).ok_or_else(malformed)?).map_err(|_| malformed())?;
        let key_length = read_varlong(record, &mut field).ok_or_else(malformed)?;
        out.push(RecordInfo {
            offset_delta,
            timestamp: header.base_timestamp.saturating_add(timestamp_delta),
            has_key: key_length >= 0,
        });
        at = next;
    }
    Ok(out)
}

/// Reads a zigzag varint (Kafka's record fields) at `buf[*at..]`, advancing `at`; `None` if it
/// runs off the buffer or past 10 bytes.
pub(crate) fn read_varlong(buf: &[u8], at: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *buf.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report
mod tests {
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression as KCompression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    use super::*;

    fn record(offset: i64, timestamp: i64, key: Option<&'static [u8]>) -> Record {
        Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            // kafka-protocol's encoder starts a new batch where sequences break.
            sequence: offset as i32 - 1,
            timestamp,
            key: key.map(Bytes::from_static),
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

    fn sample() -> Vec<Record> {
        [(500, Some(&b"a"[..])), (300, None), (900, Some(b"")), (900, None)]
            .iter()
            .enumerate()
            .map(|(i, (ts, key))| record(i as i64, *ts, *key))
            .collect()
    }

    #[test]
    fn records_of_every_codec_with_keys_and_timestamps() {
        let expected: Vec<RecordInfo> = [(0, 500, true), (1, 300, false), (2, 900, true), (3, 900, false)]
            .iter()
            .map(|&(offset_delta, timestamp, has_key)| RecordInfo { offset_delta, timestamp, has_key })
            .collect();
        for codec in
            [KCompression::None, KCompression::Gzip, KCompression::Snappy, KCompression::Lz4, KCompression::Zstd]
        {
            assert_eq!(records(&encode(&sample(), codec), 1 << 20).unwrap(), expected, "{codec:?}");
        }
    }

    #[test]
    fn record_timestamps_of_uncompressed_batches_only() {
        let buf = encode(&sample(), KCompression::None);
        assert_eq!(record_timestamps(&buf), Some(vec![(0, 500), (1, 300), (2, 900), (3, 900)]));
        assert_eq!(record_timestamps(&encode(&sample(), KCompression::Gzip)), None);
        // Cut records never read past the buffer.
        for cut in BATCH_HEADER_BYTES..buf.len() {
            let got = record_timestamps(&buf[..cut]);
            assert!(got.is_none(), "{cut}: {got:?}");
        }
    }

    #[test]
    fn a_compressed_body_larger_than_the_bound_is_refused() {
        let big: Vec<Record> = (0..1000).map(|i| record(i, 0, Some(b"k"))).collect();
        let buf = encode(&big, KCompression::Zstd);
        assert!(matches!(
            records(&buf, 4096),
            Err(RecordsError::Decompress(DecompressError::TooLarge { limit: 4096 }))
        ));
    }

    mod prop {
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]
            #[test]
            fn never_panics_on_arbitrary_bytes(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
                let _ = super::super::records(&buf, 1 << 16);
                let _ = super::super::record_timestamps(&buf);
            }
        }
    }
}
