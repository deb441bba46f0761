//! Crash test: a child process appends to a `flush.messages=1` partition and prints every
//! acknowledged append; the parent kills it with SIGKILL at a random moment, reopens the log
//! (recovery) and checks that every acknowledged batch is there byte for byte, that offsets are
//! contiguous from the log start with nothing after a gap, and that every batch on disk is one the
//! child really sent.
//!
//! The child is this same test binary, re-run with `--exact crash_child_process --ignored` and
//! `STRATA_CRASH_CHILD_DIR` set, so no extra binary has to be found on disk. Several appenders run
//! concurrently in the child, so acknowledgements come through group commits.
//!
//! Seeded (`STRATA_CRASH_SEED`), 60 kills, bounded by a time budget (the test fails if fewer than 50
//! kills fit in it). Every other run the parent does not reopen the log itself, so the next child
//! recovers from its predecessor's crash (the open-after-crash path of the broker itself).
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report

mod common;
#[path = "../benches/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use common::{Rng, read_all};
use strata_log::{LogConfig, LogManager, LogOptions};
use strata_wire::batch::{BatchHeader, set_base_offset, set_partition_leader_epoch};

const CHILD_DIR_ENV: &str = "STRATA_CRASH_CHILD_DIR";
const CHILD_RUN_ENV: &str = "STRATA_CRASH_CHILD_RUN";
const TOPIC: &str = "crash";
const NOW_MS: i64 = support::BASE_TIMESTAMP_MS;
const LEADER_EPOCH: i32 = 3;
const RECORDS_PER_BATCH: usize = 4;
const VALUE_BYTES: usize = 100;
const APPENDERS: u64 = 4;
const RUNS: usize = 60;
const RUNS_MIN: usize = 50;
const BUDGET: Duration = Duration::from_secs(40);
/// Kill this long after the child said it is appending, at most.
const KILL_DELAY_MS_MAX: u64 = 80;

fn config() -> LogConfig {
    // Small segments, so kills also land around segment rolls.
    LogConfig { flush_messages: 1, segment_bytes: 48 * 1024, ..LogConfig::default() }
}

/// Ids are unique across runs, so a batch on disk names the child run that sent it.
fn batch_id(run: u64, seq: u64) -> u64 {
    run * 1_000_000 + seq
}

/// Child process body. Appends until killed (or, if the parent vanished, for 30 s).
#[test]
#[ignore = "the child process of acknowledged_appends_survive_sigkill; it runs it"]
fn crash_child_process() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else { return };
    let run: u64 = std::env::var(CHILD_RUN_ENV).unwrap().parse().unwrap();
    let manager = LogManager::open(Path::new(&dir), LogOptions::default()).unwrap();
    let partition = manager.open_partition(TOPIC, 0, config(), NOW_MS).unwrap();
    println!("ready {:?}", manager.io_kind());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let next_seq = Arc::new(AtomicU64::new(0));
    runtime.block_on(async move {
        let appenders: Vec<_> = (0..APPENDERS)
            .map(|_| {
                let (partition, next_seq) = (Arc::clone(&partition), Arc::clone(&next_seq));
                tokio::spawn(async move {
                    loop {
                        let id = batch_id(run, next_seq.fetch_add(1, Ordering::SeqCst));
                        let batch = support::record_batch(id, RECORDS_PER_BATCH, VALUE_BYTES);
                        let pending = partition.append(batch, LEADER_EPOCH, NOW_MS).unwrap();
                        let info = pending.wait().await.unwrap();
                        println!("ack {} {} {}", info.base_offset, info.last_offset, id);
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(appenders);
    });
}

/// What one child acknowledged: base offset -> (last offset, id).
type Acks = BTreeMap<i64, (i64, u64)>;

/// Runs one child, kills it after `delay_ms` of appending, and returns its complete ack lines.
fn run_child(dir: &Path, run: u64, delay_ms: u64) -> Acks {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child_process", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_RUN_ENV, run.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = channel::<String>();
    let reader = std::thread::spawn(move || {
        // A line cut by the kill has no '\n': `lines()` would still yield it, so read raw lines.
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if line.ends_with('\n') {
                let _ = lines_tx.send(std::mem::take(&mut line));
            }
            line.clear();
        }
    });
    let mut acks = Acks::new();
    let mut ready = false;
    let ready_deadline = Instant::now() + Duration::from_secs(20);
    while !ready && Instant::now() < ready_deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(50)) {
            // libtest prints "test crash_child_process ... " in front of the first line.
            ready = line.contains("ready ");
        }
    }
    assert!(ready, "run {run}: the child never became ready");
    std::thread::sleep(Duration::from_millis(delay_ms));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "run {run}: the child exited on its own");
    reader.join().unwrap();
    for line in lines.try_iter() {
        let Some(start) = line.find("ack ") else { continue };
        let fields: Vec<&str> = line[start..].split_whitespace().collect();
        if let ["ack", base, last, id] = fields[..] {
            acks.insert(base.parse().unwrap(), (last.parse().unwrap(), id.parse().unwrap()));
        }
    }
    acks
}

