//! TxnOffsetCommit on a real broker over raw sockets, answered as reference Kafka 4.1.2 answers
//! the same requests: the transaction coordinator's verification first (an unknown producer, a
//! stale epoch, a group partition not added to the transaction before v5; v5 adds it), then
//! Kafka's errors for a member, generation or instance id the group does not know; offsets that
//! OffsetFetch does not see while the transaction is open (the last committed offset, or
//! UNSTABLE_OFFSET_COMMIT with `require_stable`), also after a graceful restart and after
//! SIGKILL; visible once EndTxn commits, never after an abort.

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, GroupId, JoinGroupRequest, OffsetCommitRequest, OffsetFetchRequest, ProducerId,
    SyncGroupRequest, TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;
use strata_testkit::RawConn;
use strata_testkit::codes::*;
use strata_testkit::requests::{self, topic_name};
use strata_tests::transactions::{END_TXN_VERSION, end_txn, init_ok, txn_id};
use strata_tests::{Broker, BrokerOptions};

const TOPIC: &str = "in";
const GROUP: &str = "eos";
const TXN: &str = "tx";

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_owned())
}

/// A TxnOffsetCommit by `producer` (v3+ fields; older versions drop them) of `offset` for
/// `topic` partition 0.
fn txn_commit(producer: (i64, i16), member: (i32, &str), topic: &str, offset: i64) -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(TXN)))
        .with_group_id(GroupId(s(GROUP)))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_generation_id(member.0)
        .with_member_id(s(member.1))
        .with_topics(vec![TxnOffsetCommitRequestTopic::default().with_name(topic_name(topic)).with_partitions(vec![
            TxnOffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)
                .with_committed_metadata(Some(s("txn"))),
        ])])
}

/// The error of the request's one partition.
fn txn_commit_error(conn: &mut RawConn, version: i16, request: &TxnOffsetCommitRequest) -> i16 {
    let response = conn.request(version, request);
    assert_eq!(response.topics.len(), 1);
    assert_eq!(response.topics[0].partitions.len(), 1);
    response.topics[0].partitions[0].error_code
}

fn commit(conn: &mut RawConn, member: (i32, &str), offset: i64) -> i16 {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_generation_id_or_member_epoch(member.0)
        .with_member_id(s(member.1))
        .with_topics(vec![OffsetCommitRequestTopic::default().with_name(topic_name(TOPIC)).with_partitions(vec![
            OffsetCommitRequestPartition::default().with_partition_index(0).with_committed_offset(offset),
        ])]);
    conn.request(8, &request).topics[0].partitions[0].error_code
}

/// OffsetFetch v8 (batched) of `TOPIC` partition 0: (offset, metadata, error).
fn fetch(conn: &mut RawConn, require_stable: bool) -> (i64, String, i16) {
    let request = OffsetFetchRequest::default().with_require_stable(require_stable).with_groups(vec![
        OffsetFetchRequestGroup::default().with_group_id(GroupId(s(GROUP))).with_topics(Some(vec![
            OffsetFetchRequestTopics::default().with_name(topic_name(TOPIC)).with_partition_indexes(vec![0]),
        ])),
    ]);
    let response = conn.request(8, &request);
    let group = &response.groups[0];
    assert_eq!(group.error_code, NONE);
    let p = &group.topics[0].partitions[0];
    (p.committed_offset, p.metadata.as_ref().map(|m| m.to_string()).unwrap_or_default(), p.error_code)
}

/// OffsetFetch v7 (one group) of `TOPIC` partition 0 with `require_stable`: its partition error.
fn fetch_v7_stable_error(conn: &mut RawConn) -> i16 {
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    let request = OffsetFetchRequest::default().with_group_id(GroupId(s(GROUP))).with_require_stable(true).with_topics(
        Some(vec![OffsetFetchRequestTopic::default().with_name(topic_name(TOPIC)).with_partition_indexes(vec![0])]),
    );
    let response = conn.request(7, &request);
    assert_eq!(response.error_code, NONE);
    response.topics[0].partitions[0].error_code
}

