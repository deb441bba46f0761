//! OffsetForLeaderEpoch (KIP-101, KIP-279, KIP-320): for each partition, the largest leader epoch
//! at or below the one asked for that this leader's log holds, and the offset where the next
//! epoch starts (its log end for the newest), from the log's leader epoch cache. A follower that
//! follows a new leader cuts its log there, so a divergent tail never survives; a consumer checks
//! its position after a leader change the same way. Answered by the partition's leader only, with
//! the leader epoch checks of Fetch (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{ApiKey, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, ResponseKind};
use strata_log::{UNDEFINED_EPOCH, UNDEFINED_OFFSET};

use crate::api::ApiSpec;
use crate::locate::locate;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of OffsetForLeaderEpoch (Kafka 4 serves v2-4).
pub const API: ApiSpec = ApiSpec::new(ApiKey::OffsetForLeaderEpoch, 2, 4);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: OffsetForLeaderEpochRequest) -> Outcome {
    let topics = req
        .topics
        .iter()
        .map(|topic| {
            let found = broker.topics.get(topic.topic.0.as_str());
            let unknown = ResponseError::UnknownTopicOrPartition.code();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let answer = EpochEndOffset::default().with_partition(p.partition);
                    match locate(broker.node_id(), found.as_deref(), p.partition, p.current_leader_epoch, unknown) {
                        Ok(log) => {
                            let (leader_epoch, end_offset) = log.end_offset_for_epoch(p.leader_epoch);
                            answer.with_leader_epoch(leader_epoch).with_end_offset(end_offset)
                        }
                        Err(code) => answer
                            .with_error_code(code)
                            .with_leader_epoch(UNDEFINED_EPOCH)
                            .with_end_offset(UNDEFINED_OFFSET),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default().with_topic(topic.topic.clone()).with_partitions(partitions)
        })
        .collect();
    ctx.respond(ResponseKind::OffsetForLeaderEpoch(OffsetForLeaderEpochResponse::default().with_topics(topics)))
}
