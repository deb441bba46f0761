//! The records of the compacted `__transaction_state` topic, in Kafka's own schemas, so a log
//! written by Strata reads like Kafka's and a Kafka log replays here.
//!
//! | record | layout |
//! |---|---|
//! | `TransactionLogKey` (version 0) | int16 version, transactionalId string |
//! | `TransactionLogValue` (writes 1; reads 0-1) | int16 version, producerId int64, producerEpoch int16, transactionTimeoutMs int32, transactionStatus int8, transactionPartitions nullable [topic string, partitionIds [int32]], transactionLastUpdateTimestampMs int64, transactionStartTimestampMs int64 |
//!
//! Version 1 is flexible (compact strings and arrays, tagged fields) and has four tagged fields:
//! 0 PreviousProducerId int64 (default -1), 1 NextProducerId int64 (-1), 2
//! ClientTransactionVersion int16 (0) and 3 NextProducerEpoch int16 (-1, KIP-939's; read and
//! ignored here). Kafka writes version 1 once `transaction.version` is at least 1, which Strata
//! always advertises. Kafka 4.1.2 writes only ClientTransactionVersion among the tagged fields,
//! though it reads the producer ids; Strata also writes PreviousProducerId and NextProducerId
//! (each only when set, as tagged fields are), so that a producer id rotated by a TV2 EndTxn
//! survives a restart — Kafka reads such a log the same way. `Empty` has null
//! partitions. A transactional id that expires is a tombstone: the key with a null value.

mod codec;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use strata_groups::TopicPartition;
pub use strata_groups::records::RecordError;

use codec::truncated;

use crate::state::TxnState;

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 1;
const TAG_PREVIOUS_PRODUCER_ID: u32 = 0;
const TAG_NEXT_PRODUCER_ID: u32 = 1;
const TAG_CLIENT_TRANSACTION_VERSION: u32 = 2;

/// A record the broker must append to `__transaction_state`, partition `partition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    /// The `__transaction_state` partition (see [`crate::Coordinator::partition_for`]).
    pub partition: i32,
    /// The encoded `TransactionLogKey`.
    pub key: Bytes,
    /// The encoded `TransactionLogValue`; `None` is a tombstone.
    pub value: Option<Bytes>,
}

/// `TransactionLogValue`: one transactional id's durable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnLogValue {
    pub producer_id: i64,
    /// The producer id before the last rotation (epoch exhaustion), -1 if none.
    pub previous_producer_id: i64,
    /// The producer id a TV2 transaction rotates to when it completes, -1 if none.
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// Sorted; empty (written as null) in `Empty`.
    pub partitions: Vec<TopicPartition>,
    pub last_update_ms: i64,
    /// -1 when no transaction has started.
    pub start_ms: i64,
    /// The `transaction.version` feature level the client used (0, 1 or 2).
    pub client_transaction_version: i16,
}

/// Encodes a `TransactionLogKey`.
pub fn encode_key(transactional_id: &str) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(KEY_VERSION);
    codec::put_string(&mut out, transactional_id, false);
    out.freeze()
}

/// Decodes a `TransactionLogKey`: `Ok(None)` for a key version this coordinator does not know
/// (Kafka skips those too).
pub fn decode_key(mut buf: &[u8]) -> Result<Option<String>, RecordError> {
    if buf.try_get_i16().map_err(truncated)? != KEY_VERSION {
        return Ok(None);
    }
    let id = codec::string(&mut buf, false)?;
    finish(buf)?;
    Ok(Some(id))
}

fn finish(buf: &[u8]) -> Result<(), RecordError> {
    match buf.len() {
        0 => Ok(()),
        rest => Err(RecordError::TrailingBytes(rest)),
    }
}

/// Groups sorted partitions by topic, in order.
fn by_topic(partitions: &[TopicPartition]) -> Vec<(&str, Vec<i32>)> {
    let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
    for tp in partitions {
        match topics.last_mut() {
            Some((topic, ids)) if *topic == tp.topic => ids.push(tp.partition),
            _ => topics.push((&tp.topic, vec![tp.partition])),
        }
    }
    topics
}

