//! `Partition::append` and `Partition::try_append`: validate, assign offsets, write (at once on
//! the appending thread when nothing of the partition is in flight and no fdatasync is due, else
//! through the writer's queue); the completion publishes.
//!
//! Both share one body. `append` may block (a full write queue, a segment roll waiting for
//! in-flight writes and creating files, removing the clean-shutdown marker with a directory
//! fsync); `try_append` never does: it refuses with [`TryAppendError::WouldBlock`] before changing
//! anything (no offset handed out, producer state untouched, nothing queued), and the caller
//! retries with `append` where blocking is allowed.

use std::sync::{Arc, TryLockError};

use bytes::Bytes;
use strata_wire::batch::{
    BatchHeader, set_base_offset, set_log_append_time, set_partition_leader_epoch, validate_record_set,
};
use strata_wire::control::{Marker, parse_marker};
use tokio::sync::oneshot;

use super::{AppendInfo, Inner, Partition, PendingAppend, State};
use crate::checkpoint::{CLEAN_SHUTDOWN_FILE, remove, sync_dir};
use crate::config::{RECORD_SET_BYTES_MAX, TimestampType};
use crate::error::{AppendError, LogError, TryAppendError};
use crate::io::{FsyncFailed, Reservation, WriteJob};
use crate::log_dir::is_disk_full;
use crate::offset::Offset;
use crate::producer_state::Verdict;
use crate::record_buf::RecordBuf;
use crate::txn_index::AbortedTxn;

/// A batch of an append, as the completion needs it.
struct Placed {
    position: u32,
    header: BatchHeader,
    /// The transaction this batch (an abort marker) aborted, for the segment's txn index.
    aborted: Option<AbortedTxn>,
}

/// Whether an append may wait (for the queue, a roll, the clean marker's removal, the `order` lock).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Blocking {
    Allowed,
    Refused,
}

/// Who writes an append (Kafka's `AppendOrigin`): a client's batches of an idempotent producer get
/// the sequence checks (duplicates, gaps); a coordinator's batches in a producer's name (the group
/// coordinator writing a transactional offset commit, with base sequence 0 each time, as Kafka's
/// coordinators write them) only the epoch check, as Kafka checks sequences for clients only.
///
/// A replica's batches (`Replication`: a follower copying its leader's log) keep the offsets,
/// leader epochs and timestamps the leader gave them, must continue the log exactly, and are not
/// checked against the producer state (the leader did that), only recorded in it, so idempotence
/// and transactions carry over when the follower leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendOrigin {
    Client,
    Coordinator,
    Replication,
}

impl Partition {
    /// Validates every batch, assigns offsets (rewrites baseOffset and the leader epoch;
    /// LogAppendTime topics also the max timestamp), queues the bytes and returns at once. May block
    /// briefly: on a full write queue (back-pressure), when the segment rolls, on the first append
    /// after a clean open (the marker's removal is fsynced), and behind another append or
    /// maintenance of this partition that blocks.
    pub fn append(&self, record_set: Bytes, leader_epoch: i32, now_ms: i64) -> Result<PendingAppend, AppendError> {
        self.append_from(AppendOrigin::Client, record_set, leader_epoch, now_ms)
    }

