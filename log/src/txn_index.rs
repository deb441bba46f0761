//! A segment's aborted-transaction index, `<base>.txnindex`: one entry per transaction aborted by a
//! marker in that segment, in Kafka's layout (`AbortedTxn`, `TransactionIndex`), 34 bytes each:
//!
//! ```text
//! version i16 (0)  producerId i64  firstOffset i64  lastOffset i64 (the marker)  lastStableOffset i64
//! ```
//!
//! Entries come in marker order. They are kept in memory (aborts are rare) and appended to the
//! file as the marker's write completes; the file is fsynced with the segment (at seal and clean
//! close), so like the offset index it is trusted only below the recovery point and after a clean
//! shutdown, and otherwise rebuilt from the batches (a missing or torn file is rebuilt too). The
//! file is opened for each change rather than held, so a segment still holds three descriptors.
//! Not synchronized: it lives in its segment, behind the partition's lock.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::checkpoint::write_atomic;
use crate::error::LogError;
use crate::io::power_cut;
use crate::producer_state::CompletedTxn;

/// Bytes of one entry.
pub(crate) const ENTRY_BYTES: usize = 34;
const VERSION: i16 = 0;

/// One aborted transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AbortedTxn {
    pub(crate) producer_id: i64,
    pub(crate) first_offset: i64,
    /// Offset of the abort marker.
    pub(crate) last_offset: i64,
    /// The last stable offset once the marker went in (Kafka's `lastStableOffset`): the first
    /// offset of the earliest transaction still open, or the marker's offset + 1.
    pub(crate) last_stable_offset: i64,
}

impl AbortedTxn {
    /// The entry for a completed transaction, if it was aborted.
    pub(crate) fn of(done: &CompletedTxn) -> Option<AbortedTxn> {
        done.aborted.then_some(AbortedTxn {
            producer_id: done.producer_id,
            first_offset: done.first_offset,
            last_offset: done.last_offset,
            last_stable_offset: done.last_stable_offset,
        })
    }

    fn encode(&self) -> [u8; ENTRY_BYTES] {
        let mut out = [0u8; ENTRY_BYTES];
        out[0..2].copy_from_slice(&VERSION.to_be_bytes());
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    fn decode(entry: &[u8; ENTRY_BYTES]) -> Option<AbortedTxn> {
        let i64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&entry[at..at + 8]);
            i64::from_be_bytes(b)
        };
        (i16::from_be_bytes([entry[0], entry[1]]) == VERSION).then(|| AbortedTxn {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        })
    }
}

pub(crate) struct TxnIndex {
    path: PathBuf,
    entries: Vec<AbortedTxn>,
}

impl TxnIndex {
    /// A new, empty index file at `path` (a segment being created).
    pub(crate) fn create(path: &Path) -> Result<TxnIndex, LogError> {
        std::fs::File::create(path).map_err(|e| LogError::io("create txn index", path, e))?;
        Ok(TxnIndex { path: path.to_path_buf(), entries: Vec::new() })
    }

