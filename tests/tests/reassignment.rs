//! Partition reassignments across three `strata` processes (AlterPartitionReassignments and
//! ListPartitionReassignments, KIP-455): a partition moved to other brokers keeps every record
//! (its new replicas copy the leader's log before the old ones are dropped, and the old broker
//! deletes its log), and bad requests get the error Kafka's controller answers.

use std::collections::BTreeSet;
use std::time::Duration;

use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest,
};
use strata_testkit::batches::Batch;
use strata_testkit::codes;
use strata_testkit::raw::RawConn;
use strata_testkit::requests;
use strata_tests::cluster::{Cluster, eventually, partition_states};

/// How long a change may take to reach every broker.
const CONVERGE: Duration = Duration::from_secs(40);

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// AlterPartitionReassignments of partition 0 of `topic` to `target` (`None`: cancel) at
/// `version`, with KIP-860's `allow_replication_factor_change`.
fn alter(conn: &mut RawConn, version: i16, topic: &str, target: Option<&[i32]>, allow: bool) -> (i16, i16) {
    let partition = ReassignablePartition::default()
        .with_partition_index(0)
        .with_replicas(target.map(|t| t.iter().map(|b| BrokerId(*b)).collect()));
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(30_000)
        .with_allow_replication_factor_change(allow)
        .with_topics(vec![
            ReassignableTopic::default().with_name(requests::topic_name(topic)).with_partitions(vec![partition]),
        ]);
    let response: AlterPartitionReassignmentsResponse = conn.request(version, &request);
    let code = response.responses.first().and_then(|t| t.partitions.first()).map_or(-1, |p| p.error_code);
    (response.error_code, code)
}

/// One partition being reassigned: topic, partition, replicas, adding, removing.
type Ongoing = (String, i32, Vec<i32>, Vec<i32>, Vec<i32>);

/// The partitions of every topic with a reassignment under way, as ListPartitionReassignments
/// gives them.
fn ongoing(conn: &mut RawConn) -> Vec<Ongoing> {
    let response = conn.request(0, &ListPartitionReassignmentsRequest::default().with_timeout_ms(30_000));
    assert_eq!(response.error_code, codes::NONE);
    let ids = |b: &[BrokerId]| b.iter().map(|b| b.0).collect::<Vec<_>>();
    response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let name = t.name.0.to_string();
                (name, p.partition_index, ids(&p.replicas), ids(&p.adding_replicas), ids(&p.removing_replicas))
            })
        })
        .collect()
}

#[test]
fn a_partition_moved_to_other_brokers_keeps_every_record_and_leaves_its_old_broker() {
    let mut cluster = Cluster::start(3, &[]);
    let first = cluster.node(1).bootstrap().to_string();
    let mut conn = RawConn::connect(&first);
    requests::create_topic_ok(&mut conn, "moving", 1);
    let (old, _, _) = eventually(CONVERGE, "the topic has a leader", || {
        partition_states(&first, "moving").pop().filter(|(leader, _, _)| *leader >= 1)
    });
    let mut at_old = RawConn::connect(cluster.node(old).bootstrap());
    let written = eventually(CONVERGE, "the leader takes records", || {
        let batch = Batch::new().numbered(20, None, now_ms()).encode();
        let answer = requests::produce(&mut at_old, "moving", 0, batch);
        (answer.error_code == codes::NONE).then_some(20)
    });
    assert!(ongoing(&mut conn).is_empty(), "nothing is moving yet");

    // To the two other brokers (the replication factor grows from one to two).
    let target: Vec<i32> = (1..=3).filter(|b| *b != old).collect();
    assert_eq!(alter(&mut conn, 0, "moving", Some(&target), true), (codes::NONE, codes::NONE));
    let (leader, _, isr) = eventually(CONVERGE, "the partition is on its target replicas, in sync", || {
        let (leader, epoch, isr) = partition_states(&first, "moving").pop()?;
        let done = isr == target.iter().copied().collect::<BTreeSet<i32>>() && ongoing(&mut conn).is_empty();
        done.then_some((leader, epoch, isr))
    });
    assert!(isr.contains(&leader), "an in-sync target replica leads");
    let mut at_new = RawConn::connect(cluster.node(leader).bootstrap());
    let fetched = eventually(CONVERGE, "the new leader serves the records", || {
        let fetched = requests::fetch(&mut at_new, "moving", 0, 0);
        (fetched.error_code == codes::NONE && fetched.high_watermark == written).then_some(fetched)
    });
    let records = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut fetched.records.unwrap_or_default())
        .expect("decode")
        .iter()
        .map(|b| b.records.len())
        .sum::<usize>();
    assert_eq!(records, 20, "every record moved");
    let old_log = cluster.node(old).data_dir().join("moving-0");
    eventually(CONVERGE, "the old broker deletes its log", || (!old_log.exists()).then_some(()));

    // What Kafka's controller answers to requests it cannot carry out.
    assert_eq!(alter(&mut conn, 0, "moving", None, true).1, codes::NO_REASSIGNMENT_IN_PROGRESS);
    assert_eq!(alter(&mut conn, 0, "moving", Some(&[old, 9]), true).1, codes::INVALID_REPLICA_ASSIGNMENT);
    assert_eq!(alter(&mut conn, 0, "moving", Some(&[old, old]), true).1, codes::INVALID_REPLICA_ASSIGNMENT);
    assert_eq!(alter(&mut conn, 0, "moving", Some(&[]), true).1, codes::INVALID_REPLICA_ASSIGNMENT);
    assert_eq!(alter(&mut conn, 0, "nowhere", Some(&[old]), true).1, codes::UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(alter(&mut conn, 1, "moving", Some(&[old]), false).1, codes::INVALID_REPLICATION_FACTOR);
}
