//! What the quorum's callers may be told.

#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("node {0} is not among the quorum's voters")]
    NotAVoter(u64),
    #[error("node {0} is among the quorum's voters, so it cannot only observe the quorum")]
    VoterAsObserver(u64),
    #[error("metadata quorum storage: {0}")]
    Storage(String),
    #[error("metadata quorum settings: {0}")]
    Config(String),
    #[error("metadata quorum did not start: {0}")]
    Start(String),
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ProposeError {
    /// Only the leader commits decisions (KRaft: NOT_CONTROLLER).
    #[error("this node does not lead the metadata quorum (leader: {leader:?})")]
    NotLeader { leader: Option<u64> },
    /// Committed, but the image refused it: it changed nothing.
    #[error("the metadata decision at offset {offset} was refused: {reason}")]
    Refused { offset: u64, reason: String },
    #[error("the metadata quorum stopped: {0}")]
    Stopped(String),
    /// No leader answered in time (an election that does not end, the leader unreachable).
    #[error("no metadata quorum leader answered: {0}")]
    NoLeader(String),
}
