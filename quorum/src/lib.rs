//! The metadata quorum: the controllers agree on the metadata log through Raft (openraft; the
//! reasons are in `cluster/QUORUM-DESIGN.md`), every member applies it to the same
//! [`strata_cluster::image::MetadataImage`], and the broker serves from that image.
//!
//! - [`types`]: the entry payload (one controller decision) and openraft's type configuration;
//! - [`log_store`]: the Raft log as the strata-log partition `__cluster_metadata-0`;
//!   [`quorum_state`]: the vote, committed and purged ids beside it;
//! - [`state_machine`]: the image, published as decisions apply, and its snapshot file;
//! - [`net`]: the Raft RPCs between controllers over TCP; [`leader_link`]: requests a member
//!   forwards to the leader (decisions to commit, broker heartbeats);
//! - [`node`]: [`Quorum`], a running member; [`split_vote`]: ends elections that voters started
//!   in step keep splitting.

pub mod error;
pub mod leader_link;
pub mod log_store;
pub mod member;
pub mod net;
pub mod node;
pub mod quorum_state;
pub mod split_vote;
pub mod state_machine;
pub mod types;

pub use error::{ProposeError, QuorumError};
pub use member::{QuorumDescription, VoterProgress};
pub use node::{Quorum, QuorumConfig, QuorumRole, QuorumTiming};
pub use state_machine::MetadataView;
pub use types::Applied;
