//! Record batches for the crash test and the benchmarks, built with kafka-protocol's encoder so the
//! bytes are exactly what a real producer would send. Shared by `benches/append.rs`,
//! `benches/lookup.rs`, `tests/crash_kill.rs` and strata-wire's `benches/hot_paths.rs` (through
//! `#[path]`), deterministic in `id` so a checker can rebuild the
//! batch it expects byte for byte.
#![allow(dead_code)] // each includer uses a different part

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType,
};

/// The record timestamps (`CreateTime`); fixed so that batches are reproducible.
pub const BASE_TIMESTAMP_MS: i64 = 1_700_000_000_000;

/// One uncompressed v2 batch of `records` records with `value_bytes`-byte values. The key holds
/// `id` and the record index; the values are a pattern derived from both.
pub fn record_batch(id: u64, records: usize, value_bytes: usize) -> Bytes {
    let records: Vec<Record> = (0..records)
        .map(|index| {
            let mut key = id.to_be_bytes().to_vec();
            key.extend_from_slice(&(index as u32).to_be_bytes());
            let value: Vec<u8> = (0..value_bytes).map(|i| (id as usize + index * 13 + i * 7) as u8).collect();
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
                producer_id: NO_PRODUCER_ID,
                producer_epoch: NO_PRODUCER_EPOCH,
                timestamp_type: TimestampType::Creation,
                offset: index as i64,
                // The encoder keeps records in one batch only while `offset - sequence` is constant
                // and takes the first record's as the base sequence: NO_SEQUENCE (-1), then -1 + i.
                sequence: NO_SEQUENCE + index as i32,
                timestamp: BASE_TIMESTAMP_MS + (id % 1000) as i64,
                key: Some(Bytes::from(key)),
                value: Some(Bytes::from(value)),
                headers: IndexMap::new(),
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    if let Err(error) = RecordBatchEncoder::encode(&mut buf, &records, &options) {
        panic!("encoding a test record batch failed: {error}");
    }
    buf.freeze()
}

/// The id a batch built by [`record_batch`] carries (first record's key), found without decoding.
pub fn batch_id(batch: &[u8]) -> Option<u64> {
    // 61-byte batch header, then the first record: varint length, attributes (1 byte), varint
    // timestamp delta (0 → 1 byte), varint offset delta (0 → 1 byte), varint key length (1 byte for
    // 12), key.
    let mut at = 61;
    while *batch.get(at)? & 0x80 != 0 {
        at += 1;
    }
    let key_start = at + 1 + 1 + 1 + 1 + 1;
    let key = batch.get(key_start..key_start + 8)?;
    Some(u64::from_be_bytes(key.try_into().ok()?))
}
