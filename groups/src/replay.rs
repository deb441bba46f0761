//! Loading `__consumer_offsets` at start-up, and compacting it.
//!
//! [`Replayer`] takes the records in log order (later records win, tombstones delete) and
//! builds the coordinator: groups with members come back `Stable` in their last persisted
//! generation (their sessions restart at load time, so members that are gone expire after one
//! session timeout), groups without members `Empty`, offsets as last committed. Transactional
//! offsets (records of transactional batches, [`Replayer::apply_transactional`]) stay pending
//! until their transaction's marker ([`Replayer::apply_marker`]) commits or aborts them; one
//! still open at the end of the log stays pending, so a marker written later completes it.
//!
//! [`Coordinator::snapshot`] is the other direction: the fewest records that replay to the same
//! durable state (each group's last metadata record and its live offsets; no tombstones, since
//! the rewritten log holds nothing for them to delete). Replaying a snapshot and taking its
//! snapshot again gives the same records.

use std::collections::BTreeMap;

use crate::config::CoordinatorConfig;
use crate::coordinator::Coordinator;
use crate::group::{Group, Member};
use crate::ids::MemberIdSource;
use crate::offsets::offset_record;
use crate::partition::offsets_partition_for;
use crate::records::{
    DecodedRecord, GroupMetadataValue, OffsetCommitValue, Record, RecordError, RecordKey, TxnProducer, decode_record,
};
use crate::requests::{Protocol, TopicPartition};
use crate::state::GroupState;
use crate::txn_offsets::{PendingRecord, TxnOffsets};

/// What the log says about one group so far.
#[derive(Debug, Default)]
struct Loaded {
    metadata: Option<GroupMetadataValue>,
    offsets: BTreeMap<TopicPartition, OffsetCommitValue>,
    txn_offsets: TxnOffsets,
}

/// Rebuilds a [`Coordinator`] from `__consumer_offsets` records. While it runs the broker
/// answers group requests with COORDINATOR_LOAD_IN_PROGRESS.
pub struct Replayer {
    config: CoordinatorConfig,
    ids: Box<dyn MemberIdSource>,
    groups: BTreeMap<String, Loaded>,
    records: u64,
    skipped: u64,
}

impl std::fmt::Debug for Replayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replayer").field("groups", &self.groups.len()).field("records", &self.records).finish()
    }
}

impl Coordinator {
    /// Starts loading: feed every record of every `__consumer_offsets` partition (each
    /// partition in offset order) to [`Replayer::apply`], then call [`Replayer::finish`].
    pub fn replayer(config: CoordinatorConfig, ids: Box<dyn MemberIdSource>) -> Replayer {
        Replayer { config, ids, groups: BTreeMap::new(), records: 0, skipped: 0 }
    }

    /// The minimal records holding the durable state: for each group its last group metadata
    /// record, then its committed offsets, with its pending transactional offsets around them
    /// (those a later commit superseded before, the others after, each `transaction` set). The
    /// broker may rewrite `__consumer_offsets` with these (in this order) to bound replay time.
    pub fn snapshot(&self) -> Vec<Record> {
        let mut records = Vec::new();
        for group in self.groups.values() {
            if let Some(value) = &group.persisted {
                records.push(Record {
                    partition: group.partition,
                    key: RecordKey::GroupMetadata { group: group.id.clone() }.encode(),
                    value: Some(value.encode()),
                    transaction: None,
                });
            }
            let (superseded, live) = group.txn_offsets.snapshot_order();
            let pending = |p: PendingRecord<'_>| Record {
                transaction: Some(p.producer),
                ..offset_record(group, p.partition, Some(p.value))
            };
            records.extend(superseded.into_iter().map(pending));
            for (tp, value) in &group.offsets {
                records.push(offset_record(group, tp, Some(value)));
            }
            records.extend(live.into_iter().map(pending));
        }
        records
    }
}

