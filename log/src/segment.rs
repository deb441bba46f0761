//! One segment: `<base>.log` plus its `.index`, `.timeindex` and `.txnindex`, and what is known
//! about them.
//!
//! A segment is either *active* (the last one; its index files are preallocated to
//! `segment.index.bytes` and grow entry by entry as writes complete) or *sealed* (index files
//! trimmed to their entries, a final time-index entry holding the segment's max timestamp).
//! `size` and `next_offset` describe completed writes only: the partition never lets a reader past
//! them. Not synchronized: a segment lives behind its partition's lock.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata_wire::batch::BatchHeader;

use crate::error::LogError;
use crate::offset::{FilePosition, Offset, RelativeOffset, segment_stem};
use crate::offset_index::OffsetIndex;
use crate::scan::{BadBatch, Scanner, Step};
use crate::time_index::TimeIndex;
use crate::txn_index::TxnIndex;

pub(crate) struct Segment {
    pub(crate) base: Offset,
    pub(crate) log: Arc<File>,
    pub(crate) log_path: PathBuf,
    /// Bytes of completed writes.
    pub(crate) size: u32,
    /// One past the last offset of completed writes (`base` when empty).
    pub(crate) next_offset: Offset,
    pub(crate) index: OffsetIndex,
    pub(crate) time_index: TimeIndex,
    /// Transactions aborted by markers in this segment.
    pub(crate) txn_index: TxnIndex,
    /// Largest batch max timestamp, -1 when empty (or when every batch says -1).
    pub(crate) max_timestamp: i64,
    /// Base offset of the first batch that reached `max_timestamp`.
    pub(crate) offset_of_max_timestamp: Offset,
    bytes_since_index: u32,
    /// When the first batch went in (in-memory only; reopen restarts the clock), for `segment.ms`.
    pub(crate) roll_base_ms: Option<i64>,
}

/// What a recovery scan of one segment found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// Bytes cut from the end of the file (0 if it was whole).
    pub(crate) cut_bytes: u64,
    pub(crate) reason: Option<String>,
}

pub(crate) fn segment_paths(dir: &Path, base: Offset) -> [PathBuf; 4] {
    let stem = segment_stem(base);
    [
        dir.join(format!("{stem}.log")),
        dir.join(format!("{stem}.index")),
        dir.join(format!("{stem}.timeindex")),
        dir.join(format!("{stem}.txnindex")),
    ]
}

impl Segment {
    /// Opens (creating when missing) the files of the segment at `base`, trusting what they say:
    /// `next_offset` comes from the caller, the max timestamp from the last time-index entry.
    /// Returns the segment and whether its indexes look sound (else the caller recovers it).
    pub(crate) fn open(dir: &Path, base: Offset, next_offset: Offset) -> Result<(Segment, bool), LogError> {
        let [log_path, index_path, time_path, txn_path] = segment_paths(dir, base);
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .map_err(|e| LogError::io("open segment", &log_path, e))?;
        let len = log.metadata().map_err(|e| LogError::io("stat segment", &log_path, e))?.len();
        let size = FilePosition::from_len(len)
            .ok_or_else(|| LogError::Corrupt { path: log_path.clone(), reason: "segment larger than 4 GiB" })?;
        let index = OffsetIndex::open(&index_path)?;
        let time_index = TimeIndex::open(&time_path)?;
        let (txn_index, txn_sound) = TxnIndex::open(&txn_path, base.0)?;
        let plausible = index.is_plausible(len) && time_index.is_plausible() && txn_sound;
        let (max_timestamp, offset_of_max_timestamp) = match time_index.last() {
            Some((ts, rel)) => (ts, rel.absolute(base)),
            None => (-1, base),
        };
        let bytes_since_index = size.0 - index.last().map_or(0, |(_, pos)| pos.0.min(size.0));
        let segment = Segment {
            base,
            log: Arc::new(log),
            log_path,
            size: size.0,
            next_offset,
            index,
            time_index,
            txn_index,
            max_timestamp,
            offset_of_max_timestamp,
            bytes_since_index,
            roll_base_ms: None,
        };
        Ok((segment, plausible))
    }

