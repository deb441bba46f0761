//! Breaks split votes. openraft draws each node's election timeout once, when the node starts,
//! and checks it on a tick of 1.5 heartbeats; voters started at the same instant (a cluster's
//! first start, or every node restarted together) tick in step, and when their timeouts round to
//! the same tick they stand for election together in every term, each voting for itself, and no
//! leader is ever elected. While no leader has been known for two election timeouts, this task
//! calls an election at a random moment of each further timeout: the first candidate's higher
//! term then reaches the others before their own.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use openraft::ServerState;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::types::MetaRaft;

/// Watches `raft` until aborted; `election_max` is the top of its election timeout.
pub fn spawn(raft: openraft::Raft<MetaRaft>, election_max: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut leaderless_since: Option<Instant> = None;
        loop {
            tokio::time::sleep(random_below(election_max)).await;
            let (leader, state) = {
                let metrics = raft.metrics();
                let metrics = metrics.borrow();
                (metrics.current_leader, metrics.state)
            };
            if leader.is_some() || !matches!(state, ServerState::Candidate | ServerState::Follower) {
                leaderless_since = None;
                continue;
            }
            let since = *leaderless_since.get_or_insert_with(Instant::now);
            if since.elapsed() < election_max * 2 {
                continue;
            }
            tracing::info!("no metadata quorum leader for {:?}: standing for election", since.elapsed());
            if let Err(error) = raft.trigger().elect().await {
                tracing::warn!(%error, "could not stand for election");
                return;
            }
        }
    })
}

/// A random duration in `[0, top)`.
fn random_below(top: Duration) -> Duration {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    let nanos = u64::try_from(top.as_nanos()).unwrap_or(u64::MAX).max(1);
    Duration::from_nanos(hasher.finish() % nanos)
}
