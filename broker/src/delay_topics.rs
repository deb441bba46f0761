//! Delay topics (beyond Kafka; RocketMQ's delayed messages for any Kafka consumer): a topic whose
//! setting `strata.delay.target.topic` names another topic is a delay topic. The broker moves each
//! of its records to the target topic once due (its `strata-deliver-at` or `strata-delay-ms`
//! header, else the delay topic's `strata.delivery.delay.ms` after its timestamp; see
//! `crate::shares::delivery_time`), keeping its key, value and headers, to the target partition of
//! its own partition's number (modulo the target's partition count). Any consumer of the target
//! topic then sees it, no earlier than due.
//!
//! Order: each partition is moved in offset order, a record waiting for its time holding back
//! those after it, so records come out in due-time order where their delays are equal (one delay
//! topic per delay, as RocketMQ's delay levels).
//!
//! At least once: how far each partition was moved is committed as the offset of the consumer
//! group `strata-delay-<topic>` (`kafka-consumer-groups.sh` shows its lag) once the moved records
//! are written; after a crash between the two, those records are moved again. On a single node
//! (in a cluster no delay topic is moved yet).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::records::RecordBatchDecoder;
use strata_groups::{OffsetCommitEntry, OffsetCommitRequest, TopicPartition};
use strata_wire::plain_batch::plain_record;

use crate::shares::delivery_time::{TOPIC_DELAY_SETTING, due_times};
use crate::state::{Broker, now_ms};
use crate::topics::{Topic, topic_value};

/// The topic setting naming where a delay topic's records go.
pub const TARGET_SETTING: &str = "strata.delay.target.topic";

/// How often the delay topics are looked at.
const TICK: Duration = Duration::from_millis(20);

/// How much of a partition one look reads.
const READ_BYTES: u32 = 1 << 20;

/// Why a partition's due records could not be moved (tried again next tick).
#[derive(Debug, thiserror::Error)]
enum MoveError {
    #[error("cannot read the delay topic: {0}")]
    Read(String),
    #[error("cannot write to the target topic: {0}")]
    Write(#[from] crate::own_writes::OwnWriteError),
    #[error("cannot commit the delay topic's position: {0}")]
    Commit(String),
}

/// Moves due records of every delay topic, every [`TICK`], for as long as the broker runs.
pub async fn run(broker: Arc<Broker>) {
    if broker.topics.cluster_image().is_some() {
        return;
    }
    let mut positions: HashMap<(uuid::Uuid, i32), i64> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for topic in broker.topics.all() {
            // A topic setting with no broker default: only a topic's own override names a target.
            let Some(target) = topic
                .overrides
                .get(TARGET_SETTING)
                .map(|v| v.trim().to_string())
                .filter(|t| !t.is_empty() && *t != topic.name)
            else {
                continue;
            };
            for index in 0..topic.partition_count() {
                if let Err(error) = move_due(&broker, &topic, index, &target, &mut positions).await {
                    tracing::warn!(topic = %topic.name, partition = index, %error, "delay topic: not moved yet");
                }
            }
        }
    }
}

/// The consumer group whose committed offsets say how far `topic` was moved.
fn mover_group(topic: &str) -> String {
    format!("strata-delay-{topic}")
}

/// Moves the records of `topic`'s partition `index` that are due now, in offset order.
async fn move_due(
    broker: &Broker,
    topic: &Topic,
    index: i32,
    target: &str,
    positions: &mut HashMap<(uuid::Uuid, i32), i64>,
) -> Result<(), MoveError> {
    let Ok(log) = crate::locate::locate(broker.node_id(), Some(topic), index, -1, 0) else { return Ok(()) };
    let key = (topic.id, index);
    let position = match positions.get(&key) {
        Some(&position) => position,
        None => committed(broker, &topic.name, index).await,
    };
    let position = position.max(log.log_start_offset());
    let high_watermark = log.high_watermark();
    if position >= high_watermark {
        positions.insert(key, position);
        return Ok(());
    }
    let read = log.read(position, READ_BYTES).map_err(|e| MoveError::Read(e.to_string()))?;
    let bytes = crate::blocking::run(|| read.copy_bytes()).map_err(|e| MoveError::Read(e.to_string()))?;
    let delay = topic_value(&broker.config, &topic.overrides, TOPIC_DELAY_SETTING)
        .and_then(|(v, _)| v.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let due = due_times(&bytes, delay);
    let now = now_ms();
    let mut moved = Vec::new();
    let mut next = position;
    let mut buf = Bytes::from(bytes);
    'batches: while buf.has_remaining() {
        let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| MoveError::Read(e.to_string()))?;
        for record in set.records.into_iter().filter(|r| r.offset >= position && r.offset < high_watermark) {
            if record.control {
                next = record.offset + 1;
                continue;
            }
            if due.get(&record.offset).is_some_and(|&at| at > now) {
                break 'batches;
            }
            next = record.offset + 1;
            moved.push(plain_record(moved.len(), now, record.key, record.value, record.headers));
        }
    }
    if !moved.is_empty() {
        crate::own_writes::append_to_topic(broker, (target, index), &moved, now).await?;
        tracing::debug!(topic = %topic.name, partition = index, target, count = moved.len(), "delay topic: moved");
    }
    if next > position {
        commit(broker, &topic.name, index, next).await?;
        positions.insert(key, next);
    }
    Ok(())
}

/// How far partition `index` of `topic` was moved, as its mover group last committed (-1: from
/// the log start).
async fn committed(broker: &Broker, topic: &str, index: i32) -> i64 {
    let group = mover_group(topic);
    let wanted = [TopicPartition::new(topic.to_string(), index)];
    let reply = broker.groups.read(|c| c.offset_fetch(&group, Some(&wanted), false)).await;
    reply.partitions.first().map_or(-1, |p| p.offset)
}

/// Commits `offset` as how far partition `index` of `topic` was moved.
async fn commit(broker: &Broker, topic: &str, index: i32, offset: i64) -> Result<(), MoveError> {
    let request = OffsetCommitRequest {
        group_id: mover_group(topic),
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
        offsets: vec![OffsetCommitEntry {
            partition: TopicPartition::new(topic.to_string(), index),
            offset,
            leader_epoch: -1,
            metadata: None,
        }],
    };
    let (reply, persisted) = broker.groups.call(|c, now| c.offset_commit(request, now)).await;
    persisted.map_err(|e| MoveError::Commit(e.to_string()))?;
    match reply.partitions.iter().find_map(|p| p.error) {
        Some(error) => Err(MoveError::Commit(format!("{error:?}"))),
        None => Ok(()),
    }
}
