//! Idempotent- and transactional-producer state of one partition: per producer id, its epoch, the
//! sequence ranges and offsets of its last five batches, the coordinator epoch of its last
//! end-transaction marker and the first offset of its open transaction, as in Kafka's
//! `ProducerStateManager`.
//!
//! `check` decides a new batch's fate (append, duplicate with the original offsets, or refuse) and
//! `record` remembers an appended batch; both run under the partition's append lock, with offset
//! assignment. A transactional data batch opens a transaction if its producer has none open; a
//! marker (control batch) closes it and `record` returns the completed transaction. Markers carry
//! no sequence numbers and are never duplicates; one with an older producer epoch is refused, one
//! with a newer epoch bumps it. The open transactions are also kept ordered by first offset, so
//! the first unstable offset is one lookup. The state is rebuilt from batches on recovery and
//! snapshotted to a small checksummed file on clean shutdown and at segment rolls.

use std::collections::{BTreeSet, HashMap, VecDeque};

use strata_wire::batch::BatchHeader;
use strata_wire::control::Marker;

use crate::config::PRODUCERS_MAX;
use crate::error::AppendError;
use crate::partition::AppendOrigin;

/// Batches remembered per producer (Kafka's `NUM_BATCHES_TO_RETAIN`).
pub(crate) const BATCHES_PER_PRODUCER_MAX: usize = 5;
const NO_PRODUCER_ID: i64 = -1;
const NO_EPOCH: i16 = -1;
const NO_COORDINATOR_EPOCH: i32 = -1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchMeta {
    pub(crate) first_seq: i32,
    pub(crate) last_seq: i32,
    pub(crate) first_offset: i64,
    pub(crate) last_offset: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProducerEntry {
    pub(crate) epoch: i16,
    pub(crate) batches: VecDeque<BatchMeta>,
    /// Coordinator epoch of the last marker (-1 before any).
    pub(crate) coordinator_epoch: i32,
    /// First offset of the open transaction.
    pub(crate) txn_first_offset: Option<i64>,
    /// Last offset of the producer's last batch or marker (-1 before any).
    pub(crate) last_offset: i64,
    /// Largest timestamp of the producer's last batch or marker (-1 before any).
    pub(crate) last_timestamp: i64,
}

impl ProducerEntry {
    fn new(epoch: i16) -> ProducerEntry {
        ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            coordinator_epoch: NO_COORDINATOR_EPOCH,
            txn_first_offset: None,
            last_offset: -1,
            last_timestamp: -1,
        }
    }
}

/// A transaction a marker ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompletedTxn {
    pub(crate) producer_id: i64,
    pub(crate) first_offset: i64,
    /// The marker's offset.
    pub(crate) last_offset: i64,
    pub(crate) aborted: bool,
    /// The first offset of the earliest transaction still open, or the marker's offset + 1
    /// (Kafka's `lastStableOffset(completedTxn)`).
    pub(crate) last_stable_offset: i64,
}

/// What `check` says about a batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Append,
    Duplicate { base_offset: i64, last_offset: i64 },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
    /// `(first offset, producer id)` of every open transaction.
    open_txns: BTreeSet<(i64, i64)>,
}

/// The sequence after `seq` advanced by `delta` records, wrapping as Kafka does.
fn add_seq(seq: i32, delta: i32) -> i32 {
    if seq > i32::MAX - delta { delta - (i32::MAX - seq) - 1 } else { seq + delta }
}

fn last_seq(header: &BatchHeader) -> i32 {
    add_seq(header.base_sequence, header.last_offset_delta.max(0))
}

