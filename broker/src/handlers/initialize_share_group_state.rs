//! InitializeShareGroupState (v0, KIP-932; sent by brokers): a group coordinator has the share
//! coordinator start a share-partition afresh at a start offset, in the next state epoch
//! (AlterShareGroupOffsets in a cluster); the partition leader's writes from the state it had
//! are then refused (FENCED_STATE_EPOCH) and it reads the new state.

use std::sync::Arc;

use kafka_protocol::messages::initialize_share_group_state_response::{InitializeStateResult, PartitionResult};
use kafka_protocol::messages::{
    ApiKey, InitializeShareGroupStateRequest, InitializeShareGroupStateResponse, ResponseKind,
};
use strata_shares::StateKey;

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::groups::convert::wire;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of InitializeShareGroupState, from which the route and ApiVersions are
/// built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::InitializeShareGroupState, 0, 0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: InitializeShareGroupStateRequest) -> Outcome {
    let mut results = Vec::with_capacity(req.topics.len());
    for topic in &req.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let key = StateKey { group_id: req.group_id.to_string(), topic_id: topic.topic_id, partition: p.partition };
            let answer = PartitionResult::default().with_partition(p.partition);
            partitions.push(match broker.shares.coordinator.initialize(broker, key, p.start_offset).await {
                Ok(()) => answer,
                Err(error) => answer.with_error_code(error.code()).with_error_message(Some(wire(error.to_string()))),
            });
        }
        results.push(InitializeStateResult::default().with_topic_id(topic.topic_id).with_partitions(partitions));
    }
    ctx.respond(ResponseKind::InitializeShareGroupState(
        InitializeShareGroupStateResponse::default().with_results(results),
    ))
}
