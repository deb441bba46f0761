//! Criterion micro-benchmarks of strata-wire's hot paths, each with `Throughput::Bytes` so that
//! criterion prints GB/s:
//!
//! - `frame_decode`: `decode_request_frame` + `decode_request_body` of a Produce v9 frame, large
//!   (16 partitions × one 64 KiB batch of 1 KiB records) and small (6 partitions × one batch of
//!   ten 100 B records); bytes are the frame's.
//! - `batch_validate`: `validate_record_set` (header checks and CRC32C) over a 1 MiB record set
//!   of batches of 16 records of 1 KiB and over one batch of ten 100 B records, uncompressed and
//!   lz4; bytes are the record set's as sent (for lz4, 1 MiB of compressed batches, so many more
//!   batches: the name gives the count).
//! - `offset_assign`: what `Partition::append` does per batch of that 1 MiB set: `set_base_offset`
//!   and `set_partition_leader_epoch`, and for LogAppendTime topics `set_log_append_time`, which
//!   recomputes the CRC.
//! - `fetch_framing`: `encode_fetch_response` (v12) of 16 partitions × 1 MiB and 1,000 partitions
//!   × 4 KiB whose records only report their length (the broker sends them with `sendfile`),
//!   beside kafka-protocol's own `FetchResponse` encode of the same response with the records
//!   inline (copied), the baseline. Bytes are the whole response frame's, record data included.
//!
//! Every batch is built with kafka-protocol's `RecordBatchEncoder` (through strata-log's benchmark
//! support, `log/benches/support/mod.rs`), every request with its encoder, so the bytes are what a
//! real client sends. Runs are short (ten samples, one second of measurement each):
//! `cargo bench -p strata-wire --bench hot_paths` (about a minute).
#![allow(clippy::unwrap_used)] // a benchmark that cannot set itself up should stop loudly

// The record-batch builder of strata-log's benchmarks: one builder for every benchmark.
#[path = "../../log/benches/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchResponse, ProduceRequest, RequestHeader, ResponseKind, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::{Compression, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};
use strata_wire::batch::{
    BatchHeader, set_base_offset, set_log_append_time, set_partition_leader_epoch, validate_record_set,
};
use strata_wire::fetch_framing::{FramedPartition, FramedResponse, FramedTopic, RecordData, encode_fetch_response};
use strata_wire::header::{decode_request_body, decode_request_frame, encode_response_frame};
use uuid::Uuid;

const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 12;
const TIMESTAMP_MS: i64 = support::BASE_TIMESTAMP_MS;
const MIB: usize = 1024 * 1024;

/// Ten samples of one second after a short warm-up: enough to read GB/s, short on a shared machine.
fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    group
}

/// One v2 batch of `records` records of `value_bytes`-byte values, as a producer encodes it: the
/// log benchmarks' builder (kafka-protocol's encoder, values a byte pattern that repeats every
/// 256 bytes, so lz4 finds the repetition a real payload has), re-encoded with `compression`.
fn batch(id: u64, records: usize, value_bytes: usize, compression: Compression) -> Bytes {
    let plain = support::record_batch(id, records, value_bytes);
    if compression == Compression::None {
        return plain;
    }
    let set = RecordBatchDecoder::decode(&mut plain.clone()).unwrap();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, &set.records, &RecordEncodeOptions { version: 2, compression }).unwrap();
    buf.freeze()
}

/// Whole batches of `records` × `value_bytes` concatenated until the set reaches `set_bytes`.
fn record_set(set_bytes: usize, records: usize, value_bytes: usize, compression: Compression) -> Bytes {
    let mut set = BytesMut::new();
    let mut id = 0;
    while set.len() < set_bytes {
        set.extend_from_slice(&batch(id, records, value_bytes, compression));
        id += 1;
    }
    set.freeze()
}

/// A Produce request frame (header and body, without the size prefix) of `partitions` partitions
/// of one topic, each carrying `records`.
fn produce_frame(partitions: i32, records: &Bytes) -> Bytes {
    let data = (0..partitions)
        .map(|index| PartitionProduceData::default().with_index(index).with_records(Some(records.clone())))
        .collect();
    let topic =
        TopicProduceData::default().with_name(TopicName(StrBytes::from_static_str("bench"))).with_partition_data(data);
    let request = ProduceRequest::default().with_acks(1).with_timeout_ms(30_000).with_topic_data(vec![topic]);
    let mut frame = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(PRODUCE_VERSION)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("bench-producer")))
        .encode(&mut frame, ApiKey::Produce.request_header_version(PRODUCE_VERSION))
        .unwrap();
    request.encode(&mut frame, PRODUCE_VERSION).unwrap();
    frame.freeze()
}

