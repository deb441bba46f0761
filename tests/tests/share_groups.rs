//! Share groups (KIP-932) on a real socket: two members of one share group join with
//! ShareGroupHeartbeat and share a partition; each ShareFetch acquires records no other member
//! holds; accepted records are done with, released ones go to the next fetch with their delivery
//! count raised, and a record fetched `group.share.delivery.count.limit` times and released again
//! is archived. Wrong acknowledgements and session epochs get Kafka's errors and change nothing:
//! INVALID_RECORD_STATE for a record the member does not hold, INVALID_SHARE_SESSION_EPOCH,
//! SHARE_SESSION_NOT_FOUND, FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID for a session opened by a
//! stranger. A lock that expires, or a closed session, makes records available again. Groups and
//! members are bounded (GROUP_MAX_SIZE_REACHED). ShareGroupDescribe and ListGroups show the
//! group, DescribeGroups (classic groups only) does not, as Kafka's. A killed and restarted broker keeps what was acknowledged (`__share_group_state`) and
//! delivers what was in flight again, its delivery count kept; after 10,000 changes that state
//! topic has its log start moved past old snapshots and still gives the state back. Group configs
//! set where a group starts; a group with a dead-letter topic copies each rejected or exhausted
//! record there once, with headers naming where it came from, before archiving it. A record with
//! a delivery-time header is handed out no earlier than it is due.

use kafka_protocol::messages::share_acknowledge_request::{AcknowledgePartition, AcknowledgeTopic};
use kafka_protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, GroupId, ListGroupsRequest, ShareAcknowledgeRequest,
    ShareFetchResponse, ShareGroupDescribeRequest, ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use strata_testkit::batches::{Batch, decode};
use strata_testkit::codes;
use strata_testkit::raw::RawConn;
use strata_testkit::requests;
use strata_testkit::shares::{self, acquired, alter_group_configs};
use strata_tests::{Broker, BrokerOptions};
use uuid::Uuid;

const GROUP: &str = "workers";
const TOPIC: &str = "work";
const ACCEPT: i8 = 1;
const RELEASE: i8 = 2;

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Member `member`'s heartbeat; members are named here, their ids made from their names.
fn heartbeat(conn: &mut RawConn, member: &str, epoch: i32, topics: Option<&[&str]>) -> ShareGroupHeartbeatResponse {
    shares::heartbeat(conn, (GROUP, &shares::member_id(member)), epoch, topics)
}

/// A ShareFetch of partition 0 of `topic` carrying `acks` (first, last, type).
fn share_fetch(
    conn: &mut RawConn,
    member: &str,
    epoch: i32,
    topic: Uuid,
    max_records: i32,
    acks: &[(i64, i64, i8)],
) -> ShareFetchResponse {
    shares::fetch(conn, (GROUP, &shares::member_id(member)), epoch, (topic, 0), max_records, acks)
}

fn share_ack(conn: &mut RawConn, member: &str, epoch: i32, topic: Uuid, acks: &[(i64, i64, i8)]) -> i16 {
    use kafka_protocol::messages::share_acknowledge_request::AcknowledgementBatch as Batch;
    let batches = acks
        .iter()
        .map(|&(first, last, kind)| {
            Batch::default().with_first_offset(first).with_last_offset(last).with_acknowledge_types(vec![kind])
        })
        .collect();
    let request = ShareAcknowledgeRequest::default()
        .with_group_id(Some(GroupId(text(GROUP))))
        .with_member_id(Some(text(&shares::member_id(member))))
        .with_share_session_epoch(epoch)
        .with_topics(vec![AcknowledgeTopic::default().with_topic_id(topic).with_partitions(vec![
            AcknowledgePartition::default().with_partition_index(0).with_acknowledgement_batches(batches),
        ])]);
    let response = conn.request(1, &request);
    assert_eq!(response.error_code, codes::NONE, "{:?}", response.error_message);
    response.responses[0].partitions[0].error_code
}

fn topic_id(conn: &mut RawConn) -> Uuid {
    requests::metadata(conn, Some(&[TOPIC]), false).topics[0].topic_id
}

fn produce(conn: &mut RawConn, count: usize) {
    let produced = requests::produce(conn, TOPIC, 0, Batch::new().numbered(count, None, requests::epoch_ms()).encode());
    assert_eq!(produced.error_code, codes::NONE);
}

