//! Transactional offset commits end to end in the broker: three transactions commit offsets of
//! one group (TxnOffsetCommit v5, which adds the group's partition to each), then EndTxn; the
//! transaction coordinator writes the end-transaction markers to `__consumer_offsets`, which calls
//! `groups::transaction_completed`. A committed transaction's offsets become visible, an aborted
//! one's never do, and a restart replays all of it from the log: completed transactions as they
//! ended, an open one still pending, which its EndTxn after the restart completes. And while a
//! transaction is open on a `__consumer_offsets` partition, that partition is not snapshotted
//! (its transactional records and marker must stay); once it ends, it is.

mod support;

use std::time::Duration;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    CreateTopicsRequest, EndTxnRequest, GroupId, InitProducerIdRequest, OffsetCommitRequest, OffsetFetchRequest,
    ProducerId, TopicName, TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;
use strata_testkit::codes::{NONE, UNSTABLE_OFFSET_COMMIT};
use support::{Client, Node};

const GROUP: &str = "g";
const TOPIC: &str = "in";
/// One `__consumer_offsets` partition: every group is on partition 0.
const SETTINGS: &[&str] = &["offsets.topic.num.partitions=1", "group.initial.rebalance.delay.ms=0"];

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

async fn create_topic(c: &mut Client, name: &str, partitions: i32) {
    let topic = CreatableTopic::default()
        .with_name(TopicName(s(name)))
        .with_num_partitions(partitions)
        .with_replication_factor(-1);
    let created = c.call(7, &CreateTopicsRequest::default().with_topics(vec![topic])).await;
    assert_eq!(created.topics[0].error_code, NONE);
}

/// OffsetCommit by `group`, outside group management, of `(partition, offset)` pairs of `topic`.
async fn commit_to(c: &mut Client, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let partitions = offsets
        .iter()
        .map(|(p, o)| OffsetCommitRequestPartition::default().with_partition_index(*p).with_committed_offset(*o))
        .collect();
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default().with_name(TopicName(s(topic))).with_partitions(partitions),
        ]);
    let response = c.call(8, &request).await;
    assert!(response.topics[0].partitions.iter().all(|p| p.error_code == NONE));
}

/// OffsetCommit of `offset` for partition `partition` of the group.
async fn commit(c: &mut Client, partition: i32, offset: i64) {
    commit_to(c, GROUP, TOPIC, &[(partition, offset)]).await;
}

