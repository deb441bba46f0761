//! DescribeGroups: state, protocol and members of each group; members' metadata
//! and assignments only when the group is Stable. An unknown group is `Dead` (v6+:
//! GROUP_ID_NOT_FOUND), as Kafka answers; so is a share group, which Kafka's v6+ answer names
//! "not a classic group". A group this broker does not coordinate answers
//! NOT_COORDINATOR (`crate::coordinator_owner`).

use std::sync::Arc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, ResponseKind};

use crate::api::ApiSpec;
use crate::authorized_operations::{AUTHORIZED_OPERATIONS_OMITTED, GROUP_AUTHORIZED_OPERATIONS};
use crate::errors::code_or_none;
use crate::groups::convert::{opt_wire, wire};
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;
use strata_groups::GroupError;

/// The key and versions of DescribeGroups, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::DescribeGroups, 0, 6);

/// The first version with `error_message`.
const ERROR_MESSAGE_VERSION: i16 = 6;

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeGroupsRequest) -> Outcome {
    let version = ctx.api_version;
    let described_all = broker
        .groups
        .read(|c| req.groups.iter().map(|group_id| c.describe_group(group_id, version)).collect::<Vec<_>>())
        .await;
    let groups = req
        .groups
        .iter()
        .zip(described_all)
        .map(|(group_id, described)| {
            if let Err(error) = crate::coordinator_owner::check_group(broker, group_id) {
                return DescribedGroup::default().with_group_id(group_id.clone()).with_error_code(error.code());
            }
            let members = described
                .members
                .into_iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(wire(m.member_id))
                        .with_group_instance_id(opt_wire(m.group_instance_id))
                        .with_client_id(wire(m.client_id))
                        .with_client_host(wire(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment)
                })
                .collect();
            // v6+ only: earlier versions carry no message (and never an error from here).
            let error_message = described.error.filter(|_| version >= ERROR_MESSAGE_VERSION).map(|error| {
                wire(match error {
                    GroupError::GroupIdNotFound if broker.shares.is_known(group_id) => {
                        format!("Group {} is not a classic group.", group_id.0)
                    }
                    GroupError::GroupIdNotFound => format!("Group {} not found.", group_id.0),
                    other => other.to_string(),
                })
            });
            DescribedGroup::default()
                .with_error_code(code_or_none(described.error))
                .with_error_message(error_message)
                .with_group_id(group_id.clone())
                .with_group_state(wire(described.state.as_str()))
                .with_protocol_type(wire(described.protocol_type))
                .with_protocol_data(wire(described.protocol))
                .with_members(members)
                .with_authorized_operations(if req.include_authorized_operations {
                    GROUP_AUTHORIZED_OPERATIONS
                } else {
                    AUTHORIZED_OPERATIONS_OMITTED
                })
        })
        .collect();
    ctx.respond(ResponseKind::DescribeGroups(DescribeGroupsResponse::default().with_groups(groups)))
}
