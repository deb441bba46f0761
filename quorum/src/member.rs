//! The local Raft node with what it answers for the other members when it leads: decisions they
//! forward, and the brokers' heartbeats, kept as the time each broker was last heard from.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{Raft, ServerState};

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
}

impl Member {
    pub fn new(raft: Raft<MetaRaft>) -> Member {
        Member { raft, heartbeats: Mutex::new(HashMap::new()) }
    }

    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// Commits `decision` if this node leads; `NotLeader` naming the leader otherwise.
    pub async fn propose(&self, decision: Decision) -> Result<Applied, ProposeError> {
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
        if metrics.state != ServerState::Leader {
            return Err(ProposeError::NotLeader { leader: metrics.current_leader });
        }
        let matched = metrics.replication.unwrap_or_default();
        let end_of = |index: Option<u64>| index.map_or(0, |i| i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1));
        let voters = metrics
            .membership_config
            .membership()
            .voter_ids()
            .map(|id| {
                let log_end = if id == metrics.id {
                    end_of(metrics.last_log_index)
                } else {
                    end_of(matched.get(&id).copied().flatten().map(|l| l.index))
                };
                VoterProgress { id, log_end_offset: log_end }
            })
            .collect();
        Ok(QuorumDescription {
            leader: metrics.id,
            term: metrics.current_term,
            high_watermark: end_of(metrics.last_applied.map(|l| l.index)),
            voters,
        })
    }

    /// Takes a broker's heartbeat if this node leads.
    pub fn heartbeat(&self, broker_id: i32) -> Result<(), ProposeError> {
        let metrics = self.raft.metrics().borrow().clone();
        if metrics.state != ServerState::Leader {
            return Err(ProposeError::NotLeader { leader: metrics.current_leader });
        }
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
