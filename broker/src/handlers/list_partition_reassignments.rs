//! ListPartitionReassignments (`kafka-reassign-partitions.sh --verify`, Admin
//! `listPartitionReassignments`): the partitions with a reassignment under way (all of them, or
//! those named), with their replicas and the ones being added and removed. A named partition that
//! does not exist is left out, as Kafka's controller leaves it out.

use std::sync::Arc;

use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::api::ApiSpec;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of ListPartitionReassignments, from which the route and ApiVersions
/// are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::ListPartitionReassignments, 0, 0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ListPartitionReassignmentsRequest) -> Outcome {
    let ids = |replicas: &[i32]| replicas.iter().map(|r| BrokerId(*r)).collect::<Vec<_>>();
    let mut topics = Vec::new();
    for topic in broker.topics.all() {
        let wanted: Option<Vec<i32>> = match &req.topics {
            None => None,
            Some(asked) => match asked.iter().find(|t| t.name.0.as_str() == topic.name) {
                Some(t) => Some(t.partition_indexes.clone()),
                None => continue,
            },
        };
        let partitions: Vec<OngoingPartitionReassignment> = (0..topic.partition_count())
            .filter(|p| wanted.as_ref().is_none_or(|w| w.contains(p)))
            .filter_map(|p| topic.leadership(p).filter(|l| l.is_reassigning()).map(|l| (p, l)))
            .map(|(p, l)| {
                OngoingPartitionReassignment::default()
                    .with_partition_index(p)
                    .with_replicas(ids(&l.replicas))
                    .with_adding_replicas(ids(&l.adding_replicas))
                    .with_removing_replicas(ids(&l.removing_replicas))
            })
            .collect();
        if !partitions.is_empty() {
            topics.push(
                OngoingTopicReassignment::default()
                    .with_name(TopicName(StrBytes::from_string(topic.name.clone())))
                    .with_partitions(partitions),
            );
        }
    }
    ctx.respond(ResponseKind::ListPartitionReassignments(
        ListPartitionReassignmentsResponse::default().with_topics(topics),
    ))
}
