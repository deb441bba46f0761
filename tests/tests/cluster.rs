//! A cluster of three `strata` processes on loopback ports (issue 13): one metadata quorum, every
//! broker telling clients the same brokers, controller, cluster id and partition leaders, and
//! DescribeQuorum answered by the leader;
//! partitions spread over the brokers and reached by librdkafka at their leaders, a broker that
//! does not lead a partition answering NOT_LEADER_OR_FOLLOWER; a consumer group coordinated by
//! the broker holding its `__consumer_offsets` partition; a broker that stops heartbeating fenced
//! (its single-replica partitions leaderless, those with an in-sync replica elsewhere led there)
//! until it comes back with its data, one that stops cleanly fenced
//! at once by its controlled shutdown; producer ids unique across brokers; and the controller
//! failing over to another broker while topics can still be created, and a controller woken from
//! a pause changing nothing of what its successor decided; a broker killed and
//! restarted at once registering again once its previous run is fenced; a broker that does not
//! lead a partition naming its leader, epoch and endpoint in Produce and Fetch answers (KIP-951).
//! Separate processes work too: three controller-only nodes and two broker-only ones (observers
//! of the quorum) serve one cluster, and survive the active controller's death.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_protocol::messages::MetadataResponse;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions as ElectTopicPartitions;
use kafka_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use kafka_protocol::messages::{
    DescribeQuorumRequest, ElectLeadersRequest, FindCoordinatorRequest, GroupId, HeartbeatRequest,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use strata_testkit::batches::Batch;
use strata_testkit::codes;
use strata_testkit::raw::RawConn;
use strata_testkit::requests;
use strata_tests::cluster::{Cluster, TEST_SESSION_TIMEOUT_MS, eventually};
use strata_tests::{clients, data};

const ELECTION_NOT_NEEDED: i16 = kafka_protocol::ResponseError::ElectionNotNeeded.code();

/// How long a change may take to reach every broker (fencing takes the session timeout).
const CONVERGE: Duration = Duration::from_secs(30);

fn metadata(bootstrap: &str, topics: Option<&[&str]>) -> MetadataResponse {
    requests::metadata(&mut RawConn::connect(bootstrap), topics, false)
}

fn bootstrap_of(cluster: &Cluster, node: i32) -> String {
    cluster.brokers[usize::try_from(node - 1).expect("node ids start at 1")].bootstrap().to_string()
}

fn broker_ids(response: &MetadataResponse) -> BTreeSet<i32> {
    response.brokers.iter().map(|b| b.node_id.0).collect()
}

/// Each partition's (leader, leader epoch), by partition index.
fn leaders(response: &MetadataResponse, topic: &str) -> Vec<(i32, i32)> {
    let found = response.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic));
    let mut partitions: Vec<_> = found
        .map(|t| t.partitions.iter().map(|p| (p.partition_index, p.leader_id.0, p.leader_epoch)).collect())
        .unwrap_or_default();
    partitions.sort();
    partitions.into_iter().map(|(_, leader, epoch)| (leader, epoch)).collect()
}

