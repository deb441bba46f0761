//! Three quorum members on loopback ports, each with its own metadata log: they elect a leader,
//! commit decisions that every member applies, forward a follower's proposals and heartbeats to
//! the leader, elect a new leader
//! when the leader stops, and bring a restarted member up to date from its own log plus the
//! leader's (a snapshot when the leader has purged what it missed). A node outside the voters
//! follows the log as an observer (a broker-only node): it applies every decision, proposes
//! through the leader, follows a new leader, and comes back at another address. A decision of the
//! active controller applies only in the term it was made in.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strata_cluster::records::MetadataRecord;
use strata_log::{LogManager, LogOptions};
use strata_quorum::{ProposeError, Quorum, QuorumConfig, QuorumRole, QuorumTiming};
use tokio::net::TcpListener;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

struct Member {
    quorum: Quorum,
    manager: LogManager,
}

struct Cluster {
    root: tempfile::TempDir,
    voters: BTreeMap<u64, String>,
    members: BTreeMap<u64, Member>,
}

impl Cluster {
    async fn start() -> Cluster {
        let root = tempfile::tempdir().unwrap();
        let mut listeners = BTreeMap::new();
        for id in 1..=3u64 {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listeners.insert(id, listener);
        }
        let voters = listeners.iter().map(|(id, l)| (*id, l.local_addr().unwrap().to_string())).collect();
        let mut cluster = Cluster { root, voters, members: BTreeMap::new() };
        for (id, listener) in listeners {
            cluster.start_member(id, listener).await;
        }
        cluster
    }

    fn dir(&self, id: u64) -> PathBuf {
        self.root.path().join(format!("node-{id}"))
    }

    async fn start_member(&mut self, id: u64, listener: TcpListener) {
        let dir = self.dir(id);
        let manager = LogManager::open(&dir.join("log"), LogOptions::default()).unwrap();
        let role = if self.voters.contains_key(&id) {
            QuorumRole::Voter
        } else {
            QuorumRole::Observer { address: listener.local_addr().unwrap().to_string() }
        };
        let config = QuorumConfig {
            node_id: id,
            role,
            voters: self.voters.clone(),
            state_dir: dir.join("quorum"),
            timing: QuorumTiming { heartbeat_ms: 100, election_min_ms: 500, election_max_ms: 1000 },
            snapshot_every_entries: 8,
        };
        let quorum = Quorum::start(config, &manager, listener).await.unwrap();
        self.members.insert(id, Member { quorum, manager });
    }

    async fn restart_member(&mut self, id: u64) {
        let listener = TcpListener::bind(&self.voters[&id]).await.unwrap();
        self.start_member(id, listener).await;
    }

    async fn stop_member(&mut self, id: u64) {
        let member = self.members.remove(&id).unwrap();
        member.quorum.stop().await;
        member.manager.shutdown().unwrap();
    }

