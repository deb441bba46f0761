//! One group's data: members, the current generation, committed offsets, and the queries on
//! them (protocol selection, fencing, subscriptions). The transitions live in `rebalance.rs`;
//! this file holds no timing policy.
//!
//! Invariants (asserted in debug builds by [`Group::check_invariants`]):
//! - `leader` is a member whenever `members` is non-empty, and `None` when it is empty;
//! - `static_members` maps each `group.instance.id` to the member holding it, and only those;
//! - a pending member id (MEMBER_ID_REQUIRED issued) is never also a member;
//! - only `CompletingRebalance` has members waiting in SyncGroup, only `PreparingRebalance`
//!   has members waiting in JoinGroup.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::{Decodable, Message};

use crate::error::GroupError;
use crate::records::{GroupMetadataValue, MemberMetadata, OffsetCommitValue};
use crate::replies::JoinGroupMember;
use crate::requests::{Protocol, RequestToken, TopicPartition};
use crate::state::GroupState;
use crate::txn_offsets::TxnOffsets;

/// The protocol type of Kafka consumers; OffsetDelete and offset expiry read their subscriptions.
pub(crate) const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// A member of a group.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocols: Vec<Protocol>,
    /// The assignment of the last completed SyncGroup (empty until then).
    pub assignment: Bytes,
    /// A JoinGroup parked until the rebalance completes.
    pub awaiting_join: Option<RequestToken>,
    /// A SyncGroup parked until the leader's assignment arrives.
    pub awaiting_sync: Option<RequestToken>,
    pub last_heartbeat_ms: i64,
    /// Joined but not yet part of a generation (gets the longer new-member join timeout).
    pub is_new: bool,
    /// Join order: the leader is re-elected as the earliest joined member, so it is deterministic.
    pub join_seq: u64,
}

impl Member {
    /// The member's metadata for `protocol` (empty if it does not speak it).
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|p| p.name == protocol).map(|p| p.metadata.clone()).unwrap_or_default()
    }

    /// Whether a rejoin carries exactly the protocols (names, order and metadata) it had.
    pub fn same_protocols(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    /// Whether the member's session has run out at `now_ms` (Kafka's `shouldKeepAlive` negated):
    /// a member parked in JoinGroup is kept alive (a new one only up to `new_member_timeout_ms`),
    /// one parked in SyncGroup always, any other until its session timeout since its last heartbeat.
    pub fn session_deadline_ms(&self, new_member_timeout_ms: i64) -> Option<i64> {
        if self.awaiting_join.is_some() {
            self.is_new.then_some(self.last_heartbeat_ms.saturating_add(new_member_timeout_ms))
        } else if self.awaiting_sync.is_some() {
            None
        } else {
            Some(self.last_heartbeat_ms.saturating_add(i64::from(self.session_timeout_ms)))
        }
    }
}

/// When the join phase of a rebalance ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinTimer {
    /// Not in `PreparingRebalance`.
    Idle,
    /// The first rebalance of an empty group: wait `group.initial.rebalance.delay.ms` for more
    /// members, again (up to `remaining_ms` in total) whenever new members came meanwhile.
    InitialDelay { deadline_ms: i64, remaining_ms: i64, new_member_added: bool },
    /// Complete when every member has rejoined, or at the deadline (the rebalance timeout).
    Rebalance { deadline_ms: i64 },
}

/// A group: members, generation and committed offsets.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: String,
    /// The `__consumer_offsets` partition holding this group's records.
    pub partition: i32,
    pub state: GroupState,
    /// When the group entered `state`; -1 if unknown (a group loaded from an old record).
    pub state_since_ms: i64,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the time they expire unused.
    pub pending: BTreeMap<String, i64>,
    /// `group.instance.id` → member id.
    pub static_members: BTreeMap<String, String>,
    pub offsets: BTreeMap<TopicPartition, OffsetCommitValue>,
    /// Transactional offsets waiting for their transactions' markers.
    pub txn_offsets: TxnOffsets,
    pub join_timer: JoinTimer,
    /// Members of the current generation that have not sent SyncGroup yet, and when they are
    /// dropped if they still have not (Kafka's pending-sync timeout: one rebalance timeout
    /// after the join phase), so one silent member cannot hold the others forever.
    pub pending_sync: BTreeSet<String>,
    pub sync_deadline_ms: Option<i64>,
    pub next_join_seq: u64,
    /// The last group metadata record written (what a snapshot keeps).
    pub persisted: Option<GroupMetadataValue>,
}

