//! Heartbeat: keeps a member's session alive and tells it when to rejoin.

use crate::coordinator::Coordinator;
use crate::error::GroupError;
use crate::replies::{Effects, HeartbeatReply, Outcome};
use crate::requests::HeartbeatRequest;
use crate::state::GroupState;

impl Coordinator {
    /// Heartbeat. REBALANCE_IN_PROGRESS while the group prepares a rebalance makes the member
    /// rejoin; a heartbeat during CompletingRebalance is a normal one (the member has its
    /// JoinGroup reply and is about to sync).
    pub fn heartbeat(&mut self, request: HeartbeatRequest, now_ms: i64) -> Outcome<HeartbeatReply> {
        let error = match self.groups.get_mut(&request.group_id) {
            None => Some(GroupError::UnknownMemberId),
            Some(group) => {
                match group.check_member(
                    request.group_instance_id.as_deref(),
                    &request.member_id,
                    request.generation_id,
                ) {
                    Err(error) => Some(error),
                    Ok(()) => {
                        if let Some(member) = group.members.get_mut(&request.member_id) {
                            member.last_heartbeat_ms = now_ms;
                        }
                        match group.state {
                            GroupState::PreparingRebalance => Some(GroupError::RebalanceInProgress),
                            GroupState::CompletingRebalance | GroupState::Stable => None,
                            GroupState::Empty | GroupState::Dead => Some(GroupError::UnknownMemberId),
                        }
                    }
                }
            }
        };
        Outcome { reply: HeartbeatReply { error }, effects: Effects::default() }
    }
}