impl ProducerState {
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.producers.len()
    }

    #[cfg(test)]
    pub(crate) fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// The first offset of the earliest open transaction: the last stable offset, unless the
    /// high watermark is lower.
    pub(crate) fn first_open_txn(&self) -> Option<i64> {
        self.open_txns.first().map(|(first, _)| *first)
    }

    /// Every producer and its entry, in no particular order (DescribeProducers).
    pub(crate) fn entries(&self) -> impl Iterator<Item = (i64, &ProducerEntry)> {
        self.producers.iter().map(|(id, entry)| (*id, entry))
    }

    /// The epoch and first offset of `producer_id`'s open transaction, if it has one.
    pub(crate) fn open_txn_of(&self, producer_id: i64) -> Option<(i16, i64)> {
        self.producers.get(&producer_id).and_then(|entry| entry.txn_first_offset.map(|first| (entry.epoch, first)))
    }

    /// Checks a batch against the state (no change is made); `marker` is the parsed marker of a
    /// control batch. A client's data batch is checked fully, a coordinator's (see
    /// [`AppendOrigin`]) for its epoch only.
    pub(crate) fn check(
        &self,
        header: &BatchHeader,
        marker: Option<&Marker>,
        origin: AppendOrigin,
    ) -> Result<Verdict, AppendError> {
        let pid = header.producer_id;
        if pid == NO_PRODUCER_ID || origin == AppendOrigin::Replication {
            // A leader's batches were checked when the leader appended them.
            return Ok(Verdict::Append);
        }
        let Some(entry) = self.producers.get(&pid) else {
            // Unknown producer (new, or its state expired with retention): accept any sequence.
            return Ok(Verdict::Append);
        };
        if header.producer_epoch < entry.epoch {
            return Err(AppendError::InvalidProducerEpoch {
                producer_id: pid,
                epoch: header.producer_epoch,
                current: entry.epoch,
            });
        }
        if let Some(marker) = marker {
            if marker.coordinator_epoch < entry.coordinator_epoch {
                return Err(AppendError::CoordinatorFenced {
                    producer_id: pid,
                    coordinator_epoch: marker.coordinator_epoch,
                    current: entry.coordinator_epoch,
                });
            }
            return Ok(Verdict::Append);
        }
        if !header.is_transactional() && entry.txn_first_offset.is_some() {
            // Kafka's ProducerAppendInfo: non-transactional data while a transaction is open.
            return Err(AppendError::InvalidTxnState { producer_id: pid });
        }
        if origin == AppendOrigin::Coordinator {
            return Ok(Verdict::Append);
        }
        if header.producer_epoch != entry.epoch {
            if header.base_sequence != 0 && entry.epoch != NO_EPOCH {
                return Err(AppendError::OutOfOrderSequence {
                    producer_id: pid,
                    expected: 0,
                    got: header.base_sequence,
                });
            }
            return Ok(Verdict::Append);
        }
        let last = last_seq(header);
        if let Some(dup) = entry.batches.iter().find(|b| b.first_seq == header.base_sequence && b.last_seq == last) {
            return Ok(Verdict::Duplicate { base_offset: dup.first_offset, last_offset: dup.last_offset });
        }
        // An epoch with no batch yet (a marker bumped it, KIP-890) starts at sequence 0, as
        // Kafka's `ProducerAppendInfo.checkSequence` has it: a later batch whose first was refused
        // must not open the epoch in the middle.
        let expected = entry.batches.back().map_or(0, |latest| add_seq(latest.last_seq, 1));
        if header.base_sequence != expected {
            return Err(AppendError::OutOfOrderSequence { producer_id: pid, expected, got: header.base_sequence });
        }
        Ok(Verdict::Append)
    }

    /// Remembers a batch that was appended (or replayed from the log) with its assigned offsets;
    /// `marker` is the parsed marker of a control batch. Returns the transaction a marker ended.
    pub(crate) fn record(&mut self, header: &BatchHeader, marker: Option<&Marker>) -> Option<CompletedTxn> {
        let pid = header.producer_id;
        if pid == NO_PRODUCER_ID {
            return None;
        }
        if !self.producers.contains_key(&pid) && self.producers.len() >= PRODUCERS_MAX {
            self.evict_oldest();
        }
        let entry = self.producers.entry(pid).or_insert_with(|| ProducerEntry::new(header.producer_epoch));
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        entry.last_offset = header.last_offset();
        entry.last_timestamp = header.max_timestamp;
        if let Some(marker) = marker {
            entry.coordinator_epoch = marker.coordinator_epoch;
            let first_offset = entry.txn_first_offset.take()?;
            self.open_txns.remove(&(first_offset, pid));
            let last_offset = header.base_offset;
            return Some(CompletedTxn {
                producer_id: pid,
                first_offset,
                last_offset,
                aborted: !marker.commit,
                last_stable_offset: self.first_open_txn().unwrap_or(last_offset.saturating_add(1)),
            });
        }
        if header.is_transactional() && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(header.base_offset);
            self.open_txns.insert((header.base_offset, pid));
        }
        if entry.batches.len() >= BATCHES_PER_PRODUCER_MAX {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMeta {
            first_seq: header.base_sequence,
            last_seq: last_seq(header),
            first_offset: header.base_offset,
            last_offset: header.last_offset(),
        });
        None
    }

    /// Makes room for a new producer: forgets the one written longest ago that has no open
    /// transaction (its transaction would otherwise never end for the last stable offset).
    fn evict_oldest(&mut self) {
        let oldest = self
            .producers
            .iter()
            .filter(|(_, e)| e.txn_first_offset.is_none())
            .min_by_key(|(_, e)| e.last_offset)
            .map(|(pid, _)| *pid);
        if let Some(pid) = oldest {
            self.producers.remove(&pid);
        }
    }

    /// Forgets producers whose last batch is below the new log start (retention, delete_records),
    /// their open transactions with them.
    pub(crate) fn remove_before(&mut self, log_start: i64) {
        self.producers.retain(|_, e| e.last_offset >= log_start);
        let producers = &self.producers;
        self.open_txns.retain(|(_, pid)| producers.contains_key(pid));
    }

    /// Snapshot bytes: entries, then a CRC32C of everything before it.
    pub(crate) fn encode(&self, offset: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.producers.len() * 64);
        out.extend_from_slice(&SNAPSHOT_MAGIC_V3.to_be_bytes());
        out.extend_from_slice(&offset.to_be_bytes());
        out.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut pids: Vec<_> = self.producers.keys().copied().collect();
        pids.sort_unstable();
        for pid in pids {
            let Some(e) = self.producers.get(&pid) else { continue };
            out.extend_from_slice(&pid.to_be_bytes());
            out.extend_from_slice(&e.epoch.to_be_bytes());
            out.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
            out.extend_from_slice(&e.txn_first_offset.unwrap_or(-1).to_be_bytes());
            out.extend_from_slice(&e.last_offset.to_be_bytes());
            out.extend_from_slice(&e.last_timestamp.to_be_bytes());
            out.push(e.batches.len() as u8);
            for b in &e.batches {
                out.extend_from_slice(&b.first_seq.to_be_bytes());
                out.extend_from_slice(&b.last_seq.to_be_bytes());
                out.extend_from_slice(&b.first_offset.to_be_bytes());
                out.extend_from_slice(&b.last_offset.to_be_bytes());
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Parses a snapshot (any format version): `(offset it was taken at, state)`, or `None` if
    /// it is damaged.
    pub(crate) fn decode(buf: &[u8]) -> Option<(i64, ProducerState)> {
        let (body, crc) = buf.split_at_checked(buf.len().checked_sub(4)?)?;
        if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().ok()?) {
            return None;
        }
        let mut r = Reader(body);
        let format = match r.u32()? {
            SNAPSHOT_MAGIC_V1 => 1,
            SNAPSHOT_MAGIC_V2 => 2,
            SNAPSHOT_MAGIC_V3 => 3,
            _ => return None,
        };
        let v2 = format >= 2;
        let offset = r.i64()?;
        let count = r.u32()? as usize;
        if count > PRODUCERS_MAX {
            return None;
        }
        let mut state = ProducerState::default();
        for _ in 0..count {
            let pid = r.i64()?;
            let mut entry = ProducerEntry::new(r.i16()?);
            if v2 {
                entry.coordinator_epoch = r.i32()?;
                let first = r.i64()?;
                entry.txn_first_offset = (first >= 0).then_some(first);
                entry.last_offset = r.i64()?;
            }
            if format >= 3 {
                entry.last_timestamp = r.i64()?;
            }
            let n = usize::from(r.u8()?);
            if n > BATCHES_PER_PRODUCER_MAX {
                return None;
            }
            for _ in 0..n {
                entry.batches.push_back(BatchMeta {
                    first_seq: r.i32()?,
                    last_seq: r.i32()?,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                });
            }
            if !v2 {
                entry.last_offset = entry.batches.back().map_or(-1, |b| b.last_offset);
            }
            if let Some(first) = entry.txn_first_offset {
                state.open_txns.insert((first, pid));
            }
            state.producers.insert(pid, entry);
        }
        r.0.is_empty().then_some((offset, state))
    }
}