impl Replayer {
    /// Applies one record (a `None` value is a tombstone). Record types this coordinator does
    /// not use are skipped; an undecodable record is an error the broker logs and skips (or
    /// treats as corruption), and the state is unchanged by it.
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), RecordError> {
        let record = decode_record(key, value)?;
        self.apply_decoded(record);
        Ok(())
    }

    /// Applies one decoded record.
    pub fn apply_decoded(&mut self, record: DecodedRecord) {
        self.records += 1;
        match record {
            DecodedRecord::Offset { group, topic, partition, value } => {
                let tp = TopicPartition { topic, partition };
                match value {
                    Some(value) => {
                        let loaded = self.groups.entry(group).or_default();
                        loaded.txn_offsets.committed(&tp);
                        loaded.offsets.insert(tp, value);
                    }
                    None => {
                        if let Some(loaded) = self.groups.get_mut(&group) {
                            loaded.offsets.remove(&tp);
                            loaded.txn_offsets.deleted(&tp);
                        }
                    }
                }
            }
            DecodedRecord::Group { group, value } => {
                self.groups.entry(group).or_default().metadata = value;
            }
            DecodedRecord::Unknown { .. } => self.skipped += 1,
        }
    }

    /// Applies one record of a transactional batch of `producer` (a TxnOffsetCommit): an offset
    /// is held pending until [`Replayer::apply_marker`] ends its transaction. Anything else in
    /// such a batch (Kafka writes nothing else there) is applied as [`Replayer::apply`] does.
    pub fn apply_transactional(
        &mut self,
        producer: TxnProducer,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), RecordError> {
        match decode_record(key, value)? {
            DecodedRecord::Offset { group, topic, partition, value: Some(value) } => {
                self.records += 1;
                let tp = TopicPartition { topic, partition };
                self.groups.entry(group).or_default().txn_offsets.add(producer, tp, value);
            }
            other => self.apply_decoded(other),
        }
        Ok(())
    }

    /// Applies an end-transaction marker of `producer_id` read from `__consumer_offsets`
    /// partition `offsets_partition`: the pending offsets of that producer in the groups of that
    /// partition become committed (`commit`) or are dropped. A marker with nothing pending (a
    /// transaction that wrote only elsewhere) changes nothing.
    pub fn apply_marker(&mut self, offsets_partition: i32, producer_id: i64, commit: bool) {
        let partitions = self.config.offsets_topic_partitions;
        for (group_id, loaded) in &mut self.groups {
            if offsets_partition_for(group_id, partitions) == offsets_partition {
                loaded.txn_offsets.complete(producer_id, commit, &mut loaded.offsets);
            }
        }
    }

    /// How many records were applied, and how many of them were of unknown types.
    pub fn counts(&self) -> (u64, u64) {
        (self.records, self.skipped)
    }

    /// Builds the coordinator; member sessions start at `now_ms`.
    pub fn finish(self, now_ms: i64) -> Coordinator {
        let mut coordinator = Coordinator::new(self.config, self.ids);
        for (group_id, loaded) in self.groups {
            if loaded.metadata.is_none() && loaded.offsets.is_empty() && loaded.txn_offsets.is_empty() {
                continue;
            }
            let partition = coordinator.partition_for(&group_id);
            let mut group = Group::new(group_id.clone(), partition, -1);
            if let Some(value) = loaded.metadata {
                restore(&mut group, value, now_ms);
            }
            group.offsets = loaded.offsets;
            group.txn_offsets = loaded.txn_offsets;
            group.check_invariants();
            coordinator.groups.insert(group_id, group);
        }
        coordinator
    }
}

fn restore(group: &mut Group, value: GroupMetadataValue, now_ms: i64) {
    group.protocol_type = (!value.protocol_type.is_empty()).then(|| value.protocol_type.clone());
    group.generation = value.generation;
    group.protocol = value.protocol.clone();
    let protocol = value.protocol.clone().unwrap_or_default();
    for m in &value.members {
        let member = Member {
            id: m.member_id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            session_timeout_ms: m.session_timeout_ms,
            rebalance_timeout_ms: m.rebalance_timeout_ms,
            protocols: vec![Protocol { name: protocol.clone(), metadata: m.subscription.clone() }],
            assignment: m.assignment.clone(),
            awaiting_join: None,
            awaiting_sync: None,
            last_heartbeat_ms: now_ms,
            is_new: false,
            join_seq: 0,
        };
        group.add_member(member, &value.protocol_type);
    }
    // `add_member` made the first member leader; the record says who it really is.
    if let Some(leader) = value.leader.as_ref().filter(|l| group.members.contains_key(*l)) {
        group.leader = Some(leader.clone());
    }
    group.state = if group.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
    group.state_since_ms = value.current_state_timestamp_ms;
    group.persisted = Some(value);
}
