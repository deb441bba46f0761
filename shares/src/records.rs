//! The records of `__share_group_state`, in Kafka's own schemas (its share coordinator's
//! `ShareSnapshotKey`/`ShareSnapshotValue`, Kafka 4.1), so the topic reads like Kafka's:
//!
//! | record | key | value (version 0, flexible) |
//! |---|---|---|
//! | snapshot | type 0 (`int16`), groupId string, topicId uuid, partition int32 | snapshotEpoch int32, stateEpoch int32, leaderEpoch int32, startOffset int64, createTimestamp int64, writeTimestamp int64, stateBatches [firstOffset int64, lastOffset int64, deliveryState int8, deliveryCount int16] |
//!
//! Strata writes a whole snapshot of a share-partition each time its durable state changes (never
//! Kafka's `ShareUpdate` deltas, type 1, which replay skips). A delivery state is 0 (available),
//! 2 (acknowledged) or 4 (archived); a record acquired when the snapshot was taken is written as
//! available with its delivery count, so a restart delivers it again.

use bytes::{BufMut, Bytes, BytesMut};

use crate::partition::{PartitionSnapshot, StateBatch};

/// The key's record type of a snapshot (`ShareSnapshotKey`).
const SNAPSHOT_TYPE: i16 = 0;
/// The only `ShareSnapshotValue` version.
const VALUE_VERSION: i16 = 0;
/// The bytes of one state batch (two offsets, state, count, no tagged fields).
const BATCH_BYTES: usize = 8 + 8 + 1 + 2 + 1;

/// Which share-partition a record is about: a group's view of one partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateKey {
    pub group_id: String,
    pub topic_id: uuid::Uuid,
    pub partition: i32,
}

impl StateKey {
    /// The `__share_group_state` partition the key's records go to, of `partitions`: Kafka's
    /// share coordinator key `group:topicId:partition`, hashed as Java's `String.hashCode`.
    pub fn state_partition(&self, partitions: i32) -> i32 {
        let key = format!("{}:{}:{}", self.group_id, kafka_uuid(self.topic_id), self.partition);
        let hash = key.encode_utf16().fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(i32::from(unit)));
        // Kafka's Utils.abs: i32::MIN maps to 0 rather than overflowing.
        let positive = if hash == i32::MIN { 0 } else { hash.abs() };
        positive % partitions.max(1)
    }
}

/// A Kafka topic id as Kafka prints it: URL-safe base64 of its 16 bytes, unpadded.
fn kafka_uuid(id: uuid::Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    for chunk in id.as_bytes().chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// A snapshot as written, with Kafka's epochs and timestamps around the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRecord {
    pub snapshot_epoch: i32,
    pub state_epoch: i32,
    pub leader_epoch: i32,
    pub create_timestamp: i64,
    pub write_timestamp: i64,
    pub state: PartitionSnapshot,
}

/// A record of `__share_group_state` that cannot be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed __share_group_state record: {0}")]
pub struct RecordError(String);

/// A record read back: a snapshot (`None`: a tombstone, the share-partition's state deleted),
/// or a record type Strata does not write (Kafka's `ShareUpdate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Snapshot(StateKey, Option<SnapshotRecord>),
    Other(i16),
}

/// The key of `key`'s snapshot records.
pub fn encode_key(key: &StateKey) -> Result<Bytes, RecordError> {
    let group = key.group_id.as_bytes();
    let length = i16::try_from(group.len()).map_err(|_| RecordError(format!("a {}-byte group id", group.len())))?;
    let mut out = BytesMut::with_capacity(24 + group.len());
    out.put_i16(SNAPSHOT_TYPE);
    out.put_i16(length);
    out.put_slice(group);
    out.put_slice(key.topic_id.as_bytes());
    out.put_i32(key.partition);
    Ok(out.freeze())
}

/// A snapshot's value.
pub fn encode_value(record: &SnapshotRecord) -> Bytes {
    let batches = &record.state.batches;
    let mut out = BytesMut::with_capacity(48 + BATCH_BYTES * batches.len());
    out.put_i16(VALUE_VERSION);
    out.put_i32(record.snapshot_epoch);
    out.put_i32(record.state_epoch);
    out.put_i32(record.leader_epoch);
    out.put_i64(record.state.start_offset);
    out.put_i64(record.create_timestamp);
    out.put_i64(record.write_timestamp);
    put_uvarint(&mut out, batches.len() as u64 + 1);
    for batch in batches {
        out.put_i64(batch.first_offset);
        out.put_i64(batch.last_offset);
        out.put_i8(batch.delivery_state);
        out.put_i16(batch.delivery_count);
        put_uvarint(&mut out, 0);
    }
    put_uvarint(&mut out, 0);
    out.freeze()
}

