//! Bulk produce and consume with librdkafka: every codec (none, gzip, snappy, lz4, zstd) under
//! every acks level (0, 1, all), 100,000 keyed messages with headers into a 3-partition topic,
//! read back byte for byte and in order per partition. The stored batches must keep the codec the
//! producer chose (the broker stores batches as produced).

use std::time::{Duration, Instant};

use kafka_protocol::records::Compression;
use strata_testkit::RawConn;
use strata_testkit::requests::{self, LATEST_TIMESTAMP};
use strata_tests::clients::{self, CLIENT_TIMEOUT};
use strata_tests::data::{self, TestMessage};
use strata_tests::{Broker, bulk_message_count};

const PARTITIONS: i32 = 3;

fn expected_compression(codec: &str) -> Compression {
    match codec {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => panic!("unknown codec {other}"),
    }
}

/// Waits until the partitions' high watermarks add up to `total` (acks=0 gets no answer, so the
/// broker may still be appending the last batches when the producer's flush returns).
fn wait_for_total(bootstrap: &str, topic: &str, total: i64) -> i64 {
    let mut conn = RawConn::connect(bootstrap);
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    loop {
        let sum: i64 = (0..PARTITIONS)
            .map(|p| {
                let answer = requests::list_offset(&mut conn, topic, p, LATEST_TIMESTAMP);
                assert_eq!(answer.error_code, 0, "ListOffsets latest {topic}/{p}");
                answer.offset
            })
            .sum();
        if sum >= total || Instant::now() > deadline {
            return sum;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(codec: &str, acks: &str) {
    let count = bulk_message_count();
    let broker = Broker::start_default();
    let topic = format!("codec-{codec}-acks-{acks}");
    clients::create_topic(broker.bootstrap(), &topic, PARTITIONS);
    let messages: Vec<TestMessage> = data::generate(&topic, count, PARTITIONS);

    let started = Instant::now();
    let offsets =
        clients::produce_all(broker.bootstrap(), &topic, &messages, &[("compression.type", codec), ("acks", acks)]);
    let produced_in = started.elapsed();

    if acks == "0" {
        // No answers, so no offsets to compare; on a healthy loopback broker nothing may be lost.
        let stored = wait_for_total(broker.bootstrap(), &topic, i64::try_from(count).expect("fits"));
        let consumed = clients::consume_all(broker.bootstrap(), &topic, PARTITIONS);
        data::assert_subset_in_order(&messages, &consumed);
        assert_eq!(stored, i64::try_from(count).expect("fits"), "messages stored with acks=0");
        assert_eq!(consumed.len(), count, "messages consumed with acks=0");
    } else {
        for (partition, offset) in &offsets {
            assert!(*offset >= 0, "acks={acks}: delivery report without an offset (partition {partition})");
        }
        let consumed = clients::consume_all(broker.bootstrap(), &topic, PARTITIONS);
        data::assert_same(&messages, &consumed, Some(&offsets));
        // Offsets are dense from 0 in every partition.
        for partition in 0..PARTITIONS {
            let in_partition: Vec<i64> =
                consumed.iter().filter(|c| c.partition == partition).map(|c| c.offset).collect();
            let dense: Vec<i64> = (0..i64::try_from(in_partition.len()).expect("fits")).collect();
            assert_eq!(in_partition, dense, "offsets of partition {partition} are 0..n without gaps");
        }
    }

    // The broker keeps batches as the producer compressed them.
    let mut conn = RawConn::connect(broker.bootstrap());
    let fetched = requests::fetch(&mut conn, &topic, 0, 0);
    assert_eq!(fetched.error_code, 0, "raw fetch of {topic}/0");
    let records = fetched.records.expect("records in the raw fetch");
    let batches = strata_testkit::batches::decode(&records);
    assert!(!batches.is_empty(), "raw fetch returned no batch");
    assert_eq!(batches[0].compression, expected_compression(codec), "codec of the first stored batch");
    eprintln!("{topic}: produced {count} messages in {produced_in:?}, total {:?}", started.elapsed());
}

macro_rules! matrix {
    ($($name:ident: $codec:literal, $acks:literal;)*) => {
        $( #[test] fn $name() { run($codec, $acks); } )*
    };
}

matrix! {
    none_acks_0: "none", "0";
    none_acks_1: "none", "1";
    none_acks_all: "none", "all";
    gzip_acks_0: "gzip", "0";
    gzip_acks_1: "gzip", "1";
    gzip_acks_all: "gzip", "all";
    snappy_acks_0: "snappy", "0";
    snappy_acks_1: "snappy", "1";
    snappy_acks_all: "snappy", "all";
    lz4_acks_0: "lz4", "0";
    lz4_acks_1: "lz4", "1";
    lz4_acks_all: "lz4", "all";
    zstd_acks_0: "zstd", "0";
    zstd_acks_1: "zstd", "1";
    zstd_acks_all: "zstd", "all";
}
