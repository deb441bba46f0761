//! Records the broker writes itself, as a producer without a producer id would: no sequence, no
//! transaction, offsets 0..n (the log assigns the real ones), all in one v2 batch. Used for a
//! legacy message set turned into a v2 batch and for a share group's dead letters.

use bytes::Bytes;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, Record, TimestampType};

/// The `index`th record of such a batch.
pub fn plain_record(
    index: usize,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: IndexMap<StrBytes, Option<Bytes>>,
) -> Record {
    let offset = i64::try_from(index).unwrap_or(i64::MAX);
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        timestamp_type: TimestampType::Creation,
        offset,
        // The encoder keeps records in one batch while offset - sequence stays the same; this
        // gives the batch base sequence -1 (no sequence), as Kafka writes it.
        sequence: i32::try_from(offset - 1).unwrap_or(i32::MAX),
        timestamp,
        key,
        value,
        headers,
    }
}
