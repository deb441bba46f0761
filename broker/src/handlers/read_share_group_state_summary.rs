//! ReadShareGroupStateSummary (v0, KIP-932; sent by brokers): a group coordinator asks the share
//! coordinator for a share-partition's start offset and epochs (DescribeShareGroupOffsets in a
//! cluster). No leader epoch is checked or recorded; a share-partition with no state answers
//! start offset -1, as Kafka's.

use std::sync::Arc;

use kafka_protocol::messages::read_share_group_state_summary_response::{PartitionResult, ReadStateSummaryResult};
use kafka_protocol::messages::{
    ApiKey, ReadShareGroupStateSummaryRequest, ReadShareGroupStateSummaryResponse, ResponseKind,
};
use strata_shares::StateKey;

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::groups::convert::wire;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of ReadShareGroupStateSummary, from which the route and ApiVersions are
/// built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::ReadShareGroupStateSummary, 0, 0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ReadShareGroupStateSummaryRequest) -> Outcome {
    let results = req
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let key = StateKey {
                        group_id: req.group_id.to_string(),
                        topic_id: topic.topic_id,
                        partition: p.partition,
                    };
                    let answer = PartitionResult::default().with_partition(p.partition).with_start_offset(-1);
                    match broker.shares.coordinator.summary(broker, &key) {
                        Ok(None) => answer,
                        Ok(Some(record)) => answer
                            .with_state_epoch(record.state_epoch)
                            .with_leader_epoch(record.leader_epoch)
                            .with_start_offset(record.state.start_offset),
                        Err(error) => {
                            answer.with_error_code(error.code()).with_error_message(Some(wire(error.to_string())))
                        }
                    }
                })
                .collect();
            ReadStateSummaryResult::default().with_topic_id(topic.topic_id).with_partitions(partitions)
        })
        .collect();
    ctx.respond(ResponseKind::ReadShareGroupStateSummary(
        ReadShareGroupStateSummaryResponse::default().with_results(results),
    ))
}
