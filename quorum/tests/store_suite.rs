//! openraft's conformance suite for log stores and state machines, run against the metadata log
//! in strata-log and the metadata state machine: appends, reads, truncation, purging, votes,
//! the committed id, applying and snapshots, each on a fresh directory.

#![allow(clippy::unwrap_used)]

use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};
use strata_log::{LogManager, LogOptions};
use strata_quorum::log_store::{METADATA_TOPIC, MetaLogStore};
use strata_quorum::quorum_state::QuorumStateFile;
use strata_quorum::state_machine::MetaStateMachine;
use strata_quorum::types::MetaRaft;

/// Keeps a store's directory and log manager alive while a test case runs.
struct Guard {
    manager: LogManager,
    _dir: tempfile::TempDir,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.manager.shutdown();
    }
}

struct Builder;

impl StoreBuilder<MetaRaft, MetaLogStore, MetaStateMachine, Guard> for Builder {
    async fn build(&self) -> Result<(Guard, MetaLogStore, MetaStateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let manager = LogManager::open(&dir.path().join("log"), LogOptions::default()).expect("log manager");
        let partition = manager
            .open_partition(METADATA_TOPIC, 0, strata_log::LogConfig { flush_messages: 1, ..Default::default() }, 0)
            .expect("metadata partition");
        let state = QuorumStateFile::load(dir.path()).expect("quorum state");
        let store = MetaLogStore::open(partition, state).expect("log store");
        let (state_machine, _view) = MetaStateMachine::open(dir.path()).expect("state machine");
        Ok((Guard { manager, _dir: dir }, store, state_machine))
    }
}

#[test]
fn metadata_log_and_state_machine_pass_openraft_suite() {
    Suite::test_all(Builder).expect("openraft storage suite");
}
