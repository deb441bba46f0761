//! DeleteTopics: topics by name (v1-5 `topic_names`, v6 `topics`) or by topic id
//! (v6), with Kafka's per-topic answers: UNKNOWN_TOPIC_OR_PARTITION or UNKNOWN_TOPIC_ID for topics
//! that do not exist, INVALID_REQUEST for a name or id listed twice or for an entry naming both or
//! neither, and, with `delete.topic.enable=false`, TOPIC_DELETION_DISABLED for every topic
//! (INVALID_REQUEST before v3, as Kafka). Internal topics (`__consumer_offsets`) hold the group
//! coordinator's state, so Strata refuses to delete them with INVALID_REQUEST; Kafka itself would
//! delete them and lose every committed offset.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{ApiKey, DeleteTopicsRequest, DeleteTopicsResponse, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::api::ApiSpec;
use crate::duplicates::drop_duplicates;
use crate::errors::ErrorCode;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of DeleteTopics, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::DeleteTopics, 1, 6).with_legacy_min(0);

/// The first version that answers TOPIC_DELETION_DISABLED instead of INVALID_REQUEST.
const DELETION_DISABLED_VERSION_MIN: i16 = 3;

/// One topic as the request named it: by name, by id, both (refused) or neither (refused).
struct Named {
    name: Option<String>,
    id: Uuid,
}

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DeleteTopicsRequest) -> Outcome {
    let requested: Vec<Named> = if ctx.api_version >= 6 {
        req.topics.into_iter().map(|t| Named { name: t.name.map(|n| n.0.to_string()), id: t.topic_id }).collect()
    } else {
        req.topic_names.into_iter().map(|n| Named { name: Some(n.0.to_string()), id: Uuid::nil() }).collect()
    };
    let responses = if broker.config.settings.delete_topic_enable {
        tokio::task::block_in_place(|| delete(broker, requested))
    } else {
        let error = if ctx.api_version < DELETION_DISABLED_VERSION_MIN {
            ResponseError::InvalidRequest
        } else {
            ResponseError::TopicDeletionDisabled
        };
        requested
            .into_iter()
            .map(|t| result(t.name.as_deref(), t.id, error.code(), Some("Topic deletion is disabled.")))
            .collect()
    };
    ctx.respond(ResponseKind::DeleteTopics(DeleteTopicsResponse::default().with_responses(responses)))
}

/// Resolves every entry to a topic, answers the ones that cannot be deleted, and deletes the rest.
fn delete(broker: &Arc<Broker>, requested: Vec<Named>) -> Vec<DeletableTopicResult> {
    let invalid = ResponseError::InvalidRequest.code();
    let mut responses = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut ids: Vec<Uuid> = Vec::new();
    for entry in requested {
        match entry.name {
            None if entry.id.is_nil() => {
                responses.push(result(None, Uuid::nil(), invalid, Some("Neither topic name nor id were specified.")));
            }
            Some(name) if !entry.id.is_nil() => {
                responses.push(result(
                    Some(&name),
                    entry.id,
                    invalid,
                    Some("You may not specify both topic name and topic id."),
                ));
            }
            Some(name) => names.push(name),
            None => ids.push(entry.id),
        }
    }
    // Kafka answers a duplicated name or id once, with INVALID_REQUEST, and deletes nothing for it.
    let names = drop_duplicates(names, |name| {
        responses.push(result(Some(name), Uuid::nil(), invalid, Some("Duplicate topic name.")));
    });
    let ids = drop_duplicates(ids, |id| {
        responses.push(result(None, *id, invalid, Some("Duplicate topic id.")));
    });

    // Resolve ids to names and names to ids; a name that maps to an id also given is refused.
    let mut to_delete: Vec<(String, Uuid)> = Vec::new();
    let mut seen_ids = HashSet::new();
    for id in ids {
        match broker.topics.by_id(id) {
            Some(topic) => {
                seen_ids.insert(id);
                to_delete.push((topic.name.clone(), id));
            }
            None => responses.push(result(None, id, ResponseError::UnknownTopicId.code(), None)),
        }
    }
    for name in names {
        match broker.topics.get(&name) {
            Some(topic) if seen_ids.contains(&topic.id) => {
                to_delete.retain(|(_, id)| *id != topic.id);
                responses.push(result(
                    Some(&name),
                    topic.id,
                    invalid,
                    Some("The provided topic name maps to an ID that was already supplied."),
                ));
            }
            Some(topic) => to_delete.push((name, topic.id)),
            None => {
                responses.push(result(Some(&name), Uuid::nil(), ResponseError::UnknownTopicOrPartition.code(), None))
            }
        }
    }

    for (name, id) in to_delete {
        let internal = broker.topics.get(&name).is_some_and(|t| t.internal);
        if internal {
            let message = format!("Topic '{name}' is internal (it holds a coordinator's state) and cannot be deleted.");
            responses.push(result(Some(&name), id, invalid, Some(&message)));
            continue;
        }
        match broker.topics.delete(&broker.log, &broker.config, &name) {
            Ok(_) => responses.push(result(Some(&name), id, 0, None)),
            Err(error) => {
                tracing::warn!(topic = %name, %error, "deleting topic failed");
                responses.push(result(Some(&name), id, error.code(), Some(&error.to_string())));
            }
        }
    }
    responses
}

fn result(name: Option<&str>, id: Uuid, error_code: i16, message: Option<&str>) -> DeletableTopicResult {
    DeletableTopicResult::default()
        .with_name(name.map(|n| TopicName(StrBytes::from_string(n.to_string()))))
        .with_topic_id(id)
        .with_error_code(error_code)
        .with_error_message(message.map(|m| StrBytes::from_string(m.to_string())))
}
