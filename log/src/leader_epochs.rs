//! The leader epoch cache (Kafka's `LeaderEpochFileCache` and its `leader-epoch-checkpoint`): for
//! each leader epoch found in the log, the offset of its first batch. It answers
//! OffsetsForLeaderEpoch ([`LeaderEpochs::end_offset_for`]), by which a replica that follows a new
//! leader finds where its log and the leader's part, so a divergent tail never survives.
//!
//! The file is Kafka's text layout (`0`, the entry count, then `epoch start_offset` lines),
//! replaced whole. A new epoch is written to it before the batch that starts it is queued, so
//! after a crash it may name an epoch whose batch never reached the disk (dropped at open, when
//! the cache is cut at the recovered log end), never lack one the log holds. A partition from
//! before the file existed (or with a damaged file) rebuilds it from the batch headers.

use std::fs::File;
use std::path::Path;

use crate::checkpoint::write_atomic;
use crate::error::LogError;
use crate::scan::{Scanner, Step};

pub(crate) const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";
const FORMAT_VERSION: &str = "0";

/// Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_OFFSET: i64 = -1;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LeaderEpochs {
    /// `(epoch, start offset)`, both strictly increasing.
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochs {
    /// The epochs of the file in `dir`; `None` when it is missing or damaged.
    pub(crate) fn read(dir: &Path) -> Option<LeaderEpochs> {
        let text = std::fs::read_to_string(dir.join(LEADER_EPOCH_FILE)).ok()?;
        let mut lines = text.lines();
        if lines.next()? != FORMAT_VERSION {
            return None;
        }
        let count: usize = lines.next()?.trim().parse().ok()?;
        let mut epochs = LeaderEpochs::default();
        for line in lines.by_ref().take(count) {
            let (epoch, start) = line.split_once(' ')?;
            let (epoch, start) = (epoch.trim().parse().ok()?, start.trim().parse().ok()?);
            if !epochs.assign(epoch, start) {
                return None; // not increasing: not a file this code wrote
            }
        }
        (epochs.entries.len() == count).then_some(epochs)
    }

    /// Rebuilds the epochs from the batch headers of `files` (each a segment's log file and its
    /// size, in offset order).
    pub(crate) fn scan<'a>(files: impl Iterator<Item = (&'a File, u64)>) -> std::io::Result<LeaderEpochs> {
        let mut epochs = LeaderEpochs::default();
        for (file, size) in files {
            let mut scanner = Scanner::new(file, 0, size, false, None);
            while let Step::Batch { header, .. } = scanner.next_step()? {
                epochs.assign(header.partition_leader_epoch, header.base_offset);
            }
        }
        Ok(epochs)
    }

    /// Replaces the file in `dir` with these epochs, durably.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), LogError> {
        let mut text = format!("{FORMAT_VERSION}\n{}\n", self.entries.len());
        for (epoch, start) in &self.entries {
            text.push_str(&format!("{epoch} {start}\n"));
        }
        write_atomic(&dir.join(LEADER_EPOCH_FILE), text.as_bytes(), true)
    }

    /// Records that a batch of `epoch` starts at `start`; true if that is a new epoch (one above
    /// every epoch seen). A batch of an older or the current epoch changes nothing.
    pub(crate) fn assign(&mut self, epoch: i32, start: i64) -> bool {
        if epoch < 0 || self.entries.last().is_some_and(|(last, at)| epoch <= *last || start < *at) {
            return false;
        }
        self.entries.push((epoch, start));
        true
    }

    /// Drops the epochs that start at or after `end` (the log was cut there); true if any went.
    pub(crate) fn truncate_from_end(&mut self, end: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(_, start)| *start < end);
        self.entries.len() != before
    }

    /// Forgets every epoch: the log restarts empty at some offset.
    pub(crate) fn clear(&mut self) -> bool {
        let had = !self.entries.is_empty();
        self.entries.clear();
        had
    }

    /// The newest epoch in the log.
    pub(crate) fn latest(&self) -> Option<i32> {
        self.entries.last().map(|(epoch, _)| *epoch)
    }

    /// Kafka's `endOffsetFor`: the largest epoch at or below `requested` and the offset where
    /// the next epoch starts (`log_end` for the newest one): a replica whose log holds `requested`
    /// keeps nothing of it from that offset on. A `requested` epoch below every epoch known gives
    /// it back with the first epoch's start; one above the newest, or an empty cache, gives the
    /// undefined pair.
    pub(crate) fn end_offset_for(&self, requested: i32, log_end: i64) -> (i32, i64) {
        let undefined = (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        let Some(&(latest, _)) = self.entries.last() else { return undefined };
        if requested == latest {
            return (latest, log_end);
        }
        if requested > latest || requested < 0 {
            return undefined;
        }
        let next = self.entries.partition_point(|(epoch, _)| *epoch <= requested);
        let next_start = self.entries[next].1;
        match next.checked_sub(1) {
            Some(found) => (self.entries[found].0, next_start),
            None => (requested, next_start),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epochs(entries: &[(i32, i64)]) -> LeaderEpochs {
        let mut e = LeaderEpochs::default();
        for (epoch, start) in entries {
            assert!(e.assign(*epoch, *start));
        }
        e
    }

    #[test]
    fn end_offsets_follow_kafkas_rules() {
        let e = epochs(&[(1, 0), (3, 10), (4, 25)]);
        assert_eq!(e.end_offset_for(4, 40), (4, 40));
        assert_eq!(e.end_offset_for(3, 40), (3, 25));
        assert_eq!(e.end_offset_for(2, 40), (1, 10), "an epoch this log never had ends where the next starts");
        assert_eq!(e.end_offset_for(0, 40), (0, 0), "below every epoch: the first one's start");
        assert_eq!(e.end_offset_for(5, 40), (UNDEFINED_EPOCH, UNDEFINED_OFFSET));
        assert_eq!(LeaderEpochs::default().end_offset_for(0, 0), (UNDEFINED_EPOCH, UNDEFINED_OFFSET));
    }

    #[test]
    fn only_new_epochs_are_assigned_and_truncation_drops_the_tail() {
        let mut e = epochs(&[(1, 0), (2, 5)]);
        assert!(!e.assign(2, 9), "the current epoch again");
        assert!(!e.assign(1, 9), "an older epoch");
        assert!(e.assign(3, 9));
        assert!(e.truncate_from_end(5));
        assert_eq!(e, epochs(&[(1, 0)]));
        assert!(!e.truncate_from_end(5));
        assert_eq!(e.latest(), Some(1));
    }

    #[test]
    fn the_file_round_trips_and_damage_reads_as_none() {
        let dir = tempfile::tempdir().expect("dir");
        let e = epochs(&[(0, 0), (7, 100)]);
        e.write(dir.path()).expect("write");
        assert_eq!(LeaderEpochs::read(dir.path()), Some(e));
        std::fs::write(dir.path().join(LEADER_EPOCH_FILE), "0\n2\n0 0\n").expect("damage");
        assert_eq!(LeaderEpochs::read(dir.path()), None);
        std::fs::write(dir.path().join(LEADER_EPOCH_FILE), "0\n2\n5 0\n3 9\n").expect("damage");
        assert_eq!(LeaderEpochs::read(dir.path()), None);
    }
}
