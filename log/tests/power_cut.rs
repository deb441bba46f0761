//! Power-loss test: the log runs on a data directory armed with [`PowerCut`], which records every
//! write and every fsync; then the power is "cut": the directory is rewritten to what a real power
//! cut could leave (unsynced writes dropped, torn or persisted out of order, un-fsynced directory
//! entries vanished or removals undone; see `strata_log::io::power_cut`), and the partitions are
//! opened again (recovery). After every cut:
//! - recovery opens every partition (it never fails),
//! - offsets run from the log start to the high watermark without a gap or a duplicate,
//! - every acknowledged batch (`flush.messages=1`: its append's future resolved) at or above the log
//!   start is there, at its acknowledged offset, byte for byte,
//! - every other batch on disk is one that was sent, at the offset it was given,
//! - the log start is not below what `delete_records` acknowledged,
//! - on the `txn` partition, the last stable offset and the aborted transactions are what the
//!   batches on disk say (replayed by the test: transactional batches open a transaction, markers
//!   end it).
//!
//! Between cuts, producers append to three data partitions (now and then a write finds the disk
//! full, failing its append and the ones queued behind it until the partition rewinds), an `offsets` partition takes small
//! commit records, a `lazy` partition (no flush per message) takes batches whose acknowledgement
//! promises nothing durable and a `txn` partition takes transactional batches of a few producers
//! and end-transaction markers (commits and aborts; a producer whose batch is refused, its
//! sequence broken by a lost write, goes on with a new epoch); segments are small so rolls happen all the time, retention by size and
//! `delete_records` move the log start, reads check what they return. Some cuts land while appends
//! are in flight, with the process "dying" in the middle of a write (a torn write), some after a
//! clean shutdown (then everything acknowledged, even in `lazy`, must be there).
//!
//! Seeded: `STRATA_POWER_CUT_SEED` repeats a run exactly (the seed is printed first): the operations,
//! the writer's batches (a round that ends in a torn write is queued behind a held writer, so it is
//! one batch) and the cut's choices all follow from it.
//! `STRATA_POWER_CUTS` sets the number of cuts (100 by default; the long run uses 1000 or more).
//!
//! Why there is no real-kernel variant here (checked on the CI machine, as root with every
//! capability): device-mapper is not in the kernel (`dmsetup version`: "/dev/mapper/control: open
//! failed: No such device"), so neither dm-flakey nor dm-log-writes exists. Loop devices and ext4
//! mounts do work, but a loop device cannot be force-detached while mounted (`losetup -d` only sets
//! autoclear; the device goes when it is unmounted, after the page cache was written back), and
//! the page cache lives in the same kernel as the test, so nothing short of a virtual machine can
//! lose it; `/dev/kvm` exists but no VMM (qemu, firecracker) is installed. A loop-mounted small
//! filesystem remains the way to test a really full disk (ENOSPC), which needs no power cut.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report

mod common;
#[path = "../benches/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use common::{Rng, read_all};
use strata_log::io::faults::{Faults, TearMode};
use strata_log::io::power_cut::{CutReport, PowerCut};
use strata_log::io::{WriteJob, Writer, WriterOptions};
use strata_log::{LogConfig, LogManager, LogOptions, Partition, PendingAppend};
use strata_testkit::batches::Batch;
use strata_wire::batch::{BatchHeader, set_base_offset, set_partition_leader_epoch};
use strata_wire::control::{Marker, marker_batch, parse_marker};

const LEADER_EPOCH: i32 = 7;
const CUTS_DEFAULT: u64 = 100;
const SEED_DEFAULT: u64 = 0x0C07_5EED;

/// How a partition is used.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Use {
    /// `flush.messages=1`: acknowledged means durable.
    Data,
    /// `flush.messages=1`, one small record per batch (group offset commits).
    Offsets,
    /// No flush per message: acknowledged means written, not durable.
    Lazy,
    /// `flush.messages=1`, transactional batches and markers; no retention (the test replays the
    /// whole log to know which transactions are open).
    Txn,
}

const PARTITIONS: [(&str, i32, Use); 6] = [
    ("data", 0, Use::Data),
    ("data", 1, Use::Data),
    ("data", 2, Use::Data),
    ("offsets", 0, Use::Offsets),
    ("lazy", 0, Use::Lazy),
    ("txn", 0, Use::Txn),
];

