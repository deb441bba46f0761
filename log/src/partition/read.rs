//! Reads: file ranges on batch boundaries for fetch, and the timestamp lookup.
//!
//! Index lookups happen under the state lock (memory only); the short header scans that follow
//! use `pread` on an `Arc<File>` outside it, so a concurrent retention that unlinks the segment
//! does not disturb them.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::{Partition, read_header};
use crate::error::{LogError, ReadError};
use crate::offset::{FilePosition, Offset};

/// A byte range of a segment file holding whole batches.
#[derive(Clone, Debug)]
pub struct FileRange {
    pub file: Arc<File>,
    pub position: u64,
    pub len: u32,
}

impl FileRange {
    /// Appends the range's bytes to `out` (the copying path: TLS, tests).
    pub fn read_into(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
        let start = out.len();
        out.resize(start + self.len as usize, 0);
        let result = self.file.read_exact_at(&mut out[start..], self.position);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

#[derive(Clone, Debug)]
pub struct ReadResult {
    pub ranges: Vec<FileRange>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// The last stable offset when the read was made.
    pub last_stable_offset: i64,
    /// One past the last offset of the batches in `ranges` (the offset asked for when they are
    /// empty): the upper end for [`Partition::aborted_transactions`].
    pub end_offset: i64,
}

impl ReadResult {
    /// Every range's bytes, copied in order (the copying path: share groups, the broker's own
    /// readers of a log).
    pub fn copy_bytes(&self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.ranges.iter().try_for_each(|range| range.read_into(&mut out))?;
        Ok(out)
    }
}

/// Which records a read may return (Kafka's `isolation_level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Up to the high watermark.
    ReadUncommitted,
    /// Up to the last stable offset.
    ReadCommitted,
    /// Up to the log end, past the high watermark: a follower copying the leader's log.
    LogEnd,
}

/// What a read needs from one segment, copied out under the lock.
struct SegmentView {
    file: Arc<File>,
    size: u32,
    start_hint: u64,
    end_hint: u64,
    next_offset: Offset,
    path: std::path::PathBuf,
}

impl Partition {
    /// Whole batches starting with the one containing `offset`, up to `max_bytes` (but always at
    /// least one batch, as Kafka does), from one segment, below the high watermark.
    /// `offset == high_watermark` gives no ranges; outside `[log_start, high_watermark]` is
    /// `OffsetOutOfRange`.
    pub fn read(&self, offset: i64, max_bytes: u32) -> Result<ReadResult, ReadError> {
        self.read_isolated(offset, max_bytes, Isolation::ReadUncommitted)
    }

