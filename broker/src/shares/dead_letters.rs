//! Dead-letter topics for share groups (beyond Kafka 4.1; the group setting is KIP-1191's
//! `errors.deadletterqueue.topic.name`). In a group that names one, a record a consumer rejects,
//! or one released (or whose lock expired) after its last allowed delivery, is not archived at
//! once: it waits in the window (`DeadLettering`, written to `__share_group_state` as KIP-1191's
//! ARCHIVING) until the broker has copied it to the dead-letter topic (its key, value and
//! headers, and headers naming where it came from and why) and the copy is written; only then is
//! it archived. A crash in between writes it again after the restart: at least once, never lost.
//! A copy that cannot be written (the topic cannot be created, a disk error) is tried again with
//! the group's next request.
//!
//! The copy goes to the dead-letter topic's partition of the source partition's number (modulo
//! its partition count), so one source partition's dead letters keep their order; the topic is
//! created on first use (`crate::own_writes`).

use bytes::{Buf, Bytes};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, RecordBatchDecoder};
use strata_shares::{DeadLetter, DeadLetterReason};
use strata_wire::plain_batch::plain_record;
use uuid::Uuid;

use super::Shares;
use crate::state::{Broker, now_ms};

/// How much of the source partition one read takes to find a dead letter's record.
const READ_BYTES: u32 = 1 << 20;

/// Why dead letters could not be written (they are tried again later).
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("the source partition is not here: error code {0}")]
    Source(i16),
    #[error("cannot read the source records: {0}")]
    Read(String),
    #[error("record {0} is no longer in the source partition")]
    Gone(i64),
    #[error("cannot write to the dead-letter topic: {0}")]
    Write(#[from] crate::own_writes::OwnWriteError),
}

/// Copies every record due to its group's dead-letter topic, archives those written, and writes
/// the share-partitions' new state.
pub async fn deliver(broker: &Broker) {
    let due = broker.shares.take_dead_letters();
    if due.is_empty() {
        return;
    }
    for ((group, (topic_id, partition)), letters) in due {
        let offsets: Vec<i64> = letters.iter().map(|l| l.offset).collect();
        let settings = Shares::group_config(broker, &group);
        // A group that no longer names a dead-letter topic archives them as Kafka would.
        let written = match &settings.dead_letter_topic {
            Some(target) => copy(broker, (&group, topic_id, partition), target, &letters).await,
            None => Ok(()),
        };
        if let Err(error) = &written {
            tracing::warn!(group, partition, %error, "dead letters not written; tried again later");
        }
        broker.shares.dead_lettered(&(group, (topic_id, partition)), &offsets, written.is_ok());
    }
    if let Err(error) = Shares::persist(broker).await {
        tracing::warn!(%error, "cannot write the share groups' state after dead-lettering");
    }
}

/// Copies `letters` of `source` (group, topic id, partition) to topic `target`.
async fn copy(
    broker: &Broker,
    source: (&str, Uuid, i32),
    target: &str,
    letters: &[DeadLetter],
) -> Result<(), DeadLetterError> {
    let (group, topic_id, index) = source;
    let topic = broker.topics.by_id(topic_id);
    let log =
        crate::locate::locate(broker.node_id(), topic.as_deref(), index, -1, 0).map_err(DeadLetterError::Source)?;
    let source_name = topic.as_ref().map(|t| t.name.clone()).unwrap_or_default();
    let now = now_ms();
    let mut records = Vec::with_capacity(letters.len());
    for letter in letters {
        let original = read_record(&log, letter.offset)?;
        records.push(letter_record(original, (&source_name, index, group), letter, now, records.len()));
    }
    crate::own_writes::append_to_topic(broker, (target, index), &records, now).await?;
    tracing::info!(
        group,
        topic = source_name,
        partition = index,
        target,
        count = letters.len(),
        "dead letters written"
    );
    Ok(())
}

/// The record at `offset` of `log`.
fn read_record(log: &strata_log::Partition, offset: i64) -> Result<Record, DeadLetterError> {
    let read = log.read(offset, READ_BYTES).map_err(|e| DeadLetterError::Read(e.to_string()))?;
    let bytes = crate::blocking::run(|| read.copy_bytes()).map_err(|e| DeadLetterError::Read(e.to_string()))?;
    let mut bytes = Bytes::from(bytes);
    while bytes.has_remaining() {
        let set = RecordBatchDecoder::decode(&mut bytes).map_err(|e| DeadLetterError::Read(e.to_string()))?;
        if let Some(record) = set.records.into_iter().find(|r| r.offset == offset) {
            return Ok(record);
        }
    }
    Err(DeadLetterError::Gone(offset))
}

/// The dead-letter copy of `original`: its key, value and headers, and headers naming its
/// source, group, delivery count and why it is here; the `index`th record of the batch.
fn letter_record(
    mut original: Record,
    source: (&str, i32, &str),
    letter: &DeadLetter,
    now: i64,
    index: usize,
) -> Record {
    let (topic, partition, group) = source;
    let reason = match letter.reason {
        DeadLetterReason::Rejected => "CLIENT_REJECTED",
        DeadLetterReason::DeliveryLimit => "MAX_DELIVERY_ATTEMPTS_REACHED",
    };
    let context = [
        ("_dlq.errors.topic", topic.to_string()),
        ("_dlq.errors.partition", partition.to_string()),
        ("_dlq.errors.offset", letter.offset.to_string()),
        ("_dlq.errors.group.id", group.to_string()),
        ("_dlq.errors.delivery.count", letter.delivery_count.to_string()),
        ("_dlq.errors.reason", reason.to_string()),
    ];
    for (key, value) in context {
        original.headers.insert(StrBytes::from_static_str(key), Some(Bytes::from(value)));
    }
    plain_record(index, now, original.key, original.value, original.headers)
}
