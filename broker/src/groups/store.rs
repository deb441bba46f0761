//! `__consumer_offsets` (and `__transaction_state`, the same shape) in strata-log: a
//! coordinator's records as Kafka v2 record batches (key and value as the coordinator encoded
//! them, a tombstone as a null value), appended to partition `record.partition`, and read back at
//! start-up for replay. A transactional offset commit's records go in a transactional batch of
//! its producer (appended as the coordinator's, so only the producer's epoch is checked); replay
//! hands such records over with their producer, and the end-transaction markers (control
//! batches) found after them as [`Replayed::Marker`].
//!
//! Nothing here decides *what* to write: the coordinator does. This file only turns records into
//! batches and batches back into records, so that the log reads like Kafka's own internal topics.
//! In a cluster it also keeps a coordinator to the partitions this broker leads.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record as KafkaRecord,
    RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use strata_groups::records::RecordError;
use strata_groups::{Record, TxnProducer};
use strata_log::{AppendError, AppendOrigin, Isolation, LogError, Partition, PendingAppend, ReadError};
use strata_wire::batch::BatchHeader;
use strata_wire::control::{Marker, parse_marker};

use crate::replication::LeaderState;
use crate::topics::Topic;

/// The internal topic's name, as Kafka's.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Largest batch the store writes (well under the default `max.message.bytes` of 1 MiB): a
/// commit of many partitions, or a snapshot, becomes several batches.
const BATCH_BYTES_MAX: usize = 256 * 1024;

/// How much one replay read asks the log for.
const REPLAY_READ_BYTES: u32 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the coordinator's internal topic has no partition {0}")]
    NoPartition(i32),
    #[error("this broker does not lead the coordinator's partition {0}")]
    NotLeader(i32),
    #[error("cannot encode a coordinator batch: {0}")]
    Encode(String),
    #[error("cannot append to the coordinator's partition {partition}: {source}")]
    Append { partition: i32, source: AppendError },
    #[error("coordinator write failed: {0}")]
    Write(#[from] LogError),
    #[error("cannot read the coordinator's partition {partition}: {reason}")]
    Read { partition: i32, reason: String },
}

/// A coordinator record: the partition it goes to, its key, its value (`None`: a tombstone), and
/// the producer whose transaction it belongs to (a transactional offset commit), if any.
pub trait KeyedRecord {
    fn partition(&self) -> i32;
    fn key(&self) -> &Bytes;
    fn value(&self) -> Option<&Bytes>;
    fn transaction(&self) -> Option<TxnProducer>;
}

/// Both coordinators' records have the same three fields; only group records can be
/// transactional.
macro_rules! keyed_record {
    ($($ty:ty => $transaction:expr),*) => {$(
        impl KeyedRecord for $ty {
            fn partition(&self) -> i32 {
                self.partition
            }
            fn key(&self) -> &Bytes {
                &self.key
            }
            fn value(&self) -> Option<&Bytes> {
                self.value.as_ref()
            }
            fn transaction(&self) -> Option<TxnProducer> {
                $transaction(self)
            }
        }
    )*};
}
keyed_record!(Record => |r: &Record| r.transaction, strata_txn::TxnRecord => |_| None);

/// One thing replay reads from an internal topic, in log order.
#[derive(Debug)]
pub enum Replayed<'a> {
    /// A record; `transaction` is its producer when it came in a transactional batch.
    Record { key: &'a [u8], value: Option<&'a [u8]>, transaction: Option<TxnProducer> },
    /// An end-transaction marker (a control batch) on partition `partition`.
    Marker { partition: i32, marker: Marker },
}

/// What replay feeds each record and marker to: a coordinator's replayer.
pub type Apply<'a> = dyn FnMut(Replayed<'_>) -> Result<(), RecordError> + 'a;

/// The leader state of each partition of an internal topic this broker leads, by partition.
pub type Leaders = HashMap<i32, Arc<LeaderState>>;

