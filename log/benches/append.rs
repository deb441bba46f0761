//! Append and read-range throughput of strata-log, measured against the disk itself.
//!
//! First a summary pass (printed, best of three) with a fixed volume: the disk's own sequential
//! buffered write bandwidth (a plain `write` loop of the same batch bytes into one file), then
//! append throughput (io_uring and fallback, no fsync), read-range throughput (`read` +
//! `FileRange::read_into` over the whole log) and `flush.messages=1` group commit with one and with
//! several concurrent appenders, each printed with its ratio to the raw write loop. Then criterion
//! measures the same operations per batch, briefly (small sample size and measurement time).
//!
//! Batches: 8 records of 100-byte values, about 1 KiB each, built with kafka-protocol's encoder.
//! Run with `cargo bench -p strata-log --bench append`; `STRATA_BENCH_MIB` sets the summary volume.
#![allow(clippy::unwrap_used)] // a benchmark that cannot set itself up should stop loudly

#[path = "support/mod.rs"]
mod support;

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata_log::{LogConfig, LogManager, LogOptions, Partition, PendingAppend};

const RECORDS_PER_BATCH: usize = 8;
const VALUE_BYTES: usize = 100;
/// Appends in flight per appender before it waits for the oldest (bounded like the broker's).
const IN_FLIGHT_MAX: usize = 1024;
const NOW_MS: i64 = support::BASE_TIMESTAMP_MS;
const GROUP_COMMIT_APPENDERS: usize = 8;

fn batches(n: usize) -> Vec<Bytes> {
    (0..n as u64).map(|id| support::record_batch(id, RECORDS_PER_BATCH, VALUE_BYTES)).collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}

fn open(dir: &Path, force_fallback_io: bool, flush_messages: u64) -> (LogManager, Arc<Partition>) {
    let manager = LogManager::open(dir, LogOptions { force_fallback_io, ..LogOptions::default() }).unwrap();
    let config = LogConfig { flush_messages, ..LogConfig::default() };
    let partition = manager.open_partition("bench", 0, config, NOW_MS).unwrap();
    (manager, partition)
}

/// Appends every batch with at most `IN_FLIGHT_MAX` unacknowledged, then waits for all.
fn append_all(runtime: &tokio::runtime::Runtime, partition: &Partition, batches: &[Bytes]) {
    let mut pending: VecDeque<PendingAppend> = VecDeque::with_capacity(IN_FLIGHT_MAX);
    for batch in batches {
        if pending.len() == IN_FLIGHT_MAX
            && let Some(oldest) = pending.pop_front()
        {
            runtime.block_on(oldest.wait()).unwrap();
        }
        pending.push_back(partition.append(batch.clone(), 0, NOW_MS).unwrap());
    }
    for p in pending {
        runtime.block_on(p.wait()).unwrap();
    }
}

/// Reads the whole log through file ranges into one reused buffer; returns the bytes read.
fn read_all(partition: &Partition, buf: &mut Vec<u8>) -> u64 {
    let mut offset = partition.log_start_offset();
    let mut total = 0u64;
    while offset < partition.high_watermark() {
        let result = partition.read(offset, 1 << 20).unwrap();
        for range in &result.ranges {
            buf.clear();
            range.read_into(buf).unwrap();
            total += buf.len() as u64;
            // The next read starts after the last batch of this range.
            let mut at = 0;
            while at < buf.len() {
                let header = strata_wire::batch::BatchHeader::parse(&buf[at..]).unwrap();
                offset = header.last_offset() + 1;
                at += header.total_bytes();
            }
        }
    }
    total
}

/// The disk's sequential buffered write bandwidth for these bytes: one `write` per batch.
fn raw_write_loop(dir: &Path, batches: &[Bytes]) -> Duration {
    let mut file = File::create(dir.join("raw")).unwrap();
    let started = Instant::now();
    for batch in batches {
        file.write_all(batch).unwrap();
    }
    let elapsed = started.elapsed();
    drop(file);
    std::fs::remove_file(dir.join("raw")).unwrap();
    elapsed
}

