//! `Partition::append`: validate, assign offsets, queue the write; the completion publishes.

use std::sync::Arc;

use bytes::Bytes;
use strata_wire::batch::{BatchHeader, set_base_offset, set_log_append_time, set_partition_leader_epoch, validate_record_set};
use tokio::sync::oneshot;

use super::{AppendInfo, Inner, Partition, PendingAppend, State};
use crate::checkpoint::{CLEAN_SHUTDOWN_FILE, remove, sync_dir};
use crate::config::{RECORD_SET_BYTES_MAX, TimestampType};
use crate::error::{AppendError, LogError};
use crate::io::WriteJob;
use crate::offset::Offset;
use crate::producer_state::Verdict;
use crate::record_buf::RecordBuf;

/// A batch of an append, as the completion needs it.
struct Placed {
    position: u32,
    header: BatchHeader,
}

impl Partition {
    /// Validates every batch, assigns offsets (rewrites baseOffset and the leader epoch;
    /// LogAppendTime topics also the max timestamp), queues the bytes and returns at once. May block
    /// briefly: on a full write queue (back-pressure) and when the segment rolls.
    pub fn append(&self, record_set: Bytes, leader_epoch: i32, now_ms: i64) -> Result<PendingAppend, AppendError> {
        if record_set.len() > RECORD_SET_BYTES_MAX {
            return Err(AppendError::RecordSetTooLarge { bytes: record_set.len(), max: RECORD_SET_BYTES_MAX });
        }
        let headers = validate_record_set(&record_set)?;
        let inner = &self.inner;
        let _order = inner.lock_order();
        let mut state = inner.lock_state();
        check_writable(&state)?;
        let max = state.config.max_message_bytes as usize;
        if let Some(big) = headers.iter().find(|h| h.total_bytes() > max) {
            return Err(AppendError::MessageTooLarge { bytes: big.total_bytes(), max });
        }
        // Idempotence first: a duplicate or a refused batch must not roll or dirty anything.
        let mut producers = None;
        for header in &headers {
            let view = producers.as_ref().unwrap_or(&state.producers);
            match view.check(header)? {
                Verdict::Append => {}
                Verdict::Duplicate { base_offset, last_offset } => {
                    return Err(AppendError::DuplicateSequence { producer_id: header.producer_id, base_offset, last_offset });
                }
            }
            if headers.len() > 1 {
                // Later batches of the same set are checked against the earlier ones.
                let mut next = producers.take().unwrap_or_else(|| state.producers.clone());
                next.record(header);
                producers = Some(next);
            }
        }
        let records: i64 = headers.iter().map(|h| i64::from(h.last_offset_delta) + 1).sum();
        remove_clean_marker(inner, &mut state)?;
        let mut jobs = Vec::new();
        if needs_roll(&state, record_set.len(), headers.len(), records, now_ms) {
            state = inner.quiesce(state);
            check_writable(&state)?;
            jobs = inner.roll(&mut state)?;
        }

        // Assign offsets and rewrite the headers.
        // A copy: the broker's record sets are slices of a shared request frame (see record_buf).
        let mut bytes = RecordBuf::copy_of(&record_set);
        let log_append = state.config.timestamp_type == TimestampType::LogAppendTime;
        let base_offset = state.dirty_end;
        let mut placed = Vec::with_capacity(headers.len());
        let (mut at, mut next, mut position) = (0usize, base_offset.0, state.dirty_size);
        for mut header in headers {
            let total = header.total_bytes();
            let batch = &mut bytes.as_mut_slice()[at..at + total];
            set_base_offset(batch, next);
            set_partition_leader_epoch(batch, leader_epoch);
            if log_append {
                set_log_append_time(batch, now_ms);
                header.max_timestamp = now_ms;
            }
            header.base_offset = next;
            header.partition_leader_epoch = leader_epoch;
            state.producers.record(&header);
            next = header.last_offset().saturating_add(1);
            placed.push(Placed { position, header });
            position = position.saturating_add(total as u32);
            at += total;
        }
        let info = AppendInfo {
            base_offset: base_offset.0,
            last_offset: next - 1,
            log_append_time_ms: if log_append { now_ms } else { -1 },
            log_start_offset: state.log_start.0,
        };
        let write_position = u64::from(state.dirty_size);
        state.dirty_end = Offset(next);
        state.dirty_size = position;
        state.pending_jobs += 1;
        state.pending_batches += placed.len();
        let segment_base = state.active().map_or(0, |s| s.base.0);
        if let Some(active) = state.active_mut()
            && active.roll_base_ms.is_none()
        {
            active.roll_base_ms = Some(now_ms);
        }
        state.unflushed_messages = state.unflushed_messages.saturating_add(records as u64);
        let sync = state.unflushed_messages >= state.config.flush_messages;
        if sync {
            state.unflushed_messages = 0;
            state.last_flush_ms = now_ms;
        }
        let Some(file) = state.active().map(|s| Arc::clone(&s.log)) else {
            return Err(LogError::Closed.into());
        };
        drop(state);

        let (tx, rx) = oneshot::channel();
        let done_inner = Arc::clone(inner);
        jobs.push(WriteJob {
            file,
            position: write_position,
            data: bytes.freeze(),
            sync,
            done: Box::new(move |result| complete(&done_inner, segment_base, placed, info, result, tx)),
        });
        inner.submit_all(jobs, true)?;
        Ok(PendingAppend { info, completion: rx })
    }
}