#[test]
fn three_brokers_serve_one_cluster() {
    let mut cluster = Cluster::start(3, &[]);
    let bootstrap = cluster.bootstrap();

    // Every broker tells the same story: three brokers, one controller, one cluster id.
    let views: Vec<MetadataResponse> = cluster.brokers.iter().map(|b| metadata(b.bootstrap(), None)).collect();
    let controller = views[0].controller_id.0;
    assert!((1..=3).contains(&controller), "controller {controller}");
    for view in &views {
        assert_eq!(broker_ids(view), BTreeSet::from([1, 2, 3]));
        assert_eq!(view.controller_id.0, controller);
        assert_eq!(view.cluster_id, views[0].cluster_id);
    }
    for broker in &cluster.brokers {
        let dir = broker.data_dir().join("meta.properties");
        let meta = std::fs::read_to_string(&dir).expect("meta.properties");
        let id = views[0].cluster_id.as_ref().expect("cluster id").to_string();
        assert!(meta.contains(&format!("cluster.id={id}")), "{}: {meta}", dir.display());
    }

    // DescribeQuorum at a broker that does not lead is answered by the leader: three voters, all
    // holding the log the leader has committed.
    let follower = if controller == 1 { 2 } else { 1 };
    let quorum = describe_quorum(cluster.node(follower).bootstrap());
    let log = &quorum.topics[0].partitions[0];
    assert_eq!((log.error_code, log.leader_id.0), (codes::NONE, controller));
    assert!(log.leader_epoch >= 1 && log.high_watermark > 0, "{log:?}");
    let voters: BTreeSet<i32> = log.current_voters.iter().map(|v| v.replica_id.0).collect();
    assert_eq!(voters, BTreeSet::from([1, 2, 3]));
    assert!(log.current_voters.iter().all(|v| v.log_end_offset > 0), "{:?}", log.current_voters);
    assert_eq!(quorum.nodes.len(), 3, "each voter's controller listener");
    let wrong = DescribeQuorumRequest::default()
        .with_topics(vec![TopicData::default().with_topic_name(requests::topic_name("spread"))]);
    let refused = RawConn::connect(cluster.node(follower).bootstrap()).request(2, &wrong);
    assert_eq!(refused.error_code, codes::UNKNOWN_TOPIC_OR_PARTITION);

    // A topic created through broker 1 is spread over all three and known to each.
    clients::create_topic(cluster.node(1).bootstrap(), "spread", 6);
    let placed = eventually(CONVERGE, "broker 3 knows topic 'spread'", || {
        let found = leaders(&metadata(cluster.node(3).bootstrap(), Some(&["spread"])), "spread");
        (found.len() == 6).then_some(found)
    });
    let leading: BTreeSet<i32> = placed.iter().map(|(leader, _)| *leader).collect();
    assert_eq!(leading, BTreeSet::from([1, 2, 3]), "six partitions over three brokers: {placed:?}");

    // librdkafka finds each partition's leader: everything produced is consumed back in order.
    let messages = data::generate("cluster", 600, 6);
    let offsets = clients::produce_all(&bootstrap, "spread", &messages, &[("acks", "all")]);
    let consumed = clients::consume_all(&bootstrap, "spread", 6);
    data::assert_same(&messages, &consumed, Some(&offsets));

    // A broker that does not lead a partition says so.
    let (partition, (leader, _)) = (0..).zip(&placed).next().expect("a partition");
    let other = if *leader == 1 { 2 } else { 1 };
    let mut conn = RawConn::connect(cluster.node(other).bootstrap());
    let produced = requests::produce(&mut conn, "spread", partition, Batch::new().numbered(1, None, 0).encode());
    assert_eq!(produced.error_code, codes::NOT_LEADER_OR_FOLLOWER, "produce to broker {other}");
    let fetched = requests::fetch(&mut conn, "spread", partition, 0);
    assert_eq!(fetched.error_code, codes::NOT_LEADER_OR_FOLLOWER, "fetch from broker {other}");

    // Replicas go to distinct brokers, all in sync from the start (see tests/replication.rs for
    // what they replicate). A replication factor above the live brokers is refused.
    let mut conn = RawConn::connect(cluster.node(2).bootstrap());
    let replicated = |name: &str, factor: i16| {
        let mut request = requests::create_topics_request(name, 3);
        request.topics[0].replication_factor = factor;
        request
    };
    let created = conn.request(5, &replicated("replicated", 3));
    assert_eq!(created.topics[0].error_code, codes::NONE, "{:?}", created.topics[0].error_message);
    let view = eventually(CONVERGE, "the replicated topic is known", || {
        let view = metadata(cluster.node(2).bootstrap(), Some(&["replicated"]));
        (leaders(&view, "replicated").len() == 3).then_some(view)
    });
    for partition in &view.topics[0].partitions {
        let replicas: BTreeSet<i32> = partition.replica_nodes.iter().map(|b| b.0).collect();
        assert_eq!(replicas, BTreeSet::from([1, 2, 3]));
        assert_eq!(partition.isr_nodes.iter().map(|b| b.0).collect::<BTreeSet<i32>>(), replicas);
    }
    let refused = conn.request(5, &replicated("too-replicated", 4));
    assert_eq!(refused.topics[0].error_code, codes::INVALID_REPLICATION_FACTOR);

    // Group requests go to the group's coordinator; another broker answers NOT_COORDINATOR.
    let found = RawConn::connect(cluster.node(1).bootstrap())
        .request(3, &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("cluster-group")));
    assert_eq!(found.error_code, codes::NONE);
    let coordinator = found.node_id.0;
    let elsewhere = if coordinator == 1 { 2 } else { 1 };
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("cluster-group")))
        .with_generation_id(1)
        .with_member_id(StrBytes::from_static_str("nobody"));
    let misrouted = RawConn::connect(cluster.node(elsewhere).bootstrap()).request(4, &heartbeat);
    assert_eq!(misrouted.error_code, codes::NOT_COORDINATOR, "heartbeat at broker {elsewhere}");
    let routed = RawConn::connect(cluster.node(coordinator).bootstrap()).request(4, &heartbeat);
    assert_ne!(routed.error_code, codes::NOT_COORDINATOR, "heartbeat at the coordinator {coordinator}");

    // Producer ids come from blocks the quorum hands out: brokers never give the same id twice,
    // and an idempotent producer's sequences are checked at each leader.
    let mut ids = BTreeSet::new();
    for broker in &cluster.brokers {
        for _ in 0..2 {
            let request =
                InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60_000);
            let response = RawConn::connect(broker.bootstrap()).request(4, &request);
            assert_eq!(response.error_code, codes::NONE, "InitProducerId from {}", broker.bootstrap());
            assert!(ids.insert(response.producer_id.0), "producer id {} given twice", response.producer_id.0);
        }
    }
    let idempotent = data::generate("idempotent", 300, 6);
    let at = clients::produce_all(&bootstrap, "spread", &idempotent, &[("enable.idempotence", "true")]);
    assert!(at.iter().all(|(_, offset)| *offset >= 100), "appended after the first 600: {at:?}");

    // A consumer group: FindCoordinator on any broker leads to the coordinator, which serves it.
    let mut config = clients::client_config(&bootstrap);
    config
        .set("group.id", "cluster-group")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000");
    let member: BaseConsumer = config.create().expect("group consumer");
    member.subscribe(&["spread"]).expect("subscribe");
    let mut seen = 0;
    let deadline = Instant::now() + clients::CLIENT_TIMEOUT;
    let total = messages.len() + idempotent.len();
    while seen < total {
        assert!(Instant::now() < deadline, "the group consumed {seen} of {total} messages");
        if let Some(message) = member.poll(Duration::from_millis(200)) {
            let message = message.expect("group consume");
            assert_eq!(message.topic(), "spread");
            seen += 1;
        }
    }
    member.commit_consumer_state(rdkafka::consumer::CommitMode::Sync).expect("commit the group's offsets");
    drop(member);
}

