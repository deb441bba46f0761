//! In-process tests of the group coordinator APIs: a broker started in this process on
//! 127.0.0.1:0 with a temporary data directory, raw `kafka-protocol` frames over a real socket.
//! Join/sync/heartbeat/commit/fetch flows, a second member forcing a rebalance, the error codes
//! of bad requests, commits surviving a restart, and the offsets log being compacted by snapshot.

mod support;

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    CreateTopicsRequest, DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, GroupId, HeartbeatRequest,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest,
    OffsetCommitResponse, OffsetDeleteRequest, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use strata_testkit::codes::{
    GROUP_ID_NOT_FOUND, ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL, INVALID_GROUP_ID, INVALID_REQUEST,
    INVALID_SESSION_TIMEOUT, MEMBER_ID_REQUIRED, NON_EMPTY_GROUP, NONE, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID,
    UNKNOWN_TOPIC_OR_PARTITION,
};
use strata_testkit::frame::CLIENT_ID;
use support::{Client, IO_TIMEOUT, Node};

const TOPIC: &str = "orders";

/// Settings every test broker runs with: few offsets partitions, no initial rebalance delay.
const FAST: &[&str] = &["offsets.topic.num.partitions=3", "group.initial.rebalance.delay.ms=0"];

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

impl Client {
    async fn create_topic(&mut self, name: &str, partitions: i32) {
        let topic = CreatableTopic::default()
            .with_name(TopicName(s(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(-1);
        let request = CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(5000);
        let response = self.call(7, &request).await;
        assert_eq!(response.topics[0].error_code, NONE, "create {name}");
    }

    /// JoinGroup v9 as a consumer speaking `range`.
    async fn join(&mut self, group: &str, member_id: &str, instance: Option<&str>) -> JoinGroupResponse {
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(s(member_id))
            .with_group_instance_id(instance.map(s))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default().with_name(s("range")).with_metadata(Bytes::from_static(b"sub")),
            ]);
        self.call(9, &request).await
    }

    /// A first join: MEMBER_ID_REQUIRED, then the join with the given id.
    async fn join_new(&mut self, group: &str) -> JoinGroupResponse {
        let first = self.join(group, "", None).await;
        assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
        assert!(first.member_id.starts_with(&format!("{CLIENT_ID}-")), "member id {:?}", first.member_id);
        let member_id = first.member_id.to_string();
        self.join(group, &member_id, None).await
    }

    async fn sync(
        &mut self,
        group: &str,
        generation: i32,
        member_id: &str,
        assignments: &[(&str, &'static [u8])],
    ) -> (i16, Bytes) {
        let request = SyncGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id(generation)
            .with_member_id(s(member_id))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")))
            .with_assignments(
                assignments
                    .iter()
                    .map(|(m, a)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(s(m))
                            .with_assignment(Bytes::from_static(a))
                    })
                    .collect(),
            );
        let response = self.call(5, &request).await;
        (response.error_code, response.assignment)
    }

    async fn heartbeat(&mut self, group: &str, generation: i32, member_id: &str) -> i16 {
        let request = HeartbeatRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id(generation)
            .with_member_id(s(member_id));
        self.call(4, &request).await.error_code
    }

    /// OffsetCommit v9 of `(topic, partition, offset)`s; returns the error codes in order.
    async fn commit(
        &mut self,
        group: &str,
        generation: i32,
        member_id: &str,
        offsets: &[(&str, i32, i64)],
    ) -> Vec<i16> {
        let response = self.call(9, &commit_request(group, generation, member_id, offsets)).await;
        codes(&response)
    }

    /// OffsetFetch v7 (single group) of partitions `0..partitions` of [`TOPIC`].
    async fn fetch_v7(&mut self, group: &str, partitions: i32) -> Vec<(i32, i64, i32, String)> {
        let topic = OffsetFetchRequestTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_indexes((0..partitions).collect());
        let request = OffsetFetchRequest::default().with_group_id(GroupId(s(group))).with_topics(Some(vec![topic]));
        let response: OffsetFetchResponse = self.call(7, &request).await;
        assert_eq!(response.error_code, NONE);
        response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| {
                assert_eq!(p.error_code, NONE);
                (
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.metadata.as_deref().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

fn commit_request(group: &str, generation: i32, member_id: &str, offsets: &[(&str, i32, i64)]) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (topic, partition, offset) in offsets {
        let entry = OffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset)
            .with_committed_leader_epoch(7)
            .with_committed_metadata(Some(s(&format!("m{offset}"))));
        match topics.iter_mut().find(|t| t.name.as_str() == *topic) {
            Some(t) => t.partitions.push(entry),
            None => topics
                .push(OffsetCommitRequestTopic::default().with_name(TopicName(s(topic))).with_partitions(vec![entry])),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(topics)
}

fn codes(response: &OffsetCommitResponse) -> Vec<i16> {
    response.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)).collect()
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("strata-groups-").tempdir().expect("tempdir")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_member_joins_syncs_heartbeats_commits_and_fetches() {
    let dir = temp_dir();
    let node = Node::start(dir.path(), FAST).await;
    let mut c = node.client().await;
    c.create_topic(TOPIC, 4).await;

    // FindCoordinator: v3 single key and v4 batched keys, this node for groups.
    let found = c.call(3, &FindCoordinatorRequest::default().with_key(s("g1"))).await;
    assert_eq!((found.error_code, found.node_id.0, found.port), (NONE, 1, i32::from(node.addr.port())));
    let batched = FindCoordinatorRequest::default().with_key_type(0).with_coordinator_keys(vec![s("g1"), s("g2")]);
    let found = c.call(4, &batched).await;
    assert_eq!(found.coordinators.len(), 2);
    assert!(found.coordinators.iter().all(|k| k.error_code == NONE && k.port == i32::from(node.addr.port())));
    let txn = c.call(4, &FindCoordinatorRequest::default().with_key_type(1).with_coordinator_keys(vec![s("t")])).await;
    assert_eq!((txn.coordinators[0].error_code, txn.coordinators[0].node_id.0), (NONE, 1), "transactional ids too");
    let odd = c.call(4, &FindCoordinatorRequest::default().with_key_type(9).with_coordinator_keys(vec![s("t")])).await;
    assert_eq!(odd.coordinators[0].error_code, INVALID_REQUEST);

    let joined = c.join_new("g1").await;
    assert_eq!(joined.error_code, NONE);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, joined.member_id, "a lone member leads");
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    let me = joined.member_id.to_string();
    let (code, assignment) = c.sync("g1", 1, &me, &[(&me, b"all-four")]).await;
    assert_eq!((code, assignment.as_ref()), (NONE, &b"all-four"[..]));
    assert_eq!(c.heartbeat("g1", 1, &me).await, NONE);
    assert_eq!(c.heartbeat("g1", 0, &me).await, ILLEGAL_GENERATION);
    assert_eq!(c.heartbeat("g1", 1, "nobody").await, UNKNOWN_MEMBER_ID);
    assert_eq!(c.heartbeat("nope", 1, &me).await, UNKNOWN_MEMBER_ID);

    // Commits: known partitions succeed; unknown topics and partitions are refused per partition.
    let codes = c.commit("g1", 1, &me, &[(TOPIC, 0, 10), (TOPIC, 2, 30), (TOPIC, 9, 1), ("missing", 0, 1)]).await;
    assert_eq!(codes, vec![NONE, NONE, UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_OR_PARTITION]);
    assert_eq!(c.commit("g1", 0, &me, &[(TOPIC, 1, 5)]).await, vec![ILLEGAL_GENERATION]);
    assert_eq!(c.commit("g1", 1, "nobody", &[(TOPIC, 1, 5)]).await, vec![UNKNOWN_MEMBER_ID]);

    let fetched = c.fetch_v7("g1", 4).await;
    assert_eq!(
        fetched,
        vec![
            (0, 10, 7, "m10".into()),
            (1, -1, -1, String::new()),
            (2, 30, 7, "m30".into()),
            (3, -1, -1, String::new())
        ]
    );
    // v8 batched groups, one of them unknown; `topics: null` means everything committed.
    let request = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default().with_group_id(GroupId(s("g1"))).with_topics(None),
        OffsetFetchRequestGroup::default().with_group_id(GroupId(s("unknown"))).with_topics(Some(vec![
            OffsetFetchRequestTopics::default().with_name(TopicName(s(TOPIC))).with_partition_indexes(vec![0]),
        ])),
    ]);
    let response = c.call(8, &request).await;
    assert_eq!(response.groups.len(), 2);
    let all: Vec<(i32, i64)> = response.groups[0]
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (p.partition_index, p.committed_offset)))
        .collect();
    assert_eq!(all, vec![(0, 10), (2, 30)]);
    assert_eq!(response.groups[1].topics[0].partitions[0].committed_offset, -1);

