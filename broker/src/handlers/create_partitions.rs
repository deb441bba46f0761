//! CreatePartitions: grows topics to a larger partition count, with Kafka's answers:
//! INVALID_PARTITIONS for a count that is not an increase, INVALID_REPLICA_ASSIGNMENT for manual
//! assignments that do not match the new partitions or name a broker other than this node,
//! UNKNOWN_TOPIC_OR_PARTITION, INVALID_REQUEST for a topic listed twice, and `validate_only`.
//! Internal topics keep their partition count: the group coordinator maps groups onto
//! `__consumer_offsets` partitions by that count, so growing it would orphan committed offsets.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{ApiKey, CreatePartitionsRequest, CreatePartitionsResponse, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::api::ApiSpec;
use crate::duplicates::drop_duplicates;
use crate::errors::ErrorCode;
use crate::replica_assignment::check_replicas;
use crate::reply::{Outcome, RequestContext};
use crate::state::{Broker, now_ms};
use crate::topics::PARTITIONS_MAX;

/// The key and versions of CreatePartitions, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::CreatePartitions, 0, 3);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: CreatePartitionsRequest) -> Outcome {
    let mut results = Vec::new();
    let names: Vec<TopicName> = req.topics.iter().map(|t| t.name.clone()).collect();
    let unique = drop_duplicates(names, |name| {
        results.push(answer(name, ResponseError::InvalidRequest.code(), Some("Duplicate topic name.".into())));
    });
    let validate_only = req.validate_only;
    for topic in req.topics.into_iter().filter(|t| unique.contains(&t.name)) {
        let outcome = tokio::task::block_in_place(|| grow(broker, &topic, validate_only));
        results.push(match outcome {
            Ok(()) => answer(&topic.name, 0, None),
            Err((error, message)) => answer(&topic.name, error.code(), Some(message)),
        });
    }
    ctx.respond(ResponseKind::CreatePartitions(CreatePartitionsResponse::default().with_results(results)))
}

/// Checks one topic's request and, unless `validate_only`, adds the partitions.
fn grow(
    broker: &Arc<Broker>,
    request: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), (ResponseError, String)> {
    let name = request.name.0.as_str();
    let topic = broker
        .topics
        .get(name)
        .ok_or_else(|| (ResponseError::UnknownTopicOrPartition, format!("Topic '{name}' does not exist.")))?;
    let current = topic.partition_count();
    let count = request.count;
    let invalid_partitions = |message: String| (ResponseError::InvalidPartitions, message);
    if count == current {
        return Err(invalid_partitions(format!("Topic already has {current} partition(s).")));
    }
    if count < current {
        return Err(invalid_partitions(format!(
            "The topic {name} currently has {current} partition(s); {count} would not be an increase."
        )));
    }
    if count > PARTITIONS_MAX {
        return Err(invalid_partitions(format!(
            "A topic may have at most {PARTITIONS_MAX} partitions; {count} were requested."
        )));
    }
    if topic.internal {
        return Err((
            ResponseError::InvalidRequest,
            format!(
                "Topic '{name}' is internal: its partition count decides where groups or transactional ids are stored and cannot change."
            ),
        ));
    }
    if let Some(assignments) = &request.assignments {
        check_assignments(broker.node_id(), current, count, assignments)?;
    }
    if validate_only {
        return Ok(());
    }
    broker
        .topics
        .add_partitions(&broker.log, &broker.config, name, count, now_ms())
        .map_err(|e| (e.kafka_error(), e.to_string()))
}

/// Manual assignments must give one replica list per new partition, each exactly this node
/// (the replication factor of every Strata topic is 1), as Kafka's controller checks them.
fn check_assignments(
    node: i32,
    current: i32,
    count: i32,
    assignments: &[CreatePartitionsAssignment],
) -> Result<(), (ResponseError, String)> {
    let invalid = |message: String| (ResponseError::InvalidReplicaAssignment, message);
    let additional = count - current;
    if usize::try_from(additional).ok() != Some(assignments.len()) {
        return Err(invalid(format!(
            "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
            assignments.len()
        )));
    }
    for assignment in assignments {
        check_replicas(node, &assignment.broker_ids).map_err(invalid)?;
    }
    Ok(())
}

fn answer(name: &TopicName, error_code: i16, message: Option<String>) -> CreatePartitionsTopicResult {
    CreatePartitionsTopicResult::default()
        .with_name(name.clone())
        .with_error_code(error_code)
        .with_error_message(message.map(StrBytes::from_string))
}