    /// The leader every running member agrees on.
    async fn agreed_leader(&self) -> u64 {
        let deadline = Instant::now() + WAIT;
        loop {
            let leaders: Vec<Option<u64>> = self.members.values().map(|m| m.quorum.leader()).collect();
            if let Some(Some(first)) = leaders.first()
                && self.members.contains_key(first)
                && leaders.iter().all(|l| l == &Some(*first))
            {
                return *first;
            }
            assert!(Instant::now() < deadline, "no agreed leader within {WAIT:?}: {leaders:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn quorum(&self, id: u64) -> &Quorum {
        &self.members[&id].quorum
    }

    /// Waits until every running member's image holds exactly `names`.
    async fn all_hold(&self, names: &[String]) {
        let mut want: Vec<String> = names.to_vec();
        want.sort();
        let deadline = Instant::now() + WAIT;
        loop {
            let held: BTreeMap<u64, Vec<String>> =
                self.members.iter().map(|(id, m)| (*id, topic_names(&m.quorum))).collect();
            if held.values().all(|h| h == &want) {
                return;
            }
            assert!(Instant::now() < deadline, "images never converged on {want:?}: {held:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop_all(mut self) {
        for id in self.members.keys().copied().collect::<Vec<_>>() {
            self.stop_member(id).await;
        }
    }
}

fn topic_names(quorum: &Quorum) -> Vec<String> {
    let view = quorum.view().borrow().clone();
    let mut names: Vec<String> = view.image.topics().map(|t| t.name.clone()).collect();
    names.sort();
    names
}

fn new_topic(name: &str) -> Vec<MetadataRecord> {
    vec![MetadataRecord::Topic { name: name.to_string(), topic_id: Uuid::new_v4(), internal: false }]
}

fn partition_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("log/__cluster_metadata-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_voters_agree_fail_over_and_catch_up() {
    let mut cluster = Cluster::start().await;
    let leader = cluster.agreed_leader().await;
    let follower = *cluster.voters.keys().find(|id| **id != leader).unwrap();

    let mut names = vec!["orders".to_string()];
    let applied = cluster.quorum(leader).propose(new_topic("orders")).await.unwrap();
    assert!(applied.offset >= 1, "the voters' membership comes first: {applied:?}");
    cluster.all_hold(&names).await;

    // A follower's proposal goes to the leader, and so do its brokers' heartbeats.
    let forwarded = cluster.quorum(follower).propose(new_topic("via-follower")).await.unwrap();
    assert!(forwarded.offset > applied.offset);
    names.push("via-follower".to_string());
    cluster.all_hold(&names).await;
    cluster.quorum(follower).heartbeat(follower as i32).await.unwrap();
    assert!(cluster.quorum(leader).heartbeats().contains_key(&(follower as i32)));
    assert!(cluster.quorum(follower).heartbeats().is_empty(), "only the leader keeps sessions");
    let view = cluster.quorum(follower).wait_applied(forwarded.offset, WAIT).await.unwrap();
    assert!(view.image.topic_named("via-follower").is_some());

    // A decision the image refuses commits but changes nothing, on every member.
    let duplicate = cluster.quorum(leader).propose(new_topic("orders")).await;
    assert!(matches!(duplicate, Err(ProposeError::Refused { .. })), "{duplicate:?}");
    cluster.all_hold(&names).await;

    // The leader stops: the other two elect one of themselves and go on committing.
    let stopped_at = Instant::now();
    let old_term = cluster.quorum(follower).term();
    cluster.stop_member(leader).await;
    let new_leader = cluster.agreed_leader().await;
    assert_ne!(new_leader, leader);
    assert!(cluster.quorum(new_leader).term() > old_term);
    let elapsed = stopped_at.elapsed();
    eprintln!("new leader {new_leader} {elapsed:?} after leader {leader} stopped");
    // More than a snapshot's worth while the old leader is away, so it must be sent one.
    for i in 0..12 {
        let name = format!("while-away-{i}");
        cluster.quorum(new_leader).propose(new_topic(&name)).await.unwrap();
        names.push(name);
    }
    cluster.all_hold(&names).await;

    // The old leader comes back with its own log and catches up.
    cluster.restart_member(leader).await;
    cluster.agreed_leader().await;
    cluster.all_hold(&names).await;
    assert!(cluster.dir(leader).join("quorum/quorum-snapshot").exists(), "the returning member holds the snapshot");
    eprintln!("metadata log of node {leader}: {:?}", partition_files(&cluster.dir(leader)));

    // Every member restarts: the image is rebuilt from snapshot and log, and commits go on.
    for id in 1..=3 {
        cluster.stop_member(id).await;
    }
    for id in 1..=3 {
        cluster.restart_member(id).await;
    }
    let leader = cluster.agreed_leader().await;
    cluster.all_hold(&names).await;
    cluster.quorum(leader).propose(new_topic("after-restart")).await.unwrap();
    names.push("after-restart".to_string());
    cluster.all_hold(&names).await;
    cluster.stop_all().await;
}

/// A decision the active controller works out itself is bound to the term it leads in: it is
/// committed on that node only (a follower's is not forwarded), and it changes nothing if it is
/// committed in another term, as a deposed controller's would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_controller_decision_applies_only_in_its_own_term() {
    let cluster = Cluster::start().await;
    let leader = cluster.agreed_leader().await;
    let follower = *cluster.voters.keys().find(|id| **id != leader).unwrap();
    let term = cluster.quorum(leader).leading_term().expect("the leader knows its term");
    assert_eq!(cluster.quorum(follower).leading_term(), None);

    let applied = cluster.quorum(leader).propose_as_controller(term, new_topic("current-term")).await.unwrap();
    cluster.all_hold(&["current-term".to_string()]).await;

    let stale = cluster.quorum(leader).propose_as_controller(term - 1, new_topic("past-term")).await;
    let Err(ProposeError::Refused { offset, reason }) = stale else { panic!("a past term's decision: {stale:?}") };
    assert!(offset > applied.offset && reason.contains(&format!("term {}", term - 1)), "{reason}");

    let forwarded = cluster.quorum(follower).propose_as_controller(term, new_topic("from-follower")).await;
    assert!(matches!(forwarded, Err(ProposeError::NotLeader { .. })), "{forwarded:?}");
    // Neither changed any member's image.
    let last = cluster.quorum(leader).propose(new_topic("after")).await.unwrap();
    for id in 1..=3 {
        cluster.quorum(id).wait_applied(last.offset, WAIT).await.unwrap();
    }
    cluster.all_hold(&["after".to_string(), "current-term".to_string()]).await;
    cluster.stop_all().await;
}

#[tokio::test]
async fn a_node_outside_the_voters_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let manager = LogManager::open(&dir.path().join("log"), LogOptions::default()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = QuorumConfig {
        node_id: 9,
        role: QuorumRole::Voter,
        voters: BTreeMap::from([(1, "127.0.0.1:1".to_string())]),
        state_dir: dir.path().join("quorum"),
        timing: QuorumTiming::default(),
        snapshot_every_entries: 1000,
    };
    let error = Quorum::start(config, &manager, listener).await.err().unwrap();
    assert_eq!(error.to_string(), "node 9 is not among the quorum's voters");
    manager.shutdown().unwrap();
}

#[tokio::test]
async fn an_observer_applies_every_decision_and_proposes_through_the_leader() {
    let mut cluster = Cluster::start().await;
    let leader = cluster.agreed_leader().await;
    let mut names = Vec::new();
    for i in 0..10 {
        let name = format!("before-{i}");
        cluster.quorum(leader).propose(new_topic(&name)).await.unwrap();
        names.push(name);
    }
    // Joins after a snapshot was taken (every 8 entries): it gets the snapshot, then the log.
    let observer = 7;
    cluster.start_member(observer, TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    cluster.all_hold(&names).await;
    cluster.quorum(observer).propose(new_topic("from-observer")).await.unwrap();
    names.push("from-observer".to_string());
    cluster.all_hold(&names).await;
    let described = cluster.quorum(leader).describe().await.unwrap();
    assert_eq!(described.voters.iter().map(|v| v.id).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(described.observers.iter().map(|v| v.id).collect::<Vec<_>>(), [observer]);

    // It never votes: with the leader gone the voters elect another, which it follows.
    cluster.stop_member(leader).await;
    let successor = cluster.agreed_leader().await;
    assert_ne!(successor, observer);
    cluster.quorum(observer).propose(new_topic("after-failover")).await.unwrap();
    names.push("after-failover".to_string());
    cluster.all_hold(&names).await;

    // Back at another address, it is replicated to there.
    cluster.stop_member(observer).await;
    cluster.quorum(successor).propose(new_topic("while-away")).await.unwrap();
    names.push("while-away".to_string());
    cluster.start_member(observer, TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    cluster.all_hold(&names).await;
    cluster.stop_all().await;
}

#[tokio::test]
async fn a_voter_cannot_observe() {
    let dir = tempfile::tempdir().unwrap();
    let manager = LogManager::open(&dir.path().join("log"), LogOptions::default()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = QuorumConfig {
        node_id: 1,
        role: QuorumRole::Observer { address: listener.local_addr().unwrap().to_string() },
        voters: BTreeMap::from([(1, "127.0.0.1:1".to_string())]),
        state_dir: dir.path().join("quorum"),
        timing: QuorumTiming::default(),
        snapshot_every_entries: 1000,
    };
    let error = Quorum::start(config, &manager, listener).await.err().unwrap();
    assert_eq!(error.to_string(), "node 1 is among the quorum's voters, so it cannot only observe the quorum");
    manager.shutdown().unwrap();
}
