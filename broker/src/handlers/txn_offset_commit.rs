//! TxnOffsetCommit (v0-5, all Kafka 4.1 serves): the offsets a transactional producer commits for
//! a consumer group inside its transaction (`send_offsets_to_transaction`). As for OffsetCommit,
//! partitions of unknown topics or partitions answer UNKNOWN_TOPIC_OR_PARTITION; for the rest the
//! transaction coordinator first verifies that the producer's transaction holds the group's
//! partition (v5 adds it; see `groups::txn_verify`), then they go to the group coordinator (KIP-447's generation, member and instance checks; v0-2 carry none),
//! which writes them to `__consumer_offsets` in a transactional batch of the producer and holds
//! them pending: OffsetFetch sees them only once the transaction's commit marker is written.

use std::sync::Arc;

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, ResponseKind, TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use crate::api::ApiSpec;
use crate::groups::commit::{Codes, answered_topics, committed_topics};
use crate::groups::convert::{opt_text, text};
use crate::groups::txn_verify;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;
use crate::txn::partition_check::TxnProducer;

/// The key and versions of TxnOffsetCommit, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::TxnOffsetCommit, 0, 5);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: TxnOffsetCommitRequest) -> Outcome {
    let mut codes = Codes::default();
    let offsets = codes.split(broker, committed_topics!(req.topics));
    let producer = TxnProducer {
        transactional_id: req.transactional_id.as_str(),
        producer_id: req.producer_id.0,
        producer_epoch: req.producer_epoch,
    };
    // An empty group id is refused before verification (Kafka's `isGroupIdNotEmpty`).
    let verified = if offsets.is_empty() || req.group_id.is_empty() {
        Ok(())
    } else if let Err(error) = crate::coordinator_owner::check_group(broker, &req.group_id) {
        Err(error)
    } else {
        txn_verify::verify(broker, ctx.api_version, producer, &req.group_id).await
    };
    match verified {
        Err(error) => codes.all(&offsets, error.code()),
        Ok(()) if !offsets.is_empty() => {
            let request = strata_groups::TxnOffsetCommitRequest {
                group_id: text(&req.group_id),
                producer_id: req.producer_id.0,
                producer_epoch: req.producer_epoch,
                generation_id: req.generation_id,
                member_id: text(&req.member_id),
                group_instance_id: opt_text(req.group_instance_id.as_ref()),
                offsets,
            };
            let (reply, persisted) = broker.groups.call(|c, now| c.txn_offset_commit(request, now)).await;
            codes.answered(reply, &persisted);
        }
        Ok(()) => {}
    }
    let topics = answered_topics!(req.topics, codes, TxnOffsetCommitResponseTopic, TxnOffsetCommitResponsePartition);
    ctx.respond(ResponseKind::TxnOffsetCommit(TxnOffsetCommitResponse::default().with_topics(topics)))
}
