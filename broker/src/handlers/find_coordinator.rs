//! FindCoordinator: a group's coordinator is the leader of its `__consumer_offsets` partition,
//! a transactional id's the leader of its `__transaction_state` partition (Kafka's
//! `abs(hashCode) % partitions` for both), which on a single node is this node. v0-3 ask for
//! one key (`key`, `key_type` from v1); v4+ for a batch (`coordinator_keys`), each answered on
//! its own. Key types 0 (group) and 1 (transaction) are answered with that leader (an empty
//! transactional id too, as reference Kafka 4.1.2 answers it), COORDINATOR_NOT_AVAILABLE while
//! it has none; any other type with INVALID_REQUEST.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use crate::api::ApiSpec;
use crate::groups::OFFSETS_TOPIC;
use crate::groups::convert::wire;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;
use crate::txn::TXN_STATE_TOPIC;

/// The key and versions of FindCoordinator, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::FindCoordinator, 0, 6);

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;
/// The first version with batched `coordinator_keys`.
const BATCHED_VERSION: i16 = 4;

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: FindCoordinatorRequest) -> Outcome {
    let response = if ctx.api_version >= BATCHED_VERSION {
        let coordinators = req.coordinator_keys.iter().map(|key| find(broker, req.key_type, key.clone())).collect();
        FindCoordinatorResponse::default().with_coordinators(coordinators)
    } else {
        let found = find(broker, req.key_type, req.key);
        FindCoordinatorResponse::default()
            .with_error_code(found.error_code)
            .with_error_message(found.error_message)
            .with_node_id(found.node_id)
            .with_host(found.host)
            .with_port(found.port)
    };
    ctx.respond(ResponseKind::FindCoordinator(response))
}

/// The answer for one key.
fn find(broker: &Broker, key_type: i8, key: StrBytes) -> Coordinator {
    let found = match key_type {
        KEY_TYPE_GROUP => crate::coordinator_owner::coordinator_endpoint(
            broker,
            OFFSETS_TOPIC,
            broker.groups.partition_for(key.as_str()),
        )
        .ok_or((ResponseError::CoordinatorNotAvailable, "the group's partition has no live leader")),
        KEY_TYPE_TRANSACTION => crate::coordinator_owner::coordinator_endpoint(
            broker,
            TXN_STATE_TOPIC,
            broker.txns.partition_for(key.as_str()),
        )
        .ok_or((ResponseError::CoordinatorNotAvailable, "the transactional id's partition has no live leader")),
        _ => Err((ResponseError::InvalidRequest, "unknown coordinator key type")),
    };
    let coordinator = Coordinator::default().with_key(key);
    match found {
        Ok(node) => coordinator.with_node_id(BrokerId(node.id)).with_host(wire(node.host)).with_port(node.port),
        Err((error, message)) => coordinator
            .with_error_code(error.code())
            .with_error_message(Some(wire(message)))
            .with_node_id(BrokerId(-1))
            .with_host(wire(""))
            .with_port(-1),
    }
}