    /// Loads the index at `path` of the segment at `base`; the flag says whether it is sound
    /// (present, whole entries of version 0, markers in order and in the segment). An unsound one
    /// loads empty and the caller rebuilds it.
    pub(crate) fn open(path: &Path, base: i64) -> Result<(TxnIndex, bool), LogError> {
        let empty = TxnIndex { path: path.to_path_buf(), entries: Vec::new() };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((empty, false)),
            Err(e) => return Err(LogError::io("read txn index", path, e)),
        };
        if bytes.len() % ENTRY_BYTES != 0 {
            return Ok((empty, false));
        }
        let mut entries = Vec::with_capacity(bytes.len() / ENTRY_BYTES);
        let mut after = base;
        for chunk in bytes.chunks_exact(ENTRY_BYTES) {
            let Some(entry) = chunk.try_into().ok().and_then(AbortedTxn::decode) else { return Ok((empty, false)) };
            if entry.last_offset < after || entry.first_offset > entry.last_offset {
                return Ok((empty, false));
            }
            after = entry.last_offset;
            entries.push(entry);
        }
        Ok((TxnIndex { path: path.to_path_buf(), entries }, true))
    }

    #[cfg(test)]
    pub(crate) fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    /// Appends one entry to the file (not fsynced: see the module docs).
    pub(crate) fn push(&mut self, entry: AbortedTxn) -> std::io::Result<()> {
        let file = OpenOptions::new().write(true).create(true).truncate(false).open(&self.path)?;
        let position = (self.entries.len() * ENTRY_BYTES) as u64;
        file.write_all_at(&entry.encode(), position)?;
        self.entries.push(entry);
        Ok(())
    }

    /// Replaces every entry (a rebuild), writing the file only if they changed; with `sync` the
    /// new file is durable before this returns.
    pub(crate) fn replace(&mut self, entries: Vec<AbortedTxn>, sync: bool) -> Result<(), LogError> {
        if entries == self.entries && self.path.exists() {
            return Ok(());
        }
        write_atomic(&self.path, &encode_all(&entries), sync)?;
        self.entries = entries;
        Ok(())
    }

    /// Drops the entries of markers at or after `offset` (Kafka's `truncateTo`).
    pub(crate) fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        let mut kept = self.entries.clone();
        kept.retain(|e| e.last_offset < offset);
        self.replace(kept, false)
    }

    /// The file, opened for an fsync job, when it holds entries (an empty file has nothing to
    /// lose).
    pub(crate) fn file_to_sync(&self) -> Result<Option<Arc<std::fs::File>>, LogError> {
        if self.entries.is_empty() {
            return Ok(None);
        }
        let file = std::fs::File::open(&self.path).map_err(|e| LogError::io("open txn index", &self.path, e))?;
        Ok(Some(Arc::new(file)))
    }

    /// fsyncs the file now (a clean close).
    pub(crate) fn sync(&self) -> Result<(), LogError> {
        if let Some(file) = self.file_to_sync()? {
            file.sync_data().map_err(|e| LogError::io("fsync txn index", &self.path, e))?;
            power_cut::file_synced(&file);
        }
        Ok(())
    }

    /// Adds to `out` every entry whose transaction overlaps `[fetch_offset, upper_offset)`; true
    /// when no later segment can hold another one (an entry here was aborted after the whole range
    /// was stable), as Kafka's `TxnIndexSearchResult.isComplete`.
    pub(crate) fn collect(&self, fetch_offset: i64, upper_offset: i64, out: &mut Vec<AbortedTxn>) -> bool {
        for entry in &self.entries {
            if entry.last_offset >= fetch_offset && entry.first_offset < upper_offset {
                out.push(*entry);
            }
            if entry.last_stable_offset >= upper_offset {
                return true;
            }
        }
        false
    }
}

fn encode_all(entries: &[AbortedTxn]) -> Vec<u8> {
    entries.iter().flat_map(AbortedTxn::encode).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
        AbortedTxn { producer_id: pid, first_offset: first, last_offset: last, last_stable_offset: lso }
    }

    #[test]
    fn the_layout_is_kafkas() {
        let bytes = txn(0x0102, 3, 9, 10).encode();
        let mut want = vec![0u8, 0];
        for v in [0x0102i64, 3, 9, 10] {
            want.extend(v.to_be_bytes());
        }
        assert_eq!(bytes.to_vec(), want);
    }

    #[test]
    fn push_reopen_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000100.txnindex");
        let mut index = TxnIndex::create(&path).unwrap();
        index.push(txn(1, 100, 105, 106)).unwrap();
        index.push(txn(2, 101, 110, 111)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 68);
        let (again, sound) = TxnIndex::open(&path, 100).unwrap();
        assert!(sound);
        assert_eq!(again.entries(), index.entries());
        index.truncate_to(110).unwrap();
        assert_eq!(index.entries(), &[txn(1, 100, 105, 106)]);
        assert_eq!(TxnIndex::open(&path, 100).unwrap().0.entries(), &[txn(1, 100, 105, 106)]);
    }

    #[test]
    fn missing_torn_or_garbled_files_are_unsound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.txnindex");
        assert!(!TxnIndex::open(&path, 0).unwrap().1);
        let mut good = txn(1, 5, 9, 10).encode().to_vec();
        std::fs::write(&path, &good[..20]).unwrap();
        assert!(!TxnIndex::open(&path, 0).unwrap().1);
        good[0] = 7; // version
        std::fs::write(&path, &good).unwrap();
        assert!(!TxnIndex::open(&path, 0).unwrap().1);
        std::fs::write(&path, txn(1, 5, 9, 10).encode()).unwrap();
        assert!(!TxnIndex::open(&path, 20).unwrap().1, "a marker below the segment base");
        let (index, sound) = TxnIndex::open(&path, 0).unwrap();
        assert!(sound);
        assert_eq!(index.entries().len(), 1);
    }

    #[test]
    fn collect_finds_overlapping_transactions_and_stops_when_complete() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TxnIndex::create(&dir.path().join("x.txnindex")).unwrap();
        index.push(txn(1, 0, 10, 5)).unwrap(); // another txn was open from 5
        index.push(txn(2, 5, 20, 21)).unwrap();
        let mut out = Vec::new();
        assert!(!index.collect(11, 30, &mut out));
        assert_eq!(out, vec![txn(2, 5, 20, 21)]);
        out.clear();
        assert!(index.collect(0, 5, &mut out));
        assert_eq!(out, vec![txn(1, 0, 10, 5)]);
        out.clear();
        assert!(index.collect(21, 21, &mut out));
        assert!(out.is_empty());
    }
}
