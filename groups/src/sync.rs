//! SyncGroup: members wait for the leader's assignment; the leader's SyncGroup stores the
//! assignment (a group metadata record), makes the group Stable and answers everyone waiting.

use bytes::Bytes;

use crate::coordinator::{Coordinator, take_own};
use crate::error::GroupError;
use crate::group::Group;
use crate::replies::{Completed, Effects, Outcome, SyncGroupReply};
use crate::requests::{RequestToken, SyncGroupRequest};
use crate::state::GroupState;

impl Coordinator {
    /// SyncGroup. `reply` is `None` when the request is parked until the leader's assignment
    /// arrives; its reply then comes in a later [`Effects::completed`] under `token`.
    pub fn sync_group(
        &mut self,
        token: RequestToken,
        request: SyncGroupRequest,
        now_ms: i64,
    ) -> Outcome<Option<SyncGroupReply>> {
        let mut fx = Effects::default();
        let reply = match self.groups.get_mut(&request.group_id) {
            None => Some(SyncGroupReply::error(GroupError::UnknownMemberId)),
            Some(group) => sync(group, token, &request, now_ms, &mut fx),
        };
        self.check_invariants(&request.group_id);
        take_own(token, reply, fx, |c| match c {
            Completed::Sync { reply, .. } => Some(reply),
            Completed::Join { .. } => None,
        })
    }
}

fn sync(
    group: &mut Group,
    token: RequestToken,
    req: &SyncGroupRequest,
    now_ms: i64,
    fx: &mut Effects,
) -> Option<SyncGroupReply> {
    let fail = |error| Some(SyncGroupReply::error(error));
    if let Err(error) = group.check_member(req.group_instance_id.as_deref(), &req.member_id, req.generation_id) {
        return fail(error);
    }
    let type_mismatch = req.protocol_type.as_ref().is_some_and(|t| group.protocol_type.as_ref() != Some(t));
    let name_mismatch = req.protocol_name.as_ref().is_some_and(|n| group.protocol.as_ref() != Some(n));
    if type_mismatch || name_mismatch {
        return fail(GroupError::InconsistentGroupProtocol);
    }
    group.pending_sync.remove(&req.member_id);
    if group.pending_sync.is_empty() {
        group.sync_deadline_ms = None;
    }
    match group.state {
        GroupState::Empty | GroupState::Dead => fail(GroupError::UnknownMemberId),
        GroupState::PreparingRebalance => fail(GroupError::RebalanceInProgress),
        GroupState::Stable => {
            let member = group.members.get_mut(&req.member_id)?;
            member.last_heartbeat_ms = now_ms;
            let assignment = member.assignment.clone();
            Some(success(group, assignment))
        }
        GroupState::CompletingRebalance => {
            let member = group.members.get_mut(&req.member_id)?;
            member.last_heartbeat_ms = now_ms;
            if let Some(previous) = member.awaiting_sync.replace(token) {
                fx.complete_sync(previous, SyncGroupReply::error(GroupError::RebalanceInProgress));
            }
            if group.is_leader(&req.member_id) {
                complete_sync(group, req, now_ms, fx);
            }
            None
        }
    }
}

/// The leader's assignment arrived: every member gets its part (members the leader left out
/// get an empty assignment), the generation is persisted and becomes Stable.
fn complete_sync(group: &mut Group, req: &SyncGroupRequest, now_ms: i64, fx: &mut Effects) {
    for member in group.members.values_mut() {
        member.assignment =
            req.assignments.iter().find(|a| a.member_id == member.id).map(|a| a.assignment.clone()).unwrap_or_default();
    }
    group.transition(GroupState::Stable, now_ms);
    group.persist_metadata(fx);
    let mut waiting: Vec<_> = group.members.values_mut().filter(|m| m.awaiting_sync.is_some()).collect();
    waiting.sort_by_key(|m| m.join_seq);
    let answers: Vec<_> =
        waiting.into_iter().filter_map(|m| Some((m.awaiting_sync.take()?, m.assignment.clone()))).collect();
    for (token, assignment) in answers {
        fx.complete_sync(token, success(group, assignment));
    }
}

fn success(group: &Group, assignment: Bytes) -> SyncGroupReply {
    SyncGroupReply {
        error: None,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol.clone(),
        assignment,
    }
}
