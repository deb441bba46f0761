//! The `quorum-state` file beside the metadata log: the vote this node last cast or saw, the last
//! log id it knows committed, and the last log id purged from the log (whose term the log no
//! longer holds). Replaced whole and durably on every change, as Kafka keeps its quorum-state.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strata_log::durable_file::write_atomically;

use crate::types::{LogId, Vote};

pub const QUORUM_STATE_FILE: &str = "quorum-state";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumState {
    pub vote: Option<Vote>,
    pub committed: Option<LogId>,
    pub last_purged: Option<LogId>,
}

/// The file and the state it holds.
#[derive(Debug)]
pub struct QuorumStateFile {
    path: PathBuf,
    state: QuorumState,
}

#[derive(Debug, thiserror::Error)]
pub enum QuorumStateError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a quorum state: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

impl QuorumStateFile {
    /// Loads `dir/quorum-state`; a missing file is the state of a node that never voted.
    pub fn load(dir: &Path) -> Result<QuorumStateFile, QuorumStateError> {
        let path = dir.join(QUORUM_STATE_FILE);
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| QuorumStateError::Parse { path: path.clone(), source })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => QuorumState::default(),
            Err(source) => return Err(QuorumStateError::Read { path, source }),
        };
        Ok(QuorumStateFile { path, state })
    }

    pub fn state(&self) -> &QuorumState {
        &self.state
    }

    /// Changes the state and makes it durable before returning; on failure the old state stays.
    pub fn update(&mut self, change: impl FnOnce(&mut QuorumState)) -> Result<(), QuorumStateError> {
        let mut next = self.state.clone();
        change(&mut next);
        if next == self.state {
            return Ok(());
        }
        let bytes =
            serde_json::to_vec(&next).map_err(|source| QuorumStateError::Parse { path: self.path.clone(), source })?;
        write_atomically(&self.path, &bytes)
            .map_err(|source| QuorumStateError::Write { path: self.path.clone(), source })?;
        self.state = next;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = QuorumStateFile::load(dir.path()).unwrap();
        assert_eq!(file.state(), &QuorumState::default());
        let vote = Vote::new(3, 2);
        let purged = LogId::new(openraft::CommittedLeaderId::new(2, 0), 17);
        file.update(|s| {
            s.vote = Some(vote);
            s.last_purged = Some(purged);
        })
        .unwrap();
        let again = QuorumStateFile::load(dir.path()).unwrap();
        assert_eq!(again.state().vote, Some(vote));
        assert_eq!(again.state().last_purged, Some(purged));
        assert_eq!(again.state().committed, None);
    }

    #[test]
    fn a_corrupt_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(QUORUM_STATE_FILE), b"{not json").unwrap();
        assert!(matches!(QuorumStateFile::load(dir.path()), Err(QuorumStateError::Parse { .. })));
    }
}
