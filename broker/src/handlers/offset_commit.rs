//! OffsetCommit (kafka-protocol 0.18 decodes no v10): partitions of topics or
//! partitions that do not exist answer UNKNOWN_TOPIC_OR_PARTITION, as Kafka does; the rest go to
//! the coordinator (generation and member checks, metadata size) and are answered once their
//! records are written. `retention_time_ms` (v2-4) is ignored: offsets expire by
//! `offsets.retention.minutes`, as Kafka 4 does for v5+.

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest, OffsetCommitResponse, ResponseKind};

use crate::api::ApiSpec;
use crate::groups::commit::{Codes, answered_topics, committed_topics};
use crate::groups::convert::{opt_text, text};
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of OffsetCommit, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::OffsetCommit, 2, 9).with_legacy_min(0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: OffsetCommitRequest) -> Outcome {
    let mut codes = Codes::default();
    let offsets = codes.split(broker, committed_topics!(req.topics));
    if let Err(error) = crate::coordinator_owner::check_group(broker, &req.group_id) {
        codes.all(&offsets, error.code());
    } else if !offsets.is_empty() {
        let request = strata_groups::OffsetCommitRequest {
            group_id: text(&req.group_id),
            generation_id: req.generation_id_or_member_epoch,
            member_id: text(&req.member_id),
            group_instance_id: opt_text(req.group_instance_id.as_ref()),
            offsets,
        };
        let (reply, persisted) = broker.groups.call(|c, now| c.offset_commit(request, now)).await;
        codes.answered(reply, &persisted);
    }
    // Answer in request order, every partition asked for.
    let topics = answered_topics!(req.topics, codes, OffsetCommitResponseTopic, OffsetCommitResponsePartition);
    ctx.respond(ResponseKind::OffsetCommit(OffsetCommitResponse::default().with_topics(topics)))
}