/// The partitions of an internal topic (`__consumer_offsets`, `__transaction_state`) a coordinator
/// writes to and replays: on a single node every partition; in a cluster the ones this broker
/// leads, each in the leader epoch it was loaded in (`leaders`): a write to any other is refused,
/// and a write is done only once the in-sync replicas hold it, as Kafka's coordinators append
/// with acks=all.
#[derive(Debug, Clone)]
pub struct OffsetsLog {
    topic: Arc<Topic>,
    /// `None` on a single node; in a cluster, the leader state of each partition loaded.
    leaders: Option<Leaders>,
}

/// A queued append of coordinator records; [`CoordinatorAppend::wait`] resolves once it is
/// written and, in a cluster, replicated to the in-sync replicas.
#[derive(Debug)]
pub struct CoordinatorAppend {
    pub append: PendingAppend,
    leader: Option<Arc<LeaderState>>,
}

impl CoordinatorAppend {
    /// `append`, replicated by `leader`'s followers in a cluster (`None` on a single node).
    pub fn new(append: PendingAppend, leader: Option<Arc<LeaderState>>) -> Self {
        CoordinatorAppend { append, leader }
    }

    /// Waits until the append is written and (in a cluster) held by every in-sync replica:
    /// `Err(NotLeader)` if this broker stopped leading the partition meanwhile, since what it
    /// wrote may then be cut from the log by the new leader.
    pub async fn wait(self) -> Result<(), StoreError> {
        let info = self.append.wait().await?;
        let Some(leader) = self.leader else { return Ok(()) };
        let end = info.last_offset + 1;
        tokio::select! {
            replicated = leader.log.wait_replicated(end) => replicated?,
            () = leader.resigned() => return Err(StoreError::NotLeader(leader.index)),
        }
        if leader.has_resigned() {
            return Err(StoreError::NotLeader(leader.index));
        }
        Ok(())
    }
}

impl OffsetsLog {
    /// Every partition of `topic`, on a single node.
    pub fn new(topic: Arc<Topic>) -> Self {
        OffsetsLog { topic, leaders: None }
    }

    /// The partitions of `topic` this cluster member leads, with their leader states.
    pub fn led(topic: Arc<Topic>, leaders: Leaders) -> Self {
        OffsetsLog { topic, leaders: Some(leaders) }
    }

    pub fn partition_count(&self) -> usize {
        usize::try_from(self.topic.partition_count()).unwrap_or(0)
    }

    /// The partitions written and replayed, with the leader epoch each is written in.
    pub fn writable(&self) -> BTreeMap<i32, i32> {
        match &self.leaders {
            None => self.topic.hosted().filter_map(|(i, _)| Some((i, self.leader_epoch(i).ok()?))).collect(),
            Some(leaders) => leaders.iter().map(|(i, l)| (*i, l.leader_epoch)).collect(),
        }
    }

    pub fn partition(&self, index: i32) -> Result<&Arc<Partition>, StoreError> {
        self.topic.partition(index).ok_or(StoreError::NoPartition(index))
    }

    /// The leader epoch appends to partition `index` are written with.
    pub fn leader_epoch(&self, index: i32) -> Result<i32, StoreError> {
        match &self.leaders {
            None => self.topic.leadership(index).map(|l| l.leader_epoch).ok_or(StoreError::NoPartition(index)),
            Some(leaders) => leaders.get(&index).map(|l| l.leader_epoch).ok_or(StoreError::NotLeader(index)),
        }
    }

    /// The leader state a write to `index` must stay replicated under (`None` on a single node);
    /// `Err(NotLeader)` for a partition this member does not lead (any more).
    fn leader(&self, index: i32) -> Result<Option<Arc<LeaderState>>, StoreError> {
        let Some(leaders) = &self.leaders else { return Ok(None) };
        match leaders.get(&index) {
            Some(leader) if !leader.has_resigned() => Ok(Some(Arc::clone(leader))),
            _ => Err(StoreError::NotLeader(index)),
        }
    }

