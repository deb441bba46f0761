//! Incremental fetch sessions (KIP-227). A fetcher that reads many partitions opens a session
//! with a full fetch (epoch 0); its later requests (epochs 1, 2, ...) name only the partitions
//! whose offsets or limits changed, and their responses carry only the partitions with something
//! new, so a consumer of a thousand quiet partitions no longer sends and receives a thousand
//! entries a poll. The session state and the cache are plain data, without sockets or clocks; the
//! Fetch handler decides with them what a request means (`handlers::fetch_session`).

mod cache;
mod session;

pub use cache::FetchSessionCache;
pub use session::{FetchParams, FetchSession, PartitionAnswer, PartitionKey, TopicKey};

/// Why an incremental fetch cannot be served in its session; answered as the top-level error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("no fetch session with this id")]
    NotFound,
    #[error("the fetch session expects another epoch")]
    InvalidEpoch,
    #[error("the fetch session names topics the other way (by id from Fetch v13)")]
    TopicIdMismatch,
}
