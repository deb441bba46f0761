//! DeleteRecords: advances a partition's log start offset to the requested offset
//! (-1 for the high watermark), deleting segments that lie wholly below it; answers the new log
//! start as `low_watermark`. An offset past the high watermark is OFFSET_OUT_OF_RANGE. Records of
//! an internal topic are never deleted (INVALID_TOPIC_EXCEPTION, as Kafka refuses them): moving
//! `__consumer_offsets`' log start would drop every committed offset at the next replay.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, ResponseKind};

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::locate::locate;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of DeleteRecords, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::DeleteRecords, 0, 2);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DeleteRecordsRequest) -> Outcome {
    // Deleting segments unlinks files: keep it off the runtime's other tasks.
    let topics = tokio::task::block_in_place(|| {
        req.topics
            .iter()
            .map(|topic| {
                let found = broker.topics.get(topic.name.0.as_str());
                let partitions = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        let result = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
                        let internal = found.as_deref().is_some_and(|t| t.internal);
                        let deleted = if internal {
                            Err(ResponseError::InvalidTopicException.code())
                        } else {
                            locate(broker.node_id(), found.as_deref(), p.partition_index, -1, ResponseError::UnknownTopicOrPartition.code())
                        };
                        let deleted = deleted.and_then(|log| {
                                log.delete_records(p.offset).map_err(|error| {
                                    tracing::debug!(topic = %topic.name.0, partition = p.partition_index, %error, "delete records refused");
                                    error.code()
                                })
                            });
                        match deleted {
                            Ok(log_start) => result.with_low_watermark(log_start),
                            Err(code) => result.with_low_watermark(-1).with_error_code(code),
                        }
                    })
                    .collect();
                DeleteRecordsTopicResult::default().with_name(topic.name.clone()).with_partitions(partitions)
            })
            .collect()
    });
    ctx.respond(ResponseKind::DeleteRecords(DeleteRecordsResponse::default().with_topics(topics)))
}