/// Format 1: no transaction fields.
const SNAPSHOT_MAGIC_V1: u32 = 0x5354_5053; // "STPS"
/// Format 2: each producer also carries its coordinator epoch, open transaction's first offset
/// (-1: none) and last offset, after its epoch.
const SNAPSHOT_MAGIC_V2: u32 = 0x5354_5032; // "STP2"
/// Format 3: each producer also carries its last batch's largest timestamp, after its last offset.
const SNAPSHOT_MAGIC_V3: u32 = 0x5354_5033; // "STP3"

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn i16(&mut self) -> Option<i16> {
        self.take().map(i16::from_be_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_be_bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, base_offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: count,
        }
    }

    #[test]
    fn in_order_duplicate_and_gap() {
        let mut s = ProducerState::default();
        let b0 = header(7, 1, 0, 3, 0);
        assert_eq!(s.check(&b0, None, AppendOrigin::Client).unwrap(), Verdict::Append);
        s.record(&b0, None);
        let b1 = header(7, 1, 3, 2, 3);
        assert_eq!(s.check(&b1, None, AppendOrigin::Client).unwrap(), Verdict::Append);
        s.record(&b1, None);
        assert_eq!(
            s.check(&header(7, 1, 0, 3, 99), None, AppendOrigin::Client).unwrap(),
            Verdict::Duplicate { base_offset: 0, last_offset: 2 }
        );
        assert!(matches!(
            s.check(&header(7, 1, 9, 1, 99), None, AppendOrigin::Client),
            Err(AppendError::OutOfOrderSequence { expected: 5, got: 9, .. })
        ));
        assert!(matches!(
            s.check(&header(7, 0, 5, 1, 99), None, AppendOrigin::Client),
            Err(AppendError::InvalidProducerEpoch { .. })
        ));
        // A new epoch starts at sequence 0.
        assert!(matches!(
            s.check(&header(7, 2, 5, 1, 99), None, AppendOrigin::Client),
            Err(AppendError::OutOfOrderSequence { .. })
        ));
        assert_eq!(s.check(&header(7, 2, 0, 1, 99), None, AppendOrigin::Client).unwrap(), Verdict::Append);
        // A coordinator's batch in the producer's name: no sequence checks, the epoch still.
        assert_eq!(s.check(&header(7, 1, 0, 3, 99), None, AppendOrigin::Coordinator).unwrap(), Verdict::Append);
        assert_eq!(s.check(&header(7, 1, 9, 1, 99), None, AppendOrigin::Coordinator).unwrap(), Verdict::Append);
        assert!(matches!(
            s.check(&header(7, 0, 0, 1, 99), None, AppendOrigin::Coordinator),
            Err(AppendError::InvalidProducerEpoch { .. })
        ));
        // Non-idempotent batches are never checked.
        assert_eq!(s.check(&header(-1, -1, -1, 1, 0), None, AppendOrigin::Client).unwrap(), Verdict::Append);
    }

    #[test]
    fn only_five_batches_are_remembered_and_sequences_wrap() {
        let mut s = ProducerState::default();
        for i in 0..7 {
            s.record(&header(1, 0, i, 1, i64::from(i)), None);
        }
        assert_eq!(s.get(1).unwrap().batches.len(), BATCHES_PER_PRODUCER_MAX);
        assert!(matches!(
            s.check(&header(1, 0, 1, 1, 0), None, AppendOrigin::Client),
            Err(AppendError::OutOfOrderSequence { .. })
        ));
        assert_eq!(
            s.check(&header(1, 0, 6, 1, 0), None, AppendOrigin::Client).unwrap(),
            Verdict::Duplicate { base_offset: 6, last_offset: 6 }
        );
        let mut w = ProducerState::default();
        w.record(&header(2, 0, i32::MAX - 1, 2, 0), None);
        assert_eq!(w.get(2).unwrap().batches[0].last_seq, i32::MAX);
        assert_eq!(w.check(&header(2, 0, 0, 1, 2), None, AppendOrigin::Client).unwrap(), Verdict::Append);
    }

    #[test]
    fn snapshot_round_trip_and_damage() {
        let mut s = ProducerState::default();
        for pid in 0..50 {
            s.record(&BatchHeader { max_timestamp: 1_000 + pid, ..header(pid, 3, 10, 4, pid * 10) }, None);
        }
        assert_eq!(s.get(7).map(|e| e.last_timestamp), Some(1_007), "the batch's largest timestamp");
        let bytes = s.encode(500);
        assert_eq!(ProducerState::decode(&bytes), Some((500, s.clone())));
        for cut in 0..bytes.len() {
            assert_eq!(ProducerState::decode(&bytes[..cut]), None);
        }
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert_eq!(ProducerState::decode(&bad), None);
        s.remove_before(250);
        assert_eq!(s.len(), 25);
    }

    fn txn(pid: i64, epoch: i16, seq: i32, count: i32, base_offset: i64) -> BatchHeader {
        BatchHeader { attributes: 1 << 4, ..header(pid, epoch, seq, count, base_offset) }
    }

    fn marker_header(pid: i64, epoch: i16, offset: i64) -> BatchHeader {
        BatchHeader { attributes: (1 << 4) | (1 << 5), ..header(pid, epoch, -1, 1, offset) }
    }

    fn marker(pid: i64, epoch: i16, coordinator_epoch: i32, commit: bool) -> Marker {
        Marker { producer_id: pid, producer_epoch: epoch, coordinator_epoch, commit }
    }

    #[test]
    fn transactions_open_at_their_first_batch_and_close_at_a_marker() {
        let mut s = ProducerState::default();
        assert_eq!(s.first_open_txn(), None);
        s.record(&txn(1, 0, 0, 2, 10), None);
        s.record(&txn(2, 0, 0, 1, 12), None);
        s.record(&txn(1, 0, 2, 1, 13), None); // same transaction: first offset stays 10
        assert_eq!(s.get(1).unwrap().txn_first_offset, Some(10));
        assert_eq!(s.first_open_txn(), Some(10));
        let m = marker(1, 0, 3, false);
        assert_eq!(s.check(&marker_header(1, 0, 14), Some(&m), AppendOrigin::Client).unwrap(), Verdict::Append);
        let done = s.record(&marker_header(1, 0, 14), Some(&m)).unwrap();
        assert_eq!(
            done,
            CompletedTxn { producer_id: 1, first_offset: 10, last_offset: 14, aborted: true, last_stable_offset: 12 }
        );
        assert_eq!(s.first_open_txn(), Some(12));
        let done = s.record(&marker_header(2, 0, 15), Some(&marker(2, 0, 3, true))).unwrap();
        assert!(!done.aborted);
        assert_eq!(done.last_stable_offset, 16);
        assert_eq!(s.first_open_txn(), None);
        // A marker with no open transaction (an empty one) completes nothing.
        assert_eq!(s.record(&marker_header(1, 0, 16), Some(&marker(1, 0, 3, true))), None);
        // Non-transactional batches never open one.
        s.record(&header(3, 0, 0, 1, 17), None);
        assert_eq!(s.first_open_txn(), None);
        // ...and are refused while their producer has one open.
        s.record(&txn(3, 0, 1, 1, 18), None);
        assert!(matches!(
            s.check(&header(3, 0, 2, 1, 19), None, AppendOrigin::Client),
            Err(AppendError::InvalidTxnState { producer_id: 3 })
        ));
        assert_eq!(s.check(&txn(3, 0, 2, 1, 19), None, AppendOrigin::Client).unwrap(), Verdict::Append);
    }

    #[test]
    fn marker_epochs_fence_and_bump() {
        let mut s = ProducerState::default();
        s.record(&txn(1, 5, 0, 1, 0), None);
        // An older producer epoch, or an older coordinator, is refused.
        assert!(matches!(
            s.check(&marker_header(1, 4, 1), Some(&marker(1, 4, 0, true)), AppendOrigin::Client),
            Err(AppendError::InvalidProducerEpoch { epoch: 4, current: 5, .. })
        ));
        s.record(&marker_header(1, 6, 1), Some(&marker(1, 6, 2, true)));
        assert_eq!(s.get(1).unwrap().epoch, 6, "a marker bumps the epoch");
        assert!(matches!(
            s.check(&marker_header(1, 6, 2), Some(&marker(1, 6, 1, false)), AppendOrigin::Client),
            Err(AppendError::CoordinatorFenced { coordinator_epoch: 1, current: 2, .. })
        ));
        // Data of the old epoch is fenced; the new epoch starts at sequence 0, never a duplicate.
        assert!(matches!(
            s.check(&txn(1, 5, 1, 1, 2), None, AppendOrigin::Client),
            Err(AppendError::InvalidProducerEpoch { .. })
        ));
        assert_eq!(s.check(&txn(1, 6, 0, 1, 2), None, AppendOrigin::Client).unwrap(), Verdict::Append);
        assert!(
            matches!(
                s.check(&txn(1, 6, 12, 1, 2), None, AppendOrigin::Client),
                Err(AppendError::OutOfOrderSequence { expected: 0, got: 12, .. })
            ),
            "the new epoch's later batch, its first refused (CONCURRENT_TRANSACTIONS), does not open it"
        );
        // Markers carry no sequence: two in a row are both appended.
        let m = marker(1, 6, 2, false);
        assert_eq!(s.check(&marker_header(1, 6, 2), Some(&m), AppendOrigin::Client).unwrap(), Verdict::Append);
        s.record(&marker_header(1, 6, 2), Some(&m));
        assert_eq!(s.check(&marker_header(1, 6, 3), Some(&m), AppendOrigin::Client).unwrap(), Verdict::Append);
    }

    #[test]
    fn open_transactions_survive_snapshots_eviction_and_log_start_moves() {
        let mut s = ProducerState::default();
        s.record(&txn(1, 0, 0, 1, 100), None);
        s.record(&marker_header(2, 3, 101), Some(&marker(2, 3, 7, true)));
        let bytes = s.encode(102);
        let (_, back) = ProducerState::decode(&bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.first_open_txn(), Some(100));
        assert_eq!(back.get(2).unwrap().coordinator_epoch, 7);
        // A producer with an open transaction is never evicted.
        let mut full = ProducerState::default();
        full.record(&txn(0, 0, 0, 1, 0), None);
        for pid in 1..=PRODUCERS_MAX as i64 {
            full.record(&header(pid, 0, 0, 1, pid), None);
        }
        assert_eq!(full.first_open_txn(), Some(0));
        assert!(full.get(0).is_some());
        assert!(full.get(1).is_none());
        s.remove_before(100);
        assert_eq!(s.first_open_txn(), Some(100));
        s.remove_before(200);
        assert_eq!(s.first_open_txn(), None);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn format_1_snapshots_still_load() {
        // A snapshot written before transactions: magic "STPS", offset, count, and per producer
        // id, epoch and batches.
        let mut body = Vec::new();
        body.extend(SNAPSHOT_MAGIC_V1.to_be_bytes());
        body.extend(40i64.to_be_bytes());
        body.extend(1u32.to_be_bytes());
        body.extend(9i64.to_be_bytes());
        body.extend(2i16.to_be_bytes());
        body.push(1);
        for v in [0i32, 3] {
            body.extend(v.to_be_bytes());
        }
        for v in [30i64, 33] {
            body.extend(v.to_be_bytes());
        }
        let crc = crc32c::crc32c(&body);
        body.extend(crc.to_be_bytes());
        let (offset, s) = ProducerState::decode(&body).unwrap();
        assert_eq!(offset, 40);
        let e = s.get(9).unwrap();
        assert_eq!((e.epoch, e.coordinator_epoch, e.txn_first_offset, e.last_offset), (2, -1, None, 33));
        assert_eq!(
            s.check(&header(9, 2, 0, 4, 50), None, AppendOrigin::Client).unwrap(),
            Verdict::Duplicate { base_offset: 30, last_offset: 33 }
        );
    }
}