/// KIP-951: a Produce (v10+) or Fetch (v16+) refused with NOT_LEADER_OR_FOLLOWER names the
/// partition's current leader and leader epoch, and where that leader is reached.
#[test]
fn a_broker_that_does_not_lead_names_the_leader_and_its_endpoint() {
    let mut cluster = Cluster::start(3, &[]);
    requests::create_topic_ok(&mut RawConn::connect(cluster.node(1).bootstrap()), "hinted", 3);
    let view = eventually(CONVERGE, "broker 1 knows topic 'hinted'", || {
        let view = metadata(cluster.node(1).bootstrap(), Some(&["hinted"]));
        (leaders(&view, "hinted").len() == 3).then_some(view)
    });
    let (leader, epoch) = leaders(&view, "hinted")[0];
    assert!(leader >= 1, "partition 0 has a leader: {leader}");
    let topic_id = view.topics[0].topic_id;
    let other = if leader == 1 { 2 } else { 1 };
    eventually(CONVERGE, "the other broker knows the leader of 'hinted'-0", || {
        let seen = leaders(&metadata(cluster.node(other).bootstrap(), Some(&["hinted"])), "hinted");
        (seen.first() == Some(&(leader, epoch))).then_some(())
    });
    let leader_at = bootstrap_of(&cluster, leader);
    let (host, port) = leader_at.rsplit_once(':').expect("host:port");
    let port: i32 = port.parse().expect("a port");
    let mut conn = RawConn::connect(cluster.node(other).bootstrap());

    // Produce v12, the last that names topics: the refusal names the leader and its endpoint.
    let produce = requests::produce_request("hinted", 0, Batch::new().numbered(1, None, 0).encode(), -1);
    let produced = conn.request(12, &produce);
    let refused = &produced.responses[0].partition_responses[0];
    assert_eq!(refused.error_code, codes::NOT_LEADER_OR_FOLLOWER, "produce to broker {other}");
    assert_eq!((refused.current_leader.leader_id.0, refused.current_leader.leader_epoch), (leader, epoch));
    let named: Vec<(i32, &str, i32)> =
        produced.node_endpoints.iter().map(|e| (e.node_id.0, e.host.as_str(), e.port)).collect();
    assert_eq!(named, vec![(leader, host, port)], "produce names broker {leader} at {leader_at}");

    // Fetch v16, which names topics by id: the same.
    let mut fetch = requests::fetch_request("hinted", 0, 0, 1024 * 1024);
    fetch.topics[0].topic_id = topic_id;
    let fetched = conn.request(16, &fetch);
    let refused = &fetched.responses[0].partitions[0];
    assert_eq!(refused.error_code, codes::NOT_LEADER_OR_FOLLOWER, "fetch from broker {other}");
    assert_eq!((refused.current_leader.leader_id.0, refused.current_leader.leader_epoch), (leader, epoch));
    let named: Vec<(i32, &str, i32)> =
        fetched.node_endpoints.iter().map(|e| (e.node_id.0, e.host.as_str(), e.port)).collect();
    assert_eq!(named, vec![(leader, host, port)], "fetch names broker {leader} at {leader_at}");

    // The leader itself serves both, once it has taken up its epoch.
    let mut conn = RawConn::connect(&leader_at);
    let produced = eventually(CONVERGE, "the leader takes the produce", || {
        let produced = conn.request(12, &produce);
        (produced.responses[0].partition_responses[0].error_code == codes::NONE).then_some(produced)
    });
    assert!(produced.node_endpoints.is_empty(), "no hint where nothing was refused");
    let fetched = conn.request(16, &fetch);
    assert_eq!(fetched.responses[0].partitions[0].error_code, codes::NONE);
}

