//! InitProducerId: producer ids for idempotent producers, from [`crate::producer_ids`], which
//! never hands an id out twice, even across restarts or a crash.
//!
//! As in Kafka, a producer without a transactional id always gets a new id with epoch 0, also
//! when it names its current id and epoch (KIP-360 epoch bump). Transactions are not supported:
//! a transactional id is answered TRANSACTIONAL_ID_AUTHORIZATION_FAILED, the error Kafka gives a
//! client that may not use that transactional id, which clients treat as fatal and report at
//! once (a retriable code such as COORDINATOR_NOT_AVAILABLE would make them retry until their
//! timeout). Kafka 4.1's v6 (two-phase commit, KIP-939) is not offered: `kafka-protocol` 0.18
//! decodes requests up to v5.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId, ResponseKind};

use crate::api::ApiSpec;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of InitProducerId, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::InitProducerId, 0, 5);

/// Kafka's "no producer id" and "no epoch".
const NO_PRODUCER_ID: i64 = -1;
const NO_PRODUCER_EPOCH: i16 = -1;

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: InitProducerIdRequest) -> Outcome {
    let refuse = |error: ResponseError| {
        ctx.respond(ResponseKind::InitProducerId(
            InitProducerIdResponse::default().with_error_code(error.code()).with_producer_epoch(NO_PRODUCER_EPOCH),
        ))
    };
    match req.transactional_id.as_ref().map(|id| id.0.as_str()) {
        None => {}
        Some("") => return refuse(ResponseError::InvalidRequest),
        Some(id) => {
            tracing::info!(transactional_id = id, client = %ctx.client_id, "transactions are not supported");
            return refuse(ResponseError::TransactionalIdAuthorizationFailed);
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
