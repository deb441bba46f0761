//! DeleteShareGroupState (v0, KIP-932; sent by brokers): a group coordinator has the share
//! coordinator delete a share-partition's state (DeleteShareGroupOffsets and DeleteGroups in a
//! cluster); the partition leader starts it afresh when a member next opens a share session.

use std::sync::Arc;

use kafka_protocol::messages::delete_share_group_state_response::{DeleteStateResult, PartitionResult};
use kafka_protocol::messages::{ApiKey, DeleteShareGroupStateRequest, DeleteShareGroupStateResponse, ResponseKind};
use strata_shares::StateKey;

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::groups::convert::wire;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of DeleteShareGroupState, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::DeleteShareGroupState, 0, 0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DeleteShareGroupStateRequest) -> Outcome {
    let mut results = Vec::with_capacity(req.topics.len());
    for topic in &req.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let key = StateKey { group_id: req.group_id.to_string(), topic_id: topic.topic_id, partition: p.partition };
            let answer = PartitionResult::default().with_partition(p.partition);
            partitions.push(match broker.shares.coordinator.delete(broker, key).await {
                Ok(()) => answer,
                Err(error) => answer.with_error_code(error.code()).with_error_message(Some(wire(error.to_string()))),
            });
        }
        results.push(DeleteStateResult::default().with_topic_id(topic.topic_id).with_partitions(partitions));
    }
    ctx.respond(ResponseKind::DeleteShareGroupState(DeleteShareGroupStateResponse::default().with_results(results)))
}