#[test]
fn a_share_group_hands_each_record_to_one_member_and_redelivers_what_is_released() {
    let broker = Broker::start(BrokerOptions::default().with("group.share.delivery.count.limit", "2"));
    let mut a = RawConn::connect(broker.bootstrap());
    let mut b = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut a, TOPIC, 1);
    let topic = topic_id(&mut a);

    let joined = heartbeat(&mut a, "member-a", 0, Some(&[TOPIC]));
    assert_eq!(joined.error_code, codes::NONE, "{:?}", joined.error_message);
    let assigned = joined.assignment.expect("an assignment");
    assert_eq!(
        (assigned.topic_partitions[0].topic_id, assigned.topic_partitions[0].partitions.clone()),
        (topic, vec![0])
    );
    let b_joined = heartbeat(&mut b, "member-b", 0, Some(&[TOPIC]));
    assert_eq!(b_joined.error_code, codes::NONE);
    assert_eq!(b_joined.assignment.expect("an assignment").topic_partitions[0].partitions, [0], "a shared partition");
    let fenced = heartbeat(&mut a, "member-a", joined.member_epoch + 7, None);
    assert_eq!(fenced.error_code, codes::FENCED_MEMBER_EPOCH);

    // Admin views: ShareGroupDescribe and ListGroups (type "share").
    let asked =
        ShareGroupDescribeRequest::default().with_group_ids(vec![GroupId(text(GROUP)), GroupId(text("nobody"))]);
    let described = a.request(1, &asked);
    let group = &described.groups[0];
    assert_eq!(
        (group.error_code, group.group_state.as_str(), group.assignor_name.as_str()),
        (codes::NONE, "Stable", "simple")
    );
    let members: Vec<&str> = group.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(members, [shares::member_id("member-a"), shares::member_id("member-b")]);
    assert_eq!(group.members[1].assignment.topic_partitions[0].topic_name.0.as_str(), TOPIC);
    assert_eq!(described.groups[1].error_code, codes::GROUP_ID_NOT_FOUND);
    let listed = a.request(5, &ListGroupsRequest::default().with_types_filter(vec![text("share")]));
    let share_groups: Vec<(&str, &str)> =
        listed.groups.iter().map(|g| (g.group_id.0.as_str(), g.group_type.as_str())).collect();
    assert_eq!(share_groups, [(GROUP, "share")]);
    let classic_only = a.request(5, &ListGroupsRequest::default().with_types_filter(vec![text("classic")]));
    assert!(classic_only.groups.is_empty(), "{:?}", classic_only.groups);
    // DescribeGroups describes classic groups only: Dead before v6, then GROUP_ID_NOT_FOUND
    // naming why, as reference Kafka 4.1.2 answers.
    let describe = DescribeGroupsRequest::default().with_groups(vec![GroupId(text(GROUP))]);
    let old: DescribeGroupsResponse = a.request(5, &describe);
    assert_eq!((old.groups[0].error_code, old.groups[0].group_state.as_str()), (codes::NONE, "Dead"));
    let new: DescribeGroupsResponse = a.request(6, &describe);
    assert_eq!(new.groups[0].error_code, codes::GROUP_ID_NOT_FOUND);
    let message = new.groups[0].error_message.as_ref().map(|m| m.to_string());
    assert_eq!(message.as_deref(), Some("Group workers is not a classic group."));

    // The sessions open; the group starts at the partition's end (share.auto.offset.reset=latest).
    assert_eq!(acquired(&share_fetch(&mut a, "member-a", 0, topic, 0, &[])).0, []);
    assert_eq!(acquired(&share_fetch(&mut b, "member-b", 0, topic, 0, &[])).0, []);
    produce(&mut a, 10);

    let (runs, offsets) = acquired(&share_fetch(&mut a, "member-a", 1, topic, 4, &[]));
    assert_eq!(runs, [(0, 3, 1)], "a acquires the first four");
    assert!((0..4).all(|o| offsets.contains(&o)), "the records themselves come with them: {offsets:?}");
    let (runs, _) = acquired(&share_fetch(&mut b, "member-b", 1, topic, 100, &[]));
    assert_eq!(runs, [(4, 9, 1)], "b gets the rest, none of a's");

    // b may not acknowledge a's records; a accepts two and releases two.
    assert_eq!(share_ack(&mut b, "member-b", 2, topic, &[(0, 1, ACCEPT)]), codes::INVALID_RECORD_STATE);
    assert_eq!(share_ack(&mut a, "member-a", 2, topic, &[(0, 1, ACCEPT), (2, 3, RELEASE)]), codes::NONE);
    // b accepts its own with its next fetch, which gets the released two, delivered again.
    let (runs, _) = acquired(&share_fetch(&mut b, "member-b", 3, topic, 100, &[(4, 9, ACCEPT)]));
    assert_eq!(runs, [(2, 3, 2)]);
    // Released after their second (last) delivery, they are archived: nobody gets them again.
    assert_eq!(share_ack(&mut b, "member-b", 4, topic, &[(2, 3, RELEASE)]), codes::NONE);
    let (runs, _) = acquired(&share_fetch(&mut a, "member-a", 3, topic, 100, &[]));
    assert_eq!(runs, [], "everything is accepted or archived");

    // Session errors: a wrong epoch, a member without a session.
    let stale = share_fetch(&mut a, "member-a", 9, topic, 1, &[]);
    assert_eq!(stale.error_code, codes::INVALID_SHARE_SESSION_EPOCH);
    let unknown = share_fetch(&mut a, "member-z", 1, topic, 1, &[]);
    assert_eq!(unknown.error_code, codes::SHARE_SESSION_NOT_FOUND);
    let stranger = share_fetch(&mut a, "member-z", 0, topic, 1, &[]);
    assert_eq!(stranger.error_code, codes::UNKNOWN_MEMBER_ID, "only a member opens a share session");
}