/// The batch the child sent with `id`, as it must be stored at `base_offset`.
fn expected_batch(id: u64, base_offset: i64) -> Vec<u8> {
    let mut batch = support::record_batch(id, RECORDS_PER_BATCH, VALUE_BYTES).to_vec();
    set_base_offset(&mut batch, base_offset);
    set_partition_leader_epoch(&mut batch, LEADER_EPOCH);
    batch
}

/// Reopens the log (recovering it), checks it against every ack so far, and shuts it down cleanly.
fn verify(dir: &Path, acked: &Acks, runs: u64) {
    let manager = LogManager::open(dir, LogOptions::default()).unwrap();
    let partition = manager.open_partition(TOPIC, 0, config(), NOW_MS).unwrap();
    let batches = read_all(&partition);
    let mut next_offset = partition.log_start_offset();
    let mut on_disk = BTreeMap::new();
    for (base_offset, bytes) in &batches {
        assert_eq!(*base_offset, next_offset, "offsets are not contiguous");
        let header = BatchHeader::parse(bytes).unwrap();
        next_offset = header.last_offset() + 1;
        // Acknowledged or not, a batch that survived must be exactly one the children sent.
        let id = support::batch_id(bytes).unwrap();
        assert!(id / 1_000_000 < runs, "batch {base_offset} carries unknown id {id}");
        assert_eq!(bytes, &expected_batch(id, *base_offset), "batch at {base_offset} (id {id}) differs");
        on_disk.insert(*base_offset, id);
    }
    assert_eq!(next_offset, partition.high_watermark());
    for (base_offset, (last_offset, id)) in acked {
        assert_eq!(on_disk.get(base_offset), Some(id), "acknowledged batch {id} at offset {base_offset} was lost");
        assert!(*last_offset < partition.high_watermark());
    }
    manager.shutdown().unwrap();
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let seed = std::env::var("STRATA_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED_u64);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut acked = Acks::new();
    let mut runs = 0usize;
    while runs < RUNS && started.elapsed() < BUDGET {
        let run = runs as u64;
        let delay_ms = rng.next() % (KILL_DELAY_MS_MAX + 1);
        let acks = run_child(dir.path(), run, delay_ms);
        for (base_offset, ack) in acks {
            let earlier = acked.insert(base_offset, ack);
            // An offset acknowledged twice means a lost batch's offset was handed out again.
            assert!(earlier.is_none(), "seed {seed} run {run}: offset {base_offset} acknowledged twice");
        }
        runs += 1;
        if !run.is_multiple_of(2) || rng.next().is_multiple_of(4) {
            verify(dir.path(), &acked, runs as u64);
        }
    }
    verify(dir.path(), &acked, runs as u64);
    assert!(runs >= RUNS_MIN, "seed {seed}: only {runs} kills fit in {BUDGET:?}");
    assert!(acked.len() > runs, "seed {seed}: the children acknowledged almost nothing ({})", acked.len());
    eprintln!("crash_kill: seed {seed}, {runs} kills, {} acknowledged batches, {:?}", acked.len(), started.elapsed());
}
