//! JoinGroup: first joins (MEMBER_ID_REQUIRED), rejoins, static members replacing their old
//! incarnation, and the start of rebalances. Follows Kafka's classic `GroupCoordinator`
//! (`doNewMemberJoinGroup`, `doCurrentMemberJoinGroup`, `updateStaticMemberAndRebalance`).

use bytes::Bytes;

use crate::config::CoordinatorConfig;
use crate::coordinator::{Coordinator, take_own};
use crate::error::GroupError;
use crate::group::{Group, JoinTimer, Member};
use crate::replies::{Completed, Effects, JoinGroupReply, Outcome, SyncGroupReply};
use crate::requests::{JoinGroupRequest, RequestToken};
use crate::state::GroupState;

/// JoinGroup v4 introduced MEMBER_ID_REQUIRED for first joins.
const MEMBER_ID_REQUIRED_VERSION: i16 = 4;
/// JoinGroup v9 introduced `skip_assignment` for a rejoining static leader.
const SKIP_ASSIGNMENT_VERSION: i16 = 9;

impl Coordinator {
    /// JoinGroup. `reply` is `None` when the request is parked until the rebalance completes;
    /// its reply then comes in a later [`Effects::completed`] under `token`.
    pub fn join_group(
        &mut self,
        token: RequestToken,
        request: JoinGroupRequest,
        now_ms: i64,
    ) -> Outcome<Option<JoinGroupReply>> {
        let mut fx = Effects::default();
        let reply = self.join(token, &request, now_ms, &mut fx);
        self.drop_if_unused(&request.group_id);
        self.check_invariants(&request.group_id);
        take_own(token, reply, fx, |c| match c {
            Completed::Join { reply, .. } => Some(reply),
            Completed::Sync { .. } => None,
        })
    }

