//! The coordinator's outputs: replies (now, or later for a parked request), records to persist,
//! and the answers of the read-only calls.

use bytes::Bytes;

use crate::error::GroupError;
use crate::records::Record;
use crate::requests::{RequestToken, TopicPartition};
use crate::state::GroupState;

/// What a call returns: its own reply, plus effects the broker carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<R> {
    /// The answer to this request. For JoinGroup and SyncGroup it is an `Option`: `None` means
    /// the request is parked under its token and answered later in some [`Effects::completed`].
    pub reply: R,
    pub effects: Effects,
}

/// Work for the broker. Contract: append `records` to `__consumer_offsets` (in order, each to
/// its `partition`) and wait for the append before sending the replies of the same call (its
/// own reply and `completed`), so that no client sees a commit or an assignment that a crash
/// could lose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Parked requests answered now, identified by the tokens the broker gave.
    pub completed: Vec<Completed>,
    /// Records to append to `__consumer_offsets`.
    pub records: Vec<Record>,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.completed.is_empty() && self.records.is_empty()
    }
}

/// A parked request's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completed {
    Join { token: RequestToken, reply: JoinGroupReply },
    Sync { token: RequestToken, reply: SyncGroupReply },
}

impl Completed {
    pub fn token(&self) -> RequestToken {
        match self {
            Completed::Join { token, .. } | Completed::Sync { token, .. } => *token,
        }
    }
}

/// A member as the leader sees it in its JoinGroup reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// The member's metadata for the selected protocol.
    pub metadata: Bytes,
}

/// JoinGroup response fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupReply {
    pub error: Option<GroupError>,
    /// -1 with an error.
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    /// v9+: the static leader rejoined and must not compute a new assignment.
    pub skip_assignment: bool,
    /// The member's id (the new one with MEMBER_ID_REQUIRED).
    pub member_id: String,
    /// Non-empty for the leader only.
    pub members: Vec<JoinGroupMember>,
}

impl JoinGroupReply {
    /// A reply carrying only `error` (no generation, leader or members).
    pub fn error(error: GroupError, member_id: &str) -> Self {
        JoinGroupReply {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.to_owned(),
            members: Vec::new(),
        }
    }
}

/// SyncGroup response fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupReply {
    pub error: Option<GroupError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// Empty (but still encoded) with an error or when the leader gave this member nothing.
    pub assignment: Bytes,
}

impl SyncGroupReply {
    /// A reply carrying only `error`, with an empty assignment.
    pub fn error(error: GroupError) -> Self {
        SyncGroupReply { error: Some(error), protocol_type: None, protocol_name: None, assignment: Bytes::new() }
    }
}

/// Heartbeat response fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatReply {
    pub error: Option<GroupError>,
}

/// One member's outcome in LeaveGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub error: Option<GroupError>,
}

/// LeaveGroup response fields. v0-2 answer with the first member's error as the top-level one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupReply {
    pub error: Option<GroupError>,
    pub members: Vec<LeftMember>,
}

/// One partition's outcome (OffsetCommit, OffsetDelete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionResult {
    pub partition: TopicPartition,
    pub error: Option<GroupError>,
}

/// OffsetCommit response fields: one result per committed partition, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitReply {
    pub partitions: Vec<PartitionResult>,
}

/// One partition's committed offset in OffsetFetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    pub partition: TopicPartition,
    /// -1 when nothing is committed.
    pub offset: i64,
    /// -1 when unknown.
    pub leader_epoch: i32,
    /// "" when nothing is committed.
    pub metadata: String,
    /// UNSTABLE_OFFSET_COMMIT when stable offsets were required and a transaction holds a
    /// pending one.
    pub error: Option<GroupError>,
}

/// OffsetFetch response fields for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchReply {
    pub error: Option<GroupError>,
    pub partitions: Vec<FetchedOffset>,
}

/// A member in DescribeGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Empty unless the group is `Stable` (as Kafka does).
    pub metadata: Bytes,
    /// Empty unless the group is `Stable`.
    pub assignment: Bytes,
}

/// DescribeGroups response fields for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    pub error: Option<GroupError>,
    pub group_id: String,
    pub state: GroupState,
    /// "" when none.
    pub protocol_type: String,
    /// The selected protocol when `Stable`, else "".
    pub protocol: String,
    pub members: Vec<DescribedMember>,
}

/// One group in ListGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    /// "" when none.
    pub protocol_type: String,
    pub state: GroupState,
    /// Always "classic": this coordinator runs the classic protocol only.
    pub group_type: &'static str,
}

/// One group's outcome in DeleteGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedGroup {
    pub group_id: String,
    pub error: Option<GroupError>,
}

/// OffsetDelete response fields: a top-level error, else one result per partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeleteReply {
    pub error: Option<GroupError>,
    pub partitions: Vec<PartitionResult>,
}