fn put_uvarint(out: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

/// Reads one record (its key, and its value unless it is a tombstone).
pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Decoded, RecordError> {
    let mut r = Reader(key);
    let record_type = r.i16()?;
    if record_type != SNAPSHOT_TYPE {
        return Ok(Decoded::Other(record_type));
    }
    let length = usize::try_from(r.i16()?).map_err(|_| RecordError("a null group id".into()))?;
    let group_id = String::from_utf8(r.take(length)?.to_vec()).map_err(|e| RecordError(e.to_string()))?;
    let topic_id = uuid::Uuid::from_slice(r.take(16)?).map_err(|e| RecordError(e.to_string()))?;
    let key = StateKey { group_id, topic_id, partition: r.i32()? };
    r.end()?;
    let Some(value) = value else { return Ok(Decoded::Snapshot(key, None)) };
    Ok(Decoded::Snapshot(key, Some(decode_value(value)?)))
}

fn decode_value(value: &[u8]) -> Result<SnapshotRecord, RecordError> {
    let mut r = Reader(value);
    let version = r.i16()?;
    if version != VALUE_VERSION {
        return Err(RecordError(format!("ShareSnapshotValue version {version}")));
    }
    let (snapshot_epoch, state_epoch, leader_epoch) = (r.i32()?, r.i32()?, r.i32()?);
    let (start_offset, create_timestamp, write_timestamp) = (r.i64()?, r.i64()?, r.i64()?);
    let count = r.uvarint()?.checked_sub(1).ok_or_else(|| RecordError("null state batches".into()))?;
    // A count beyond what the bytes left can hold is a lie, refused before anything is allocated.
    let count = usize::try_from(count).ok().filter(|&c| c <= r.0.len() / BATCH_BYTES);
    let count = count.ok_or_else(|| RecordError(format!("more state batches than {} bytes hold", r.0.len())))?;
    let mut batches = Vec::with_capacity(count);
    for _ in 0..count {
        let (first_offset, last_offset) = (r.i64()?, r.i64()?);
        let delivery_state = i8::from_be_bytes([r.take(1)?[0]]);
        batches.push(StateBatch { first_offset, last_offset, delivery_state, delivery_count: r.i16()? });
        r.skip_tagged_fields()?;
    }
    r.skip_tagged_fields()?;
    r.end()?;
    Ok(SnapshotRecord {
        snapshot_epoch,
        state_epoch,
        leader_epoch,
        create_timestamp,
        write_timestamp,
        state: PartitionSnapshot { start_offset, batches },
    })
}

/// Reads fields off the front of a record, refusing to read past its end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if n > self.0.len() {
            return Err(RecordError(format!("needs {n} more bytes, has {}", self.0.len())));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn i16(&mut self) -> Result<i16, RecordError> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().map_err(|_| RecordError("i16".into()))?))
    }

    fn i32(&mut self) -> Result<i32, RecordError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().map_err(|_| RecordError("i32".into()))?))
    }

    fn i64(&mut self) -> Result<i64, RecordError> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into().map_err(|_| RecordError("i64".into()))?))
    }

    fn uvarint(&mut self) -> Result<u64, RecordError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordError("a varint longer than 64 bits".into()))
    }

    fn skip_tagged_fields(&mut self) -> Result<(), RecordError> {
        for _ in 0..self.uvarint()? {
            let _tag = self.uvarint()?;
            let size = usize::try_from(self.uvarint()?).map_err(|_| RecordError("a tagged field's size".into()))?;
            self.take(size)?;
        }
        Ok(())
    }

    fn end(&self) -> Result<(), RecordError> {
        if self.0.is_empty() { Ok(()) } else { Err(RecordError(format!("{} trailing bytes", self.0.len()))) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StateKey {
        StateKey { group_id: "queue".into(), topic_id: uuid::Uuid::from_u128(0x1234_5678_9abc_def0), partition: 3 }
    }

    #[test]
    fn a_snapshot_reads_back_as_written() {
        let record = SnapshotRecord {
            snapshot_epoch: 7,
            state_epoch: 0,
            leader_epoch: 2,
            create_timestamp: 1_000,
            write_timestamp: 2_000,
            state: PartitionSnapshot {
                start_offset: 10,
                batches: vec![
                    StateBatch { first_offset: 10, last_offset: 12, delivery_state: 0, delivery_count: 1 },
                    StateBatch { first_offset: 13, last_offset: 13, delivery_state: 2, delivery_count: 3 },
                ],
            },
        };
        let (k, v) = (encode_key(&key()).expect("key"), encode_value(&record));
        assert_eq!(&k[..2], &[0, 0], "record type 0");
        assert_eq!(decode(&k, Some(&v)), Ok(Decoded::Snapshot(key(), Some(record))));
        assert_eq!(decode(&k, None), Ok(Decoded::Snapshot(key(), None)));
        for cut in 0..v.len() {
            assert!(decode(&k, Some(&v[..cut])).is_err(), "truncated at {cut}");
        }
    }

    #[test]
    fn update_records_are_told_apart_and_lies_refused() {
        let mut k = encode_key(&key()).expect("key").to_vec();
        k[1] = 1;
        assert_eq!(decode(&k, None), Ok(Decoded::Other(1)));
        // A value claiming a million batches in a few bytes.
        let mut v = vec![0u8; 2 + 12 + 24];
        v.extend([0xc0, 0x84, 0x3d]);
        assert!(decode(&encode_key(&key()).expect("key"), Some(&v)).is_err());
    }

    #[test]
    fn keys_spread_as_kafka_hashes_them() {
        // The figures Java gives for Kafka's Uuid.toString and Utils.abs(key.hashCode()) % 50.
        assert_eq!(kafka_uuid(key().topic_id), "AAAAAAAAAAASNFZ4mrze8A");
        assert_eq!(key().state_partition(50), 33);
    }
}