    /// Queues `records` (in order within each partition) and returns the appends to wait for.
    /// The caller holds the coordinator's lock, which keeps the log's order equal to the
    /// coordinator's order; an append that must wait (a full write queue, a roll) hands the
    /// runtime worker over while it does (`crate::blocking`), so it stalls no other task.
    pub fn append<R: KeyedRecord>(
        &self,
        records: &[R],
        now_ms: i64,
    ) -> Result<Vec<(i32, CoordinatorAppend)>, StoreError> {
        let mut by_partition: BTreeMap<i32, Vec<&R>> = BTreeMap::new();
        for record in records {
            by_partition.entry(record.partition()).or_default().push(record);
        }
        // Nothing is queued unless every partition may take its records.
        let mut leaders = Vec::with_capacity(by_partition.len());
        for &index in by_partition.keys() {
            leaders.push(self.leader(index)?);
        }
        let mut pending = Vec::with_capacity(by_partition.len());
        for ((index, records), leader) in by_partition.into_iter().zip(leaders) {
            let partition = self.partition(index)?;
            let record_set = encode(&records, now_ms)?;
            // Coordinator-written: a transactional batch in a producer's name gets the epoch check,
            // not the idempotent producer's sequence checks.
            let append = crate::blocking::append(
                AppendOrigin::Coordinator,
                partition,
                record_set,
                self.leader_epoch(index)?,
                now_ms,
            )
            .map_err(|source| StoreError::Append { partition: index, source })?;
            pending.push((index, CoordinatorAppend::new(append, leader)));
        }
        Ok(pending)
    }

    /// Waits until every append queued so far (`queued_end`: per partition, the end offset of
    /// the last one) has been written or has failed, so a replay reads exactly what the log holds.
    pub async fn settle(&self, queued_end: &[i64]) {
        for (index, &end) in queued_end.iter().enumerate() {
            let Ok(partition) = self.partition(i32::try_from(index).unwrap_or(i32::MAX)) else { continue };
            // An error means the partition failed: what it holds below its high watermark stays.
            let _ = partition.wait_written(end).await;
        }
    }

    /// Feeds every record of partitions `which`, from each one's log start to its log end (a
    /// leader's log is the truth its followers will hold), to `replayer`. Returns how many
    /// records each of them held.
    pub fn replay(&self, which: &[i32], replayer: &mut Apply<'_>) -> Result<BTreeMap<i32, u64>, StoreError> {
        let mut counts = BTreeMap::new();
        for &index in which {
            let partition = self.partition(index)?;
            counts.insert(index, replay_partition(index, partition, replayer)?);
        }
        Ok(counts)
    }
}

/// Which partitions a coordinator must drop and which it must replay to go from `loaded` to
/// `wanted` (each partition with the leader epoch it is loaded in): a partition loaded in another
/// epoch is both, since its log may have changed under another leader meanwhile.
pub fn partition_changes(loaded: &BTreeMap<i32, i32>, wanted: &BTreeMap<i32, i32>) -> (Vec<i32>, Vec<i32>) {
    let absent = |from: &BTreeMap<i32, i32>, to: &BTreeMap<i32, i32>| -> Vec<i32> {
        from.iter().filter(|(p, e)| to.get(p) != Some(e)).map(|(p, _)| *p).collect()
    };
    (absent(loaded, wanted), absent(wanted, loaded))
}

/// Waits for every append of a call; the error of the last that failed, if any.
pub async fn wait_all(pending: Result<Vec<CoordinatorAppend>, StoreError>) -> Result<(), StoreError> {
    let mut result = Ok(());
    for append in pending? {
        if let Err(error) = append.wait().await {
            result = Err(error);
        }
    }
    result
}

