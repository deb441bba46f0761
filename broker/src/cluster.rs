//! This node as a member of a cluster (`controller.quorum.voters` naming other nodes, or one role
//! only): it runs its member of the metadata quorum (a voter on the controller listener when it is
//! a controller, an observer otherwise), registers itself and heartbeats to the active controller
//! when it is a broker, and, while it is the active controller, fences the brokers that stop
//! heartbeating (and unfences them when they come back) as `strata_cluster::liveness` decides.
//! The topic registry follows the quorum's image through [`follow_image`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use strata_cluster::liveness::{UNCLEAN_ELECTION, liveness_changes, shutdown_changes};
use strata_cluster::records::{BrokerRegistration, MetadataRecord};
use strata_quorum::leader_link::retry;
use strata_quorum::{Quorum, QuorumConfig, QuorumRole, QuorumTiming};
use tokio::task::JoinHandle;

use crate::config::BrokerConfig;
use crate::quorum_config::ClusterConfig;
use crate::state::{Advertised, Broker, now_ms};

/// How long a starting broker waits for the quorum to take its registration.
const REGISTRATION_WAIT: Duration = Duration::from_secs(60);
/// The least time one heartbeat may take before the next is due.
const HEARTBEAT_WAIT_MIN: Duration = Duration::from_secs(1);
/// How long a stopping broker waits for the quorum to commit its controlled shutdown.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot listen for the controller quorum on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error(transparent)]
    Quorum(#[from] strata_quorum::QuorumError),
    #[error("broker {node} was not registered with the cluster within {REGISTRATION_WAIT:?}: {reason}")]
    Registration { node: i32, reason: String },
}

/// The running membership: the quorum member and the task that heartbeats and, when this node
/// is the active controller, keeps broker liveness.
pub struct Membership {
    pub quorum: Arc<Quorum>,
    /// The id the cluster agreed on (the first member to propose one set it).
    pub cluster_id: String,
    liveness: JoinHandle<()>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership").field("node", &self.quorum.node_id()).finish_non_exhaustive()
    }
}

