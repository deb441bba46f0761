//! DescribeShareGroupOffsets (v0, KIP-932; Admin `listShareGroupOffsets`,
//! `kafka-share-groups.sh --describe --offsets`): each share-partition's start offset (SPSO), for
//! the topics asked, or (null topics) every one the group has state for. A partition the group has
//! no state for has start offset -1, as in Kafka; a group that is not a share group here is
//! GROUP_ID_NOT_FOUND; one this broker does not coordinate NOT_COORDINATOR.

use std::sync::Arc;

use kafka_protocol::ResponseError;
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
use crate::state::Broker;

/// The key and versions of DescribeShareGroupOffsets, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::DescribeShareGroupOffsets, 0, 0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeShareGroupOffsetsRequest) -> Outcome {
    let groups = req
        .groups
        .into_iter()
        .map(|asked| {
            let group_id = asked.group_id.0.to_string();
            let answer = DescribeShareGroupOffsetsResponseGroup::default().with_group_id(asked.group_id);
            let refused = |answer: DescribeShareGroupOffsetsResponseGroup, error: ResponseError, message: String| {
                answer.with_error_code(error.code()).with_error_message(Some(wire(message)))
            };
            if let Err(error) = crate::coordinator_owner::check_group(broker, &group_id) {
                return refused(answer, error, format!("{error:?}"));
            }
            if !broker.shares.is_known(&group_id) {
                return refused(answer, ResponseError::GroupIdNotFound, format!("Group {group_id} not found."));
            }
            let starts = broker.shares.start_offsets(&group_id);
            let partition = |index: i32, start: i64| {
                DescribeShareGroupOffsetsResponsePartition::default()
                    .with_partition_index(index)
                    .with_start_offset(start)
                    .with_leader_epoch(if start < 0 { -1 } else { 0 })
            };
            let topics = match asked.topics {
                Some(topics) => topics
                    .into_iter()
                    .map(|t| {
                        let topic = broker.topics.get(t.topic_name.0.as_str());
                        let id = topic.as_ref().map(|t| t.id).unwrap_or_default();
                        let partitions = t
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
                            .with_topic_name(t.topic_name)
                            .with_topic_id(id)
                            .with_partitions(partitions)
                    })
                    .collect(),
                None => {
                    let mut topics: Vec<DescribeShareGroupOffsetsResponseTopic> = Vec::new();
                    for (&(id, index), &start) in &starts {
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
            };
            answer.with_topics(topics)
        })
        .collect();
    ctx.respond(ResponseKind::DescribeShareGroupOffsets(
        DescribeShareGroupOffsetsResponse::default().with_groups(groups),
    ))
}
