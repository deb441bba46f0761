//! The coordinator's inputs: plain structs mirroring the fields of Kafka's group requests.
//!
//! The broker's handlers fill these from the decoded `kafka-protocol` requests (one group per
//! struct; batched requests are split by the handler) and have already answered what the
//! coordinator cannot know: authorization, unknown topics, and whether this broker is the
//! coordinator of the group at all.

use bytes::Bytes;

/// Chosen by the broker for a request that may be answered later (JoinGroup, SyncGroup); the
/// coordinator gives it back with the reply. Must be unique among the requests still waiting.
pub type RequestToken = u64;

/// One partition of one topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }
}

/// One protocol a member can speak (for consumers: an assignor name and its subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

/// JoinGroup (all versions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupRequest {
    /// The request's API version: v4+ get MEMBER_ID_REQUIRED on a first join, v9+ may skip
    /// the assignment when a static leader rejoins.
    pub version: i16,
    pub group_id: String,
    /// "" on a member's first join.
    pub member_id: String,
    /// `group.instance.id` (v5+): set for static members.
    pub group_instance_id: Option<String>,
    /// From the request header.
    pub client_id: String,
    /// The client's address, as Kafka shows it (`/127.0.0.1`).
    pub client_host: String,
    pub session_timeout_ms: i32,
    /// v1+; for v0 the handler passes the session timeout, as Kafka does.
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// In the member's order of preference.
    pub protocols: Vec<Protocol>,
}

/// One member's assignment, as sent by the leader in SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAssignment {
    pub member_id: String,
    pub assignment: Bytes,
}

/// SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v5+: checked against the group's when present.
    pub protocol_type: Option<String>,
    /// v5+: checked against the group's when present.
    pub protocol_name: Option<String>,
    /// Only the leader's are used; empty from followers.
    pub assignments: Vec<MemberAssignment>,
}

/// Heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// One member leaving (LeaveGroup v3+ carries a batch; v0-2 one member id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    /// May be "" when `group_instance_id` names the member.
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// LeaveGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupRequest {
    pub group_id: String,
    pub members: Vec<LeavingMember>,
}

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitEntry {
    pub partition: TopicPartition,
    pub offset: i64,
    /// -1 when the client does not know it (before v6).
    pub leader_epoch: i32,
    /// `None` is stored as "" (as Kafka does).
    pub metadata: Option<String>,
}

/// OffsetCommit. A commit outside group management uses generation -1 and member id "".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// Only partitions of topics the broker knows: the handler answers
    /// UNKNOWN_TOPIC_OR_PARTITION for the others itself.
    pub offsets: Vec<OffsetCommitEntry>,
}

/// TxnOffsetCommit: offsets committed inside a transaction of `producer_id`, visible only once
/// it commits. v0-2 carry no generation or member (generation -1, member id ""): Kafka accepts
/// those whatever the group's state, since those versions could not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitRequest {
    pub group_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// Only partitions of topics the broker knows, as for [`OffsetCommitRequest`].
    pub offsets: Vec<OffsetCommitEntry>,
}
