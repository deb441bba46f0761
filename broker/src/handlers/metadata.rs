//! Metadata (key 3): this node as the only broker, the controller and the leader of every
//! partition; topics by name or (v10+) by topic id; auto-creation of unknown topics when
//! `auto.create.topics.enable` is on and the client allows it.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::handlers::describe_cluster::CLUSTER_AUTHORIZED_OPERATIONS;
use crate::reply::{Outcome, RequestContext};
use crate::state::{Broker, now_ms};
use crate::topics::{NewTopic, Topic, TopicError, is_internal_name, validate_name};

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: MetadataRequest) -> Outcome {
    let node = BrokerId(broker.node_id());
    let all_topics = match &req.topics {
        None => true,
        // v0 has no null: an empty list asks for every topic.
        Some(list) => list.is_empty() && ctx.api_version == 0,
    };
    let topics: Vec<MetadataResponseTopic> = if all_topics {
        broker.topics.all().iter().map(|t| describe(t, node)).collect()
    } else {
        let allow_create =
            broker.config.settings.auto_create_topics_enable && (ctx.api_version < 4 || req.allow_auto_topic_creation);
        let mut seen = std::collections::HashSet::new();
        req.topics
            .unwrap_or_default()
            .into_iter()
            // Kafka answers each topic once however often it is asked for.
            .filter(|requested| seen.insert((requested.name.clone(), requested.topic_id)))
            // A topic id, when given, is what Kafka looks the topic up by (the name is then ignored).
            .map(|requested| match requested.name {
                Some(name) if requested.topic_id.is_nil() => by_name(broker, name, allow_create, node),
                _ => by_id(broker, requested.topic_id, node),
            })
            .collect()
    };
    let brokers = vec![
        MetadataResponseBroker::default()
            .with_node_id(node)
            .with_host(StrBytes::from_string(broker.advertised.host.clone()))
            .with_port(broker.advertised.port),
    ];
    // Without an authorizer Kafka reports every operation as allowed, when asked (v8+; the
    // cluster field only up to v10).
    let topics = if req.include_topic_authorized_operations {
        topics.into_iter().map(|t| t.with_topic_authorized_operations(TOPIC_AUTHORIZED_OPERATIONS)).collect()
    } else {
        topics
    };
    let cluster_operations = if req.include_cluster_authorized_operations && ctx.api_version <= 10 {
        CLUSTER_AUTHORIZED_OPERATIONS
    } else {
        i32::MIN
    };
    ctx.respond(ResponseKind::Metadata(
        MetadataResponse::default()
            .with_brokers(brokers)
            .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id.clone())))
            .with_controller_id(node)
            .with_topics(topics)
            .with_cluster_authorized_operations(cluster_operations),
    ))
}

/// The topic operations bit field Kafka reports without an authorizer: READ(3), WRITE(4),
/// CREATE(5), DELETE(6), ALTER(7), DESCRIBE(8), DESCRIBE_CONFIGS(10), ALTER_CONFIGS(11).
const TOPIC_AUTHORIZED_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

fn by_name(broker: &Arc<Broker>, name: TopicName, allow_create: bool, node: BrokerId) -> MetadataResponseTopic {
    let text = name.0.as_str();
    if let Some(topic) = broker.topics.get(text) {
        return describe(&topic, node);
    }
    let error = |code: i16| MetadataResponseTopic::default().with_name(Some(name.clone())).with_error_code(code);
    if let Err(e) = validate_name(text) {
        return error(e.code());
    }
    // Internal topics are made by the component that owns them (the group coordinator makes
    // `__consumer_offsets` with `offsets.topic.num.partitions`), never as a plain auto-created topic.
    if !allow_create || is_internal_name(text) {
        return error(ResponseError::UnknownTopicOrPartition.code()).with_is_internal(is_internal_name(text));
    }
    let created = tokio::task::block_in_place(|| {
        let new = NewTopic {
            name: text,
            partitions: broker.config.settings.num_partitions,
            replication_factor: broker.config.settings.default_replication_factor,
            overrides: Default::default(),
            internal: false,
        };
        broker.topics.create(&broker.log, &broker.config, new, now_ms())
    });
    match created {
        Ok(topic) => describe(&topic, node),
        // Another request created it first.
        Err(TopicError::AlreadyExists(_)) => match broker.topics.get(text) {
            Some(topic) => describe(&topic, node),
            None => error(ResponseError::UnknownTopicOrPartition.code()),
        },
        Err(e) => {
            tracing::warn!(topic = text, error = %e, "auto-creating topic failed");
            error(e.code())
        }
    }
}

fn by_id(broker: &Arc<Broker>, id: Uuid, node: BrokerId) -> MetadataResponseTopic {
    match broker.topics.by_id(id) {
        Some(topic) => describe(&topic, node),
        None => {
            MetadataResponseTopic::default().with_topic_id(id).with_error_code(ResponseError::UnknownTopicId.code())
        }
    }
}

/// A topic as Metadata reports it: every partition led by this node, which is its only replica.
pub fn describe(topic: &Topic, node: BrokerId) -> MetadataResponseTopic {
    let partitions = (0..topic.partition_count())
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(topic.internal)
        .with_partitions(partitions)
}
