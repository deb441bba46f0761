//! Strata's group coordinator: Kafka's classic consumer-group protocol as a state machine per
//! group, plus committed offsets, with no sockets, no clock and no randomness inside.
//!
//! The broker owns one [`Coordinator`] (behind a lock or in one task) and drives it:
//!
//! - each group API handler decodes its request, fills the matching struct of [`requests`]
//!   and calls the method of the same name, passing `now_ms` (and, for JoinGroup and
//!   SyncGroup, a [`RequestToken`] it chose);
//! - every mutating call returns an [`Outcome`]: the request's own `reply`, and [`Effects`]:
//!   `records` to append to `__consumer_offsets` and `completed`, replies to requests parked
//!   earlier (identified by their tokens);
//! - a JoinGroup parked until the rebalance completes, or a SyncGroup parked until the leader's
//!   assignment arrives, has `reply: None`; its answer comes in a later call's or a later
//!   [`Coordinator::tick`]'s `Effects::completed`;
//! - the broker calls [`Coordinator::tick`] at [`Coordinator::next_deadline_ms`] (or every few
//!   hundred ms): sessions expire, rebalances time out, offsets past retention are deleted;
//! - **records before replies**: the broker appends `records` and waits for the append before
//!   sending any reply of the same `Outcome`/`Effects`;
//! - at start-up it replays `__consumer_offsets` through [`Coordinator::replayer`], and may
//!   rewrite the log from [`Coordinator::snapshot`] to keep replay short;
//! - transactional offsets ([`Coordinator::txn_offset_commit`]) are records of the producer's
//!   transaction (`Record::transaction`), pending until the broker, having written the
//!   transaction's marker to the group's partition, calls [`Coordinator::transaction_completed`].
//!
//! ```
//! use bytes::Bytes;
//! use strata_groups::{Completed, Coordinator, CoordinatorConfig, GroupError, JoinGroupRequest, Protocol, SeededMemberIds};
//!
//! let config = CoordinatorConfig { initial_rebalance_delay_ms: 0, ..CoordinatorConfig::default() };
//! let mut coordinator = Coordinator::new(config, Box::new(SeededMemberIds::new(42)));
//! let join = |member_id: &str| JoinGroupRequest {
//!     version: 9,
//!     group_id: "g".into(),
//!     member_id: member_id.into(),
//!     group_instance_id: None,
//!     client_id: "client".into(),
//!     client_host: "/127.0.0.1".into(),
//!     session_timeout_ms: 10_000,
//!     rebalance_timeout_ms: 30_000,
//!     protocol_type: "consumer".into(),
//!     protocols: vec![Protocol { name: "range".into(), metadata: Bytes::new() }],
//! };
//! // JoinGroup v4+ without a member id: answered at once with an id to join with.
//! let first = coordinator.join_group(1, join(""), 0).reply.unwrap();
//! assert_eq!(first.error, Some(GroupError::MemberIdRequired));
//! // The real join: a lone member completes the rebalance immediately (delay 0)...
//! let outcome = coordinator.join_group(2, join(&first.member_id), 5);
//! let reply = outcome.reply.unwrap();
//! assert_eq!((reply.generation_id, reply.leader.as_str()), (1, first.member_id.as_str()));
//! // ...while with a second member the handler would park: `reply == None`, and the answer
//! // arrives as `Completed::Join { token, reply }` in the Effects of a later call or tick.
//! let parked = coordinator.join_group(3, join(""), 6);
//! assert!(matches!(parked.reply, Some(ref r) if r.error == Some(GroupError::MemberIdRequired)));
//! # let _ = Completed::token;
//! ```

mod admin;
mod config;
mod coordinator;
mod error;
mod group;
mod heartbeat;
mod ids;
mod join;
mod leave;
mod offsets;
mod partition;
mod rebalance;
pub mod records;
mod replay;
mod replies;
pub mod requests;
mod state;
mod sync;
mod tick;
mod txn_commit;
mod txn_offsets;

pub use admin::CLASSIC_GROUP_TYPE;
pub use config::CoordinatorConfig;
pub use coordinator::{Coordinator, GroupSummary};
pub use error::GroupError;
pub use ids::{MemberIdSource, SeededMemberIds};
pub use partition::{java_string_hash, offsets_partition_for};
pub use records::{Record, TxnProducer};
pub use replay::Replayer;
pub use replies::{
    Completed, DeletedGroup, DescribedGroup, DescribedMember, Effects, FetchedOffset, HeartbeatReply, JoinGroupMember,
    JoinGroupReply, LeaveGroupReply, LeftMember, ListedGroup, OffsetCommitReply, OffsetDeleteReply, OffsetFetchReply,
    Outcome, PartitionResult, SyncGroupReply,
};
pub use requests::{
    HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, LeavingMember, MemberAssignment, OffsetCommitEntry,
    OffsetCommitRequest, Protocol, RequestToken, SyncGroupRequest, TopicPartition, TxnOffsetCommitRequest,
};
pub use state::GroupState;