/// The producer ids writing to the `txn` partition.
const TXN_PRODUCERS: [i64; 3] = [100, 101, 102];

fn config(usage: Use) -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 512,
        segment_index_bytes: 1024,
        retention_ms: -1,
        retention_bytes: if usage == Use::Data { 12 * 1024 } else { -1 },
        flush_messages: if usage == Use::Lazy { u64::MAX } else { 1 },
        ..LogConfig::default()
    }
}

/// What the test knows about one partition.
#[derive(Default)]
struct Track {
    /// Batches that must be there (at or above the log start): acknowledged durable appends, and
    /// whatever a recovery found (after a cut, what is on disk is durable).
    durable: BTreeMap<i64, Vec<u8>>,
    /// Batches that may be there: appends not (or not durably) acknowledged.
    maybe: BTreeMap<i64, Vec<u8>>,
    /// Appends to the `lazy` partition acknowledged since the last cut (in `maybe` too): a clean
    /// shutdown makes them durable.
    acknowledged_lazy: BTreeMap<i64, Vec<u8>>,
    /// The log start `delete_records` acknowledged (it persists it before answering).
    log_start_min: i64,
}

struct Run {
    rng: Rng,
    seed: u64,
    cut: u64,
    next_id: u64,
    now_ms: i64,
    tracks: Vec<Track>,
    /// `(epoch, next sequence)` of each of `TXN_PRODUCERS`.
    txn_producers: Vec<(i16, i32)>,
    runtime: tokio::runtime::Runtime,
}

/// One life of the log between two cuts.
struct Life {
    manager: LogManager,
    faults: Arc<Faults>,
    partitions: Vec<Arc<Partition>>,
    /// A file outside the data directory for the job that holds the writer.
    hold_file: Arc<std::fs::File>,
}

impl Run {
    fn context(&self) -> String {
        format!("seed {} cut {}", self.seed, self.cut)
    }

    fn open(&mut self, dir: &Path) -> Life {
        let faults = Faults::new();
        let writer = Writer::start_with_faults(WriterOptions::default(), Arc::clone(&faults)).unwrap();
        let manager = LogManager::with_writer(dir, LogOptions::default(), writer).unwrap();
        let partitions = PARTITIONS
            .iter()
            .map(|(topic, partition, usage)| {
                let opened = manager.open_partition(topic, *partition, config(*usage), self.now_ms);
                opened
                    .unwrap_or_else(|e| panic!("{}: recovery failed to open {topic}-{partition}: {e}", self.context()))
            })
            .collect();
        let hold_file = Arc::new(tempfile::tempfile().unwrap());
        Life { manager, faults, partitions, hold_file }
    }

    /// Checks every partition against what was acknowledged, then takes what is there as durable.
    fn verify(&mut self, life: &Life) {
        let context = self.context();
        for ((partition, track), (topic, index, usage)) in life.partitions.iter().zip(&mut self.tracks).zip(PARTITIONS)
        {
            let name = format!("{context}: {topic}-{index}");
            let log_start = partition.log_start_offset();
            assert!(
                log_start >= track.log_start_min,
                "{name}: log start {log_start} < acknowledged {} (high watermark {}, last acknowledged {:?})",
                track.log_start_min,
                partition.high_watermark(),
                track.durable.keys().next_back()
            );
            let mut next = log_start;
            let mut found = BTreeMap::new();
            for (base_offset, bytes) in read_all(partition) {
                // A batch holding the log start may begin below it.
                assert!(
                    base_offset == next || (next == log_start && base_offset < log_start),
                    "{name}: batch at {base_offset}, expected {next} (a gap or a duplicate)"
                );
                let sent = track.durable.get(&base_offset).or_else(|| track.maybe.get(&base_offset));
                assert_eq!(sent, Some(&bytes), "{name}: the batch at {base_offset} is not the one sent there");
                next = strata_wire::batch::BatchHeader::parse(&bytes).unwrap().last_offset() + 1;
                found.insert(base_offset, bytes);
            }
            assert_eq!(next.max(log_start), partition.high_watermark(), "{name}: batches end below the high watermark");
            for base_offset in track.durable.range(log_start..).map(|(o, _)| *o) {
                assert!(
                    found.contains_key(&base_offset),
                    "{name}: acknowledged batch at {base_offset} was lost; on disk: {:?}, acknowledged: {:?}",
                    found.keys().collect::<Vec<_>>(),
                    track.durable.keys().collect::<Vec<_>>()
                );
            }
            if usage == Use::Txn {
                verify_transactions(&name, partition, &found);
            }
            track.durable = found;
            track.maybe.clear();
            track.acknowledged_lazy.clear();
        }
    }