fn frame_decode(c: &mut Criterion) {
    let mut group = group(c, "frame_decode");
    let cases = [
        ("produce_v9_16x64KiB", produce_frame(16, &batch(0, 64, 1024, Compression::None))),
        ("produce_v9_6x1batch_10x100B", produce_frame(6, &batch(0, 10, 100, Compression::None))),
    ];
    for (name, frame) in cases {
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let request = decode_request_frame(frame.clone()).unwrap();
                black_box(decode_request_body(request.api_key, request.api_version(), request.body).unwrap().request)
            });
        });
    }
    group.finish();
}

fn batch_validate(c: &mut Criterion) {
    let mut group = group(c, "batch_validate");
    for (codec, compression) in [("none", Compression::None), ("lz4", Compression::Lz4)] {
        let large = record_set(MIB, 16, 1024, compression);
        let large_batches = validate_record_set(&large).unwrap().len();
        let cases = [
            (format!("1MiB_{large_batches}_batches_of_16x1KiB_{codec}"), large),
            (format!("1_batch_of_10x100B_{codec}"), batch(0, 10, 100, compression)),
        ];
        for (name, set) in cases {
            group.throughput(Throughput::Bytes(set.len() as u64));
            group.bench_function(name, |b| b.iter(|| black_box(validate_record_set(black_box(&set)).unwrap())));
        }
    }
    group.finish();
}

/// Applies `assign` to every batch of `set` in place, as `Partition::append` walks a record set.
fn for_each_batch(set: &mut [u8], headers: &[BatchHeader], mut assign: impl FnMut(&mut [u8], i64)) {
    let (mut at, mut next) = (0, 0);
    for header in headers {
        let total = header.total_bytes();
        assign(&mut set[at..at + total], next);
        next += i64::from(header.last_offset_delta) + 1;
        at += total;
    }
}

fn offset_assign(c: &mut Criterion) {
    let mut group = group(c, "offset_assign");
    let set = record_set(MIB, 16, 1024, Compression::None);
    let headers = validate_record_set(&set).unwrap();
    let mut owned = set.to_vec();
    group.throughput(Throughput::Bytes(set.len() as u64));
    group.bench_function(format!("base_offset_and_epoch_{}_batches", headers.len()), |b| {
        b.iter(|| {
            for_each_batch(&mut owned, &headers, |batch, offset| {
                set_base_offset(batch, offset);
                set_partition_leader_epoch(batch, 5);
            });
            black_box(&owned);
        });
    });
    group.bench_function(format!("log_append_time_{}_batches", headers.len()), |b| {
        b.iter(|| {
            for_each_batch(&mut owned, &headers, |batch, _| set_log_append_time(batch, TIMESTAMP_MS));
            black_box(&owned);
        });
    });
    // The rewritten set must still be valid: the benchmark measured real work, not a no-op.
    validate_record_set(&owned).unwrap();
    group.finish();
}

/// Record data that is only a length, like the broker's file ranges.
#[derive(Clone, Copy, Debug)]
struct RecordsLen(usize);

impl RecordData for RecordsLen {
    fn records_len(&self) -> usize {
        self.0
    }
}

fn partition_data(index: i32) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_high_watermark(1_000_000 + i64::from(index))
        .with_last_stable_offset(1_000_000 + i64::from(index))
        .with_log_start_offset(0)
        .with_preferred_read_replica(BrokerId(-1))
}

fn fetch_framing(c: &mut Criterion) {
    let mut group = group(c, "fetch_framing");
    for (name, partitions, records_bytes) in [("16x1MiB", 16, MIB), ("1000x4KiB", 1000, 4096)] {
        let topic = TopicName(StrBytes::from_static_str("bench"));
        let framed = FramedResponse {
            topics: vec![FramedTopic {
                topic: topic.clone(),
                topic_id: Uuid::from_u128(7),
                partitions: (0..partitions)
                    .map(|i| FramedPartition { data: partition_data(i), records: Some(RecordsLen(records_bytes)) })
                    .collect(),
            }],
            ..FramedResponse::default()
        };
        let records = Bytes::from(vec![0x5a; records_bytes]);
        let inline = ResponseKind::Fetch(FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default().with_topic(topic).with_topic_id(Uuid::from_u128(7)).with_partitions(
                (0..partitions).map(|i| partition_data(i).with_records(Some(records.clone()))).collect(),
            ),
        ]));
        let frame_bytes = encode_response_frame(ApiKey::Fetch, FETCH_VERSION, 1, &inline).unwrap().len();
        group.throughput(Throughput::Bytes(frame_bytes as u64));
        group.bench_function(format!("strata_zero_copy_{name}"), |b| {
            b.iter_batched(
                || framed.clone(),
                |framed| black_box(encode_fetch_response(FETCH_VERSION, 1, framed).unwrap()),
                BatchSize::SmallInput,
            );
        });
        group.bench_function(format!("kafka_protocol_inline_{name}"), |b| {
            b.iter(|| black_box(encode_response_frame(ApiKey::Fetch, FETCH_VERSION, 1, &inline).unwrap()));
        });
    }
    group.finish();
}

criterion_group!(benches, frame_decode, batch_validate, offset_assign, fetch_framing);
criterion_main!(benches);