fn check_writable(state: &State) -> Result<(), LogError> {
    if state.closed {
        return Err(LogError::Closed);
    }
    if let Some(source) = &state.failed {
        return Err(LogError::WriteFailed { source: Arc::clone(source) });
    }
    Ok(())
}

/// Whether the active segment must be sealed before this append (Kafka's `shouldRoll`).
fn needs_roll(state: &State, set_bytes: usize, batches: usize, records: i64, now_ms: i64) -> bool {
    let Some(active) = state.active() else { return false };
    if state.dirty_size == 0 {
        return false; // an empty segment takes anything
    }
    let config = &state.config;
    let too_big = u64::from(state.dirty_size) + set_bytes as u64 > u64::from(config.segment_bytes);
    let too_old = active.roll_base_ms.is_some_and(|t| now_ms.saturating_sub(t) >= config.segment_ms);
    let index_full = active.index_room() < state.pending_batches + batches + 1;
    let offsets_overflow = Offset(state.dirty_end.0.saturating_add(records)).relative_to(active.base).is_none();
    too_big || too_old || index_full || offsets_overflow
}

/// Before the first change after a clean open, the marker must be durably gone: a crash after
/// this point must lead to a recovery scan.
pub(crate) fn remove_clean_marker(inner: &Inner, state: &mut State) -> Result<(), LogError> {
    if state.clean_marker_present {
        remove(&inner.dir.join(CLEAN_SHUTDOWN_FILE))?;
        sync_dir(&inner.dir)?;
        state.clean_marker_present = false;
    }
    Ok(())
}

/// The write completion: runs on the writer thread.
fn complete(
    inner: &Inner,
    segment_base: i64,
    placed: Vec<Placed>,
    info: AppendInfo,
    result: std::io::Result<()>,
    reply: oneshot::Sender<Result<AppendInfo, LogError>>,
) {
    let mut state = inner.lock_state();
    state.pending_jobs = state.pending_jobs.saturating_sub(1);
    state.pending_batches = state.pending_batches.saturating_sub(placed.len());
    if let Err(e) = result {
        tracing::error!(dir = %inner.dir.display(), error = %e, "log write failed; the partition refuses appends until reopened");
        state.failed.get_or_insert_with(|| Arc::new(e));
    }
    let outcome = match &state.failed {
        Some(source) => Err(LogError::WriteFailed { source: Arc::clone(source) }),
        None => {
            let interval = state.config.index_interval_bytes;
            match state.active_mut() {
                Some(active) if active.base.0 == segment_base => {
                    for batch in &placed {
                        active.on_batch(batch.position, &batch.header, interval);
                    }
                    Ok(info)
                }
                // Cannot happen: segments change only with no write in flight.
                _ => Err(LogError::Closed),
            }
        }
    };
    if outcome.is_ok() {
        inner.publish(&state);
    }
    if state.pending_jobs == 0 {
        inner.drained.notify_all();
    }
    drop(state);
    let _ = reply.send(outcome); // the appender may have stopped waiting
}

impl Inner {
    /// Submits jobs in order; on a refused submit the partition is failed (offsets may have been
    /// handed out for bytes that will never be written). `last_is_pending`: the last job is an
    /// append counted in `pending_jobs`, which a refused submit must uncount.
    pub(crate) fn submit_all(&self, jobs: Vec<WriteJob>, last_is_pending: bool) -> Result<(), LogError> {
        let mut jobs = jobs.into_iter();
        while let Some(job) = jobs.next() {
            if let Err(e) = self.writer.submit(job) {
                let error: LogError = e.into();
                let mut state = self.lock_state();
                state.failed.get_or_insert_with(|| Arc::new(std::io::Error::other(error.to_string())));
                if last_is_pending {
                    state.pending_jobs = state.pending_jobs.saturating_sub(1);
                    state.pending_batches = 0;
                }
                if state.pending_jobs == 0 {
                    self.drained.notify_all();
                }
                drop(jobs);
                return Err(error);
            }
        }
        Ok(())
    }
}