#[test]
fn share_groups_and_their_members_are_bounded_as_kafkas() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, TOPIC, 1);
    let join = |conn: &mut RawConn, group: &str, member: &str| {
        let request = ShareGroupHeartbeatRequest::default()
            .with_group_id(GroupId(text(group)))
            .with_member_id(text(member))
            .with_member_epoch(0)
            .with_subscribed_topic_names(Some(vec![TopicName(text(TOPIC))]));
        conn.request(1, &request).error_code
    };
    // group.share.max.size: 200 members.
    for i in 0..200 {
        assert_eq!(join(&mut conn, GROUP, &format!("m-{i}")), codes::NONE, "member {i}");
    }
    assert_eq!(join(&mut conn, GROUP, "one-too-many"), codes::GROUP_MAX_SIZE_REACHED);
    // group.share.max.groups: 10 groups.
    for g in 1..10 {
        assert_eq!(join(&mut conn, &format!("group-{g}"), "m"), codes::NONE, "group {g}");
    }
    assert_eq!(join(&mut conn, "group-10", "m"), codes::GROUP_MAX_SIZE_REACHED);
}

#[test]
fn an_expired_lock_and_a_closed_session_make_records_available_again() {
    let broker = Broker::start(BrokerOptions::default().with("group.share.record.lock.duration.ms", "1000"));
    let mut a = RawConn::connect(broker.bootstrap());
    let mut b = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut a, TOPIC, 1);
    let topic = topic_id(&mut a);
    heartbeat(&mut a, "member-a", 0, Some(&[TOPIC]));
    heartbeat(&mut b, "member-b", 0, Some(&[TOPIC]));
    share_fetch(&mut a, "member-a", 0, topic, 0, &[]);
    share_fetch(&mut b, "member-b", 0, topic, 0, &[]);
    produce(&mut a, 3);
    let first = share_fetch(&mut a, "member-a", 1, topic, 100, &[]);
    assert_eq!(first.acquisition_lock_timeout_ms, 1000);
    assert_eq!(acquired(&first).0, [(0, 2, 1)]);
    assert_eq!(acquired(&share_fetch(&mut b, "member-b", 1, topic, 100, &[])).0, [], "a holds them");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(acquired(&share_fetch(&mut b, "member-b", 2, topic, 100, &[])).0, [(0, 2, 2)], "a's lock expired");
    assert_eq!(share_ack(&mut a, "member-a", 2, topic, &[(0, 2, ACCEPT)]), codes::INVALID_RECORD_STATE);
    // b closes its session (epoch -1) without acknowledging: what it held is released.
    let closed = share_fetch(&mut b, "member-b", -1, topic, 1, &[]);
    assert_eq!(closed.error_code, codes::NONE);
    assert_eq!(acquired(&share_fetch(&mut a, "member-a", 3, topic, 100, &[])).0, [(0, 2, 3)]);
}

