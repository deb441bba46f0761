//! Changes to the segment set: roll, retention, `delete_records`, `truncate_to`, clean close.
//!
//! All of them run with `order` held; those that touch the active segment first wait until no
//! write is in flight (`quiesce`).

use std::sync::Arc;

use super::append::remove_clean_marker;
use super::open::load_producers;
use super::{FILES_PER_SEGMENT, Inner, Partition, State};
use crate::checkpoint::{
    CLEAN_SHUTDOWN_FILE, LOG_START_FILE, RECOVERY_POINT_FILE, remove, snapshot_path, sync_file, write_atomic,
    write_offset,
};
use crate::error::LogError;
use crate::io::WriteJob;
use crate::offset::Offset;
use crate::segment::Segment;

/// Producer snapshots kept besides the newest.
const SNAPSHOTS_KEPT: usize = 2;

fn sync_job(file: Arc<std::fs::File>, done: Box<dyn FnOnce(std::io::Result<()>) + Send>) -> WriteJob {
    WriteJob { file, position: 0, data: bytes::Bytes::new(), sync: true, done }
}

impl Inner {
    /// Seals the active segment and starts a new one at `dirty_end`. Needs `order` held and no
    /// write in flight. Returns the fsync jobs for the sealed segment, to submit (in order, before
    /// any write to the new segment) once the state lock is released.
    pub(crate) fn roll(self: &Arc<Self>, state: &mut State) -> Result<Vec<WriteJob>, LogError> {
        debug_assert_eq!(state.pending_jobs, 0);
        let new_base = state.dirty_end;
        let index_bytes = state.config.segment_index_bytes;
        self.files.acquire(FILES_PER_SEGMENT)?;
        let created = Segment::create(&self.dir, new_base, index_bytes);
        let new_segment = match created {
            Ok(s) => s,
            Err(e) => {
                self.files.release(FILES_PER_SEGMENT);
                return Err(e);
            }
        };
        let sealed = state.active_mut().map_or(Err(LogError::Closed), Segment::seal);
        if let Err(e) = sealed {
            let _ = new_segment.delete_files(&self.dir);
            self.files.release(FILES_PER_SEGMENT);
            return Err(e);
        }
        let Some(old) = state.active() else { return Err(LogError::Closed) };
        let [index, time_index] = old.index_files();
        let txn_index = old.txn_index.file_to_sync()?;
        let log = Arc::clone(&old.log);
        state.segments.insert(new_base.0, new_segment);
        state.dirty_size = 0;
        state.unflushed_messages = 0;
        self.snapshot_producers(state, new_base, false)?;
        self.persist_recovery_point(state, false)?;
        let inner = Arc::clone(self);
        let on_synced = move |result: std::io::Result<()>| match result {
            Ok(()) => {
                let mut state = inner.lock_state();
                state.recovery_point = state.recovery_point.max(new_base);
            }
            Err(e) => inner.health.take_offline(e, "the fsync of a sealed segment"),
        };
        let mut jobs = vec![
            sync_job(index, self.offline_on_error("the fsync of a sealed offset index")),
            sync_job(time_index, self.offline_on_error("the fsync of a sealed time index")),
        ];
        if let Some(txn_index) = txn_index {
            jobs.push(sync_job(txn_index, self.offline_on_error("the fsync of a sealed transaction index")));
        }
        // Last: its completion moves the recovery point past the segment, once all of it is durable.
        jobs.push(sync_job(log, Box::new(on_synced)));
        Ok(jobs)
    }

    /// A completion for a pure fsync job: a failure takes the log directory offline.
    fn offline_on_error(self: &Arc<Self>, during: &'static str) -> Box<dyn FnOnce(std::io::Result<()>) + Send> {
        let inner = Arc::clone(self);
        Box::new(move |result| {
            if let Err(e) = result {
                inner.health.take_offline(e, during);
            }
        })
    }

