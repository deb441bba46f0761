//! Index lookups of strata-log through its public API, on a partition of 100,000 small batches
//! (2 records of 100 B, about 300 B each; 8 MiB segments, so several segments; a LogAppendTime
//! topic appended one millisecond apart, so the time index is as dense as the offset index):
//!
//! - `read_1_batch`: `Partition::read(offset, 1)` at random offsets: the segment map, the sparse
//!   offset index, and the short scan of batch headers to the batch holding the offset;
//! - `read_1MiB`: the same with a fetch-sized `max_bytes`, which also finds the range's end;
//! - `offset_for_timestamp`: random timestamps through the time index, then the header scan.
//!
//! Throughput is in lookups (elements) per second. The log is filled once (a few seconds), then
//! criterion measures briefly (ten samples, one second each):
//! `cargo bench -p strata-log --bench lookup`.
#![allow(clippy::unwrap_used)] // a benchmark that cannot set itself up should stop loudly

#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata_log::{LogConfig, LogManager, LogOptions, Partition, PendingAppend, TimestampType};

const BATCHES: usize = 100_000;
const RECORDS_PER_BATCH: usize = 2;
const VALUE_BYTES: usize = 100;
const SEGMENT_BYTES: u32 = 8 * 1024 * 1024;
/// Batch `i` is appended at `BASE_TIMESTAMP_MS + i`, which LogAppendTime makes its timestamp.
const BASE_TIMESTAMP_MS: i64 = support::BASE_TIMESTAMP_MS;
/// Random targets drawn before timing and cycled through.
const TARGETS: usize = 4096;

/// Appends `BATCHES` batches one by one and waits until all are written.
fn fill(dir: &Path) -> (LogManager, Arc<Partition>) {
    let manager = LogManager::open(dir, LogOptions::default()).unwrap();
    let config = LogConfig {
        segment_bytes: SEGMENT_BYTES,
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let partition = manager.open_partition("bench", 0, config, BASE_TIMESTAMP_MS).unwrap();
    let pending: Vec<PendingAppend> = (0..BATCHES)
        .map(|i| {
            let batch = support::record_batch(i as u64, RECORDS_PER_BATCH, VALUE_BYTES);
            partition.append(batch, 0, BASE_TIMESTAMP_MS + i as i64).unwrap()
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        for p in pending {
            p.wait().await.unwrap();
        }
    });
    assert_eq!(partition.high_watermark(), (BATCHES * RECORDS_PER_BATCH) as i64);
    (manager, partition)
}

/// `TARGETS` values in `0..bound` from a fixed-seed SplitMix64, so runs are comparable.
fn random_below(bound: u64) -> Vec<u64> {
    let mut state: u64 = 0x5eed;
    (0..TARGETS)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % bound
        })
        .collect()
}

fn lookups(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (manager, partition) = fill(dir.path());
    let offsets: Vec<i64> = random_below((BATCHES * RECORDS_PER_BATCH) as u64).into_iter().map(|o| o as i64).collect();
    let timestamps: Vec<i64> = random_below(BATCHES as u64).into_iter().map(|i| BASE_TIMESTAMP_MS + i as i64).collect();

    // The lookups must find what was appended, or the timings below measure the wrong thing.
    for (&offset, &ts) in offsets.iter().zip(&timestamps).take(100) {
        let read = partition.read(offset, 1).unwrap();
        assert_eq!(read.ranges.len(), 1, "offset {offset}");
        let batch = (ts - BASE_TIMESTAMP_MS) * RECORDS_PER_BATCH as i64;
        assert_eq!(partition.offset_for_timestamp(ts).unwrap(), Some((batch, ts)));
    }

    let mut group = c.benchmark_group("lookup");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    for (name, max_bytes) in [("read_1_batch", 1), ("read_1MiB", 1 << 20)] {
        group.bench_function(name, |b| {
            let mut next = offsets.iter().cycle();
            b.iter(|| black_box(partition.read(*next.next().unwrap(), max_bytes).unwrap()));
        });
    }
    group.bench_function("offset_for_timestamp", |b| {
        let mut next = timestamps.iter().cycle();
        b.iter(|| black_box(partition.offset_for_timestamp(*next.next().unwrap()).unwrap()));
    });
    group.finish();
    manager.shutdown().unwrap();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
