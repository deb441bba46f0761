//! DescribeLogDirs against a real broker: the data directory's absolute path, each partition's
//! size in bytes as it grows, requested topics only (unknown ones left out, as Kafka leaves them
//! out), and the file system's sizes from v4. `compat/kafka-tools.sh` runs Kafka's own
//! `kafka-log-dirs` against Strata and reference Kafka.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use strata_testkit::batches::Batch;
use strata_testkit::{RawConn, codes::NONE, requests};
use strata_tests::Broker;

/// `(topic, partition) -> size` of the one log directory's answer.
fn sizes(response: &DescribeLogDirsResponse) -> BTreeMap<(String, i32), i64> {
    assert_eq!(response.results.len(), 1, "one data directory");
    let dir = &response.results[0];
    assert_eq!(dir.error_code, NONE);
    let mut sizes = BTreeMap::new();
    for topic in &dir.topics {
        for p in &topic.partitions {
            assert_eq!((p.offset_lag, p.is_future_key), (0, false));
            sizes.insert((topic.name.0.to_string(), p.partition_index), p.partition_size);
        }
    }
    sizes
}

fn only(topics: &[(&str, &[i32])]) -> DescribeLogDirsRequest {
    let topics = topics
        .iter()
        .map(|(name, partitions)| {
            DescribableLogDirTopic::default()
                .with_topic(TopicName(StrBytes::from_string((*name).to_owned())))
                .with_partitions(partitions.to_vec())
        })
        .collect();
    DescribeLogDirsRequest::default().with_topics(Some(topics))
}

#[test]
fn log_dirs_give_the_directory_and_each_partitions_size() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "sized", 2);

    let all = conn.request(4, &DescribeLogDirsRequest::default().with_topics(None));
    let dir = &all.results[0];
    let expected = std::path::absolute(broker.data_dir()).expect("absolute");
    assert_eq!(dir.log_dir.as_str(), expected.to_str().expect("utf8"));
    assert!(dir.total_bytes > 0 && (0..=dir.total_bytes).contains(&dir.usable_bytes), "{dir:?}");
    let before = sizes(&all);
    assert_eq!(before[&("sized".to_owned(), 0)], 0, "an empty partition");
    assert!(before.contains_key(&("__consumer_offsets".to_owned(), 0)), "internal topics too, as Kafka");

    let answer = requests::produce(&mut conn, "sized", 0, Batch::new().numbered(10, Some(1_000), 0).encode());
    assert_eq!(answer.error_code, NONE);
    let asked = conn.request(1, &only(&[("sized", &[0, 1, 7]), ("unknown", &[0])]));
    let after = sizes(&asked);
    assert_eq!(after.keys().cloned().collect::<Vec<_>>(), vec![("sized".to_owned(), 0), ("sized".to_owned(), 1)]);
    assert!(after[&("sized".to_owned(), 0)] > 10 * 1_000, "ten records of 1,000 bytes: {after:?}");
    assert_eq!(after[&("sized".to_owned(), 1)], 0);
    assert_eq!((asked.results[0].total_bytes, asked.results[0].usable_bytes), (-1, -1), "v1 has no sizes");
}
