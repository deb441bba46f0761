//! A member of the metadata quorum: the Raft node over its log, state machine and peers, started
//! from a [`QuorumConfig`], with what the broker needs of it: propose a decision, read the image,
//! know the leader.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use strata_cluster::records::MetadataRecord;
use strata_log::{LogConfig, LogManager};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{ProposeError, QuorumError};
use crate::log_store::{METADATA_TOPIC, MetaLogStore, now_ms};
use crate::net::client::PeerClients;
use crate::net::server::serve;
use crate::quorum_state::QuorumStateFile;
use crate::state_machine::{MetaStateMachine, MetadataView};
use crate::types::{Applied, Decision, MetaRaft};

/// The quorum's timing, in milliseconds (KRaft's are `controller.quorum.election.timeout.ms` and
/// `controller.quorum.fetch.timeout.ms`; openraft's leader lease is the election timeout's top).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuorumTiming {
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
}

impl Default for QuorumTiming {
    fn default() -> Self {
        QuorumTiming { heartbeat_ms: 200, election_min_ms: 1000, election_max_ms: 2000 }
    }
}

#[derive(Debug, Clone)]
pub struct QuorumConfig {
    pub node_id: u64,
    /// The voters and the `host:port` of each one's controller listener (this node's among them).
    pub voters: BTreeMap<u64, String>,
    /// Where `quorum-state` and `quorum-snapshot` live (the metadata log is a partition of the
    /// log manager the node is started with).
    pub state_dir: PathBuf,
    pub timing: QuorumTiming,
    /// A snapshot is taken after this many entries since the last one.
    pub snapshot_every_entries: u64,
}

/// A running quorum member.
pub struct Quorum {
    node_id: u64,
    raft: Raft<MetaRaft>,
    view: watch::Receiver<MetadataView>,
    server: JoinHandle<()>,
}

impl Quorum {
    /// Opens the metadata log and state, starts the Raft node and serves the controller listener.
    /// A node whose log is empty proposes the voter set as the first entry (every voter may; they
    /// propose the same one).
    pub async fn start(config: QuorumConfig, log: &LogManager, listener: TcpListener) -> Result<Quorum, QuorumError> {
        if !config.voters.contains_key(&config.node_id) {
            return Err(QuorumError::NotAVoter(config.node_id));
        }
        std::fs::create_dir_all(&config.state_dir)
            .map_err(|e| QuorumError::Storage(format!("{}: {e}", config.state_dir.display())))?;
        let log_config = LogConfig {
            segment_bytes: 100 * 1024 * 1024,
            retention_ms: -1,
            retention_bytes: -1,
            flush_messages: 1,
            max_message_bytes: 8 * 1024 * 1024,
            ..LogConfig::default()
        };
        let partition = log
            .open_partition(METADATA_TOPIC, 0, log_config, now_ms())
            .map_err(|e| QuorumError::Storage(e.to_string()))?;
        let state = QuorumStateFile::load(&config.state_dir).map_err(|e| QuorumError::Storage(e.to_string()))?;
        let log_store = MetaLogStore::open(partition, state)?;
        let (state_machine, view) = MetaStateMachine::open(&config.state_dir)?;

        let raft_config = Config {
            cluster_name: "strata".to_string(),
            heartbeat_interval: config.timing.heartbeat_ms,
            election_timeout_min: config.timing.election_min_ms,
            election_timeout_max: config.timing.election_max_ms,
            install_snapshot_timeout: config.timing.election_max_ms.max(1000),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every_entries),
            max_in_snapshot_log_to_keep: 0,
            ..Config::default()
        }
        .validate()
        .map_err(|e| QuorumError::Config(e.to_string()))?;
        let raft = Raft::new(config.node_id, Arc::new(raft_config), PeerClients, log_store, state_machine)
            .await
            .map_err(|e| QuorumError::Start(e.to_string()))?;
        let server = serve(listener, raft.clone());

        let voters: BTreeMap<u64, BasicNode> =
            config.voters.iter().map(|(id, addr)| (*id, BasicNode { addr: addr.clone() })).collect();
        match raft.initialize(voters).await {
            Ok(()) => tracing::info!(node = config.node_id, "metadata quorum initialized"),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                tracing::info!(node = config.node_id, "metadata quorum resumed from its log")
            }
            Err(e) => {
                server.abort();
                return Err(QuorumError::Start(e.to_string()));
            }
        }
        Ok(Quorum { node_id: config.node_id, raft, view, server })
    }

    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// The leader this node knows of, if any.
    pub fn leader(&self) -> Option<u64> {
        self.raft.metrics().borrow().current_leader
    }

    /// The current term (KRaft's epoch).
    pub fn term(&self) -> u64 {
        self.raft.metrics().borrow().current_term
    }

    /// Waits until some node leads, up to `timeout`; the leader.
    pub async fn wait_for_leader(&self, timeout: std::time::Duration) -> Option<u64> {
        let mut metrics = self.raft.metrics();
        tokio::time::timeout(timeout, async {
            loop {
                if let Some(leader) = metrics.borrow_and_update().current_leader {
                    return Some(leader);
                }
                if metrics.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// The metadata image as this node has applied it, and its changes.
    pub fn view(&self) -> watch::Receiver<MetadataView> {
        self.view.clone()
    }

    /// Commits one decision through the quorum and applies it; only the leader may.
    pub async fn propose(&self, records: Vec<MetadataRecord>) -> Result<Applied, ProposeError> {
        match self.raft.client_write(Decision(records)).await {
            Ok(response) => match response.data.refused {
                None => Ok(response.data),
                Some(reason) => Err(ProposeError::Refused { offset: response.data.offset, reason }),
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                Err(ProposeError::NotLeader { leader: forward.leader_id })
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                Err(ProposeError::Stopped(e.to_string()))
            }
            Err(RaftError::Fatal(fatal)) => Err(ProposeError::Stopped(fatal.to_string())),
        }
    }

    /// Stops the node: no more RPCs answered or sent. The log manager stays the caller's.
    pub async fn shutdown(self) {
        self.server.abort();
        if let Err(error) = self.raft.shutdown().await {
            tracing::warn!(%error, "metadata quorum did not stop cleanly");
        }
    }
}
