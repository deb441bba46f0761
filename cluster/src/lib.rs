//! The cluster's metadata logic, free of sockets and clocks so that it can be tested alone and
//! driven by whatever replicates the metadata. So far: [`placement`], which brokers hold a new
//! partition's replicas and which of them leads.

pub mod placement;

pub use placement::{PlacementError, UsableBroker, place};