/// A one-member group (JoinGroup v0 joins at once): its generation and member id.
fn join(conn: &mut RawConn) -> (i32, String) {
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_session_timeout_ms(30_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default().with_name(s("range")).with_metadata(Bytes::new())]);
    let joined = conn.request(0, &join);
    assert_eq!(joined.error_code, NONE);
    let member = joined.member_id.to_string();
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_generation_id(joined.generation_id)
        .with_member_id(s(&member))
        .with_assignments(vec![SyncGroupRequestAssignment::default().with_member_id(s(&member))]);
    assert_eq!(conn.request(0, &sync).error_code, NONE);
    (joined.generation_id, member)
}

/// AddOffsetsToTxn v3 of the group to `producer`'s transaction.
fn add_offsets(conn: &mut RawConn, producer: (i64, i16)) -> i16 {
    let request = AddOffsetsToTxnRequest::default()
        .with_transactional_id(txn_id(TXN))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_group_id(GroupId(s(GROUP)));
    conn.request(3, &request).error_code
}

/// Polls OffsetFetch until the transaction's markers have been written: the stable answer.
fn fetch_settled(conn: &mut RawConn) -> (i64, String, i16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let answer = fetch(conn, true);
        if answer.2 != UNSTABLE_OFFSET_COMMIT || std::time::Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn txn_offset_commit_checks_as_kafka_and_its_offsets_stay_pending_until_the_transaction_ends() {
    let mut broker = Broker::start(BrokerOptions::default().with("group.initial.rebalance.delay.ms", "0"));
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, TOPIC, 1);
    let producer = init_ok(&mut conn, TXN, 60_000);

    // The transaction coordinator's verification comes first, before any group check (v5 would
    // add the group's partition to the transaction, so the older versions go first).
    let unknown_producer = txn_commit((producer.0 + 7, 0), (1, "m"), TOPIC, 1);
    assert_eq!(txn_commit_error(&mut conn, 5, &unknown_producer), INVALID_PRODUCER_ID_MAPPING);
    let stale_epoch = txn_commit((producer.0, producer.1 + 3), (1, "m"), TOPIC, 1);
    assert_eq!(txn_commit_error(&mut conn, 5, &stale_epoch), INVALID_PRODUCER_EPOCH);
    assert_eq!(txn_commit_error(&mut conn, 4, &txn_commit(producer, (1, "m"), TOPIC, 1)), TRANSACTION_ABORTABLE);
    assert_eq!(txn_commit_error(&mut conn, 3, &txn_commit(producer, (1, "m"), TOPIC, 1)), INVALID_TXN_STATE);
    // No group yet: a generation is ILLEGAL_GENERATION; an unknown topic is answered first.
    assert_eq!(txn_commit_error(&mut conn, 5, &txn_commit(producer, (1, "m"), TOPIC, 1)), ILLEGAL_GENERATION);
    let missing = txn_commit(producer, (-1, ""), "missing", 1);
    assert_eq!(txn_commit_error(&mut conn, 5, &missing), UNKNOWN_TOPIC_OR_PARTITION);

    let (generation, member) = join(&mut conn);
    assert_eq!(commit(&mut conn, (generation, &member), 5), NONE);
    let ok = (generation, member.as_str());
    assert_eq!(add_offsets(&mut conn, producer), NONE);
    for version in [3, 4, 5] {
        let unknown = txn_commit(producer, (generation, "ghost"), TOPIC, 1);
        assert_eq!(txn_commit_error(&mut conn, version, &unknown), UNKNOWN_MEMBER_ID, "v{version}");
        let stale = txn_commit(producer, (generation + 1, &member), TOPIC, 1);
        assert_eq!(txn_commit_error(&mut conn, version, &stale), ILLEGAL_GENERATION, "v{version}");
        let fenced = txn_commit(producer, (generation, "other"), TOPIC, 1).with_group_instance_id(Some(s("instance")));
        assert_eq!(txn_commit_error(&mut conn, version, &fenced), UNKNOWN_MEMBER_ID, "v{version}: unknown instance");
        let no_generation = txn_commit(producer, (-1, &member), TOPIC, 1);
        assert_eq!(txn_commit_error(&mut conn, version, &no_generation), ILLEGAL_GENERATION, "v{version}");
    }
    // v0-2 carry no member: accepted in a Stable group (OffsetCommit v8 would refuse it).
    assert_eq!(commit(&mut conn, (-1, ""), 1), UNKNOWN_MEMBER_ID);
    assert_eq!(txn_commit_error(&mut conn, 2, &txn_commit(producer, (-1, ""), TOPIC, 7)), NONE);
    assert_eq!(txn_commit_error(&mut conn, 5, &txn_commit(producer, ok, TOPIC, 10)), NONE);

    // Pending: not visible, unstable when stable offsets are required.
    let pending_seen = |conn: &mut RawConn, what: &str| {
        assert_eq!(fetch(conn, false), (5, String::new(), NONE), "{what}: the last committed offset");
        assert_eq!(fetch(conn, true), (-1, String::new(), UNSTABLE_OFFSET_COMMIT), "{what}: require_stable");
        assert_eq!(fetch_v7_stable_error(conn), UNSTABLE_OFFSET_COMMIT, "{what}: v7");
    };
    pending_seen(&mut conn, "live");
    broker.restart();
    let mut conn = RawConn::connect(broker.bootstrap());
    pending_seen(&mut conn, "after a graceful restart");
    broker.kill();
    broker.restart();
    let mut conn = RawConn::connect(broker.bootstrap());
    pending_seen(&mut conn, "after SIGKILL");

    // The commit marker makes the transaction's offset the committed one.
    assert_eq!(end_txn(&mut conn, END_TXN_VERSION, TXN, producer, true).error_code, NONE);
    assert_eq!(fetch_settled(&mut conn), (10, "txn".into(), NONE));
    // An aborted transaction's offset never shows; v5 adds the group's partition itself.
    assert_eq!(txn_commit_error(&mut conn, 5, &txn_commit(producer, ok, TOPIC, 20)), NONE);
    assert_eq!(end_txn(&mut conn, END_TXN_VERSION, TXN, producer, false).error_code, NONE);
    assert_eq!(fetch_settled(&mut conn), (10, "txn".into(), NONE));
    broker.restart();
    let mut conn = RawConn::connect(broker.bootstrap());
    assert_eq!(fetch(&mut conn, true), (10, "txn".into(), NONE), "after a restart");
}

