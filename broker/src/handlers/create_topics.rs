//! CreateTopics (key 19): partitions (-1 for `num.partitions`), replication factor (-1 for
//! `default.replication.factor`; only 1 is possible on one node), manual assignments to this node,
//! topic configs checked against the settings table, and `validate_only`.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use crate::config_defs::TOPIC_SETTINGS;
use crate::reply::{Outcome, RequestContext};
use crate::state::{Broker, now_ms};
use crate::topics::{TopicError, TopicValueSource, topic_value};

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: CreateTopicsRequest) -> Outcome {
    let mut seen = std::collections::HashSet::new();
    let results = req
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            if !seen.insert(name.clone()) {
                // Kafka refuses every occurrence of a name listed twice; the first is answered below.
                return failure(topic, &TopicError::InvalidConfig {
                    key: "name".into(),
                    value: name,
                    reason: "listed more than once in the request".into(),
                });
            }
            create_one(broker, topic, req.validate_only)
        })
        .collect();
    ctx.respond(ResponseKind::CreateTopics(CreateTopicsResponse::default().with_topics(results)))
}

fn create_one(broker: &Arc<Broker>, topic: CreatableTopic, validate_only: bool) -> CreatableTopicResult {
    let name = topic.name.0.to_string();
    let overrides: BTreeMap<String, String> = topic
        .configs
        .iter()
        .filter_map(|c| c.value.as_ref().map(|v| (c.name.to_string(), v.to_string())))
        .collect();
    let (partitions, replication_factor) = match shape(broker, &topic) {
        Ok(shape) => shape,
        Err(e) => return failure(topic, &e),
    };
    let outcome = if validate_only {
        broker.topics.check_new(&name, partitions, replication_factor, &overrides).map(|()| None)
    } else {
        tokio::task::block_in_place(|| {
            broker.topics.create(&broker.log, &broker.config, &name, partitions, replication_factor, overrides.clone(), false, now_ms())
        })
        .map(Some)
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
                            .with_config_source(match source {
                                TopicValueSource::Topic => 1,
                                TopicValueSource::StaticBroker => 4,
                                TopicValueSource::Default => 5,
                            }),
                    )
                })
                .collect();
            let mut result = CreatableTopicResult::default()
                .with_name(topic.name)
                .with_num_partitions(partitions)
                .with_replication_factor(i16::try_from(replication_factor).unwrap_or(1))
                .with_configs(Some(configs));
            if let Some(created) = created {
                result = result.with_topic_id(created.id);
            }
            result
        }
        Err(e) => failure(topic, &e),
    }
}

/// Resolves -1 defaults and manual assignments to (partitions, replication factor).
fn shape(broker: &Arc<Broker>, topic: &CreatableTopic) -> Result<(i32, i32), TopicError> {
    if !topic.assignments.is_empty() {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(TopicError::InvalidConfig {
                key: "assignments".into(),
                value: String::new(),
                reason: "both manual assignments and a partition count or replication factor were given".into(),
            });
        }
        let node = broker.node_id();
        let count = i32::try_from(topic.assignments.len()).unwrap_or(i32::MAX);
        let mut indexes: Vec<i32> = topic.assignments.iter().map(|a| a.partition_index).collect();
        indexes.sort_unstable();
        if indexes != (0..count).collect::<Vec<_>>() {
            return Err(TopicError::InvalidPartitions { count, reason: "assignments must cover partitions 0..n-1".into() });
        }
        let replicas = topic.assignments[0].broker_ids.len();
        if topic.assignments.iter().any(|a| a.broker_ids.iter().any(|b| b.0 != node) || a.broker_ids.len() != replicas) {
            return Err(TopicError::InvalidReplicationFactor(i32::try_from(replicas).unwrap_or(i32::MAX)));
        }
        return Ok((count, i32::try_from(replicas).unwrap_or(i32::MAX)));
    }
    let partitions = match topic.num_partitions {
        -1 => broker.config.num_partitions(),
        n if n <= 0 => return Err(TopicError::InvalidPartitions { count: n, reason: "must be positive".into() }),
        n => n,
    };
    let replication_factor = match topic.replication_factor {
        -1 => i32::from(broker.config.default_replication_factor()),
        n => i32::from(n),
    };
    Ok((partitions, replication_factor))
}

fn failure(topic: CreatableTopic, error: &TopicError) -> CreatableTopicResult {
    CreatableTopicResult::default()
        .with_name(topic.name)
        .with_error_code(error.code())
        .with_error_message(Some(StrBytes::from_string(error.to_string())))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
}
