//! SyncGroup: the leader's assignments in, each member's assignment out (parked
//! until the leader's arrives). An empty assignment is still encoded, as empty bytes.

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, ResponseKind, SyncGroupRequest, SyncGroupResponse};
use strata_groups::MemberAssignment;

use crate::api::ApiSpec;
use crate::errors::code_or_none;
use crate::groups::convert::{opt_text, opt_wire, text};
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of SyncGroup, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::SyncGroup, 0, 5);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: SyncGroupRequest) -> Outcome {
    if let Err(error) = crate::coordinator_owner::check_group(broker, &req.group_id) {
        return ctx.respond(ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(error.code())));
    }
    let request = strata_groups::SyncGroupRequest {
        group_id: text(&req.group_id),
        generation_id: req.generation_id,
        member_id: text(&req.member_id),
        group_instance_id: opt_text(req.group_instance_id.as_ref()),
        protocol_type: opt_text(req.protocol_type.as_ref()),
        protocol_name: opt_text(req.protocol_name.as_ref()),
        assignments: req
            .assignments
            .iter()
            .map(|a| MemberAssignment { member_id: text(&a.member_id), assignment: a.assignment.clone() })
            .collect(),
    };
    let reply = broker.groups.sync_group(request).await;
    let response = SyncGroupResponse::default()
        .with_error_code(code_or_none(reply.error))
        .with_protocol_type(opt_wire(reply.protocol_type))
        .with_protocol_name(opt_wire(reply.protocol_name))
        .with_assignment(reply.assignment);
    ctx.respond(ResponseKind::SyncGroup(response))
}
