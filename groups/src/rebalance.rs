//! The rebalance transitions of a group: starting a rebalance, completing its join phase into a
//! new generation, and removing a member — each answering the parked requests it settles and
//! emitting the group metadata record when Kafka would write one.

use bytes::Bytes;

use crate::config::CoordinatorConfig;
use crate::error::GroupError;
use crate::group::{Group, JoinTimer};
use crate::records::{Record, RecordKey};
use crate::replies::{Completed, Effects, JoinGroupReply, SyncGroupReply};
use crate::requests::RequestToken;
use crate::state::GroupState;

impl Effects {
    pub(crate) fn complete_join(&mut self, token: RequestToken, reply: JoinGroupReply) {
        self.completed.push(Completed::Join { token, reply });
    }

    pub(crate) fn complete_sync(&mut self, token: RequestToken, reply: SyncGroupReply) {
        self.completed.push(Completed::Sync { token, reply });
    }
}

impl Group {
    /// Starts a rebalance from a state that can rebalance (Kafka's `maybePrepareRebalance`).
    pub fn maybe_prepare_rebalance(&mut self, config: &CoordinatorConfig, now_ms: i64, fx: &mut Effects) {
        if matches!(self.state, GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty) {
            self.prepare_rebalance(config, now_ms, fx);
        }
    }

    /// Moves to `PreparingRebalance`. Members waiting in SyncGroup are told to rejoin, since the
    /// assignment they wait for belongs to a generation that is over.
    pub fn prepare_rebalance(&mut self, config: &CoordinatorConfig, now_ms: i64, fx: &mut Effects) {
        if self.state == GroupState::CompletingRebalance {
            for member in self.members.values_mut() {
                member.assignment = Bytes::new();
                if let Some(token) = member.awaiting_sync.take() {
                    fx.complete_sync(token, SyncGroupReply::error(GroupError::RebalanceInProgress));
                }
            }
        }
        self.pending_sync.clear();
        self.sync_deadline_ms = None;
        let timeout_ms = self.rebalance_timeout_ms();
        let timer = if self.state == GroupState::Empty {
            let delay_ms = i64::from(config.initial_rebalance_delay_ms.max(0));
            JoinTimer::InitialDelay {
                deadline_ms: now_ms.saturating_add(delay_ms),
                remaining_ms: (timeout_ms - delay_ms).max(0),
                new_member_added: false,
            }
        } else {
            JoinTimer::Rebalance { deadline_ms: now_ms.saturating_add(timeout_ms) }
        };
        self.transition(GroupState::PreparingRebalance, now_ms);
        self.join_timer = timer;
    }

    /// Completes the join phase if it is over: when every member rejoined, or at the deadline
    /// (an initial delay completes only at its deadline, extended while new members arrive).
    pub fn try_complete_join(&mut self, config: &CoordinatorConfig, now_ms: i64, fx: &mut Effects) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        match self.join_timer {
            JoinTimer::InitialDelay { deadline_ms, remaining_ms, new_member_added } => {
                if now_ms < deadline_ms {
                    return;
                }
                if new_member_added && remaining_ms > 0 {
                    let delay_ms = i64::from(config.initial_rebalance_delay_ms.max(0)).min(remaining_ms);
                    self.join_timer = JoinTimer::InitialDelay {
                        deadline_ms: now_ms.saturating_add(delay_ms),
                        remaining_ms: remaining_ms - delay_ms,
                        new_member_added: false,
                    };
                    return;
                }
            }
            JoinTimer::Rebalance { deadline_ms } => {
                if !self.all_joined() && now_ms < deadline_ms {
                    return;
                }
            }
            JoinTimer::Idle => {
                if !self.all_joined() {
                    return;
                }
            }
        }
        self.complete_join(now_ms, fx);
    }

    /// Kafka's `onCompleteJoin`: drops the dynamic members that did not rejoin, starts the next
    /// generation and answers every parked JoinGroup (the leader with the member list).
    fn complete_join(&mut self, now_ms: i64, fx: &mut Effects) {
        let not_rejoined: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.group_instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in not_rejoined {
            // Not parked in JoinGroup (filtered above), and no SyncGroup parks while preparing.
            self.remove_member(&id);
        }
        if !self.members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_none()) {
            // Only static members that did not rejoin are left: wait another rebalance timeout
            // for them; their sessions expire meanwhile if they are gone (Kafka does the same).
            self.join_timer = JoinTimer::Rebalance { deadline_ms: now_ms.saturating_add(self.rebalance_timeout_ms()) };
            return;
        }
        let leader_joined =
            self.leader.as_ref().and_then(|l| self.members.get(l)).is_some_and(|m| m.awaiting_join.is_some());
        if !leader_joined {
            self.leader = self.first_member(|m| m.awaiting_join.is_some());
        }
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol = None;
            self.transition(GroupState::Empty, now_ms);
            self.persist_metadata(fx);
            return;
        }
        self.protocol = self.select_protocol();
        self.transition(GroupState::CompletingRebalance, now_ms);
        self.pending_sync = self.members.keys().cloned().collect();
        self.sync_deadline_ms = Some(now_ms.saturating_add(self.rebalance_timeout_ms()));
        let member_list = self.join_members();
        let leader = self.leader.clone().unwrap_or_default();
        let mut ordered: Vec<_> = self.members.values_mut().collect();
        ordered.sort_by_key(|m| m.join_seq);
        for member in ordered {
            let Some(token) = member.awaiting_join.take() else { continue };
            member.is_new = false;
            member.last_heartbeat_ms = now_ms;
            let is_leader = member.id == leader;
            fx.complete_join(
                token,
                JoinGroupReply {
                    error: None,
                    generation_id: self.generation,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol.clone(),
                    leader: leader.clone(),
                    skip_assignment: false,
                    member_id: member.id.clone(),
                    members: if is_leader { member_list.clone() } else { Vec::new() },
                },
            );
        }
    }

    /// Removes a member (left, expired), answers its parked requests with UNKNOWN_MEMBER_ID and
    /// starts a rebalance if the group had a generation running. The caller then runs
    /// [`Group::try_complete_join`], since the member may have been the last one awaited.
    pub fn remove_member_and_rebalance(
        &mut self,
        member_id: &str,
        config: &CoordinatorConfig,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(member) = self.remove_member(member_id) else { return };
        if let Some(token) = member.awaiting_join {
            fx.complete_join(token, JoinGroupReply::error(GroupError::UnknownMemberId, member_id));
        }
        if let Some(token) = member.awaiting_sync {
            fx.complete_sync(token, SyncGroupReply::error(GroupError::UnknownMemberId));
        }
        if matches!(self.state, GroupState::Stable | GroupState::CompletingRebalance) {
            self.prepare_rebalance(config, now_ms, fx);
        }
    }

    /// Emits the group metadata record of the current generation and remembers it as persisted.
    pub fn persist_metadata(&mut self, fx: &mut Effects) {
        let value = self.metadata_value();
        fx.records.push(Record {
            partition: self.partition,
            key: RecordKey::GroupMetadata { group: self.id.clone() }.encode(),
            value: Some(value.encode()),
            transaction: None,
        });
        self.persisted = Some(value);
    }

    /// Emits the group metadata tombstone (the group is being removed).
    pub fn persist_tombstone(&mut self, fx: &mut Effects) {
        fx.records.push(Record {
            partition: self.partition,
            key: RecordKey::GroupMetadata { group: self.id.clone() }.encode(),
            value: None,
            transaction: None,
        });
        self.persisted = None;
    }
}
