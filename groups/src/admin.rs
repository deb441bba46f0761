//! DescribeGroups, ListGroups and DeleteGroups.

use crate::coordinator::Coordinator;
use crate::error::GroupError;
use crate::offsets::offset_record;
use crate::replies::{DeletedGroup, DescribedGroup, DescribedMember, Effects, ListedGroup, Outcome};
use crate::state::GroupState;

/// The only group type this coordinator runs (KIP-848's "consumer" groups are not implemented).
pub const CLASSIC_GROUP_TYPE: &str = "classic";

/// DescribeGroups v6 answers GROUP_ID_NOT_FOUND for an unknown group (earlier versions: Dead).
const DESCRIBE_NOT_FOUND_VERSION: i16 = 6;

impl Coordinator {
    /// DescribeGroups for one group. Members' metadata and assignments are given only when the
    /// group is Stable, as Kafka does.
    pub fn describe_group(&self, group_id: &str, version: i16) -> DescribedGroup {
        let Some(group) = self.groups.get(group_id) else {
            return DescribedGroup {
                error: (version >= DESCRIBE_NOT_FOUND_VERSION).then_some(GroupError::GroupIdNotFound),
                group_id: group_id.to_owned(),
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            };
        };
        let stable = group.state == GroupState::Stable;
        let protocol = if stable { group.protocol.clone().unwrap_or_default() } else { String::new() };
        let mut members: Vec<_> = group.members.values().collect();
        members.sort_by_key(|m| m.join_seq);
        DescribedGroup {
            error: None,
            group_id: group_id.to_owned(),
            state: group.state,
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            members: members
                .into_iter()
                .map(|m| DescribedMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable { m.metadata_for(&protocol) } else { Default::default() },
                    assignment: if stable { m.assignment.clone() } else { Default::default() },
                })
                .collect(),
            protocol,
        }
    }

    /// ListGroups. Empty filters match everything; state names match case-insensitively, as do
    /// group types (only "classic" groups exist here).
    pub fn list_groups(&self, states_filter: &[String], types_filter: &[String]) -> Vec<ListedGroup> {
        if !types_filter.is_empty() && !types_filter.iter().any(|t| t.eq_ignore_ascii_case(CLASSIC_GROUP_TYPE)) {
            return Vec::new();
        }
        let states: Vec<Option<GroupState>> = states_filter.iter().map(|s| GroupState::parse(s)).collect();
        self.groups
            .values()
            .filter(|g| states.is_empty() || states.contains(&Some(g.state)))
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
                group_type: CLASSIC_GROUP_TYPE,
            })
            .collect()
    }

    /// DeleteGroups: an empty group is removed with its offsets (tombstones for each); a group
    /// with members answers NON_EMPTY_GROUP.
    pub fn delete_groups(&mut self, group_ids: &[String], _now_ms: i64) -> Outcome<Vec<DeletedGroup>> {
        let mut fx = Effects::default();
        let mut results = Vec::with_capacity(group_ids.len());
        for group_id in group_ids {
            let error = match self.groups.get(group_id).map(|g| g.state) {
                None | Some(GroupState::Dead) => Some(GroupError::GroupIdNotFound),
                Some(GroupState::Empty) => {
                    if let Some(group) = self.groups.remove(group_id) {
                        remove_group_records(group, &mut fx);
                    }
                    None
                }
                Some(_) => Some(GroupError::NonEmptyGroup),
            };
            results.push(DeletedGroup { group_id: group_id.clone(), error });
        }
        Outcome { reply: results, effects: fx }
    }
}

/// Tombstones for every offset (committed or pending) of a removed group, then for its metadata (Kafka always writes
/// the group tombstone; a group that never had a metadata record needs none, so none is written).
pub(crate) fn remove_group_records(mut group: crate::group::Group, fx: &mut Effects) {
    group.transition(GroupState::Dead, group.state_since_ms);
    // Partitions with only a pending transactional offset get a tombstone too (as Kafka's
    // `deleteAllOffsets` writes): replay then drops the pending offset with the group.
    let pending = group.txn_offsets.partitions();
    let tombstoned = group.offsets.keys().chain(pending.into_iter().filter(|tp| !group.offsets.contains_key(*tp)));
    let records: Vec<_> = tombstoned.map(|tp| offset_record(&group, tp, None)).collect();
    fx.records.extend(records);
    if group.persisted.is_some() {
        group.persist_tombstone(fx);
    }
}
