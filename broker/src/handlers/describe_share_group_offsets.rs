//! DescribeShareGroupOffsets (v0, KIP-932; Admin `listShareGroupOffsets`,
//! `kafka-share-groups.sh --describe --offsets`): each share-partition's start offset (SPSO), for
//! the topics asked, or (null topics) every one the group has state for. A partition the group has
//! no state for has start offset -1, as in Kafka; a group that is not a share group here is
//! GROUP_ID_NOT_FOUND; one this broker does not coordinate NOT_COORDINATOR. In a cluster the
//! start offsets come from the share coordinators (`crate::shares::admin`).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestTopic;
use kafka_protocol::messages::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponseGroup, DescribeShareGroupOffsetsResponsePartition,
    DescribeShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse, ResponseKind, TopicName,
};

use crate::api::ApiSpec;
use crate::groups::convert::wire;
use crate::reply::{Outcome, RequestContext};
use crate::shares::{PartitionKey, admin};
use crate::state::Broker;

/// The key and versions of DescribeShareGroupOffsets, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::DescribeShareGroupOffsets, 0, 0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeShareGroupOffsetsRequest) -> Outcome {
    let mut groups = Vec::with_capacity(req.groups.len());
    for asked in req.groups {
        let group_id = asked.group_id.0.to_string();
        let answer = DescribeShareGroupOffsetsResponseGroup::default().with_group_id(asked.group_id);
        let refused = |answer: DescribeShareGroupOffsetsResponseGroup, error: ResponseError, message: String| {
            answer.with_error_code(error.code()).with_error_message(Some(wire(message)))
        };
        if let Err(error) = crate::coordinator_owner::check_group(broker, &group_id) {
            groups.push(refused(answer, error, format!("{error:?}")));
            continue;
        }
        let starts = match admin::start_offsets(broker, &group_id).await {
            Ok(starts) => starts,
            Err(error) => {
                groups.push(refused(answer, error, format!("cannot read the share group's state: {error:?}")));
                continue;
            }
        };
        if !broker.shares.is_known(&group_id) && starts.is_empty() {
            groups.push(refused(answer, ResponseError::GroupIdNotFound, format!("Group {group_id} not found.")));
            continue;
        }
        let topics = match asked.topics {
            Some(topics) => topics.into_iter().map(|t| asked_topic(broker, t, &starts)).collect(),
            None => every_topic(broker, &starts),
        };
        groups.push(answer.with_topics(topics));
    }
    ctx.respond(ResponseKind::DescribeShareGroupOffsets(
        DescribeShareGroupOffsetsResponse::default().with_groups(groups),
    ))
}

/// A partition's answer: its start offset, -1 where the group has no state.
fn partition(index: i32, start: i64) -> DescribeShareGroupOffsetsResponsePartition {
    DescribeShareGroupOffsetsResponsePartition::default()
        .with_partition_index(index)
        .with_start_offset(start)
        .with_leader_epoch(if start < 0 { -1 } else { 0 })
}

/// The partitions of a topic the request names.
fn asked_topic(
    broker: &Broker,
    asked: DescribeShareGroupOffsetsRequestTopic,
    starts: &BTreeMap<PartitionKey, i64>,
) -> DescribeShareGroupOffsetsResponseTopic {
    let topic = broker.topics.get(asked.topic_name.0.as_str());
    let id = topic.as_ref().map(|t| t.id).unwrap_or_default();
    let partitions = asked
        .partitions
        .iter()
        .map(|&index| match &topic {
            Some(_) => partition(index, starts.get(&(id, index)).copied().unwrap_or(-1)),
            None => partition(index, -1)
                .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                .with_error_message(Some(wire("This server does not host this topic-partition."))),
        })
        .collect();
    DescribeShareGroupOffsetsResponseTopic::default()
        .with_topic_name(asked.topic_name)
        .with_topic_id(id)
        .with_partitions(partitions)
}

/// Every partition the group has state for, by topic.
fn every_topic(broker: &Broker, starts: &BTreeMap<PartitionKey, i64>) -> Vec<DescribeShareGroupOffsetsResponseTopic> {
    let mut topics: Vec<DescribeShareGroupOffsetsResponseTopic> = Vec::new();
    for (&(id, index), &start) in starts {
        let Some(topic) = broker.topics.by_id(id) else { continue };
        match topics.iter_mut().find(|t| t.topic_id == id) {
            Some(t) => t.partitions.push(partition(index, start)),
            None => topics.push(
                DescribeShareGroupOffsetsResponseTopic::default()
                    .with_topic_name(TopicName(wire(topic.name.clone())))
                    .with_topic_id(id)
                    .with_partitions(vec![partition(index, start)]),
            ),
        }
    }
    topics
}
