//! LeaveGroup: v0-2 name one member (`member_id`); v3+ a batch of members, by
//! member id or `group.instance.id`, each answered on its own.

use std::sync::Arc;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{ApiKey, LeaveGroupRequest, LeaveGroupResponse, ResponseKind};
use strata_groups::LeavingMember;

use crate::api::ApiSpec;
use crate::errors::{GROUP_STORE_FAILED, code_or_none};
use crate::groups::convert::{opt_text, opt_wire, text, wire};
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of LeaveGroup, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::LeaveGroup, 0, 5);

/// The first version with batched members.
const BATCHED_VERSION: i16 = 3;

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: LeaveGroupRequest) -> Outcome {
    if let Err(error) = crate::coordinator_owner::check_group(broker, &req.group_id) {
        return ctx.respond(ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(error.code())));
    }
    let members = if ctx.api_version >= BATCHED_VERSION {
        req.members
            .iter()
            .map(|m| LeavingMember {
                member_id: text(&m.member_id),
                group_instance_id: opt_text(m.group_instance_id.as_ref()),
            })
            .collect()
    } else {
        vec![LeavingMember { member_id: text(&req.member_id), group_instance_id: None }]
    };
    let request = strata_groups::LeaveGroupRequest { group_id: text(&req.group_id), members };
    let (reply, persisted) = broker.groups.call(|c, now| c.leave_group(request, now)).await;
    let response = if persisted.is_err() {
        LeaveGroupResponse::default().with_error_code(GROUP_STORE_FAILED.code())
    } else {
        let batched = ctx.api_version >= BATCHED_VERSION;
        // v0-2 carry one member: its error is the top-level one.
        let top =
            if batched { reply.error } else { reply.error.or_else(|| reply.members.first().and_then(|m| m.error)) };
        let members = if batched {
            reply
                .members
                .into_iter()
                .map(|m| {
                    MemberResponse::default()
                        .with_member_id(wire(m.member_id))
                        .with_group_instance_id(opt_wire(m.group_instance_id))
                        .with_error_code(code_or_none(m.error))
                })
                .collect()
        } else {
            Vec::new()
        };
        LeaveGroupResponse::default().with_error_code(code_or_none(top)).with_members(members)
    };
    ctx.respond(ResponseKind::LeaveGroup(response))
}
