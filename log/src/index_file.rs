//! A file of fixed-size entries, mmapped: the storage under the offset and time indexes.
//!
//! The file may be longer than its entries (the active segment's index is preallocated to
//! `segment.index.bytes`, as Kafka does, and trimmed when the segment is sealed); `len` is the
//! count of valid entries and is known from the caller (a rebuild, or `file length / entry size`
//! for a trimmed file). Not synchronized: the owning segment is behind the partition's lock.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::MmapMut;

use crate::error::LogError;
use crate::mmap::map_mut;

pub(crate) struct IndexFile {
    path: PathBuf,
    file: Arc<File>,
    map: Option<MmapMut>,
    entry_bytes: usize,
    entries: usize,
}

impl IndexFile {
    /// Opens (creating if missing) an index file; every whole entry in the file counts as valid.
    pub(crate) fn open(path: &Path, entry_bytes: usize) -> Result<IndexFile, LogError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| LogError::io("open index", path, e))?;
        let file_len = file.metadata().map_err(|e| LogError::io("stat index", path, e))?.len();
        let file_len = usize::try_from(file_len).unwrap_or(usize::MAX);
        let mut index = IndexFile {
            path: path.to_path_buf(),
            file: Arc::new(file),
            map: None,
            entry_bytes,
            entries: file_len / entry_bytes,
        };
        index.remap(file_len)?;
        Ok(index)
    }

    fn remap(&mut self, file_len: usize) -> Result<(), LogError> {
        self.map = None;
        let usable = file_len - file_len % self.entry_bytes;
        if usable > 0 {
            let map = map_mut(&self.file, usable).map_err(|e| LogError::io("mmap index", &self.path, e))?;
            self.map = Some(map);
        }
        Ok(())
    }

    /// Resizes the file to `bytes` (never below the valid entries) and maps it again.
    pub(crate) fn set_capacity_bytes(&mut self, bytes: usize) -> Result<(), LogError> {
        let bytes = bytes.max(self.entries * self.entry_bytes);
        let bytes = bytes - bytes % self.entry_bytes;
        if self.map.as_ref().map_or(0, |m| m.len()) == bytes {
            return Ok(());
        }
        self.map = None; // never resize a mapped file (see mmap.rs)
        self.file.set_len(bytes as u64).map_err(|e| LogError::io("resize index", &self.path, e))?;
        self.remap(bytes)
    }

    /// Shrinks the file to exactly its valid entries.
    pub(crate) fn trim(&mut self) -> Result<(), LogError> {
        self.set_capacity_bytes(self.entries * self.entry_bytes)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    pub(crate) fn capacity(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len()) / self.entry_bytes
    }

    pub(crate) fn entry(&self, i: usize) -> Option<&[u8]> {
        if i >= self.entries {
            return None;
        }
        let start = i * self.entry_bytes;
        self.map.as_ref()?.get(start..start + self.entry_bytes)
    }

    pub(crate) fn last_entry(&self) -> Option<&[u8]> {
        self.entries.checked_sub(1).and_then(|i| self.entry(i))
    }

    /// Appends one entry; false when the file is full (the caller rolls before that happens).
    pub(crate) fn push(&mut self, entry: &[u8]) -> bool {
        debug_assert_eq!(entry.len(), self.entry_bytes);
        let start = self.entries * self.entry_bytes;
        let Some(slot) = self.map.as_mut().and_then(|m| m.get_mut(start..start + entry.len())) else {
            return false;
        };
        slot.copy_from_slice(entry);
        self.entries += 1;
        true
    }

    /// Number of leading entries for which `pred` holds (entries must be partitioned by it, as
    /// sorted indexes are): a binary search.
    pub(crate) fn partition_point(&self, pred: impl Fn(&[u8]) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid) {
                Some(e) if pred(e) => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }

    /// Forgets entries from `n` on.
    pub(crate) fn truncate(&mut self, n: usize) {
        self.entries = self.entries.min(n);
    }

    /// The file, for fsync jobs.
    pub(crate) fn file(&self) -> &Arc<File> {
        &self.file
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn push_trim_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let mut index = IndexFile::open(&path, 8).unwrap();
        assert_eq!((index.len(), index.capacity()), (0, 0));
        assert!(!index.push(&[1; 8]), "no room before capacity is set");
        index.set_capacity_bytes(8 * 4 + 3).unwrap();
        assert_eq!(index.capacity(), 4);
        for i in 0..4u8 {
            assert!(index.push(&[i; 8]));
        }
        assert!(!index.push(&[9; 8]));
        index.truncate(3);
        index.trim().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 24);
        drop(index);
        let index = IndexFile::open(&path, 8).unwrap();
        assert_eq!(index.len(), 3);
        assert_eq!(index.entry(2), Some(&[2u8; 8][..]));
        assert_eq!(index.entry(3), None);
    }

    #[test]
    fn partial_trailing_entry_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.timeindex");
        std::fs::write(&path, [7u8; 12 * 2 + 5]).unwrap();
        let index = IndexFile::open(&path, 12).unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(index.entry(1), Some(&[7u8; 12][..]));
    }
}
