//! Several `strata` processes forming one cluster on loopback ports (or each in a network namespace
//! of its own, `crate::netns`, when a test must cut nodes off): node ids 1..=n, each with
//! its own data directory, a client listener on a free port and a controller listener on a port
//! chosen up front (the voters list names them all). Brokers start in parallel, since each waits
//! for the quorum before it listens.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::broker::{Broker, BrokerOptions};
use crate::netns::{CLIENT_PORT, CONTROLLER_PORT, Network};

/// A running cluster; `brokers[i]` is node `i + 1`.
pub struct Cluster {
    /// Every node's process (controller-only nodes too), by node id - 1.
    pub brokers: Vec<Broker>,
    /// How many of the first nodes are controller-only (they serve no clients).
    controllers_only: usize,
    /// The namespaces the brokers run in, if any; dropped after them.
    network: Option<Network>,
    // One cluster at a time per test binary: three brokers' heartbeats and elections on a loaded
    // two-core machine are what the timeouts are set for, not twelve.
    _one_at_a_time: MutexGuard<'static, ()>,
}

/// Where a node runs: its namespace (none on loopback), its `process.roles` and its listeners'
/// addresses (a controller-only node has no client listener, a broker-only node no controller
/// listener).
struct Place {
    namespace: Option<String>,
    roles: &'static str,
    client: Option<String>,
    controller: Option<String>,
}

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Fast liveness for tests: heartbeats every 200 ms, fenced after 3 s of silence.
pub const TEST_SESSION_TIMEOUT_MS: u64 = 3000;

/// Each partition of `topic` as broker `bootstrap` (one address) tells it: (leader, leader epoch,
/// in-sync replicas), by partition index.
pub fn partition_states(bootstrap: &str, topic: &str) -> Vec<(i32, i32, std::collections::BTreeSet<i32>)> {
    let response = strata_testkit::requests::metadata(
        &mut strata_testkit::raw::RawConn::connect(bootstrap),
        Some(&[topic]),
        false,
    );
    let mut found: Vec<_> = response
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| (p.partition_index, p.leader_id.0, p.leader_epoch, p.isr_nodes.iter().map(|b| b.0).collect()))
        .collect();
    found.sort_by_key(|p| p.0);
    found.into_iter().map(|(_, leader, epoch, isr)| (leader, epoch, isr)).collect()
}

/// Creates `topic` on a three-broker cluster with three partitions of three replicas each and
/// `min.insync.replicas` 2 (the cluster's default), and waits up to `within` until one partition
/// is led by each broker and every replica is in sync.
pub fn create_spread_topic(bootstrap: &str, topic: &str, within: std::time::Duration) {
    let first = bootstrap.split(',').next().unwrap_or(bootstrap);
    let mut request = strata_testkit::requests::create_topics_request(topic, 3);
    request.topics[0].replication_factor = 3;
    let created = strata_testkit::raw::RawConn::connect(first).request(5, &request);
    assert_eq!(created.topics[0].error_code, strata_testkit::codes::NONE, "{:?}", created.topics[0].error_message);
    eventually(within, "one leader per broker, every replica in sync", || {
        let states = partition_states(first, topic);
        let leaders: std::collections::BTreeSet<i32> = states.iter().map(|(leader, _, _)| *leader).collect();
        let all_in_sync = states.iter().all(|(_, _, isr)| isr.len() == 3);
        (states.len() == 3 && leaders == std::collections::BTreeSet::from([1, 2, 3]) && all_in_sync).then_some(())
    });
}