#[test]
fn a_released_record_waits_out_the_retry_backoff_before_it_is_delivered_again() {
    let broker = Broker::start(
        BrokerOptions::default()
            .with("strata.share.retry.backoff.ms", "600")
            .with("strata.share.retry.backoff.multiplier", "2"),
    );
    let mut a = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut a, TOPIC, 1);
    let topic = topic_id(&mut a);
    heartbeat(&mut a, "member-a", 0, Some(&[TOPIC]));
    share_fetch(&mut a, "member-a", 0, topic, 0, &[]);
    produce(&mut a, 2);
    assert_eq!(acquired(&share_fetch(&mut a, "member-a", 1, topic, 100, &[])).0, [(0, 1, 1)]);
    let released_at = std::time::Instant::now();
    // Released with this fetch: not handed out again within the fetch's 500 ms wait.
    let waiting = share_fetch(&mut a, "member-a", 2, topic, 100, &[(0, 1, RELEASE)]);
    assert_eq!(acquired(&waiting).0, [], "backing off");
    assert_eq!(waiting.responses[0].partitions[0].acknowledge_error_code, codes::NONE);
    let again = acquired(&share_fetch(&mut a, "member-a", 3, topic, 100, &[])).0;
    assert_eq!(again, [(0, 1, 2)], "delivered again once the backoff is over");
    assert!(released_at.elapsed() >= std::time::Duration::from_millis(600), "{:?}", released_at.elapsed());
}

#[test]
fn a_restart_keeps_what_was_acknowledged_and_delivers_what_was_in_flight_again() {
    const REJECT: i8 = 3;
    let mut broker = Broker::start_default();
    let mut a = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut a, TOPIC, 1);
    let topic = topic_id(&mut a);
    heartbeat(&mut a, "member-a", 0, Some(&[TOPIC]));
    share_fetch(&mut a, "member-a", 0, topic, 0, &[]);
    produce(&mut a, 8);
    assert_eq!(acquired(&share_fetch(&mut a, "member-a", 1, topic, 6, &[])).0, [(0, 5, 1)]);
    assert_eq!(share_ack(&mut a, "member-a", 2, topic, &[(0, 1, ACCEPT), (3, 3, REJECT)]), codes::NONE);
    // 2, 4 and 5 are in flight, 6 and 7 never delivered, when the broker is killed.
    broker.kill();
    broker.restart_on_same_port();

    let mut b = RawConn::connect(broker.bootstrap());
    let joined = heartbeat(&mut b, "member-b", 0, Some(&[TOPIC]));
    assert_eq!(joined.error_code, codes::NONE, "{:?}", joined.error_message);
    let (runs, offsets) = acquired(&share_fetch(&mut b, "member-b", 0, topic, 100, &[]));
    assert_eq!(runs, [(2, 2, 2), (4, 5, 2), (6, 7, 1)], "accepted and rejected records stay done with");
    assert!([2, 4, 5, 6, 7].iter().all(|o| offsets.contains(o)), "{offsets:?}");
    assert_eq!(share_ack(&mut b, "member-b", 1, topic, &[(2, 2, ACCEPT), (4, 7, ACCEPT)]), codes::NONE);

    // Everything acknowledged, across a second restart, a new record is all there is.
    broker.kill();
    broker.restart_on_same_port();
    let mut c = RawConn::connect(broker.bootstrap());
    heartbeat(&mut c, "member-c", 0, Some(&[TOPIC]));
    share_fetch(&mut c, "member-c", 0, topic, 0, &[]);
    produce(&mut c, 1);
    assert_eq!(acquired(&share_fetch(&mut c, "member-c", 1, topic, 100, &[])).0, [(8, 8, 1)]);
}

