//! Replication across three `strata` processes (issue 14): followers copy their leaders' logs,
//! acks=all waits for every in-sync replica, and when a leader is SIGKILLed an in-sync follower
//! takes over with everything that was acknowledged (nothing lost, nothing twice, in order), and
//! the killed broker comes back, cuts whatever it had that the cluster does not, catches up and
//! rejoins the in-sync replicas. With fewer in-sync replicas than `min.insync.replicas`, acks=all
//! is refused with NOT_ENOUGH_REPLICAS and acks=1 still appends. A leader that dies holding
//! records its (frozen) follower never copied (acks=1), replaced by that follower, comes back as
//! a follower and cuts them: every replica ends with the new leader's log. A partition whose
//! in-sync replicas are all gone waits for one, unless `unclean.leader.election.enable` lets
//! the controller give it an out-of-sync replica (and lose what that one lacks). The group
//! coordinator moves with the leadership of its `__consumer_offsets` partition, with every commit,
//! and the transaction coordinator with its `__transaction_state` partition, with each producer.
//! Every broker checkpoints its high watermarks (`replication-offset-checkpoint`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;
use strata_testkit::batches::Batch;
use strata_testkit::codes;
use strata_testkit::raw::RawConn;
use strata_testkit::requests;
use strata_tests::cluster::{Cluster, eventually, partition_states};
use strata_tests::{clients, data};

/// How long a change may take to reach every broker (fencing takes the session timeout).
const CONVERGE: Duration = Duration::from_secs(40);

/// Lag allowed before a follower leaves the in-sync replicas, short for the tests.
const LAG_MAX_MS: &str = "3000";

