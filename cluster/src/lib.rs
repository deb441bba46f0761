//! The cluster's metadata logic, free of sockets and clocks so that it can be tested alone and
//! driven by whatever replicates the metadata (today the single node's metadata journal, next
//! the Raft quorum of `QUORUM-DESIGN.md`):
//!
//! - [`records`]: the metadata records, each change a batch of them; [`image`]: the state they
//!   replay to; [`leadership`]: a partition's leader, epoch and replicas;
//! - [`placement`]: which brokers hold a new partition's replicas and which of them leads;
//! - [`election`]: the preferred and unclean leader elections an operator asks for;
//! - [`liveness`]: which brokers the active controller fences or unfences, and how partition
//!   leadership follows;
//! - [`reassignment`]: moving a partition to other replicas (AlterPartitionReassignments).

pub mod election;
pub mod image;
pub mod leadership;
pub mod liveness;
pub mod placement;
pub mod reassignment;
pub mod records;

pub use leadership::Leadership;
pub use placement::{PlacementError, UsableBroker, place};