    /// After writes found the disk full: cuts what they left in the active segment (a prefix of the
    /// one that failed, and later ones that may have been written before it was known) and starts
    /// again from the last completed write. Needs `order` held and no write in flight. The cut is
    /// fsynced before anything new is written over it, so a power cut cannot bring the failed
    /// batches back behind new ones. Takes no new disk space.
    pub(crate) fn rewind(&self, state: &mut State) -> Result<(), LogError> {
        assert_eq!(state.pending_jobs, 0, "rewind with writes in flight");
        let Some(active) = state.active() else { return Err(LogError::Closed) };
        let (end, size) = (active.next_offset, active.size);
        active.log.set_len(u64::from(size)).map_err(|e| LogError::io("truncate segment", &active.log_path, e))?;
        if let Err(e) = active.log.sync_data() {
            self.health.take_offline(e, "the fsync after a full disk");
            return self.health.check();
        }
        crate::io::power_cut::file_synced(&active.log);
        let mut snapshots = std::mem::take(&mut state.snapshots);
        state.producers = load_producers(&self.dir, &mut state.segments, &mut snapshots, end, state.log_start, None)?;
        state.snapshots = snapshots;
        // The markers of failed writes never landed: their transactions are open again.
        state.txn_ends.clear();
        state.dirty_end = end;
        state.dirty_size = size;
        state.pending_batches = 0;
        // An epoch begun by a failed write is gone from memory; the file may keep it (the disk is
        // full), which is harmless: the next open cuts it at the log end.
        if state.epochs.truncate_from_end(end.0)
            && let Err(error) = state.epochs.write(&self.dir)
        {
            tracing::warn!(dir = %self.dir.display(), %error, "leader epoch checkpoint not rewritten after a full disk");
        }
        state.disk_full = None;
        state.assert_invariants();
        tracing::info!(dir = %self.dir.display(), next_offset = end.0, "appends resume after a full disk");
        Ok(())
    }

    fn snapshot_producers(&self, state: &mut State, at: Offset, sync: bool) -> Result<(), LogError> {
        write_atomic(&snapshot_path(&self.dir, at), &state.producers.encode(at.0), sync)?;
        state.snapshots.insert(at.0);
        while state.snapshots.len() > SNAPSHOTS_KEPT {
            let Some(oldest) = state.snapshots.pop_first() else { break };
            remove(&snapshot_path(&self.dir, Offset(oldest)))?;
        }
        Ok(())
    }

    fn persist_recovery_point(&self, state: &mut State, sync: bool) -> Result<(), LogError> {
        if state.recovery_point != state.recovery_point_persisted {
            write_offset(&self.dir.join(RECOVERY_POINT_FILE), state.recovery_point, sync)?;
            state.recovery_point_persisted = state.recovery_point;
        }
        Ok(())
    }

    /// Deletes the oldest segment (never the active one) and advances the log start past it.
    ///
    /// The new log start is made durable before the files are unlinked: unlinks that a power cut
    /// undoes can bring back any subset of the deleted segments, and recovery tells such leftovers
    /// from the log by the persisted log start (see `open`).
    fn delete_oldest(&self, state: &mut State) -> Result<(), LogError> {
        let Some(first) = state.segments.keys().nth(1).copied() else { return Ok(()) };
        if Offset(first) > state.log_start {
            write_offset(&self.dir.join(LOG_START_FILE), Offset(first), true)?;
        }
        let Some((_, segment)) = state.segments.pop_first() else { return Ok(()) };
        segment.delete_files(&self.dir)?;
        self.files.release(FILES_PER_SEGMENT);
        state.log_start = state.log_start.max(Offset(first));
        state.producers.remove_before(state.log_start.0);
        Ok(())
    }
}

/// Whether retention may delete the oldest segment: not when that would move the log start past
/// the first offset of a transaction not yet stable (Kafka keeps those segments).
fn retention_may_delete_oldest(state: &State) -> bool {
    let next_base = state.segments.keys().nth(1).copied().unwrap_or(i64::MAX);
    next_base <= state.last_stable_offset().0
}