/// Each partition's (leader, leader epoch, in-sync replicas) as the first broker of `bootstrap`
/// (one address, or a comma-separated list) tells it.
fn partitions(bootstrap: &str, topic: &str) -> Vec<(i32, i32, BTreeSet<i32>)> {
    partition_states(bootstrap.split(',').next().unwrap_or(bootstrap), topic)
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Creates `name` with `partitions` partitions, `factor` replicas and `min.insync.replicas`.
fn create(bootstrap: &str, name: &str, partitions: i32, factor: i16, min_insync: &str) {
    let mut request = requests::create_topics_request(name, partitions);
    request.topics[0].replication_factor = factor;
    request.topics[0].configs = vec![
        CreatableTopicConfig::default()
            .with_name(kafka_protocol::protocol::StrBytes::from_static_str("min.insync.replicas"))
            .with_value(Some(kafka_protocol::protocol::StrBytes::from_string(min_insync.to_string()))),
    ];
    let first = bootstrap.split(',').next().unwrap_or(bootstrap);
    let created = RawConn::connect(first).request(5, &request);
    assert_eq!(created.topics[0].error_code, codes::NONE, "{:?}", created.topics[0].error_message);
}

#[test]
fn acknowledged_writes_survive_the_leaders_death() {
    let mut cluster = Cluster::start(3, &[("replica.lag.time.max.ms", LAG_MAX_MS)]);
    let bootstrap = cluster.bootstrap();
    create(&bootstrap, "replicated", 3, 3, "2");
    let all = BTreeSet::from([1, 2, 3]);
    eventually(CONVERGE, "every broker knows the topic, all replicas in sync", || {
        let known = partitions(&bootstrap, "replicated");
        (known.len() == 3 && known.iter().all(|(l, _, isr)| *l >= 1 && *isr == all)).then_some(())
    });

    // Acknowledged with acks=all: every in-sync replica has these.
    let settings = [("acks", "all"), ("enable.idempotence", "true")];
    let first = data::generate("before", 600, 3);
    let first_offsets = clients::produce_all(&bootstrap, "replicated", &first, &settings);

    // SIGKILL the leader of partition 0: its partitions move to an in-sync follower.
    let before = partitions(&bootstrap, "replicated");
    let victim = before[0].0;
    let survivor = if victim == 1 { 2 } else { 1 };
    let survivor_bootstrap = cluster.node(survivor).bootstrap().to_string();
    cluster.node(victim).kill();
    let killed_at = Instant::now();
    // The new leader of partition 0 takes writes: measured from the kill to its first
    // acknowledged acks=all produce.
    let (leader, epoch) = eventually(CONVERGE, "a new leader of partition 0 accepts writes", || {
        let (leader, epoch, _) = partitions(&survivor_bootstrap, "replicated")[0].clone();
        if leader < 1 || leader == victim {
            return None;
        }
        let node = cluster.brokers[usize::try_from(leader - 1).expect("node id")].bootstrap().to_string();
        let batch = Batch::new().numbered(1, None, now_ms()).encode();
        let answer = requests::produce(&mut RawConn::connect(&node), "replicated", 0, batch);
        (answer.error_code == codes::NONE).then_some((leader, epoch))
    });
    eprintln!("leader {victim} killed: broker {leader} took writes in epoch {epoch} after {:?}", killed_at.elapsed());
    assert!(epoch > before[0].1, "a new leader epoch");

    // Nothing acknowledged is lost: the rest goes to the new leaders and all of it reads back
    // once, in order (the probe records of partition 0 aside).
    let second = data::generate("after!", 300, 3);
    let second_offsets = clients::produce_all(&survivor_bootstrap, "replicated", &second, &settings);
    let check = |consumed: Vec<data::Consumed>| {
        data::assert_same(&first, &tagged(&consumed, "before"), Some(&first_offsets));
        data::assert_same(&second, &tagged(&consumed, "after!"), Some(&second_offsets));
    };
    check(clients::consume_all(&survivor_bootstrap, "replicated", 3));

    // The killed broker returns, catches up and is in sync again everywhere.
    cluster.node(victim).restart_on_same_port();
    let back_at = Instant::now();
    eventually(CONVERGE, "the returning broker rejoins every in-sync set", || {
        let known = partitions(&survivor_bootstrap, "replicated");
        known.iter().all(|(l, _, isr)| *l >= 1 && *isr == all).then_some(())
    });
    eprintln!("broker {victim} back in every in-sync set {:?} after its restart", back_at.elapsed());
    // It holds the whole log: once it leads its preferred partitions again, everything reads back
    // from it.
    let elect =
        kafka_protocol::messages::ElectLeadersRequest::default().with_election_type(0).with_topic_partitions(None);
    let elected = RawConn::connect(&survivor_bootstrap).request(2, &elect);
    assert_eq!(elected.error_code, codes::NONE);
    eventually(CONVERGE, "preferred leaders lead again", || {
        let known = partitions(&survivor_bootstrap, "replicated");
        (known.iter().map(|(l, _, _)| *l).collect::<Vec<_>>() == before.iter().map(|(l, _, _)| *l).collect::<Vec<_>>())
            .then_some(())
    });
    check(clients::consume_all(&bootstrap, "replicated", 3));
}

/// The consumed messages of one generated set, by its `tag` header (the probes have none).
fn tagged(consumed: &[data::Consumed], tag: &str) -> Vec<data::Consumed> {
    let wanted = Some(tag.as_bytes().to_vec());
    consumed
        .iter()
        .filter(|c| c.headers.iter().any(|(name, value)| name == "tag" && *value == wanted))
        .cloned()
        .collect()
}

#[test]
fn too_few_in_sync_replicas_refuse_acks_all() {
    let mut cluster = Cluster::start(3, &[("replica.lag.time.max.ms", LAG_MAX_MS)]);
    let bootstrap = cluster.bootstrap();
    create(&bootstrap, "guarded", 1, 2, "2");
    let (leader, _, isr) = eventually(CONVERGE, "the topic is known", || partitions(&bootstrap, "guarded").pop());
    assert_eq!(isr.len(), 2);
    let follower = *isr.iter().find(|r| **r != leader).expect("a follower");
    let leader_bootstrap = cluster.node(leader).bootstrap().to_string();
    let mut conn = RawConn::connect(&leader_bootstrap);
    // Timestamped now: retention would delete records stamped 1970.
    let batch = || Batch::new().numbered(5, None, now_ms()).encode();
    eventually(CONVERGE, "the leader takes acks=all with both replicas in sync", || {
        (requests::produce(&mut conn, "guarded", 0, batch()).error_code == codes::NONE).then_some(())
    });

    // The follower dies: fenced, it leaves the in-sync replicas, and acks=all is refused.
    cluster.node(follower).kill();
    eventually(CONVERGE, "the follower leaves the in-sync replicas", || {
        let (_, _, isr) = partitions(&leader_bootstrap, "guarded").pop()?;
        (isr == BTreeSet::from([leader])).then_some(())
    });
    let refused = requests::produce(&mut conn, "guarded", 0, batch());
    assert_eq!(refused.error_code, codes::NOT_ENOUGH_REPLICAS, "{:?}", refused.error_message);
    let fetched = requests::fetch(&mut conn, "guarded", 0, 0);
    assert_eq!(
        (fetched.error_code, fetched.high_watermark),
        (codes::NONE, 5),
        "nothing appended for the refused batch"
    );
    let one = requests::produce_acks(&mut conn, "guarded", 0, batch(), 1);
    assert_eq!((one.error_code, one.base_offset), (codes::NONE, 5), "acks=1 does not need the follower");

    // It comes back, catches up and rejoins: acks=all is taken again.
    cluster.node(follower).restart_on_same_port();
    eventually(CONVERGE, "the follower rejoins the in-sync replicas", || {
        let (_, _, isr) = partitions(&leader_bootstrap, "guarded").pop()?;
        (isr.len() == 2).then_some(())
    });
    let taken = requests::produce(&mut conn, "guarded", 0, batch());
    assert_eq!((taken.error_code, taken.base_offset), (codes::NONE, 10));
}

#[test]
fn a_returning_leader_cuts_the_tail_its_successor_never_had() {
    let mut cluster = Cluster::start(3, &[("replica.lag.time.max.ms", "60000")]);
    let bootstrap = cluster.bootstrap();
    create(&bootstrap, "diverged", 1, 2, "1");
    let (leader, _, isr) = eventually(CONVERGE, "the topic is known", || partitions(&bootstrap, "diverged").pop());
    let follower = *isr.iter().find(|r| **r != leader).expect("a follower");
    let third = (1..=3).find(|n| *n != leader && *n != follower).expect("a third broker");
    let third_bootstrap = cluster.node(third).bootstrap().to_string();
    let leader_bootstrap = cluster.node(leader).bootstrap().to_string();
    let follower_bootstrap = cluster.node(follower).bootstrap().to_string();
    let batch = |tag: &str| {
        let now = now_ms();
        Batch::new().record(None, Some(tag.as_bytes()), now).record(None, Some(tag.as_bytes()), now).encode()
    };
    let mut conn = RawConn::connect(&leader_bootstrap);
    eventually(CONVERGE, "both replicas hold the first records", || {
        (requests::produce(&mut conn, "diverged", 0, batch("committed")).error_code == codes::NONE).then_some(())
    });

    // The follower freezes (SIGSTOP) and, once its last fetch has been answered, the leader takes
    // records only it holds (acks=1: the follower stays in sync, so the high watermark stays
    // below them), then dies.
    cluster.node(follower).pause();
    std::thread::sleep(Duration::from_millis(1500));
    let lost = requests::produce_acks(&mut conn, "diverged", 0, batch("lost"), 1);
    assert_eq!((lost.error_code, lost.base_offset), (codes::NONE, 2));
    cluster.node(leader).kill();

    // The follower wakes up and, in sync, leads in the next epoch once the old leader is fenced,
    // without the old leader's last records; it takes new ones at their offsets.
    cluster.node(follower).resume();
    let epoch = eventually(CONVERGE, "the follower leads", || {
        let (now, epoch, _) = partitions(&third_bootstrap, "diverged").pop()?;
        (now == follower).then_some(epoch)
    });
    let mut conn = RawConn::connect(&follower_bootstrap);
    let taken = eventually(CONVERGE, "the new leader takes writes", || {
        let answer = requests::produce(&mut conn, "diverged", 0, batch("successor"));
        (answer.error_code == codes::NONE).then_some(answer)
    });
    assert_eq!(taken.base_offset, 2, "written over the tail the new leader never had (epoch {epoch})");

    // The old leader returns as a follower, cuts its tail, copies the new leader's records and
    // leads again after a preferred election: its log is the new leader's.
    cluster.node(leader).restart_on_same_port();
    eventually(CONVERGE, "the old leader is in sync again", || {
        let (_, _, isr) = partitions(&third_bootstrap, "diverged").pop()?;
        (isr.len() == 2).then_some(())
    });
    let elect =
        kafka_protocol::messages::ElectLeadersRequest::default().with_election_type(0).with_topic_partitions(None);
    assert_eq!(RawConn::connect(&third_bootstrap).request(2, &elect).error_code, codes::NONE);
    eventually(CONVERGE, "the old leader leads again", || {
        let (now, _, _) = partitions(&third_bootstrap, "diverged").pop()?;
        (now == leader).then_some(())
    });
    let mut conn = RawConn::connect(&leader_bootstrap);
    let read = eventually(CONVERGE, "the old leader serves its log", || {
        let fetched = requests::fetch(&mut conn, "diverged", 0, 0);
        (fetched.error_code == codes::NONE && fetched.high_watermark == 4).then_some(fetched)
    });
    let tags = record_values(read.records.unwrap_or_default());
    assert_eq!(tags, ["committed", "committed", "successor", "successor"], "the acks=1 tail is gone");
}

#[test]
fn an_unclean_election_gives_a_leaderless_partition_an_out_of_sync_replica_once_allowed() {
    let mut cluster = Cluster::start(3, &[("replica.lag.time.max.ms", LAG_MAX_MS)]);
    let bootstrap = cluster.bootstrap();
    create(&bootstrap, "unclean", 1, 2, "1");
    let (leader, _, isr) = eventually(CONVERGE, "the topic is known", || partitions(&bootstrap, "unclean").pop());
    let follower = *isr.iter().find(|r| **r != leader).expect("a follower");
    let third = (1..=3).find(|n| *n != leader && *n != follower).expect("a third broker");
    let third_bootstrap = cluster.node(third).bootstrap().to_string();
    let mut conn = RawConn::connect(cluster.node(leader).bootstrap());
    let batch = || Batch::new().numbered(5, None, now_ms()).encode();
    eventually(CONVERGE, "both replicas take the first records", || {
        (requests::produce(&mut conn, "unclean", 0, batch()).error_code == codes::NONE).then_some(())
    });

    // The follower dies and leaves the in-sync set; the leader takes records only it holds, then
    // dies too: no in-sync replica is live.
    cluster.node(follower).kill();
    eventually(CONVERGE, "the follower leaves the in-sync replicas", || {
        let (_, _, isr) = partitions(&third_bootstrap, "unclean").pop()?;
        (isr == BTreeSet::from([leader])).then_some(())
    });
    let only_leader = requests::produce(&mut conn, "unclean", 0, batch());
    assert_eq!((only_leader.error_code, only_leader.base_offset), (codes::NONE, 5));
    cluster.node(leader).kill();
    cluster.node(follower).restart_on_same_port();

    // By default the partition waits for its in-sync replica, though the other one is back.
    let (now, epoch, _) = eventually(CONVERGE, "the partition has no leader", || {
        partitions(&third_bootstrap, "unclean").pop().filter(|(now, _, _)| *now == -1)
    });
    std::thread::sleep(Duration::from_millis(strata_tests::cluster::TEST_SESSION_TIMEOUT_MS * 2));
    assert_eq!(partitions(&third_bootstrap, "unclean").pop().map(|p| p.0), Some(now), "no unclean leader");

    // Allowed, the controller makes the out-of-sync replica the leader, alone in sync in a new
    // epoch: it serves what it has, and the leader's last records are gone.
    let alter = kafka_protocol::messages::IncrementalAlterConfigsRequest::default().with_resources(vec![
        kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name("unclean".to_string().into())
            .with_configs(vec![
                kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig::default()
                    .with_name("unclean.leader.election.enable".to_string().into())
                    .with_config_operation(0)
                    .with_value(Some("true".to_string().into())),
            ]),
    ]);
    let altered = RawConn::connect(&third_bootstrap).request(1, &alter);
    assert_eq!(altered.responses[0].error_code, codes::NONE);
    let (_, new_epoch, isr) = eventually(CONVERGE, "the out-of-sync replica leads", || {
        partitions(&third_bootstrap, "unclean").pop().filter(|(now, _, _)| *now == follower)
    });
    assert!(new_epoch > epoch, "a new leader epoch");
    assert_eq!(isr, BTreeSet::from([follower]));
    let mut conn = RawConn::connect(cluster.node(follower).bootstrap());
    let taken = eventually(CONVERGE, "the unclean leader takes writes", || {
        let answer = requests::produce(&mut conn, "unclean", 0, batch());
        (answer.error_code == codes::NONE).then_some(answer)
    });
    assert_eq!(taken.base_offset, 5, "written where the lost records were");
}

/// The value of every record in `records`, in offset order.
fn record_values(mut records: bytes::Bytes) -> Vec<String> {
    let batches = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut records).expect("decode batches");
    batches
        .iter()
        .flat_map(|b| &b.records)
        .map(|r| r.value.as_ref().map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default())
        .collect()
}

