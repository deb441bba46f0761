//! The request versions Kafka 4 removed and Kafka 3.9 still served (`strata.legacy.protocol.enable`,
//! on by default), on raw sockets. The old requests and message sets are written here by hand from
//! Kafka's protocol guide, independently of the broker's codec, and what they stored is read back
//! with today's Fetch.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Decompressor, Gzip};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::records::{Compression, IEEE};
use strata_broker::dispatch::spec;
use strata_testkit::RawConn;
use strata_testkit::batches::Batch;
use strata_testkit::codes::*;
use strata_testkit::requests;
use strata_tests::{Broker, BrokerOptions};

const PRODUCE: i16 = 0;
const FETCH: i16 = 1;
const LIST_OFFSETS: i16 = 2;
const OFFSET_COMMIT: i16 = 8;
const OFFSET_FETCH: i16 = 9;
const CREATE_TOPICS: i16 = 19;
const DELETE_TOPICS: i16 = 20;

fn put_str(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn get_str(r: &mut Bytes) -> String {
    let len = r.get_i16();
    if len < 0 {
        return "<null>".into();
    }
    let s = String::from_utf8(r[..len as usize].to_vec()).expect("utf8");
    r.advance(len as usize);
    s
}

/// One legacy message entry: offset, size, crc, magic, attributes, [timestamp], key, value.
fn message(
    out: &mut BytesMut,
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let mut body = BytesMut::new();
    body.put_i8(magic);
    body.put_i8(attributes);
    if magic == 1 {
        body.put_i64(timestamp);
    }
    for field in [key, value] {
        match field {
            Some(b) => {
                body.put_i32(b.len() as i32);
                body.put_slice(b);
            }
            None => body.put_i32(-1),
        }
    }
    out.put_i64(offset);
    out.put_i32(4 + body.len() as i32);
    out.put_u32(IEEE.checksum(&body));
    out.put_slice(&body);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    Gzip::compress(&mut out, |b: &mut BytesMut| {
        b.put_slice(data);
        Ok(())
    })
    .expect("gzip");
    out.to_vec()
}

/// A frame with request header v1 (no tagged fields) and `body`; returns the correlation id.
fn send(conn: &mut RawConn, api_key: i16, version: i16, correlation_id: i32, body: &[u8]) {
    let mut frame = BytesMut::new();
    frame.put_i16(api_key);
    frame.put_i16(version);
    frame.put_i32(correlation_id);
    frame.put_i16(10);
    frame.put_slice(b"old-client");
    frame.put_slice(body);
    conn.send_frame(&frame);
}

/// Sends a legacy request and returns the response body after its correlation id.
fn call(conn: &mut RawConn, api_key: i16, version: i16, body: &[u8]) -> Bytes {
    send(conn, api_key, version, 4242, body);
    let mut reply = conn.read_frame();
    assert_eq!(reply.get_i32(), 4242, "correlation id");
    reply
}

/// A Produce v0-2 body for one topic: `(partition, message set)` each.
fn produce_body(acks: i16, topic: &str, partitions: &[(i32, &[u8])]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i16(acks);
    b.put_i32(10_000);
    b.put_i32(1);
    b.put_i16(topic.len() as i16);
    b.put_slice(topic.as_bytes());
    b.put_i32(partitions.len() as i32);
    for (partition, set) in partitions {
        b.put_i32(*partition);
        b.put_i32(set.len() as i32);
        b.put_slice(set);
    }
    b.to_vec()
}

/// Reads a Produce v0-2 response for one topic: `(partition, error, base offset, log append time)`.
fn produce_answers(version: i16, topic: &str, mut r: Bytes) -> Vec<(i32, i16, i64, Option<i64>)> {
    assert_eq!(r.get_i32(), 1, "one topic");
    let len = r.get_i16() as usize;
    assert_eq!(&r[..len], topic.as_bytes());
    r.advance(len);
    let n = r.get_i32();
    let answers =
        (0..n).map(|_| (r.get_i32(), r.get_i16(), r.get_i64(), (version >= 2).then(|| r.get_i64()))).collect();
    if version >= 1 {
        assert_eq!(r.get_i32(), 0, "throttle time");
    }
    assert!(r.is_empty(), "v{version}: {} bytes left in the response", r.len());
    answers
}

fn produce(conn: &mut RawConn, version: i16, topic: &str, set: &[u8]) -> (i16, i64) {
    let reply = call(conn, PRODUCE, version, &produce_body(1, topic, &[(0, set)]));
    let answers = produce_answers(version, topic, reply);
    assert_eq!(answers.len(), 1);
    let (partition, error, base, append_time) = answers[0];
    assert_eq!(partition, 0);
    if version >= 2 {
        assert_eq!(append_time, Some(-1), "CreateTime topic: no log append time");
    }
    (error, base)
}

#[test]
fn produce_v0_to_v2_plain_and_gzip_is_stored_and_read_back_with_todays_fetch() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "legacy", 1);

    let mut v0 = BytesMut::new();
    message(&mut v0, 0, 0, 0, 0, Some(b"k0"), Some(b"v0"));
    message(&mut v0, 1, 0, 0, 0, None, Some(b"v1"));
    assert_eq!(produce(&mut conn, 0, "legacy", &v0), (NONE, 0), "v0, magic 0");

    let mut v1 = BytesMut::new();
    message(&mut v1, 0, 1, 0, 1000, Some(b"k2"), Some(b"v2"));
    message(&mut v1, 0, 1, 0, 1001, Some(b"k3"), None);
    assert_eq!(produce(&mut conn, 1, "legacy", &v1), (NONE, 2), "v1, magic 1");

    // A gzip wrapper (magic 1) whose inner messages have relative offsets, as Java 0.10+ writes.
    let mut inner = BytesMut::new();
    for i in 0..3i64 {
        message(
            &mut inner,
            i,
            1,
            0,
            2000 + i,
            Some(format!("k{}", 4 + i).as_bytes()),
            Some(format!("v{}", 4 + i).as_bytes()),
        );
    }
    let mut wrapped = BytesMut::new();
    message(&mut wrapped, 2, 1, Compression::Gzip as i8, 2002, None, Some(&gzip(&inner)));
    assert_eq!(produce(&mut conn, 2, "legacy", &wrapped), (NONE, 4), "v2, gzip magic 1");

    // A gzip wrapper of magic 0: inner offsets absolute, no timestamps.
    let mut inner = BytesMut::new();
    message(&mut inner, 100, 0, 0, 0, Some(b"k7"), Some(b"v7"));
    message(&mut inner, 101, 0, 0, 0, Some(b"k8"), Some(b"v8"));
    let mut wrapped = BytesMut::new();
    message(&mut wrapped, 101, 0, Compression::Gzip as i8, 0, None, Some(&gzip(&inner)));
    assert_eq!(produce(&mut conn, 0, "legacy", &wrapped), (NONE, 7), "v0, gzip magic 0");

    let fetched = requests::fetch(&mut conn, "legacy", 0, 0);
    assert_eq!(fetched.error_code, NONE);
    assert_eq!(fetched.high_watermark, 9);
    let batches = strata_testkit::batches::decode(&fetched.records.expect("records"));
    let codecs: Vec<_> = batches.iter().map(|b| b.compression).collect();
    assert_eq!(
        codecs,
        [Compression::None, Compression::None, Compression::Gzip, Compression::Gzip],
        "stored as produced"
    );
    /// Offset, timestamp, key and value of one stored record.
    type Stored = (i64, i64, Option<Vec<u8>>, Option<Vec<u8>>);
    let got: Vec<Stored> = batches
        .iter()
        .flat_map(|b| &b.records)
        .map(|r| (r.offset, r.timestamp, r.key.as_ref().map(|k| k.to_vec()), r.value.as_ref().map(|v| v.to_vec())))
        .collect();
    let s = |x: &str| Some(x.as_bytes().to_vec());
    assert_eq!(
        got,
        vec![
            (0, -1, s("k0"), s("v0")),
            (1, -1, None, s("v1")),
            (2, 1000, s("k2"), s("v2")),
            (3, 1001, s("k3"), None),
            (4, 2000, s("k4"), s("v4")),
            (5, 2001, s("k5"), s("v5")),
            (6, 2002, s("k6"), s("v6")),
            (7, -1, s("k7"), s("v7")),
            (8, -1, s("k8"), s("v8")),
        ]
    );
    assert!(batches.iter().flat_map(|b| &b.records).all(|r| r.producer_id == -1), "no producer id");
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn a_corrupt_message_set_fails_its_partition_alone_and_acks_0_is_silent() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "two", 2);
    let mut good = BytesMut::new();
    message(&mut good, 0, 1, 0, 5, None, Some(b"good"));
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let reply = call(&mut conn, PRODUCE, 1, &produce_body(-1, "two", &[(0, &bad), (1, &good)]));
    assert_eq!(produce_answers(1, "two", reply), vec![(0, CORRUPT_MESSAGE, -1, None), (1, NONE, 0, None)]);

    // acks=0: no answer (the next request on the connection is answered first); the write
    // completes on its own, so the high watermark reaches 1 soon after.
    send(&mut conn, PRODUCE, 2, 1, &produce_body(0, "two", &[(0, &good)]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let latest = requests::list_offset(&mut conn, "two", 0, requests::LATEST_TIMESTAMP);
        assert_eq!(latest.error_code, NONE);
        if latest.offset == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the acks=0 produce was not appended: latest {}", latest.offset);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn without_the_setting_produce_v0_to_v2_is_refused_as_kafka_4_refuses_it() {
    // Reference Kafka 4.1.2 advertises Produce v0 and closes the connection on v0-2.
    let broker = Broker::start(BrokerOptions::default().with("strata.legacy.protocol.enable", "false"));
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "k4", 1);
    let mut set = BytesMut::new();
    message(&mut set, 0, 1, 0, 5, None, Some(b"x"));
    for version in 0..=2 {
        let mut old = RawConn::connect(broker.bootstrap());
        send(&mut old, PRODUCE, version, 1, &produce_body(1, "k4", &[(0, &set)]));
        old.expect_closed(&format!("Produce v{version}"));
    }
    let latest = requests::list_offset(&mut conn, "k4", 0, requests::LATEST_TIMESTAMP);
    assert_eq!(latest.offset, 0, "nothing appended");
}