/// Polls `check` every 50 ms until it gives a value, or fails after `within` saying `what`: how
/// cluster tests wait for a change to reach every broker.
pub fn eventually<T>(within: std::time::Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "not within {within:?}: {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

impl Cluster {
    /// Starts `n` brokers forming one cluster, with `extra` settings on each.
    pub fn start(n: usize, extra: &[(&str, &str)]) -> Cluster {
        Cluster::start_with(n, extra, |_| Vec::new())
    }

    /// [`Cluster::start`], with settings of its own for each node (given its id) besides.
    pub fn start_with(n: usize, extra: &[(&str, &str)], own: impl Fn(i32) -> Vec<(String, String)>) -> Cluster {
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let nodes = (0..n)
            .map(|_| Place {
                namespace: None,
                roles: "broker,controller",
                client: Some("127.0.0.1:0".into()),
                controller: Some(format!("127.0.0.1:{}", free_port())),
            })
            .collect();
        Cluster::launch(nodes, extra, own, None, guard)
    }

    /// A cluster of separate processes, as Kafka's production layout: nodes 1..=`controllers`
    /// are controller-only (`process.roles=controller`, the quorum's voters) and the next
    /// `brokers` nodes broker-only (`process.roles=broker`).
    pub fn start_split(controllers: usize, brokers: usize, extra: &[(&str, &str)]) -> Cluster {
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let controller = |_| Place {
            namespace: None,
            roles: "controller",
            client: None,
            controller: Some(format!("127.0.0.1:{}", free_port())),
        };
        let broker =
            |_| Place { namespace: None, roles: "broker", client: Some("127.0.0.1:0".into()), controller: None };
        let nodes = (0..controllers).map(controller).chain((0..brokers).map(broker)).collect();
        Cluster::launch(nodes, extra, |_| Vec::new(), None, guard)
    }

    /// [`Cluster::start`] with each node in a network namespace of its own on a [`Network`] the
    /// cluster creates (and removes when dropped), so that a test can cut nodes off.
    pub fn start_in_network(n: usize, extra: &[(&str, &str)]) -> Cluster {
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let network = Network::create(n);
        let nodes = (1..=n)
            .map(|node| Place {
                namespace: Some(network.namespace(node)),
                roles: "broker,controller",
                client: Some(format!("{}:{CLIENT_PORT}", network.host(node))),
                controller: Some(format!("{}:{CONTROLLER_PORT}", network.host(node))),
            })
            .collect();
        Cluster::launch(nodes, extra, |_| Vec::new(), Some(network), guard)
    }

    fn launch(
        nodes: Vec<Place>,
        extra: &[(&str, &str)],
        own: impl Fn(i32) -> Vec<(String, String)>,
        network: Option<Network>,
        guard: MutexGuard<'static, ()>,
    ) -> Cluster {
        let voters = (1..)
            .zip(&nodes)
            .filter_map(|(id, place)| place.controller.as_ref().map(|address| format!("{id}@{address}")))
            .collect::<Vec<_>>()
            .join(",");
        let controllers_only = nodes.iter().take_while(|place| place.client.is_none()).count();
        let starts: Vec<_> = (1..)
            .zip(nodes)
            .map(|(id, place)| {
                let listeners = [("PLAINTEXT", &place.client), ("CONTROLLER", &place.controller)]
                    .iter()
                    .filter_map(|(name, address)| address.as_ref().map(|address| format!("{name}://{address}")))
                    .collect::<Vec<_>>()
                    .join(",");
                let mut options = BrokerOptions::default()
                    .with("node.id", &id.to_string())
                    .with("process.roles", place.roles)
                    .with("listeners", &listeners)
                    .with("controller.listener.names", "CONTROLLER")
                    .with("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT")
                    .with("controller.quorum.voters", &voters)
                    .with("broker.heartbeat.interval.ms", "200")
                    .with("broker.session.timeout.ms", &TEST_SESSION_TIMEOUT_MS.to_string());
                if let (Some(namespace), Some(client)) = (&place.namespace, &place.client) {
                    options = options.in_namespace(namespace, client);
                }
                for (key, value) in extra {
                    options = options.with(key, value);
                }
                for (key, value) in own(id) {
                    options = options.with(&key, &value);
                }
                std::thread::spawn(move || Broker::start(options))
            })
            .collect();
        let brokers: Vec<Broker> =
            starts.into_iter().map(|s| s.join().expect("a broker of the cluster started")).collect();
        let cluster = Cluster { brokers, controllers_only, network, _one_at_a_time: guard };
        cluster.wait_ready();
        cluster
    }

    /// Waits until every broker lists all the others as live and (with three or more, the
    /// internal topics' replication factor) the coordinators' internal topics have a leader for
    /// every partition: a test then starts from a settled cluster, as after Kafka's start-up.
    fn wait_ready(&self) {
        let n = self.brokers.len() - self.controllers_only;
        let internal: &[&str] = if n >= 3 { &["__consumer_offsets", "__transaction_state"] } else { &[] };
        for broker in &self.brokers[self.controllers_only..] {
            eventually(
                std::time::Duration::from_secs(60),
                "every broker is live and the coordinators' topics led",
                || {
                    let mut conn = strata_testkit::raw::RawConn::connect(broker.bootstrap());
                    let view = strata_testkit::requests::metadata(&mut conn, Some(internal), false);
                    let led = view.topics.iter().all(|t| {
                        t.error_code == 0 && !t.partitions.is_empty() && t.partitions.iter().all(|p| p.leader_id.0 >= 1)
                    });
                    (view.brokers.len() == n && view.topics.len() == internal.len() && led).then_some(())
                },
            );
        }
    }

    /// Cuts node `id` off from the others and from the test (see [`Network::cut_off`]).
    pub fn cut_off(&self, id: i32) {
        self.network().cut_off(usize::try_from(id).expect("node ids start at 1"));
    }

    /// Joins node `id` to the others again.
    pub fn heal(&self, id: i32) {
        self.network().heal(usize::try_from(id).expect("node ids start at 1"));
    }

    fn network(&self) -> &Network {
        self.network.as_ref().expect("a cluster started in a network (Cluster::start_in_network)")
    }

    /// Every broker's address, comma-separated, for clients (controller-only nodes serve none).
    pub fn bootstrap(&self) -> String {
        let brokers = &self.brokers[self.controllers_only..];
        brokers.iter().map(|b| b.bootstrap().to_string()).collect::<Vec<_>>().join(",")
    }

    /// Node `id` (1-based).
    pub fn node(&mut self, id: i32) -> &mut Broker {
        let index = usize::try_from(id - 1).expect("node ids start at 1");
        &mut self.brokers[index]
    }
}

/// A loopback port free at the time of asking, below Linux's ephemeral range (32768 and up) so
/// that no broker's client listener (bound to port 0) can take it before its controller binds it.
fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let spread = std::process::id().wrapping_mul(7919);
    for _ in 0..1000 {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (spread.wrapping_add(step.wrapping_mul(104_729)) % 12_000);
        let port = u16::try_from(port).expect("below 32000");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between 20000 and 32000");
}