/// A fetch of one partition from offset 0 by a consumer in `rack` (Fetch v12, which carries it).
fn rack_fetch(bootstrap: &str, topic: &str, rack: &str) -> kafka_protocol::messages::fetch_response::PartitionData {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    let request = kafka_protocol::messages::FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_bytes(1 << 20)
        .with_rack_id(kafka_protocol::protocol::StrBytes::from_string(rack.to_string()))
        .with_topics(vec![FetchTopic::default().with_topic(requests::topic_name(topic)).with_partitions(vec![
            FetchPartition::default().with_partition(0).with_fetch_offset(0).with_partition_max_bytes(1 << 20),
        ])]);
    let response = RawConn::connect(bootstrap).request(12, &request);
    assert_eq!(response.error_code, codes::NONE);
    response.responses.into_iter().flat_map(|t| t.partitions).next().expect("one partition answered")
}

#[test]
fn a_consumer_fetches_from_an_in_sync_replica_in_its_rack() {
    let selector = ("replica.selector.class", "org.apache.kafka.common.replica.RackAwareReplicaSelector");
    let mut cluster = Cluster::start_with(3, &[selector], |id| vec![("broker.rack".into(), format!("rack-{id}"))]);
    let bootstrap = cluster.bootstrap();
    create(&bootstrap, "racked", 1, 3, "2");
    let (leader, _, _) = eventually(CONVERGE, "the topic is known", || partitions(&bootstrap, "racked").pop());
    let follower = (1..=3).find(|n| *n != leader).expect("a follower");
    let leader_bootstrap = cluster.node(leader).bootstrap().to_string();
    let follower_bootstrap = cluster.node(follower).bootstrap().to_string();
    let mut conn = RawConn::connect(&leader_bootstrap);
    let batch = Batch::new().numbered(10, None, now_ms()).encode();
    eventually(CONVERGE, "the leader takes acks=all", || {
        (requests::produce(&mut conn, "racked", 0, batch.clone()).error_code == codes::NONE).then_some(())
    });

    // The leader sends a consumer of another rack to the replica there, with no records.
    let sent = rack_fetch(&leader_bootstrap, "racked", &format!("rack-{follower}"));
    assert_eq!((sent.error_code, sent.preferred_read_replica.0), (codes::NONE, follower));
    assert_eq!(sent.records.map_or(0, |r| r.len()), 0, "no records with a preferred replica");
    // A consumer of its own rack, or of none, reads from it.
    let own = rack_fetch(&leader_bootstrap, "racked", &format!("rack-{leader}"));
    assert_eq!((own.error_code, own.preferred_read_replica.0, own.high_watermark), (codes::NONE, -1, 10));
    assert!(own.records.is_some_and(|r| !r.is_empty()));
    // The follower serves the consumer, up to the high watermark it has from the leader.
    let served = eventually(CONVERGE, "the follower has the leader's high watermark", || {
        let served = rack_fetch(&follower_bootstrap, "racked", &format!("rack-{follower}"));
        (served.error_code == codes::NONE && served.high_watermark == 10).then_some(served)
    });
    assert_eq!(served.preferred_read_replica.0, -1);
    assert_eq!(record_values(served.records.unwrap_or_default()).len(), 10);

    // librdkafka in the follower's rack follows the preference and reads everything.
    let consumer = clients::consumer(&bootstrap, &[("client.rack", &format!("rack-{follower}"))]);
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment.add_partition_offset("racked", 0, rdkafka::Offset::Beginning).expect("assignment");
    rdkafka::consumer::Consumer::assign(&consumer, &assignment).expect("assign");
    let mut read = 0;
    let deadline = Instant::now() + CONVERGE;
    while read < 10 {
        assert!(Instant::now() < deadline, "read {read} of 10 records in the follower's rack");
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            message.expect("consume from the rack's replica");
            read += 1;
        }
    }
}

