//! A member of the metadata quorum: the Raft node over its log, state machine and peers, started
//! from a [`QuorumConfig`], with what the broker needs of it: propose a decision, read the image,
//! know the leader.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use strata_cluster::records::MetadataRecord;
use strata_log::{LogConfig, LogManager};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{ProposeError, QuorumError};
use crate::leader_link::{LeaderLink, retry};
use crate::log_store::{METADATA_TOPIC, MetaLogStore, now_ms};
use crate::member::{Member, QuorumDescription};
use crate::net::client::PeerClients;
use crate::net::frame::{RaftReply, RaftRequest};
use crate::net::server::serve;
use crate::quorum_state::QuorumStateFile;
use crate::state_machine::{MetaStateMachine, MetadataView};
use crate::types::{Applied, Decision};

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

/// Whether a node votes in the quorum or only follows its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumRole {
    /// A controller (`process.roles` holds `controller`): one of the voters.
    Voter,
    /// A broker-only node: a Raft learner that the leader replicates the log to at `address`
    /// (KRaft's observer); it never votes.
    Observer { address: String },
}

#[derive(Debug, Clone)]
pub struct QuorumConfig {
    pub node_id: u64,
    pub role: QuorumRole,
    /// The voters and the `host:port` of each one's controller listener (this node's among them).
    pub voters: BTreeMap<u64, String>,
    /// Where `quorum-state` and `quorum-snapshot` live (the metadata log is a partition of the
    /// log manager the node is started with).
    pub state_dir: PathBuf,
    pub timing: QuorumTiming,
    /// A snapshot is taken after this many entries since the last one.
    pub snapshot_every_entries: u64,
}

/// How long a proposal or heartbeat keeps trying to reach a leader.
const LEADER_WAIT: Duration = Duration::from_secs(15);
/// How long an observer keeps asking the voters to take it.
const OBSERVER_JOIN_WAIT: Duration = Duration::from_secs(60);
/// Pause between an observer's requests to join.
const OBSERVER_JOIN_PAUSE: Duration = Duration::from_millis(200);

/// A running quorum member.
pub struct Quorum {
    node_id: u64,
    member: Arc<Member>,
    link: LeaderLink,
    view: watch::Receiver<MetadataView>,
    server: JoinHandle<()>,
    /// A voter's watch over split elections (an observer never votes).
    split_votes: Option<JoinHandle<()>>,
}

impl Quorum {
    /// Opens the metadata log and state, starts the Raft node and serves the controller listener.
    /// A voter whose log is empty proposes the voter set as the first entry (every voter may;
    /// they propose the same one). An observer asks the leader to take it, and returns once it
    /// has.
    pub async fn start(config: QuorumConfig, log: &LogManager, listener: TcpListener) -> Result<Quorum, QuorumError> {
        let voter = config.voters.contains_key(&config.node_id);
        match config.role {
            QuorumRole::Voter if !voter => return Err(QuorumError::NotAVoter(config.node_id)),
            QuorumRole::Observer { .. } if voter => return Err(QuorumError::VoterAsObserver(config.node_id)),
            _ => {}
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
        let lease = Duration::from_millis(config.timing.election_max_ms);
        let member = Arc::new(Member::new(raft.clone(), lease));
        let server = serve(listener, Arc::clone(&member));
        let link = LeaderLink::new(config.voters.clone());
        let QuorumRole::Observer { address } = config.role else {
            let split_votes = Some(crate::split_vote::spawn(raft.clone(), lease));
            let quorum = Quorum { node_id: config.node_id, member, link, view, server, split_votes };
            let voters: BTreeMap<u64, BasicNode> =
                config.voters.iter().map(|(id, addr)| (*id, BasicNode { addr: addr.clone() })).collect();
            return match raft.initialize(voters).await {
                Ok(()) => {
                    tracing::info!(node = config.node_id, "metadata quorum initialized");
                    Ok(quorum)
                }
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                    tracing::info!(node = config.node_id, "metadata quorum resumed from its log");
                    Ok(quorum)
                }
                Err(e) => {
                    quorum.stop().await;
                    Err(QuorumError::Start(e.to_string()))
                }
            };
        };
        let quorum = Quorum { node_id: config.node_id, member, link, view, server, split_votes: None };
        match quorum.join_as_observer(&address).await {
            Ok(()) => {
                tracing::info!(node = config.node_id, %address, "following the metadata quorum as an observer");
                Ok(quorum)
            }
            Err(error) => {
                quorum.stop().await;
                Err(QuorumError::Start(format!("no voter took this node as an observer: {error}")))
            }
        }
    }

    /// Asks the voters, in turn and then the leader they name, to take this node as an observer
    /// reached at `address`, until one leader does or [`OBSERVER_JOIN_WAIT`] passes.
    async fn join_as_observer(&self, address: &str) -> Result<(), ProposeError> {
        let request = RaftRequest::AddObserver { node_id: self.node_id, address: address.to_string() };
        let voters = self.link.nodes();
        let deadline = Instant::now() + OBSERVER_JOIN_WAIT;
        let mut named: Option<u64> = None;
        let mut turn = 0usize;
        loop {
            let voter = match named.take() {
                Some(leader) => leader,
                None => {
                    turn += 1;
                    *voters.get(turn % voters.len().max(1)).ok_or_else(|| ProposeError::NoLeader("no voters".into()))?
                }
            };
            let outcome = match self.link.call(voter, &request).await {
                Ok(RaftReply::AddObserver(outcome)) => outcome,
                Ok(other) => Err(ProposeError::NoLeader(format!("node {voter} answered {other:?}"))),
                Err(error) => Err(error),
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(error @ ProposeError::Refused { .. }) => return Err(error),
                Err(ProposeError::NotLeader { leader }) => named = leader,
                Err(error) if Instant::now() >= deadline => return Err(error),
                Err(error) => tracing::debug!(voter, %error, "not taken as an observer yet"),
            }
            if Instant::now() >= deadline {
                return Err(ProposeError::NoLeader(format!("not taken within {OBSERVER_JOIN_WAIT:?}")));
            }
            tokio::time::sleep(OBSERVER_JOIN_PAUSE).await;
        }
    }

    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// The leader this node knows of, if any.
    pub fn leader(&self) -> Option<u64> {
        self.member.leader()
    }

