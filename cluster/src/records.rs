//! The metadata records: each change to the topic registry is a batch of these, appended to the
//! metadata log and replayed at start. They are shaped like KRaft's (`TopicRecord`,
//! `PartitionRecord`, `ConfigRecord`, `RemoveTopicRecord`), which are what a Raft quorum of
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
    /// A topic setting was set, or removed when `value` is `None` (KRaft `ConfigRecord`).
    Config { resource: ConfigResource, name: String, value: Option<String> },
    /// A topic was deleted (KRaft `RemoveTopicRecord`).
    RemoveTopic { topic_id: Uuid },
}

/// What a `Config` record applies to. Only topics have dynamic settings so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "resource_type")]
pub enum ConfigResource {
    Topic { topic_id: Uuid },
}