/// The broker FindCoordinator names for group `group` (asked of the first broker of
/// `bootstrap`), once one is named.
fn coordinator_of(bootstrap: &str, group: &str) -> i32 {
    let bootstrap = bootstrap.split(',').next().unwrap_or(bootstrap);
    let request = kafka_protocol::messages::FindCoordinatorRequest::default()
        .with_key(kafka_protocol::protocol::StrBytes::from_string(group.to_string()));
    eventually(CONVERGE, "a coordinator is named", || {
        let found = RawConn::connect(bootstrap).request(3, &request);
        (found.error_code == codes::NONE).then_some(found.node_id.0)
    })
}

/// Group `group`'s committed offsets of partitions `0..3` of `topic`, as the first answer its
/// coordinator gives through `bootstrap` (retried while there is no coordinator to answer).
fn committed(bootstrap: &str, group: &str, topic: &str) -> Vec<i64> {
    use rdkafka::consumer::Consumer;
    let consumer = clients::consumer(bootstrap, &[("group.id", group)]);
    let mut wanted = rdkafka::TopicPartitionList::new();
    for partition in 0..3 {
        wanted.add_partition(topic, partition);
    }
    let answer = eventually(CONVERGE, "the group's coordinator answers OffsetFetch", || {
        consumer.committed_offsets(wanted.clone(), Duration::from_secs(5)).ok()
    });
    (0..3)
        .map(|partition| match answer.find_partition(topic, partition).map(|p| p.offset()) {
            Some(rdkafka::Offset::Offset(offset)) => offset,
            other => panic!("partition {partition}: no committed offset ({other:?})"),
        })
        .collect()
}

