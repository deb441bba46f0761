//! The quorum's Raft types: what an entry carries (one controller decision, a batch of metadata
//! records committed together), what applying it answers, and openraft's type configuration.

use openraft::{BasicNode, Entry, TokioRuntime};
use serde::{Deserialize, Serialize};
use strata_cluster::records::MetadataRecord;

/// One controller decision: records that commit, and apply, all or none. A decision the active
/// controller worked out itself (who is alive, and the elections that follow) names the term it
/// led in, and applies only when committed in that term: a deposed controller that has not yet
/// noticed (paused, or cut off and healed) cannot have its view of a past cluster committed by
/// its successor (KRaft appends a controller's records only in the epoch it leads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredDecision", into = "StoredDecision")]
pub struct Decision {
    pub records: Vec<MetadataRecord>,
    pub controller_term: Option<u64>,
}

/// A decision as the log holds it: a plain array of records, or with its controller's term.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StoredDecision {
    Records(Vec<MetadataRecord>),
    OfController { records: Vec<MetadataRecord>, controller_term: u64 },
}

impl From<StoredDecision> for Decision {
    fn from(stored: StoredDecision) -> Decision {
        match stored {
            StoredDecision::Records(records) => Decision { records, controller_term: None },
            StoredDecision::OfController { records, controller_term } => {
                Decision { records, controller_term: Some(controller_term) }
            }
        }
    }
}

impl From<Decision> for StoredDecision {
    fn from(decision: Decision) -> StoredDecision {
        match decision.controller_term {
            None => StoredDecision::Records(decision.records),
            Some(controller_term) => StoredDecision::OfController { records: decision.records, controller_term },
        }
    }
}

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
