//! Idempotent-producer state of one partition: per producer id, its epoch and the sequence ranges
//! and offsets of its last five batches, as in Kafka's `ProducerStateManager`.
//!
//! `check` decides a new batch's fate (append, duplicate with the original offsets, or refuse) and
//! `record` remembers an appended batch; both run under the partition's append lock, with offset
//! assignment. The state is rebuilt from batch headers on recovery and snapshotted to a small
//! checksummed file on clean shutdown and at segment rolls.

use std::collections::{HashMap, VecDeque};

use strata_wire::batch::BatchHeader;

use crate::config::PRODUCERS_MAX;
use crate::error::AppendError;
use crate::partition::AppendOrigin;

/// Batches remembered per producer (Kafka's `NUM_BATCHES_TO_RETAIN`).
pub(crate) const BATCHES_PER_PRODUCER_MAX: usize = 5;
const NO_PRODUCER_ID: i64 = -1;
const NO_EPOCH: i16 = -1;

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

    /// Checks a batch against the state (no change is made): a client's fully, a coordinator's
    /// epoch only.
    pub(crate) fn check(&self, header: &BatchHeader, origin: AppendOrigin) -> Result<Verdict, AppendError> {
        let pid = header.producer_id;
        if pid == NO_PRODUCER_ID {
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
        if let Some(latest) = entry.batches.back() {
            let expected = add_seq(latest.last_seq, 1);
            if header.base_sequence != expected {
                return Err(AppendError::OutOfOrderSequence { producer_id: pid, expected, got: header.base_sequence });
            }
        }
        Ok(Verdict::Append)
    }

    /// Remembers a batch that was appended (or replayed from the log) with its assigned offsets.
    pub(crate) fn record(&mut self, header: &BatchHeader) {
        let pid = header.producer_id;
        if pid == NO_PRODUCER_ID {
            return;
        }
        if !self.producers.contains_key(&pid) && self.producers.len() >= PRODUCERS_MAX {
            self.evict_oldest();
        }
        let entry = self
            .producers
            .entry(pid)
            .or_insert_with(|| ProducerEntry { epoch: header.producer_epoch, batches: VecDeque::new() });
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
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
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .producers
            .iter()
            .min_by_key(|(_, e)| e.batches.back().map_or(i64::MIN, |b| b.last_offset))
            .map(|(pid, _)| *pid);
        if let Some(pid) = oldest {
            self.producers.remove(&pid);
        }
    }

    /// Forgets producers whose last batch is below the new log start (retention, delete_records).
    pub(crate) fn remove_before(&mut self, log_start: i64) {
        self.producers.retain(|_, e| e.batches.back().is_some_and(|b| b.last_offset >= log_start));
    }

    /// Snapshot bytes: entries, then a CRC32C of everything before it.
    pub(crate) fn encode(&self, offset: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.producers.len() * 64);
        out.extend_from_slice(&SNAPSHOT_MAGIC.to_be_bytes());
        out.extend_from_slice(&offset.to_be_bytes());
        out.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut pids: Vec<_> = self.producers.keys().copied().collect();
        pids.sort_unstable();
        for pid in pids {
            let Some(e) = self.producers.get(&pid) else { continue };
            out.extend_from_slice(&pid.to_be_bytes());
            out.extend_from_slice(&e.epoch.to_be_bytes());
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

    /// Parses a snapshot: `(offset it was taken at, state)`, or `None` if it is damaged.
    pub(crate) fn decode(buf: &[u8]) -> Option<(i64, ProducerState)> {
        let (body, crc) = buf.split_at_checked(buf.len().checked_sub(4)?)?;
        if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().ok()?) {
            return None;
        }
        let mut r = Reader(body);
        if r.u32()? != SNAPSHOT_MAGIC {
            return None;
        }
        let offset = r.i64()?;
        let count = r.u32()? as usize;
        if count > PRODUCERS_MAX {
            return None;
        }
        let mut state = ProducerState::default();
        for _ in 0..count {
            let pid = r.i64()?;
            let epoch = r.i16()?;
            let n = usize::from(r.u8()?);
            if n > BATCHES_PER_PRODUCER_MAX {
                return None;
            }
            let mut batches = VecDeque::with_capacity(n);
            for _ in 0..n {
                batches.push_back(BatchMeta {
                    first_seq: r.i32()?,
                    last_seq: r.i32()?,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                });
            }
            state.producers.insert(pid, ProducerEntry { epoch, batches });
        }
        r.0.is_empty().then_some((offset, state))
    }
}

