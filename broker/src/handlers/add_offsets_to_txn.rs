//! AddOffsetsToTxn: a consumer group's `__consumer_offsets` partition joins the producer's
//! transaction, so the group's TxnOffsetCommits become visible with the commit marker.

use std::sync::Arc;

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, ApiKey, ResponseKind};
use strata_txn::AddOffsetsRequest;

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of AddOffsetsToTxn, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::AddOffsetsToTxn, 0, 4);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: AddOffsetsToTxnRequest) -> Outcome {
    let request = AddOffsetsRequest {
        version: ctx.api_version,
        transactional_id: req.transactional_id.to_string(),
        producer_id: req.producer_id.0,
        producer_epoch: req.producer_epoch,
        offsets_partition: broker.groups.partition_for(req.group_id.as_str()),
    };
    if let Err(error) = crate::coordinator_owner::check_transaction(broker, &req.transactional_id) {
        let response = AddOffsetsToTxnResponse::default().with_error_code(error.code());
        return ctx.respond(ResponseKind::AddOffsetsToTxn(response));
    }
    let code = match broker.txns.call(|c, now| c.add_offsets(request, now)).await {
        Ok((error, markers)) => {
            crate::txn::markers::spawn(broker, markers);
            strata_txn::error_code(error)
        }
        Err(error) => error.code(),
    };
    ctx.respond(ResponseKind::AddOffsetsToTxn(AddOffsetsToTxnResponse::default().with_error_code(code)))
}