    /// [`Partition::read`], but with [`Isolation::ReadCommitted`] only batches below the last
    /// stable offset (an offset from there up to the high watermark gives no ranges, as Kafka's
    /// read_committed fetch does).
    pub fn read_isolated(&self, offset: i64, max_bytes: u32, isolation: Isolation) -> Result<ReadResult, ReadError> {
        let mut target = Offset(offset);
        loop {
            let (view, hw, log_start, stable, limit) = {
                let state = self.inner.lock_state();
                let hw = state.high_watermark();
                let log_start = state.log_start;
                let stable = state.last_stable_offset();
                let limit = match isolation {
                    Isolation::ReadUncommitted => hw,
                    Isolation::ReadCommitted => stable,
                    Isolation::LogEnd => state.log_end(),
                };
                if state.closed {
                    return Err(LogError::Closed.into());
                }
                if target < log_start || target > state.log_end() {
                    return Err(ReadError::OffsetOutOfRange {
                        offset,
                        log_start_offset: log_start.0,
                        high_watermark: hw.0,
                    });
                }
                let empty = ReadResult {
                    ranges: Vec::new(),
                    high_watermark: hw.0,
                    log_start_offset: log_start.0,
                    last_stable_offset: stable.0,
                    end_offset: target.0,
                };
                if target >= limit {
                    return Ok(empty);
                }
                let Some((_, seg)) = state.segments.range(..=target.0).next_back() else { return Ok(empty) };
                let (_, start) = seg.index.lookup(seg.rel(target));
                let want_end = start.0.saturating_add(max_bytes).min(seg.size);
                let (_, mut end) = seg.index.lookup_position(FilePosition(want_end));
                if limit < seg.next_offset {
                    // The limit (a last stable offset below the high watermark) is the base of a
                    // batch: everything before the indexed batch at or below it lies below it.
                    end = end.min(seg.index.lookup(seg.rel(limit)).1);
                }
                let view = SegmentView {
                    file: Arc::clone(&seg.log),
                    size: seg.size,
                    start_hint: start.as_u64(),
                    end_hint: end.as_u64(),
                    next_offset: seg.next_offset,
                    path: seg.log_path.clone(),
                };
                (view, hw, log_start, stable, limit)
            };
            let result = |ranges: Vec<FileRange>, end_offset: i64| ReadResult {
                ranges,
                high_watermark: hw.0,
                log_start_offset: log_start.0,
                last_stable_offset: stable.0,
                end_offset,
            };
            let io = |e| ReadError::Storage(LogError::io("read segment", &view.path, e));
            // The batch holding the target.
            let mut position = view.start_hint;
            let first = loop {
                if position >= u64::from(view.size) {
                    break None;
                }
                match read_header(&view.file, position).map_err(io)? {
                    Some(h) if h.last_offset() >= target.0 => break Some((position, h)),
                    Some(h) => position += h.total_bytes() as u64,
                    None => break None,
                }
            };
            let Some((start, header)) = first else {
                // The segment ends before the target (it was cut concurrently, or the target is in
                // the next one): look again from the next offset the log has.
                if target >= limit {
                    return Ok(result(Vec::new(), target.0));
                }
                let next = self.next_segment_base(target);
                match next {
                    Some(next) if next > target => {
                        target = next;
                        continue;
                    }
                    _ => {
                        return Err(LogError::Corrupt {
                            path: view.path.clone(),
                            reason: "offset missing from its segment",
                        }
                        .into());
                    }
                }
            };
            let byte_limit = (start + u64::from(max_bytes)).min(u64::from(view.size));
            let mut end = start + header.total_bytes() as u64;
            let mut end_offset = header.last_offset().saturating_add(1);
            let mut position = view.end_hint.max(end);
            if position > end {
                // The index hint is a batch boundary after `end`: everything up to it fits.
                end = position.min(byte_limit).max(end);
                position = end;
                // Unknown until the header at the range's end is read (below).
                end_offset = i64::MIN;
            }
            while position < byte_limit {
                match read_header(&view.file, position).map_err(io)? {
                    Some(h) if position + h.total_bytes() as u64 <= byte_limit && h.base_offset < limit.0 => {
                        position += h.total_bytes() as u64;
                        end = position;
                        end_offset = h.last_offset().saturating_add(1);
                    }
                    _ => break,
                }
            }
            if end_offset == i64::MIN {
                // The range ends where the index hint said: at the segment's end (its next offset;
                // bytes past it may be a write in flight), or at the next batch (its base).
                end_offset = match end >= u64::from(view.size) {
                    true => view.next_offset.0,
                    false => read_header(&view.file, end).map_err(io)?.map_or(view.next_offset.0, |h| h.base_offset),
                };
            }
            let len = u32::try_from(end - start).unwrap_or(u32::MAX);
            let range = FileRange { file: view.file, position: start, len };
            return Ok(result(vec![range], end_offset));
        }
    }

    /// `(timestamp, offset)` of the record with the largest timestamp at or after the log start
    /// (the first such), or `None` for an empty log. Exact for uncompressed CreateTime batches;
    /// otherwise the offset is that of the batch (its base, or the log start if later).
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        // Per segment: the file, where to start looking for the max batch, and the max if known.
        // A segment whose max batch lies below the log start has to be scanned from the start.
        let (segments, log_start) = {
            let state = self.inner.lock_state();
            let log_start = state.log_start;
            let segments: Vec<_> = state
                .segments
                .values()
                .filter(|s| !s.is_empty() && s.next_offset > log_start)
                .map(|seg| {
                    let known = (seg.offset_of_max_timestamp >= log_start).then_some(seg.max_timestamp);
                    let from = if known.is_some() { seg.offset_of_max_timestamp } else { log_start };
                    let (_, start) = seg.index.lookup(seg.rel(from));
                    (Arc::clone(&seg.log), start.as_u64(), u64::from(seg.size), known, seg.offset_of_max_timestamp)
                })
                .collect();
            (segments, log_start)
        };
        // The best batch: (timestamp, base offset, file, position).
        let mut best: Option<(i64, i64, Arc<File>, u64)> = None;
        for (file, start, size, known, max_base) in segments {
            if let (Some(ts), Some((best_ts, ..))) = (known, &best)
                && ts <= *best_ts
            {
                continue;
            }
            let mut position = start;
            while position < size {
                let Ok(Some(h)) = read_header(&file, position) else { break };
                let wanted = match known {
                    Some(_) => h.base_offset == max_base.0,
                    None => h.last_offset() >= log_start.0,
                };
                if wanted && best.as_ref().is_none_or(|(ts, ..)| h.max_timestamp > *ts) {
                    best = Some((h.max_timestamp, h.base_offset, Arc::clone(&file), position));
                }
                if known.is_some() && wanted {
                    break;
                }
                position += h.total_bytes() as u64;
            }
        }
        let (ts, base, file, position) = best?;
        let fallback = (ts, base.max(log_start.0));
        let exact = read_header(&file, position)
            .ok()
            .flatten()
            .and_then(|h| exact_record(&file, position, &h, ts, log_start).ok().flatten());
        Some(exact.map_or(fallback, |(offset, ts)| (ts, offset)))
    }