    /// A batch for a partition of `usage`; for `Txn`, also the index of its producer.
    fn batch(&mut self, usage: Use) -> (bytes::Bytes, Option<usize>) {
        self.next_id += 1;
        match usage {
            Use::Offsets => (support::record_batch(self.next_id, 1, 16), None),
            Use::Data | Use::Lazy => {
                let records = 1 + self.rng.below(4) as usize;
                (support::record_batch(self.next_id, records, 20 + self.rng.below(200) as usize), None)
            }
            Use::Txn => {
                let producer = self.rng.below(TXN_PRODUCERS.len() as u64) as usize;
                let (epoch, sequence) = self.txn_producers[producer];
                let producer_id = TXN_PRODUCERS[producer];
                if self.rng.below(4) == 0 {
                    let commit = self.rng.below(2) == 0;
                    let marker = Marker { producer_id, producer_epoch: epoch, coordinator_epoch: 0, commit };
                    return (marker_batch(&marker, self.now_ms), Some(producer));
                }
                let records = 1 + self.rng.below(3) as usize;
                let batch = (0..records).fold(Batch::new(), |batch, index| {
                    let key = [self.next_id.to_be_bytes(), (index as u64).to_be_bytes()].concat();
                    batch.record(Some(&key), Some(&[b't'; 40]), self.now_ms)
                });
                self.txn_producers[producer].1 = sequence + records as i32;
                (batch.producer(producer_id, epoch, sequence).transactional().encode(), Some(producer))
            }
        }
    }

    /// Appends a round of batches to random partitions, all in flight together, then waits for
    /// them. Returns how many were acknowledged.
    fn append_round(&mut self, life: &Life, appends: u64) -> u64 {
        let pending = self.submit_round(life, appends, false);
        self.wait_round(pending)
    }

    /// Queues `appends` batches to random partitions. `never_block`: with `try_append`, skipping
    /// those that would block (a roll), for a round queued behind a held writer.
    fn submit_round(&mut self, life: &Life, appends: u64, never_block: bool) -> Vec<(usize, PendingAppend, Vec<u8>)> {
        let mut pending = Vec::new();
        for _ in 0..appends {
            let which = self.rng.below(PARTITIONS.len() as u64) as usize;
            let (batch, producer) = self.batch(PARTITIONS[which].2);
            let partition = &life.partitions[which];
            // After an injected death the partitions refuse appends; that is expected.
            let append = if never_block {
                partition.try_append(batch.clone(), LEADER_EPOCH, self.now_ms).ok()
            } else {
                partition.append(batch.clone(), LEADER_EPOCH, self.now_ms).ok()
            };
            let Some(append) = append else {
                if let Some(producer) = producer {
                    // Its sequence may be broken (a write lost to a cut or a full disk): a new
                    // epoch starts again at sequence 0.
                    let (epoch, _) = self.txn_producers[producer];
                    self.txn_producers[producer] = (epoch.saturating_add(1), 0);
                }
                continue;
            };
            let mut stored = batch.to_vec();
            set_base_offset(&mut stored, append.info.base_offset);
            set_partition_leader_epoch(&mut stored, LEADER_EPOCH);
            self.tracks[which].maybe.insert(append.info.base_offset, stored.clone());
            pending.push((which, append, stored));
        }
        pending
    }

    /// Waits for every queued append; the acknowledged durable ones must survive any cut.
    fn wait_round(&mut self, pending: Vec<(usize, PendingAppend, Vec<u8>)>) -> u64 {
        let mut acknowledged = 0;
        for (which, append, stored) in pending {
            let base_offset = append.info.base_offset;
            if self.runtime.block_on(append.wait()).is_ok() {
                acknowledged += 1;
                let track = &mut self.tracks[which];
                if PARTITIONS[which].2 == Use::Lazy {
                    track.acknowledged_lazy.insert(base_offset, stored);
                } else {
                    track.maybe.remove(&base_offset);
                    track.durable.insert(base_offset, stored);
                }
            }
        }
        acknowledged
    }