/// A message read back from a legacy Fetch: (offset, magic, attributes, timestamp, key, value);
/// a compressed wrapper is followed by its inner messages.
type Message = (i64, i8, i8, Option<i64>, Option<Vec<u8>>, Option<Vec<u8>>);

/// Parses a message set, checking every CRC, and opens gzip wrappers.
fn parse_set(mut set: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    while !set.is_empty() {
        let mut b = set;
        let offset = b.get_i64();
        let size = b.get_i32() as usize;
        let (message, rest) = b.split_at(size);
        set = rest;
        let mut m = message;
        let crc = m.get_u32();
        assert_eq!(crc, IEEE.checksum(m), "crc of the message at offset {offset}");
        let magic = m.get_i8();
        let attributes = m.get_i8();
        let timestamp = (magic == 1).then(|| m.get_i64());
        let field = |m: &mut &[u8]| {
            let len = m.get_i32();
            (len >= 0).then(|| {
                let (f, rest) = m.split_at(len as usize);
                *m = rest;
                f.to_vec()
            })
        };
        let key = field(&mut m);
        let value = field(&mut m);
        assert!(m.is_empty(), "bytes left in the message at offset {offset}");
        out.push((offset, magic, attributes, timestamp, key, value.clone()));
        if attributes & 7 == Compression::Gzip as i8 {
            let mut compressed = Bytes::from(value.expect("wrapper value"));
            let inner = Gzip::decompress(&mut compressed, |b: &mut Bytes| Ok(b.to_vec())).expect("gunzip");
            out.extend(parse_set(&inner));
        }
    }
    out
}

