//! ShareGroupDescribe (v1, KIP-932; `kafka-share-groups.sh --describe`, Admin
//! `describeShareGroups`): each share group's state, epochs, assignor ("simple") and members with
//! their subscriptions and the partitions they were last told of. A group this broker does not
//! coordinate answers NOT_COORDINATOR; one that is not a share group here GROUP_ID_NOT_FOUND.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::share_group_describe_response::{Assignment, DescribedGroup, Member, TopicPartitions};
use kafka_protocol::messages::{
    ApiKey, ResponseKind, ShareGroupDescribeRequest, ShareGroupDescribeResponse, TopicName,
};

use crate::api::ApiSpec;
use crate::authorized_operations::{AUTHORIZED_OPERATIONS_OMITTED, GROUP_AUTHORIZED_OPERATIONS};
use crate::groups::convert::wire;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of ShareGroupDescribe, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::ShareGroupDescribe, 1, 1);

/// The assignor share groups use, as Kafka names it.
const ASSIGNOR: &str = "simple";

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ShareGroupDescribeRequest) -> Outcome {
    let operations =
        if req.include_authorized_operations { GROUP_AUTHORIZED_OPERATIONS } else { AUTHORIZED_OPERATIONS_OMITTED };
    let groups = req
        .group_ids
        .iter()
        .map(|group_id| {
            let refused = |error: ResponseError, message: String| {
                DescribedGroup::default()
                    .with_group_id(group_id.clone())
                    .with_error_code(error.code())
                    .with_error_message(Some(wire(message)))
                    .with_authorized_operations(operations)
            };
            if let Err(error) = crate::coordinator_owner::check_group(broker, group_id) {
                return refused(error, format!("{error:?}"));
            }
            let Some(described) = broker.shares.describe(group_id) else {
                return refused(ResponseError::GroupIdNotFound, format!("Group {} not found.", group_id.0.as_str()));
            };
            let members = described
                .members
                .into_iter()
                .map(|(member, client)| {
                    let mut topics: Vec<TopicPartitions> = Vec::new();
                    for (topic, partition) in member.assignment {
                        let Some(id) = broker.topics.get(&topic).map(|t| t.id) else { continue };
                        match topics.iter_mut().find(|t| t.topic_id == id) {
                            Some(t) => t.partitions.push(partition),
                            None => topics.push(
                                TopicPartitions::default()
                                    .with_topic_id(id)
                                    .with_topic_name(TopicName(wire(topic)))
                                    .with_partitions(vec![partition]),
                            ),
                        }
                    }
                    Member::default()
                        .with_member_id(wire(member.member_id))
                        .with_member_epoch(member.member_epoch)
                        .with_rack_id(client.rack.map(wire))
                        .with_client_id(wire(client.client_id))
                        .with_client_host(wire(client.client_host))
                        .with_subscribed_topic_names(
                            member.subscribed.into_iter().map(|t| TopicName(wire(t))).collect(),
                        )
                        .with_assignment(Assignment::default().with_topic_partitions(topics))
                })
                .collect();
            DescribedGroup::default()
                .with_group_id(group_id.clone())
                .with_group_state(wire(described.state))
                .with_group_epoch(described.epoch)
                .with_assignment_epoch(described.epoch)
                .with_assignor_name(wire(ASSIGNOR))
                .with_members(members)
                .with_authorized_operations(operations)
        })
        .collect();
    ctx.respond(ResponseKind::ShareGroupDescribe(ShareGroupDescribeResponse::default().with_groups(groups)))
}
