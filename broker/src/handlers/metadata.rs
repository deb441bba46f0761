//! Metadata: the live brokers (this node alone on a single node) and the controller; each
//! partition's leader, leader
//! epoch, replicas and ISR as the topic registry holds them; topics by name or (v10+) by topic id;
//! auto-creation of unknown topics when
//! `auto.create.topics.enable` is on and the client allows it.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, MetadataRequest, MetadataResponse, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::api::ApiSpec;
use crate::authorized_operations::{
    AUTHORIZED_OPERATIONS_OMITTED, CLUSTER_AUTHORIZED_OPERATIONS, TOPIC_AUTHORIZED_OPERATIONS,
};
use crate::errors::ErrorCode;
use crate::reply::{Outcome, RequestContext};
use crate::state::{Broker, now_ms};
use crate::topics::{NewTopic, Topic, TopicError, is_internal_name, validate_name};

/// The key and versions of Metadata, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::Metadata, 0, 13);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: MetadataRequest) -> Outcome {
    let all_topics = match &req.topics {
        None => true,
        // v0 has no null: an empty list asks for every topic.
        Some(list) => list.is_empty() && ctx.api_version == 0,
    };
    let topics: Vec<MetadataResponseTopic> = if all_topics {
        broker.topics.all().iter().map(|t| describe(t)).collect()
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
                Some(name) if requested.topic_id.is_nil() => by_name(broker, name, allow_create),
                _ => by_id(broker, requested.topic_id),
            })
            .collect()
    };
    let brokers = broker
        .live_brokers()
        .into_iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.id))
                .with_host(StrBytes::from_string(b.host))
                .with_port(b.port)
                .with_rack(b.rack.map(StrBytes::from_string))
        })
        .collect();
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
        AUTHORIZED_OPERATIONS_OMITTED
    };
    ctx.respond(ResponseKind::Metadata(
        MetadataResponse::default()
            .with_brokers(brokers)
            .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id.clone())))
            .with_controller_id(BrokerId(broker.controller_id()))
            .with_topics(topics)
            .with_cluster_authorized_operations(cluster_operations),
    ))
}

fn by_name(broker: &Arc<Broker>, name: TopicName, allow_create: bool) -> MetadataResponseTopic {
    let text = name.0.as_str();
    if let Some(topic) = broker.topics.get(text) {
        return describe(&topic);
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
        Ok(topic) => describe(&topic),
        // Another request created it first.
        Err(TopicError::AlreadyExists(_)) => match broker.topics.get(text) {
            Some(topic) => describe(&topic),
            None => error(ResponseError::UnknownTopicOrPartition.code()),
        },
        Err(e) => {
            tracing::warn!(topic = text, error = %e, "auto-creating topic failed");
            error(e.code())
        }
    }
}

fn by_id(broker: &Arc<Broker>, id: Uuid) -> MetadataResponseTopic {
    match broker.topics.by_id(id) {
        Some(topic) => describe(&topic),
        None => {
            MetadataResponseTopic::default().with_topic_id(id).with_error_code(ResponseError::UnknownTopicId.code())
        }
    }
}

/// A topic as Metadata reports it: each partition's leadership as the registry holds it.
pub fn describe(topic: &Topic) -> MetadataResponseTopic {
    let nodes = |ids: &[i32]| ids.iter().copied().map(BrokerId).collect::<Vec<_>>();
    let partitions = (0..topic.partition_count())
        .filter_map(|index| topic.leadership(index).map(|l| (index, l)))
        .map(|(index, leadership)| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(BrokerId(leadership.leader))
                .with_leader_epoch(leadership.leader_epoch)
                .with_replica_nodes(nodes(&leadership.replicas))
                .with_isr_nodes(nodes(&leadership.isr))
                .with_offline_replicas(nodes(&leadership.offline_replicas))
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(topic.internal)
        .with_partitions(partitions)
}