/// A Fetch v0-3 body for partition 0 of `topic`.
fn fetch_body(version: i16, topic: &str, offset: i64, max_wait_ms: i32, min_bytes: i32) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i32(-1);
    b.put_i32(max_wait_ms);
    b.put_i32(min_bytes);
    if version >= 3 {
        b.put_i32(1 << 20);
    }
    b.put_i32(1);
    b.put_i16(topic.len() as i16);
    b.put_slice(topic.as_bytes());
    b.put_i32(1);
    b.put_i32(0);
    b.put_i64(offset);
    b.put_i32(1 << 20);
    b.to_vec()
}

/// Fetch v0-3 of partition 0: (error, high watermark, messages).
fn legacy_fetch(conn: &mut RawConn, version: i16, topic: &str, offset: i64) -> (i16, i64, Vec<Message>) {
    let mut r = call(conn, FETCH, version, &fetch_body(version, topic, offset, 0, 0));
    if version >= 1 {
        assert_eq!(r.get_i32(), 0, "throttle time");
    }
    assert_eq!(r.get_i32(), 1, "one topic");
    let len = r.get_i16() as usize;
    assert_eq!(&r[..len], topic.as_bytes());
    r.advance(len);
    assert_eq!((r.get_i32(), r.get_i32()), (1, 0), "one partition, partition 0");
    let error = r.get_i16();
    let high_watermark = r.get_i64();
    let len = r.get_i32() as usize;
    assert_eq!(r.len(), len, "v{version}: the message set ends the response");
    (error, high_watermark, parse_set(&r))
}

