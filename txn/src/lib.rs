//! Strata's transaction coordinator: Kafka's transactions (KIP-98, with KIP-360's epoch bumps and
//! both transaction versions of KIP-890) as a state machine per transactional id, with no
//! sockets, no clock and no randomness inside.
//!
//! The broker owns one [`Coordinator`] (behind a lock or in one task) and drives it:
//!
//! - each transaction API handler fills the matching struct of [`requests`] and calls the method
//!   of the same name, passing `now_ms`; producer ids come from an injected
//!   [`ProducerIdSource`] (the broker's producer id allocator);
//! - every mutating call returns an [`Outcome`]: the reply, and [`Effects`]: `records` to append
//!   to `__transaction_state` (Kafka's `TransactionLogKey`/`TransactionLogValue`, see
//!   [`records`]) and `markers` ([`WriteMarkers`]) to write to the partitions of a transaction;
//! - **records before replies, replies before markers**: the broker appends `records` and waits
//!   before replying; it then writes the markers (control batches) and calls
//!   [`Coordinator::markers_written`], which completes the transaction (its effects are one more
//!   record). A failed append means the broker answers the error and rebuilds the coordinator
//!   from the log, as it does for groups;
//! - the broker calls [`Coordinator::tick`] at [`Coordinator::next_deadline_ms`]: timed-out
//!   transactions are aborted (their producers fenced), idle transactional ids expire;
//! - at start-up it replays `__transaction_state` through [`Coordinator::replayer`], then writes
//!   [`Coordinator::pending_markers`] (transactions that were preparing when it stopped); it may
//!   rewrite the log from [`Coordinator::snapshot`].
//!
//! States are Kafka's [`TxnState`]: Empty → Ongoing (partitions or offsets added) →
//! PrepareCommit/PrepareAbort (EndTxn, a timeout, or a fencing InitProducerId) →
//! CompleteCommit/CompleteAbort (markers written) → Ongoing again with the next AddPartitions.
//! Kafka marks a transition "pending" while its append is in flight, and a preparing
//! transaction stays pending (its completion) until the markers are written; requests that meet
//! a pending transition answer CONCURRENT_TRANSACTIONS. Here a transition takes effect at once
//! (the broker's lock and records-before-replies give the same order), so "pending" is exactly
//! "PrepareCommit/PrepareAbort": InitProducerId and EndTxn then answer CONCURRENT_TRANSACTIONS
//! before checking the epoch, AddPartitionsToTxn and verification after it, as in Kafka.
//! Group offsets join a transaction as their `__consumer_offsets` partition ([`OFFSETS_TOPIC`]),
//! exactly as Kafka's AddOffsetsToTxn does, so the commit marker reaches the group coordinator.
//!
//! Why a crate beside strata-groups rather than a module in it: the two coordinators share no
//! state, no records and no state machine (only Kafka's partitioning rule, which this crate
//! takes from strata-groups), and the transaction coordinator's clients (the broker's
//! transaction handlers, later the partition leaders verifying transactional produces) are not
//! the group handlers. A crate keeps each one's invariants and tests on their own.
//!
//! ```
//! use strata_txn::*;
//! use strata_groups::TopicPartition;
//!
//! let mut c = Coordinator::new(TxnConfig::default(), Box::new(SequentialProducerIds::starting_at(1000)));
//! let init = c.init_producer_id(
//!     InitProducerIdRequest { version: 5, transactional_id: "t".into(), transaction_timeout_ms: 60_000, producer_id: -1, producer_epoch: -1 },
//!     0,
//! );
//! assert_eq!((init.reply.producer_id, init.reply.producer_epoch), (1000, 0));
//! assert_eq!(init.effects.records.len(), 1); // persist, then reply
//! let tp = TopicPartition { topic: "out".into(), partition: 0 };
//! let add = c.add_partitions(
//!     AddPartitionsRequest { version: 3, transactional_id: "t".into(), producer_id: 1000, producer_epoch: 0, partitions: vec![tp.clone()], transaction_version: TxnVersion::V1 },
//!     1,
//! );
//! assert_eq!(add.reply, None);
//! let end = c.end_txn(EndTxnRequest { version: 5, transactional_id: "t".into(), producer_id: 1000, producer_epoch: 0, commit: true }, 2);
//! assert_eq!(end.reply.producer_epoch, 1); // transaction version 2: bumped at every EndTxn
//! assert_eq!(end.effects.markers[0].partitions, vec![tp]);
//! c.markers_written("t", 1000, 1, 3).unwrap();
//! assert_eq!(c.describe_transaction("t").state, Some(TxnState::CompleteCommit));
//! ```

mod add;
mod admin;
mod config;
mod coordinator;
mod end;
mod error;
mod ids;
mod init;
mod metadata;
pub mod records;
mod replay;
mod replies;
pub mod requests;
mod state;
mod tick;

pub use add::OFFSETS_TOPIC;
pub use config::TxnConfig;
pub use coordinator::Coordinator;
pub use error::{TxnError, error_code};
pub use ids::{ProducerIdSource, SequentialProducerIds};
pub use metadata::TxnVersion;
pub use records::TxnRecord;
pub use replay::Replayer;
pub use replies::{
    DescribedTxn, Effects, EndTxnReply, InitProducerIdReply, ListedTxn, ListedTxns, Outcome, WriteMarkers,
};
pub use requests::{
    AddOffsetsRequest, AddPartitionsRequest, EndTxnRequest, InitProducerIdRequest, ListTransactionsFilter,
    VerifyPartitionsRequest,
};
pub use state::TxnState;