#[test]
fn a_silent_broker_is_fenced_and_comes_back_with_its_data() {
    let mut cluster = Cluster::start(3, &[]);
    let bootstrap = cluster.bootstrap();
    clients::create_topic(&bootstrap, "fenced", 6);
    let mut request = requests::create_topics_request("rescued", 6);
    request.topics[0].replication_factor = 2;
    let created = RawConn::connect(&bootstrap_of(&cluster, 1)).request(5, &request);
    assert_eq!(created.topics[0].error_code, codes::NONE);
    let messages = data::generate("fenced", 120, 6);
    let offsets = clients::produce_all(&bootstrap, "fenced", &messages, &[("acks", "all")]);
    let view = metadata(cluster.node(1).bootstrap(), Some(&["fenced"]));
    let controller = view.controller_id.0;
    let before = leaders(&view, "fenced");
    let victim =
        *before.iter().map(|(l, _)| l).find(|l| **l != controller).expect("a partition led off the controller");
    let survivor = if controller == victim { 1 } else { controller };

    // SIGKILL: no goodbye. After the session timeout the controller fences it.
    cluster.node(victim).kill();
    let killed_at = Instant::now();
    let fenced = eventually(CONVERGE, "the killed broker is fenced", || {
        let view = metadata(cluster.node(survivor).bootstrap(), Some(&["fenced"]));
        (!broker_ids(&view).contains(&victim)).then(|| leaders(&view, "fenced"))
    });
    eprintln!("broker {victim} fenced {:?} after the kill", killed_at.elapsed());
    assert!(killed_at.elapsed() >= Duration::from_millis(TEST_SESSION_TIMEOUT_MS / 2), "not before its session ended");
    for ((was, epoch), (now, new_epoch)) in before.iter().zip(&fenced) {
        if *was == victim {
            assert_eq!((*now, *new_epoch), (-1, epoch + 1), "its partitions have no leader, in a new epoch");
        } else {
            assert_eq!((now, new_epoch), (was, epoch), "other partitions are untouched");
        }
    }

    // Its partitions of 'rescued' (two replicas, both in sync) moved to their other replica in
    // the next epoch. An operator's elections: no preferred one is needed where the preferred
    // replica leads; an unclean one finds no live replica for the victim's single-replica
    // partitions of 'fenced'.
    let elect = |topic: &str, kind: i8, partitions: &[i32]| {
        let request = ElectLeadersRequest::default().with_election_type(kind).with_topic_partitions(Some(vec![
            ElectTopicPartitions::default()
                .with_topic(requests::topic_name(topic))
                .with_partitions(partitions.to_vec()),
        ]));
        let response = RawConn::connect(&bootstrap_of(&cluster, survivor)).request(2, &request);
        assert_eq!(response.error_code, codes::NONE);
        response.replica_election_results[0]
            .partition_result
            .iter()
            .map(|r| (r.partition_id, r.error_code))
            .collect::<Vec<_>>()
    };
    let rescued = eventually(CONVERGE, "the victim's partitions of 'rescued' fail over", || {
        let view = metadata(&bootstrap_of(&cluster, survivor), Some(&["rescued"]));
        let found = leaders(&view, "rescued");
        (found.len() == 6 && found.iter().all(|(l, _)| *l >= 1 && *l != victim)).then_some(found)
    });
    let preferred_leads: Vec<i32> = (0..).zip(&rescued).filter(|(_, (_, epoch))| *epoch == 0).map(|(p, _)| p).collect();
    assert!(preferred_leads.len() < 6, "the victim led some of 'rescued': {rescued:?}");
    let preferred = elect("rescued", 0, &preferred_leads);
    assert!(preferred.iter().all(|(_, code)| *code == ELECTION_NOT_NEEDED), "{preferred:?}");
    let orphaned: Vec<i32> = (0..).zip(&fenced).filter(|(_, (l, _))| *l == -1).map(|(p, _)| p).collect();
    let unclean = elect("fenced", 1, &orphaned);
    assert!(unclean.iter().all(|(_, code)| *code == codes::ELIGIBLE_LEADERS_NOT_AVAILABLE), "{unclean:?}");
    let unknown = elect("rescued", 1, &[99]);
    assert_eq!(unknown, vec![(99, codes::UNKNOWN_TOPIC_OR_PARTITION)]);

    // It comes back: unfenced, leading its partitions again, with everything it had.
    cluster.node(victim).restart_on_same_port();
    let back = eventually(CONVERGE, "the broker leads its partitions again", || {
        let view = metadata(cluster.node(survivor).bootstrap(), Some(&["fenced"]));
        let now = leaders(&view, "fenced");
        (broker_ids(&view).contains(&victim) && now.iter().all(|(l, _)| *l >= 0)).then_some(now)
    });
    for ((was, epoch), (now, new_epoch)) in before.iter().zip(&back) {
        assert_eq!(now, was, "the same leader");
        if *was == victim {
            // The next epoch, or a later one if a loaded machine delayed heartbeats once more.
            assert!(*new_epoch >= epoch + 2, "led again in a new epoch: {epoch} then {new_epoch}");
        }
    }
    let consumed = clients::consume_all(&bootstrap, "fenced", 6);
    data::assert_same(&messages, &consumed, Some(&offsets));
}