fn stored_batch(first_ts: i64, keys: &[&str], compression: Compression) -> Bytes {
    let batch = keys.iter().enumerate().fold(Batch::new(), |batch, (i, k)| {
        batch
            .record(Some(k.as_bytes()), Some(format!("value-{k}").as_bytes()), first_ts + i as i64)
            .header("h", Some(b"v"))
    });
    batch.compression(compression).encode()
}

#[test]
fn fetch_v0_to_v3_down_converts_what_todays_producers_stored() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "down", 1);
    assert_eq!(
        requests::produce(&mut conn, "down", 0, stored_batch(500, &["a", "b"], Compression::None)).base_offset,
        0
    );
    assert_eq!(
        requests::produce(&mut conn, "down", 0, stored_batch(600, &["c", "d"], Compression::Gzip)).base_offset,
        2
    );
    let k = |s: &str| Some(s.as_bytes().to_vec());
    let v = |s: &str| Some(format!("value-{s}").into_bytes());

    for version in [0, 1] {
        let (error, hw, messages) = legacy_fetch(&mut conn, version, "down", 0);
        assert_eq!((error, hw), (NONE, 4), "v{version}");
        let gz = Compression::Gzip as i8;
        assert_eq!(
            messages,
            vec![
                (0, 0, 0, None, k("a"), v("a")),
                (1, 0, 0, None, k("b"), v("b")),
                (3, 0, gz, None, None, messages[2].5.clone()),
                (2, 0, 0, None, k("c"), v("c")),
                (3, 0, 0, None, k("d"), v("d")),
            ],
            "v{version}: magic 0, absolute inner offsets, no timestamps"
        );
    }
    for version in [2, 3] {
        let (error, hw, messages) = legacy_fetch(&mut conn, version, "down", 1);
        assert_eq!((error, hw), (NONE, 4), "v{version}");
        let gz = Compression::Gzip as i8;
        assert_eq!(
            messages,
            vec![
                (1, 1, 0, Some(501), k("b"), v("b")),
                (3, 1, gz, Some(601), None, messages[1].5.clone()),
                (0, 1, 0, Some(600), k("c"), v("c")),
                (1, 1, 0, Some(601), k("d"), v("d")),
            ],
            "v{version}: magic 1 from offset 1, relative inner offsets, timestamps kept"
        );
    }
    // Past the end: nothing, no error; before the start: OFFSET_OUT_OF_RANGE.
    assert_eq!(legacy_fetch(&mut conn, 2, "down", 4), (NONE, 4, vec![]));
    assert_eq!(legacy_fetch(&mut conn, 0, "down", 99).0, OFFSET_OUT_OF_RANGE);
}