/// Commits `offsets` (by partition) of `topic` for group `group` through `bootstrap`.
fn commit(bootstrap: &str, group: &str, topic: &str, offsets: &[i64]) {
    use rdkafka::consumer::{CommitMode, Consumer};
    let consumer = clients::consumer(bootstrap, &[("group.id", group)]);
    let mut list = rdkafka::TopicPartitionList::new();
    for (partition, offset) in (0..).zip(offsets) {
        list.add_partition_offset(topic, partition, rdkafka::Offset::Offset(*offset)).expect("offset");
    }
    eventually(CONVERGE, "the commit is acknowledged", || consumer.commit(&list, CommitMode::Sync).ok());
}

#[test]
fn the_group_coordinator_moves_with_its_offsets_partition_and_keeps_every_commit() {
    let mut cluster = Cluster::start(3, &[("replica.lag.time.max.ms", LAG_MAX_MS)]);
    let bootstrap = cluster.bootstrap();
    let all = BTreeSet::from([1, 2, 3]);
    // Created once all three brokers are live, with three replicas of each partition.
    eventually(CONVERGE, "__consumer_offsets exists with every replica in sync", || {
        let known = partitions(&bootstrap, "__consumer_offsets");
        (known.len() == 50 && known.iter().all(|(l, _, isr)| *l >= 1 && *isr == all)).then_some(())
    });
    create(&bootstrap, "tracked", 3, 3, "2");
    let group = "movers";
    commit(&bootstrap, group, "tracked", &[11, 22, 33]);
    assert_eq!(committed(&bootstrap, group, "tracked"), [11, 22, 33]);

    // SIGKILL the group's coordinator: the new leader of its offsets partition loads the group.
    let victim = coordinator_of(&bootstrap, group);
    let survivor = if victim == 1 { 2 } else { 1 };
    let survivor_bootstrap = cluster.node(survivor).bootstrap().to_string();
    cluster.node(victim).kill();
    let killed_at = Instant::now();
    let successor = eventually(CONVERGE, "another broker coordinates the group", || {
        let named = coordinator_of(&survivor_bootstrap, group);
        (named != victim).then_some(named)
    });
    assert_eq!(committed(&survivor_bootstrap, group, "tracked"), [11, 22, 33], "commits survive the coordinator");
    eprintln!("coordinator {victim} killed: broker {successor} served the group after {:?}", killed_at.elapsed());
    commit(&survivor_bootstrap, group, "tracked", &[44, 55, 66]);

    // The killed broker returns as a follower, catches up, and when it leads again (preferred
    // leader election) it loads the group with the commit it missed.
    cluster.node(victim).restart_on_same_port();
    eventually(CONVERGE, "the returning broker rejoins every in-sync set of __consumer_offsets", || {
        let known = partitions(&survivor_bootstrap, "__consumer_offsets");
        known.iter().all(|(l, _, isr)| *l >= 1 && *isr == all).then_some(())
    });
    let elect =
        kafka_protocol::messages::ElectLeadersRequest::default().with_election_type(0).with_topic_partitions(None);
    let elected = RawConn::connect(&survivor_bootstrap).request(2, &elect);
    assert_eq!(elected.error_code, codes::NONE);
    eventually(CONVERGE, "the returning broker coordinates the group again", || {
        (coordinator_of(&survivor_bootstrap, group) == victim).then_some(())
    });
    let victim_bootstrap = cluster.node(victim).bootstrap().to_string();
    assert_eq!(committed(&victim_bootstrap, group, "tracked"), [44, 55, 66], "the commit made in its absence");
}

