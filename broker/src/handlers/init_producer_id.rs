//! InitProducerId: producer ids for idempotent producers, from [`crate::producer_ids`], which
//! never hands an id out twice, even across restarts or a crash, and, with a transactional id,
//! from the transaction coordinator ([`crate::txn`]): a new id, or the same id with its epoch
//! bumped, which fences older producers of that transactional id (KIP-98), also for a producer
//! re-initialising after an error with its current id and epoch (KIP-360, v3+).
//!
//! As in Kafka, a producer without a transactional id always gets a new id with epoch 0, also
//! when it names its current id and epoch (KIP-360 epoch bump). An ongoing transaction of the
//! transactional id is aborted first (its markers written after the reply) and the caller is
//! answered CONCURRENT_TRANSACTIONS, so it retries. Kafka 4.1's v6 (two-phase commit, KIP-939)
//! is not advertised by Kafka 4.1.2 either (it is unstable there), and `kafka-protocol` 0.18
//! decodes requests up to v5.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId, ResponseKind};

use std::sync::Arc;

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of InitProducerId, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::InitProducerId, 0, 5);

/// Kafka's "no producer id" and "no epoch".
const NO_PRODUCER_ID: i64 = -1;
const NO_PRODUCER_EPOCH: i16 = -1;

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: InitProducerIdRequest) -> Outcome {
    let refuse = |error: ResponseError| {
        ctx.respond(ResponseKind::InitProducerId(
            InitProducerIdResponse::default().with_error_code(error.code()).with_producer_epoch(NO_PRODUCER_EPOCH),
        ))
    };
    match req.transactional_id.as_ref().map(|id| id.0.as_str()) {
        None => {}
        Some("") => return refuse(ResponseError::InvalidRequest),
        Some(id) => {
            if let Err(error) = crate::coordinator_owner::check_transaction(broker, id) {
                return refuse(error);
            }
            return transactional(broker, ctx, id.to_owned(), &req).await;
        }
    }
    if (req.producer_id.0 == NO_PRODUCER_ID) != (req.producer_epoch == NO_PRODUCER_EPOCH) {
        // Kafka: an id without an epoch, or an epoch without an id, is malformed.
        return refuse(ResponseError::InvalidRequest);
    }
    match tokio::task::block_in_place(|| broker.producer_ids.allocate()) {
        Ok(id) => ctx.respond(ResponseKind::InitProducerId(
            InitProducerIdResponse::default().with_producer_id(ProducerId(id)).with_producer_epoch(0),
        )),
        Err(error) => {
            tracing::error!(%error, "cannot reserve producer ids");
            refuse(ResponseError::KafkaStorageError)
        }
    }
}

/// InitProducerId with a transactional id: the coordinator's answer, once its record is written;
/// then the markers of a transaction it aborted.
async fn transactional(broker: &Arc<Broker>, ctx: &RequestContext, id: String, req: &InitProducerIdRequest) -> Outcome {
    let request = strata_txn::InitProducerIdRequest {
        version: ctx.api_version,
        transactional_id: id,
        transaction_timeout_ms: req.transaction_timeout_ms,
        producer_id: req.producer_id.0,
        producer_epoch: req.producer_epoch,
    };
    let response = match broker.txns.call(|c, now| c.init_producer_id(request, now)).await {
        Ok((reply, markers)) => {
            crate::txn::markers::spawn(broker, markers);
            InitProducerIdResponse::default()
                .with_error_code(strata_txn::error_code(reply.error))
                .with_producer_id(ProducerId(reply.producer_id))
                .with_producer_epoch(reply.producer_epoch)
        }
        Err(error) => InitProducerIdResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(NO_PRODUCER_ID))
            .with_producer_epoch(NO_PRODUCER_EPOCH),
    };
    ctx.respond(ResponseKind::InitProducerId(response))
}