impl Membership {
    /// Starts the quorum member (a voter on a controller, an observer on a broker-only node) and
    /// the liveness task, and agrees on the cluster id (proposing `stored_cluster_id`, this
    /// directory's, or a new one). A broker (`advertised`, its client address, is `Some`) then
    /// registers and waits until the active controller has unfenced it; a controller-only node
    /// only keeps liveness while it is the active controller. Runs on the node's runtime.
    pub async fn join(
        cluster: &ClusterConfig,
        config: &BrokerConfig,
        log: &strata_log::LogManager,
        advertised: Option<&Advertised>,
        stored_cluster_id: Option<String>,
    ) -> Result<Membership, ClusterError> {
        let node = config.settings.node_id;
        let (listener, role) = match (&cluster.controller_bind, advertised) {
            (Some(address), _) => (bind(address).await?, QuorumRole::Voter),
            // A broker-only node: the leader replicates the log to it on a port of its own
            // beside the client listener.
            (None, Some(advertised)) => {
                let host = config.listen.rsplit_once(':').map_or(config.listen.as_str(), |(host, _)| host);
                let listener = bind(&format!("{host}:0")).await?;
                let port =
                    listener.local_addr().map_err(|source| ClusterError::Listen { address: host.into(), source })?;
                let address = format_address(&advertised.host, port.port());
                (listener, QuorumRole::Observer { address })
            }
            (None, None) => {
                return Err(ClusterError::Registration { node, reason: "neither broker nor controller".into() });
            }
        };
        let voters = cluster
            .voters
            .iter()
            .filter_map(|v| u64::try_from(v.id).ok().map(|id| (id, format_address(&v.host, v.port))))
            .collect();
        let quorum_config = QuorumConfig {
            node_id: u64::try_from(node).unwrap_or_default(),
            role,
            voters,
            state_dir: config.data_dir.join("quorum"),
            timing: QuorumTiming::default(),
            snapshot_every_entries: 20_000,
        };
        let quorum = Arc::new(Quorum::start(quorum_config, log, listener).await?);
        let registered_flag = Arc::new(AtomicBool::new(false));
        let liveness = tokio::spawn(keep_liveness(
            Arc::clone(&quorum),
            node,
            Arc::clone(&registered_flag),
            Duration::from_millis(u64::try_from(config.settings.broker_heartbeat_interval_ms).unwrap_or(2000)),
            config.settings.broker_session_timeout_ms,
            config.value(UNCLEAN_ELECTION).is_some_and(|(value, _)| value.eq_ignore_ascii_case("true")),
        ));
        let proposed = stored_cluster_id.unwrap_or_else(crate::meta_properties::random_uuid);
        let deadline = Instant::now() + REGISTRATION_WAIT;
        let cluster_id = retry(deadline, || agree_on_cluster_id(&quorum, proposed.clone()))
            .await
            .map_err(|error| ClusterError::Registration { node, reason: error.to_string() })?;
        let Some(advertised) = advertised else {
            tracing::info!(node, "controller-only node: serving the metadata quorum");
            return Ok(Membership { quorum, cluster_id, liveness });
        };
        let registration = BrokerRegistration {
            broker_id: node,
            incarnation_id: uuid::Uuid::new_v4(),
            host: advertised.host.clone(),
            port: advertised.port,
            rack: config.settings.rack(),
            fenced: true,
        };
        // A registration the quorum refuses (another live broker holds this node.id) is tried
        // again for two sessions: long enough for this broker's own previous run, killed without
        // a controlled shutdown, to be fenced.
        let session = Duration::from_millis(u64::try_from(config.settings.broker_session_timeout_ms).unwrap_or(9000));
        let duplicate_deadline = Instant::now() + 2 * session + Duration::from_secs(2);
        let registered = async {
            let record = MetadataRecord::RegisterBroker(registration.clone());
            let applied = loop {
                match retry(deadline, || quorum.propose(vec![record.clone()])).await {
                    Err(strata_quorum::ProposeError::Refused { reason, .. }) if Instant::now() < duplicate_deadline => {
                        tracing::info!(node, %reason, "registration refused; trying again");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    outcome => break outcome?,
                }
            };
            quorum.wait_applied(applied.offset, REGISTRATION_WAIT).await?;
            // Only this incarnation heartbeats from here on: a refused one never does, so a
            // duplicate node.id cannot keep the other broker's session alive.
            registered_flag.store(true, Ordering::Release);
            let mut view = quorum.view();
            view.wait_for(|v| {
                v.image.broker(node).is_some_and(|b| b.incarnation_id == registration.incarnation_id && !b.fenced)
            })
            .await
            .map_err(|_| strata_quorum::ProposeError::Stopped("the quorum stopped".into()))?;
            Ok::<_, strata_quorum::ProposeError>(())
        };
        match tokio::time::timeout(REGISTRATION_WAIT, registered).await {
            Ok(Ok(())) => tracing::info!(node, "registered with the cluster"),
            Ok(Err(error)) => return Err(ClusterError::Registration { node, reason: error.to_string() }),
            Err(_) => return Err(ClusterError::Registration { node, reason: "not unfenced in time".into() }),
        }
        Ok(Membership { quorum, cluster_id, liveness })
    }

    /// Stops heartbeating, commits this broker's controlled shutdown (fenced, its partitions'
    /// leadership moved or unset, so clients stop sending it requests at once rather than after
    /// the session timeout), and leaves the quorum.
    pub async fn leave(&self, node: i32) {
        self.liveness.abort();
        let image = Arc::clone(&self.quorum.view().borrow().image);
        let changes = shutdown_changes(&image, node);
        if !changes.is_empty() {
            match tokio::time::timeout(SHUTDOWN_WAIT, self.quorum.propose(changes)).await {
                Ok(Ok(_)) => tracing::info!(node, "controlled shutdown committed"),
                Ok(Err(error)) => tracing::warn!(node, %error, "controlled shutdown not committed"),
                Err(_) => tracing::warn!(node, "controlled shutdown not committed in time"),
            }
        }
        self.quorum.stop().await;
    }
}

async fn bind(address: &str) -> Result<tokio::net::TcpListener, ClusterError> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ClusterError::Listen { address: address.to_string(), source })
}

/// Proposes `proposed` as the cluster id; the first proposal the quorum commits wins, and every
/// member learns the winner.
async fn agree_on_cluster_id(quorum: &Quorum, proposed: String) -> Result<String, strata_quorum::ProposeError> {
    let offset = match quorum.propose(vec![MetadataRecord::ClusterId { cluster_id: proposed }]).await {
        Ok(applied) => applied.offset,
        Err(strata_quorum::ProposeError::Refused { offset, .. }) => offset,
        Err(error) => return Err(error),
    };
    let view = quorum.wait_applied(offset, REGISTRATION_WAIT).await?;
    view.image
        .cluster_id()
        .map(str::to_string)
        .ok_or_else(|| strata_quorum::ProposeError::Stopped("no cluster id".into()))
}