impl Group {
    pub fn new(id: String, partition: i32, now_ms: i64) -> Self {
        Group {
            id,
            partition,
            state: GroupState::Empty,
            state_since_ms: now_ms,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: BTreeMap::new(),
            static_members: BTreeMap::new(),
            offsets: BTreeMap::new(),
            txn_offsets: TxnOffsets::default(),
            join_timer: JoinTimer::Idle,
            pending_sync: BTreeSet::new(),
            sync_deadline_ms: None,
            next_join_seq: 0,
            persisted: None,
        }
    }

    pub fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_since_ms = now_ms;
        if state != GroupState::PreparingRebalance {
            self.join_timer = JoinTimer::Idle;
        }
    }

    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    /// Adds a member; the first member sets the group's protocol type and becomes leader.
    pub fn add_member(&mut self, mut member: Member, protocol_type: &str) {
        if self.members.is_empty() {
            self.protocol_type = Some(protocol_type.to_owned());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        member.join_seq = self.next_join_seq;
        self.next_join_seq += 1;
        if let Some(instance) = &member.group_instance_id {
            self.static_members.insert(instance.clone(), member.id.clone());
        }
        self.members.insert(member.id.clone(), member);
    }

    /// Removes a member, re-electing the leader (earliest joined) if it was the leader.
    pub fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        self.pending_sync.remove(member_id);
        if let Some(instance) = &member.group_instance_id
            && self.static_members.get(instance).map(String::as_str) == Some(member_id)
        {
            self.static_members.remove(instance);
        }
        if self.is_leader(member_id) {
            self.leader = self.first_member(|_| true);
        }
        Some(member)
    }

    /// The earliest joined member satisfying `pred`.
    pub fn first_member(&self, pred: impl Fn(&Member) -> bool) -> Option<String> {
        self.members.values().filter(|m| pred(m)).min_by_key(|m| m.join_seq).map(|m| m.id.clone())
    }

    /// Kafka's `isStaticMemberFenced`: the instance id belongs to another member id.
    pub fn is_static_fenced(&self, group_instance_id: Option<&str>, member_id: &str) -> bool {
        group_instance_id
            .and_then(|instance| self.static_members.get(instance))
            .is_some_and(|holder| holder != member_id)
    }

    /// The checks SyncGroup, Heartbeat and OffsetCommit share, in Kafka's order: the group is
    /// alive, the instance id is not held by another member, the member exists, and the
    /// generation is the current one.
    pub fn check_member(
        &self,
        group_instance_id: Option<&str>,
        member_id: &str,
        generation: i32,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            Err(GroupError::CoordinatorNotAvailable)
        } else if self.is_static_fenced(group_instance_id, member_id) {
            Err(GroupError::FencedInstanceId)
        } else if !self.members.contains_key(member_id) {
            Err(GroupError::UnknownMemberId)
        } else if generation != self.generation {
            Err(GroupError::IllegalGeneration)
        } else {
            Ok(())
        }
    }

    /// Kafka's `supportsProtocols`: an empty group takes any non-empty type and protocol list;
    /// otherwise the type must match and one of the protocols must be spoken by every member.
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|p| self.members.values().all(|m| m.protocols.iter().any(|q| q.name == p.name)))
    }

    /// Kafka's `selectProtocol`: among the protocols every member supports, each member votes for
    /// the first one in its own preference order; the most votes win. Ties go to the candidate
    /// the earliest joined member prefers (Kafka leaves ties to hash order).
    pub fn select_protocol(&self) -> Option<String> {
        let mut by_join: Vec<&Member> = self.members.values().collect();
        by_join.sort_by_key(|m| m.join_seq);
        let first = by_join.first()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| by_join.iter().all(|m| m.protocols.iter().any(|q| q.name == *name)))
            .collect();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for member in &by_join {
            if let Some(choice) = member.protocols.iter().find(|p| candidates.contains(&p.name.as_str())) {
                *votes.entry(choice.name.as_str()).or_default() += 1;
            }
        }
        let most = votes.values().copied().max()?;
        candidates.into_iter().find(|c| votes.get(c) == Some(&most)).map(str::to_owned)
    }

    /// Whether every member is parked in JoinGroup and no handed-out member id is still unused.
    pub fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// The group's rebalance timeout: the largest of its members'.
    pub fn rebalance_timeout_ms(&self) -> i64 {
        self.members.values().map(|m| i64::from(m.rebalance_timeout_ms)).max().unwrap_or(0)
    }

    /// The members as the leader receives them in its JoinGroup reply, in join order.
    pub fn join_members(&self) -> Vec<JoinGroupMember> {
        let protocol = self.protocol.as_deref().unwrap_or_default();
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.join_seq);
        members
            .into_iter()
            .map(|m| JoinGroupMember {
                member_id: m.id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata_for(protocol),
            })
            .collect()
    }

    /// The group metadata record value for the current generation.
    pub fn metadata_value(&self) -> GroupMetadataValue {
        let protocol = self.protocol.as_deref().unwrap_or_default();
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.join_seq);
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp_ms: self.state_since_ms,
            members: members
                .into_iter()
                .map(|m| MemberMetadata {
                    member_id: m.id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata_for(protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// The topics the members subscribe to, read from their consumer-protocol metadata.
    /// `None` when the group is not a consumer group or a subscription does not decode (then
    /// callers must assume every topic is in use).
    pub fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        let protocol = self.protocol.as_deref()?;
        let mut topics = BTreeSet::new();
        for member in self.members.values() {
            let mut metadata = member.metadata_for(protocol);
            if metadata.len() < 2 {
                return None;
            }
            let version = i16::from_be_bytes([metadata[0], metadata[1]]);
            let metadata = &mut metadata.split_off(2);
            // Newer subscription versions only add fields at the end, so read them as the newest
            // version this crate knows (Kafka's ConsumerProtocol does the same).
            let version = version.clamp(0, ConsumerProtocolSubscription::VERSIONS.max);
            // Client bytes: checked against Kafka's layout before the decoder sizes arrays from them.
            strata_wire::schema::check_embedded("ConsumerProtocolSubscription", version, metadata).ok()?;
            let subscription = ConsumerProtocolSubscription::decode(metadata, version).ok()?;
            topics.extend(subscription.topics.iter().map(|t| t.as_str().to_owned()));
        }
        Some(topics)
    }

    /// Asserts the invariants listed at the top of this file.
    pub fn check_invariants(&self) {
        if cfg!(debug_assertions) {
            match &self.leader {
                Some(leader) => assert!(self.members.contains_key(leader), "group {}: leader is not a member", self.id),
                None => assert!(self.members.is_empty(), "group {}: members without a leader", self.id),
            }
            for (instance, member_id) in &self.static_members {
                let member = self.members.get(member_id);
                assert!(
                    member.is_some_and(|m| m.group_instance_id.as_deref() == Some(instance)),
                    "group {}: static member map out of date",
                    self.id
                );
            }
            assert!(
                self.pending.keys().all(|p| !self.members.contains_key(p)),
                "group {}: pending member is a member",
                self.id
            );
            for m in self.members.values() {
                assert!(
                    m.awaiting_join.is_none() || self.state == GroupState::PreparingRebalance,
                    "group {}: parked join outside PreparingRebalance",
                    self.id
                );
                assert!(
                    m.awaiting_sync.is_none() || self.state == GroupState::CompletingRebalance,
                    "group {}: parked sync outside CompletingRebalance",
                    self.id
                );
            }
        }
    }
}