    // DescribeGroups and ListGroups see a Stable consumer group.
    let described =
        c.call(5, &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g1")), GroupId(s("ghost"))])).await;
    let g1 = &described.groups[0];
    assert_eq!(
        (g1.error_code, g1.group_state.as_str(), g1.protocol_type.as_str(), g1.protocol_data.as_str()),
        (NONE, "Stable", "consumer", "range")
    );
    assert_eq!(g1.members.len(), 1);
    assert!(g1.members[0].client_host.starts_with("/127.0.0.1"), "client host {:?}", g1.members[0].client_host);
    assert_eq!(g1.members[0].member_assignment.as_ref(), b"all-four");
    assert_eq!(described.groups[1].group_state.as_str(), "Dead");
    let described = c.call(6, &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("ghost"))])).await;
    assert_eq!(described.groups[0].error_code, GROUP_ID_NOT_FOUND);
    let listed = c.call(4, &ListGroupsRequest::default().with_states_filter(vec![s("Stable")])).await;
    assert_eq!(listed.groups.iter().map(|g| g.group_id.as_str()).collect::<Vec<_>>(), vec!["g1"]);
    let listed = c.call(4, &ListGroupsRequest::default().with_states_filter(vec![s("Empty")])).await;
    assert!(listed.groups.is_empty());
    let listed = c.call(5, &ListGroupsRequest::default().with_types_filter(vec![s("consumer")])).await;
    assert!(listed.groups.is_empty(), "only classic groups exist");

    // DeleteGroups refuses a group with members; after LeaveGroup it is Empty and deletable.
    let deleted =
        c.call(2, &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g1")), GroupId(s("ghost"))])).await;
    assert_eq!(
        deleted.results.iter().map(|r| r.error_code).collect::<Vec<_>>(),
        vec![NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND]
    );
    let leave = LeaveGroupRequest::default().with_group_id(GroupId(s("g1"))).with_members(vec![
        MemberIdentity::default().with_member_id(s(&me)),
        MemberIdentity::default().with_member_id(s("nobody")),
    ]);
    let left = c.call(5, &leave).await;
    assert_eq!(left.error_code, NONE);
    assert_eq!(left.members.iter().map(|m| m.error_code).collect::<Vec<_>>(), vec![NONE, UNKNOWN_MEMBER_ID]);
    // OffsetDelete of the now-empty group, then DeleteGroups.
    let request = OffsetDeleteRequest::default().with_group_id(GroupId(s("g1"))).with_topics(vec![
        OffsetDeleteRequestTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partitions(vec![OffsetDeleteRequestPartition::default().with_partition_index(0)]),
        OffsetDeleteRequestTopic::default()
            .with_name(TopicName(s("missing")))
            .with_partitions(vec![OffsetDeleteRequestPartition::default().with_partition_index(0)]),
    ]);
    let response = c.call(0, &request).await;
    assert_eq!(response.error_code, NONE);
    assert_eq!(response.topics[0].partitions[0].error_code, NONE);
    assert_eq!(response.topics[1].partitions[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(c.fetch_v7("g1", 1).await[0].1, -1, "offset 0 deleted");
    let deleted = c.call(2, &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g1"))])).await;
    assert_eq!(deleted.results[0].error_code, NONE);
    assert_eq!(c.fetch_v7("g1", 4).await.iter().map(|f| f.1).collect::<Vec<_>>(), vec![-1; 4]);
    drop(c);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_member_triggers_a_rebalance_that_both_complete() {
    let dir = temp_dir();
    let node = Node::start(dir.path(), FAST).await;
    let mut a = node.client().await;
    let mut b = node.client().await;
    let first = a.join_new("g").await;
    let a_id = first.member_id.to_string();
    assert_eq!(a.sync("g", 1, &a_id, &[(&a_id, b"p0-p3")]).await.0, NONE);

    // B's join parks until A rejoins; A learns of the rebalance through its heartbeat.
    let b_first = b.join("g", "", None).await;
    assert_eq!(b_first.error_code, MEMBER_ID_REQUIRED);
    let b_id = b_first.member_id.to_string();
    let b_join = tokio::spawn({
        let b_id = b_id.clone();
        async move {
            let response = b.join("g", &b_id, None).await;
            (b, response)
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!b_join.is_finished(), "B's join waits for A");
    assert_eq!(a.heartbeat("g", 1, &a_id).await, REBALANCE_IN_PROGRESS);
    // A commit during PreparingRebalance by a member of the old generation is still accepted.
    assert_eq!(a.commit("g", 1, &a_id, &[("t-none", 0, 1)]).await, vec![UNKNOWN_TOPIC_OR_PARTITION]);
    let a_join = a.join("g", &a_id, None).await;
    let (mut b, b_join) = b_join.await.expect("B's join task");
    assert_eq!((a_join.error_code, b_join.error_code), (NONE, NONE));
    assert_eq!((a_join.generation_id, b_join.generation_id), (2, 2));
    assert_eq!(a_join.leader.as_str(), a_id, "the leader stays");
    assert_eq!(a_join.members.len(), 2, "the leader sees every member");
    assert!(b_join.members.is_empty(), "a follower sees none");

    // B's sync parks until the leader's arrives; A gives B nothing and B still gets (empty) bytes.
    let b_sync = tokio::spawn({
        let b_id = b_id.clone();
        async move {
            let result = b.sync("g", 2, &b_id, &[]).await;
            (b, result)
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!b_sync.is_finished(), "B's sync waits for the leader");
    let (code, assignment) = a.sync("g", 2, &a_id, &[(&a_id, b"p0-p3")]).await;
    assert_eq!((code, assignment.as_ref()), (NONE, &b"p0-p3"[..]));
    let (mut b, (code, assignment)) = b_sync.await.expect("B's sync task");
    assert_eq!(code, NONE);
    assert!(assignment.is_empty());
    assert_eq!(b.heartbeat("g", 2, &b_id).await, NONE);
    assert_eq!(a.sync("g", 1, &a_id, &[]).await.0, ILLEGAL_GENERATION);

    // Bad joins.
    let other = JoinGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(&a_id))
        .with_protocol_type(s("connect"))
        .with_protocols(vec![JoinGroupRequestProtocol::default().with_name(s("x"))]);
    assert_eq!(a.call(9, &other).await.error_code, INCONSISTENT_GROUP_PROTOCOL);
    assert_eq!(a.join("", "", None).await.error_code, INVALID_GROUP_ID);
    let short = JoinGroupRequest::default()
        .with_group_id(GroupId(s("g2")))
        .with_session_timeout_ms(10)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default().with_name(s("range"))]);
    assert_eq!(a.call(9, &short).await.error_code, INVALID_SESSION_TIMEOUT);
    drop((a, b));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_survive_a_restart() {
    let dir = temp_dir();
    let node = Node::start(dir.path(), FAST).await;
    let mut c = node.client().await;
    c.create_topic(TOPIC, 4).await;
    let joined = c.join_new("durable").await;
    let me = joined.member_id.to_string();
    assert_eq!(c.sync("durable", 1, &me, &[(&me, b"a")]).await.0, NONE);
    assert_eq!(c.commit("durable", 1, &me, &[(TOPIC, 0, 100), (TOPIC, 3, 300)]).await, vec![NONE, NONE]);
    assert_eq!(c.commit("durable", 1, &me, &[(TOPIC, 0, 101)]).await, vec![NONE]);
    // A group used only for commits (generation -1, no member id), as the admin tools do.
    assert_eq!(c.commit("simple", -1, "", &[(TOPIC, 1, 7)]).await, vec![NONE]);
    drop(c);
    node.stop().await;

    let node = Node::start(dir.path(), FAST).await;
    let mut c = node.client().await;
    let fetched = c.fetch_v7("durable", 4).await;
    assert_eq!(
        fetched,
        vec![
            (0, 101, 7, "m101".into()),
            (1, -1, -1, String::new()),
            (2, -1, -1, String::new()),
            (3, 300, 7, "m300".into())
        ]
    );
    assert_eq!(c.fetch_v7("simple", 2).await[1].1, 7);
    // The member came back with the group (its session restarted), so it can carry on.
    let described = c.call(5, &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("durable"))])).await;
    assert_eq!(described.groups[0].group_state.as_str(), "Stable");
    assert_eq!(c.heartbeat("durable", 1, &me).await, NONE);
    drop(c);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offsets_log_is_compacted_by_snapshot_and_replays_the_same() {
    let dir = temp_dir();
    let node = Node::start(dir.path(), &["offsets.topic.num.partitions=1", "group.initial.rebalance.delay.ms=0"]).await;
    let mut c = node.client().await;
    let partitions = 50;
    c.create_topic(TOPIC, partitions).await;
    // 220 commits of 50 partitions: 11,000 records, past the snapshot threshold of 10,000.
    let rounds = 220;
    for round in 0..rounds {
        let offsets: Vec<(&str, i32, i64)> = (0..partitions).map(|p| (TOPIC, p, i64::from(round * 1000 + p))).collect();
        let codes = c.commit("busy", -1, "", &offsets).await;
        assert!(codes.iter().all(|c| *c == NONE));
    }
    let offsets_log = node.broker.topics.get("__consumer_offsets").expect("offsets topic");
    let log = offsets_log.partition(0).expect("partition 0");
    let deadline = tokio::time::Instant::now() + IO_TIMEOUT;
    while log.log_start_offset() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the log start never moved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let start = log.log_start_offset();
    let end = log.high_watermark();
    assert!(
        start > 10_000 && end - start < 2_000,
        "log start {start}, end {end}: replay reads only the snapshot and what followed"
    );
    drop(c);
    node.stop().await;

    let node = Node::start(dir.path(), &["offsets.topic.num.partitions=1"]).await;
    let mut c = node.client().await;
    let fetched = c.fetch_v7("busy", partitions).await;
    let last = i64::from((rounds - 1) * 1000);
    assert_eq!(
        fetched.iter().map(|f| f.1).collect::<Vec<_>>(),
        (0..partitions).map(|p| last + i64::from(p)).collect::<Vec<_>>()
    );
    drop(c);
    node.stop().await;
}

/// Every version of every group API, with a static member so that every optional field is set:
/// each request decodes, each answer encodes for its version (the connection stays open) and
/// carries what that version can say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_version_of_every_group_api_answers() {
    let dir = temp_dir();
    let node = Node::start(dir.path(), FAST).await;
    let mut c = node.client().await;
    c.create_topic(TOPIC, 2).await;
    for version in 0..=3 {
        let found = c.call(version, &FindCoordinatorRequest::default().with_key(s("v"))).await;
        assert_eq!(found.error_code, NONE, "FindCoordinator v{version}");
    }
    for version in 4..=6 {
        let found = c.call(version, &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("v")])).await;
        assert_eq!(found.coordinators[0].error_code, NONE, "FindCoordinator v{version}");
    }
    for version in 0..=9_i16 {
        let group = format!("v{version}");
        let instance = (version >= 5).then(|| format!("i{version}"));
        let join = |member_id: &str| {
            JoinGroupRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(if version >= 1 { 10_000 } else { -1 })
                .with_member_id(s(member_id))
                .with_group_instance_id(instance.as_deref().map(s))
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![
                    JoinGroupRequestProtocol::default().with_name(s("range")).with_metadata(Bytes::from_static(b"m")),
                ])
        };
        let mut joined = c.call(version, &join("")).await;
        if joined.error_code == MEMBER_ID_REQUIRED {
            assert!(version >= 4, "MEMBER_ID_REQUIRED only from v4");
            let member_id = joined.member_id.to_string();
            joined = c.call(version, &join(&member_id)).await;
        }
        assert_eq!((joined.error_code, joined.generation_id), (NONE, 1), "JoinGroup v{version}");
        assert_eq!(joined.protocol_name.as_deref(), Some("range"));
        let me = joined.member_id.to_string();
        let sync_version = version.min(5);
        let sync = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_generation_id(1)
            .with_member_id(s(&me))
            .with_group_instance_id(if sync_version >= 3 { instance.as_deref().map(s) } else { None })
            .with_assignments(vec![
                SyncGroupRequestAssignment::default().with_member_id(s(&me)).with_assignment(Bytes::from_static(b"a")),
            ]);
        let synced = c.call(sync_version, &sync).await;
        assert_eq!((synced.error_code, synced.assignment.as_ref()), (NONE, &b"a"[..]), "SyncGroup v{sync_version}");
        let heartbeat_version = version.min(4);
        let heartbeat = HeartbeatRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_generation_id(1)
            .with_member_id(s(&me))
            .with_group_instance_id(if heartbeat_version >= 3 { instance.as_deref().map(s) } else { None });
        assert_eq!(c.call(heartbeat_version, &heartbeat).await.error_code, NONE, "Heartbeat v{heartbeat_version}");
        let commit_version = version.clamp(2, 9);
        let mut commit = commit_request(&group, 1, &me, &[(TOPIC, 0, 5)]);
        if commit_version >= 7 {
            commit = commit.with_group_instance_id(instance.as_deref().map(s));
        }
        if commit_version <= 4 {
            commit = commit.with_retention_time_ms(-1);
        }
        if commit_version < 6 {
            commit.topics[0].partitions[0].committed_leader_epoch = -1;
        }
        assert_eq!(codes(&c.call(commit_version, &commit).await), vec![NONE], "OffsetCommit v{commit_version}");
        for fetch_version in 1..=7 {
            let topic =
                OffsetFetchRequestTopic::default().with_name(TopicName(s(TOPIC))).with_partition_indexes(vec![0]);
            let request =
                OffsetFetchRequest::default().with_group_id(GroupId(s(&group))).with_topics(Some(vec![topic]));
            let response = c.call(fetch_version, &request).await;
            assert_eq!(response.topics[0].partitions[0].committed_offset, 5, "OffsetFetch v{fetch_version}");
        }
        for describe_version in 0..=6 {
            let request = DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(s(&group)), GroupId(s("ghost"))])
                .with_include_authorized_operations(describe_version >= 3);
            let described = c.call(describe_version, &request).await;
            assert_eq!(described.groups[0].group_state.as_str(), "Stable", "DescribeGroups v{describe_version}");
            let expected = if describe_version >= 6 { GROUP_ID_NOT_FOUND } else { NONE };
            assert_eq!(described.groups[1].error_code, expected);
        }
        let leave_version = version.min(5);
        let leave = if leave_version >= 3 {
            LeaveGroupRequest::default().with_group_id(GroupId(s(&group))).with_members(vec![
                MemberIdentity::default().with_member_id(s(&me)).with_group_instance_id(instance.as_deref().map(s)),
            ])
        } else {
            LeaveGroupRequest::default().with_group_id(GroupId(s(&group))).with_member_id(s(&me))
        };
        let left = c.call(leave_version, &leave).await;
        assert_eq!(left.error_code, NONE, "LeaveGroup v{leave_version}");
    }
    for version in 8..=9 {
        let request = OffsetFetchRequest::default()
            .with_groups(vec![OffsetFetchRequestGroup::default().with_group_id(GroupId(s("v9"))).with_topics(None)]);
        let response = c.call(version, &request).await;
        assert_eq!(response.groups[0].topics[0].partitions[0].committed_offset, 5, "OffsetFetch v{version}");
    }
    for version in 0..=5 {
        let listed = c.call(version, &ListGroupsRequest::default()).await;
        assert_eq!(listed.groups.len(), 10, "ListGroups v{version}: every group, all Empty now");
    }
    let deleted = c.call(0, &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("v0"))])).await;
    assert_eq!(deleted.results[0].error_code, NONE);
    for version in 1..=2 {
        let name = format!("v{version}");
        let deleted = c.call(version, &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(&name))])).await;
        assert_eq!(deleted.results[0].error_code, NONE, "DeleteGroups v{version}");
    }
    drop(c);
    node.stop().await;
}