/// InitProducerId for transactional id `id`, retried while the coordinator loads.
async fn init(c: &mut Client, id: &str) -> (i64, i16) {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(id))))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    for _ in 0..200 {
        let response = c.call(5, &request).await;
        if response.error_code == NONE {
            return (response.producer_id.0, response.producer_epoch);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("InitProducerId {id} never succeeded");
}

/// TxnOffsetCommit v5 of `offset` for partition `partition` by transactional id `id`, outside
/// group management.
async fn txn_commit(c: &mut Client, id: &str, producer: (i64, i16), partition: i32, offset: i64) {
    let request = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_group_id(GroupId(s(GROUP)))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_generation_id(-1)
        .with_topics(vec![TxnOffsetCommitRequestTopic::default().with_name(TopicName(s(TOPIC))).with_partitions(
            vec![
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(partition)
                    .with_committed_offset(offset),
            ],
        )]);
    assert_eq!(c.call(5, &request).await.topics[0].partitions[0].error_code, NONE);
}

/// EndTxn v4 of transactional id `id`.
async fn end_txn(c: &mut Client, id: &str, producer: (i64, i16), commit: bool) {
    let request = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_committed(commit);
    assert_eq!(c.call(4, &request).await.error_code, NONE);
}

/// OffsetFetch v8 of partitions 0-2: (offset, error) each.
async fn fetched(c: &mut Client, require_stable: bool) -> Vec<(i64, i16)> {
    let request = OffsetFetchRequest::default().with_require_stable(require_stable).with_groups(vec![
        OffsetFetchRequestGroup::default().with_group_id(GroupId(s(GROUP))).with_topics(Some(vec![
            OffsetFetchRequestTopics::default().with_name(TopicName(s(TOPIC))).with_partition_indexes(vec![0, 1, 2]),
        ])),
    ]);
    let response = c.call(8, &request).await;
    response.groups[0].topics[0].partitions.iter().map(|p| (p.committed_offset, p.error_code)).collect()
}

/// Polls OffsetFetch (`require_stable`) until no partition is unstable or `unstable` remain
/// (the markers are written after EndTxn's answer).
async fn fetched_settled(c: &mut Client, unstable: usize) -> Vec<(i64, i16)> {
    for _ in 0..200 {
        let answer = fetched(c, true).await;
        if answer.iter().filter(|(_, e)| *e == UNSTABLE_OFFSET_COMMIT).count() <= unstable {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fetched(c, true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markers_commit_or_abort_pending_offsets_live_and_after_restarts() {
    let dir = tempfile::Builder::new().prefix("strata-txn-offsets-").tempdir().expect("tempdir");
    let node = Node::start(dir.path(), SETTINGS).await;
    let mut c = node.client().await;
    create_topic(&mut c, TOPIC, 3).await;
    commit(&mut c, 0, 5).await;
    let (a, b, open) = (init(&mut c, "a").await, init(&mut c, "b").await, init(&mut c, "open").await);
    txn_commit(&mut c, "a", a, 0, 10).await;
    txn_commit(&mut c, "b", b, 1, 20).await;
    txn_commit(&mut c, "open", open, 2, 30).await;
    let unstable = (-1, UNSTABLE_OFFSET_COMMIT);
    assert_eq!(fetched(&mut c, false).await, vec![(5, NONE), (-1, NONE), (-1, NONE)]);
    assert_eq!(fetched(&mut c, true).await, vec![unstable, unstable, unstable]);

    end_txn(&mut c, "a", a, true).await;
    end_txn(&mut c, "b", b, false).await;
    assert_eq!(fetched_settled(&mut c, 1).await, vec![(10, NONE), (-1, NONE), unstable]);
    drop(c);
    node.stop().await;

    // The log replays the same: a committed, b aborted, the third still open.
    let node = Node::start(dir.path(), SETTINGS).await;
    let mut c = node.client().await;
    assert_eq!(fetched(&mut c, true).await, vec![(10, NONE), (-1, NONE), unstable]);
    end_txn(&mut c, "open", open, true).await;
    assert_eq!(fetched_settled(&mut c, 0).await, vec![(10, NONE), (-1, NONE), (30, NONE)]);
    drop(c);
    node.stop().await;

    let node = Node::start(dir.path(), SETTINGS).await;
    let mut c = node.client().await;
    assert_eq!(fetched(&mut c, true).await, vec![(10, NONE), (-1, NONE), (30, NONE)]);
    drop(c);
    node.stop().await;
}

/// Waits until `done` holds for `__consumer_offsets`-0's log start, or fails after the I/O timeout.
async fn wait_log_start(node: &Node, what: &str, done: impl Fn(i64) -> bool) -> i64 {
    let topic = node.broker.topics.get("__consumer_offsets").expect("offsets topic");
    let log = topic.partition(0).expect("partition 0");
    let deadline = tokio::time::Instant::now() + support::IO_TIMEOUT;
    loop {
        let start = log.log_start_offset();
        if done(start) {
            return start;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: log start {start}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_holds_off_the_offsets_snapshot_until_it_ends() {
    let dir = tempfile::Builder::new().prefix("strata-txn-offsets-").tempdir().expect("tempdir");
    let node = Node::start(dir.path(), SETTINGS).await;
    let mut c = node.client().await;
    create_topic(&mut c, TOPIC, 3).await;
    let busy_partitions = 50;
    create_topic(&mut c, "busy", busy_partitions).await;
    let open = init(&mut c, "open").await;
    txn_commit(&mut c, "open", open, 0, 7).await;
    // 220 commits of 50 partitions by another group on the same `__consumer_offsets` partition:
    // 11,000 records, past the snapshot threshold of 10,000.
    let rounds = 220;
    for round in 0..rounds {
        let offsets: Vec<(i32, i64)> = (0..busy_partitions).map(|p| (p, i64::from(round * 1000 + p))).collect();
        commit_to(&mut c, "busy", "busy", &offsets).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(wait_log_start(&node, "kept", |_| true).await, 0, "no snapshot while the transaction is open");

    end_txn(&mut c, "open", open, true).await;
    assert_eq!(fetched_settled(&mut c, 0).await[0], (7, NONE));
    // The next append finds the partition due and no transaction open: snapshotted.
    commit_to(&mut c, "busy", "busy", &[(0, 1)]).await;
    let start = wait_log_start(&node, "the log start never moved", |start| start > 0).await;
    assert!(start > 11_000, "log start {start}: past the transactional record and its marker");
    drop(c);
    node.stop().await;

    let node = Node::start(dir.path(), SETTINGS).await;
    let mut c = node.client().await;
    assert_eq!(fetched(&mut c, true).await, vec![(7, NONE), (-1, NONE), (-1, NONE)], "replayed from the snapshot");
    drop(c);
    node.stop().await;
}
