//! Transactional offset commits end to end in the broker, with the transaction coordinator's
//! part played by the test: TxnOffsetCommit over a real socket, then the end-transaction marker
//! written to `__consumer_offsets` as a control batch and `groups::transaction_completed` called,
//! as the transaction coordinator will do. A committed transaction's offsets become visible, an
//! aborted one's never do, and a restart replays all of it from the log: completed transactions
//! as they ended, an open one still pending, which a marker written after the restart completes.

mod support;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    CreateTopicsRequest, GroupId, OffsetCommitRequest, OffsetFetchRequest, ProducerId, TopicName, TransactionalId,
    TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;
use strata_broker::groups::{OFFSETS_TOPIC, transaction_completed};
use strata_broker::state::Broker;
use strata_log::AppendOrigin;
use strata_testkit::codes::{NONE, UNSTABLE_OFFSET_COMMIT};
use strata_wire::control::{Marker, marker_batch};
use support::{Client, Node};

const GROUP: &str = "g";
const TOPIC: &str = "in";
/// One `__consumer_offsets` partition: every group is on partition 0.
const SETTINGS: &[&str] = &["offsets.topic.num.partitions=1", "group.initial.rebalance.delay.ms=0"];

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

async fn create_topic(c: &mut Client) {
    let topic =
        CreatableTopic::default().with_name(TopicName(s(TOPIC))).with_num_partitions(3).with_replication_factor(-1);
    let created = c.call(7, &CreateTopicsRequest::default().with_topics(vec![topic])).await;
    assert_eq!(created.topics[0].error_code, NONE);
}

/// OffsetCommit of `offset` for partition `partition`, outside group management.
async fn commit(c: &mut Client, partition: i32, offset: i64) {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default().with_name(TopicName(s(TOPIC))).with_partitions(vec![
            OffsetCommitRequestPartition::default().with_partition_index(partition).with_committed_offset(offset),
        ])]);
    assert_eq!(c.call(8, &request).await.topics[0].partitions[0].error_code, NONE);
}

/// TxnOffsetCommit v5 of `offset` for partition `partition` by `producer_id`, outside group
/// management.
async fn txn_commit(c: &mut Client, producer_id: i64, partition: i32, offset: i64) {
    let request = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s("tx")))
        .with_group_id(GroupId(s(GROUP)))
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(0)
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

/// What the transaction coordinator does at the end of a transaction: the marker of
/// `producer_id` (epoch 0) to `__consumer_offsets` partition 0, written, then the group
/// coordinator told.
async fn end_transaction(broker: &Broker, producer_id: i64, commit: bool) {
    let batch = marker_batch(&Marker { producer_id, producer_epoch: 0, coordinator_epoch: 0, commit }, 0);
    let topic = broker.topics.get(OFFSETS_TOPIC).expect("offsets topic");
    let epoch = topic.leadership(0).expect("leadership").leader_epoch;
    let partition = topic.partition(0).expect("partition 0");
    let append = partition.append_from(AppendOrigin::Coordinator, batch, epoch, 0).expect("marker appended");
    append.wait().await.expect("marker written");
    transaction_completed(broker, 0, producer_id, commit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markers_commit_or_abort_pending_offsets_live_and_after_restarts() {
    let dir = tempfile::Builder::new().prefix("strata-txn-offsets-").tempdir().expect("tempdir");
    let node = Node::start(dir.path(), SETTINGS).await;
    let mut c = node.client().await;
    create_topic(&mut c).await;
    commit(&mut c, 0, 5).await;
    txn_commit(&mut c, 100, 0, 10).await;
    txn_commit(&mut c, 200, 1, 20).await;
    txn_commit(&mut c, 300, 2, 30).await;
    let unstable = (-1, UNSTABLE_OFFSET_COMMIT);
    assert_eq!(fetched(&mut c, false).await, vec![(5, NONE), (-1, NONE), (-1, NONE)]);
    assert_eq!(fetched(&mut c, true).await, vec![unstable, unstable, unstable]);

    end_transaction(&node.broker, 100, true).await;
    end_transaction(&node.broker, 200, false).await;
    assert_eq!(fetched(&mut c, true).await, vec![(10, NONE), (-1, NONE), unstable]);
    drop(c);
    node.stop().await;

    // The log replays the same: 100 committed, 200 aborted, 300 still open.
    let node = Node::start(dir.path(), SETTINGS).await;
    let mut c = node.client().await;
    assert_eq!(fetched(&mut c, true).await, vec![(10, NONE), (-1, NONE), unstable]);
    end_transaction(&node.broker, 300, true).await;
    assert_eq!(fetched(&mut c, true).await, vec![(10, NONE), (-1, NONE), (30, NONE)]);
    drop(c);
    node.stop().await;

    let node = Node::start(dir.path(), SETTINGS).await;
    let mut c = node.client().await;
    assert_eq!(fetched(&mut c, true).await, vec![(10, NONE), (-1, NONE), (30, NONE)]);
    drop(c);
    node.stop().await;
}