#[test]
fn the_state_topic_is_kept_short_and_still_gives_back_the_state() {
    const STATE_TOPIC: &str = "__share_group_state";
    const CHANGES: i64 = 10_050;
    let mut broker = Broker::start(BrokerOptions::default().with("share.coordinator.state.topic.num.partitions", "1"));
    let mut a = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut a, TOPIC, 1);
    let topic = topic_id(&mut a);
    heartbeat(&mut a, "member-a", 0, Some(&[TOPIC]));
    share_fetch(&mut a, "member-a", 0, topic, 0, &[]);
    // Small batches: each fetch carries the batch its record is in.
    for _ in 0..=CHANGES / 10 {
        produce(&mut a, 10);
    }
    // One record a fetch, the previous one accepted with it: one snapshot each.
    for offset in 0..CHANGES {
        let acks: &[(i64, i64, i8)] = if offset == 0 { &[] } else { &[(offset - 1, offset - 1, ACCEPT)] };
        let epoch = i32::try_from(offset + 1).expect("epoch");
        assert_eq!(acquired(&share_fetch(&mut a, "member-a", epoch, topic, 1, acks)).0, [(offset, offset, 1)]);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let earliest = requests::list_offset(&mut a, STATE_TOPIC, 0, -2).offset;
        if earliest > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the log start of {STATE_TOPIC} never moved");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    broker.kill();
    broker.restart_on_same_port();
    let mut b = RawConn::connect(broker.bootstrap());
    heartbeat(&mut b, "member-b", 0, Some(&[TOPIC]));
    let (runs, _) = acquired(&share_fetch(&mut b, "member-b", 0, topic, 100, &[]));
    assert_eq!(runs.first(), Some(&(CHANGES - 1, CHANGES - 1, 2)), "the one in flight first: {runs:?}");
    assert!(runs[1..].iter().all(|&(first, _, count)| first >= CHANGES && count == 1), "then new ones: {runs:?}");
}

/// IncrementalAlterConfigs SET of `configs` on group `group`: the resource's error code.
#[test]
fn group_configs_set_where_a_share_group_starts_and_are_described() {
    use kafka_protocol::messages::DescribeConfigsRequest;
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    let broker = Broker::start_default();
    let mut a = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut a, TOPIC, 1);
    let topic = topic_id(&mut a);
    produce(&mut a, 3);
    // Set before the group exists, as an operator does; bad values change nothing.
    assert_eq!(alter_group_configs(&mut a, GROUP, &[("share.auto.offset.reset", "earliest")]), codes::NONE);
    assert_eq!(alter_group_configs(&mut a, GROUP, &[("share.record.lock.duration.ms", "1000")]), codes::INVALID_CONFIG);
    assert_eq!(alter_group_configs(&mut a, GROUP, &[("share.bogus", "1")]), codes::INVALID_CONFIG);
    assert_eq!(alter_group_configs(&mut a, GROUP, &[("share.session.timeout.ms", "44999")]), codes::INVALID_CONFIG);
    assert_eq!(alter_group_configs(&mut a, GROUP, &[("share.heartbeat.interval.ms", "15001")]), codes::INVALID_CONFIG);
    assert_eq!(alter_group_configs(&mut a, GROUP, &[("share.heartbeat.interval.ms", "7000")]), codes::NONE);
    let asked = DescribeConfigsResource::default().with_resource_type(32).with_resource_name(text(GROUP));
    let described = a.request(4, &DescribeConfigsRequest::default().with_resources(vec![asked]));
    let result = &described.results[0];
    assert_eq!(result.error_code, codes::NONE, "{:?}", result.error_message);
    let value = |name: &str| {
        let config = result.configs.iter().find(|c| c.name.as_str() == name).expect(name);
        (config.value.as_ref().map(|v| v.to_string()), config.config_source)
    };
    assert_eq!(value("share.auto.offset.reset"), (Some("earliest".into()), 8), "the group's own value");
    assert_eq!(value("share.record.lock.duration.ms"), (Some("30000".into()), 5), "the broker default");

    assert_eq!(value("share.session.timeout.ms"), (Some("45000".into()), 5), "the broker default");
    let joined = heartbeat(&mut a, "member-a", 0, Some(&[TOPIC]));
    assert_eq!(joined.heartbeat_interval_ms, 7000, "the group's heartbeat interval");
    let fetched = share_fetch(&mut a, "member-a", 0, topic, 100, &[]);
    assert_eq!(acquired(&fetched).0, [(0, 2, 1)], "earliest: what was there before the group");
    assert_eq!(fetched.acquisition_lock_timeout_ms, 30_000);
}

