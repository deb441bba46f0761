//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), earliest local
//! (-4: the log start, as there is no tiered storage), latest tiered (-5: none, so -1) and lookup
//! by timestamp (the first batch whose max timestamp is at least the target; none after the last
//! record, answered with offset -1 and timestamp -1, as Kafka does).
//!
//! The log finds the batch; the answer names the record inside it, as Kafka's does: for a timestamp
//! lookup the first record whose timestamp is at least the target, for max timestamp the first
//! record that has it (KIP-734). Only that one batch is read and decoded (decompressed if it must
//! be); a LogAppendTime batch needs no decoding, every record in it has the batch's timestamp.
//!
//! Latest is the last fetchable offset, as Kafka's `Partition.fetchOffsetForTimestamp` answers:
//! the high watermark for READ_UNCOMMITTED, the last stable offset for READ_COMMITTED (below an
//! open transaction). A timestamp or max-timestamp answer at or past that offset is none (-1).
//!
//! v0 (with `strata.legacy.protocol.enable`; decoded and encoded by `strata_wire::legacy`) asked
//! Kafka for segment base offsets older than a timestamp. Strata answers it with the v1 lookup,
//! one offset per partition: latest and earliest as above, a timestamp the first record at or
//! after it, and, where v1 finds none (the timestamp is after the last record), the high
//! watermark, as Kafka's segment-based answer was the log end for a timestamp that recent.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse, ResponseKind};
use strata_log::Partition;
use strata_wire::batch::BatchHeader;
use strata_wire::compression::BATCH_DECOMPRESSED_BYTES_MAX;

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::locate::locate;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of ListOffsets, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::ListOffsets, 1, 10).with_legacy_min(0);

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;
/// Kafka's `isolation_level` for READ_COMMITTED.
const READ_COMMITTED: i8 = 1;
/// First ListOffsets version whose response carries the leader epoch.
const LEADER_EPOCH_VERSION_MIN: i16 = 4;

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ListOffsetsRequest) -> Outcome {
    let topics = req
        .topics
        .iter()
        .map(|topic| {
            let found = broker.topics.get(topic.name.0.as_str());
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let answer = locate(
                        broker.node_id(),
                        found.as_deref(),
                        p.partition_index,
                        p.current_leader_epoch,
                        ResponseError::UnknownTopicOrPartition.code(),
                    )
                    .and_then(|log| match lookup(&log, p, req.isolation_level == READ_COMMITTED) {
                        Ok((-1, _)) if ctx.api_version == 0 && p.timestamp >= 0 => Ok((log.high_watermark(), -1)),
                        other => other,
                    });
                    match answer {
                        Ok((offset, timestamp)) => ListOffsetsPartitionResponse::default()
                            .with_partition_index(p.partition_index)
                            .with_offset(offset)
                            .with_timestamp(timestamp)
                            .with_leader_epoch(
                                found
                                    .as_deref()
                                    .and_then(|t| t.leadership(p.partition_index))
                                    .filter(|_| offset >= 0 && ctx.api_version >= LEADER_EPOCH_VERSION_MIN)
                                    .map_or(-1, |l| l.leader_epoch),
                            ),
                        Err(code) => ListOffsetsPartitionResponse::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(topic.name.clone()).with_partitions(partitions)
        })
        .collect();
    ctx.respond(ResponseKind::ListOffsets(ListOffsetsResponse::default().with_topics(topics)))
}

/// `(offset, timestamp)` for one partition; -1 for either when there is none.
fn lookup(log: &Partition, p: &ListOffsetsPartition, read_committed: bool) -> Result<(i64, i64), i16> {
    let fetchable = if read_committed { log.last_stable_offset() } else { log.high_watermark() };
    let found = match p.timestamp {
        LATEST => return Ok((fetchable, -1)),
        EARLIEST | EARLIEST_LOCAL => return Ok((log.log_start_offset(), -1)),
        LATEST_TIERED => return Ok((-1, -1)),
        MAX_TIMESTAMP => {
            log.max_timestamp().map(|(timestamp, offset)| record_in_batch(log, offset, timestamp, timestamp))
        }
        target => match log.offset_for_timestamp(target) {
            Ok(found) => found.map(|(offset, timestamp)| record_in_batch(log, offset, timestamp, target)),
            Err(error) => return Err(error.code()),
        },
    };
    Ok(found.filter(|(offset, _)| *offset < fetchable).unwrap_or((-1, -1)))
}

/// `(offset, timestamp)` of the first record at or after the log start with a timestamp of at
/// least `target`, in the batch holding `batch_offset` (which the log found has one, its max
/// timestamp being `batch_timestamp`).
fn record_in_batch(log: &Partition, batch_offset: i64, batch_timestamp: i64, target: i64) -> (i64, i64) {
    let log_start = log.log_start_offset();
    let found = (|| {
        let read = log.read(batch_offset, 1).ok()?;
        let range = read.ranges.first()?;
        let mut batch = Vec::with_capacity(range.len as usize);
        range.read_into(&mut batch).ok()?;
        let header = BatchHeader::parse(&batch).ok()?;
        if header.timestamp_type_is_log_append() {
            return Some((header.base_offset.max(log_start), header.max_timestamp));
        }
        // A client's compressed batch is decompressed with a bound: it may be a bomb.
        let records = strata_wire::records::records(&batch, BATCH_DECOMPRESSED_BYTES_MAX).ok()?;
        records
            .iter()
            .map(|r| (header.base_offset + i64::from(r.offset_delta), r.timestamp))
            .find(|&(offset, timestamp)| timestamp >= target && offset >= log_start)
    })();
    found.unwrap_or_else(|| {
        // The batch vanished under retention, or cannot be decoded: answer for the whole batch.
        tracing::debug!(batch_offset, target, "timestamp lookup answered at batch level");
        (batch_offset.max(log_start), batch_timestamp)
    })
}
