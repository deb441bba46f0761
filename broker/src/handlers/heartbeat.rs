//! Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to
//! rejoin.

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, HeartbeatRequest, HeartbeatResponse, ResponseKind};

use crate::api::ApiSpec;
use crate::errors::{GROUP_STORE_FAILED, code_or_none};
use crate::groups::convert::{opt_text, text};
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of Heartbeat, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::Heartbeat, 0, 4);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: HeartbeatRequest) -> Outcome {
    if let Err(error) = crate::coordinator_owner::check_group(broker, &req.group_id) {
        return ctx.respond(ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(error.code())));
    }
    let request = strata_groups::HeartbeatRequest {
        group_id: text(&req.group_id),
        generation_id: req.generation_id,
        member_id: text(&req.member_id),
        group_instance_id: opt_text(req.group_instance_id.as_ref()),
    };
    let (reply, persisted) = broker.groups.call(|c, now| c.heartbeat(request, now)).await;
    let code = if persisted.is_ok() { code_or_none(reply.error) } else { GROUP_STORE_FAILED.code() };
    ctx.respond(ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(code)))
}
