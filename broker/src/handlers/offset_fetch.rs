//! OffsetFetch (kafka-protocol 0.18 decodes no v10): v1-7 ask for one group, v8+
//! for a batch of groups, each with a list of partitions or (`topics: null`, v2+) everything the
//! group committed. A partition without a commit answers offset -1, leader epoch -1, metadata "".
//! With `require_stable` (v7+), a partition a transaction holds a pending offset for answers
//! UNSTABLE_OFFSET_COMMIT, as Kafka does; the client retries once the transaction has ended.
//! A group this broker does not coordinate answers NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS
//! while its partition loads): the group's error in v8+, the response's in v2-7, each
//! partition's in v1 (`crate::coordinator_owner`).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{ApiKey, OffsetFetchRequest, OffsetFetchResponse, ResponseKind, TopicName};
use strata_groups::{FetchedOffset, OffsetFetchReply, TopicPartition};

use crate::api::ApiSpec;
use crate::errors::code_or_none;
use crate::groups::convert::{text, wire};
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of OffsetFetch, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::OffsetFetch, 1, 9).with_legacy_min(0);

/// The first version with batched groups.
const BATCHED_VERSION: i16 = 8;
/// The first version with a response-level error code.
const TOP_LEVEL_ERROR_VERSION: i16 = 2;

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: OffsetFetchRequest) -> Outcome {
    let response = if ctx.api_version >= BATCHED_VERSION {
        let replies = broker
            .groups
            .read(|c| {
                req.groups
                    .iter()
                    .map(|g| {
                        let wanted: Option<Vec<TopicPartition>> = g.topics.as_ref().map(|topics| {
                            topics
                                .iter()
                                .flat_map(|t| {
                                    t.partition_indexes.iter().map(|p| TopicPartition::new(text(&t.name), *p))
                                })
                                .collect()
                        });
                        c.offset_fetch(&g.group_id, wanted.as_deref(), req.require_stable)
                    })
                    .collect::<Vec<_>>()
            })
            .await;
        let groups = req
            .groups
            .iter()
            .zip(replies)
            .map(|(g, reply)| {
                if let Err(error) = crate::coordinator_owner::check_group(broker, &g.group_id) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_error_code(error.code());
                }
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_error_code(code_or_none(reply.error))
                    .with_topics(batched_topics(reply))
            })
            .collect();
        OffsetFetchResponse::default().with_groups(groups)
    } else if let Err(error) = crate::coordinator_owner::check_group(broker, &req.group_id) {
        not_coordinator(ctx.api_version, &req, error)
    } else {
        let wanted: Option<Vec<TopicPartition>> = req.topics.as_ref().map(|topics| {
            topics
                .iter()
                .flat_map(|t| t.partition_indexes.iter().map(|p| TopicPartition::new(text(&t.name), *p)))
                .collect()
        });
        let reply = broker.groups.read(|c| c.offset_fetch(&req.group_id, wanted.as_deref(), req.require_stable)).await;
        OffsetFetchResponse::default().with_error_code(code_or_none(reply.error)).with_topics(single_topics(reply))
    };
    ctx.respond(ResponseKind::OffsetFetch(response))
}

/// The answer of v1-7 at a broker that does not coordinate the group: v2+ carry the error
/// in the response, v1 in each partition asked for.
fn not_coordinator(version: i16, req: &OffsetFetchRequest, error: ResponseError) -> OffsetFetchResponse {
    if version >= TOP_LEVEL_ERROR_VERSION {
        return OffsetFetchResponse::default().with_error_code(error.code());
    }
    let topics = req
        .topics
        .iter()
        .flatten()
        .map(|t| {
            let partitions = t
                .partition_indexes
                .iter()
                .map(|p| {
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(*p)
                        .with_committed_offset(-1)
                        .with_error_code(error.code())
                })
                .collect();
            OffsetFetchResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

/// Consecutive partitions of the same topic, as one group per topic (in first-seen order).
fn by_topic(partitions: Vec<FetchedOffset>) -> Vec<(String, Vec<FetchedOffset>)> {
    let mut topics: Vec<(String, Vec<FetchedOffset>)> = Vec::new();
    for fetched in partitions {
        match topics.iter_mut().find(|(name, _)| *name == fetched.partition.topic) {
            Some((_, list)) => list.push(fetched),
            None => topics.push((fetched.partition.topic.clone(), vec![fetched])),
        }
    }
    topics
}

/// v1-7 and v8+ answer with distinct generated types that have the same fields.
macro_rules! response_topics {
    ($reply:expr, $topic:ty, $partition:ty) => {
        by_topic($reply.partitions)
            .into_iter()
            .map(|(name, partitions)| {
                let partitions = partitions
                    .into_iter()
                    .map(|f| {
                        <$partition>::default()
                            .with_partition_index(f.partition.partition)
                            .with_error_code(code_or_none(f.error))
                            .with_committed_offset(f.offset)
                            .with_committed_leader_epoch(f.leader_epoch)
                            .with_metadata(Some(wire(f.metadata)))
                    })
                    .collect();
                <$topic>::default().with_name(TopicName(wire(name))).with_partitions(partitions)
            })
            .collect()
    };
}

fn single_topics(reply: OffsetFetchReply) -> Vec<OffsetFetchResponseTopic> {
    response_topics!(reply, OffsetFetchResponseTopic, OffsetFetchResponsePartition)
}

fn batched_topics(reply: OffsetFetchReply) -> Vec<OffsetFetchResponseTopics> {
    response_topics!(reply, OffsetFetchResponseTopics, OffsetFetchResponsePartitions)
}
