//! ReadShareGroupState (v0, KIP-932; sent by brokers): a partition leader reads the state of a
//! share-partition it comes to lead from its share coordinator, the leader of the key's
//! `__share_group_state` partition (`crate::shares::coordinator`). A share-partition with no
//! state yet answers start offset -1, as Kafka's; a leader epoch older than the state's answers
//! FENCED_LEADER_EPOCH, and a newer one is recorded before the answer.

use std::sync::Arc;

use kafka_protocol::messages::read_share_group_state_response::{PartitionResult, ReadStateResult, StateBatch};
use kafka_protocol::messages::{ApiKey, ReadShareGroupStateRequest, ReadShareGroupStateResponse, ResponseKind};
use strata_shares::StateKey;

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::groups::convert::wire;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of ReadShareGroupState, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::ReadShareGroupState, 0, 0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ReadShareGroupStateRequest) -> Outcome {
    let group_id = req.group_id.to_string();
    let mut results = Vec::with_capacity(req.topics.len());
    for topic in &req.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let key = StateKey { group_id: group_id.clone(), topic_id: topic.topic_id, partition: p.partition };
            let answer = PartitionResult::default().with_partition(p.partition);
            let answer = match broker.shares.coordinator.read(broker, key, p.leader_epoch).await {
                Ok(None) => answer.with_start_offset(-1),
                Ok(Some(record)) => {
                    let batches = record
                        .state
                        .batches
                        .iter()
                        .map(|b| {
                            StateBatch::default()
                                .with_first_offset(b.first_offset)
                                .with_last_offset(b.last_offset)
                                .with_delivery_state(b.delivery_state)
                                .with_delivery_count(b.delivery_count)
                        })
                        .collect();
                    answer
                        .with_state_epoch(record.state_epoch)
                        .with_start_offset(record.state.start_offset)
                        .with_state_batches(batches)
                }
                Err(error) => answer
                    .with_error_code(error.code())
                    .with_error_message(Some(wire(error.to_string())))
                    .with_start_offset(-1),
            };
            partitions.push(answer);
        }
        results.push(ReadStateResult::default().with_topic_id(topic.topic_id).with_partitions(partitions));
    }
    ctx.respond(ResponseKind::ReadShareGroupState(ReadShareGroupStateResponse::default().with_results(results)))
}