impl Partition {
    /// Time-driven work: `segment.ms` roll, retention by time and size, `flush.ms`.
    pub fn maintain(&self, now_ms: i64) -> Result<(), LogError> {
        let inner = &self.inner;
        let _order = inner.lock_order();
        let mut state = inner.lock_state();
        if state.closed {
            return Err(LogError::Closed);
        }
        let config = state.config;
        let mut jobs = Vec::new();
        let aged = state.active().is_some_and(|a| {
            state.dirty_size > 0 && a.roll_base_ms.is_some_and(|t| now_ms.saturating_sub(t) >= config.segment_ms)
        });
        // Time retention: leading segments whose newest batch is older than the limit.
        let expired = if config.retention_ms >= 0 {
            let limit = now_ms.saturating_sub(config.retention_ms);
            state.segments.values().take_while(|s| !s.is_empty() && s.retention_timestamp() < limit).count()
        } else {
            0
        };
        let all_expired = expired == state.segments.len() && state.dirty_size > 0;
        if (aged || all_expired) && state.failed.is_none() && inner.health.check().is_ok() {
            remove_clean_marker(inner, &mut state)?;
            state = inner.quiesce(state);
            // A roll starts the new segment at `dirty_end`, which writes that found the disk full
            // left beyond the completed end: rewind first.
            if state.disk_full.is_some() {
                inner.rewind(&mut state)?;
            }
            if state.dirty_size > 0 {
                jobs = inner.roll(&mut state)?;
            }
        }
        let mut deleted = false;
        for _ in 0..expired.min(state.segments.len().saturating_sub(1)) {
            if !retention_may_delete_oldest(&state) {
                break;
            }
            remove_clean_marker(inner, &mut state)?;
            inner.delete_oldest(&mut state)?;
            deleted = true;
        }
        if config.retention_bytes >= 0 {
            let mut excess = state.size_bytes().saturating_sub(config.retention_bytes as u64);
            while state.segments.len() > 1 {
                let oldest = state.segments.values().next().map_or(u64::MAX, |s| u64::from(s.size));
                if oldest > excess || !retention_may_delete_oldest(&state) {
                    break;
                }
                excess -= oldest;
                remove_clean_marker(inner, &mut state)?;
                inner.delete_oldest(&mut state)?;
                deleted = true;
            }
        }
        if deleted {
            inner.publish(&state);
        }
        let flush_due = config.flush_ms != u64::MAX
            && state.unflushed_messages > 0
            && now_ms.saturating_sub(state.last_flush_ms) >= i64::try_from(config.flush_ms).unwrap_or(i64::MAX);
        if flush_due && let Some(active) = state.active() {
            let inner_done = Arc::clone(inner);
            jobs.push(sync_job(Arc::clone(&active.log), inner_done.offline_on_error("a flush.ms fsync")));
            state.unflushed_messages = 0;
            state.last_flush_ms = now_ms;
        }
        inner.persist_recovery_point(&mut state, false)?;
        state.assert_invariants();
        drop(state);
        inner.submit_all(jobs, None)
    }

    /// Advances the log start offset to `before_offset` (-1: the high watermark), deleting
    /// segments wholly below it. Returns the new log start.
    pub fn delete_records(&self, before_offset: i64) -> Result<i64, LogError> {
        let inner = &self.inner;
        let _order = inner.lock_order();
        let mut state = inner.lock_state();
        if state.closed {
            return Err(LogError::Closed);
        }
        let hw = state.high_watermark();
        let target = if before_offset == -1 { hw } else { Offset(before_offset) };
        if target < Offset(0) || target > hw {
            return Err(LogError::OffsetOutOfRange {
                offset: before_offset,
                log_start_offset: state.log_start.0,
                high_watermark: hw.0,
            });
        }
        if target <= state.log_start {
            return Ok(state.log_start.0);
        }
        remove_clean_marker(inner, &mut state)?;
        write_offset(&inner.dir.join(LOG_START_FILE), target, true)?;
        state.log_start = target;
        while state.segments.len() > 1 && state.segments.keys().nth(1).is_some_and(|next| *next <= target.0) {
            inner.delete_oldest(&mut state)?;
        }
        state.producers.remove_before(target.0);
        inner.publish(&state);
        Ok(target.0)
    }

