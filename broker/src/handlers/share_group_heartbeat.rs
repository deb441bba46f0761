//! ShareGroupHeartbeat (v1, KIP-932): a share consumer joins its group (epoch 0, with the topics
//! it subscribes to), stays in it, or leaves (epoch -1); the coordinator answers with the member
//! epoch and, when it changed, the partitions assigned to the member (by topic id). A share
//! group's coordinator is its group id's `__consumer_offsets` partition's leader, as a consumer
//! group's. Errors as Kafka's: INVALID_REQUEST for a missing member id or first subscription,
//! UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH, and GROUP_ID_NOT_FOUND ("not a share group") for a
//! group id a consumer group holds.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::share_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ApiKey, ResponseKind, ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::reply::{Outcome, RequestContext};
use crate::state::{Broker, now_ms};

/// The key and versions of ShareGroupHeartbeat, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::ShareGroupHeartbeat, 1, 1);

/// The DescribeGroups version whose answer tells an unknown group (GROUP_ID_NOT_FOUND).
const DESCRIBE_VERSION: i16 = 6;

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ShareGroupHeartbeatRequest) -> Outcome {
    let refuse = |error: ResponseError, message: String| {
        let response = ShareGroupHeartbeatResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(message)));
        ctx.respond(ResponseKind::ShareGroupHeartbeat(response))
    };
    let group_id = req.group_id.0.to_string();
    if let Err(error) = crate::coordinator_owner::check_group(broker, &group_id) {
        return refuse(error, format!("{error:?}"));
    }
    let consumer_group = broker.groups.read(|c| c.describe_group(&group_id, DESCRIBE_VERSION).error.is_none()).await;
    if consumer_group {
        return refuse(ResponseError::GroupIdNotFound, format!("Group {group_id} is not a share group."));
    }
    let subscribed: Option<Vec<String>> =
        req.subscribed_topic_names.as_ref().map(|names| names.iter().map(|n| n.0.to_string()).collect());
    let partitions = |topic: &str| broker.topics.get(topic).map(|t| t.partition_count());
    let member_id = req.member_id.to_string();
    let client = crate::shares::ClientInfo {
        client_id: ctx.client_id.clone(),
        client_host: crate::groups::convert::client_host(ctx),
        rack: req.rack_id.as_ref().map(|r| r.to_string()),
    };
    let settings = crate::shares::Shares::group_config(broker, &group_id);
    let beat = crate::shares::MemberBeat {
        member_id: &member_id,
        member_epoch: req.member_epoch,
        subscribed: subscribed.as_deref(),
        client,
        session_timeout_ms: settings.session_timeout_ms,
    };
    let reply = broker.shares.heartbeat(&group_id, beat, partitions, now_ms());
    let reply = match reply {
        Ok(reply) => reply,
        Err(error) => return refuse(error.kafka_error(), error.to_string()),
    };
    // What members that left or went silent held is available again: written before answering.
    if let Err(error) = crate::shares::Shares::persist(broker).await {
        tracing::warn!(group = group_id, %error, "cannot write the share group's state");
    }
    crate::shares::dead_letters::deliver(broker).await;
    let assignment = reply.assignment.map(|partitions| {
        let mut topics: Vec<TopicPartitions> = Vec::new();
        for (topic, partition) in partitions {
            let Some(id) = broker.topics.get(&topic).map(|t| t.id) else { continue };
            match topics.iter_mut().find(|t| t.topic_id == id) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(TopicPartitions::default().with_topic_id(id).with_partitions(vec![partition])),
            }
        }
        Assignment::default().with_topic_partitions(topics)
    });
    let response = ShareGroupHeartbeatResponse::default()
        .with_member_id(Some(StrBytes::from_string(member_id)))
        .with_member_epoch(reply.member_epoch)
        .with_heartbeat_interval_ms(settings.heartbeat_interval_ms)
        .with_assignment(assignment);
    ctx.respond(ResponseKind::ShareGroupHeartbeat(response))
}
