//! Replication in a cluster (Kafka's `ReplicaManager`): for every partition this broker holds,
//! it is either the leader, tracking its followers ([`leader`]), or a follower, copying the
//! leader's log through the fetcher for that leader ([`fetcher`], over [`client`]). [`Replication::sync`]
//! brings both in line with the topic registry after every metadata change; the leader's
//! in-sync replica changes (a follower caught up, or lagging longer than
//! `replica.lag.time.max.ms`) are committed through the quorum as `PartitionIsr` records, valid
//! only in the leader epoch that proposed them. On a single node nothing here runs: every
//! partition has one replica and its high watermark is its log end.

pub mod checkpoint;
mod fetcher;
mod leader;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use strata_cluster::records::MetadataRecord;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use leader::IsrChange;
pub use leader::LeaderState;

use crate::state::{Broker, now_ms};
use fetcher::Followed;

/// A fetcher task and what it is told to follow.
struct Fetcher {
    address: String,
    assignment: watch::Sender<Vec<Followed>>,
    task: JoinHandle<()>,
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct Roles {
    /// The partitions this broker leads, by topic id and index.
    leading: HashMap<(Uuid, i32), Arc<LeaderState>>,
    /// One fetcher per leader broker this broker follows partitions of.
    fetchers: HashMap<i32, Fetcher>,
}

/// This broker's replicas and their roles.
#[derive(Default)]
pub struct Replication {
    roles: Mutex<Roles>,
}

impl std::fmt::Debug for Replication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replication").finish_non_exhaustive()
    }
}

impl Replication {
    fn lock(&self) -> MutexGuard<'_, Roles> {
        self.roles.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The leader state of a partition this broker leads, in a cluster.
    pub fn leading(&self, topic_id: Uuid, index: i32) -> Option<Arc<LeaderState>> {
        self.lock().leading.get(&(topic_id, index)).cloned()
    }

    /// Makes every hosted partition's role the registry's: leaders start (or update their
    /// in-sync replicas), followers are handed to the fetcher of their leader. Blocking (a new
    /// leader epoch is written to the log's checkpoint); run off the runtime's workers. Must be
    /// called on the runtime (fetchers are spawned on it).
    pub fn sync(&self, broker: &Broker) {
        let Some(image) = broker.topics.cluster_image() else { return };
        let node = broker.node_id();
        let now = now_ms();
        let mut leading = HashMap::new();
        let mut following: BTreeMap<i32, Vec<Followed>> = BTreeMap::new();
        // Kept serving until the new roles replace them: a new leader epoch's checkpoint is an
        // fsync per partition, and requests for partitions whose role is unchanged go on meanwhile.
        let previous = self.lock().leading.clone();
        for topic in broker.topics.all() {
            for (index, log) in topic.hosted() {
                let Some(leadership) = topic.leadership(index) else { continue };
                let key = (topic.id, index);
                if leadership.is_led_by(node) {
                    let state = match previous.get(&key).filter(|s| s.leader_epoch == leadership.leader_epoch) {
                        Some(state) => {
                            state.set_isr(&leadership.isr, leadership.partition_epoch);
                            Arc::clone(state)
                        }
                        None => {
                            if let Err(error) = log.begin_leader_epoch(leadership.leader_epoch) {
                                tracing::error!(topic = %topic.name, partition = index, %error, "cannot record the new leader epoch");
                            }
                            tracing::debug!(topic = %topic.name, partition = index, leader_epoch = leadership.leader_epoch, isr = ?leadership.isr, "leading");
                            let isr = (leadership.isr.clone(), leadership.partition_epoch);
                            Arc::new(LeaderState::new(
                                node,
                                topic.id,
                                index,
                                leadership.leader_epoch,
                                isr,
                                Arc::clone(log),
                                now,
                            ))
                        }
                    };
                    leading.insert(key, state);
                } else if leadership.leader >= 0 {
                    following.entry(leadership.leader).or_default().push(Followed {
                        topic: topic.name.clone(),
                        topic_id: topic.id,
                        index,
                        leader_epoch: leadership.leader_epoch,
                        log: Arc::clone(log),
                    });
                }
            }
        }
        // Leaderships this broker gave up (or now holds in a newer epoch) resign before any
        // fetcher can touch their logs.
        for (key, state) in &previous {
            if leading.get(key).is_none_or(|kept| !Arc::ptr_eq(kept, state)) {
                state.resign();
            }
        }
        let mut roles = self.lock();
        roles.leading = leading;
        roles.fetchers.retain(|leader, _| following.contains_key(leader));
        for (leader, partitions) in following {
            let Some(registration) = image.broker(leader) else { continue };
            let Ok(port) = u16::try_from(registration.port) else { continue };
            let address = crate::cluster::format_address(&registration.host, port);
            match roles.fetchers.get(&leader).filter(|f| f.address == address) {
                Some(fetcher) => {
                    fetcher.assignment.send_replace(partitions);
                }
                None => {
                    let (assignment, receiver) = watch::channel(partitions);
                    let task = tokio::spawn(fetcher::run(node, leader, address.clone(), receiver));
                    roles.fetchers.insert(leader, Fetcher { address, assignment, task });
                }
            }
        }
    }

