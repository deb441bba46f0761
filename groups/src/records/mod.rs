//! The records of the compacted `__consumer_offsets` topic, in Kafka's own schemas, so a log
//! written by Strata reads like Kafka's and a Kafka log replays here.
//!
//! Every key and every value starts with an `int16` version, then the schema's fields:
//!
//! | record | key (version) | value (version written; versions read) |
//! |---|---|---|
//! | committed offset | `OffsetCommitKey` (1): group string, topic string, partition int32 | `OffsetCommitValue` (3, or 1 when an expire timestamp is set; reads 0-4): offset int64, leaderEpoch int32 (v3+), metadata string, commitTimestamp int64, expireTimestamp int64 (v1 only) |
//! | group metadata | `GroupMetadataKey` (2): group string | `GroupMetadataValue` (3; reads 0-4): protocolType string, generation int32, protocol nullable string, leader nullable string, currentStateTimestamp int64 (v2+), members [memberId, groupInstanceId (v3+, nullable), clientId, clientHost, rebalanceTimeout int32 (v1+), sessionTimeout int32, subscription bytes, assignment bytes] |
//!
//! A transactional offset commit (TxnOffsetCommit) is the same offset record in a transactional
//! batch of its producer ([`Record::transaction`]); it counts only once that producer's commit
//! marker (a control batch, read by the broker) follows it on the same partition, as in Kafka.
//! A deleted offset or group is a tombstone: the same key with a null value. Key versions 0 and 1
//! are both offset commits (0 came from ZooKeeper-era brokers); other key versions (Kafka 4's
//! consumer-group and share-group records) decode to [`DecodedRecord::Unknown`] and are skipped by
//! replay. Versions 4 of both values are the flexible encodings (compact strings, tagged fields).

mod codec;

use bytes::{BufMut, Bytes, BytesMut};

use codec::{Reader, put_bytes, put_nullable_string, put_string};

/// A record the broker must append to `__consumer_offsets`, partition `partition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The `__consumer_offsets` partition (see [`crate::offsets_partition_for`]).
    pub partition: i32,
    /// The encoded key (`OffsetCommitKey` or `GroupMetadataKey`).
    pub key: Bytes,
    /// The encoded value; `None` is a tombstone (the key's offset or group is deleted).
    pub value: Option<Bytes>,
    /// A transactional offset commit's producer: the record goes in a transactional batch of
    /// this producer id and epoch (Kafka's TxnOffsetCommit), and counts only once the
    /// transaction's commit marker follows it. `None` for every other record.
    pub transaction: Option<TxnProducer>,
}

/// The producer of a transactional record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxnProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// A record that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record ends before a field does.
    #[error("record truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    /// A field holds an impossible value.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
    /// A value version this coordinator does not know.
    #[error("unsupported {schema} version {version}")]
    UnsupportedVersion { schema: &'static str, version: i16 },
    /// Bytes left over after the last field (the record is not what its version says).
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
}

/// The key of an `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    /// `OffsetCommitKey`: a committed offset of one partition by one group.
    OffsetCommit { group: String, topic: String, partition: i32 },
    /// `GroupMetadataKey`: a group's membership and assignment.
    GroupMetadata { group: String },
}

/// `OffsetCommitValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    pub offset: i64,
    /// -1 when unknown (and in versions before 3).
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// -1 unless the commit carried a retention time (version 1 only).
    pub expire_timestamp_ms: i64,
}

/// `GroupMetadataValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    /// "" when the group has none (a group used only for commits).
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// When the group entered its current state; -1 before version 2.
    pub current_state_timestamp_ms: i64,
    pub members: Vec<MemberMetadata>,
}

/// `GroupMetadataValue.MemberMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Equals the session timeout in version 0, which lacks the field.
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The metadata of the group's selected protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// One decoded `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodedRecord {
    /// An offset commit, or its tombstone (`value == None`).
    Offset { group: String, topic: String, partition: i32, value: Option<OffsetCommitValue> },
    /// A group's metadata, or its tombstone (`value == None`).
    Group { group: String, value: Option<GroupMetadataValue> },
    /// A record type this coordinator does not use (its key version); replay skips it.
    Unknown { key_version: i16 },
}

const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
const GROUP_METADATA_KEY_VERSION: i16 = 2;
const GROUP_METADATA_VALUE_VERSION: i16 = 3;

fn finish(reader: &Reader<'_>) -> Result<(), RecordError> {
    match reader.remaining() {
        0 => Ok(()),
        rest => Err(RecordError::TrailingBytes(rest)),
    }
}

impl RecordKey {
    /// Encodes the key with its version prefix (1 for offsets, 2 for groups).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            RecordKey::OffsetCommit { group, topic, partition } => {
                out.put_i16(OFFSET_COMMIT_KEY_VERSION);
                put_string(&mut out, group);
                put_string(&mut out, topic);
                out.put_i32(*partition);
            }
            RecordKey::GroupMetadata { group } => {
                out.put_i16(GROUP_METADATA_KEY_VERSION);
                put_string(&mut out, group);
            }
        }
        out.freeze()
    }

    /// Decodes a key; `Ok(None)` for a key version this coordinator does not use.
    pub fn decode(buf: &[u8]) -> Result<Option<RecordKey>, RecordError> {
        let mut r = Reader::new(buf);
        let key = match r.i16()? {
            0 | 1 => RecordKey::OffsetCommit { group: r.string(false)?, topic: r.string(false)?, partition: r.i32()? },
            2 => RecordKey::GroupMetadata { group: r.string(false)? },
            _ => return Ok(None),
        };
        finish(&r)?;
        Ok(Some(key))
    }
}