impl TxnLogValue {
    /// Encodes version 1 (see the module doc).
    pub fn encode(&self) -> Bytes {
        assert!(self.state != TxnState::Empty || self.partitions.is_empty(), "an Empty transaction has no partitions");
        let mut out = BytesMut::new();
        out.put_i16(VALUE_VERSION);
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        out.put_i32(self.timeout_ms);
        out.put_i8(self.state.id());
        if self.state == TxnState::Empty {
            codec::put_length(&mut out, None, true, true);
        } else {
            let topics = by_topic(&self.partitions);
            codec::put_length(&mut out, Some(topics.len()), true, true);
            for (topic, ids) in topics {
                codec::put_string(&mut out, topic, true);
                codec::put_length(&mut out, Some(ids.len()), true, true);
                ids.iter().for_each(|id| out.put_i32(*id));
                codec::put_uvarint(&mut out, 0);
            }
        }
        out.put_i64(self.last_update_ms);
        out.put_i64(self.start_ms);
        let mut tags = BytesMut::new();
        let mut count = 0;
        for (tag, value, default) in [
            (TAG_PREVIOUS_PRODUCER_ID, self.previous_producer_id, -1),
            (TAG_NEXT_PRODUCER_ID, self.next_producer_id, -1),
        ] {
            if value != default {
                count += 1;
                codec::put_uvarint(&mut tags, tag);
                codec::put_uvarint(&mut tags, 8);
                tags.put_i64(value);
            }
        }
        if self.client_transaction_version != 0 {
            count += 1;
            codec::put_uvarint(&mut tags, TAG_CLIENT_TRANSACTION_VERSION);
            codec::put_uvarint(&mut tags, 2);
            tags.put_i16(self.client_transaction_version);
        }
        codec::put_uvarint(&mut out, count);
        out.put_slice(&tags);
        out.freeze()
    }

    /// Decodes versions 0 and 1. The partitions come back sorted and without duplicates.
    pub fn decode(mut buf: &[u8]) -> Result<TxnLogValue, RecordError> {
        let version = buf.try_get_i16().map_err(truncated)?;
        if !(0..=1).contains(&version) {
            return Err(RecordError::UnsupportedVersion { schema: "TransactionLogValue", version });
        }
        let flexible = version >= 1;
        let producer_id = buf.try_get_i64().map_err(truncated)?;
        let producer_epoch = buf.try_get_i16().map_err(truncated)?;
        let timeout_ms = buf.try_get_i32().map_err(truncated)?;
        let state = TxnState::from_id(buf.try_get_i8().map_err(truncated)?)
            .ok_or(RecordError::Malformed("unknown transaction state"))?;
        let mut partitions = Vec::new();
        // A topic entry takes at least 3 bytes (flexible) or 6.
        if let Some(topics) = codec::array_len(&mut buf, flexible, if flexible { 3 } else { 6 })? {
            for _ in 0..topics {
                let topic = codec::string(&mut buf, flexible)?;
                let ids =
                    codec::array_len(&mut buf, flexible, 4)?.ok_or(RecordError::Malformed("null partition ids"))?;
                for _ in 0..ids {
                    partitions.push(TopicPartition {
                        topic: topic.clone(),
                        partition: buf.try_get_i32().map_err(truncated)?,
                    });
                }
                if flexible {
                    codec::tagged_fields(&mut buf, |_, _| Ok(()))?;
                }
            }
        }
        partitions.sort();
        partitions.dedup();
        let last_update_ms = buf.try_get_i64().map_err(truncated)?;
        let start_ms = buf.try_get_i64().map_err(truncated)?;
        let mut value = TxnLogValue {
            producer_id,
            previous_producer_id: -1,
            next_producer_id: -1,
            producer_epoch,
            timeout_ms,
            state,
            partitions,
            last_update_ms,
            start_ms,
            client_transaction_version: 0,
        };
        if flexible {
            codec::tagged_fields(&mut buf, |tag, mut field| {
                match tag {
                    TAG_PREVIOUS_PRODUCER_ID => value.previous_producer_id = field.try_get_i64().map_err(truncated)?,
                    TAG_NEXT_PRODUCER_ID => value.next_producer_id = field.try_get_i64().map_err(truncated)?,
                    TAG_CLIENT_TRANSACTION_VERSION => {
                        value.client_transaction_version = field.try_get_i16().map_err(truncated)?
                    }
                    _ => {}
                }
                Ok(())
            })?;
        }
        finish(buf)?;
        if value.state == TxnState::Empty {
            value.partitions.clear();
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests;
