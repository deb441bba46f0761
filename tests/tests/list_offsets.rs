//! ListOffsets by timestamp, through librdkafka's `offsets_for_times` and on raw sockets:
//! the first offset whose timestamp is >= the target, -1 (end) for a target after the last
//! record, and the earliest/latest/max-timestamp specials.

use std::time::Duration;

use kafka_protocol::records::Compression;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use strata_testkit::RawConn;
use strata_testkit::batches::Batch;
use strata_testkit::codes::NONE;
use strata_testkit::requests::{self, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_TIMESTAMP};
use strata_tests::Broker;
use strata_tests::clients::{self, CLIENT_TIMEOUT};
use strata_tests::data;

const STEP_MS: i64 = 10;
const COUNT: usize = 3_000;

#[test]
fn offsets_for_times_through_librdkafka() {
    let base_ts = requests::epoch_ms();
    let broker = Broker::start_default();
    clients::create_topic(broker.bootstrap(), "times", 1);
    let mut messages = data::generate("times", COUNT, 1);
    for m in &mut messages {
        m.timestamp_ms = Some(base_ts + STEP_MS * i64::try_from(m.index).expect("fits"));
    }
    // Many small batches (and so many time-index lookups across batches and requests).
    let offsets = clients::produce_all(
        broker.bootstrap(),
        "times",
        &messages,
        &[("acks", "all"), ("batch.num.messages", "40"), ("max.in.flight.requests.per.connection", "1")],
    );
    assert_eq!(offsets[COUNT - 1], (0, i64::try_from(COUNT - 1).expect("fits")));

    let consumer = clients::consumer(broker.bootstrap(), &[]);
    let last_ts = base_ts + STEP_MS * i64::try_from(COUNT - 1).expect("fits");
    for (target, expected) in [
        (0, Offset::Offset(0)),
        (base_ts, Offset::Offset(0)),
        (base_ts + 1, Offset::Offset(1)),
        (base_ts + 5_005, Offset::Offset(501)),
        (base_ts + 5_010, Offset::Offset(501)),
        (last_ts, Offset::Offset(i64::try_from(COUNT - 1).expect("fits"))),
        (last_ts + 1, Offset::End),
    ]
    .into_iter()
    .chain((0..COUNT).step_by(97).map(|i| {
        let i = i64::try_from(i).expect("fits");
        (base_ts + STEP_MS * i, Offset::Offset(i))
    })) {
        let mut query = TopicPartitionList::new();
        query.add_partition_offset("times", 0, Offset::Offset(target)).expect("tpl");
        let answer = consumer.offsets_for_times(query, CLIENT_TIMEOUT).expect("offsets_for_times");
        let element = answer.find_partition("times", 0).expect("partition in the answer");
        element.error().unwrap_or_else(|e| panic!("offsets_for_times({target}): {e}"));
        assert_eq!(element.offset(), expected, "offsets_for_times({target})");
    }

    // Reading from the offset found gives the record with that timestamp.
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset("times", 0, Offset::Offset(501)).expect("tpl");
    consumer.assign(&assignment).expect("assign");
    let message = match consumer.poll(Duration::from_secs(10)) {
        Some(Ok(m)) => clients::to_consumed(&m),
        Some(Err(e)) => panic!("poll: {e}"),
        None => panic!("nothing consumed from offset 501"),
    };
    assert_eq!(message.offset, 501);
    assert_eq!(message.timestamp_ms, Some(base_ts + 5_010));
    assert_eq!(message.value.as_deref(), Some(messages[501].value.as_slice()));
}

#[test]
fn list_offsets_special_and_future_timestamps_on_raw_sockets() {
    let base_ts = requests::epoch_ms();
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "specials", 1);

    // Empty partition: earliest = latest = 0; a timestamp finds nothing.
    assert_eq!(requests::list_offset(&mut conn, "specials", 0, EARLIEST_TIMESTAMP).offset, 0);
    assert_eq!(requests::list_offset(&mut conn, "specials", 0, LATEST_TIMESTAMP).offset, 0);
    let none = requests::list_offset(&mut conn, "specials", 0, base_ts);
    assert_eq!((none.error_code, none.offset, none.timestamp), (NONE, -1, -1), "timestamp on an empty partition");

    // Two batches, timestamps base_ts+0..9 and base_ts+100..104, the max in the middle of the second.
    let first = requests::records(10, 0).encode();
    let second_timestamps = [100, 101, 500, 103, 104].map(|t| base_ts + t);
    let second = second_timestamps
        .iter()
        .enumerate()
        .fold(Batch::new(), |batch, (i, &ts)| batch.record(Some(format!("key-{i}").as_bytes()), Some(b"v"), ts))
        .compression(Compression::Gzip)
        .encode();
    assert_eq!(requests::produce(&mut conn, "specials", 0, first).error_code, NONE);
    assert_eq!(requests::produce(&mut conn, "specials", 0, second).error_code, NONE);

    let at = |conn: &mut RawConn, ts: i64| {
        let answer = requests::list_offset(conn, "specials", 0, ts);
        assert_eq!(answer.error_code, NONE, "ListOffsets at {ts}");
        (answer.offset, answer.timestamp)
    };
    assert_eq!(at(&mut conn, EARLIEST_TIMESTAMP).0, 0);
    assert_eq!(at(&mut conn, LATEST_TIMESTAMP).0, 15);
    assert_eq!(at(&mut conn, base_ts + 3), (3, base_ts + 3), "a timestamp inside the first batch");
    assert_eq!(at(&mut conn, base_ts + 50), (10, base_ts + 100), "between batches: the next record");
    assert_eq!(at(&mut conn, base_ts + 101), (11, base_ts + 101));
    assert_eq!(at(&mut conn, base_ts + 200), (12, base_ts + 500), "first record at or after, not the nearest");
    assert_eq!(at(&mut conn, base_ts + 501), (-1, -1), "after the last record: offset -1");
    assert_eq!(at(&mut conn, MAX_TIMESTAMP), (12, base_ts + 500), "max timestamp (ListOffsets v7+)");
}