pub fn format_address(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Heartbeats every `interval` once `registered` is set; as the active controller, fences and unfences brokers by their
/// heartbeats (`strata_cluster::liveness`, with `unclean_default` as the broker's
/// `unclean.leader.election.enable`). A new active controller gives every broker a full
/// session before fencing it, except its predecessor's, whose session runs from when it last took
/// this broker's heartbeat.
async fn keep_liveness(
    quorum: Arc<Quorum>,
    node: i32,
    registered: Arc<AtomicBool>,
    interval: Duration,
    session_timeout_ms: i64,
    unclean_default: bool,
) {
    let base = Instant::now();
    let ms = |at: Instant| i64::try_from(at.saturating_duration_since(base).as_millis()).unwrap_or(i64::MAX);
    let mut leading_since: Option<Instant> = None;
    // When this controller first saw each fenced broker fenced: only a heartbeat after that
    // unfences it (a broker that fenced itself in a controlled shutdown heartbeat just before).
    let mut fenced_since: HashMap<i32, Instant> = HashMap::new();
    // The last active controller that took this broker's heartbeat while this node followed, and
    // when.
    let mut last_leader: Option<(i32, Instant)> = None;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut heartbeat_taken = false;
        if registered.load(Ordering::Acquire) {
            match tokio::time::timeout(interval.max(HEARTBEAT_WAIT_MIN), quorum.heartbeat(node)).await {
                Ok(Ok(())) => heartbeat_taken = true,
                Ok(Err(error)) => tracing::debug!(node, %error, "heartbeat not taken"),
                Err(_) => tracing::debug!(node, "heartbeat not answered"),
            }
        }
        let Some(term) = quorum.leading_term() else {
            if leading_since.take().is_some() {
                tracing::info!(node, "no longer the active controller");
            }
            if heartbeat_taken && let Some(leader) = quorum.leader().and_then(|l| i32::try_from(l).ok()) {
                last_leader = Some((leader, Instant::now()));
            }
            continue;
        };
        let since = *leading_since.get_or_insert_with(|| {
            tracing::info!(node, term, "this node is the active controller");
            quorum.forget_heartbeats();
            Instant::now()
        });
        let image = Arc::clone(&quorum.view().borrow().image);
        let heard = quorum.heartbeats();
        let now = Instant::now();
        fenced_since.retain(|id, _| image.broker(*id).is_some_and(|b| b.fenced));
        let mut last_heard = BTreeMap::new();
        for broker in image.brokers() {
            // The controller this one succeeded is counted from when it last took a heartbeat:
            // the broker beside it has most likely gone with it (and a live one heartbeats
            // many times before that session ends).
            let floor = match last_leader {
                Some((leader, seen)) if leader == broker.broker_id && leader != node => seen.min(since),
                _ => since,
            };
            let at = heard.get(&broker.broker_id).copied().unwrap_or(floor).max(floor);
            if broker.fenced {
                let fenced_at = *fenced_since.entry(broker.broker_id).or_insert(now);
                if at <= fenced_at {
                    continue; // not heard from since it was fenced: stays fenced
                }
            }
            last_heard.insert(broker.broker_id, ms(at));
        }
        let changes = liveness_changes(&image, &last_heard, ms(now), session_timeout_ms, unclean_default);
        if changes.is_empty() {
            continue;
        }
        let fenced: Vec<i32> = changes
            .iter()
            .filter_map(|r| match r {
                MetadataRecord::BrokerFencing { broker_id, fenced: true } => Some(*broker_id),
                _ => None,
            })
            .collect();
        if !fenced.is_empty() {
            tracing::warn!(?fenced, "fencing brokers that stopped heartbeating");
        }
        // Bounded: a controller cut off from the quorum would wait for this until it is healed,
        // and must meanwhile notice that it no longer leads. The changes are worked out from the
        // image afresh on the next tick, so one committed late is not proposed twice. They are
        // bound to this term: a controller that was paused or cut off may still believe it leads
        // for a moment after waking, with an image and heartbeats of the past.
        let session = Duration::from_millis(u64::try_from(session_timeout_ms).unwrap_or(u64::MAX));
        match tokio::time::timeout(session, quorum.propose_as_controller(term, changes)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "broker liveness change not committed"),
            Err(_) => tracing::warn!(?session, "broker liveness change not committed within a session"),
        }
    }
}

/// Keeps the topic registry in step with the quorum's image: after every change applied (this
/// member's or another's), the registry serves what the image holds, each replica takes the
/// role (leader or follower) the image gives it (`crate::replication`), and the group
/// coordinator follows the leadership of `__consumer_offsets` (`crate::coordinator_owner`).
pub async fn follow_image(broker: Arc<Broker>) {
    let Some(membership) = broker.cluster.as_ref() else { return };
    let mut view = membership.quorum.view();
    let runtime = tokio::runtime::Handle::current();
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) && view.changed().await.is_err() {
            return;
        }
        let passing = Arc::clone(&broker);
        let runtime = runtime.clone();
        let pass = tokio::task::spawn_blocking(move || {
            let broker = passing;
            let reconciled = broker.topics.reconcile(&broker.log, &broker.config, now_ms());
            let _on_runtime = runtime.enter();
            broker.replication.sync(&broker);
            reconciled
        });
        match pass.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "the topic registry did not follow the metadata image"),
            Err(error) => tracing::error!(%error, "metadata reconcile task failed"),
        }
        crate::coordinator_owner::follow_leadership(&broker).await;
    }
}