/// InitProducerId for transactional id `id` at its coordinator, found through the first broker
/// of `bootstrap`, once one answers: the producer id and epoch.
fn init_producer_id(bootstrap: &str, id: &str) -> (i64, i16) {
    use kafka_protocol::messages::{FindCoordinatorRequest, InitProducerIdRequest, ProducerId, TransactionalId};
    use kafka_protocol::protocol::StrBytes;
    let first = bootstrap.split(',').next().unwrap_or(bootstrap);
    let find = FindCoordinatorRequest::default().with_key_type(1).with_key(StrBytes::from_string(id.to_string()));
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(StrBytes::from_string(id.to_string()))))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    eventually(CONVERGE, "the transactional id's coordinator answers InitProducerId", || {
        let found = RawConn::connect(first).request(3, &find);
        if found.error_code != codes::NONE {
            return None;
        }
        // The coordinator named may be one just killed, until it is fenced.
        let stream = std::net::TcpStream::connect(format!("{}:{}", found.host.as_str(), found.port)).ok()?;
        let answer = RawConn::from_stream(stream).request(4, &init);
        (answer.error_code == codes::NONE).then_some((answer.producer_id.0, answer.producer_epoch))
    })
}

#[test]
fn the_transaction_coordinator_moves_with_its_partition_and_keeps_each_producer() {
    let mut cluster = Cluster::start(3, &[("replica.lag.time.max.ms", LAG_MAX_MS)]);
    let bootstrap = cluster.bootstrap();
    let all = BTreeSet::from([1, 2, 3]);
    eventually(CONVERGE, "__transaction_state exists with every replica in sync", || {
        let known = partitions(&bootstrap, "__transaction_state");
        (known.len() == 50 && known.iter().all(|(l, _, isr)| *l >= 1 && *isr == all)).then_some(())
    });
    let id = "moving-producer";
    let (producer_id, epoch) = init_producer_id(&bootstrap, id);
    assert_eq!(init_producer_id(&bootstrap, id), (producer_id, epoch + 1), "a second init bumps the epoch");

    // SIGKILL the coordinator: the new leader of the id's partition loads the producer.
    let find = kafka_protocol::messages::FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_key(kafka_protocol::protocol::StrBytes::from_static_str(id));
    let victim = RawConn::connect(bootstrap.split(',').next().unwrap_or(&bootstrap)).request(3, &find).node_id.0;
    assert!(victim >= 1, "a coordinator is named");
    let survivor = if victim == 1 { 2 } else { 1 };
    let survivor_bootstrap = cluster.node(survivor).bootstrap().to_string();
    cluster.node(victim).kill();
    let killed_at = Instant::now();
    let after = init_producer_id(&survivor_bootstrap, id);
    eprintln!("transaction coordinator {victim} killed: the id was served again after {:?}", killed_at.elapsed());
    assert_eq!(after, (producer_id, epoch + 2), "the same producer, its epoch bumped once more");
    let successor = RawConn::connect(&survivor_bootstrap).request(3, &find).node_id.0;
    assert_ne!(successor, victim, "another broker coordinates the id");
}

