//! WriteShareGroupState (v0, KIP-932; sent by brokers): a partition leader writes the state of
//! a share-partition it leads (its start offset and in-flight records' states and delivery
//! counts) to its share coordinator (`crate::shares::coordinator`), which answers once the
//! `__share_group_state` partition's in-sync replicas hold it. A write from a leader epoch older
//! than the state's answers FENCED_LEADER_EPOCH and changes nothing.

use std::sync::Arc;

use kafka_protocol::messages::write_share_group_state_response::{PartitionResult, WriteStateResult};
use kafka_protocol::messages::{ApiKey, ResponseKind, WriteShareGroupStateRequest, WriteShareGroupStateResponse};
use strata_shares::{PartitionSnapshot, StateBatch, StateKey};

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::groups::convert::wire;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of WriteShareGroupState, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::WriteShareGroupState, 0, 0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: WriteShareGroupStateRequest) -> Outcome {
    let group_id = req.group_id.to_string();
    let mut results = Vec::with_capacity(req.topics.len());
    for topic in &req.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let key = StateKey { group_id: group_id.clone(), topic_id: topic.topic_id, partition: p.partition };
            let batches = p
                .state_batches
                .iter()
                .map(|b| StateBatch::new((b.first_offset, b.last_offset), b.delivery_state, b.delivery_count))
                .collect();
            let state = PartitionSnapshot { start_offset: p.start_offset, batches };
            let written = broker.shares.coordinator.write(broker, key, state, (p.state_epoch, p.leader_epoch)).await;
            let answer = PartitionResult::default().with_partition(p.partition);
            partitions.push(match written {
                Ok(()) => answer,
                Err(error) => answer.with_error_code(error.code()).with_error_message(Some(wire(error.to_string()))),
            });
        }
        results.push(WriteStateResult::default().with_topic_id(topic.topic_id).with_partitions(partitions));
    }
    ctx.respond(ResponseKind::WriteShareGroupState(WriteShareGroupStateResponse::default().with_results(results)))
}