    fn next_segment_base(&self, after: Offset) -> Option<Offset> {
        let state = self.inner.lock_state();
        state.segments.range(after.0 + 1..).next().map(|(b, _)| Offset(*b))
    }

    /// The first record with a timestamp `>= ts_ms` at or after the log start, as
    /// `(offset, timestamp)`; `None` when no record is that recent. Exact for uncompressed
    /// CreateTime batches; for compressed ones (records unreadable without decompressing) and
    /// LogAppendTime ones it answers the batch: its base offset (or the log start) and its max
    /// timestamp.
    pub fn offset_for_timestamp(&self, ts_ms: i64) -> Result<Option<(i64, i64)>, ReadError> {
        // Every segment that may hold the answer, in order (the first candidate may have only
        // batches below the log start reaching the target).
        let (candidates, log_start) = {
            let state = self.inner.lock_state();
            let log_start = state.log_start;
            let candidates: Vec<_> = state
                .segments
                .values()
                .filter(|s| !s.is_empty() && s.next_offset > log_start && s.max_timestamp >= ts_ms)
                .map(|seg| {
                    let rel = seg.time_index.search_start(ts_ms).max(seg.rel(log_start.max(seg.base)));
                    let (_, start) = seg.index.lookup(rel);
                    (Arc::clone(&seg.log), seg.log_path.clone(), start.as_u64(), u64::from(seg.size))
                })
                .collect();
            (candidates, log_start)
        };
        for (file, path, start, size) in candidates {
            let mut position = start;
            while position < size {
                let header = read_header(&file, position)
                    .map_err(|e| ReadError::Storage(LogError::io("read segment", &path, e)))?;
                let Some(header) = header else { break };
                if header.max_timestamp >= ts_ms && header.last_offset() >= log_start.0 {
                    let exact = exact_record(&file, position, &header, ts_ms, log_start)
                        .map_err(|e| ReadError::Storage(LogError::io("read segment", &path, e)))?;
                    return Ok(Some(exact.unwrap_or((header.base_offset.max(log_start.0), header.max_timestamp))));
                }
                position += header.total_bytes() as u64;
            }
        }
        Ok(None)
    }
}

/// The exact first record with a timestamp `>= ts_ms` (and offset >= `log_start`) of the
/// uncompressed CreateTime batch at `position`; `None` when the batch does not allow it.
fn exact_record(
    file: &File,
    position: u64,
    header: &strata_wire::batch::BatchHeader,
    ts_ms: i64,
    log_start: Offset,
) -> std::io::Result<Option<(i64, i64)>> {
    if header.timestamp_type_is_log_append() || header.compression() != strata_wire::batch::Compression::None {
        return Ok(None);
    }
    if header.total_bytes() > crate::config::MESSAGE_BYTES_MAX as usize + strata_wire::batch::BATCH_HEADER_BYTES {
        return Ok(None);
    }
    let mut batch = vec![0u8; header.total_bytes()];
    file.read_exact_at(&mut batch, position)?;
    let records = strata_wire::records::record_timestamps(&batch).unwrap_or_default();
    Ok(records
        .into_iter()
        .map(|(delta, ts)| (header.base_offset.saturating_add(i64::from(delta)), ts))
        .find(|(offset, ts)| *ts >= ts_ms && *offset >= log_start.0))
}
