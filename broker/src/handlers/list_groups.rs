//! ListGroups: every group, filtered by state (v4+) and type (v5+): the classic groups of the
//! group coordinator and the share groups (type and protocol type "share").

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{ApiKey, GroupId, ListGroupsRequest, ListGroupsResponse, ResponseKind};

use crate::api::ApiSpec;
use crate::groups::convert::wire;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of ListGroups, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::ListGroups, 0, 5);

/// A share group's type and protocol type, as Kafka lists them.
const SHARE_GROUP_TYPE: &str = "share";

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ListGroupsRequest) -> Outcome {
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_string()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_string()).collect();
    let listed = broker.groups.read(|c| c.list_groups(&states, &types)).await;
    let mut groups: Vec<ListedGroup> = listed
        .into_iter()
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(wire(g.group_id)))
                .with_protocol_type(wire(g.protocol_type))
                .with_group_state(wire(g.state.as_str()))
                .with_group_type(wire(g.group_type))
        })
        .collect();
    let matches =
        |filter: &[String], value: &str| filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value));
    if matches(&types, SHARE_GROUP_TYPE) {
        for (group_id, state) in broker.shares.list() {
            if matches(&states, state) {
                groups.push(
                    ListedGroup::default()
                        .with_group_id(GroupId(wire(group_id)))
                        .with_protocol_type(wire(SHARE_GROUP_TYPE))
                        .with_group_state(wire(state))
                        .with_group_type(wire(SHARE_GROUP_TYPE)),
                );
            }
        }
    }
    ctx.respond(ResponseKind::ListGroups(ListGroupsResponse::default().with_groups(groups)))
}
