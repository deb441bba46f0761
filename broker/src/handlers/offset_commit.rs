//! OffsetCommit (kafka-protocol 0.18 decodes no v10): partitions of topics or
//! partitions that do not exist answer UNKNOWN_TOPIC_OR_PARTITION, as Kafka does; the rest go to
//! the coordinator (generation and member checks, metadata size) and are answered once their
//! records are written. `retention_time_ms` (v2-4) is ignored: offsets expire by
//! `offsets.retention.minutes`, as Kafka 4 does for v5+.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest, OffsetCommitResponse, ResponseKind};
use strata_groups::{OffsetCommitEntry, TopicPartition};

use crate::api::ApiSpec;
use crate::errors::{GROUP_STORE_FAILED, code_or_none};
use crate::groups::convert::{opt_text, text};
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of OffsetCommit, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::OffsetCommit, 2, 9).with_legacy_min(0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: OffsetCommitRequest) -> Outcome {
    let mut codes: HashMap<TopicPartition, i16> = HashMap::new();
    let mut offsets = Vec::new();
    for topic in &req.topics {
        let name = text(&topic.name);
        let known = broker.topics.get(&name).map(|t| t.partition_count());
        for p in &topic.partitions {
            let tp = TopicPartition::new(name.clone(), p.partition_index);
            if known.is_none_or(|count| p.partition_index < 0 || p.partition_index >= count) {
                codes.insert(tp, ResponseError::UnknownTopicOrPartition.code());
                continue;
            }
            offsets.push(OffsetCommitEntry {
                partition: tp,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: opt_text(p.committed_metadata.as_ref()),
            });
        }
    }
    if !offsets.is_empty() {
        let request = strata_groups::OffsetCommitRequest {
            group_id: text(&req.group_id),
            generation_id: req.generation_id_or_member_epoch,
            member_id: text(&req.member_id),
            group_instance_id: opt_text(req.group_instance_id.as_ref()),
            offsets,
        };
        let (reply, persisted) = broker.groups.call(|c, now| c.offset_commit(request, now)).await;
        for result in reply.partitions {
            let code = if persisted.is_ok() { code_or_none(result.error) } else { GROUP_STORE_FAILED.code() };
            codes.insert(result.partition, code);
        }
    }
    // Answer in request order, every partition asked for.
    let topics = req
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let tp = TopicPartition::new(text(&topic.name), p.partition_index);
                    let code = codes.get(&tp).copied().unwrap_or_else(|| ResponseError::UnknownServerError.code());
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default().with_name(topic.name.clone()).with_partitions(partitions)
        })
        .collect();
    ctx.respond(ResponseKind::OffsetCommit(OffsetCommitResponse::default().with_topics(topics)))
}