    /// A round queued behind a held writer, so that it runs as one batch (the same seed, the same
    /// run), with one of its writes torn: `mode` says what follows the tear.
    fn held_round(&mut self, life: &Life, appends: u64, mode: TearMode) -> u64 {
        let release = hold_writer(life);
        let pending = self.submit_round(life, appends, true);
        // Armed while the writer is held, so the torn job is one of this round's (one job each).
        if !pending.is_empty() {
            let job = life.faults.write_jobs_seen() + self.rng.below(pending.len() as u64);
            life.faults.tear_write_job(job, self.rng.below(600) as usize, mode);
        }
        release.send(()).unwrap();
        self.wait_round(pending)
    }

    /// Reads a random acknowledged batch back and compares it.
    fn read_back(&mut self, life: &Life) {
        let which = self.rng.below(PARTITIONS.len() as u64) as usize;
        let partition = &life.partitions[which];
        let track = &self.tracks[which];
        let Some((base_offset, bytes)) = track.durable.range(partition.log_start_offset()..).next_back() else {
            return;
        };
        let result = partition.read(*base_offset, 1).unwrap();
        let mut got = Vec::new();
        result.ranges[0].read_into(&mut got).unwrap();
        assert_eq!(&got[..bytes.len()], &bytes[..], "{}: read of {base_offset} differs", self.context());
    }

    /// Retention (by size, on the data partitions) or `delete_records`.
    fn maintain(&mut self, life: &Life) {
        self.now_ms += 1000;
        let which = self.rng.below(PARTITIONS.len() as u64) as usize;
        let partition = &life.partitions[which];
        if PARTITIONS[which].2 == Use::Data && self.rng.below(2) == 0 {
            let (start, end) = (partition.log_start_offset(), partition.high_watermark());
            let target = start + self.rng.below((end - start + 1) as u64) as i64;
            if let Ok(new_start) = partition.delete_records(target) {
                let track = &mut self.tracks[which];
                track.log_start_min = track.log_start_min.max(new_start);
            }
        } else {
            let _ = partition.maintain(self.now_ms);
        }
    }

    /// One life: appends, reads, maintenance; then the power goes, perhaps in the middle of writes.
    /// Returns (appends acknowledged, whether the life ended with a clean shutdown).
    fn live(&mut self, life: &Life) -> (u64, bool) {
        let mut acknowledged = 0;
        for _ in 0..1 + self.rng.below(5) {
            let appends = 1 + self.rng.below(12);
            if self.rng.below(6) == 0 {
                // The disk fills up in the middle of a write: that append and the ones behind it on
                // the same partition fail, and the next append rewinds the partition.
                acknowledged += self.held_round(life, appends, TearMode::Errno(libc::ENOSPC));
            } else {
                acknowledged += self.append_round(life, appends);
            }
            match self.rng.below(3) {
                0 => self.read_back(life),
                1 => self.maintain(life),
                _ => {}
            }
        }
        match self.rng.below(8) {
            // The process dies in the middle of a write: a prefix of it reaches the page cache, and
            // the writes of the batch before it were made but not fsynced.
            0..=4 => {
                let appends = 1 + self.rng.below(16);
                acknowledged += self.held_round(life, appends, TearMode::ProcessDies);
                life.faults.die();
            }
            // A clean shutdown, then the power goes.
            5 => {
                life.manager.shutdown().unwrap();
                for track in &mut self.tracks {
                    let acknowledged = std::mem::take(&mut track.acknowledged_lazy);
                    track.durable.extend(acknowledged);
                }
                return (acknowledged, true);
            }
            // Everything answered, then the power goes.
            _ => {}
        }
        life.manager.writer().stop();
        (acknowledged, false)
    }
}

