//! DescribeCluster: the cluster id, this node as the only broker and as the
//! controller, and (v1+) the endpoint type. Strata serves only the broker endpoint type (1): asking
//! for controllers (2) is MISMATCHED_ENDPOINT_TYPE and any other type UNSUPPORTED_ENDPOINT_TYPE,
//! as a Kafka broker answers.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{ApiKey, BrokerId, DescribeClusterRequest, DescribeClusterResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use crate::api::ApiSpec;
use crate::authorized_operations::{AUTHORIZED_OPERATIONS_OMITTED, CLUSTER_AUTHORIZED_OPERATIONS};
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of DescribeCluster, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::DescribeCluster, 0, 2);

/// Kafka's `EndpointType` ids.
const ENDPOINT_BROKER: i8 = 1;
const ENDPOINT_CONTROLLER: i8 = 2;

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeClusterRequest) -> Outcome {
    let refusal = match req.endpoint_type {
        ENDPOINT_BROKER => None,
        ENDPOINT_CONTROLLER => Some((
            ResponseError::MismatchedEndpointType,
            "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"
                .to_string(),
        )),
        other => Some((ResponseError::UnsupportedEndpointType, format!("Unsupported endpoint type {other}"))),
    };
    let response = match refusal {
        Some((error, message)) => {
            // v0 cannot carry the endpoint errors (and cannot ask for another type either).
            let code = if ctx.api_version == 0 { ResponseError::InvalidRequest.code() } else { error.code() };
            DescribeClusterResponse::default()
                .with_error_code(code)
                .with_error_message(Some(StrBytes::from_string(message)))
        }
        None => {
            let brokers = broker
                .live_brokers()
                .into_iter()
                .map(|b| {
                    DescribeClusterBroker::default()
                        .with_broker_id(BrokerId(b.id))
                        .with_host(StrBytes::from_string(b.host))
                        .with_port(b.port)
                        .with_rack(b.rack.map(StrBytes::from_string))
                })
                .collect();
            DescribeClusterResponse::default()
                .with_endpoint_type(ENDPOINT_BROKER)
                .with_cluster_id(StrBytes::from_string(broker.cluster_id.clone()))
                .with_controller_id(BrokerId(broker.controller_id()))
                .with_brokers(brokers)
                .with_cluster_authorized_operations(if req.include_cluster_authorized_operations {
                    CLUSTER_AUTHORIZED_OPERATIONS
                } else {
                    AUTHORIZED_OPERATIONS_OMITTED
                })
        }
    };
    ctx.respond(ResponseKind::DescribeCluster(response))
}
