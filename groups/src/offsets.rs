//! Committed offsets: OffsetCommit (with the generation and member checks), OffsetFetch and
//! OffsetDelete. Every change is an `__consumer_offsets` record (a tombstone for a delete).

use crate::coordinator::Coordinator;
use crate::error::GroupError;
use crate::group::{CONSUMER_PROTOCOL_TYPE, Group};
use crate::records::{OffsetCommitValue, Record, RecordKey};
use crate::replies::{
    Effects, FetchedOffset, OffsetCommitReply, OffsetDeleteReply, OffsetFetchReply, Outcome, PartitionResult,
};
use crate::requests::{OffsetCommitEntry, OffsetCommitRequest, TopicPartition};
use crate::state::GroupState;

impl Coordinator {
    /// OffsetCommit. Generation -1 with member id "" commits outside group management, which
    /// Kafka allows only while the group has no members.
    pub fn offset_commit(&mut self, request: OffsetCommitRequest, now_ms: i64) -> Outcome<OffsetCommitReply> {
        let OffsetCommitRequest { group_id, generation_id, .. } = &request;
        self.commit_offsets(
            group_id,
            *generation_id,
            &request.offsets,
            now_ms,
            |group| check_commit(group, &request, now_ms),
            |group, tp, value, fx| {
                fx.records.push(offset_record(group, tp, Some(&value)));
                group.offsets.insert(tp.clone(), value);
                group.txn_offsets.committed(tp);
            },
        )
    }

    /// The steps OffsetCommit and TxnOffsetCommit share, in Kafka's order: an empty group id is
    /// INVALID_GROUP_ID, a generation for a group that does not exist ILLEGAL_GENERATION, then
    /// `check` (the member checks) for the whole request, then each offset's metadata size;
    /// `store` keeps each accepted offset and emits its record.
    pub(crate) fn commit_offsets(
        &mut self,
        group_id: &str,
        generation_id: i32,
        offsets: &[OffsetCommitEntry],
        now_ms: i64,
        check: impl FnOnce(&mut Group) -> Result<(), GroupError>,
        mut store: impl FnMut(&mut Group, &TopicPartition, OffsetCommitValue, &mut Effects),
    ) -> Outcome<OffsetCommitReply> {
        let mut fx = Effects::default();
        let all = |error: GroupError| OffsetCommitReply {
            partitions: offsets
                .iter()
                .map(|o| PartitionResult { partition: o.partition.clone(), error: Some(error) })
                .collect(),
        };
        let reply = if group_id.is_empty() {
            all(GroupError::InvalidGroupId)
        } else if generation_id >= 0 && !self.groups.contains_key(group_id) {
            all(GroupError::IllegalGeneration)
        } else {
            let metadata_max = self.config.offset_metadata_bytes_max;
            let group = self.group_or_create(group_id, now_ms);
            match check(group) {
                Err(error) => all(error),
                Ok(()) => {
                    let partitions = offsets
                        .iter()
                        .map(|entry| {
                            let error = commit_value(entry, metadata_max, now_ms)
                                .map(|value| store(group, &entry.partition, value, &mut fx))
                                .err();
                            PartitionResult { partition: entry.partition.clone(), error }
                        })
                        .collect();
                    OffsetCommitReply { partitions }
                }
            }
        };
        self.drop_if_unused(group_id);
        self.check_invariants(group_id);
        Outcome { reply, effects: fx }
    }

    /// OffsetFetch for one group (the broker splits batched requests). `partitions: None` asks
    /// for every committed offset of the group. Partitions without a commit answer offset -1,
    /// and an unknown group answers every partition that way, without an error, as Kafka does.
    /// With `require_stable` (v7+), a partition with a pending transactional offset answers
    /// UNSTABLE_OFFSET_COMMIT (offset -1) instead, so the client retries once the transaction
    /// has ended; without it, the last committed offset is answered, as Kafka does.
    pub fn offset_fetch(
        &self,
        group_id: &str,
        partitions: Option<&[TopicPartition]>,
        require_stable: bool,
    ) -> OffsetFetchReply {
        let group = self.groups.get(group_id).filter(|g| g.state != GroupState::Dead);
        let fetched = |tp: &TopicPartition| {
            let unstable = require_stable && group.is_some_and(|g| g.txn_offsets.is_pending(tp));
            let committed = group.and_then(|g| g.offsets.get(tp)).filter(|_| !unstable);
            FetchedOffset {
                partition: tp.clone(),
                offset: committed.map_or(-1, |c| c.offset),
                leader_epoch: committed.map_or(-1, |c| c.leader_epoch),
                metadata: committed.map(|c| c.metadata.clone()).unwrap_or_default(),
                error: unstable.then_some(GroupError::UnstableOffsetCommit),
            }
        };
        let partitions = match partitions {
            Some(requested) => requested.iter().map(fetched).collect(),
            None => group.map(|g| g.offsets.keys().map(fetched).collect()).unwrap_or_default(),
        };
        OffsetFetchReply { error: None, partitions }
    }