#[test]
fn legacy_produce_then_legacy_fetch_round_trips_and_fetch_long_polls() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "round", 1);
    let mut set = BytesMut::new();
    message(&mut set, 0, 1, 0, 77, Some(b"key"), Some(b"value"));
    assert_eq!(produce(&mut conn, 2, "round", &set), (NONE, 0));
    let (_, _, messages) = legacy_fetch(&mut conn, 3, "round", 0);
    assert_eq!(messages, vec![(0, 1, 0, Some(77), Some(b"key".to_vec()), Some(b"value".to_vec()))]);

    // min_bytes 1 at the end of the log waits for max_wait_ms, then answers empty.
    let started = std::time::Instant::now();
    let mut r = call(&mut conn, FETCH, 0, &fetch_body(0, "round", 1, 400, 1));
    assert!(started.elapsed() >= std::time::Duration::from_millis(350), "answered after {:?}", started.elapsed());
    assert_eq!(r.get_i32(), 1);
    r.advance(2 + 5 + 4 + 4);
    assert_eq!((r.get_i16(), r.get_i64(), r.get_i32()), (NONE, 1, 0), "no error, high watermark 1, no records");
}

#[test]
fn without_the_setting_fetch_v0_to_v3_closes_the_connection_and_is_not_advertised() {
    let broker = Broker::start(BrokerOptions::default().with("strata.legacy.protocol.enable", "false"));
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "k4", 1);
    let fetch = spec(ApiKey::Fetch).expect("Fetch is served");
    assert!(fetch.legacy_min < fetch.min, "Fetch has legacy versions");
    for version in fetch.legacy_min..fetch.min {
        let mut conn = RawConn::connect(broker.bootstrap());
        send(&mut conn, FETCH, version, 1, &fetch_body(version, "k4", 0, 0, 0));
        conn.expect_closed(&format!("Fetch v{version}"));
    }
}

/// ListOffsets v0 of partition 0 at `timestamp`: (error, offsets).
fn list_offsets_v0(conn: &mut RawConn, topic: &str, timestamp: i64) -> (i16, Vec<i64>) {
    let mut b = BytesMut::new();
    b.put_i32(-1);
    b.put_i32(1);
    put_str(&mut b, topic);
    b.put_i32(1);
    b.put_i32(0);
    b.put_i64(timestamp);
    b.put_i32(1);
    let mut r = call(conn, LIST_OFFSETS, 0, &b);
    assert_eq!(r.get_i32(), 1);
    assert_eq!(get_str(&mut r), topic);
    assert_eq!((r.get_i32(), r.get_i32()), (1, 0));
    let error = r.get_i16();
    let n = r.get_i32();
    let offsets = (0..n).map(|_| r.get_i64()).collect();
    assert!(r.is_empty());
    (error, offsets)
}

