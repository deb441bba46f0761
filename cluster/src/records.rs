//! The metadata records: each change to the topic registry is a batch of these, appended to the
//! metadata log and replayed at start. They are shaped like KRaft's (`TopicRecord`,
//! `PartitionRecord`, `ConfigRecord`, `RemoveTopicRecord`, `RegisterBrokerRecord`,
//! `BrokerRegistrationChangeRecord`), which are what a Raft quorum of
//! controllers will replicate, and are encoded with serde (JSON, tagged by `type`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::leadership::Leadership;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    /// The first record of the snapshot and of the log: which compaction generation they belong
    /// to. A log older than the snapshot was already folded into it (a crash during compaction).
    LogStart { generation: u64 },
    /// A topic was created (KRaft `TopicRecord`).
    Topic { name: String, topic_id: Uuid, internal: bool },
    /// A partition was added, or its leadership changed (KRaft `PartitionRecord`; a later
    /// record for the same partition replaces the earlier one).
    Partition {
        topic_id: Uuid,
        partition_id: i32,
        #[serde(flatten)]
        leadership: Leadership,
    },
    /// A topic or group setting was set, or removed when `value` is `None` (KRaft `ConfigRecord`).
    Config { resource: ConfigResource, name: String, value: Option<String> },
    /// A topic was deleted (KRaft `RemoveTopicRecord`).
    RemoveTopic { topic_id: Uuid },
    /// A broker registered (KRaft `RegisterBrokerRecord`): at every start, with a new
    /// incarnation id, replacing its earlier registration. It starts fenced until it heartbeats.
    RegisterBroker(BrokerRegistration),
    /// The cluster's id, set once by the first member to propose one: every member's
    /// `meta.properties` must then name it.
    ClusterId { cluster_id: String },
    /// Producer ids `start..end` go to broker `broker_id` to hand out (KRaft `ProducerIdsRecord`):
    /// refused unless `start` is at or past every block given before, so no id is given twice.
    ProducerIdBlock { broker_id: i32, start: i64, end: i64 },
    /// A partition's leader changed its in-sync replicas (KRaft's `AlterPartition` outcome, a
    /// `PartitionChangeRecord`): applied only while `leader_epoch` is still the partition's, so
    /// a deposed leader's late request changes nothing, and while the partition is still in
    /// `partition_epoch`, the one the leader worked the change out from (Kafka's AlterPartition),
    /// so a change committed late cannot undo one committed meanwhile. Records written before
    /// the partition epoch existed have none and are not checked for it.
    PartitionIsr {
        topic_id: Uuid,
        partition_id: i32,
        leader_epoch: i32,
        isr: Vec<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partition_epoch: Option<i32>,
    },
    /// A broker was fenced (missed heartbeats, or stopped) or unfenced (heartbeats again)
    /// (KRaft `BrokerRegistrationChangeRecord`).
    BrokerFencing { broker_id: i32, fenced: bool },
}

/// A broker as the cluster knows it: where clients reach it and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub broker_id: i32,
    /// New at each start, so a restarted broker is told from its former self.
    pub incarnation_id: Uuid,
    /// The advertised client listener.
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    /// A fenced broker is not listed to clients and is given no new replicas.
    pub fenced: bool,
}

/// What a `Config` record applies to: a topic, or a group (KIP-848 and KIP-932 group configs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "resource_type")]
pub enum ConfigResource {
    Topic { topic_id: Uuid },
    Group { group_id: String },
}
