//! JoinGroup: hands the request to the coordinator, which answers at once (new
//! member id with MEMBER_ID_REQUIRED, errors, a lone member's completed join) or parks it until
//! the rebalance completes. `client_host` is the connection's peer address, as Kafka reports it.

use std::sync::Arc;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{ApiKey, JoinGroupRequest, JoinGroupResponse, ResponseKind};
use strata_groups::Protocol;

use crate::api::ApiSpec;
use crate::errors::code_or_none;
use crate::groups::convert::{client_host, opt_text, opt_wire, text, wire};
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of JoinGroup, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::JoinGroup, 0, 9);

/// The first version whose protocol type and name may be null in the response.
const NULLABLE_PROTOCOL_VERSION: i16 = 7;

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: JoinGroupRequest) -> Outcome {
    if let Err(error) = crate::coordinator_owner::check_group(broker, &req.group_id) {
        let response = JoinGroupResponse::default()
            .with_error_code(error.code())
            .with_generation_id(-1)
            .with_protocol_name((ctx.api_version < NULLABLE_PROTOCOL_VERSION).then(|| wire(String::new())))
            .with_member_id(req.member_id.clone());
        return ctx.respond(ResponseKind::JoinGroup(response));
    }
    let request = strata_groups::JoinGroupRequest {
        version: ctx.api_version,
        group_id: text(&req.group_id),
        member_id: text(&req.member_id),
        group_instance_id: opt_text(req.group_instance_id.as_ref()),
        client_id: ctx.client_id.clone(),
        client_host: client_host(ctx),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if ctx.api_version == 0 { req.session_timeout_ms } else { req.rebalance_timeout_ms },
        protocol_type: text(&req.protocol_type),
        protocols: req
            .protocols
            .iter()
            .map(|p| Protocol { name: text(&p.name), metadata: p.metadata.clone() })
            .collect(),
    };
    let reply = broker.groups.join_group(request).await;
    let nullable = ctx.api_version >= NULLABLE_PROTOCOL_VERSION;
    let protocol_name =
        if nullable { opt_wire(reply.protocol_name) } else { Some(wire(reply.protocol_name.unwrap_or_default())) };
    let members = reply
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(wire(m.member_id))
                .with_group_instance_id(opt_wire(m.group_instance_id))
                .with_metadata(m.metadata)
        })
        .collect();
    let response = JoinGroupResponse::default()
        .with_error_code(code_or_none(reply.error))
        .with_generation_id(reply.generation_id)
        .with_protocol_type(opt_wire(reply.protocol_type))
        .with_protocol_name(protocol_name)
        .with_leader(wire(reply.leader))
        .with_skip_assignment(reply.skip_assignment)
        .with_member_id(wire(reply.member_id))
        .with_members(members);
    ctx.respond(ResponseKind::JoinGroup(response))
}
