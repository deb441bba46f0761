//! The sparse offset index of one segment: 8-byte entries `(relative offset u32, position u32)`,
//! big-endian as in Kafka, one per `index.interval.bytes` of log, both columns increasing.
//!
//! A lookup gives the largest entry at or below the target; the reader then scans batch headers
//! forward from that position (at most about `index.interval.bytes` of them).

use std::path::Path;

use crate::error::LogError;
use crate::index_file::IndexFile;
use crate::offset::{FilePosition, RelativeOffset};

pub(crate) const OFFSET_ENTRY_BYTES: usize = 8;

pub(crate) struct OffsetIndex {
    /// The entries' storage; callers resize and count through it.
    pub(crate) file: IndexFile,
}

fn decode(e: &[u8]) -> (RelativeOffset, FilePosition) {
    let rel = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
    let pos = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
    (RelativeOffset(rel), FilePosition(pos))
}

impl OffsetIndex {
    pub(crate) fn open(path: &Path) -> Result<OffsetIndex, LogError> {
        Ok(OffsetIndex { file: IndexFile::open(path, OFFSET_ENTRY_BYTES)? })
    }

    pub(crate) fn last(&self) -> Option<(RelativeOffset, FilePosition)> {
        self.file.last_entry().map(decode)
    }

    /// Adds an entry; false when the index is full, the entry points at the segment start, or it
    /// would not increase both columns.
    pub(crate) fn push(&mut self, rel: RelativeOffset, pos: FilePosition) -> bool {
        if pos.0 == 0 || rel.0 == 0 {
            return false;
        }
        if let Some((last_rel, last_pos)) = self.last()
            && (rel <= last_rel || pos <= last_pos)
        {
            return false;
        }
        let mut entry = [0u8; OFFSET_ENTRY_BYTES];
        entry[..4].copy_from_slice(&rel.0.to_be_bytes());
        entry[4..].copy_from_slice(&pos.0.to_be_bytes());
        self.file.push(&entry)
    }

    /// The largest entry with relative offset <= `rel`, or the segment start.
    pub(crate) fn lookup(&self, rel: RelativeOffset) -> (RelativeOffset, FilePosition) {
        let n = self.file.partition_point(|e| decode(e).0 <= rel);
        n.checked_sub(1).and_then(|i| self.file.entry(i)).map_or((RelativeOffset(0), FilePosition(0)), decode)
    }

    /// The largest entry with position <= `pos`, or the segment start.
    pub(crate) fn lookup_position(&self, pos: FilePosition) -> (RelativeOffset, FilePosition) {
        let n = self.file.partition_point(|e| decode(e).1 <= pos);
        n.checked_sub(1).and_then(|i| self.file.entry(i)).map_or((RelativeOffset(0), FilePosition(0)), decode)
    }

    /// Cheap check for a sealed index trusted without a scan: the last entry points into the log.
    /// No entry ever points at position 0 (that is the lookup default), so a zero-filled tail
    /// fails this check.
    pub(crate) fn is_plausible(&self, log_bytes: u64) -> bool {
        self.last().is_none_or(|(rel, pos)| rel.0 > 0 && pos.0 > 0 && pos.as_u64() < log_bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn index(dir: &tempfile::TempDir) -> OffsetIndex {
        let mut index = OffsetIndex::open(&dir.path().join("0.index")).unwrap();
        index.file.set_capacity_bytes(80).unwrap();
        index
    }

    #[test]
    fn lookup_finds_largest_entry_at_or_below() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = index(&dir);
        assert_eq!(index.lookup(RelativeOffset(5)), (RelativeOffset(0), FilePosition(0)));
        for (rel, pos) in [(10, 1000), (20, 2000), (30, 3000)] {
            assert!(index.push(RelativeOffset(rel), FilePosition(pos)));
        }
        assert!(!index.push(RelativeOffset(30), FilePosition(4000)), "offsets must increase");
        assert_eq!(index.lookup(RelativeOffset(9)), (RelativeOffset(0), FilePosition(0)));
        assert_eq!(index.lookup(RelativeOffset(10)), (RelativeOffset(10), FilePosition(1000)));
        assert_eq!(index.lookup(RelativeOffset(29)), (RelativeOffset(20), FilePosition(2000)));
        assert_eq!(index.lookup(RelativeOffset(u32::MAX)), (RelativeOffset(30), FilePosition(3000)));
        assert_eq!(index.lookup_position(FilePosition(2999)), (RelativeOffset(20), FilePosition(2000)));
        assert!(index.is_plausible(3001));
        assert!(!index.is_plausible(3000));
        assert!(!index.push(RelativeOffset(0), FilePosition(0)), "the start needs no entry");
    }

    #[test]
    fn full_index_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = index(&dir);
        for i in 1..=10 {
            assert!(index.push(RelativeOffset(i), FilePosition(i)));
        }
        assert!(!index.push(RelativeOffset(11), FilePosition(11)));
    }
}
