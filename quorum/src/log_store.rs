//! The Raft log in strata-log: the partition `__cluster_metadata-0`, as KRaft keeps it. Entry
//! `index` is the record at offset `index`, alone in a v2 record batch whose partition leader
//! epoch is the entry's term, so a log id is KRaft's (epoch, offset). The record's value is the
//! entry in JSON. The vote, the committed id and the last purged id live in `quorum-state`.
//!
//! Every append waits for its fsync before it returns: the quorum writes little, and an entry is
//! then readable as soon as openraft may ask for it.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType,
};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{ErrorVerb, LogState, OptionalSend, RaftLogReader};
use strata_log::Partition;
use strata_wire::batch::BatchHeader;

use crate::error::QuorumError;
use crate::quorum_state::QuorumStateFile;
use crate::types::{LogId, MetaEntry, MetaRaft, StorageError, Vote, storage_error};

/// The metadata log's topic, as Kafka names it.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// How much one read asks the partition for.
const READ_BYTES: u32 = 1024 * 1024;

/// The log's writer side (openraft serializes its calls).
pub struct MetaLogStore {
    partition: Arc<Partition>,
    state: QuorumStateFile,
    last_log_id: Option<LogId>,
}

/// The log's reader side, one per replication stream.
#[derive(Clone)]
pub struct MetaLogReader {
    partition: Arc<Partition>,
}

impl MetaLogStore {
    /// The store over an open partition and its quorum state; reads the last entry's id.
    pub fn open(partition: Arc<Partition>, state: QuorumStateFile) -> Result<MetaLogStore, QuorumError> {
        let end = partition.high_watermark();
        let last_log_id = if end > partition.log_start_offset() {
            let index = u64::try_from(end - 1).map_err(|_| QuorumError::Storage("negative log end".into()))?;
            let last = read_entries(&partition, index, index + 1).map_err(QuorumError::Storage)?;
            match last.last() {
                Some(entry) => Some(entry.log_id),
                None => return Err(QuorumError::Storage(format!("no metadata entry at offset {index}"))),
            }
        } else {
            None
        };
        Ok(MetaLogStore { partition, state, last_log_id })
    }

    fn reader(&self) -> MetaLogReader {
        MetaLogReader { partition: Arc::clone(&self.partition) }
    }

    async fn append_one(&mut self, entry: MetaEntry) -> Result<(), String> {
        let mut expected = self.partition.high_watermark();
        if expected == self.partition.log_start_offset() && u64::try_from(expected) != Ok(entry.log_id.index) {
            // An empty log may begin anywhere (after a purge of everything, a snapshot's end).
            let start = i64::try_from(entry.log_id.index).map_err(|_| format!("entry {} beyond i64", entry.log_id))?;
            self.partition.truncate_fully_and_start_at(start).map_err(|e| e.to_string())?;
            expected = start;
        }
        if u64::try_from(expected) != Ok(entry.log_id.index) {
            return Err(format!("entry {} does not follow the log end {expected}", entry.log_id));
        }
        let term =
            i32::try_from(entry.log_id.leader_id.term).map_err(|_| format!("term of {} beyond i32", entry.log_id))?;
        let batch = encode_entry(&entry)?;
        let pending = self.partition.append(batch, term, now_ms()).map_err(|e| e.to_string())?;
        let info = pending.wait().await.map_err(|e| e.to_string())?;
        // The store is the partition's only writer, so the offset is the one checked above.
        assert_eq!(
            u64::try_from(info.base_offset),
            Ok(entry.log_id.index),
            "metadata log offset moved under the store"
        );
        self.last_log_id = Some(entry.log_id);
        Ok(())
    }
}

impl RaftLogReader<MetaRaft> for MetaLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<MetaEntry>, StorageError> {
        self.reader().try_get_log_entries(range).await
    }
}

impl RaftLogReader<MetaRaft> for MetaLogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<MetaEntry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => i.saturating_add(1),
            Bound::Excluded(i) => *i,
            Bound::Unbounded => u64::MAX,
        };
        read_entries(&self.partition, start, end).map_err(|e| storage_error(ErrorVerb::Read, e))
    }
}

impl RaftLogStorage<MetaRaft> for MetaLogStore {
    type LogReader = MetaLogReader;

    async fn get_log_state(&mut self) -> Result<LogState<MetaRaft>, StorageError> {
        let last_purged_log_id = self.state.state().last_purged;
        Ok(LogState { last_purged_log_id, last_log_id: self.last_log_id.or(last_purged_log_id) })
    }