/// Encodes records as v2 batches of at most [`BATCH_BYTES_MAX`] (estimated) bytes each. The
/// records of a transaction (a TxnOffsetCommit) go in transactional batches of their producer,
/// base sequence 0, as Kafka's coordinator writes them; the others in plain batches.
fn encode<R: KeyedRecord>(records: &[&R], now_ms: i64) -> Result<Bytes, StoreError> {
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    let mut chunk: Vec<KafkaRecord> = Vec::new();
    let mut chunk_bytes = 0;
    let mut chunk_transaction = None;
    let flush = |chunk: &mut Vec<KafkaRecord>, out: &mut BytesMut| -> Result<(), StoreError> {
        if !chunk.is_empty() {
            RecordBatchEncoder::encode(out, chunk.iter(), &options).map_err(|e| StoreError::Encode(e.to_string()))?;
            chunk.clear();
        }
        Ok(())
    };
    for record in records {
        let size = record.key().len() + record.value().map_or(0, Bytes::len) + 32;
        let transaction = record.transaction();
        if chunk_bytes + size > BATCH_BYTES_MAX || transaction != chunk_transaction {
            flush(&mut chunk, &mut out)?;
            chunk_bytes = 0;
            chunk_transaction = transaction;
        }
        chunk_bytes += size;
        let offset = i64::try_from(chunk.len()).unwrap_or(i64::MAX);
        let (producer_id, producer_epoch, sequence) = match transaction {
            // Sequences follow the offsets, so the encoder keeps the chunk in one batch.
            Some(p) => (p.producer_id, p.producer_epoch, i32::try_from(offset).unwrap_or(i32::MAX)),
            None => (NO_PRODUCER_ID, NO_PRODUCER_EPOCH, NO_SEQUENCE),
        };
        chunk.push(KafkaRecord {
            transactional: transaction.is_some(),
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence,
            timestamp: now_ms,
            key: Some(record.key().clone()),
            value: record.value().cloned(),
            headers: Default::default(),
        });
    }
    flush(&mut chunk, &mut out)?;
    Ok(out.freeze())
}

/// Reads one partition from its log start to its log end into `replayer`.
fn replay_partition(index: i32, partition: &Partition, replayer: &mut Apply<'_>) -> Result<u64, StoreError> {
    let read_err = |reason: String| StoreError::Read { partition: index, reason };
    let start = partition.log_start_offset();
    let end = partition.log_end_offset();
    let mut offset = start;
    let mut count = 0u64;
    let mut buf = Vec::new();
    while offset < end {
        let read = partition
            .read_isolated(offset, REPLAY_READ_BYTES, Isolation::LogEnd)
            .map_err(|e: ReadError| read_err(e.to_string()))?;
        buf.clear();
        for range in &read.ranges {
            range.read_into(&mut buf).map_err(|e| read_err(e.to_string()))?;
        }
        if buf.is_empty() {
            break;
        }
        let mut at = 0;
        let before = offset;
        while at < buf.len() {
            let header = BatchHeader::parse(&buf[at..]).map_err(|e| read_err(e.to_string()))?;
            let total = header.total_bytes();
            let Some(batch) = buf.get(at..at + total) else {
                return Err(read_err(format!("batch at offset {} runs past the read", header.base_offset)));
            };
            at += total;
            offset = offset.max(header.last_offset() + 1);
            if header.is_control() {
                // An end-transaction marker: completes the producer's pending offsets there.
                match parse_marker(batch) {
                    Ok(marker) => {
                        if let Err(error) = replayer(Replayed::Marker { partition: index, marker }) {
                            tracing::warn!(partition = index, offset = header.base_offset, %error, "marker not replayed");
                        }
                    }
                    Err(error) => tracing::warn!(
                        partition = index,
                        offset = header.base_offset,
                        %error,
                        "unreadable control batch in {}; skipped",
                        partition.topic()
                    ),
                }
                continue;
            }
            let transaction = header
                .is_transactional()
                .then_some(TxnProducer { producer_id: header.producer_id, producer_epoch: header.producer_epoch });
            let mut bytes = Bytes::copy_from_slice(batch);
            let set = RecordBatchDecoder::decode(&mut bytes).map_err(|e| read_err(e.to_string()))?;
            for record in set.records.into_iter().filter(|r| r.offset >= start) {
                let Some(key) = record.key else {
                    tracing::warn!(
                        partition = index,
                        offset = record.offset,
                        "{} record without a key; skipped",
                        partition.topic()
                    );
                    continue;
                };
                count += 1;
                if let Err(error) =
                    replayer(Replayed::Record { key: &key, value: record.value.as_deref(), transaction })
                {
                    tracing::warn!(partition = index, offset = record.offset, %error, "undecodable {} record; skipped", partition.topic());
                }
            }
        }
        if offset == before {
            return Err(read_err(format!("no progress reading at offset {offset}")));
        }
    }
    Ok(count)
}