impl OffsetCommitValue {
    /// Encodes as version 3, or version 1 when an expire timestamp is set (as Kafka does).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        if self.expire_timestamp_ms >= 0 {
            out.put_i16(1);
            out.put_i64(self.offset);
            put_string(&mut out, &self.metadata);
            out.put_i64(self.commit_timestamp_ms);
            out.put_i64(self.expire_timestamp_ms);
        } else {
            out.put_i16(3);
            out.put_i64(self.offset);
            out.put_i32(self.leader_epoch);
            put_string(&mut out, &self.metadata);
            out.put_i64(self.commit_timestamp_ms);
        }
        out.freeze()
    }

    /// Decodes versions 0 to 4.
    pub fn decode(buf: &[u8]) -> Result<OffsetCommitValue, RecordError> {
        let mut r = Reader::new(buf);
        let version = r.i16()?;
        if !(0..=4).contains(&version) {
            return Err(RecordError::UnsupportedVersion { schema: "OffsetCommitValue", version });
        }
        let flexible = version >= 4;
        let offset = r.i64()?;
        let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
        let metadata = r.string(flexible)?;
        let commit_timestamp_ms = r.i64()?;
        let expire_timestamp_ms = if version == 1 { r.i64()? } else { -1 };
        if flexible {
            r.skip_tagged_fields()?;
        }
        finish(&r)?;
        Ok(OffsetCommitValue { offset, leader_epoch, metadata, commit_timestamp_ms, expire_timestamp_ms })
    }
}

impl GroupMetadataValue {
    /// Encodes as version 3, the version Kafka writes.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(GROUP_METADATA_VALUE_VERSION);
        put_string(&mut out, &self.protocol_type);
        out.put_i32(self.generation);
        put_nullable_string(&mut out, self.protocol.as_deref());
        put_nullable_string(&mut out, self.leader.as_deref());
        out.put_i64(self.current_state_timestamp_ms);
        let count = i32::try_from(self.members.len()).unwrap_or(i32::MAX);
        assert_eq!(count as usize, self.members.len(), "more than i32::MAX members");
        out.put_i32(count);
        for m in &self.members {
            put_string(&mut out, &m.member_id);
            put_nullable_string(&mut out, m.group_instance_id.as_deref());
            put_string(&mut out, &m.client_id);
            put_string(&mut out, &m.client_host);
            out.put_i32(m.rebalance_timeout_ms);
            out.put_i32(m.session_timeout_ms);
            put_bytes(&mut out, &m.subscription);
            put_bytes(&mut out, &m.assignment);
        }
        out.freeze()
    }

    /// Decodes versions 0 to 4.
    pub fn decode(buf: &[u8]) -> Result<GroupMetadataValue, RecordError> {
        let mut r = Reader::new(buf);
        let version = r.i16()?;
        if !(0..=4).contains(&version) {
            return Err(RecordError::UnsupportedVersion { schema: "GroupMetadataValue", version });
        }
        let flex = version >= 4;
        let protocol_type = r.string(flex)?;
        let generation = r.i32()?;
        let protocol = r.nullable_string(flex)?;
        let leader = r.nullable_string(flex)?;
        let current_state_timestamp_ms = if version >= 2 { r.i64()? } else { -1 };
        let count = r.array_len(flex)?;
        // The smallest member: four empty strings, two int32s and two empty byte fields.
        let mut members = Vec::with_capacity(r.capacity_for(count, 4 + 8 + 2));
        for _ in 0..count {
            let member_id = r.string(flex)?;
            let group_instance_id = if version >= 3 { r.nullable_string(flex)? } else { None };
            let client_id = r.string(flex)?;
            let client_host = r.string(flex)?;
            let rebalance_timeout = if version >= 1 { Some(r.i32()?) } else { None };
            let session_timeout_ms = r.i32()?;
            let subscription = r.bytes(flex)?;
            let assignment = r.bytes(flex)?;
            if flex {
                r.skip_tagged_fields()?;
            }
            members.push(MemberMetadata {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms: rebalance_timeout.unwrap_or(session_timeout_ms),
                session_timeout_ms,
                subscription,
                assignment,
            });
        }
        if flex {
            r.skip_tagged_fields()?;
        }
        finish(&r)?;
        Ok(GroupMetadataValue { protocol_type, generation, protocol, leader, current_state_timestamp_ms, members })
    }
}

/// Decodes one `__consumer_offsets` record (key and optional value).
pub fn decode_record(key: &[u8], value: Option<&[u8]>) -> Result<DecodedRecord, RecordError> {
    let Some(decoded_key) = RecordKey::decode(key)? else {
        let mut r = Reader::new(key);
        return Ok(DecodedRecord::Unknown { key_version: r.i16()? });
    };
    Ok(match decoded_key {
        RecordKey::OffsetCommit { group, topic, partition } => {
            DecodedRecord::Offset { group, topic, partition, value: value.map(OffsetCommitValue::decode).transpose()? }
        }
        RecordKey::GroupMetadata { group } => {
            DecodedRecord::Group { group, value: value.map(GroupMetadataValue::decode).transpose()? }
        }
    })
}

#[cfg(test)]
mod tests;