    /// Creates a new, empty, active segment.
    pub(crate) fn create(dir: &Path, base: Offset, index_bytes: u32) -> Result<Segment, LogError> {
        for path in segment_paths(dir, base) {
            // A leftover from a crash between creating and writing a segment would be misread.
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(LogError::io("remove stale segment file", path, e));
            }
        }
        let [.., txn_path] = segment_paths(dir, base);
        TxnIndex::create(&txn_path)?;
        let (mut segment, _) = Segment::open(dir, base, base)?;
        for path in segment_paths(dir, base) {
            crate::io::power_cut::created(&path);
        }
        segment.activate(index_bytes)?;
        // The new files' directory entries must be durable before anything written to them can
        // be: an fsync of a file does not persist its name, and after a power cut a segment whose
        // entry was lost takes its acknowledged records with it.
        crate::checkpoint::sync_dir(dir)?;
        Ok(segment)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.size == 0
    }

    pub(crate) fn rel(&self, offset: Offset) -> RelativeOffset {
        // The partition rolls before a relative offset could overflow, and never asks below base.
        offset.relative_to(self.base).unwrap_or(RelativeOffset(u32::MAX))
    }

    /// The timestamp time retention judges the segment by: its largest batch timestamp, or, when
    /// its batches carry none (-1), the log file's modification time, as Kafka does.
    pub(crate) fn retention_timestamp(&self) -> i64 {
        if self.max_timestamp >= 0 {
            return self.max_timestamp;
        }
        let modified = self.log.metadata().and_then(|m| m.modified()).ok();
        modified
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(i64::MAX, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    /// Preallocates the index files so entries can be added.
    pub(crate) fn activate(&mut self, index_bytes: u32) -> Result<(), LogError> {
        self.index.file.set_capacity_bytes(index_bytes as usize)?;
        self.time_index.file.set_capacity_bytes(index_bytes as usize)
    }

    /// Index entries that can still be added before one of the indexes is full.
    pub(crate) fn index_room(&self) -> usize {
        let offsets = self.index.file.capacity().saturating_sub(self.index.file.len());
        let times = self.time_index.file.capacity().saturating_sub(self.time_index.file.len());
        offsets.min(times)
    }

    /// Records a batch whose bytes are in the file at `position` (a completed write, or a batch
    /// found by a recovery scan): indexes, max timestamp, size and next offset.
    pub(crate) fn on_batch(&mut self, position: u32, header: &BatchHeader, index_interval_bytes: u32) {
        if self.bytes_since_index >= index_interval_bytes && position > 0 {
            let rel = self.rel(Offset(header.base_offset));
            if self.index.push(rel, FilePosition(position)) {
                self.time_index.push(self.max_timestamp, self.rel(self.offset_of_max_timestamp));
            }
            self.bytes_since_index = 0;
        }
        if header.max_timestamp > self.max_timestamp || self.is_empty() {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = Offset(header.base_offset);
        }
        let total = u32::try_from(header.total_bytes()).unwrap_or(u32::MAX);
        self.bytes_since_index = self.bytes_since_index.saturating_add(total);
        // Callers pass batches that fit the segment (appends roll first, recovery stops at a
        // segment's u32 length): a size beyond u32 is a bug.
        self.size = position
            .checked_add(total)
            .unwrap_or_else(|| panic!("segment {} size overflows at position {position} + {total}", self.base.0));
        self.next_offset = Offset(header.last_offset()).next();
    }

    /// Makes the segment sealed: final time-index entry, index files trimmed. The caller fsyncs.
    pub(crate) fn seal(&mut self) -> Result<(), LogError> {
        if !self.is_empty() {
            self.time_index.push(self.max_timestamp, self.rel(self.offset_of_max_timestamp));
        }
        self.index.file.trim()?;
        self.time_index.file.trim()
    }

    /// Rebuilds the indexes and max timestamp by scanning (and with `validate`, CRC-checking) the
    /// whole file; with `validate`, cuts the file at the first bad batch. `each` sees every good
    /// batch header (producer-state replay).
    pub(crate) fn rebuild(
        &mut self,
        validate: bool,
        index_interval_bytes: u32,
        index_bytes: u32,
        mut each: impl FnMut(&BatchHeader),
    ) -> Result<Recovered, LogError> {
        let file_len = u64::from(self.size);
        self.index.file.truncate(0);
        self.time_index.file.truncate(0);
        self.activate(index_bytes)?;
        self.size = 0;
        self.next_offset = self.base;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = self.base;
        self.bytes_since_index = 0;
        let log = Arc::clone(&self.log);
        let mut scanner = Scanner::new(&log, 0, file_len, validate, Some(self.base.0));
        loop {
            let step = scanner.next_step().map_err(|e| LogError::io("scan segment", &self.log_path, e))?;
            match step {
                Step::Batch { position, header } => {
                    let Ok(position) = u32::try_from(position) else { break };
                    if self.rel_fits(&header) {
                        self.on_batch(position, &header, index_interval_bytes);
                        each(&header);
                    } else {
                        return self.cut(u64::from(position), file_len, "batch offset beyond the segment's range");
                    }
                }
                Step::End => return Ok(Recovered { cut_bytes: 0, reason: None }),
                Step::Bad { position, reason } => {
                    let why = match reason {
                        BadBatch::Torn => "torn batch",
                        BadBatch::TooLarge => "oversized batch",
                        BadBatch::OffsetGap { .. } => "offset gap",
                        BadBatch::Invalid(_) => "invalid batch",
                    };
                    tracing::warn!(path = %self.log_path.display(), position, ?reason, "cutting the log at a bad batch");
                    return self.cut(position, file_len, why);
                }
            }
        }
        Ok(Recovered { cut_bytes: 0, reason: None })
    }

    fn rel_fits(&self, header: &BatchHeader) -> bool {
        Offset(header.last_offset()).relative_to(self.base).is_some() && header.base_offset >= self.base.0
    }

    fn cut(&mut self, position: u64, file_len: u64, why: &'static str) -> Result<Recovered, LogError> {
        self.log.set_len(position).map_err(|e| LogError::io("truncate segment", &self.log_path, e))?;
        Ok(Recovered { cut_bytes: file_len - position, reason: Some(why.to_string()) })
    }

    /// Removes every batch from the one containing `offset` on; returns the new next offset.
    pub(crate) fn truncate_to(
        &mut self,
        offset: Offset,
        index_interval_bytes: u32,
        index_bytes: u32,
    ) -> Result<(), LogError> {
        // Find the first batch with last offset >= offset, starting from the index hint.
        let (_, start) = self.index.lookup(self.rel(offset));
        let mut scanner = Scanner::new(&self.log, start.as_u64(), u64::from(self.size), false, None);
        let mut cut_at = None;
        loop {
            match scanner.next_step().map_err(|e| LogError::io("scan segment", &self.log_path, e))? {
                Step::Batch { position, header } if header.last_offset() >= offset.0 => {
                    cut_at = Some(position);
                    break;
                }
                Step::Batch { .. } => {}
                Step::End | Step::Bad { .. } => break,
            }
        }
        let Some(cut_at) = cut_at else { return Ok(()) };
        self.log.set_len(cut_at).map_err(|e| LogError::io("truncate segment", &self.log_path, e))?;
        self.size = u32::try_from(cut_at).unwrap_or(self.size);
        self.txn_index.truncate_to(offset.0)?;
        // Rebuild from the file: simplest way to get indexes and max timestamp right after a cut.
        self.rebuild(false, index_interval_bytes, index_bytes, |_| {})?;
        Ok(())
    }

    /// Unlinks the segment's files. Readers holding the log `Arc<File>` can still finish.
    pub(crate) fn delete_files(&self, dir: &Path) -> Result<(), LogError> {
        for path in segment_paths(dir, self.base) {
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(LogError::io("delete segment file", path, e));
            }
        }
        Ok(())
    }

    /// The index files, for fsync jobs at seal time.
    pub(crate) fn index_files(&self) -> [Arc<File>; 2] {
        [Arc::clone(self.index.file.file()), Arc::clone(self.time_index.file.file())]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::scan::tests::test_batch;
    use std::os::unix::fs::FileExt;

    /// Writes batches of `n` records each directly into the segment file and records them.
    fn fill(seg: &mut Segment, batches: usize, interval: u32) -> Vec<(u32, BatchHeader)> {
        let mut out = Vec::new();
        for i in 0..batches {
            let bytes = test_batch(seg.next_offset.0, 2, 1000 + i as i64);
            let pos = seg.size;
            seg.log.write_all_at(&bytes, u64::from(pos)).unwrap();
            let header = BatchHeader::parse(&bytes).unwrap();
            seg.on_batch(pos, &header, interval);
            out.push((pos, header));
        }
        out
    }

    #[test]
    fn rebuild_gives_the_same_indexes_as_appending() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), Offset(100), 4096).unwrap();
        let written = fill(&mut seg, 20, 300);
        let (index_len, time_len, size, next) =
            (seg.index.file.len(), seg.time_index.file.len(), seg.size, seg.next_offset);
        assert!(index_len > 3);
        assert_eq!(next, Offset(140));
        assert_eq!(seg.max_timestamp, 1019);
        let lookups: Vec<_> = (100..140).map(|o| seg.index.lookup(seg.rel(Offset(o)))).collect();
        let got = seg.rebuild(true, 300, 4096, |_| {}).unwrap();
        assert_eq!(got, Recovered { cut_bytes: 0, reason: None });
        assert_eq!(
            (seg.index.file.len(), seg.time_index.file.len(), seg.size, seg.next_offset),
            (index_len, time_len, size, next)
        );
        let again: Vec<_> = (100..140).map(|o| seg.index.lookup(seg.rel(Offset(o)))).collect();
        assert_eq!(lookups, again);
        // Every lookup lands on a batch start at or before the target.
        for (o, (rel, pos)) in (100..140).zip(again) {
            let (p, h) = written.iter().find(|(p, _)| *p == pos.0).unwrap();
            assert_eq!(*p, pos.0);
            assert_eq!(h.base_offset, 100 + i64::from(rel.0));
            assert!(h.base_offset <= o);
        }
    }

    #[test]
    fn rebuild_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), Offset(0), 4096).unwrap();
        let written = fill(&mut seg, 5, 0);
        let good_end = seg.size;
        seg.log.write_all_at(&[0u8; 100], u64::from(good_end)).unwrap();
        seg.size += 100;
        let got = seg.rebuild(true, 0, 4096, |_| {}).unwrap();
        assert_eq!(got.cut_bytes, 100);
        assert_eq!(seg.size, good_end);
        assert_eq!(seg.log.metadata().unwrap().len(), u64::from(good_end));
        assert_eq!(seg.next_offset, Offset(written[4].1.last_offset() + 1));
    }

    #[test]
    fn seal_and_reopen_trusts_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), Offset(0), 4096).unwrap();
        fill(&mut seg, 10, 200);
        let (max_ts, max_off, idx) = (seg.max_timestamp, seg.offset_of_max_timestamp, seg.index.file.len());
        seg.seal().unwrap();
        let next = seg.next_offset;
        drop(seg);
        let (seg, plausible) = Segment::open(dir.path(), Offset(0), next).unwrap();
        assert!(plausible);
        assert_eq!((seg.max_timestamp, seg.offset_of_max_timestamp, seg.index.file.len()), (max_ts, max_off, idx));
    }

    #[test]
    fn truncate_cuts_at_the_batch_containing_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), Offset(0), 4096).unwrap();
        let written = fill(&mut seg, 10, 200);
        seg.truncate_to(Offset(7), 200, 4096).unwrap(); // batch 3 holds offsets 6 and 7
        assert_eq!(seg.next_offset, Offset(6));
        assert_eq!(seg.size, written[3].0);
        assert_eq!(seg.max_timestamp, 1002);
    }
}
