//! ShareAcknowledge (v1, KIP-932): a share consumer acknowledges records it acquired, outside a
//! fetch, in its share session (the next epoch, or -1 to close the session, releasing what it
//! still holds). Each partition's batches are applied as a piggy-backed ShareFetch
//! acknowledgement is (`crate::shares`): INVALID_RECORD_STATE for a record this member does not
//! hold, and nothing changes for that batch. The answer waits until the share-partitions' new
//! state is written (`__share_group_state`).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::share_acknowledge_response::{PartitionData, ShareAcknowledgeTopicResponse};
use kafka_protocol::messages::{ApiKey, ResponseKind, ShareAcknowledgeRequest, ShareAcknowledgeResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::reply::{Outcome, RequestContext};
use crate::state::{Broker, now_ms};

/// The key and versions of ShareAcknowledge, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::ShareAcknowledge, 1, 1);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ShareAcknowledgeRequest) -> Outcome {
    let refuse = |error: ResponseError, message: &str| {
        ctx.respond(ResponseKind::ShareAcknowledge(
            ShareAcknowledgeResponse::default()
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message.to_string()))),
        ))
    };
    let (Some(group), Some(member)) = (req.group_id.as_ref(), req.member_id.as_ref()) else {
        return refuse(ResponseError::InvalidRequest, "GroupId and MemberId are required");
    };
    let (group, member) = (group.0.to_string(), member.to_string());
    let epoch = req.share_session_epoch;
    if epoch == 0 {
        return refuse(ResponseError::InvalidShareSessionEpoch, "ShareAcknowledge cannot open a share session");
    }
    if epoch != -1
        && let Err(error) = broker.shares.session((&group, &member), epoch, &[], &[], now_ms(), false)
    {
        return refuse(error.kafka_error(), &error.to_string());
    }
    let mut topics = Vec::with_capacity(req.topics.len());
    for topic in &req.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let wire: Vec<(i64, i64, &[i8])> = p
                .acknowledgement_batches
                .iter()
                .map(|b| (b.first_offset, b.last_offset, &b.acknowledge_types[..]))
                .collect();
            let key = (topic.topic_id, p.partition_index);
            let code = broker.shares.acknowledge(&group, &member, key, &wire, now_ms()).err().map_or(0, |e| e.code());
            partitions.push(PartitionData::default().with_partition_index(p.partition_index).with_error_code(code));
        }
        topics.push(ShareAcknowledgeTopicResponse::default().with_topic_id(topic.topic_id).with_partitions(partitions));
    }
    if epoch == -1
        && let Err(error) = broker.shares.session((&group, &member), -1, &[], &[], now_ms(), false)
    {
        return refuse(error.kafka_error(), &error.to_string());
    }
    // An acknowledgement counts once it is written: a partition's answer says if it was not.
    if let Err(error) = crate::shares::Shares::persist(broker).await {
        tracing::warn!(group, %error, "cannot write the share group's state");
        let code = error.code();
        for partition in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()).filter(|p| p.error_code == 0) {
            partition.error_code = code;
        }
    }
    crate::shares::dead_letters::deliver(broker).await;
    ctx.respond(ResponseKind::ShareAcknowledge(ShareAcknowledgeResponse::default().with_responses(topics)))
}
