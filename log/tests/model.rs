//! Property test: random sequences of append / roll / retention / delete_records / truncate /
//! clean and unclean reopen, run against a partition and a plain in-memory model; after every
//! operation every offset is read back and compared with the model.
//!
//! The model is a list of batches `(base offset, record ids, timestamp)` plus a log start. Each
//! record carries a unique id in its value, so a read proves it returned the right records at the
//! right offsets, not just the right count.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use proptest::prelude::*;
use strata_log::{LogConfig, LogManager, LogOptions, Partition, ReadError, TryAppendError};
use strata_testkit::batches::Batch;

#[derive(Clone, Debug)]
enum Op {
    /// Records in the batch, timestamp, and whether through `try_append` first (falling back to
    /// `append` when it would block, as the broker does).
    Append(usize, i64, bool),
    /// `maintain(now)` with a small segment.ms: rolls the active segment.
    Roll,
    /// `maintain` with retention.bytes set to this many bytes.
    RetainBytes(u64),
    /// delete_records at this fraction (per mille) of [log start, hw].
    DeleteRecords(u16),
    /// truncate_to at this fraction (per mille) of [0, hw + 2].
    Truncate(u16),
    ReopenClean,
    /// Reopen without shutdown; with `true`, garbage is first appended to the last segment.
    ReopenUnclean(bool),
    /// A read at this fraction of [log start, hw] with this max_bytes.
    Read(u16, u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..4, 0i64..1000, any::<bool>()).prop_map(|(n, ts, fast)| Op::Append(n, ts, fast)),
        1 => Just(Op::Roll),
        1 => (0u64..2000).prop_map(Op::RetainBytes),
        1 => (0u16..1001).prop_map(Op::DeleteRecords),
        1 => (0u16..1001).prop_map(Op::Truncate),
        1 => Just(Op::ReopenClean),
        1 => any::<bool>().prop_map(Op::ReopenUnclean),
        2 => (0u16..1001, 0u32..1500).prop_map(|(at, max)| Op::Read(at, max)),
    ]
}

struct ModelBatch {
    base: i64,
    ids: Vec<u64>,
    timestamp: i64,
    bytes: usize,
}

#[derive(Default)]
struct Model {
    batches: Vec<ModelBatch>,
    start: i64,
    end: i64,
    next_id: u64,
}

impl Model {
    fn id_at(&self, offset: i64) -> Option<u64> {
        let b = self.batches.iter().find(|b| b.base <= offset && offset < b.base + b.ids.len() as i64)?;
        Some(b.ids[(offset - b.base) as usize])
    }
}

fn encode(ids: &[u64], timestamp: i64) -> Bytes {
    ids.iter()
        .fold(Batch::new(), |batch, id| batch.record(None, Some(id.to_string().as_bytes()), timestamp))
        .leader_epoch(0)
        .encode()
}

/// `(offset, id)` of every record in the read result.
fn decode(p: &Partition, offset: i64, max_bytes: u32) -> (Vec<(i64, u64)>, usize) {
    let result = p.read(offset, max_bytes).unwrap();
    let mut bytes = Vec::new();
    for range in &result.ranges {
        range.read_into(&mut bytes).unwrap();
    }
    let len = bytes.len();
    let mut bytes = Bytes::from(bytes);
    let sets = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
    let records = sets
        .iter()
        .flat_map(|s| s.records.iter())
        .map(|r| (r.offset, std::str::from_utf8(r.value.as_ref().unwrap()).unwrap().parse().unwrap()))
        .collect();
    (records, len)
}

fn config(segment_bytes: u32) -> LogConfig {
    LogConfig { segment_bytes, segment_ms: 1_000, retention_ms: -1, index_interval_bytes: 100, ..LogConfig::default() }
}

struct Harness {
    dir: tempfile::TempDir,
    manager: Option<LogManager>,
    partition: Option<Arc<Partition>>,
    segment_bytes: u32,
    now: i64,
}