    /// Removes every batch from the one containing `offset` on (so the log end may land below
    /// `offset`, on a batch boundary). Below the log start the log is emptied and restarts at
    /// `offset`. For replication; waits for in-flight writes first.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        self.truncate(Offset(offset.max(0)), false)
    }

    /// Empties the log and restarts it at `offset`, which may lie beyond the log end (Kafka's
    /// `truncateFullyAndStartAt`): a replica handed a snapshot or a leader's log start that its
    /// own log does not reach. Waits for in-flight writes first.
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), LogError> {
        self.truncate(Offset(offset.max(0)), true)
    }

    fn truncate(&self, target: Offset, fully: bool) -> Result<(), LogError> {
        let inner = &self.inner;
        let _order = inner.lock_order();
        let state = inner.lock_state();
        let mut state = inner.quiesce(state);
        if state.closed {
            return Err(LogError::Closed);
        }
        if target >= state.dirty_end && !fully {
            return Ok(());
        }
        remove_clean_marker(inner, &mut state)?;
        let config = state.config;
        let first_base = state.segments.keys().next().copied().unwrap_or(0);
        if fully || target < state.log_start || target.0 <= first_base {
            // Nothing before the target survives: start over at it.
            let fresh = Segment::create(&inner.dir, target, config.segment_index_bytes)?;
            for (_, segment) in std::mem::take(&mut state.segments) {
                if segment.base != target {
                    segment.delete_files(&inner.dir)?;
                }
                inner.files.release(FILES_PER_SEGMENT);
            }
            inner.files.acquire(FILES_PER_SEGMENT)?;
            state.segments.insert(target.0, fresh);
            state.log_start = target;
            write_offset(&inner.dir.join(LOG_START_FILE), target, true)?;
        } else {
            let doomed: Vec<i64> = state.segments.range(target.0..).map(|(b, _)| *b).collect();
            for base in doomed {
                if let Some(segment) = state.segments.remove(&base) {
                    segment.delete_files(&inner.dir)?;
                    inner.files.release(FILES_PER_SEGMENT);
                }
            }
            if let Some(active) = state.active_mut() {
                active.truncate_to(target, config.index_interval_bytes, config.segment_index_bytes)?;
            }
        }
        let (end, size, active_base) = match state.active() {
            Some(a) => (a.next_offset, a.size, a.base),
            None => return Err(LogError::Closed),
        };
        if end < state.log_start {
            state.log_start = end;
            write_offset(&inner.dir.join(LOG_START_FILE), end, true)?;
        }
        state.dirty_end = end;
        state.dirty_size = size;
        state.pending_batches = 0;
        let epochs_cut = if fully { state.epochs.clear() } else { state.epochs.truncate_from_end(end.0) };
        if epochs_cut {
            state.epochs.write(&inner.dir)?;
        }
        // Producer state as of the new end: newest snapshot at or below it, plus a replay.
        let mut snapshots = std::mem::take(&mut state.snapshots);
        let log_start = state.log_start;
        state.producers = load_producers(&inner.dir, &mut state.segments, &mut snapshots, end, log_start, None)?;
        state.snapshots = snapshots;
        state.txn_ends.clear();
        state.recovery_point = state.recovery_point.min(active_base);
        inner.persist_recovery_point(&mut state, true)?;
        inner.publish(&state);
        Ok(())
    }

    /// Clean close: waits for in-flight writes, seals the active segment's indexes, fsyncs what is
    /// not known durable, snapshots producer state and writes the clean-shutdown marker. Later
    /// calls fail with `Closed`. The writer must still be running.
    pub(crate) fn close(&self, clean: bool) -> Result<(), LogError> {
        let inner = &self.inner;
        let _order = inner.lock_order();
        let state = inner.lock_state();
        let mut state = inner.quiesce(state);
        if state.closed {
            return Ok(());
        }
        state.closed = true;
        inner.wake_waiters();
        if !clean || state.clean_marker_present {
            return Ok(()); // unchanged since a clean open: the marker still tells the truth
        }
        if state.disk_full.is_some() {
            // What the full disk left behind goes; what was acknowledged is then made durable.
            inner.rewind(&mut state)?;
        }
        if state.failed.is_some() || inner.health.check().is_err() {
            tracing::warn!(dir = %inner.dir.display(), "partition had a write failure; no clean-shutdown marker");
            return Ok(());
        }
        let recovery_point = state.recovery_point;
        let end = state.dirty_end;
        if let Some(active) = state.active_mut() {
            active.seal()?;
        }
        for seg in state.segments.range(recovery_point.0..).map(|(_, s)| s) {
            sync_file(&seg.log, &seg.log_path)?;
            for file in seg.index_files() {
                sync_file(&file, &seg.log_path)?;
            }
            seg.txn_index.sync()?;
        }
        // The snapshot's rename is made durable by the marker's directory fsync right after.
        inner.snapshot_producers(&mut state, end, false)?;
        write_offset(&inner.dir.join(CLEAN_SHUTDOWN_FILE), end, true)?;
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let segments = self.state.get_mut().map_or(0, |s| s.segments.len());
        self.files.release(FILES_PER_SEGMENT * segments);
    }
}