#[test]
fn a_clean_shutdown_hands_over_at_once() {
    // A session far longer than the test: only the controlled shutdown can fence the broker.
    let mut cluster = Cluster::start(3, &[("broker.session.timeout.ms", "600000")]);
    clients::create_topic(&cluster.bootstrap(), "handover", 6);
    let view = metadata(cluster.node(1).bootstrap(), Some(&["handover"]));
    let controller = view.controller_id.0;
    let before = leaders(&view, "handover");
    let leaving =
        *before.iter().map(|(l, _)| l).find(|l| **l != controller).expect("a partition led off the controller");
    cluster.node(leaving).stop_ok();
    let view = metadata(cluster.node(controller).bootstrap(), Some(&["handover"]));
    assert!(!broker_ids(&view).contains(&leaving), "fenced by its own shutdown: {:?}", broker_ids(&view));
    for ((was, epoch), (now, new_epoch)) in before.iter().zip(&leaders(&view, "handover")) {
        if *was == leaving {
            assert_eq!((*now, *new_epoch), (-1, epoch + 1));
        }
    }
}

#[test]
fn the_controller_fails_over_and_topics_can_still_be_created() {
    let mut cluster = Cluster::start(3, &[]);
    let controller = metadata(cluster.node(1).bootstrap(), None).controller_id.0;
    let survivor = if controller == 1 { 2 } else { 1 };
    cluster.node(controller).kill();
    let killed_at = Instant::now();
    let successor = eventually(CONVERGE, "a new controller", || {
        let id = metadata(cluster.node(survivor).bootstrap(), None).controller_id.0;
        (id >= 1 && id != controller).then_some(id)
    });
    eprintln!("controller {controller} replaced by {successor} {:?} after the kill", killed_at.elapsed());
    clients::create_topic(cluster.node(survivor).bootstrap(), "after-failover", 2);

    // The old controller comes back as a follower and learns what it missed.
    cluster.node(controller).restart_on_same_port();
    eventually(CONVERGE, "the returning broker knows the new topic", || {
        let view = metadata(cluster.node(controller).bootstrap(), Some(&["after-failover"]));
        let known = leaders(&view, "after-failover");
        (broker_ids(&view).len() == 3 && known.len() == 2).then_some(())
    });

    // Killed and started again at once, a broker's new run is refused while its previous run's
    // session lives (a duplicate registration), and registers once that run is fenced.
    let controller = metadata(cluster.node(successor).bootstrap(), None).controller_id.0;
    let restarted = if controller == 1 { 2 } else { 1 };
    cluster.node(restarted).kill();
    cluster.node(restarted).restart_on_same_port();
    eventually(CONVERGE, "the restarted broker is back and every partition has a leader", || {
        let view = metadata(cluster.node(restarted).bootstrap(), Some(&["after-failover"]));
        let known = leaders(&view, "after-failover");
        (broker_ids(&view).len() == 3 && known.len() == 2 && known.iter().all(|(l, _)| *l >= 0)).then_some(())
    });
    let log = cluster.node(restarted).stderr_log();
    let runs = log.matches("metadata quorum initialized").count() + log.matches("metadata quorum resumed").count();
    assert_eq!(log.matches("registered with the cluster").count(), runs, "one registration per run");
}

