//! WriteTxnMarkers (v1, the inter-broker API a transaction coordinator sends to partition
//! leaders): each marker is written to each of its partitions here through
//! [`crate::txn::markers::write_marker`], the same function the local coordinator uses; a
//! partition this broker does not have answers UNKNOWN_TOPIC_OR_PARTITION, a failed write its
//! storage error.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{ApiKey, ResponseKind, WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use strata_groups::TopicPartition;
use strata_wire::control::Marker;

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;
use crate::txn::markers::{MarkerError, write_marker};

/// The key and versions of WriteTxnMarkers, from which the route and ApiVersions are built
/// (Kafka 4 removed v0).
pub const API: ApiSpec = ApiSpec::new(ApiKey::WriteTxnMarkers, 1, 1);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: WriteTxnMarkersRequest) -> Outcome {
    let mut results = Vec::with_capacity(req.markers.len());
    for m in req.markers {
        let marker = Marker {
            producer_id: m.producer_id.0,
            producer_epoch: m.producer_epoch,
            coordinator_epoch: m.coordinator_epoch,
            commit: m.transaction_result,
        };
        let mut topics = Vec::with_capacity(m.topics.len());
        for topic in m.topics {
            let mut partitions = Vec::with_capacity(topic.partition_indexes.len());
            for index in topic.partition_indexes {
                let tp = TopicPartition { topic: topic.name.0.to_string(), partition: index };
                let code = match write_marker(broker, &tp, &marker).await {
                    Ok(()) => 0,
                    Err(MarkerError::UnknownPartition(_)) => ResponseError::UnknownTopicOrPartition.code(),
                    Err(MarkerError::NotLeader(_)) => ResponseError::NotLeaderOrFollower.code(),
                    Err(MarkerError::Append(error)) => error.code(),
                    Err(MarkerError::Write(error)) => error.code(),
                };
                partitions.push(
                    WritableTxnMarkerPartitionResult::default().with_partition_index(index).with_error_code(code),
                );
            }
            topics.push(WritableTxnMarkerTopicResult::default().with_name(topic.name).with_partitions(partitions));
        }
        results.push(WritableTxnMarkerResult::default().with_producer_id(m.producer_id).with_topics(topics));
    }
    ctx.respond(ResponseKind::WriteTxnMarkers(WriteTxnMarkersResponse::default().with_markers(results)))
}
