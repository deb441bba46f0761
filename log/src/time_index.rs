//! The sparse time index of one segment: 12-byte entries `(timestamp i64, relative offset u32)`,
//! big-endian as in Kafka. An entry `(t, r)` says: the largest timestamp in the segment up to the
//! batch at `r` is `t`, and that batch is the first to reach it. Timestamps strictly increase.
//!
//! So every batch before `r` has timestamps `< t`: a search for the first batch with a timestamp
//! `>= target` may start at the batch of the largest entry with `t < target`.

use std::path::Path;

use crate::error::LogError;
use crate::index_file::IndexFile;
use crate::offset::RelativeOffset;

pub(crate) const TIME_ENTRY_BYTES: usize = 12;

pub(crate) struct TimeIndex {
    /// The entries' storage; callers resize and count through it.
    pub(crate) file: IndexFile,
}

fn decode(e: &[u8]) -> (i64, RelativeOffset) {
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&e[..8]);
    let rel = u32::from_be_bytes([e[8], e[9], e[10], e[11]]);
    (i64::from_be_bytes(ts), RelativeOffset(rel))
}

impl TimeIndex {
    pub(crate) fn open(path: &Path) -> Result<TimeIndex, LogError> {
        Ok(TimeIndex { file: IndexFile::open(path, TIME_ENTRY_BYTES)? })
    }

    pub(crate) fn last(&self) -> Option<(i64, RelativeOffset)> {
        self.file.last_entry().map(decode)
    }

    /// Adds an entry if `ts` is larger than the last one's; false if not added.
    pub(crate) fn push(&mut self, ts: i64, rel: RelativeOffset) -> bool {
        if let Some((last_ts, last_rel)) = self.last()
            && (ts <= last_ts || rel < last_rel)
        {
            return false;
        }
        let mut entry = [0u8; TIME_ENTRY_BYTES];
        entry[..8].copy_from_slice(&ts.to_be_bytes());
        entry[8..].copy_from_slice(&rel.0.to_be_bytes());
        self.file.push(&entry)
    }

    /// Cheap check for a sealed index trusted without a scan: the last two entries increase (a
    /// zero-filled tail does not).
    pub(crate) fn is_plausible(&self) -> bool {
        let n = self.file.len();
        if n < 2 {
            return true;
        }
        match (self.file.entry(n - 2).map(decode), self.file.entry(n - 1).map(decode)) {
            (Some((t0, r0)), Some((t1, r1))) => t1 > t0 && r1 >= r0,
            _ => false,
        }
    }

    /// Where a search for the first timestamp `>= target` may start: the batch of the largest entry
    /// with a smaller timestamp, or the segment start.
    pub(crate) fn search_start(&self, target: i64) -> RelativeOffset {
        let n = self.file.partition_point(|e| decode(e).0 < target);
        n.checked_sub(1).and_then(|i| self.file.entry(i)).map_or(RelativeOffset(0), |e| decode(e).1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn search_start_and_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TimeIndex::open(&dir.path().join("0.timeindex")).unwrap();
        index.file.set_capacity_bytes(12 * 8).unwrap();
        assert_eq!(index.search_start(100), RelativeOffset(0));
        assert!(index.push(100, RelativeOffset(0)));
        assert!(index.push(200, RelativeOffset(5)));
        assert!(!index.push(200, RelativeOffset(9)), "timestamps must increase");
        assert!(index.push(300, RelativeOffset(9)));
        assert_eq!(index.search_start(100), RelativeOffset(0));
        assert_eq!(index.search_start(101), RelativeOffset(0));
        assert_eq!(index.search_start(250), RelativeOffset(5));
        assert_eq!(index.search_start(i64::MAX), RelativeOffset(9));
        index.file.truncate(1);
        assert_eq!(index.last(), Some((100, RelativeOffset(0))));
        drop(index);
        let reopened = TimeIndex::open(&dir.path().join("0.timeindex")).unwrap();
        assert_eq!(reopened.file.len(), 8, "untrimmed file: every slot counts until trimmed");
        assert!(!reopened.is_plausible(), "a zero-filled tail is caught");
    }
}
