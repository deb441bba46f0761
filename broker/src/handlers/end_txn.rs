//! EndTxn: commit or abort. The coordinator persists PrepareCommit/PrepareAbort, the reply
//! leaves, and then the markers are written to every partition of the transaction
//! ([`crate::txn::markers`]), after which the transaction completes. v5+ is transaction version
//! 2: the epoch is bumped at every EndTxn and the reply carries the producer id and epoch to
//! continue with.

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, EndTxnRequest, EndTxnResponse, ProducerId, ResponseKind};

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of EndTxn, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::EndTxn, 0, 5);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: EndTxnRequest) -> Outcome {
    let request = strata_txn::EndTxnRequest {
        version: ctx.api_version,
        transactional_id: req.transactional_id.to_string(),
        producer_id: req.producer_id.0,
        producer_epoch: req.producer_epoch,
        commit: req.committed,
    };
    if let Err(error) = crate::coordinator_owner::check_transaction(broker, &req.transactional_id) {
        let response = EndTxnResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        return ctx.respond(ResponseKind::EndTxn(response));
    }
    let response = match broker.txns.call(|c, now| c.end_txn(request, now)).await {
        Ok((reply, markers)) => {
            crate::txn::markers::spawn(broker, markers);
            EndTxnResponse::default()
                .with_error_code(strata_txn::error_code(reply.error))
                .with_producer_id(ProducerId(reply.producer_id))
                .with_producer_epoch(reply.producer_epoch)
        }
        Err(error) => EndTxnResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    };
    ctx.respond(ResponseKind::EndTxn(response))
}
