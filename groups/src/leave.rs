//! LeaveGroup: members (a batch since v3, by member id or by `group.instance.id`) leave; the
//! group rebalances without them.

use crate::coordinator::Coordinator;
use crate::error::GroupError;
use crate::replies::{Effects, LeaveGroupReply, LeftMember, Outcome};
use crate::requests::{LeaveGroupRequest, LeavingMember};
use crate::state::GroupState;

impl Coordinator {
    /// LeaveGroup. Answers each member separately; for v0-2 the broker answers with the first
    /// member's error as the top-level one.
    pub fn leave_group(&mut self, request: LeaveGroupRequest, now_ms: i64) -> Outcome<LeaveGroupReply> {
        let mut fx = Effects::default();
        let Coordinator { config, groups, .. } = self;
        let reply = match groups.get_mut(&request.group_id) {
            None => LeaveGroupReply {
                error: None,
                members: request.members.iter().map(|m| left(m, Some(GroupError::UnknownMemberId))).collect(),
            },
            Some(group) if group.state == GroupState::Dead => {
                LeaveGroupReply { error: Some(GroupError::CoordinatorNotAvailable), members: Vec::new() }
            }
            Some(group) => {
                let mut results = Vec::with_capacity(request.members.len());
                for leaving in &request.members {
                    let error = match &leaving.group_instance_id {
                        Some(instance) => match group.static_members.get(instance).cloned() {
                            None => Some(GroupError::UnknownMemberId),
                            Some(holder) if !leaving.member_id.is_empty() && holder != leaving.member_id => {
                                Some(GroupError::FencedInstanceId)
                            }
                            Some(holder) => {
                                group.remove_member_and_rebalance(&holder, config, now_ms, &mut fx);
                                None
                            }
                        },
                        None if group.pending.remove(&leaving.member_id).is_some() => None,
                        None if group.members.contains_key(&leaving.member_id) => {
                            group.remove_member_and_rebalance(&leaving.member_id, config, now_ms, &mut fx);
                            None
                        }
                        None => Some(GroupError::UnknownMemberId),
                    };
                    results.push(left(leaving, error));
                }
                group.try_complete_join(config, now_ms, &mut fx);
                LeaveGroupReply { error: None, members: results }
            }
        };
        self.check_invariants(&request.group_id);
        Outcome { reply, effects: fx }
    }
}

fn left(member: &LeavingMember, error: Option<GroupError>) -> LeftMember {
    LeftMember { member_id: member.member_id.clone(), group_instance_id: member.group_instance_id.clone(), error }
}
