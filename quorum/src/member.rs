//! The local Raft node with what it answers for the other members when it leads: decisions they
//! forward, and the brokers' heartbeats, kept as the time each broker was last heard from.
//!
//! A Raft leader cut off from the other voters keeps its role until it hears of a newer term,
//! which it cannot while cut off. It stops acting as the active controller sooner: once a quorum
//! has not acknowledged it for a lease (the election timeout's top, after which the others may
//! have elected another), it takes no heartbeats, describes no quorum and names no leader, as a
//! KRaft controller that loses its fetch quorum resigns.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, Raft, RaftMetrics, ServerState};

use serde::{Deserialize, Serialize};

use crate::error::ProposeError;
use crate::types::{Applied, Decision, MetaRaft};

/// The quorum as its leader describes it (Kafka's DescribeQuorum): offsets are entry counts, as
/// KRaft's log end offsets and high watermark are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumDescription {
    pub leader: u64,
    pub term: u64,
    /// One past the last entry the leader has applied (committed).
    pub high_watermark: i64,
    pub voters: Vec<VoterProgress>,
    /// The observers (broker-only nodes following the log, Raft learners), as far as each came.
    #[serde(default)]
    pub observers: Vec<VoterProgress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoterProgress {
    pub id: u64,
    /// One past the last entry the leader knows this voter holds.
    pub log_end_offset: i64,
}

pub struct Member {
    pub raft: Raft<MetaRaft>,
    heartbeats: Mutex<HashMap<i32, Instant>>,
    /// How long a leader acts as one without a quorum's acknowledgement.
    lease: Duration,
}

type Metrics = RaftMetrics<u64, openraft::BasicNode>;

impl Member {
    pub fn new(raft: Raft<MetaRaft>, lease: Duration) -> Member {
        Member { raft, heartbeats: Mutex::new(HashMap::new()), lease }
    }

    /// Whether this node leads with a quorum's acknowledgement within the lease.
    pub fn is_leader(&self) -> bool {
        self.acts_as_leader(&self.raft.metrics().borrow())
    }

    /// The leader this node knows of: not itself while it leads without a quorum.
    pub fn leader(&self) -> Option<u64> {
        let metrics = self.raft.metrics().borrow().clone();
        metrics.current_leader.filter(|&leader| leader != metrics.id || self.acts_as_leader(&metrics))
    }

    /// The term this node leads in, while it acts as the leader.
    pub fn leading_term(&self) -> Option<u64> {
        let metrics = self.raft.metrics().borrow().clone();
        self.acts_as_leader(&metrics).then_some(metrics.current_term)
    }

    fn acts_as_leader(&self, metrics: &Metrics) -> bool {
        let lease = u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX);
        metrics.state == ServerState::Leader && metrics.millis_since_quorum_ack.is_some_and(|ms| ms <= lease)
    }

    /// `NotLeader` (naming the leader if another leads) unless this node acts as the leader.
    fn check_leading(&self, metrics: &Metrics) -> Result<(), ProposeError> {
        if self.acts_as_leader(metrics) {
            return Ok(());
        }
        Err(ProposeError::NotLeader { leader: metrics.current_leader.filter(|&leader| leader != metrics.id) })
    }

    /// Commits `decision` if this node acts as the leader; `NotLeader` naming the leader otherwise.
    pub async fn propose(&self, decision: Decision) -> Result<Applied, ProposeError> {
        // A leader without a quorum would hold the decision until it learns of its successor.
        self.check_leading(&self.raft.metrics().borrow())?;
        match self.raft.client_write(decision).await {
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

    /// The quorum as this node sees it while it leads: `NotLeader` otherwise, since only the
    /// leader knows how far each voter's log has come.
    pub fn describe(&self) -> Result<QuorumDescription, ProposeError> {
        let metrics = self.raft.metrics().borrow().clone();
        self.check_leading(&metrics)?;
        let matched = metrics.replication.unwrap_or_default();
        let end_of = |index: Option<u64>| index.map_or(0, |i| i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1));
        let progress = |id: u64| {
            let log_end = if id == metrics.id {
                end_of(metrics.last_log_index)
            } else {
                end_of(matched.get(&id).copied().flatten().map(|l| l.index))
            };
            VoterProgress { id, log_end_offset: log_end }
        };
        let membership = metrics.membership_config.membership();
        Ok(QuorumDescription {
            leader: metrics.id,
            term: metrics.current_term,
            high_watermark: end_of(metrics.last_applied.map(|l| l.index)),
            voters: membership.voter_ids().map(progress).collect(),
            observers: membership.learner_ids().map(progress).collect(),
        })
    }

    /// Makes node `id` an observer reached at `address` (a Raft learner: the log is replicated to
    /// it, it never votes) if this node leads; an observer that comes back at another address
    /// has its address replaced. A voter cannot be an observer.
    pub async fn add_observer(&self, id: u64, address: String) -> Result<(), ProposeError> {
        let known = {
            let metrics = self.raft.metrics().borrow().clone();
            self.check_leading(&metrics)?;
            let membership = metrics.membership_config.membership();
            if membership.voter_ids().any(|voter| voter == id) {
                return Err(ProposeError::Refused {
                    offset: 0,
                    reason: format!("node {id} is a voter of the quorum, not a broker-only observer"),
                });
            }
            membership.get_node(&id).map(|node| node.addr.clone())
        };
        let node = BasicNode { addr: address };
        let changed = match known {
            Some(addr) if addr == node.addr => return Ok(()),
            Some(_) => self.raft.change_membership(ChangeMembers::SetNodes([(id, node)].into()), true).await.map(drop),
            None => self.raft.add_learner(id, node, false).await.map(drop),
        };
        changed.map_err(|error| match error {
            RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
                ProposeError::NotLeader { leader: forward.leader_id }
            }
            other => ProposeError::NoLeader(other.to_string()),
        })
    }

    /// Takes a broker's heartbeat if this node leads.
    pub fn heartbeat(&self, broker_id: i32) -> Result<(), ProposeError> {
        self.check_leading(&self.raft.metrics().borrow())?;
        self.lock().insert(broker_id, Instant::now());
        Ok(())
    }

    /// When each broker was last heard from by this node as leader.
    pub fn heartbeats(&self) -> HashMap<i32, Instant> {
        self.lock().clone()
    }

    /// Forgets every heartbeat: a new leader starts counting afresh.
    pub fn forget_heartbeats(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Instant>> {
        self.heartbeats.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