#[test]
fn list_offsets_v0_answers_latest_earliest_and_timestamps_as_old_style_lists() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "lo", 1);
    assert_eq!(list_offsets_v0(&mut conn, "lo", -1), (NONE, vec![0]), "latest of an empty log");
    requests::produce(&mut conn, "lo", 0, stored_batch(1000, &["a", "b", "c"], Compression::None));
    requests::produce(&mut conn, "lo", 0, stored_batch(2000, &["d"], Compression::None));
    assert_eq!(list_offsets_v0(&mut conn, "lo", -1), (NONE, vec![4]), "latest");
    assert_eq!(list_offsets_v0(&mut conn, "lo", -2), (NONE, vec![0]), "earliest");
    assert_eq!(list_offsets_v0(&mut conn, "lo", 1001), (NONE, vec![1]), "first record at or after 1001");
    assert_eq!(list_offsets_v0(&mut conn, "lo", 1500), (NONE, vec![3]));
    assert_eq!(list_offsets_v0(&mut conn, "lo", 9999), (NONE, vec![4]), "after the last record: the log end");
    assert_eq!(list_offsets_v0(&mut conn, "nope", -1).0, UNKNOWN_TOPIC_OR_PARTITION);
}

/// OffsetCommit v0 (simple) or v1 (with generation and member) of partition 0: the error.
fn offset_commit(conn: &mut RawConn, version: i16, group: &str, topic: &str, offset: i64, metadata: &str) -> i16 {
    offset_commit_as(conn, version, group, (-1, ""), topic, offset, metadata)
}

/// OffsetCommit v0-1 as member `(generation, member id)` (v1 only).
fn offset_commit_as(
    conn: &mut RawConn,
    version: i16,
    group: &str,
    member: (i32, &str),
    topic: &str,
    offset: i64,
    metadata: &str,
) -> i16 {
    let mut b = BytesMut::new();
    put_str(&mut b, group);
    if version >= 1 {
        b.put_i32(member.0);
        put_str(&mut b, member.1);
    }
    b.put_i32(1);
    put_str(&mut b, topic);
    b.put_i32(1);
    b.put_i32(0);
    b.put_i64(offset);
    if version >= 1 {
        b.put_i64(-1);
    }
    put_str(&mut b, metadata);
    let mut r = call(conn, OFFSET_COMMIT, version, &b);
    assert_eq!(r.get_i32(), 1);
    assert_eq!(get_str(&mut r), topic);
    assert_eq!((r.get_i32(), r.get_i32()), (1, 0));
    let error = r.get_i16();
    assert!(r.is_empty(), "v{version}: no throttle time before v3");
    error
}

/// OffsetFetch v0 of partition 0: (offset, metadata, error).
fn offset_fetch_v0(conn: &mut RawConn, group: &str, topic: &str) -> (i64, String, i16) {
    let mut b = BytesMut::new();
    put_str(&mut b, group);
    b.put_i32(1);
    put_str(&mut b, topic);
    b.put_i32(1);
    b.put_i32(0);
    let mut r = call(conn, OFFSET_FETCH, 0, &b);
    assert_eq!(r.get_i32(), 1);
    assert_eq!(get_str(&mut r), topic);
    assert_eq!((r.get_i32(), r.get_i32()), (1, 0));
    let answer = (r.get_i64(), get_str(&mut r), r.get_i16());
    assert!(r.is_empty(), "v0: no top-level error code");
    answer
}

#[test]
fn offset_commit_v0_and_v1_and_offset_fetch_v0_go_through_the_group_coordinator() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "oc", 1);
    assert_eq!(offset_fetch_v0(&mut conn, "old-group", "oc"), (-1, String::new(), NONE), "nothing committed");
    assert_eq!(offset_commit(&mut conn, 0, "old-group", "oc", 17, "v0"), NONE);
    assert_eq!(offset_fetch_v0(&mut conn, "old-group", "oc"), (17, "v0".into(), NONE));
    assert_eq!(offset_commit(&mut conn, 1, "old-group", "oc", 23, "v1"), NONE);
    assert_eq!(offset_fetch_v0(&mut conn, "old-group", "oc"), (23, "v1".into(), NONE));
    // Today's OffsetFetch sees the same commit.
    let request = kafka_protocol::messages::OffsetFetchRequest::default()
        .with_group_id(kafka_protocol::messages::GroupId(kafka_protocol::protocol::StrBytes::from_static_str(
            "old-group",
        )))
        .with_topics(Some(vec![
            kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(requests::topic_name("oc"))
                .with_partition_indexes(vec![0]),
        ]));
    let response = conn.request(7, &request);
    assert_eq!(response.topics[0].partitions[0].committed_offset, 23);
}