    fn join(
        &mut self,
        token: RequestToken,
        req: &JoinGroupRequest,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Option<JoinGroupReply> {
        let fail = |error| Some(JoinGroupReply::error(error, &req.member_id));
        if req.group_id.is_empty() {
            return fail(GroupError::InvalidGroupId);
        }
        if !(self.config.session_timeout_ms_min..=self.config.session_timeout_ms_max).contains(&req.session_timeout_ms)
        {
            return fail(GroupError::InvalidSessionTimeout);
        }
        if !req.member_id.is_empty() && !self.groups.contains_key(&req.group_id) {
            return fail(GroupError::UnknownMemberId);
        }
        self.group_or_create(&req.group_id, now_ms);
        let Coordinator { config, ids, groups, .. } = self;
        let group = groups.get_mut(&req.group_id)?;
        if group.state == GroupState::Dead {
            return fail(GroupError::CoordinatorNotAvailable);
        }
        if !group.supports_protocols(&req.protocol_type, &req.protocols) {
            return fail(GroupError::InconsistentGroupProtocol);
        }
        let reply = if req.member_id.is_empty() {
            if group.members.len() >= config.group_size_max {
                return fail(GroupError::GroupMaxSizeReached);
            }
            let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
            let new_id = ids.next_member_id(prefix);
            join_new_member(group, config, token, req, new_id, now_ms, fx)
        } else {
            join_known_member(group, config, token, req, now_ms, fx)
        };
        group.try_complete_join(config, now_ms, fx);
        reply
    }
}

fn join_new_member(
    group: &mut Group,
    config: &CoordinatorConfig,
    token: RequestToken,
    req: &JoinGroupRequest,
    new_id: String,
    now_ms: i64,
    fx: &mut Effects,
) -> Option<JoinGroupReply> {
    match &req.group_instance_id {
        Some(instance) => match group.static_members.get(instance).cloned() {
            Some(old_id) => replace_static_member(group, config, token, req, &old_id, new_id, now_ms, fx),
            None => {
                add_member_and_rebalance(group, config, token, req, new_id, now_ms, fx);
                None
            }
        },
        None if req.version >= MEMBER_ID_REQUIRED_VERSION => {
            // The client must come back with this id; until then it counts as a member the
            // rebalance waits for, but only for one session timeout.
            group.pending.insert(new_id.clone(), now_ms.saturating_add(i64::from(req.session_timeout_ms)));
            Some(JoinGroupReply::error(GroupError::MemberIdRequired, &new_id))
        }
        None => {
            add_member_and_rebalance(group, config, token, req, new_id, now_ms, fx);
            None
        }
    }
}

fn join_known_member(
    group: &mut Group,
    config: &CoordinatorConfig,
    token: RequestToken,
    req: &JoinGroupRequest,
    now_ms: i64,
    fx: &mut Effects,
) -> Option<JoinGroupReply> {
    let fail = |error| Some(JoinGroupReply::error(error, &req.member_id));
    if group.pending.remove(&req.member_id).is_some() {
        add_member_and_rebalance(group, config, token, req, req.member_id.clone(), now_ms, fx);
        return None;
    }
    if group.is_static_fenced(req.group_instance_id.as_deref(), &req.member_id) {
        return fail(GroupError::FencedInstanceId);
    }
    let instance_unknown = req.group_instance_id.as_ref().is_some_and(|i| !group.static_members.contains_key(i));
    let Some(member) = group.members.get(&req.member_id) else {
        return fail(GroupError::UnknownMemberId);
    };
    if instance_unknown {
        return fail(GroupError::UnknownMemberId);
    }
    let unchanged = member.same_protocols(&req.protocols);
    match group.state {
        GroupState::PreparingRebalance => {
            update_member(group, token, req, now_ms, fx);
            None
        }
        // A rejoin with the same metadata during CompletingRebalance is a member that missed its
        // JoinGroup reply: answer with the current generation. In Stable, the same holds for a
        // follower; the leader rejoining (or anyone with new metadata) starts a rebalance.
        GroupState::CompletingRebalance | GroupState::Stable
            if unchanged && (group.state == GroupState::CompletingRebalance || !group.is_leader(&req.member_id)) =>
        {
            let is_leader = group.is_leader(&req.member_id);
            if let Some(m) = group.members.get_mut(&req.member_id) {
                m.last_heartbeat_ms = now_ms;
            }
            Some(current_generation_reply(group, &req.member_id, is_leader))
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            update_member(group, token, req, now_ms, fx);
            group.prepare_rebalance(config, now_ms, fx);
            None
        }
        GroupState::Empty | GroupState::Dead => fail(GroupError::UnknownMemberId),
    }
}

/// The JoinGroup reply describing the running generation (the leader gets the member list).
fn current_generation_reply(group: &Group, member_id: &str, with_members: bool) -> JoinGroupReply {
    JoinGroupReply {
        error: None,
        generation_id: group.generation,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol.clone(),
        leader: group.leader.clone().unwrap_or_default(),
        skip_assignment: false,
        member_id: member_id.to_owned(),
        members: if with_members { group.join_members() } else { Vec::new() },
    }
}

fn add_member_and_rebalance(
    group: &mut Group,
    config: &CoordinatorConfig,
    token: RequestToken,
    req: &JoinGroupRequest,
    member_id: String,
    now_ms: i64,
    fx: &mut Effects,
) {
    let member = Member {
        id: member_id,
        group_instance_id: req.group_instance_id.clone(),
        client_id: req.client_id.clone(),
        client_host: req.client_host.clone(),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        protocols: req.protocols.clone(),
        assignment: Bytes::new(),
        awaiting_join: Some(token),
        awaiting_sync: None,
        last_heartbeat_ms: now_ms,
        is_new: true,
        join_seq: 0,
    };
    if let JoinTimer::InitialDelay { new_member_added, .. } = &mut group.join_timer {
        *new_member_added = true;
    }
    group.add_member(member, &req.protocol_type);
    group.maybe_prepare_rebalance(config, now_ms, fx);
}

/// A known member rejoins: new metadata and timeouts, and its JoinGroup parks. A JoinGroup it
/// still had parked (a client retry) is answered first, so no token is ever left unanswered.
fn update_member(group: &mut Group, token: RequestToken, req: &JoinGroupRequest, now_ms: i64, fx: &mut Effects) {
    let Some(member) = group.members.get_mut(&req.member_id) else { return };
    if let Some(previous) = member.awaiting_join.replace(token) {
        fx.complete_join(previous, JoinGroupReply::error(GroupError::RebalanceInProgress, &req.member_id));
    }
    update_member_fields(group, req, &req.member_id, now_ms);
}

/// A static member joins with an empty member id while its instance id is known: the new
/// incarnation takes the old one's place (and assignment). The old member id is fenced. In a
/// Stable group whose selected protocol would not change, no rebalance happens: the member
/// gets the current generation and syncs for its old assignment.
#[allow(clippy::too_many_arguments)]
fn replace_static_member(
    group: &mut Group,
    config: &CoordinatorConfig,
    token: RequestToken,
    req: &JoinGroupRequest,
    old_id: &str,
    new_id: String,
    now_ms: i64,
    fx: &mut Effects,
) -> Option<JoinGroupReply> {
    let leader_before = group.leader.clone().unwrap_or_default();
    let Some(mut member) = group.members.remove(old_id) else {
        // The instance map pointed at no member: an invariant broke; recover as a new member.
        debug_assert!(false, "static member map points at a missing member");
        add_member_and_rebalance(group, config, token, req, new_id, now_ms, fx);
        return None;
    };
    if let Some(previous) = member.awaiting_join.take() {
        fx.complete_join(previous, JoinGroupReply::error(GroupError::FencedInstanceId, old_id));
    }
    if let Some(previous) = member.awaiting_sync.take() {
        fx.complete_sync(previous, SyncGroupReply::error(GroupError::FencedInstanceId));
    }
    member.id = new_id.clone();
    member.awaiting_join = Some(token);
    if let Some(instance) = &req.group_instance_id {
        group.static_members.insert(instance.clone(), new_id.clone());
    }
    if group.is_leader(old_id) {
        group.leader = Some(new_id.clone());
    }
    if group.pending_sync.remove(old_id) {
        group.pending_sync.insert(new_id.clone());
    }
    group.members.insert(new_id.clone(), member);
    update_member_fields(group, req, &new_id, now_ms);

    match group.state {
        GroupState::Stable if group.select_protocol() == group.protocol => {
            group.persist_metadata(fx);
            let is_leader = group.is_leader(&new_id);
            if let Some(m) = group.members.get_mut(&new_id) {
                m.awaiting_join = None;
            }
            let skip = is_leader && req.version >= SKIP_ASSIGNMENT_VERSION;
            let mut reply = current_generation_reply(group, &new_id, skip);
            // Before v9 the reply names the old leader id, so a rejoining static leader does not
            // compute an assignment that a Stable group would never hand out.
            reply.skip_assignment = skip;
            if !skip {
                reply.leader = leader_before;
            }
            Some(reply)
        }
        GroupState::Stable | GroupState::CompletingRebalance => {
            // In CompletingRebalance the leader may already be assigning to the old member id,
            // so the group must rebalance for the new id to get an assignment.
            group.prepare_rebalance(config, now_ms, fx);
            None
        }
        GroupState::PreparingRebalance => None,
        GroupState::Empty | GroupState::Dead => {
            debug_assert!(false, "a static member in an {} group", group.state);
            if let Some(m) = group.members.get_mut(&new_id) {
                m.awaiting_join = None;
            }
            Some(JoinGroupReply::error(GroupError::UnknownMemberId, &new_id))
        }
    }
}

/// Copies a join request's member fields (but not the parked token) onto a member.
fn update_member_fields(group: &mut Group, req: &JoinGroupRequest, member_id: &str, now_ms: i64) {
    if let Some(member) = group.members.get_mut(member_id) {
        member.protocols = req.protocols.clone();
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        member.last_heartbeat_ms = now_ms;
    }
}
