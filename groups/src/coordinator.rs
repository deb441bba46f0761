//! The coordinator: every group this broker coordinates, and the entry points the broker's
//! handlers call. Each API's logic lives in its own file (`join.rs`, `sync.rs`, ...); this file
//! holds the shared plumbing.
//!
//! Concurrency: a `Coordinator` is a plain value with `&mut self` methods. The broker owns it
//! behind one lock (or one task) and calls it for a few microseconds per request; nothing here
//! blocks, reads a clock or does I/O.

use std::collections::BTreeMap;

use crate::config::CoordinatorConfig;
use crate::group::{Group, JoinTimer};
use crate::ids::MemberIdSource;
use crate::partition::offsets_partition_for;
use crate::replies::{Completed, Effects, Outcome};
use crate::requests::RequestToken;
use crate::state::GroupState;

/// The group coordinator of one broker.
pub struct Coordinator {
    pub(crate) config: CoordinatorConfig,
    pub(crate) ids: Box<dyn MemberIdSource>,
    pub(crate) groups: BTreeMap<String, Group>,
    pub(crate) next_retention_check_ms: i64,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator").field("config", &self.config).field("groups", &self.groups.len()).finish()
    }
}

/// A read-only view of one group, for the broker's logs and metrics and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// Member ids in join order.
    pub members: Vec<String>,
    /// How many committed offsets the group holds.
    pub offsets: usize,
}

impl Coordinator {
    /// An empty coordinator (nothing to replay). To load `__consumer_offsets`, use
    /// [`Coordinator::replayer`] instead.
    pub fn new(config: CoordinatorConfig, ids: Box<dyn MemberIdSource>) -> Self {
        Coordinator { config, ids, groups: BTreeMap::new(), next_retention_check_ms: i64::MIN }
    }

    pub fn config(&self) -> &CoordinatorConfig {
        &self.config
    }

    /// The `__consumer_offsets` partition of `group_id` (see [`offsets_partition_for`]).
    pub fn partition_for(&self, group_id: &str) -> i32 {
        offsets_partition_for(group_id, self.config.offsets_topic_partitions)
    }

    /// A summary of one group, `None` if it does not exist.
    pub fn group_summary(&self, group_id: &str) -> Option<GroupSummary> {
        let group = self.groups.get(group_id)?;
        let mut members: Vec<_> = group.members.values().collect();
        members.sort_by_key(|m| m.join_seq);
        Some(GroupSummary {
            state: group.state,
            generation: group.generation,
            protocol_type: group.protocol_type.clone(),
            protocol: group.protocol.clone(),
            leader: group.leader.clone(),
            members: members.into_iter().map(|m| m.id.clone()).collect(),
            offsets: group.offsets.len(),
        })
    }

    /// The earliest time at which [`Coordinator::tick`] has work (a session or a rebalance
    /// timing out, an offset retention pass), so the broker can sleep until then.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let new_member_timeout_ms = self.config.new_member_join_timeout_ms;
        let retention = (!self.groups.is_empty()).then_some(self.next_retention_check_ms);
        let per_group = self.groups.values().flat_map(|g| {
            let timer = match g.join_timer {
                JoinTimer::Idle => None,
                JoinTimer::InitialDelay { deadline_ms, .. } | JoinTimer::Rebalance { deadline_ms } => Some(deadline_ms),
            };
            let sessions = g.members.values().filter_map(move |m| m.session_deadline_ms(new_member_timeout_ms));
            timer.into_iter().chain(g.sync_deadline_ms).chain(g.pending.values().copied()).chain(sessions)
        });
        retention.into_iter().chain(per_group).min()
    }

    /// Stops coordinating the groups of `__consumer_offsets` partition `offsets_partition` (its
    /// leadership moved to another broker): drops their state, as Kafka's coordinator unloads a
    /// partition. Returns how many groups were dropped.
    pub fn unload_partition(&mut self, offsets_partition: i32) -> usize {
        let before = self.groups.len();
        self.groups.retain(|_, group| group.partition != offsets_partition);
        before - self.groups.len()
    }

    /// Takes over the groups of `loaded`, a coordinator replayed from partitions this one does
    /// not hold (just unloaded or never loaded): a broker that gains the leadership of an offsets
    /// partition loads it beside the ones it already coordinates.
    pub fn absorb(&mut self, loaded: Coordinator) {
        debug_assert!(
            self.groups.values().all(|held| loaded.groups.values().all(|g| g.partition != held.partition)),
            "a partition is loaded twice"
        );
        self.groups.extend(loaded.groups);
    }

    /// Creates the group if it does not exist.
    pub(crate) fn group_or_create(&mut self, group_id: &str, now_ms: i64) -> &mut Group {
        let partition = self.partition_for(group_id);
        self.groups.entry(group_id.to_owned()).or_insert_with(|| Group::new(group_id.to_owned(), partition, now_ms))
    }

    /// Drops a group that holds nothing (created by a request that then failed), so bad requests
    /// leave no state behind.
    pub(crate) fn drop_if_unused(&mut self, group_id: &str) {
        if let Some(group) = self.groups.get(group_id)
            && group.state == GroupState::Empty
            && group.members.is_empty()
            && group.pending.is_empty()
            && group.offsets.is_empty()
            && group.txn_offsets.is_empty()
            && group.persisted.is_none()
        {
            self.groups.remove(group_id);
        }
    }

    pub(crate) fn check_invariants(&self, group_id: &str) {
        if let Some(group) = self.groups.get(group_id) {
            group.check_invariants();
        }
    }
}

/// Moves the reply to `token` out of `effects.completed` into the call's own reply: a request
/// that completes during its own call is answered directly rather than as a completion.
pub(crate) fn take_own<R>(
    token: RequestToken,
    reply: Option<R>,
    mut effects: Effects,
    unwrap: impl Fn(Completed) -> Option<R>,
) -> Outcome<Option<R>> {
    if reply.is_none()
        && let Some(i) = effects.completed.iter().position(|c| c.token() == token)
    {
        let own = effects.completed.remove(i);
        return Outcome { reply: unwrap(own), effects };
    }
    Outcome { reply, effects }
}
