//! DeleteGroups: removes empty groups with their offsets (tombstones written
//! before the answer); a group with members is NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND,
//! one this broker does not coordinate NOT_COORDINATOR (`crate::coordinator_owner`). A share
//! group's share-partition state is deleted from `__share_group_state` likewise.

use std::sync::Arc;

use kafka_protocol::ResponseError;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{ApiKey, DeleteGroupsRequest, DeleteGroupsResponse, GroupId, ResponseKind};

use crate::api::ApiSpec;
use crate::errors::{GROUP_STORE_FAILED, code_or_none};
use crate::groups::convert::{text, wire};
use crate::reply::{Outcome, RequestContext};
use crate::shares::admin;
use crate::state::Broker;

/// The key and versions of DeleteGroups, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::DeleteGroups, 0, 2);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DeleteGroupsRequest) -> Outcome {
    let mut answered = Vec::new();
    let mut names = Vec::new();
    for group in &req.groups_names {
        let answer = |code: i16| DeletableGroupResult::default().with_group_id(group.clone()).with_error_code(code);
        if let Err(error) = crate::coordinator_owner::check_group(broker, group) {
            answered.push(answer(error.code()));
            continue;
        }
        match admin::is_known(broker, group).await {
            Ok(true) if broker.shares.has_members(group) => answered.push(answer(ResponseError::NonEmptyGroup.code())),
            Ok(true) => {
                let deleted = admin::forget(broker, group, None).await;
                answered.push(answer(deleted.err().map_or(0, |e| e.code())));
            }
            Ok(false) => names.push(text(group)),
            Err(error) => answered.push(answer(error.code())),
        }
    }
    let (results, persisted) = broker.groups.call(|c, now| c.delete_groups(&names, now)).await;
    let results = results
        .into_iter()
        .map(|r| {
            let code = if persisted.is_ok() { code_or_none(r.error) } else { GROUP_STORE_FAILED.code() };
            DeletableGroupResult::default().with_group_id(GroupId(wire(r.group_id))).with_error_code(code)
        })
        .chain(answered)
        .collect();
    ctx.respond(ResponseKind::DeleteGroups(DeleteGroupsResponse::default().with_results(results)))
}
