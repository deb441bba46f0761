//! Loading `__consumer_offsets` at start-up, and compacting it.
//!
//! [`Replayer`] takes the records in log order (later records win, tombstones delete) and
//! builds the coordinator: groups with members come back `Stable` in their last persisted
//! generation (their sessions restart at load time, so members that are gone expire after one
//! session timeout), groups without members `Empty`, offsets as last committed.
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
use crate::records::{
    DecodedRecord, GroupMetadataValue, OffsetCommitValue, Record, RecordError, RecordKey, decode_record,
};
use crate::requests::{Protocol, TopicPartition};
use crate::state::GroupState;

/// What the log says about one group so far.
#[derive(Debug, Default)]
struct Loaded {
    metadata: Option<GroupMetadataValue>,
    offsets: BTreeMap<TopicPartition, OffsetCommitValue>,
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
    /// record, then its committed offsets. The broker may rewrite `__consumer_offsets` with
    /// these (in this order) to bound replay time.
    pub fn snapshot(&self) -> Vec<Record> {
        let mut records = Vec::new();
        for group in self.groups.values() {
            if let Some(value) = &group.persisted {
                records.push(Record {
                    partition: group.partition,
                    key: RecordKey::GroupMetadata { group: group.id.clone() }.encode(),
                    value: Some(value.encode()),
                });
            }
            for (tp, value) in &group.offsets {
                records.push(offset_record(group, tp, Some(value)));
            }
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
                        self.groups.entry(group).or_default().offsets.insert(tp, value);
                    }
                    None => {
                        if let Some(loaded) = self.groups.get_mut(&group) {
                            loaded.offsets.remove(&tp);
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

    /// How many records were applied, and how many of them were of unknown types.
    pub fn counts(&self) -> (u64, u64) {
        (self.records, self.skipped)
    }

    /// Builds the coordinator; member sessions start at `now_ms`.
    pub fn finish(self, now_ms: i64) -> Coordinator {
        let mut coordinator = Coordinator::new(self.config, self.ids);
        for (group_id, loaded) in self.groups {
            if loaded.metadata.is_none() && loaded.offsets.is_empty() {
                continue;
            }
            let partition = coordinator.partition_for(&group_id);
            let mut group = Group::new(group_id.clone(), partition, -1);
            if let Some(value) = loaded.metadata {
                restore(&mut group, value, now_ms);
            }
            group.offsets = loaded.offsets;
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
