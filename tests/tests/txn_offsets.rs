//! TxnOffsetCommit on a real broker over raw sockets, without a transaction coordinator: Kafka's
//! errors for a member or generation the group does not know, transactional offsets that
//! OffsetFetch does not see (the last committed offset instead, or UNSTABLE_OFFSET_COMMIT with
//! `require_stable`), and the same after a restart (graceful or SIGKILL), which replays them from
//! `__consumer_offsets` as still pending. Completing a transaction needs its marker, which the
//! transaction coordinator writes: the group coordinator's side of that is tested in
//! `groups/tests/txn_offsets.rs` and `broker/tests/txn_offsets.rs`.

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    GroupId, JoinGroupRequest, OffsetCommitRequest, OffsetFetchRequest, ProducerId, SyncGroupRequest, TransactionalId,
    TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;
use strata_testkit::RawConn;
use strata_testkit::codes::*;
use strata_testkit::requests::{self, topic_name};
use strata_tests::{Broker, BrokerOptions};

const TOPIC: &str = "in";
const GROUP: &str = "eos";

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_owned())
}

/// A TxnOffsetCommit (v3+ fields; older versions drop them) of `offset` for `TOPIC` partition 0.
fn txn_commit(member: (i32, &str), topic: &str, offset: i64) -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s("tx")))
        .with_group_id(GroupId(s(GROUP)))
        .with_producer_id(ProducerId(4000))
        .with_producer_epoch(0)
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

#[test]
fn txn_offset_commit_checks_members_as_kafka_and_its_offsets_stay_pending_across_restarts() {
    let mut broker = Broker::start(BrokerOptions::default().with("group.initial.rebalance.delay.ms", "0"));
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, TOPIC, 1);

    // No group yet: a generation is ILLEGAL_GENERATION; an unknown topic is answered first.
    assert_eq!(txn_commit_error(&mut conn, 5, &txn_commit((1, "m"), TOPIC, 1)), ILLEGAL_GENERATION);
    assert_eq!(txn_commit_error(&mut conn, 5, &txn_commit((-1, ""), "missing", 1)), UNKNOWN_TOPIC_OR_PARTITION);

    let (generation, member) = join(&mut conn);
    assert_eq!(commit(&mut conn, (generation, &member), 5), NONE);
    for version in [3, 4, 5] {
        let unknown = txn_commit((generation, "ghost"), TOPIC, 1);
        assert_eq!(txn_commit_error(&mut conn, version, &unknown), UNKNOWN_MEMBER_ID, "v{version}");
        let stale = txn_commit((generation + 1, &member), TOPIC, 1);
        assert_eq!(txn_commit_error(&mut conn, version, &stale), ILLEGAL_GENERATION, "v{version}");
        let fenced = txn_commit((generation, "other"), TOPIC, 1).with_group_instance_id(Some(s("instance")));
        assert_eq!(txn_commit_error(&mut conn, version, &fenced), UNKNOWN_MEMBER_ID, "v{version}: unknown instance");
    }
    // v0-2 carry no member: accepted in a Stable group (OffsetCommit v8 would refuse it).
    assert_eq!(commit(&mut conn, (-1, ""), 1), UNKNOWN_MEMBER_ID);
    assert_eq!(txn_commit_error(&mut conn, 2, &txn_commit((-1, ""), TOPIC, 7)), NONE);
    assert_eq!(txn_commit_error(&mut conn, 5, &txn_commit((generation, &member), TOPIC, 10)), NONE);

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
}
