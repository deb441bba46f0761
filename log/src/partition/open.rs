//! Opening a partition directory: a clean open trusts the files (no scan); an unclean one scans
//! every segment from the recovery point on, CRC-checks each batch, cuts at the first bad one and
//! rebuilds indexes; producer state comes from the newest usable snapshot plus a replay of the
//! batches after it, which also rebuilds the aborted-transaction index of every segment scanned
//! (each entry needs the producer state as of its marker).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Condvar, Mutex};

use std::os::unix::fs::FileExt;

use strata_wire::control::parse_marker;
use tokio::sync::watch;

use super::{DirShared, FILES_PER_SEGMENT, Inner, Partition, State};
use crate::checkpoint::{
    CLEAN_SHUTDOWN_FILE, LOG_START_FILE, RECOVERY_POINT_FILE, SNAPSHOT_SUFFIX, is_tmp, read_offset, remove,
    snapshot_path,
};
use crate::config::LogConfig;
use crate::error::LogError;
use crate::io::Writer;
use crate::leader_epochs::LeaderEpochs;
use crate::offset::{Offset, parse_segment_stem};
use crate::producer_state::ProducerState;
use crate::scan::{Scanner, Step};
use crate::segment::{Segment, segment_paths};
use crate::txn_index::AbortedTxn;

/// What is in a partition directory, by file name.
#[derive(Default)]
struct Listing {
    logs: BTreeSet<i64>,
    index_only: BTreeSet<i64>,
    snapshots: BTreeSet<i64>,
}

