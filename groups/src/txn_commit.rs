//! TxnOffsetCommit and the end of a transaction: a transactional offset commit is written to
//! `__consumer_offsets` in a transactional batch of its producer and held pending
//! ([`crate::txn_offsets`]); once the transaction coordinator has written the transaction's
//! marker to the group's partition, the broker calls [`Coordinator::transaction_completed`], which
//! makes the offsets committed (commit) or drops them (abort). Follows Kafka's
//! `OffsetMetadataManager.commitTransactionalOffset` and `replayEndTransactionMarker`, with the
//! classic group's KIP-447 checks (`ClassicGroup.validateOffsetCommit`, transactional).

use crate::coordinator::Coordinator;
use crate::error::GroupError;
use crate::group::Group;
use crate::offsets::offset_record;
use crate::records::{Record, TxnProducer};
use crate::replies::{OffsetCommitReply, Outcome};
use crate::requests::TxnOffsetCommitRequest;
use crate::state::GroupState;

impl Coordinator {
    /// TxnOffsetCommit. Each accepted offset is a record of the producer's transaction in
    /// `effects.records` (its `transaction` set) and stays invisible to OffsetFetch until
    /// [`Coordinator::transaction_completed`] commits it. Whether the producer's transaction may
    /// write to this group's partition at all (its epoch, AddOffsetsToTxn) is the transaction
    /// coordinator's to verify before this call.
    pub fn txn_offset_commit(&mut self, request: TxnOffsetCommitRequest, now_ms: i64) -> Outcome<OffsetCommitReply> {
        let producer = TxnProducer { producer_id: request.producer_id, producer_epoch: request.producer_epoch };
        self.commit_offsets(
            &request.group_id,
            request.generation_id,
            &request.offsets,
            now_ms,
            |group| check_txn_commit(group, &request),
            |group, tp, value, fx| {
                fx.records.push(Record { transaction: Some(producer), ..offset_record(group, tp, Some(&value)) });
                group.txn_offsets.add(producer, tp.clone(), value);
            },
        )
    }

    /// The transaction of `producer_id` ended and its marker (commit or abort) is written to
    /// `__consumer_offsets` partition `offsets_partition`: in every group of that partition, the
    /// producer's pending offsets become committed (`commit`) or are dropped. Writes nothing (the
    /// marker is the record). Returns how many groups held pending offsets of the producer.
    pub fn transaction_completed(&mut self, offsets_partition: i32, producer_id: i64, commit: bool) -> usize {
        let mut touched = Vec::new();
        for group in self.groups.values_mut().filter(|g| g.partition == offsets_partition) {
            if group.txn_offsets.complete(producer_id, commit, &mut group.offsets) {
                touched.push(group.id.clone());
            }
        }
        for group_id in &touched {
            // A group made only for an aborted transaction's offsets leaves nothing behind.
            self.drop_if_unused(group_id);
            self.check_invariants(group_id);
        }
        touched.len()
    }

    /// Whether some group of `__consumer_offsets` partition `offsets_partition` holds pending
    /// transactional offsets (the broker does not compact such a partition: its transactional
    /// records must stay until their markers are written).
    pub fn has_open_transactions(&self, offsets_partition: i32) -> bool {
        self.groups.values().any(|g| g.partition == offsets_partition && !g.txn_offsets.is_empty())
    }
}

/// Kafka's `ClassicGroup.validateOffsetCommit` for a transactional commit: a dead group is
/// COORDINATOR_NOT_AVAILABLE; generation -1 commits to an empty group; a request naming a
/// member (v3+) must name a current member of the current generation; a v0-2 request (no
/// member) is accepted whatever the state; and unlike OffsetCommit, a rebalance in progress is
/// no error.
fn check_txn_commit(group: &Group, req: &TxnOffsetCommitRequest) -> Result<(), GroupError> {
    if group.state == GroupState::Dead {
        return Err(GroupError::CoordinatorNotAvailable);
    }
    if req.generation_id < 0 && group.state == GroupState::Empty {
        return Ok(());
    }
    if req.generation_id >= 0 || !req.member_id.is_empty() || req.group_instance_id.is_some() {
        validate_member(group, &req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != group.generation {
            return Err(GroupError::IllegalGeneration);
        }
    }
    Ok(())
}

/// Kafka's `ClassicGroup.validateMember`: a static member is known by its instance id (unknown:
/// UNKNOWN_MEMBER_ID; held by another member id: FENCED_INSTANCE_ID), any other by its member id.
fn validate_member(group: &Group, member_id: &str, group_instance_id: Option<&str>) -> Result<(), GroupError> {
    match group_instance_id {
        Some(instance) => match group.static_members.get(instance) {
            None => Err(GroupError::UnknownMemberId),
            Some(holder) if holder != member_id => Err(GroupError::FencedInstanceId),
            Some(_) => Ok(()),
        },
        None if group.members.contains_key(member_id) => Ok(()),
        None => Err(GroupError::UnknownMemberId),
    }
}