#[test]
fn create_topics_v0_and_v1_and_delete_topics_v0() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    let create = |conn: &mut RawConn, version: i16, name: &str, partitions: i32, validate_only: bool| {
        let mut b = BytesMut::new();
        b.put_i32(1);
        put_str(&mut b, name);
        b.put_i32(partitions);
        b.put_i16(1);
        b.put_i32(0);
        b.put_i32(0);
        b.put_i32(5000);
        if version >= 1 {
            b.put_u8(validate_only as u8);
        }
        let mut r = call(conn, CREATE_TOPICS, version, &b);
        assert_eq!(r.get_i32(), 1);
        assert_eq!(get_str(&mut r), name);
        let error = r.get_i16();
        let message = (version >= 1).then(|| get_str(&mut r));
        assert!(r.is_empty(), "v{version}: no throttle time before v2");
        (error, message)
    };
    assert_eq!(create(&mut conn, 0, "made-v0", 3, false).0, NONE);
    let (error, message) = create(&mut conn, 1, "checked-v1", 2, true);
    assert_eq!(error, NONE);
    assert!(matches!(message.as_deref(), Some("" | "<null>")), "v1 carries an error message field: {message:?}");
    assert_eq!(create(&mut conn, 1, "made-v1", 2, false).0, NONE);
    assert_eq!(create(&mut conn, 0, "made-v0", 3, false).0, TOPIC_ALREADY_EXISTS);
    let partitions = |conn: &mut RawConn, name: &str| {
        let metadata = requests::metadata(conn, Some(&[name]), false);
        (metadata.topics[0].error_code, metadata.topics[0].partitions.len())
    };
    assert_eq!(partitions(&mut conn, "made-v0"), (NONE, 3));
    assert_eq!(partitions(&mut conn, "made-v1"), (NONE, 2));
    assert_eq!(partitions(&mut conn, "checked-v1").0, UNKNOWN_TOPIC_OR_PARTITION, "validate_only created nothing");

    let mut b = BytesMut::new();
    b.put_i32(2);
    put_str(&mut b, "made-v0");
    put_str(&mut b, "never-made");
    b.put_i32(5000);
    let mut r = call(&mut conn, DELETE_TOPICS, 0, &b);
    assert_eq!(r.get_i32(), 2, "no throttle time in v0, then two results");
    let mut results: Vec<(String, i16)> = (0..2).map(|_| (get_str(&mut r), r.get_i16())).collect();
    results.sort();
    assert!(r.is_empty());
    assert_eq!(results, vec![("made-v0".into(), NONE), ("never-made".into(), UNKNOWN_TOPIC_OR_PARTITION)]);
    assert_eq!(partitions(&mut conn, "made-v0").0, UNKNOWN_TOPIC_OR_PARTITION);
}

#[test]
fn metadata_v0_with_an_empty_topic_list_means_every_topic() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "m1", 1);
    requests::create_topic_ok(&mut conn, "m2", 2);
    let response = conn.request(0, &kafka_protocol::messages::MetadataRequest::default().with_topics(Some(vec![])));
    // Kafka lists internal topics too (v0 has no is_internal flag); the user topics are both there.
    let mut names: Vec<_> = response
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .filter(|n| !n.starts_with("__"))
        .collect();
    names.sort();
    assert_eq!(names, ["m1", "m2"]);
}