    /// OffsetDelete. An empty group may delete any offset; a consumer group with members only
    /// offsets of topics none of its members subscribes to.
    pub fn offset_delete(
        &mut self,
        group_id: &str,
        partitions: &[TopicPartition],
        _now_ms: i64,
    ) -> Outcome<OffsetDeleteReply> {
        let mut fx = Effects::default();
        let top = |error| OffsetDeleteReply { error: Some(error), partitions: Vec::new() };
        let reply = match self.groups.get_mut(group_id) {
            None => top(GroupError::GroupIdNotFound),
            Some(group) if group.state == GroupState::Dead => top(GroupError::GroupIdNotFound),
            Some(group)
                if group.state != GroupState::Empty
                    && group.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) =>
            {
                top(GroupError::NonEmptyGroup)
            }
            Some(group) => {
                // `None` (a subscription that does not decode) protects every topic.
                let subscribed =
                    if group.state == GroupState::Empty { Some(Default::default()) } else { group.subscribed_topics() };
                let results = partitions
                    .iter()
                    .map(|tp| {
                        let in_use = subscribed.as_ref().is_none_or(|topics| topics.contains(&tp.topic));
                        if in_use {
                            return PartitionResult {
                                partition: tp.clone(),
                                error: Some(GroupError::GroupSubscribedToTopic),
                            };
                        }
                        if group.offsets.remove(tp).is_some() || group.txn_offsets.is_pending(tp) {
                            fx.records.push(offset_record(group, tp, None));
                            group.txn_offsets.deleted(tp);
                        }
                        PartitionResult { partition: tp.clone(), error: None }
                    })
                    .collect();
                OffsetDeleteReply { error: None, partitions: results }
            }
        };
        Outcome { reply, effects: fx }
    }
}

/// Kafka's `doCommitOffsets` checks, in its order.
fn check_commit(group: &mut Group, req: &OffsetCommitRequest, now_ms: i64) -> Result<(), GroupError> {
    if group.state == GroupState::Empty && req.generation_id < 0 {
        return Ok(());
    }
    group.check_member(req.group_instance_id.as_deref(), &req.member_id, req.generation_id)?;
    match group.state {
        // While preparing a rebalance the member may still commit what it consumed (Kafka
        // relies on the heartbeat to tell it about the rebalance).
        GroupState::Stable | GroupState::PreparingRebalance => {
            if let Some(member) = group.members.get_mut(&req.member_id) {
                member.last_heartbeat_ms = now_ms;
            }
            Ok(())
        }
        GroupState::CompletingRebalance => Err(GroupError::RebalanceInProgress),
        GroupState::Empty | GroupState::Dead => Err(GroupError::UnknownMemberId),
    }
}

/// The value stored for a committed entry, or OFFSET_METADATA_TOO_LARGE.
fn commit_value(entry: &OffsetCommitEntry, metadata_max: usize, now_ms: i64) -> Result<OffsetCommitValue, GroupError> {
    let metadata = entry.metadata.clone().unwrap_or_default();
    if metadata.len() > metadata_max {
        return Err(GroupError::OffsetMetadataTooLarge);
    }
    Ok(OffsetCommitValue {
        offset: entry.offset,
        leader_epoch: entry.leader_epoch,
        metadata,
        commit_timestamp_ms: now_ms,
        expire_timestamp_ms: -1,
    })
}

/// The record of a committed offset, or its tombstone (`value == None`).
pub(crate) fn offset_record(group: &Group, tp: &TopicPartition, value: Option<&OffsetCommitValue>) -> Record {
    Record {
        partition: group.partition,
        key: RecordKey::OffsetCommit { group: group.id.clone(), topic: tp.topic.clone(), partition: tp.partition }
            .encode(),
        value: value.map(OffsetCommitValue::encode),
        transaction: None,
    }
}