#[test]
fn rejected_and_exhausted_records_go_to_the_dead_letter_topic_once_with_where_they_came_from() {
    const REJECT: i8 = 3;
    let broker = Broker::start_default();
    let mut a = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut a, TOPIC, 1);
    let topic = topic_id(&mut a);
    let not_prefixed = alter_group_configs(&mut a, GROUP, &[("errors.deadletterqueue.topic.name", "orders")]);
    assert_eq!(not_prefixed, codes::INVALID_CONFIG, "only a dlq. topic");
    let dlq = "dlq.work";
    let settings = [("errors.deadletterqueue.topic.name", dlq), ("share.delivery.count.limit", "2")];
    assert_eq!(alter_group_configs(&mut a, GROUP, &settings), codes::NONE);
    heartbeat(&mut a, "member-a", 0, Some(&[TOPIC]));
    share_fetch(&mut a, "member-a", 0, topic, 0, &[]);
    let now = requests::epoch_ms();
    let batch = Batch::new()
        .record(Some(b"k0"), Some(b"fine"), now)
        .record(Some(b"k1"), Some(b"poison"), now)
        .header("trace", Some(b"t-1"))
        .record(Some(b"k2"), Some(b"flaky"), now);
    assert_eq!(requests::produce(&mut a, TOPIC, 0, batch.encode()).error_code, codes::NONE);

    assert_eq!(acquired(&share_fetch(&mut a, "member-a", 1, topic, 100, &[])).0, [(0, 2, 1)]);
    let acks = [(0, 0, ACCEPT), (1, 1, REJECT), (2, 2, RELEASE)];
    assert_eq!(acquired(&share_fetch(&mut a, "member-a", 2, topic, 100, &acks)).0, [(2, 2, 2)]);
    // Released after its last delivery: a dead letter too; nothing is left to deliver.
    assert_eq!(acquired(&share_fetch(&mut a, "member-a", 3, topic, 100, &[(2, 2, RELEASE)])).0, []);

    let fetched = requests::fetch(&mut a, dlq, 0, 0);
    assert_eq!(fetched.error_code, codes::NONE);
    let letters: Vec<_> =
        decode(&fetched.records.expect("dead letters")).into_iter().flat_map(|set| set.records).collect();
    let header = |r: &kafka_protocol::records::Record, name: &str| {
        r.headers.get(name.as_bytes()).and_then(|v| v.as_ref()).map(|v| String::from_utf8_lossy(v).to_string())
    };
    let seen: Vec<[Option<String>; 4]> = letters
        .iter()
        .map(|r| {
            let value = r.value.as_ref().map(|v| String::from_utf8_lossy(v).to_string());
            [
                value,
                header(r, "_dlq.errors.offset"),
                header(r, "_dlq.errors.delivery.count"),
                header(r, "_dlq.errors.reason"),
            ]
        })
        .collect();
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        seen,
        [
            [some("poison"), some("1"), some("1"), some("CLIENT_REJECTED")],
            [some("flaky"), some("2"), some("2"), some("MAX_DELIVERY_ATTEMPTS_REACHED")],
        ],
        "each once, in order"
    );
    let first = &letters[0];
    assert_eq!(first.key.as_deref(), Some(&b"k1"[..]));
    assert_eq!(header(first, "trace"), some("t-1"), "the record's own headers kept");
    assert_eq!(header(first, "_dlq.errors.topic"), some(TOPIC));
    assert_eq!(header(first, "_dlq.errors.partition"), some("0"));
    assert_eq!(header(first, "_dlq.errors.group.id"), some(GROUP));
}

/// The wall clock in epoch milliseconds, as the broker reads it.
fn wall_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

