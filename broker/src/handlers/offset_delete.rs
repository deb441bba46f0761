//! OffsetDelete: deletes committed offsets of a group, except (for a group with
//! members) those of topics it subscribes to (GROUP_SUBSCRIBED_TO_TOPIC). Partitions of unknown
//! topics answer UNKNOWN_TOPIC_OR_PARTITION, as Kafka does; a group this broker does not
//! coordinate, NOT_COORDINATOR (`crate::coordinator_owner`).

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{ApiKey, OffsetDeleteRequest, OffsetDeleteResponse, ResponseKind};
use strata_groups::TopicPartition;

use crate::api::ApiSpec;
use crate::errors::{ErrorCode, GROUP_STORE_FAILED, code_or_none};
use crate::groups::convert::text;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of OffsetDelete, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::OffsetDelete, 0, 0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: OffsetDeleteRequest) -> Outcome {
    if let Err(error) = crate::coordinator_owner::check_group(broker, &req.group_id) {
        return ctx.respond(ResponseKind::OffsetDelete(OffsetDeleteResponse::default().with_error_code(error.code())));
    }
    let mut codes: HashMap<TopicPartition, i16> = HashMap::new();
    let mut known = Vec::new();
    for topic in &req.topics {
        let count = broker.topics.get(&topic.name).map(|t| t.partition_count());
        for p in &topic.partitions {
            let tp = TopicPartition::new(text(&topic.name), p.partition_index);
            if count.is_none_or(|count| p.partition_index < 0 || p.partition_index >= count) {
                codes.insert(tp, ResponseError::UnknownTopicOrPartition.code());
            } else {
                known.push(tp);
            }
        }
    }
    let group_id = text(&req.group_id);
    let (reply, persisted) = broker.groups.call(|c, now| c.offset_delete(&group_id, &known, now)).await;
    let response = if let Some(error) = reply.error {
        OffsetDeleteResponse::default().with_error_code(error.code())
    } else if persisted.is_err() {
        OffsetDeleteResponse::default().with_error_code(GROUP_STORE_FAILED.code())
    } else {
        for result in reply.partitions {
            codes.insert(result.partition, code_or_none(result.error));
        }
        let topics = req
            .topics
            .iter()
            .map(|topic| {
                let partitions = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        let code = codes
                            .get(&TopicPartition::new(text(&topic.name), p.partition_index))
                            .copied()
                            .unwrap_or_else(|| ResponseError::UnknownServerError.code());
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect();
                OffsetDeleteResponseTopic::default().with_name(topic.name.clone()).with_partitions(partitions)
            })
            .collect();
        OffsetDeleteResponse::default().with_topics(topics)
    };
    ctx.respond(ResponseKind::OffsetDelete(response))
}