    /// The current term (KRaft's epoch).
    pub fn term(&self) -> u64 {
        self.member.raft.metrics().borrow().current_term
    }

    /// Waits until some node leads, up to `timeout`; the leader.
    pub async fn wait_for_leader(&self, timeout: std::time::Duration) -> Option<u64> {
        let mut metrics = self.member.raft.metrics();
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

    /// Whether this node leads the quorum (the active controller).
    pub fn is_leader(&self) -> bool {
        self.member.is_leader()
    }

    /// Commits one decision through the quorum's leader (this node or another) and returns once
    /// it is applied there; waits out elections for up to 15 s.
    pub async fn propose(&self, records: Vec<MetadataRecord>) -> Result<Applied, ProposeError> {
        let decision = Decision { records, controller_term: None };
        self.at_leader(
            || self.member.propose(decision.clone()),
            || RaftRequest::Propose(decision.clone()),
            |reply| match reply {
                RaftReply::Propose(outcome) => Ok(outcome),
                other => Err(Box::new(other)),
            },
        )
        .await
    }

    /// The term this node leads in, while it acts as the active controller.
    pub fn leading_term(&self) -> Option<u64> {
        self.member.leading_term()
    }

    /// Commits a decision this node worked out as the active controller of `term`, on this node
    /// only (never forwarded, never retried): it applies only if committed in `term`, so a
    /// controller deposed meanwhile changes nothing, and the caller works its decision out
    /// afresh from the image it then has.
    pub async fn propose_as_controller(
        &self,
        term: u64,
        records: Vec<MetadataRecord>,
    ) -> Result<Applied, ProposeError> {
        self.member.propose(Decision { records, controller_term: Some(term) }).await
    }

    /// Tells the leader that broker `broker_id` is alive.
    pub async fn heartbeat(&self, broker_id: i32) -> Result<(), ProposeError> {
        self.at_leader(
            || std::future::ready(self.member.heartbeat(broker_id)),
            || RaftRequest::Heartbeat { broker_id },
            |reply| match reply {
                RaftReply::Heartbeat(outcome) => Ok(outcome),
                other => Err(Box::new(other)),
            },
        )
        .await
    }

    /// The quorum as its leader describes it (asked of the leader when this node does not lead).
    pub async fn describe(&self) -> Result<QuorumDescription, ProposeError> {
        self.at_leader(
            || std::future::ready(self.member.describe()),
            || RaftRequest::Describe,
            |reply| match reply {
                RaftReply::Describe(outcome) => Ok(outcome),
                other => Err(Box::new(other)),
            },
        )
        .await
    }

    /// Runs `local` on this member; when it names another member as the leader, sends that
    /// leader `request()` instead and takes its answer out of the reply with `unpack`. Waits out
    /// elections for up to [`LEADER_WAIT`].
    async fn at_leader<T, Fut>(
        &self,
        local: impl Fn() -> Fut,
        request: impl Fn() -> RaftRequest,
        unpack: impl Fn(RaftReply) -> Result<Result<T, ProposeError>, Box<RaftReply>>,
    ) -> Result<T, ProposeError>
    where
        Fut: std::future::Future<Output = Result<T, ProposeError>>,
    {
        retry(Instant::now() + LEADER_WAIT, || async {
            match local().await {
                Err(ProposeError::NotLeader { leader: Some(leader) }) if leader != self.node_id => {
                    let reply = self.link.call(leader, &request()).await?;
                    unpack(reply).unwrap_or_else(|other| {
                        Err(ProposeError::NoLeader(format!("node {leader} answered {other:?}")))
                    })
                }
                outcome => outcome,
            }
        })
        .await
    }

    /// When each broker was last heard from, as this node (if leader) took their heartbeats.
    pub fn heartbeats(&self) -> HashMap<i32, Instant> {
        self.member.heartbeats()
    }

    /// Forgets the heartbeats taken so far (on gaining leadership: start counting afresh).
    pub fn forget_heartbeats(&self) {
        self.member.forget_heartbeats();
    }

    /// Waits until this node has applied the entry at `offset`, up to `timeout`.
    pub async fn wait_applied(&self, offset: u64, timeout: Duration) -> Result<MetadataView, ProposeError> {
        let mut view = self.view.clone();
        let waited = tokio::time::timeout(timeout, view.wait_for(|v| v.applied.is_some_and(|a| a >= offset))).await;
        match waited {
            Ok(Ok(view)) => Ok(view.clone()),
            Ok(Err(_)) => Err(ProposeError::Stopped("the state machine stopped".into())),
            Err(_) => Err(ProposeError::NoLeader(format!("offset {offset} not applied within {timeout:?}"))),
        }
    }

    /// Stops the node: no more RPCs answered or sent. The log manager stays the caller's.
    pub async fn stop(&self) {
        self.server.abort();
        if let Some(split_votes) = &self.split_votes {
            split_votes.abort();
        }
        if let Err(error) = self.member.raft.shutdown().await {
            tracing::warn!(%error, "metadata quorum did not stop cleanly");
        }
    }
}