/// A controller frozen (SIGSTOP) past the session timeout wakes still believing it leads, with
/// no heartbeats since it froze: what it then works out (fencing every other broker, electing
/// itself) must not be committed by its successor. The brokers that stayed up keep leading their
/// partitions in the same epochs once it is back.
#[test]
fn a_controller_that_wakes_from_a_pause_changes_nothing() {
    let mut cluster = Cluster::start(3, &[]);
    let mut request = requests::create_topics_request("paused", 6);
    request.topics[0].replication_factor = 3;
    let created = RawConn::connect(&bootstrap_of(&cluster, 1)).request(5, &request);
    assert_eq!(created.topics[0].error_code, codes::NONE);
    let controller = eventually(CONVERGE, "a controller", || {
        Some(metadata(cluster.node(1).bootstrap(), None).controller_id.0).filter(|c| *c >= 1)
    });
    let survivor = if controller == 1 { 2 } else { 1 };

    cluster.node(controller).pause();
    let paused_at = Instant::now();
    let moved = eventually(CONVERGE, "another controller, and every partition led by a live broker", || {
        let view = metadata(&bootstrap_of(&cluster, survivor), Some(&["paused"]));
        let found = leaders(&view, "paused");
        let settled = view.controller_id.0 >= 1 && view.controller_id.0 != controller;
        (settled && found.len() == 6 && found.iter().all(|(l, _)| *l >= 1 && *l != controller)).then_some(found)
    });
    std::thread::sleep((Duration::from_millis(TEST_SESSION_TIMEOUT_MS) * 2).saturating_sub(paused_at.elapsed()));
    cluster.node(controller).resume();
    eventually(CONVERGE, "the paused broker is back", || {
        broker_ids(&metadata(&bootstrap_of(&cluster, survivor), None)).contains(&controller).then_some(())
    });
    // Its first ticks after waking are when it would act on its stale view.
    std::thread::sleep(Duration::from_secs(3));
    let after = leaders(&metadata(&bootstrap_of(&cluster, survivor), Some(&["paused"])), "paused");
    assert_eq!(after, moved, "the live brokers' partitions keep their leader and epoch");
    let log = cluster.node(controller).stderr_log();
    let (uncommitted, refused) = (
        log.matches("broker liveness change not committed").count(),
        log.matches("metadata decision of a deposed controller refused").count(),
    );
    eprintln!("the paused controller's liveness changes: {uncommitted} not committed, {refused} refused");
}

