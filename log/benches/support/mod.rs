//! Record batches for the crash test and the benchmarks, built with the test kit's builder so the
//! bytes are exactly what a real producer would send. Shared by `benches/append.rs`,
//! `benches/lookup.rs`, `tests/crash_kill.rs` and strata-wire's `benches/hot_paths.rs` (through
//! `#[path]`), deterministic in `id` so a checker can rebuild the
//! batch it expects byte for byte.
#![allow(dead_code)] // each includer uses a different part

use bytes::Bytes;
use strata_testkit::batches::Batch;

/// The record timestamps (`CreateTime`); fixed so that batches are reproducible.
pub const BASE_TIMESTAMP_MS: i64 = 1_700_000_000_000;

/// One uncompressed v2 batch of `records` records with `value_bytes`-byte values. The key holds
/// `id` and the record index; the values are a pattern derived from both.
pub fn record_batch(id: u64, records: usize, value_bytes: usize) -> Bytes {
    let timestamp = BASE_TIMESTAMP_MS + (id % 1000) as i64;
    let batch = (0..records).fold(Batch::new(), |batch, index| {
        let mut key = id.to_be_bytes().to_vec();
        key.extend_from_slice(&(index as u32).to_be_bytes());
        let value: Vec<u8> = (0..value_bytes).map(|i| (id as usize + index * 13 + i * 7) as u8).collect();
        batch.record(Some(&key), Some(&value), timestamp)
    });
    batch.encode()
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