/// Transaction version 2, as Kafka's Java client 4.x does `sendOffsetsToTransaction`: no
/// AddOffsetsToTxn, TxnOffsetCommit v5 adds the group's partition, EndTxn v5 bumps the epoch
/// (the markers carry the new one); the next transaction commits with the bumped epoch.
#[test]
fn transaction_version_2_commits_offsets_without_add_offsets_to_txn() {
    let broker = Broker::start(BrokerOptions::default().with("group.initial.rebalance.delay.ms", "0"));
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, TOPIC, 1);
    let producer = init_ok(&mut conn, TXN, 60_000);
    assert_eq!(txn_commit_error(&mut conn, 5, &txn_commit(producer, (-1, ""), TOPIC, 11)), NONE);
    assert_eq!(fetch(&mut conn, true), (-1, String::new(), UNSTABLE_OFFSET_COMMIT));
    let ended = end_txn(&mut conn, 5, TXN, producer, true);
    assert_eq!(ended.error_code, NONE);
    assert_eq!(fetch_settled(&mut conn), (11, "txn".into(), NONE));

    let bumped = (ended.producer_id.0, ended.producer_epoch);
    assert_eq!(bumped, (producer.0, producer.1 + 1), "EndTxn v5 bumps the epoch");
    assert_eq!(txn_commit_error(&mut conn, 5, &txn_commit(producer, (-1, ""), TOPIC, 12)), INVALID_PRODUCER_EPOCH);
    assert_eq!(txn_commit_error(&mut conn, 5, &txn_commit(bumped, (-1, ""), TOPIC, 12)), NONE);
    assert_eq!(end_txn(&mut conn, 5, TXN, bumped, true).error_code, NONE);
    assert_eq!(fetch_settled(&mut conn), (12, "txn".into(), NONE));
}
