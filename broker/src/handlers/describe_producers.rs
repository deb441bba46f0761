//! DescribeProducers: each requested partition's active producers, from its log's producer state
//! (`strata_log::Partition::active_producers`): producer id and epoch, last sequence, the
//! largest timestamp of its last batch or marker, the coordinator epoch of its last marker and the
//! start of its open transaction (-1 if none). An unknown topic or partition answers
//! UNKNOWN_TOPIC_OR_PARTITION.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
use kafka_protocol::messages::{ApiKey, DescribeProducersRequest, DescribeProducersResponse, ProducerId, ResponseKind};

use crate::api::ApiSpec;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of DescribeProducers, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::DescribeProducers, 0, 0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeProducersRequest) -> Outcome {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topics.get(t.name.0.as_str());
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&index| {
                    let response = PartitionResponse::default().with_partition_index(index);
                    match topic.as_ref().and_then(|topic| topic.partition(index)) {
                        Some(partition) => response
                            .with_active_producers(partition.active_producers().into_iter().map(producer).collect()),
                        None => response.with_error_code(ResponseError::UnknownTopicOrPartition.code()),
                    }
                })
                .collect();
            TopicResponse::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    ctx.respond(ResponseKind::DescribeProducers(DescribeProducersResponse::default().with_topics(topics)))
}

fn producer(p: strata_log::ActiveProducer) -> ProducerState {
    ProducerState::default()
        .with_producer_id(ProducerId(p.producer_id))
        .with_producer_epoch(i32::from(p.producer_epoch))
        .with_last_sequence(p.last_sequence)
        .with_last_timestamp(p.last_timestamp)
        .with_coordinator_epoch(p.coordinator_epoch)
        .with_current_txn_start_offset(p.current_txn_start_offset.unwrap_or(-1))
}