impl Harness {
    fn open(&mut self) {
        let options = LogOptions { force_fallback_io: true, ..LogOptions::default() };
        let manager = LogManager::open(self.dir.path(), options).unwrap();
        self.partition = Some(manager.open_partition("m", 0, config(self.segment_bytes), self.now).unwrap());
        self.manager = Some(manager);
    }

    fn p(&self) -> &Partition {
        self.partition.as_ref().unwrap()
    }

    fn close(&mut self, clean: bool) {
        self.partition = None;
        let manager = self.manager.take().unwrap();
        if clean {
            manager.shutdown().unwrap();
        } else {
            manager.writer().stop();
        }
    }
}

fn last_log_file(dir: &Path) -> std::path::PathBuf {
    let mut logs: Vec<_> = std::fs::read_dir(dir.join("m-0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

fn check(h: &Harness, model: &Model) -> Result<(), TestCaseError> {
    let p = h.p();
    prop_assert_eq!(p.high_watermark(), model.end);
    prop_assert_eq!(p.log_start_offset(), model.start);
    // Read everything from the log start, range by range.
    let mut next = model.start;
    while next < model.end {
        let (records, _) = decode(p, next, 700);
        prop_assert!(!records.is_empty());
        for (offset, id) in &records {
            if *offset >= next {
                prop_assert_eq!(Some(*id), model.id_at(*offset), "offset {}", offset);
            }
        }
        next = records.last().unwrap().0 + 1;
    }
    prop_assert_eq!(next.max(model.start), model.end);
    prop_assert!(p.read(model.end, 100).unwrap().ranges.is_empty());
    let beyond = matches!(p.read(model.end + 1, 100), Err(ReadError::OffsetOutOfRange { .. }));
    prop_assert!(beyond, "read beyond the high watermark");
    if model.start > 0 {
        let below = matches!(p.read(model.start - 1, 100), Err(ReadError::OffsetOutOfRange { .. }));
        prop_assert!(below, "read below the log start");
    }
    let mut expected_max: Option<(i64, i64)> = None;
    for b in model.batches.iter().filter(|b| b.base + b.ids.len() as i64 > model.start) {
        if expected_max.is_none_or(|(ts, _)| b.timestamp > ts) {
            expected_max = Some((b.timestamp, b.base.max(model.start)));
        }
    }
    prop_assert_eq!(p.max_timestamp(), expected_max);
    // Timestamp lookups agree with the model (first batch with a timestamp >= target whose
    // records reach the log start).
    for target in [0, 250, 500, 999] {
        let expected = model
            .batches
            .iter()
            .find(|b| b.timestamp >= target && b.base + b.ids.len() as i64 > model.start)
            .map(|b| (b.base.max(model.start), b.timestamp));
        prop_assert_eq!(p.offset_for_timestamp(target).unwrap(), expected);
    }
    Ok(())
}

fn fraction(lo: i64, hi: i64, per_mille: u16) -> i64 {
    lo + (hi - lo) * i64::from(per_mille) / 1000
}

fn run(ops: Vec<Op>, segment_bytes: u32) -> Result<(), TestCaseError> {
    let mut h = Harness { dir: tempfile::tempdir().unwrap(), manager: None, partition: None, segment_bytes, now: 0 };
    h.open();
    let mut model = Model::default();
    for op in ops {
        h.now += 10;
        match op {
            Op::Append(n, ts, fast) => {
                let ids: Vec<u64> = (model.next_id..model.next_id + n as u64).collect();
                model.next_id += n as u64;
                let bytes = encode(&ids, ts);
                let len = bytes.len();
                let pending = if fast {
                    match h.p().try_append(bytes, 0, h.now) {
                        Ok(pending) => pending,
                        // A refusal changed nothing: the blocking append gets the next offset.
                        Err(TryAppendError::WouldBlock(bytes)) => h.p().append(bytes, 0, h.now).unwrap(),
                        Err(TryAppendError::Refused(error)) => panic!("try_append refused: {error}"),
                    }
                } else {
                    h.p().append(bytes, 0, h.now).unwrap()
                };
                prop_assert_eq!(pending.info.base_offset, model.end);
                let info = futures_block(pending.wait());
                prop_assert_eq!(info.last_offset, model.end + n as i64 - 1);
                model.batches.push(ModelBatch { base: model.end, ids, timestamp: ts, bytes: len });
                model.end += n as i64;
            }
            Op::Roll => {
                h.now += 2_000;
                h.p().maintain(h.now).unwrap();
            }
            Op::RetainBytes(bytes) => {
                let before = h.p().log_start_offset();
                let p = h.p();
                p.set_config(LogConfig { retention_bytes: bytes as i64, ..config(h.segment_bytes) });
                p.maintain(h.now).unwrap();
                p.set_config(config(h.segment_bytes));
                let start = p.log_start_offset();
                prop_assert!(start >= before && start <= model.end);
                // Whole segments go: the new start is a batch boundary (or the end).
                prop_assert!(start == before || start == model.end || model.batches.iter().any(|b| b.base == start));
                let kept: u64 = model.batches.iter().filter(|b| b.base >= start).map(|b| b.bytes as u64).sum();
                prop_assert!(p.size_bytes() >= kept);
                model.start = start;
                model.batches.retain(|b| b.base + b.ids.len() as i64 > start);
            }
            Op::DeleteRecords(at) => {
                let target = fraction(model.start, model.end, at);
                let start = h.p().delete_records(target).unwrap();
                prop_assert_eq!(start, target.max(model.start));
                model.start = start;
                model.batches.retain(|b| b.base + b.ids.len() as i64 > start);
            }
            Op::Truncate(at) => {
                let target = fraction(0, model.end + 2, at);
                h.p().truncate_to(target).unwrap();
                if target < model.end {
                    if target < model.start
                        || model.batches.first().is_none_or(|b| target <= b.base && target <= model.start)
                    {
                        model.batches.clear();
                        model.start = target;
                        model.end = target;
                    } else {
                        let cut = model
                            .batches
                            .iter()
                            .position(|b| b.base + b.ids.len() as i64 > target)
                            .unwrap_or(model.batches.len());
                        model.end = model.batches.get(cut).map_or(model.end, |b| b.base);
                        model.batches.truncate(cut);
                        model.start = model.start.min(model.end);
                    }
                }
            }
            Op::ReopenClean => {
                h.close(true);
                h.open();
            }
            Op::ReopenUnclean(garbage) => {
                h.close(false);
                if garbage {
                    use std::io::Write;
                    let mut f = std::fs::OpenOptions::new().append(true).open(last_log_file(h.dir.path())).unwrap();
                    f.write_all(&[0x42; 37]).unwrap();
                }
                h.open();
            }
            Op::Read(at, max_bytes) => {
                if model.start < model.end {
                    let offset = fraction(model.start, model.end - 1, at);
                    let (records, len) = decode(h.p(), offset, max_bytes);
                    let first = model.batches.iter().find(|b| b.base + b.ids.len() as i64 > offset).unwrap();
                    prop_assert_eq!(records.first().map(|r| r.0), Some(first.base));
                    prop_assert!(len <= (max_bytes as usize).max(first.bytes), "{} > {}", len, max_bytes);
                    for (o, id) in records {
                        prop_assert_eq!(Some(id), model.id_at(o));
                    }
                }
            }
        }
        check(&h, &model)?;
    }
    h.close(true);
    Ok(())
}

fn futures_block<F: std::future::Future<Output = Result<T, E>>, T, E: std::fmt::Debug>(f: F) -> T {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn partition_matches_model(ops in proptest::collection::vec(op(), 1..40), segment_bytes in 150u32..600) {
        run(ops, segment_bytes)?;
    }
}
