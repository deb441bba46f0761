//! Share groups (KIP-932) as state machines with no sockets and no wall clock (callers pass the
//! time), as `strata-groups` is for consumer groups:
//!
//! - [`group`]: a share group's members, their epochs and the partitions assigned to them;
//! - [`partition`]: one group's view of one partition, the in-flight window of records with
//!   their state, delivery count and acquisition lock (Kafka's `SharePartition`), and its
//!   durable snapshot;
//! - [`records`]: that snapshot as a `__share_group_state` record in Kafka's schema.

pub mod group;
pub mod partition;
pub mod records;

pub use group::{HeartbeatError, HeartbeatReply, MemberView, ShareGroup};
pub use partition::{
    AckType, Acquired, Admission, DeadLetter, DeadLetterReason, PartitionSnapshot, RecordState, RetryBackoff,
    ShareConfig, ShareError, SharePartition, StateBatch,
};
pub use records::{Decoded, SnapshotRecord, StateKey};