#[test]
fn a_creation_the_quorum_cannot_make_is_answered_when_the_request_times_out() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.node(2).kill();
    cluster.node(3).kill();
    let request = requests::create_topics_request("without-quorum", 1).with_timeout_ms(2_000);
    let sent = Instant::now();
    let answer = RawConn::connect(cluster.node(1).bootstrap()).request(5, &request);
    let took = sent.elapsed();
    assert_eq!(answer.topics[0].error_code, codes::REQUEST_TIMED_OUT, "{answer:?}");
    assert!((Duration::from_secs(2)..Duration::from_secs(5)).contains(&took), "answered after {took:?}");

    cluster.node(2).restart_on_same_port();
    clients::create_topic(cluster.node(1).bootstrap(), "with-quorum", 1);
}

/// DescribeQuorum of the metadata log at `bootstrap`, answered without a top-level error.
fn describe_quorum(bootstrap: &str) -> kafka_protocol::messages::DescribeQuorumResponse {
    let asked = DescribeQuorumRequest::default().with_topics(vec![
        TopicData::default()
            .with_topic_name(requests::topic_name("__cluster_metadata"))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
    ]);
    let quorum = RawConn::connect(bootstrap).request(2, &asked);
    assert_eq!(quorum.error_code, codes::NONE);
    quorum
}

/// The metadata log's partition as DescribeQuorum at `bootstrap` gives it.
fn metadata_log(bootstrap: &str) -> kafka_protocol::messages::describe_quorum_response::PartitionData {
    describe_quorum(bootstrap).topics[0].partitions[0].clone()
}