#[test]
fn a_delayed_record_is_not_handed_out_before_it_is_due() {
    let broker = Broker::start_default();
    let mut a = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut a, TOPIC, 1);
    let topic = topic_id(&mut a);
    heartbeat(&mut a, "member-a", 0, Some(&[TOPIC]));
    share_fetch(&mut a, "member-a", 0, topic, 0, &[]);
    let produced_at = wall_ms();
    let deliver_at = produced_at + 700;
    let batch = Batch::new()
        .record(Some(b"now"), Some(b"0"), produced_at)
        .record(Some(b"later"), Some(b"1"), produced_at)
        .header("strata-delay-ms", Some(b"1500"))
        .record(Some(b"soon"), Some(b"2"), produced_at)
        .header("strata-deliver-at", Some(deliver_at.to_string().as_bytes()));
    assert_eq!(requests::produce(&mut a, TOPIC, 0, batch.encode()).error_code, codes::NONE);

    let mut seen: Vec<(i64, i64)> = Vec::new();
    let mut epoch = 1;
    while seen.len() < 3 {
        assert!(wall_ms() < produced_at + 10_000, "not all delivered: {seen:?}");
        let acks: Vec<(i64, i64, i8)> = seen.iter().map(|&(offset, _)| (offset, offset, ACCEPT)).collect();
        let fetched =
            share_fetch(&mut a, "member-a", epoch, topic, 100, if epoch == 1 { &[] } else { &acks[acks.len() - 1..] });
        epoch += 1;
        let at = wall_ms();
        for (first, last, count) in acquired(&fetched).0 {
            assert_eq!(count, 1);
            seen.extend((first..=last).map(|offset| (offset, at)));
        }
    }
    let when = |offset: i64| seen.iter().find(|(o, _)| *o == offset).map(|(_, at)| *at).expect("delivered");
    assert_eq!(seen.iter().map(|(o, _)| *o).collect::<Vec<_>>(), [0, 2, 1], "due order, past the waiting ones");
    assert!(when(2) >= deliver_at, "strata-deliver-at: {} < {deliver_at}", when(2));
    assert!(when(1) >= produced_at + 1500, "strata-delay-ms: {} < {}", when(1), produced_at + 1500);
    assert!(when(1) < produced_at + 1500 + 1000, "taken within a second of being due");
    eprintln!("delivered late by {} ms and {} ms", when(2) - deliver_at, when(1) - produced_at - 1500);
}

/// DescribeShareGroupOffsets of every share-partition of the group: (error, [(partition, start)]).
fn share_offsets(conn: &mut RawConn) -> (i16, Vec<(i32, i64)>) {
    shares::offsets(conn, GROUP)
}

fn reset_share_offset(conn: &mut RawConn, partition: i32, start: i64) -> i16 {
    shares::reset_offset(conn, (GROUP, TOPIC), partition, start)
}

#[test]
fn share_group_offsets_are_described_reset_across_a_restart_and_deleted() {
    let mut broker = Broker::start_default();
    let mut a = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut a, TOPIC, 1);
    let topic = topic_id(&mut a);
    assert_eq!(share_offsets(&mut a).0, codes::GROUP_ID_NOT_FOUND);
    let joined = heartbeat(&mut a, "member-a", 0, Some(&[TOPIC]));
    share_fetch(&mut a, "member-a", 0, topic, 0, &[]);
    produce(&mut a, 5);
    assert_eq!(acquired(&share_fetch(&mut a, "member-a", 1, topic, 100, &[])).0, [(0, 4, 1)]);
    assert_eq!(share_ack(&mut a, "member-a", 2, topic, &[(0, 4, ACCEPT)]), codes::NONE);
    assert_eq!(share_offsets(&mut a), (codes::NONE, vec![(0, 5)]));
    assert_eq!(reset_share_offset(&mut a, 0, 2), codes::NON_EMPTY_GROUP, "not while it has members");
    heartbeat(&mut a, "member-a", -1, None);
    assert_eq!(joined.error_code, codes::NONE);
    assert_eq!(reset_share_offset(&mut a, 0, -3), codes::INVALID_REQUEST);
    assert_eq!(reset_share_offset(&mut a, 7, 0), codes::UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(reset_share_offset(&mut a, 0, 2), codes::NONE);

    broker.kill();
    broker.restart_on_same_port();
    let mut b = RawConn::connect(broker.bootstrap());
    assert_eq!(share_offsets(&mut b), (codes::NONE, vec![(0, 2)]), "the reset survives a restart");
    heartbeat(&mut b, "member-b", 0, Some(&[TOPIC]));
    assert_eq!(acquired(&share_fetch(&mut b, "member-b", 0, topic, 100, &[])).0, [(2, 4, 1)], "read again from 2");
    heartbeat(&mut b, "member-b", -1, None);

    assert_eq!(shares::delete_offsets(&mut b, GROUP, TOPIC), codes::NONE);
    assert_eq!(share_offsets(&mut b).0, codes::GROUP_ID_NOT_FOUND, "nothing left of the group");
    // DeleteGroups removes a share group's state too.
    assert_eq!(reset_share_offset(&mut b, 0, 1), codes::NONE);
    let gone = b.request(
        2,
        &kafka_protocol::messages::DeleteGroupsRequest::default().with_groups_names(vec![GroupId(text(GROUP))]),
    );
    assert_eq!(gone.results[0].error_code, codes::NONE);
    assert_eq!(share_offsets(&mut b).0, codes::GROUP_ID_NOT_FOUND);
}