/// `appenders` concurrent appenders, each waiting for its fsynced ack before the next append.
/// Returns the elapsed time and the fdatasyncs the writer issued.
fn group_commit(dir: &Path, batches: &[Bytes], appenders: usize) -> (Duration, u64) {
    let (manager, partition) = open(dir, false, 1);
    let fsyncs_before = manager.writer().stats().fsyncs;
    let runtime = runtime();
    let started = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = batches
            .chunks(batches.len().div_ceil(appenders))
            .map(|chunk| {
                let (partition, chunk) = (Arc::clone(&partition), chunk.to_vec());
                tokio::spawn(async move {
                    for batch in chunk {
                        partition.append(batch, 0, NOW_MS).unwrap().wait().await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    let elapsed = started.elapsed();
    let fsyncs = manager.writer().stats().fsyncs - fsyncs_before;
    manager.shutdown().unwrap();
    (elapsed, fsyncs)
}

fn mib_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64()
}

/// Best (shortest) of three runs of `f`, each in a fresh directory.
fn best_of_three(mut f: impl FnMut(&Path) -> Duration) -> Duration {
    (0..3).map(|_| f(tempfile::tempdir().unwrap().path())).min().unwrap()
}

fn summary() {
    let volume_mib: usize = std::env::var("STRATA_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let batch_bytes = support::record_batch(0, RECORDS_PER_BATCH, VALUE_BYTES).len();
    let all = batches(volume_mib * 1024 * 1024 / batch_bytes);
    let bytes: u64 = all.iter().map(|b| b.len() as u64).sum();
    let runtime = runtime();
    println!(
        "strata-log append bench: {} batches of {batch_bytes} B ({RECORDS_PER_BATCH} x {VALUE_BYTES} B records), {:.1} MiB",
        all.len(),
        bytes as f64 / 1048576.0
    );

    let raw = mib_per_s(bytes, best_of_three(|dir| raw_write_loop(dir, &all)));
    println!("  raw buffered write loop        {raw:8.1} MiB/s   (1.00)");
    for (name, fallback) in [("append, io_uring, no fsync", false), ("append, fallback, no fsync", true)] {
        let elapsed = best_of_three(|dir| {
            let (manager, partition) = open(dir, fallback, u64::MAX);
            let started = Instant::now();
            append_all(&runtime, &partition, &all);
            let elapsed = started.elapsed();
            manager.shutdown().unwrap();
            elapsed
        });
        let rate = mib_per_s(bytes, elapsed);
        println!("  {name:30} {rate:8.1} MiB/s   ({:.2} of raw)", rate / raw);
    }

    let dir = tempfile::tempdir().unwrap();
    let (manager, partition) = open(dir.path(), false, u64::MAX);
    append_all(&runtime, &partition, &all);
    let mut buf = Vec::with_capacity(2 << 20);
    let read = best_of_three(|_| {
        let started = Instant::now();
        assert_eq!(read_all(&partition, &mut buf), bytes);
        started.elapsed()
    });
    let rate = mib_per_s(bytes, read);
    println!("  {:30} {rate:8.1} MiB/s   ({:.2} of raw write)", "read ranges (read_into)", rate / raw);
    manager.shutdown().unwrap();

    // fsync-per-ack is bounded by fsync latency, not bandwidth: a smaller volume is enough.
    let synced = &all[..all.len().min(2000)];
    let synced_bytes: u64 = synced.iter().map(|b| b.len() as u64).sum();
    for appenders in [1, GROUP_COMMIT_APPENDERS] {
        let dir = tempfile::tempdir().unwrap();
        let (elapsed, fsyncs) = group_commit(dir.path(), synced, appenders);
        let rate = mib_per_s(synced_bytes, elapsed);
        println!(
            "  flush.messages=1, {appenders} appender(s)   {rate:8.1} MiB/s   ({:.3} of raw), {:.0} acks/s, {:.1} appends per fdatasync",
            rate / raw,
            synced.len() as f64 / elapsed.as_secs_f64(),
            synced.len() as f64 / fsyncs.max(1) as f64
        );
    }
}

fn criterion_benches(c: &mut Criterion) {
    summary();
    let batch = support::record_batch(0, RECORDS_PER_BATCH, VALUE_BYTES);
    let runtime = runtime();
    let mut group = c.benchmark_group("log");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));

    group.bench_function("raw_write_loop", |b| {
        let dir = tempfile::tempdir().unwrap();
        let mut file = File::create(dir.path().join("raw")).unwrap();
        b.iter(|| file.write_all(&batch).unwrap());
    });
    for (name, fallback) in [("append_io_uring", false), ("append_fallback", true)] {
        group.bench_function(name, |b| {
            let dir = tempfile::tempdir().unwrap();
            let (manager, partition) = open(dir.path(), fallback, u64::MAX);
            b.iter_custom(|iters| {
                let batches = vec![batch.clone(); iters as usize];
                let started = Instant::now();
                append_all(&runtime, &partition, &batches);
                started.elapsed()
            });
            manager.shutdown().unwrap();
        });
    }
    group.bench_function("read_ranges", |b| {
        let dir = tempfile::tempdir().unwrap();
        let (manager, partition) = open(dir.path(), false, u64::MAX);
        append_all(&runtime, &partition, &vec![batch.clone(); 20_000]);
        let mut buf = Vec::new();
        b.iter_custom(|iters| {
            let started = Instant::now();
            let mut offset = 0;
            for _ in 0..iters {
                let result = partition.read(offset, batch.len() as u32).unwrap();
                buf.clear();
                result.ranges[0].read_into(&mut buf).unwrap();
                offset = (offset + RECORDS_PER_BATCH as i64) % partition.high_watermark();
            }
            started.elapsed()
        });
        manager.shutdown().unwrap();
    });
    group.finish();
}

criterion_group!(benches, criterion_benches);
criterion_main!(benches);
