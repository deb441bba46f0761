//! DeleteShareGroupOffsets (v0, KIP-932; Admin `deleteShareGroupOffsets`,
//! `kafka-share-groups.sh --delete-offsets`): forgets a share group's state for whole topics (a
//! tombstone in `__share_group_state`, written before the answer); the group starts those topics
//! afresh at its `share.auto.offset.reset` point. Only a group without members
//! (NON_EMPTY_GROUP), one that is a share group here (GROUP_ID_NOT_FOUND); a topic that does not
//! exist is UNKNOWN_TOPIC_OR_PARTITION.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic;
use kafka_protocol::messages::{ApiKey, DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse, ResponseKind};

use crate::api::ApiSpec;
use crate::groups::convert::wire;
use crate::reply::{Outcome, RequestContext};
use crate::shares::admin;
use crate::state::Broker;

/// The key and versions of DeleteShareGroupOffsets, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::DeleteShareGroupOffsets, 0, 0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DeleteShareGroupOffsetsRequest) -> Outcome {
    let group_id = req.group_id.0.to_string();
    let refuse = |error: ResponseError, message: String| {
        ctx.respond(ResponseKind::DeleteShareGroupOffsets(
            DeleteShareGroupOffsetsResponse::default()
                .with_error_code(error.code())
                .with_error_message(Some(wire(message))),
        ))
    };
    if let Err(error) = crate::coordinator_owner::check_group(broker, &group_id) {
        return refuse(error, format!("{error:?}"));
    }
    match admin::is_known(broker, &group_id).await {
        Ok(true) => {}
        Ok(false) => return refuse(ResponseError::GroupIdNotFound, format!("Group {group_id} not found.")),
        Err(error) => return refuse(error, format!("cannot read the share group's state: {error:?}")),
    }
    if broker.shares.has_members(&group_id) {
        return refuse(ResponseError::NonEmptyGroup, format!("Share group {group_id} has active members."));
    }
    let mut forgotten = Vec::new();
    let responses = req
        .topics
        .into_iter()
        .map(|asked| {
            let answer = DeleteShareGroupOffsetsResponseTopic::default().with_topic_name(asked.topic_name.clone());
            match broker.topics.get(asked.topic_name.0.as_str()) {
                Some(topic) => {
                    forgotten.push(topic.id);
                    answer.with_topic_id(topic.id)
                }
                None => answer
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_error_message(Some(wire("This server does not host this topic-partition."))),
            }
        })
        .collect();
    if let Err(error) = admin::forget(broker, &group_id, Some(&forgotten)).await {
        return refuse(error, format!("cannot delete the share group's state: {error:?}"));
    }
    tracing::info!(group = group_id, "share group offsets deleted");
    ctx.respond(ResponseKind::DeleteShareGroupOffsets(
        DeleteShareGroupOffsetsResponse::default().with_responses(responses),
    ))
}