#[test]
fn a_topic_delay_holds_back_records_that_name_no_time_of_their_own() {
    use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;
    let broker = Broker::start_default();
    let mut a = RawConn::connect(broker.bootstrap());
    let mut create = requests::create_topics_request(TOPIC, 1);
    create.topics[0].configs =
        vec![CreatableTopicConfig::default().with_name(text("strata.delivery.delay.ms")).with_value(Some(text("800")))];
    assert_eq!(a.request(5, &create).topics[0].error_code, codes::NONE);
    let topic = topic_id(&mut a);
    heartbeat(&mut a, "member-a", 0, Some(&[TOPIC]));
    share_fetch(&mut a, "member-a", 0, topic, 0, &[]);
    let produced_at = wall_ms();
    let batch = Batch::new()
        .record(None, Some(b"by-topic"), produced_at)
        .record(None, Some(b"own"), produced_at)
        .header("strata-delay-ms", Some(b"100"));
    assert_eq!(requests::produce(&mut a, TOPIC, 0, batch.encode()).error_code, codes::NONE);
    let mut epoch = 1;
    let mut when = std::collections::BTreeMap::new();
    while when.len() < 2 {
        assert!(wall_ms() < produced_at + 10_000, "not all delivered: {when:?}");
        for (first, last, _) in acquired(&share_fetch(&mut a, "member-a", epoch, topic, 100, &[])).0 {
            when.extend((first..=last).map(|offset| (offset, wall_ms())));
        }
        epoch += 1;
    }
    assert!(when[&1] >= produced_at + 100 && when[&1] < produced_at + 800, "its own delay first: {when:?}");
    assert!(when[&0] >= produced_at + 800, "the topic's delay: {when:?}");
}

#[test]
fn a_read_committed_share_group_gets_committed_records_only() {
    use rdkafka::producer::Producer;
    use std::time::Duration;
    let broker = Broker::start_default();
    let mut a = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut a, TOPIC, 1);
    let topic = topic_id(&mut a);
    assert_eq!(alter_group_configs(&mut a, GROUP, &[("share.isolation.level", "read_committed")]), codes::NONE);
    assert_eq!(alter_group_configs(&mut a, GROUP, &[("share.isolation.level", "read_some")]), codes::INVALID_CONFIG);
    assert_eq!(alter_group_configs(&mut a, GROUP, &[("share.auto.offset.reset", "earliest")]), codes::NONE);
    // Committed 0-2 (marker 3), aborted 4-5 (marker 6), then 7 in a transaction left open.
    let producer = strata_tests::clients::transactional_producer(broker.bootstrap(), "share-tx");
    let wait = Duration::from_secs(30);
    producer.begin_transaction().expect("begin");
    strata_tests::clients::send_tagged(&producer, TOPIC, 1, 3, "committed");
    producer.commit_transaction(wait).expect("commit");
    producer.begin_transaction().expect("begin");
    strata_tests::clients::send_tagged(&producer, TOPIC, 1, 2, "aborted");
    producer.abort_transaction(wait).expect("abort");
    producer.begin_transaction().expect("begin");
    strata_tests::clients::send_tagged(&producer, TOPIC, 1, 1, "open");

    heartbeat(&mut a, "member-a", 0, Some(&[TOPIC]));
    let fetched = share_fetch(&mut a, "member-a", 0, topic, 100, &[]);
    assert_eq!(acquired(&fetched).0, [(0, 2, 1)], "the committed records; not the markers, the aborted or the open");
    let nothing = share_fetch(&mut a, "member-a", 1, topic, 100, &[(0, 2, ACCEPT)]);
    assert_eq!(acquired(&nothing).0, [], "the open transaction holds back what follows");
    producer.commit_transaction(wait).expect("commit the open one");
    let after = share_fetch(&mut a, "member-a", 2, topic, 100, &[]);
    assert_eq!(acquired(&after).0, [(7, 7, 1)], "committed now, past the aborted records and the markers");
    let done = share_fetch(&mut a, "member-a", 3, topic, 100, &[(7, 7, ACCEPT)]);
    assert_eq!(acquired(&done).0, []);
    // The aborted records and the markers were archived: the group's start offset is past them.
    let (code, offsets) = share_offsets(&mut a);
    assert_eq!(code, codes::NONE);
    assert_eq!(offsets, [(0, 9)], "every offset below 9 done with");
}
