//! AlterShareGroupOffsets (v0, KIP-932; Admin `alterShareGroupOffsets`,
//! `kafka-share-groups.sh --reset-offsets`): starts share-partitions afresh at the offsets given
//! (what was in flight is forgotten), written to `__share_group_state` before the answer. Only a
//! group without members may be reset (NON_EMPTY_GROUP otherwise, as Kafka answers); the group
//! need not exist yet. A topic or partition that does not exist is UNKNOWN_TOPIC_OR_PARTITION, a
//! negative offset INVALID_REQUEST.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::{AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse, ApiKey, ResponseKind};

use crate::api::ApiSpec;
use crate::groups::convert::wire;
use crate::reply::{Outcome, RequestContext};
use crate::shares::admin;
use crate::state::Broker;

/// The key and versions of AlterShareGroupOffsets, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::AlterShareGroupOffsets, 0, 0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: AlterShareGroupOffsetsRequest) -> Outcome {
    let group_id = req.group_id.0.to_string();
    let refuse = |error: ResponseError, message: String| {
        ctx.respond(ResponseKind::AlterShareGroupOffsets(
            AlterShareGroupOffsetsResponse::default()
                .with_error_code(error.code())
                .with_error_message(Some(wire(message))),
        ))
    };
    if let Err(error) = crate::coordinator_owner::check_group(broker, &group_id) {
        return refuse(error, format!("{error:?}"));
    }
    if broker.shares.has_members(&group_id) {
        return refuse(ResponseError::NonEmptyGroup, format!("Share group {group_id} has active members."));
    }
    let mut responses = Vec::with_capacity(req.topics.len());
    let mut starts = Vec::new();
    for asked in req.topics {
        let topic = broker.topics.get(asked.topic_name.0.as_str());
        let mut partitions = Vec::with_capacity(asked.partitions.len());
        for p in &asked.partitions {
            let answer = AlterShareGroupOffsetsResponsePartition::default().with_partition_index(p.partition_index);
            let known = topic.as_ref().filter(|t| (0..t.partition_count()).contains(&p.partition_index));
            let answer = match known {
                None => answer
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_error_message(Some(wire("This server does not host this topic-partition."))),
                Some(_) if p.start_offset < 0 => answer
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(wire(format!("Invalid start offset {}.", p.start_offset)))),
                Some(topic) => {
                    starts.push(((topic.id, p.partition_index), p.start_offset));
                    answer
                }
            };
            partitions.push(answer);
        }
        responses.push(
            AlterShareGroupOffsetsResponseTopic::default()
                .with_topic_name(asked.topic_name)
                .with_topic_id(topic.map(|t| t.id).unwrap_or_default())
                .with_partitions(partitions),
        );
    }
    if let Err(error) = admin::reset(broker, &group_id, &starts).await {
        return refuse(error, format!("cannot write the share group's state: {error:?}"));
    }
    tracing::info!(group = group_id, "share group offsets altered");
    ctx.respond(ResponseKind::AlterShareGroupOffsets(
        AlterShareGroupOffsetsResponse::default().with_responses(responses),
    ))
}