/// Replays the batches of a `txn` partition (all of it: it has no retention) and checks the log's
/// last stable offset and aborted transactions against them.
fn verify_transactions(name: &str, partition: &Partition, batches: &BTreeMap<i64, Vec<u8>>) {
    let mut open: BTreeMap<i64, i64> = BTreeMap::new(); // producer id -> first offset
    let mut aborted = Vec::new();
    for (base_offset, bytes) in batches {
        let header = BatchHeader::parse(bytes).unwrap();
        if header.is_control() {
            let marker = parse_marker(bytes).unwrap();
            if let Some(first) = open.remove(&marker.producer_id)
                && !marker.commit
            {
                aborted.push((marker.producer_id, first));
            }
        } else if header.is_transactional() {
            open.entry(header.producer_id).or_insert(*base_offset);
        }
    }
    let high_watermark = partition.high_watermark();
    let stable = open.values().copied().min().unwrap_or(high_watermark);
    assert_eq!(partition.last_stable_offset(), stable, "{name}: last stable offset (open: {open:?})");
    assert_eq!(partition.aborted_transactions(0, high_watermark), aborted, "{name}: aborted transactions");
}

/// Queues a job whose completion holds the writer thread until the returned sender is used; returns
/// once the writer is held, so every job queued meanwhile goes into its next batch.
fn hold_writer(life: &Life) -> std::sync::mpsc::Sender<()> {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (held, holding) = std::sync::mpsc::channel::<()>();
    let job = WriteJob {
        file: Arc::clone(&life.hold_file),
        position: 0,
        data: bytes::Bytes::new(),
        sync: false,
        done: Box::new(move |_| {
            let _ = held.send(());
            let _ = released.recv();
        }),
    };
    life.manager.writer().submit(job).unwrap();
    holding.recv().unwrap();
    release
}

#[test]
fn acknowledged_appends_survive_power_cuts() {
    let seed = std::env::var("STRATA_POWER_CUT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(SEED_DEFAULT);
    let cuts: u64 = std::env::var("STRATA_POWER_CUTS").ok().and_then(|s| s.parse().ok()).unwrap_or(CUTS_DEFAULT);
    eprintln!("power_cut: seed {seed} (STRATA_POWER_CUT_SEED={seed} repeats this run), {cuts} cuts");
    let dir = tempfile::tempdir().unwrap();
    let power_cut = PowerCut::arm(dir.path()).unwrap();
    let mut run = Run {
        rng: Rng(seed),
        seed,
        cut: 0,
        next_id: 0,
        now_ms: support::BASE_TIMESTAMP_MS,
        tracks: PARTITIONS.iter().map(|_| Track::default()).collect(),
        txn_producers: vec![(0, 0); TXN_PRODUCERS.len()],
        runtime: tokio::runtime::Builder::new_current_thread().build().unwrap(),
    };
    let started = Instant::now();
    let (mut acknowledged, mut clean) = (0, 0);
    let mut totals = CutReport::default();
    for cut in 0..cuts {
        run.cut = cut;
        let life = run.open(power_cut.root());
        run.verify(&life);
        let (acks, was_clean) = run.live(&life);
        acknowledged += acks;
        clean += u64::from(was_clean);
        drop(life);
        let report = power_cut.cut(&mut || run.rng.next()).unwrap();
        totals.unsynced_writes += report.unsynced_writes;
        totals.writes_lost += report.writes_lost;
        totals.writes_torn += report.writes_torn;
        totals.entries_lost += report.entries_lost;
        totals.entries_revived += report.entries_revived;
        totals.pages_mixed_files += report.pages_mixed_files;
    }
    run.cut = cuts;
    let life = run.open(power_cut.root());
    run.verify(&life);
    life.manager.shutdown().unwrap();
    let kept: usize = run.tracks.iter().map(|t| t.durable.len()).sum();
    eprintln!(
        "power_cut: seed {seed}: {cuts} cuts ({clean} after a clean shutdown) in {:?}; {acknowledged} appends acknowledged, \
         {kept} batches on disk at the end; {totals:?}",
        started.elapsed()
    );
    assert!(acknowledged > cuts, "seed {seed}: almost nothing was acknowledged ({acknowledged})");
    assert!(totals.writes_lost > 0 && totals.writes_torn > 0, "seed {seed}: the cuts never lost a write: {totals:?}");
    assert!(
        totals.entries_lost + totals.entries_revived > 0,
        "seed {seed}: no directory entry was ever lost: {totals:?}"
    );
}