    /// Stops every fetcher and forgets every role (the broker is stopping).
    pub fn stop(&self) {
        let roles = std::mem::take(&mut *self.lock());
        for state in roles.leading.values() {
            state.resign();
        }
    }

    /// A follower's fetch from `fetch_offset` reached this leader: its progress moves the high
    /// watermark, and a follower that caught up joins the in-sync replicas.
    pub fn follower_fetched(&self, broker: &Arc<Broker>, topic_id: Uuid, index: i32, follower: i32, fetch_offset: i64) {
        let Some(state) = self.leading(topic_id, index) else { return };
        if let Some(change) = state.follower_fetched(follower, fetch_offset, now_ms()) {
            tracing::info!(%topic_id, partition = index, follower, isr = ?change.to, "a follower caught up: it joins the in-sync replicas");
            propose_isr(broker, state, change);
        }
    }
}

/// Commits an in-sync replica change of a partition this broker leads, in its leader epoch and
/// the partition epoch it was worked out in.
fn propose_isr(broker: &Arc<Broker>, state: Arc<LeaderState>, change: IsrChange) {
    let Some(membership) = broker.cluster.as_ref() else { return };
    let quorum = Arc::clone(&membership.quorum);
    tokio::spawn(async move {
        let record = MetadataRecord::PartitionIsr {
            topic_id: state.topic_id,
            partition_id: state.index,
            leader_epoch: state.leader_epoch,
            isr: change.to,
            partition_epoch: Some(change.partition_epoch),
        };
        if let Err(error) = quorum.propose(vec![record]).await {
            tracing::info!(topic_id = %state.topic_id, partition = state.index, %error, "in-sync replica change not committed");
            state.change_failed();
        }
    });
}

/// Every `replica.lag.time.max.ms` / 2 (at most every second): the partitions this broker leads
/// drop the followers that have not caught up within `replica.lag.time.max.ms` from their
/// in-sync replicas.
pub async fn shrink_lagging(broker: Arc<Broker>) {
    if broker.cluster.is_none() {
        return;
    }
    let lag_max_ms = broker.config.settings.replica_lag_time_max_ms;
    let every = Duration::from_millis(u64::try_from(lag_max_ms / 2).unwrap_or(1000).clamp(50, 1000));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let leading: Vec<Arc<LeaderState>> = broker.replication.lock().leading.values().cloned().collect();
        let now = now_ms();
        for state in leading {
            if let Some(change) = state.shrunk_isr(now, lag_max_ms) {
                tracing::warn!(topic_id = %state.topic_id, partition = state.index, isr = ?change.to, "followers lag behind: the in-sync replicas shrink");
                propose_isr(&broker, state, change);
            }
        }
    }
}