const SNAPSHOT_MAGIC: u32 = 0x5354_5053; // "STPS"

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
        assert_eq!(s.check(&b0, AppendOrigin::Client).unwrap(), Verdict::Append);
        s.record(&b0);
        let b1 = header(7, 1, 3, 2, 3);
        assert_eq!(s.check(&b1, AppendOrigin::Client).unwrap(), Verdict::Append);
        s.record(&b1);
        assert_eq!(
            s.check(&header(7, 1, 0, 3, 99), AppendOrigin::Client).unwrap(),
            Verdict::Duplicate { base_offset: 0, last_offset: 2 }
        );
        assert!(matches!(
            s.check(&header(7, 1, 9, 1, 99), AppendOrigin::Client),
            Err(AppendError::OutOfOrderSequence { expected: 5, got: 9, .. })
        ));
        assert!(matches!(
            s.check(&header(7, 0, 5, 1, 99), AppendOrigin::Client),
            Err(AppendError::InvalidProducerEpoch { .. })
        ));
        // A new epoch starts at sequence 0.
        assert!(matches!(
            s.check(&header(7, 2, 5, 1, 99), AppendOrigin::Client),
            Err(AppendError::OutOfOrderSequence { .. })
        ));
        assert_eq!(s.check(&header(7, 2, 0, 1, 99), AppendOrigin::Client).unwrap(), Verdict::Append);
        // A coordinator's batch in the producer's name: no sequence checks, the epoch still.
        assert_eq!(s.check(&header(7, 1, 0, 3, 99), AppendOrigin::Coordinator).unwrap(), Verdict::Append);
        assert_eq!(s.check(&header(7, 1, 9, 1, 99), AppendOrigin::Coordinator).unwrap(), Verdict::Append);
        assert!(matches!(
            s.check(&header(7, 0, 0, 1, 99), AppendOrigin::Coordinator),
            Err(AppendError::InvalidProducerEpoch { .. })
        ));
        // Non-idempotent batches are never checked.
        assert_eq!(s.check(&header(-1, -1, -1, 1, 0), AppendOrigin::Client).unwrap(), Verdict::Append);
    }

    #[test]
    fn only_five_batches_are_remembered_and_sequences_wrap() {
        let mut s = ProducerState::default();
        for i in 0..7 {
            s.record(&header(1, 0, i, 1, i64::from(i)));
        }
        assert_eq!(s.get(1).unwrap().batches.len(), BATCHES_PER_PRODUCER_MAX);
        assert!(matches!(
            s.check(&header(1, 0, 1, 1, 0), AppendOrigin::Client),
            Err(AppendError::OutOfOrderSequence { .. })
        ));
        assert_eq!(
            s.check(&header(1, 0, 6, 1, 0), AppendOrigin::Client).unwrap(),
            Verdict::Duplicate { base_offset: 6, last_offset: 6 }
        );
        let mut w = ProducerState::default();
        w.record(&header(2, 0, i32::MAX - 1, 2, 0));
        assert_eq!(w.get(2).unwrap().batches[0].last_seq, i32::MAX);
        assert_eq!(w.check(&header(2, 0, 0, 1, 2), AppendOrigin::Client).unwrap(), Verdict::Append);
    }

    #[test]
    fn snapshot_round_trip_and_damage() {
        let mut s = ProducerState::default();
        for pid in 0..50 {
            s.record(&header(pid, 3, 10, 4, pid * 10));
        }
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
}