fn list(dir: &Path) -> Result<Listing, LogError> {
    let mut listing = Listing::default();
    let entries = std::fs::read_dir(dir).map_err(|e| LogError::io("list partition", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io("list partition", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_tmp(name) {
            remove(&entry.path())?;
            continue;
        }
        let Some((stem, ext)) = name.split_once('.') else { continue };
        let Some(base) = parse_segment_stem(stem) else { continue };
        match ext {
            "log" => {
                listing.logs.insert(base.0);
            }
            "index" | "timeindex" | "txnindex" => {
                listing.index_only.insert(base.0);
            }
            _ if format!(".{ext}") == SNAPSHOT_SUFFIX => {
                listing.snapshots.insert(base.0);
            }
            _ => {}
        }
    }
    listing.index_only.retain(|b| !listing.logs.contains(b));
    Ok(listing)
}

impl Partition {
    pub(crate) fn open(
        dir: &Path,
        topic: &str,
        partition: i32,
        config: LogConfig,
        writer: Writer,
        shared: &DirShared,
        now_ms: i64,
    ) -> Result<Partition, LogError> {
        let files = Arc::clone(&shared.files);
        let config = config.clamped();
        let is_new = !dir.exists();
        std::fs::create_dir_all(dir).map_err(|e| LogError::io("create partition directory", dir, e))?;
        if is_new && let Some(parent) = dir.parent() {
            // The new directory's entry in the data directory must survive a power cut too.
            crate::checkpoint::sync_dir(parent)?;
        }
        let listing = list(dir)?;
        for base in &listing.index_only {
            for path in segment_paths(dir, Offset(*base)) {
                remove(&path)?;
            }
        }
        let clean_end = read_offset(&dir.join(CLEAN_SHUTDOWN_FILE));
        let persisted_start = read_offset(&dir.join(LOG_START_FILE));
        let recovery_point = read_offset(&dir.join(RECOVERY_POINT_FILE)).unwrap_or(Offset(0));
        let mut bases: Vec<i64> = listing.logs.iter().copied().collect();
        if let Some(start) = persisted_start {
            remove_below_log_start(dir, &mut bases, start)?;
        }
        let clean = clean_end.is_some_and(|end| bases.last().is_none_or(|last| end.0 >= *last));
        // A partition with no segment yet is new: there is nothing to recover.
        if !clean && !bases.is_empty() {
            tracing::info!(dir = %dir.display(), "partition was not shut down cleanly; recovering");
        }

        files.acquire(FILES_PER_SEGMENT * bases.len().max(1))?;
        let mut segments = BTreeMap::new();
        let result = load_segments(dir, &bases, clean, clean_end, recovery_point, &config, &mut segments);
        let opened = segments.len();
        let rebuild_from = match result {
            Ok(rebuild_from) => rebuild_from,
            Err(e) => {
                files.release(FILES_PER_SEGMENT * bases.len().max(1));
                return Err(e);
            }
        };
        // Segments deleted by recovery give their descriptors back.
        files.release(FILES_PER_SEGMENT * bases.len().max(1) - FILES_PER_SEGMENT * opened.max(1));
        if segments.is_empty() {
            let base = persisted_start.unwrap_or(Offset(0)).0.max(0);
            segments.insert(base, Segment::create(dir, Offset(base), config.segment_index_bytes)?);
        }
        let first_base = segments.keys().next().copied().unwrap_or(0);
        let (end, active_size) = match segments.values_mut().next_back() {
            Some(active) => {
                active.activate(config.segment_index_bytes)?;
                active.roll_base_ms = (!active.is_empty()).then_some(now_ms);
                (active.next_offset, active.size)
            }
            None => (Offset(first_base), 0),
        };
        let log_start = Offset(persisted_start.map_or(first_base, |s| s.0.max(first_base)).min(end.0));
        if persisted_start.is_none() {
            // Written now, while there is room, so that on a full disk DeleteRecords and retention
            // can still move the log start (the checkpoint is then overwritten in place).
            crate::checkpoint::write_offset(&dir.join(LOG_START_FILE), log_start, true)?;
        }

        let mut snapshots = listing.snapshots;
        let producers = load_producers(dir, &mut segments, &mut snapshots, end, log_start, rebuild_from)?;
        let epochs = load_epochs(dir, &segments, end)?;

        let state = State {
            config,
            segments,
            log_start,
            dirty_end: end,
            dirty_size: active_size,
            pending_jobs: 0,
            pending_batches: 0,
            failed: None,
            disk_full: None,
            closed: false,
            producers,
            txn_ends: std::collections::VecDeque::new(),
            unflushed_messages: 0,
            last_flush_ms: now_ms,
            clean_marker_present: clean,
            recovery_point: Offset(recovery_point.0.min(end.0)),
            recovery_point_persisted: recovery_point,
            snapshots,
            epochs,
            replicated: i64::MAX,
        };
        state.assert_invariants();
        let last_stable = state.last_stable_offset();
        let (hw_tx, _) = watch::channel(end.0);
        let inner = Inner {
            dir: dir.to_path_buf(),
            writer,
            files,
            health: Arc::clone(&shared.health),
            order: Mutex::new(()),
            state: Mutex::new(state),
            drained: Condvar::new(),
            high_watermark: AtomicI64::new(end.0),
            log_end: AtomicI64::new(end.0),
            log_start: AtomicI64::new(log_start.0),
            last_stable: AtomicI64::new(last_stable.0),
            hw_tx,
            published_bytes: AtomicU64::new(0),
            alarms: AtomicU64::new(0),
        };
        Ok(Partition { inner: Arc::new(inner), topic: topic.to_string(), partition })
    }
}

/// The leader epochs of the log as opened (see `leader_epochs`): the checkpoint cut at the log
/// end, or, without a usable one, rebuilt from the batch headers and written.
fn load_epochs(dir: &Path, segments: &BTreeMap<i64, Segment>, end: Offset) -> Result<LeaderEpochs, LogError> {
    if let Some(mut epochs) = LeaderEpochs::read(dir) {
        if epochs.truncate_from_end(end.0) {
            epochs.write(dir)?;
        }
        return Ok(epochs);
    }
    let files = segments.values().map(|s| (&*s.log, u64::from(s.size)));
    let epochs = LeaderEpochs::scan(files).map_err(|e| LogError::io("scan for leader epochs", dir, e))?;
    if epochs.latest().is_some() {
        epochs.write(dir)?;
    }
    Ok(epochs)
}

/// Removes the segments wholly below the persisted log start: leftovers of deletions (retention,
/// `delete_records`) that a power cut undid, in any subset, so they may not even be contiguous.
fn remove_below_log_start(dir: &Path, bases: &mut Vec<i64>, log_start: Offset) -> Result<(), LogError> {
    let stale = bases.windows(2).take_while(|pair| pair[1] <= log_start.0).count();
    if stale == 0 {
        return Ok(());
    }
    for base in bases.drain(..stale) {
        tracing::info!(dir = %dir.display(), base, log_start = log_start.0, "removing a segment below the log start");
        for path in segment_paths(dir, Offset(base)) {
            remove(&path)?;
        }
    }
    crate::checkpoint::sync_dir(dir)
}

/// Opens every segment, scanning those that need it; returns the base of the first one scanned,
/// from which the transaction indexes are rebuilt (`load_producers`).
fn load_segments(
    dir: &Path,
    bases: &[i64],
    clean: bool,
    clean_end: Option<Offset>,
    recovery_point: Offset,
    config: &LogConfig,
    segments: &mut BTreeMap<i64, Segment>,
) -> Result<Option<Offset>, LogError> {
    let mut cut_after = false;
    let mut changed = false;
    let mut rebuild_from = None;
    for (i, &base) in bases.iter().enumerate() {
        let is_last = i + 1 == bases.len();
        if cut_after {
            // Everything after a cut is gone: offsets must stay contiguous.
            for path in segment_paths(dir, Offset(base)) {
                remove(&path)?;
            }
            continue;
        }
        let next = match bases.get(i + 1) {
            Some(next) => Offset(*next),
            None => clean_end.filter(|_| clean).unwrap_or(Offset(base)),
        };
        let (mut seg, plausible) = Segment::open(dir, Offset(base), next)?;
        let scan = !plausible || (!clean && (is_last || base >= recovery_point.0));
        if scan {
            rebuild_from = rebuild_from.or(Some(Offset(base)));
            let recovered = seg.rebuild(true, config.index_interval_bytes, config.segment_index_bytes, |_| {})?;
            if let Some(reason) = recovered.reason {
                tracing::warn!(segment = %seg.log_path.display(), cut_bytes = recovered.cut_bytes, %reason, "recovery cut the log");
            }
            let contiguous = bases.get(i + 1).is_none_or(|n| seg.next_offset.0 == *n);
            if !contiguous {
                tracing::warn!(segment = %seg.log_path.display(), next_offset = seg.next_offset.0, next_base = ?bases.get(i + 1), "segment does not end where the next one starts; recovery drops the later segments");
            }
            if recovered.cut_bytes > 0 || !contiguous {
                cut_after = true;
                changed = true;
                // The cut must be durable before new appends reuse the offsets it removed: a
                // truncation a power cut undoes could bring old batches back behind new ones.
                crate::checkpoint::sync_file(&seg.log, &seg.log_path)?;
            }
            if !is_last && !cut_after {
                seg.seal()?;
            }
        }
        segments.insert(base, seg);
    }
    if changed {
        // So are the removals of the segments after the cut.
        crate::checkpoint::sync_dir(dir)?;
    }
    Ok(rebuild_from)
}

/// Producer state as of `end`: the newest snapshot at or below `end`, then every batch from the
/// snapshot's offset on. Snapshots beyond `end` (a cut tail) are deleted. With `rebuild_from`, the
/// snapshot is one at or below it, and the txn index of every segment from there on is rebuilt
/// from the markers replayed (and made durable where it changed).
pub(super) fn load_producers(
    dir: &Path,
    segments: &mut BTreeMap<i64, Segment>,
    snapshots: &mut BTreeSet<i64>,
    end: Offset,
    log_start: Offset,
    rebuild_from: Option<Offset>,
) -> Result<ProducerState, LogError> {
    for stale in snapshots.range(end.0.saturating_add(1)..).copied().collect::<Vec<_>>() {
        remove(&snapshot_path(dir, Offset(stale)))?;
        snapshots.remove(&stale);
    }
    let mut from = Offset(i64::MIN);
    let mut state = ProducerState::default();
    for &offset in snapshots.iter().rev() {
        if rebuild_from.is_some_and(|r| offset > r.0) {
            continue;
        }
        let bytes = std::fs::read(snapshot_path(dir, Offset(offset))).ok();
        if let Some((at, loaded)) = bytes.as_deref().and_then(ProducerState::decode)
            && at == offset
        {
            from = Offset(at);
            state = loaded;
            break;
        }
    }
    for seg in segments.values_mut() {
        let replay = from < end && seg.next_offset > from && !seg.is_empty();
        let aborted = if replay { replay_segment(seg, from, &mut state)? } else { Vec::new() };
        if rebuild_from.is_some_and(|r| seg.base >= r) {
            seg.txn_index.replace(aborted, true)?;
        }
    }
    state.remove_before(log_start.0);
    Ok(state)
}

/// Replays the batches of `seg` from offset `from` into `state`; returns the transactions its
/// abort markers aborted.
fn replay_segment(seg: &Segment, from: Offset, state: &mut ProducerState) -> Result<Vec<AbortedTxn>, LogError> {
    let io = |e| LogError::io("scan segment", &seg.log_path, e);
    let start = if from > seg.base { seg.index.lookup(seg.rel(from)).1.as_u64() } else { 0 };
    let mut scanner = Scanner::new(&seg.log, start, u64::from(seg.size), false, None);
    let mut aborted = Vec::new();
    loop {
        match scanner.next_step().map_err(io)? {
            Step::Batch { header, position } if header.base_offset >= from.0 => {
                let marker = match header.is_control() {
                    false => None,
                    true => {
                        let mut batch = vec![0u8; header.total_bytes()];
                        seg.log.read_exact_at(&mut batch, position).map_err(io)?;
                        match parse_marker(&batch) {
                            Ok(marker) => Some(marker),
                            Err(error) => {
                                // The append path refuses malformed markers: only damage gets here.
                                tracing::warn!(segment = %seg.log_path.display(), position, %error, "skipping a malformed control batch");
                                continue;
                            }
                        }
                    }
                };
                let done = state.record(&header, marker.as_ref());
                aborted.extend(done.as_ref().and_then(AbortedTxn::of));
            }
            Step::Batch { .. } => {}
            Step::End | Step::Bad { .. } => break,
        }
    }
    Ok(aborted)
}
