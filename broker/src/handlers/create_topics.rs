//! CreateTopics: partitions (-1 for `num.partitions`), replication factor (-1 for
//! `default.replication.factor`; only 1 is possible on one node), manual assignments to this node,
//! topic configs checked against the settings table, and `validate_only`. In a cluster a creation
//! its quorum has not made within the request's `timeout_ms` is answered REQUEST_TIMED_OUT.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use crate::api::ApiSpec;
use crate::config_defs::TOPIC_SETTINGS;
use crate::errors::ErrorCode;
use crate::replica_assignment::check_replicas;
use crate::reply::{Outcome, RequestContext};
use crate::state::{Broker, now_ms};
use crate::topics::{NewTopic, TopicError, topic_value, validate_overrides};

/// The key and versions of CreateTopics, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::CreateTopics, 2, 7).with_legacy_min(0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: CreateTopicsRequest) -> Outcome {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for topic in &req.topics {
        *counts.entry(topic.name.0.to_string()).or_default() += 1;
    }
    // Kafka's controller gives the whole request `timeout_ms` (none when it is not positive).
    let deadline = u64::try_from(req.timeout_ms)
        .ok()
        .filter(|&ms| ms > 0)
        .map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
    let mut reported = HashSet::new();
    let mut results = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let name = topic.name.0.to_string();
        if counts.get(&name).copied().unwrap_or(0) > 1 {
            // Kafka creates no topic whose name is listed twice, and answers that name once.
            if reported.insert(name) {
                results.push(failure(topic, ResponseError::InvalidRequest.code(), "Duplicate topic name.".into()));
            }
            continue;
        }
        results.push(create_one(broker, topic, req.validate_only, deadline).await);
    }
    ctx.respond(ResponseKind::CreateTopics(CreateTopicsResponse::default().with_topics(results)))
}

/// Checks and creates one topic; REQUEST_TIMED_OUT once `deadline` passes while its change waits
/// on the cluster's quorum (the change may still be made afterwards, as in Kafka).
async fn create_one(
    broker: &Arc<Broker>,
    topic: CreatableTopic,
    validate_only: bool,
    deadline: Option<tokio::time::Instant>,
) -> CreatableTopicResult {
    let name = topic.name.0.to_string();
    // Kafka's controller checks the name, then the configs, then the partitions and replicas.
    if let Err(e) = broker.topics.check_new_name(&name) {
        return failure(topic, e.code(), e.to_string());
    }
    let nulls: Vec<&str> = topic.configs.iter().filter(|c| c.value.is_none()).map(|c| c.name.as_str()).collect();
    if !nulls.is_empty() {
        let message = format!("Null value not supported for topic configs: {}", nulls.join(","));
        return failure(topic, ResponseError::InvalidConfig.code(), message);
    }
    let overrides: BTreeMap<String, String> =
        topic.configs.iter().filter_map(|c| c.value.as_ref().map(|v| (c.name.to_string(), v.to_string()))).collect();
    if let Err(e) = validate_overrides(&overrides) {
        return failure(topic, e.code(), e.to_string());
    }
    let (partitions, replication_factor) = match shape(broker, &topic) {
        Ok(shape) => shape,
        Err((code, message)) => return failure(topic, code, message),
    };
    let outcome = if validate_only {
        broker.topics.check_new(&name, partitions, replication_factor, &overrides).map(|()| None)
    } else {
        let (owner, named, overrides) = (Arc::clone(broker), name.clone(), overrides.clone());
        let creating = tokio::task::spawn_blocking(move || {
            let new = NewTopic { name: &named, partitions, replication_factor, overrides, internal: false };
            owner.topics.create(&owner.log, &owner.config, new, now_ms()).map(|created| created.id)
        });
        let finished = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, creating).await,
            None => Ok(creating.await),
        };
        match finished {
            Ok(Ok(created)) => created.map(Some),
            Ok(Err(panicked)) => Err(TopicError::Storage(format!("the topic's creation failed: {panicked}"))),
            Err(_) => Err(TopicError::Quorum(format!("topic '{name}' was not created within the request's timeout"))),
        }
    };
    match outcome {
        Ok(created) => {
            let configs = TOPIC_SETTINGS
                .iter()
                .filter_map(|s| {
                    let (value, source) = topic_value(&broker.config, &overrides, s.name)?;
                    Some(
                        CreatableTopicConfigs::default()
                            .with_name(StrBytes::from_static_str(s.name))
                            .with_value(Some(StrBytes::from_string(value.to_string())))
                            .with_config_source(source.config_source()),
                    )
                })
                .collect();
            let mut result = CreatableTopicResult::default()
                .with_name(topic.name)
                .with_error_message(None)
                .with_num_partitions(partitions)
                .with_replication_factor(i16::try_from(replication_factor).unwrap_or(1))
                .with_configs(Some(configs));
            if let Some(id) = created {
                result = result.with_topic_id(id);
            }
            result
        }
        Err(e) => failure(topic, e.code(), e.to_string()),
    }
}

/// Resolves -1 defaults and manual assignments to (partitions, replication factor), refusing
/// what Kafka's controller refuses with the same error codes.
fn shape(broker: &Arc<Broker>, topic: &CreatableTopic) -> Result<(i32, i32), (i16, String)> {
    if !topic.assignments.is_empty() {
        let invalid_request = |message: &str| (ResponseError::InvalidRequest.code(), message.to_string());
        if topic.replication_factor != -1 {
            return Err(invalid_request(
                "A manual partition assignment was specified, but replication factor was not set to -1.",
            ));
        }
        if topic.num_partitions != -1 {
            return Err(invalid_request(
                "A manual partition assignment was specified, but numPartitions was not set to -1.",
            ));
        }
        let invalid_assignment = |message: String| (ResponseError::InvalidReplicaAssignment.code(), message);
        let node = broker.node_id();
        let count = i32::try_from(topic.assignments.len()).unwrap_or(i32::MAX);
        let mut indexes: Vec<i32> = topic.assignments.iter().map(|a| a.partition_index).collect();
        indexes.sort_unstable();
        if indexes != (0..count).collect::<Vec<_>>() {
            return Err(invalid_assignment("partitions should be a consecutive 0-based integer sequence".into()));
        }
        for assignment in &topic.assignments {
            check_replicas(node, &assignment.broker_ids).map_err(invalid_assignment)?;
        }
        return Ok((count, 1));
    }
    let partitions = match topic.num_partitions {
        -1 => broker.config.settings.num_partitions,
        n if n <= 0 => {
            let message = "Number of partitions was set to an invalid non-positive value.".to_string();
            return Err((ResponseError::InvalidPartitions.code(), message));
        }
        n => n,
    };
    let replication_factor = match topic.replication_factor {
        -1 => broker.config.settings.default_replication_factor,
        n if n <= 0 => {
            let message = "Replication factor must be larger than 0, or -1 to use the default value.".to_string();
            return Err((ResponseError::InvalidReplicationFactor.code(), message));
        }
        n => i32::from(n),
    };
    Ok((partitions, replication_factor))
}

fn failure(topic: CreatableTopic, error_code: i16, message: String) -> CreatableTopicResult {
    CreatableTopicResult::default()
        .with_name(topic.name)
        .with_error_code(error_code)
        .with_error_message(Some(StrBytes::from_string(message)))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
}