#[test]
fn without_the_setting_the_other_legacy_versions_close_the_connection() {
    let broker = Broker::start(BrokerOptions::default().with("strata.legacy.protocol.enable", "false"));
    let cases: [(i16, i16, Vec<u8>); 6] = [
        (LIST_OFFSETS, 0, hex_body(&[&(-1i32).to_be_bytes(), &0i32.to_be_bytes()])),
        (OFFSET_COMMIT, 0, hex_body(&[&1i16.to_be_bytes(), b"g", &0i32.to_be_bytes()])),
        (
            OFFSET_COMMIT,
            1,
            hex_body(&[&1i16.to_be_bytes(), b"g", &(-1i32).to_be_bytes(), &0i16.to_be_bytes(), &0i32.to_be_bytes()]),
        ),
        (OFFSET_FETCH, 0, hex_body(&[&1i16.to_be_bytes(), b"g", &0i32.to_be_bytes()])),
        (CREATE_TOPICS, 0, hex_body(&[&0i32.to_be_bytes(), &5000i32.to_be_bytes()])),
        (DELETE_TOPICS, 0, hex_body(&[&0i32.to_be_bytes(), &5000i32.to_be_bytes()])),
    ];
    for (key, version, body) in cases {
        let served = ApiKey::try_from(key).ok().and_then(spec).expect("a served API");
        assert!(version < served.min, "api key {key} v{version} is a legacy version in the API table");
        let mut conn = RawConn::connect(broker.bootstrap());
        send(&mut conn, key, version, 1, &body);
        conn.expect_closed(&format!("api key {key} v{version}"));
    }
    // The same requests are answered with the setting on.
    let legacy = Broker::start_default();
    for (key, version, body) in [
        (LIST_OFFSETS, 0, hex_body(&[&(-1i32).to_be_bytes(), &0i32.to_be_bytes()])),
        (DELETE_TOPICS, 0, hex_body(&[&0i32.to_be_bytes(), &5000i32.to_be_bytes()])),
    ] {
        let mut conn = RawConn::connect(legacy.bootstrap());
        let reply = call(&mut conn, key, version, &body);
        assert_eq!(&reply[..], &0i32.to_be_bytes(), "api key {key} v{version}: an empty list");
    }
}

fn hex_body(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn a_v0_consumer_group_joins_syncs_commits_with_offset_commit_v1_and_leaves() {
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
    use kafka_protocol::messages::{GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest};
    use kafka_protocol::protocol::StrBytes;
    let s = |x: &str| StrBytes::from_string(x.to_owned());
    let broker = Broker::start(BrokerOptions::default().with("group.initial.rebalance.delay.ms", "0"));
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "grouped", 1);
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(s("old")))
        .with_session_timeout_ms(10_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default().with_name(s("range")).with_metadata(Bytes::from_static(b"sub")),
        ]);
    let joined = conn.request(0, &join);
    assert_eq!(joined.error_code, NONE, "JoinGroup v0 needs no MEMBER_ID_REQUIRED round");
    assert_eq!(joined.leader, joined.member_id, "the only member leads");
    let (generation, member) = (joined.generation_id, joined.member_id.to_string());
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s("old")))
        .with_generation_id(generation)
        .with_member_id(s(&member))
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(s(&member))
                .with_assignment(Bytes::from_static(b"all")),
        ]);
    let synced = conn.request(0, &sync);
    assert_eq!((synced.error_code, &synced.assignment[..]), (NONE, &b"all"[..]));
    let beat = HeartbeatRequest::default()
        .with_group_id(GroupId(s("old")))
        .with_generation_id(generation)
        .with_member_id(s(&member));
    assert_eq!(conn.request(0, &beat).error_code, NONE);
    assert_eq!(offset_commit_as(&mut conn, 1, "old", (generation, &member), "grouped", 5, "m"), NONE);
    assert_eq!(
        offset_commit_as(&mut conn, 1, "old", (generation + 1, &member), "grouped", 6, "m"),
        22,
        "ILLEGAL_GENERATION"
    );
    assert_eq!(offset_fetch_v0(&mut conn, "old", "grouped"), (5, "m".into(), NONE));
    let leave = LeaveGroupRequest::default().with_group_id(GroupId(s("old"))).with_member_id(s(&member));
    assert_eq!(conn.request(0, &leave).error_code, NONE);
}
