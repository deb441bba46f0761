//! Time: session expiry, rebalance and initial-delay deadlines, and offset retention
//! (`offsets.retention.minutes`), all driven by the `now_ms` the broker passes to `tick`.

use crate::admin::remove_group_records;
use crate::coordinator::Coordinator;
use crate::group::{CONSUMER_PROTOCOL_TYPE, Group};
use crate::offsets::offset_record;
use crate::replies::Effects;
use crate::state::GroupState;

impl Coordinator {
    /// Advances time to `now_ms`: expires sessions and unused pending member ids, drops members
    /// that did not send SyncGroup within the rebalance timeout after the join phase, completes
    /// rebalances whose members all rejoined or whose timeout passed (answering parked
    /// JoinGroups), and every `offsets.retention.check.interval.ms` expires old offsets and
    /// removes empty groups left without offsets. Call it at [`Coordinator::next_deadline_ms`]
    /// (or simply every few hundred milliseconds).
    pub fn tick(&mut self, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        let Coordinator { config, groups, .. } = self;
        for group in groups.values_mut() {
            group.pending.retain(|_, expires_ms| *expires_ms > now_ms);
            let expired: Vec<String> = group
                .members
                .values()
                .filter(|m| m.session_deadline_ms(config.new_member_join_timeout_ms).is_some_and(|d| d <= now_ms))
                .map(|m| m.id.clone())
                .collect();
            for member_id in expired {
                group.remove_member_and_rebalance(&member_id, config, now_ms, &mut fx);
            }
            if group.sync_deadline_ms.is_some_and(|d| d <= now_ms) {
                group.sync_deadline_ms = None;
                let silent = std::mem::take(&mut group.pending_sync);
                for member_id in silent {
                    group.remove_member_and_rebalance(&member_id, config, now_ms, &mut fx);
                }
            }
            group.try_complete_join(config, now_ms, &mut fx);
            group.check_invariants();
        }
        if self.next_retention_check_ms == i64::MIN {
            // The first pass runs one interval after start-up, as Kafka schedules it.
            self.next_retention_check_ms = now_ms.saturating_add(self.config.offsets_retention_check_interval_ms);
        } else if now_ms >= self.next_retention_check_ms {
            self.next_retention_check_ms = now_ms.saturating_add(self.config.offsets_retention_check_interval_ms);
            self.expire_offsets(now_ms, &mut fx);
        }
        fx
    }

    /// Kafka's `cleanupGroupMetadata`: expires offsets, then removes empty groups that hold no
    /// offsets any more (tombstoning their metadata).
    fn expire_offsets(&mut self, now_ms: i64, fx: &mut Effects) {
        let retention_ms = self.config.offsets_retention_ms;
        let mut dead = Vec::new();
        for group in self.groups.values_mut() {
            for tp in expired_offsets(group, now_ms, retention_ms) {
                group.offsets.remove(&tp);
                fx.records.push(offset_record(group, &tp, None));
            }
            // A group with an open transaction stays until the transaction ends, as in Kafka.
            if group.state == GroupState::Empty
                && group.offsets.is_empty()
                && group.pending.is_empty()
                && group.txn_offsets.is_empty()
            {
                dead.push(group.id.clone());
            }
        }
        for group_id in dead {
            if let Some(group) = self.groups.remove(&group_id) {
                remove_group_records(group, fx);
            }
        }
    }
}

/// Which offsets of `group` have expired (Kafka's `GroupMetadata.removeExpiredOffsets`):
/// - an empty group: all of them, `retention_ms` after the group became empty;
/// - a group used only for commits (no protocol type): each `retention_ms` after its commit;
/// - a Stable consumer group: offsets of topics no member subscribes to, after their commit.
///
/// An offset committed with an explicit expire timestamp expires then instead; an offset with a
/// pending transactional offset does not expire.
fn expired_offsets(group: &Group, now_ms: i64, retention_ms: i64) -> Vec<crate::requests::TopicPartition> {
    let (base_is_state, skip): (bool, Option<std::collections::BTreeSet<String>>) =
        match (group.protocol_type.as_deref(), group.state) {
            (Some(_), GroupState::Empty) => (true, None),
            (None, _) => (false, None),
            (Some(CONSUMER_PROTOCOL_TYPE), GroupState::Stable) => match group.subscribed_topics() {
                Some(topics) => (false, Some(topics)),
                None => return Vec::new(),
            },
            _ => return Vec::new(),
        };
    group
        .offsets
        .iter()
        .filter(|(tp, _)| skip.as_ref().is_none_or(|topics| !topics.contains(&tp.topic)))
        // An offset a transaction may still replace does not expire yet (Kafka's rule).
        .filter(|(tp, _)| !group.txn_offsets.is_pending(tp))
        .filter(|(_, value)| {
            if value.expire_timestamp_ms >= 0 {
                return now_ms >= value.expire_timestamp_ms;
            }
            let base_ms = if base_is_state && group.state_since_ms >= 0 {
                group.state_since_ms
            } else {
                value.commit_timestamp_ms
            };
            now_ms.saturating_sub(base_ms) >= retention_ms
        })
        .map(|(tp, _)| tp.clone())
        .collect()
}
