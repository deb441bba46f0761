//! Delay topics (issue 16, beyond Kafka): a topic with `strata.delay.target.topic` has its records
//! moved to the target topic once due (here the delay topic's `strata.delivery.delay.ms`, or a
//! record's own `strata-delay-ms`), with their key, value and headers, never early, in order; the
//! mover's position is the committed offset of the group `strata-delay-<topic>`; records still
//! waiting when the broker is killed arrive after its restart.

use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Record;
use strata_testkit::batches::{Batch, decode};
use strata_testkit::codes;
use strata_testkit::raw::RawConn;
use strata_testkit::requests;
use strata_tests::Broker;

const DELAY: &str = "delay-1s";
const TARGET: &str = "delivered";

fn wall_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Every record of the target's partition 0 so far.
fn target_records(conn: &mut RawConn) -> Vec<Record> {
    let fetched = requests::fetch(conn, TARGET, 0, 0);
    fetched.records.map(|r| decode(&r).into_iter().flat_map(|set| set.records).collect()).unwrap_or_default()
}

/// Waits until the target holds `count` records; returns them and when they were all there.
fn wait_for(conn: &mut RawConn, count: usize, since: i64) -> (Vec<Record>, i64) {
    loop {
        let records = target_records(conn);
        if records.len() >= count {
            return (records, wall_ms());
        }
        assert!(wall_ms() < since + 15_000, "{} of {count} records reached {TARGET}", records.len());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn keys(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).to_string()).collect()
}

#[test]
fn a_delay_topic_moves_its_records_to_the_target_when_due_also_across_a_restart() {
    let mut broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, TARGET, 1);
    let mut create = requests::create_topics_request(DELAY, 1);
    create.topics[0].configs = vec![
        CreatableTopicConfig::default().with_name(text("strata.delay.target.topic")).with_value(Some(text(TARGET))),
        CreatableTopicConfig::default().with_name(text("strata.delivery.delay.ms")).with_value(Some(text("1000"))),
    ];
    assert_eq!(conn.request(5, &create).topics[0].error_code, codes::NONE);

    let produced_at = wall_ms();
    let batch = Batch::new()
        .record(Some(b"k0"), Some(b"v0"), produced_at)
        .header("trace", Some(b"t-0"))
        .record(Some(b"k1"), Some(b"v1"), produced_at)
        .record(Some(b"k2"), Some(b"v2"), produced_at);
    assert_eq!(requests::produce(&mut conn, DELAY, 0, batch.encode()).error_code, codes::NONE);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(target_records(&mut conn).is_empty(), "nothing moved before it is due");
    let (moved, at) = wait_for(&mut conn, 3, produced_at);
    assert!(at >= produced_at + 1000 && at < produced_at + 3000, "moved {} ms after producing", at - produced_at);
    assert_eq!(keys(&moved), ["k0", "k1", "k2"], "in order");
    assert_eq!(moved[0].value.as_deref(), Some(&b"v0"[..]));
    let trace = moved[0].headers.get("trace".as_bytes()).cloned().flatten();
    assert_eq!(trace.as_deref(), Some(&b"t-0"[..]), "headers kept");

    // Two more, killed before they are due: they arrive after the restart, the first three once
    // (their move committed: a kill between the write and the commit would move them again).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while committed(&mut conn) != 3 {
        assert!(std::time::Instant::now() < deadline, "the mover commits its position");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let produced_at = wall_ms();
    let batch =
        Batch::new().record(Some(b"k3"), Some(b"v3"), produced_at).record(Some(b"k4"), Some(b"v4"), produced_at);
    assert_eq!(requests::produce(&mut conn, DELAY, 0, batch.encode()).error_code, codes::NONE);
    broker.kill();
    broker.restart_on_same_port();
    let mut conn = RawConn::connect(broker.bootstrap());
    let (moved, _) = wait_for(&mut conn, 5, produced_at);
    assert_eq!(keys(&moved), ["k0", "k1", "k2", "k3", "k4"]);

    assert_eq!(committed(&mut conn), 5, "the mover's committed position");
}

/// The mover's committed position in the delay topic's partition.
fn committed(conn: &mut RawConn) -> i64 {
    let position = conn.request(
        7,
        &kafka_protocol::messages::OffsetFetchRequest::default()
            .with_group_id(kafka_protocol::messages::GroupId(text("strata-delay-delay-1s")))
            .with_topics(Some(vec![
                kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(requests::topic_name(DELAY))
                    .with_partition_indexes(vec![0]),
            ])),
    );
    position.topics[0].partitions[0].committed_offset
}
