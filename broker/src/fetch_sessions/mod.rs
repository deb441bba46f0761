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