    async fn get_log_reader(&mut self) -> MetaLogReader {
        self.reader()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        self.state.update(|s| s.vote = Some(vote)).map_err(|e| storage_error(ErrorVerb::Write, e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.state.state().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.state.update(|s| s.committed = committed).map_err(|e| storage_error(ErrorVerb::Write, e))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.state.state().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<MetaRaft>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = MetaEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        for entry in entries {
            if let Err(reason) = self.append_one(entry).await {
                callback.log_io_completed(Err(std::io::Error::other(reason.clone())));
                return Err(storage_error(ErrorVerb::Write, reason));
            }
        }
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let offset = i64::try_from(log_id.index).map_err(|_| storage_error(ErrorVerb::Delete, "index beyond i64"))?;
        self.partition.truncate_to(offset).map_err(|e| storage_error(ErrorVerb::Delete, e))?;
        self.last_log_id = match log_id.index.checked_sub(1) {
            Some(before) if i64::try_from(before).is_ok_and(|b| b >= self.partition.log_start_offset()) => {
                let entries = read_entries(&self.partition, before, before + 1);
                entries.map_err(|e| storage_error(ErrorVerb::Read, e))?.last().map(|e| e.log_id)
            }
            _ => None,
        };
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // The purged id first: once entries go, their term is known only from it.
        self.state.update(|s| s.last_purged = Some(log_id)).map_err(|e| storage_error(ErrorVerb::Write, e))?;
        let after =
            i64::try_from(log_id.index + 1).map_err(|_| storage_error(ErrorVerb::Delete, "index beyond i64"))?;
        if after <= self.partition.high_watermark() {
            self.partition.delete_records(after).map_err(|e| storage_error(ErrorVerb::Delete, e))?;
        } else {
            // A snapshot past this log's end (a lagging follower): nothing of the log stays.
            self.partition.truncate_fully_and_start_at(after).map_err(|e| storage_error(ErrorVerb::Delete, e))?;
            self.last_log_id = None;
        }
        Ok(())
    }
}

/// The entries at offsets `start..end` present in the log (fewer when it starts later or ends
/// first).
fn read_entries(partition: &Partition, start: u64, end: u64) -> Result<Vec<MetaEntry>, String> {
    let mut entries = Vec::new();
    let mut offset = i64::try_from(start).unwrap_or(i64::MAX).max(partition.log_start_offset());
    let end = i64::try_from(end).unwrap_or(i64::MAX).min(partition.high_watermark());
    let mut buf = Vec::new();
    while offset < end {
        let read = partition.read(offset, READ_BYTES).map_err(|e| e.to_string())?;
        buf.clear();
        for range in &read.ranges {
            range.read_into(&mut buf).map_err(|e| e.to_string())?;
        }
        if buf.is_empty() {
            break;
        }
        let mut at = 0;
        while at < buf.len() && offset < end {
            let header = BatchHeader::parse(&buf[at..]).map_err(|e| e.to_string())?;
            let total = header.total_bytes();
            let batch = buf.get(at..at + total).ok_or_else(|| format!("batch at {} cut short", header.base_offset))?;
            at += total;
            if header.last_offset() < offset {
                continue;
            }
            let entry = decode_entry(batch)?;
            if entry.log_id.index != u64::try_from(header.base_offset).unwrap_or(u64::MAX) {
                return Err(format!("entry {} stored at offset {}", entry.log_id, header.base_offset));
            }
            offset = header.last_offset() + 1;
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// One entry as one v2 batch of one record.
fn encode_entry(entry: &MetaEntry) -> Result<Bytes, String> {
    let value = serde_json::to_vec(entry).map_err(|e| e.to_string())?;
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: i32::try_from(entry.log_id.leader_id.term).unwrap_or(i32::MAX),
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: NO_SEQUENCE,
        timestamp: now_ms(),
        key: None,
        value: Some(Bytes::from(value)),
        headers: Default::default(),
    };
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut out, std::iter::once(&record), &options).map_err(|e| e.to_string())?;
    Ok(out.freeze())
}

fn decode_entry(batch: &[u8]) -> Result<MetaEntry, String> {
    let mut bytes = Bytes::copy_from_slice(batch);
    let set = RecordBatchDecoder::decode(&mut bytes).map_err(|e| e.to_string())?;
    let [record] = set.records.as_slice() else {
        return Err(format!("a metadata batch holds {} records, not one", set.records.len()));
    };
    let value = record.value.as_ref().ok_or("a metadata record without a value")?;
    serde_json::from_slice(value).map_err(|e| format!("unreadable metadata entry: {e}"))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
