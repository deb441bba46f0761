//! The coordinator's operating errors. The broker maps them to Kafka error codes (in its `errors`
//! module, with every other error it answers).
//!
//! Every error a client can cause (an unknown member, a stale generation, a bad session timeout...)
//! is a value of [`GroupError`] carried inside a reply; nothing in this crate panics on input.

/// An error answered to a group or offset request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum GroupError {
    /// The member id is not (or no longer) a member of the group; the client resets it and rejoins.
    #[error("unknown member id")]
    UnknownMemberId,
    /// The generation in the request is not the group's current generation.
    #[error("illegal generation")]
    IllegalGeneration,
    /// The group is rebalancing; the client must (re)join.
    #[error("rebalance in progress")]
    RebalanceInProgress,
    /// JoinGroup v4+ without a member id: the reply carries the id to join with.
    #[error("member id required")]
    MemberIdRequired,
    /// The protocol type differs from the group's, or no protocol is common to all members.
    #[error("inconsistent group protocol")]
    InconsistentGroupProtocol,
    /// The group id is empty.
    #[error("invalid group id")]
    InvalidGroupId,
    /// The group does not exist (DeleteGroups, OffsetDelete, DescribeGroups v6+).
    #[error("group id not found")]
    GroupIdNotFound,
    /// DeleteGroups on a group that still has members.
    #[error("group is not empty")]
    NonEmptyGroup,
    /// The session timeout is outside `group.min.session.timeout.ms..=group.max.session.timeout.ms`.
    #[error("invalid session timeout")]
    InvalidSessionTimeout,
    /// Another member holds this `group.instance.id` under a different member id.
    #[error("fenced instance id")]
    FencedInstanceId,
    /// The group is being removed (state `Dead`); the client looks the coordinator up again.
    #[error("coordinator not available")]
    CoordinatorNotAvailable,
    /// The group already has `group.max.size` members.
    #[error("group max size reached")]
    GroupMaxSizeReached,
    /// The committed metadata string is longer than `offset.metadata.max.bytes`.
    #[error("offset metadata too large")]
    OffsetMetadataTooLarge,
    /// OffsetDelete of a topic the (non-empty) group is subscribed to.
    #[error("group subscribed to topic")]
    GroupSubscribedToTopic,
    /// OffsetFetch with `require_stable` of a partition a transaction holds a pending offset for.
    #[error("unstable offset commit")]
    UnstableOffsetCommit,
}