#[test]
fn separate_controller_and_broker_processes_serve_one_cluster() {
    // Nodes 1-3 are controller-only (the quorum's voters), 4 and 5 broker-only (observers).
    let mut cluster = Cluster::start_split(3, 2, &[]);
    let bootstrap = cluster.bootstrap();
    let broker = cluster.node(4).bootstrap().to_string();
    let view = metadata(&broker, None);
    assert_eq!(broker_ids(&view), BTreeSet::from([4, 5]), "controllers are not brokers");
    assert!([4, 5].contains(&view.controller_id.0), "clients are named a broker as the controller: {view:?}");
    let log = metadata_log(&broker);
    let ids = |replicas: &[kafka_protocol::messages::describe_quorum_response::ReplicaState]| {
        replicas.iter().map(|r| r.replica_id.0).collect::<BTreeSet<i32>>()
    };
    assert_eq!(ids(&log.current_voters), BTreeSet::from([1, 2, 3]));
    assert_eq!(ids(&log.observers), BTreeSet::from([4, 5]));
    let controller = log.leader_id.0;
    assert!((1..=3).contains(&controller), "a controller leads the quorum: {log:?}");

    // A topic replicated on both brokers, written and read back through librdkafka.
    let mut request = requests::create_topics_request("split", 4);
    request.topics[0].replication_factor = 2;
    let created = RawConn::connect(&broker).request(5, &request);
    assert_eq!(created.topics[0].error_code, codes::NONE, "{:?}", created.topics[0].error_message);
    let placed = eventually(CONVERGE, "both brokers know topic 'split'", || {
        let found = leaders(&metadata(cluster.node(5).bootstrap(), Some(&["split"])), "split");
        (found.len() == 4).then_some(found)
    });
    let leading: BTreeSet<i32> = placed.iter().map(|(leader, _)| *leader).collect();
    assert_eq!(leading, BTreeSet::from([4, 5]), "leaders spread over the brokers: {placed:?}");
    let messages = data::generate("split", 200, 4);
    let offsets = clients::produce_all(&bootstrap, "split", &messages, &[("acks", "all")]);
    data::assert_same(&messages, &clients::consume_all(&bootstrap, "split", 4), Some(&offsets));

    // The active controller dies: the other controllers elect one of themselves, the brokers
    // follow it, and topics can be created again.
    cluster.node(controller).kill();
    let killed_at = Instant::now();
    eventually(CONVERGE, "a topic created after the controller's death", || {
        let created = RawConn::connect(&broker).request(5, &requests::create_topics_request("after-failover", 1));
        let code = created.topics[0].error_code;
        (code == codes::NONE || code == codes::TOPIC_ALREADY_EXISTS).then_some(())
    });
    eprintln!("controller {controller} killed: a topic was created {:?} after", killed_at.elapsed());
    let successor = metadata_log(&broker).leader_id.0;
    assert!((1..=3).contains(&successor) && successor != controller, "controller {successor}");
    assert_eq!(broker_ids(&metadata(&broker, None)), BTreeSet::from([4, 5]), "no broker fenced");
    cluster.node(controller).restart_on_same_port();
    eventually(CONVERGE, "the old controller is a voter again, caught up", || {
        let log = metadata_log(&broker);
        let end = log.high_watermark;
        log.current_voters.iter().all(|v| v.log_end_offset >= end).then_some(())
    });

    // A broker restarted (stopped cleanly, back on another client port, so another quorum port)
    // is taken as an observer again, at its new address, and leads its partitions again.
    cluster.node(5).restart();
    let restarted = cluster.node(5).bootstrap().to_string();
    eventually(CONVERGE, "the restarted broker is back with the new topic", || {
        let view = metadata(&restarted, Some(&["split", "after-failover"]));
        let led = view.topics.iter().all(|t| t.partitions.iter().all(|p| p.leader_id.0 >= 4));
        (broker_ids(&view) == BTreeSet::from([4, 5]) && view.topics.len() == 2 && led).then_some(())
    });
    let observers: BTreeSet<i32> = metadata_log(&restarted).observers.iter().map(|o| o.replica_id.0).collect();
    assert_eq!(observers, BTreeSet::from([4, 5]));
}