/// A member as a client library runs it: join (again with the id MEMBER_ID_REQUIRED gave), sync
/// (the leader assigns every member), and rejoin whenever told the group is rebalancing, until a
/// heartbeat finds the group stable. Returns `(generation, member id, assignment)`.
async fn run_member(mut c: Client, group: String) -> (Client, i32, String, Bytes) {
    let mut member_id = String::new();
    'rejoin: loop {
        let joined = c.join(&group, &member_id, None).await;
        member_id = joined.member_id.to_string();
        match joined.error_code {
            NONE => {}
            MEMBER_ID_REQUIRED | REBALANCE_IN_PROGRESS => continue,
            UNKNOWN_MEMBER_ID => {
                member_id.clear();
                continue;
            }
            other => panic!("join error {other}"),
        }
        let generation = joined.generation_id;
        let ids: Vec<String> = joined.members.iter().map(|m| m.member_id.to_string()).collect();
        let assignments: Vec<(&str, &'static [u8])> = ids.iter().map(|id| (id.as_str(), &b"share"[..])).collect();
        let (code, assignment) = c.sync(&group, generation, &member_id, &assignments).await;
        if code != NONE {
            assert_eq!(code, REBALANCE_IN_PROGRESS, "sync error");
            continue;
        }
        // Stable once a few heartbeats in a row find nothing to do.
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            match c.heartbeat(&group, generation, &member_id).await {
                NONE => {}
                REBALANCE_IN_PROGRESS => continue 'rejoin,
                other => panic!("heartbeat error {other}"),
            }
        }
        return (c, generation, member_id, assignment);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_joins_converge_to_one_generation() {
    let dir = temp_dir();
    // A short initial delay, as Kafka's, lets most members into the first generation.
    let node =
        Node::start(dir.path(), &["offsets.topic.num.partitions=3", "group.initial.rebalance.delay.ms=200"]).await;
    let members = 12;
    let mut tasks = Vec::new();
    for _ in 0..members {
        let c = node.client().await;
        tasks.push(tokio::spawn(run_member(c, "crowd".to_string())));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("member task"));
    }
    let generation = results[0].1;
    assert!(
        results.iter().all(|r| r.1 == generation),
        "one generation: {:?}",
        results.iter().map(|r| r.1).collect::<Vec<_>>()
    );
    assert!(results.iter().all(|r| r.3.as_ref() == b"share"), "every member got its assignment");
    let mut ids: Vec<&str> = results.iter().map(|r| r.2.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), members, "distinct member ids");
    let summary = node.broker.groups.read(|c| c.group_summary("crowd")).await.expect("group exists");
    assert_eq!((summary.members.len(), summary.generation), (members, generation));
    drop(results);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_member_expires_after_its_session_timeout() {
    let dir = temp_dir();
    let node = Node::start(
        dir.path(),
        &["offsets.topic.num.partitions=3", "group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=100"],
    )
    .await;
    let mut c = node.client().await;
    let first = c.join("quiet", "", None).await;
    let member_id = first.member_id.to_string();
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(s("quiet")))
        .with_session_timeout_ms(300)
        .with_rebalance_timeout_ms(300)
        .with_member_id(s(&member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default().with_name(s("range"))]);
    let joined = c.call(9, &request).await;
    assert_eq!(joined.error_code, NONE);
    assert_eq!(c.sync("quiet", 1, &member_id, &[(&member_id, b"x")]).await.0, NONE);
    assert_eq!(c.heartbeat("quiet", 1, &member_id).await, NONE);
    // No heartbeat for longer than the session: the ticker removes the member.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(c.heartbeat("quiet", 1, &member_id).await, UNKNOWN_MEMBER_ID);
    let summary = node.broker.groups.read(|g| g.group_summary("quiet")).await.expect("group kept");
    assert!(summary.members.is_empty());
    assert_eq!(summary.state, strata_groups::GroupState::Empty);
    drop(c);
    node.stop().await;
}
