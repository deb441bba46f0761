//! The quorum's Raft types: what an entry carries (one controller decision, a batch of metadata
//! records committed together), what applying it answers, and openraft's type configuration.

use openraft::{BasicNode, Entry, TokioRuntime};
use serde::{Deserialize, Serialize};
use strata_cluster::records::MetadataRecord;

/// One controller decision: records that commit, and apply, all or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision(pub Vec<MetadataRecord>);

/// What applying an entry did, as its proposer learns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The entry's index: its offset in the metadata log.
    pub offset: u64,
    /// Why the image refused the decision (it stays as it was), if it did.
    pub refused: Option<String>,
}

openraft::declare_raft_types!(
    /// Strata's metadata Raft.
    pub MetaRaft:
        D = Decision,
        R = Applied,
        NodeId = u64,
        Node = BasicNode,
        Entry = Entry<MetaRaft>,
        SnapshotData = Vec<u8>,
        AsyncRuntime = TokioRuntime,
);

pub type LogId = openraft::LogId<u64>;
pub type Vote = openraft::Vote<u64>;
pub type StorageError = openraft::StorageError<u64>;
pub type MetaEntry = Entry<MetaRaft>;

/// A storage failure in openraft's terms, from anything that says what went wrong.
pub fn storage_error(verb: openraft::ErrorVerb, what: impl std::fmt::Display) -> StorageError {
    openraft::StorageIOError::new(openraft::ErrorSubject::Store, verb, openraft::AnyError::error(what.to_string()))
        .into()
}