#[test]
fn every_broker_checkpoints_its_high_watermarks_in_kafkas_format() {
    let settings = [("replica.high.watermark.checkpoint.interval.ms", "200")];
    let mut cluster = Cluster::start(3, &settings);
    let bootstrap = cluster.bootstrap();
    create(&bootstrap, "checkpointed", 1, 3, "2");
    let all = BTreeSet::from([1, 2, 3]);
    eventually(CONVERGE, "every replica in sync", || {
        partitions(&bootstrap, "checkpointed").pop().filter(|(l, _, isr)| *l >= 1 && *isr == all).map(|_| ())
    });
    let (leader, _, _) = partitions(&bootstrap, "checkpointed")[0].clone();
    let mut conn = RawConn::connect(cluster.node(leader).bootstrap());
    eventually(CONVERGE, "acks=all takes seven records", || {
        let batch = Batch::new().numbered(7, None, now_ms()).encode();
        (requests::produce(&mut conn, "checkpointed", 0, batch).error_code == codes::NONE).then_some(())
    });
    // Kafka's replication-offset-checkpoint: version 0, the entry count, `topic partition offset`.
    for node in 1..=3 {
        let path = cluster.node(node).data_dir().join("replication-offset-checkpoint");
        let text = eventually(CONVERGE, "the broker checkpoints the high watermark", || {
            std::fs::read_to_string(&path).ok().filter(|t| t.lines().any(|l| l == "checkpointed 0 7"))
        });
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("0"), "broker {node}: format version");
        let count: usize = lines.next().and_then(|l| l.parse().ok()).expect("an entry count");
        assert_eq!(lines.count(), count, "broker {node}: as many entries as announced");
    }
}