    /// [`Partition::append`] of batches written by `origin`.
    pub fn append_from(
        &self,
        origin: AppendOrigin,
        record_set: Bytes,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<PendingAppend, AppendError> {
        match self.append_with(origin, record_set, leader_epoch, now_ms, Blocking::Allowed) {
            Ok(pending) => Ok(pending),
            Err(TryAppendError::Refused(error)) => Err(error),
            Err(TryAppendError::WouldBlock(_)) => unreachable!("an append that may block never refuses to"),
        }
    }

    /// Like [`Partition::append`], but never blocks: when the append would have to wait (the
    /// writer's queue is full, the segment must roll, the clean-shutdown marker must be removed, or
    /// another operation on this partition holds it) it returns [`TryAppendError::WouldBlock`]
    /// with the record set, having changed nothing, and the caller retries with `append` where it
    /// may block. For a tokio worker thread.
    pub fn try_append(
        &self,
        record_set: Bytes,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<PendingAppend, TryAppendError> {
        self.try_append_from(AppendOrigin::Client, record_set, leader_epoch, now_ms)
    }

    /// [`Partition::try_append`] of batches written by `origin`.
    pub fn try_append_from(
        &self,
        origin: AppendOrigin,
        record_set: Bytes,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<PendingAppend, TryAppendError> {
        self.append_with(origin, record_set, leader_epoch, now_ms, Blocking::Refused)
    }

    fn append_with(
        &self,
        origin: AppendOrigin,
        record_set: Bytes,
        leader_epoch: i32,
        now_ms: i64,
        blocking: Blocking,
    ) -> Result<PendingAppend, TryAppendError> {
        if record_set.len() > RECORD_SET_BYTES_MAX {
            return Err(AppendError::RecordSetTooLarge { bytes: record_set.len(), max: RECORD_SET_BYTES_MAX }.into());
        }
        let headers = validate_record_set(&record_set).map_err(AppendError::from)?;
        let inner = &self.inner;
        // `order` is held across blocking work (a roll's quiesce, a full queue, maintenance), so the
        // non-blocking path only tries it. It also refuses when another append of this partition
        // holds it for a moment: that append's caller pays the block, not a wrong answer.
        let _order = match blocking {
            Blocking::Allowed => inner.lock_order(),
            Blocking::Refused => match inner.order.try_lock() {
                Ok(guard) => guard,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return Err(TryAppendError::WouldBlock(record_set)),
            },
        };
        // Whoever holds `state` without `order` does only memory work (completions, reads, config).
        let mut state = inner.lock_state();
        check_writable(inner, &state)?;
        if state.disk_full.is_some() {
            // Writes failed on a full disk: start again from the last completed write.
            if blocking == Blocking::Refused {
                return Err(TryAppendError::WouldBlock(record_set));
            }
            state = inner.quiesce(state);
            check_writable(inner, &state)?;
            inner.rewind(&mut state)?;
        }
        let max = state.config.max_message_bytes as usize;
        if let Some(big) = headers.iter().find(|h| h.total_bytes() > max) {
            return Err(AppendError::MessageTooLarge { bytes: big.total_bytes(), max }.into());
        }
        // The markers of control batches, which decide what happens to their transactions.
        let mut markers = Vec::with_capacity(headers.len());
        let mut at = 0usize;
        for header in &headers {
            let marker = match header.is_control() {
                true => Some(parse_marker(&record_set[at..at + header.total_bytes()]).map_err(AppendError::from)?),
                false => None,
            };
            markers.push(marker);
            at += header.total_bytes();
        }
        let replica = origin == AppendOrigin::Replication;
        if replica {
            let mut expected = state.dirty_end.0;
            for header in &headers {
                if header.base_offset != expected || header.last_offset() < header.base_offset {
                    return Err(AppendError::ReplicaGap { expected, found: header.base_offset }.into());
                }
                expected = header.last_offset().saturating_add(1);
            }
        }
        // The leader epochs this append starts (a new leader's first batch), as Kafka's epoch
        // cache records them: written before the batch is queued (see `leader_epochs`).
        let mut new_epochs = Vec::new();
        let mut latest = state.epochs.latest();
        let mut start = state.dirty_end.0;
        for header in &headers {
            let epoch = if replica { header.partition_leader_epoch } else { leader_epoch };
            if epoch >= 0 && latest.is_none_or(|l| epoch > l) {
                new_epochs.push((epoch, start));
                latest = Some(epoch);
            }
            start = start.saturating_add(i64::from(header.last_offset_delta) + 1);
        }
        if !new_epochs.is_empty() && blocking == Blocking::Refused {
            return Err(TryAppendError::WouldBlock(record_set));
        }
        // Idempotence first: a duplicate or a refused batch must not roll or dirty anything.
        let mut producers = None;
        for (header, marker) in headers.iter().zip(&markers) {
            let view = producers.as_ref().unwrap_or(&state.producers);
            match view.check(header, marker.as_ref(), origin)? {
                Verdict::Append => {}
                Verdict::Duplicate { base_offset, last_offset } => {
                    return Err(AppendError::DuplicateSequence {
                        producer_id: header.producer_id,
                        base_offset,
                        last_offset,
                    }
                    .into());
                }
            }
            if headers.len() > 1 {
                // Later batches of the same set are checked against the earlier ones.
                let mut next = producers.take().unwrap_or_else(|| state.producers.clone());
                next.record(header, marker.as_ref());
                producers = Some(next);
            }
        }
        let records: i64 = headers.iter().map(|h| i64::from(h.last_offset_delta) + 1).sum();
        let roll = needs_roll(&state, record_set.len(), headers.len(), records, now_ms);
        // With no other write of this partition in flight and no fdatasync due, the bytes are
        // written here and now (`Writer::write_now`): nothing can complete out of order. (A roll
        // below may only make a due fdatasync not due: then the write is simply queued.)
        let write_now = !flush_due(&state, records) && state.pending_jobs == 0 && inner.writer.writes_now();
        // Every reason to block is decided here, before the first change below; the queue place
        // is reserved, so the submit at the end cannot block either.
        let mut jobs = Vec::new();
        let reservation = match blocking {
            Blocking::Refused if state.clean_marker_present || roll => {
                return Err(TryAppendError::WouldBlock(record_set));
            }
            Blocking::Refused if write_now => None,
            // An unused reservation gives its place back when dropped.
            Blocking::Refused => match inner.writer.try_reserve() {
                Some(reservation) => Some(reservation),
                None => return Err(TryAppendError::WouldBlock(record_set)),
            },
            Blocking::Allowed => {
                remove_clean_marker(inner, &mut state)?;
                if roll {
                    state = inner.quiesce(state);
                    check_writable(inner, &state)?;
                    // Writes completing meanwhile may have found the disk full: the roll must
                    // start the new segment at the completed end.
                    if state.disk_full.is_some() {
                        inner.rewind(&mut state)?;
                    }
                    if needs_roll(&state, record_set.len(), headers.len(), records, now_ms) {
                        jobs = inner.roll(&mut state)?;
                    }
                }
                None
            }
        };

        if !new_epochs.is_empty() {
            let mut epochs = state.epochs.clone();
            for (epoch, start) in new_epochs {
                epochs.assign(epoch, start);
            }
            remove_clean_marker(inner, &mut state)?;
            epochs.write(&inner.dir)?;
            state.epochs = epochs;
        }

        // The segment the write goes to, found before anything changes: a refusal after this point
        // would leave offsets handed out and a pending write counted that never happens.
        let Some(active) = state.active() else {
            return Err(AppendError::from(LogError::Closed).into());
        };
        let (file, segment_base) = (Arc::clone(&active.log), active.base.0);

        // Assign offsets and rewrite the headers.
        // A copy: the broker's record sets are slices of a shared request frame (see record_buf).
        let mut bytes = RecordBuf::copy_of(&record_set);
        let log_append = state.config.timestamp_type == TimestampType::LogAppendTime;
        let base_offset = state.dirty_end;
        let mut placed = Vec::with_capacity(headers.len());
        let (mut at, mut next, mut position) = (0usize, base_offset.0, state.dirty_size);
        for (mut header, marker) in headers.into_iter().zip(markers) {
            let total = header.total_bytes();
            if !replica {
                let batch = &mut bytes.as_mut_slice()[at..at + total];
                set_base_offset(batch, next);
                set_partition_leader_epoch(batch, leader_epoch);
                if log_append {
                    set_log_append_time(batch, now_ms);
                    header.max_timestamp = now_ms;
                }
                header.base_offset = next;
                header.partition_leader_epoch = leader_epoch;
            }
            let aborted = record_producer(&mut state, &header, marker.as_ref());
            next = Offset(header.last_offset()).next().0;
            placed.push(Placed { position, header, aborted });
            // A segment rolls before `segment.bytes` (at most `SEGMENT_BYTES_MAX`, below 2 GiB), and
            // a record set is at most `RECORD_SET_BYTES_MAX`: a position beyond `u32` is a bug.
            position = u32::try_from(total)
                .ok()
                .and_then(|total| position.checked_add(total))
                .unwrap_or_else(|| panic!("segment position {position} + batch of {total} bytes overflows u32"));
            at += total;
        }
        let info = AppendInfo {
            base_offset: base_offset.0,
            last_offset: next - 1,
            log_append_time_ms: if log_append && !replica { now_ms } else { -1 },
            log_start_offset: state.log_start.0,
        };
        let write_position = u64::from(state.dirty_size);
        state.dirty_end = Offset(next);
        state.dirty_size = position;
        state.pending_jobs += 1;
        state.pending_batches += placed.len();
        let batches = placed.len();
        if let Some(active) = state.active_mut()
            && active.roll_base_ms.is_none()
        {
            active.roll_base_ms = Some(now_ms);
        }
        let sync = flush_due(&state, records);
        state.unflushed_messages = state.unflushed_messages.saturating_add(records as u64);
        if sync {
            state.unflushed_messages = 0;
            state.last_flush_ms = now_ms;
        }
        state.assert_invariants();
        drop(state);

        let (tx, rx) = oneshot::channel();
        let done_inner = Arc::clone(inner);
        let job = WriteJob {
            file,
            position: write_position,
            data: bytes.freeze(),
            sync,
            done: Box::new(move |result| complete(&done_inner, segment_base, placed, info, result, tx)),
        };
        match reservation {
            Some(reservation) => inner.submit_reserved(reservation, job, batches),
            None if write_now && jobs.is_empty() => inner.write_now(job, batches),
            None => {
                jobs.push(job);
                inner.submit_all(jobs, Some(batches))
            }
        }
        .map_err(AppendError::from)?;
        Ok(PendingAppend { info, completion: rx })
    }
}

/// Records an appended batch in the producer state. A marker's completed transaction stays
/// unstable until the marker is written (`State::txn_ends`); an aborted one is returned for the
/// txn index.
fn record_producer(state: &mut State, header: &BatchHeader, marker: Option<&Marker>) -> Option<AbortedTxn> {
    let done = state.producers.record(header, marker)?;
    state.txn_ends.push_back((done.last_offset, done.first_offset));
    AbortedTxn::of(&done)
}

fn check_writable(inner: &Inner, state: &State) -> Result<(), LogError> {
    if state.closed {
        return Err(LogError::Closed);
    }
    inner.health.check()?;
    if let Some(source) = &state.failed {
        return Err(LogError::WriteFailed { source: Arc::clone(source) });
    }
    Ok(())
}

/// Whether an append of `records` records reaches `flush.messages` (its write is fdatasynced).
fn flush_due(state: &State, records: i64) -> bool {
    state.unflushed_messages.saturating_add(records as u64) >= state.config.flush_messages
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

/// The write completion: runs on the writer thread, or on the appending thread for a write done
/// at once.
fn complete(
    inner: &Inner,
    segment_base: i64,
    placed: Vec<Placed>,
    info: AppendInfo,
    result: std::io::Result<()>,
    reply: oneshot::Sender<Result<AppendInfo, LogError>>,
) {
    let mut state = inner.lock_state();
    state.uncount_pending(placed.len());
    if let Err(e) = result {
        inner.write_failed(&mut state, e);
    }
    let outcome = match (inner.health.check(), &state.failed, &state.disk_full) {
        (Err(offline), _, _) => Err(offline),
        (_, Some(source), _) => Err(LogError::WriteFailed { source: Arc::clone(source) }),
        (_, _, Some(source)) => Err(LogError::DiskFull { source: Arc::clone(source) }),
        (Ok(()), None, None) => {
            let interval = state.config.index_interval_bytes;
            match state.active_mut() {
                Some(active) if active.base.0 == segment_base => {
                    let mut txn_index_error = None;
                    for batch in &placed {
                        active.on_batch(batch.position, &batch.header, interval);
                        if let Some(aborted) = batch.aborted
                            && let Err(e) = active.txn_index.push(aborted)
                        {
                            txn_index_error = Some(e);
                        }
                    }
                    match txn_index_error {
                        None => Ok(info),
                        Some(e) => {
                            inner.health.take_offline(e, "a write of a transaction index");
                            inner.health.check().map(|()| info)
                        }
                    }
                }
                // Cannot happen: segments change only with no write in flight.
                _ => Err(LogError::Closed),
            }
        }
    };
    if outcome.is_ok() {
        let written: u64 = placed.iter().map(|batch| batch.header.total_bytes() as u64).sum();
        inner.published_bytes.fetch_add(written, std::sync::atomic::Ordering::AcqRel);
        let high_watermark = state.high_watermark().0;
        state.txn_ends.retain(|(marker, _)| *marker >= high_watermark);
        inner.publish(&state);
    } else {
        inner.wake_waiters();
    }
    state.assert_invariants();
    if state.pending_jobs == 0 {
        inner.drained.notify_all();
    }
    drop(state);
    let _ = reply.send(outcome); // the appender may have stopped waiting
}

impl Inner {
    /// A write job of this partition failed. A failed fsync, or a failed write other than a full
    /// disk, takes the whole log directory offline (see `log_dir`); a full disk fails this append
    /// and every later one already queued, until the next append rewinds.
    fn write_failed(&self, state: &mut State, error: std::io::Error) {
        if FsyncFailed::of(&error).is_none() && (state.disk_full.is_some() || is_disk_full(&error)) {
            if state.disk_full.is_none() {
                tracing::warn!(dir = %self.dir.display(), %error, "the disk is full; appends fail until space comes back");
                state.disk_full = Some(Arc::new(error));
            }
            return;
        }
        self.health.take_offline(error, "a write or fsync of a log segment");
    }

    /// Submits jobs in order; on a refused submit the partition is failed (offsets may have been
    /// handed out for bytes that will never be written). `last_pending_batches`: the last job is an
    /// append of that many batches counted as pending, which a refused submit must uncount.
    pub(crate) fn submit_all(&self, jobs: Vec<WriteJob>, last_pending_batches: Option<usize>) -> Result<(), LogError> {
        let mut jobs = jobs.into_iter();
        while let Some(job) = jobs.next() {
            if let Err(e) = self.writer.submit(job) {
                drop(jobs);
                return Err(self.refused_submit(e.into(), last_pending_batches));
            }
        }
        Ok(())
    }

    /// Submits an append of `batches` batches (counted as pending) into a place reserved in the
    /// writer's queue: never blocks. A refusal fails the partition as in `submit_all`.
    fn submit_reserved(&self, reservation: Reservation<'_>, job: WriteJob, batches: usize) -> Result<(), LogError> {
        reservation.submit(job).map_err(|e| self.refused_submit(e.into(), Some(batches)))
    }

    /// Writes an append of `batches` batches (counted as pending) on this thread and completes it
    /// (see `Writer::write_now`). A refusal fails the partition as in `submit_all`.
    fn write_now(&self, job: WriteJob, batches: usize) -> Result<(), LogError> {
        self.writer.write_now(job).map_err(|e| self.refused_submit(e.into(), Some(batches)))
    }

    /// After the writer refused a job: fails the partition and returns the error.
    fn refused_submit(&self, error: LogError, last_pending_batches: Option<usize>) -> LogError {
        let mut state = self.lock_state();
        state.failed.get_or_insert_with(|| Arc::new(std::io::Error::other(error.to_string())));
        if let Some(batches) = last_pending_batches {
            state.uncount_pending(batches);
        }
        state.assert_invariants();
        if state.pending_jobs == 0 {
            self.drained.notify_all();
        }
        error
    }
}
