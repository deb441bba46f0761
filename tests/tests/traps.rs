//! Traps other Kafka-compatible brokers fell into (issue 3, item 6), each checked on raw bytes:
//! default-valued tagged fields, fetch offsets inside a batch, watermarks that disagree between
//! Fetch and ListOffsets, auto-created topics ignoring `num.partitions`, and advertised versions
//! that do not really work.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, BrokerId, CreateTopicsRequest, DescribeClusterRequest, FetchRequest,
    ListOffsetsRequest, MetadataRequest, ProduceRequest,
};
use kafka_protocol::protocol::{Decodable, Message, StrBytes};
use kafka_protocol::records::Compression;
use strata_testkit::RawConn;
use strata_testkit::codes::*;
use strata_testkit::requests::{self, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use strata_tests::{Broker, BrokerOptions};

fn read_uvarint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at).unwrap_or_else(|| panic!("varint runs past the end at {at}"));
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return value;
        }
    }
    panic!("varint longer than 10 bytes");
}

fn read_i16(bytes: &[u8], at: &mut usize) -> i16 {
    let v = i16::from_be_bytes(bytes[*at..*at + 2].try_into().expect("2 bytes"));
    *at += 2;
    v
}

/// Walks an ApiVersions v3 response body by hand and returns its top-level tagged fields.
/// Panics if any per-key tagged section is non-empty or the body has trailing bytes.
fn api_versions_v3_tagged_fields(body: &[u8]) -> BTreeMap<u64, Vec<u8>> {
    let mut at = 0;
    let error_code = read_i16(body, &mut at);
    assert_eq!(error_code, 0, "ApiVersions v3 error code");
    let entries = read_uvarint(body, &mut at);
    assert!(entries > 1, "ApiVersions v3 lists no APIs");
    for _ in 0..entries - 1 {
        let key = read_i16(body, &mut at);
        at += 4; // min and max version
        let tagged = read_uvarint(body, &mut at);
        assert_eq!(tagged, 0, "api key {key} carries tagged fields");
    }
    at += 4; // throttle_time_ms
    let count = read_uvarint(body, &mut at);
    let mut fields = BTreeMap::new();
    for _ in 0..count {
        let tag = read_uvarint(body, &mut at);
        let size = usize::try_from(read_uvarint(body, &mut at)).expect("size");
        fields.insert(tag, body[at..at + size].to_vec());
        at += size;
    }
    assert_eq!(at, body.len(), "bytes after the ApiVersions v3 tagged fields");
    fields
}

#[test]
fn api_versions_v3_writes_no_default_valued_tagged_fields() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("rdkafka"))
        .with_client_software_version(StrBytes::from_static_str("2.0.2"));
    let (correlation_id, bytes) = conn.encode_request(3, &request);
    conn.send_frame(&bytes);
    let frame = conn.read_frame();
    // The ApiVersions response header is always v0: correlation id, no tagged-field byte.
    assert_eq!(i32::from_be_bytes(frame[..4].try_into().expect("4")), correlation_id);
    let body = &frame[4..];
    assert_eq!(&body[..2], &[0, 0], "error code right after the correlation id (response header v0)");
    let fields = api_versions_v3_tagged_fields(body);
    // SupportedFeatures (0), FinalizedFeaturesEpoch (1), FinalizedFeatures (2) and
    // ZkMigrationReady (3) may appear only with non-default values.
    if let Some(value) = fields.get(&0) {
        assert_ne!(value.as_slice(), &[1], "empty SupportedFeatures written as a tagged field");
    }
    if let Some(value) = fields.get(&1) {
        assert_ne!(value.as_slice(), &(-1i64).to_be_bytes(), "FinalizedFeaturesEpoch -1 written");
    }
    if let Some(value) = fields.get(&2) {
        assert_ne!(value.as_slice(), &[1], "empty FinalizedFeatures written as a tagged field");
    }
    if let Some(value) = fields.get(&3) {
        assert_ne!(value.as_slice(), &[0], "ZkMigrationReady=false written as a tagged field");
    }
    if fields.is_empty() {
        assert_eq!(body.last(), Some(&0), "empty tagged-field section ends the body");
    }
    // And the whole body decodes as v3.
    let mut buf = Bytes::copy_from_slice(body);
    let decoded = ApiVersionsResponse::decode(&mut buf, 3).expect("decode ApiVersions v3");
    assert!(buf.is_empty());
    assert!(decoded.api_keys.iter().any(|k| k.api_key == 18 && k.min_version == 0 && k.max_version >= 3));
}

#[test]
fn fetch_offset_inside_a_batch_returns_the_whole_batch() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "inside", 1);
    let first = requests::produce(&mut conn, "inside", 0, requests::records(10, 100).encode());
    assert_eq!((first.error_code, first.base_offset), (NONE, 0));
    let second =
        requests::produce(&mut conn, "inside", 0, requests::records(5, 200).compression(Compression::Lz4).encode());
    assert_eq!((second.error_code, second.base_offset), (NONE, 10));

    for (fetch_offset, batch_base, batch_len) in [(5, 0, 10), (9, 0, 10), (10, 10, 5), (12, 10, 5), (14, 10, 5)] {
        let data = requests::fetch(&mut conn, "inside", 0, fetch_offset);
        assert_eq!(data.error_code, NONE, "fetch at {fetch_offset}");
        let records = data.records.expect("records");
        let batches = strata_testkit::batches::decode(&records);
        let first_batch = batches.first().unwrap_or_else(|| panic!("no batch at {fetch_offset}"));
        let offsets: Vec<i64> = first_batch.records.iter().map(|r| r.offset).collect();
        let expected: Vec<i64> = (batch_base..batch_base + batch_len).collect();
        assert_eq!(offsets, expected, "fetch at {fetch_offset} starts with the whole batch holding it");
    }
}

#[test]
fn fetch_watermarks_agree_with_list_offsets() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "marks", 2);
    // Partition 1 stays empty; partition 0 gets three batches.
    for count in [3, 1, 7] {
        let answer = requests::produce(&mut conn, "marks", 0, requests::records(count, 5).encode());
        assert_eq!(answer.error_code, NONE);
        assert_eq!(answer.log_start_offset, 0, "log_start_offset in the produce answer");
    }
    for (partition, end) in [(0, 11), (1, 0)] {
        let fetched = requests::fetch(&mut conn, "marks", partition, 0);
        let latest = requests::list_offset(&mut conn, "marks", partition, LATEST_TIMESTAMP);
        let earliest = requests::list_offset(&mut conn, "marks", partition, EARLIEST_TIMESTAMP);
        assert_eq!(fetched.error_code, NONE);
        assert_eq!(fetched.high_watermark, end, "fetch high watermark of partition {partition}");
        assert_eq!(latest.offset, fetched.high_watermark, "ListOffsets latest == Fetch high watermark");
        assert_eq!(fetched.last_stable_offset, fetched.high_watermark, "last stable offset (no transactions)");
        assert_eq!(earliest.offset, fetched.log_start_offset, "ListOffsets earliest == Fetch log_start_offset");
        assert_eq!(earliest.offset, 0);
    }
}

#[test]
fn auto_created_topics_get_num_partitions() {
    let broker =
        Broker::start(BrokerOptions::default().with("num.partitions", "5").with("auto.create.topics.enable", "true"));
    let mut conn = RawConn::connect(broker.bootstrap());
    let refused = requests::metadata(&mut conn, Some(&["not-asked"]), false);
    assert_eq!(refused.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION, "no auto-create when the client says no");

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = requests::metadata(&mut conn, Some(&["auto-made"]), true);
        let topic = &response.topics[0];
        if topic.error_code == NONE && !topic.partitions.is_empty() {
            assert_eq!(topic.partitions.len(), 5, "partitions of an auto-created topic");
            assert!(!topic.topic_id.is_nil(), "auto-created topic has an id");
            break;
        }
        assert!(Instant::now() < deadline, "auto-created topic never became ready: {topic:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let listing = requests::metadata(&mut conn, None, false);
    let names: Vec<&str> = listing.topics.iter().filter_map(|t| t.name.as_ref()).map(|n| n.0.as_str()).collect();
    assert!(names.contains(&"auto-made"), "all-topics metadata lists it: {names:?}");
    assert!(!names.contains(&"not-asked"), "a topic that was not auto-created does not exist: {names:?}");
}

/// Runs one version's check on a fresh connection; a failure is recorded, not fatal, so that one
/// run lists every broken version.
fn attempt(bootstrap: &str, failures: &mut Vec<String>, what: String, check: impl FnOnce(&mut RawConn)) {
    let mut conn = RawConn::connect(bootstrap);
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&mut conn))) {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        failures.push(format!("{what}: {message}"));
    }
}

/// Every version the broker advertises for the APIs below really works, within what the
/// kafka-protocol crate can encode (it follows Kafka 4.x, which dropped the oldest versions).
#[test]
fn every_advertised_version_works() {
    let broker = Broker::start_default();
    let bootstrap = broker.bootstrap();
    let mut conn = RawConn::connect(bootstrap);
    let advertised = conn.request(3, &requests::api_versions_request());
    let range = |key: i16| {
        let entry = advertised
            .api_keys
            .iter()
            .find(|k| k.api_key == key)
            .unwrap_or_else(|| panic!("api key {key} is not advertised"));
        (entry.min_version, entry.max_version)
    };
    let mut checked = Vec::new();
    let mut skipped = Vec::new();
    let mut versions = |key: i16, encodable: (i16, i16)| -> Vec<i16> {
        let (min, max) = range(key);
        assert!(min <= max, "api key {key}: min {min} > max {max}");
        let usable: Vec<i16> = (min.max(encodable.0)..=max.min(encodable.1)).collect();
        for v in min..=max {
            if !usable.contains(&v) {
                skipped.push((key, v));
            }
        }
        checked.push((key, usable.clone()));
        usable
    };
    let mut failures = Vec::new();

    for v in versions(18, (ApiVersionsRequest::VERSIONS.min, ApiVersionsRequest::VERSIONS.max)) {
        attempt(bootstrap, &mut failures, format!("ApiVersions v{v}"), |conn| {
            let response = conn.request(v, &requests::api_versions_request());
            assert_eq!(response.error_code, NONE, "error code");
            assert!(!response.api_keys.is_empty(), "no keys listed");
        });
    }

    // CreateTopics: one topic per version.
    for v in versions(19, (CreateTopicsRequest::VERSIONS.min, CreateTopicsRequest::VERSIONS.max)) {
        attempt(bootstrap, &mut failures, format!("CreateTopics v{v}"), |conn| {
            let response = conn.request(v, &requests::create_topics_request(&format!("created-v{v}"), 1));
            assert_eq!(response.topics.len(), 1);
            assert_eq!(response.topics[0].error_code, NONE, "{:?}", response.topics[0].error_message);
        });
    }
    // The topic the rest uses, made the usual way in case some CreateTopics version failed.
    let topic = "versions";
    requests::create_topic_ok(&mut conn, topic, 1);

    // Metadata for a known topic, with its id from v10.
    for v in versions(3, (MetadataRequest::VERSIONS.min, MetadataRequest::VERSIONS.max)) {
        attempt(bootstrap, &mut failures, format!("Metadata v{v}"), |conn| {
            let request = MetadataRequest::default()
                .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(requests::topic_name(topic)))]));
            let response = conn.request(v, &request);
            assert_eq!(response.brokers.len(), 1, "brokers");
            assert_eq!(response.topics.len(), 1, "topics");
            let t = &response.topics[0];
            assert_eq!(t.error_code, NONE, "topic error");
            assert_eq!(t.partitions.len(), 1, "partitions");
            if v >= 10 {
                assert!(!t.topic_id.is_nil(), "topic id");
            }
        });
    }
    let metadata = conn.request(
        12,
        &MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(requests::topic_name(topic)))])),
    );
    let topic_id = metadata.topics[0].topic_id;

    // Produce: one record per version; each success moves the end by one.
    let mut next_offset = 0;
    for v in versions(0, (ProduceRequest::VERSIONS.min, ProduceRequest::VERSIONS.max)) {
        attempt(bootstrap, &mut failures, format!("Produce v{v}"), |conn| {
            let mut topic_data = TopicProduceData::default().with_partition_data(vec![
                PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(requests::records(1, 1_000 + next_offset).encode())),
            ]);
            topic_data = if v >= 13 {
                topic_data.with_topic_id(topic_id)
            } else {
                topic_data.with_name(requests::topic_name(topic))
            };
            let request =
                ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![topic_data]);
            let response = conn.request(v, &request);
            let partition = &response.responses[0].partition_responses[0];
            assert_eq!(partition.error_code, NONE, "error code");
            assert_eq!(partition.base_offset, next_offset, "base offset");
            next_offset += 1;
        });
    }

    // Fetch everything back at every version.
    for v in versions(1, (FetchRequest::VERSIONS.min, FetchRequest::VERSIONS.max)) {
        attempt(bootstrap, &mut failures, format!("Fetch v{v}"), |conn| {
            let mut fetch_topic = FetchTopic::default().with_partitions(vec![
                FetchPartition::default().with_partition(0).with_fetch_offset(0).with_partition_max_bytes(1 << 20),
            ]);
            fetch_topic = if v >= 13 {
                fetch_topic.with_topic_id(topic_id)
            } else {
                fetch_topic.with_topic(requests::topic_name(topic))
            };
            let request = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_bytes(1 << 20)
                .with_topics(vec![fetch_topic]);
            let response = conn.request(v, &request);
            assert_eq!(response.error_code, NONE, "error code");
            let partition = &response.responses[0].partitions[0];
            assert_eq!(partition.error_code, NONE, "partition error code");
            assert_eq!(partition.high_watermark, next_offset, "high watermark");
            let records = partition.records.clone().unwrap_or_default();
            let count: usize = strata_testkit::batches::decode(&records).iter().map(|b| b.records.len()).sum();
            assert_eq!(i64::try_from(count).expect("fits"), next_offset, "records");
        });
    }

    // ListOffsets latest at every version.
    for v in versions(2, (ListOffsetsRequest::VERSIONS.min, ListOffsetsRequest::VERSIONS.max)) {
        attempt(bootstrap, &mut failures, format!("ListOffsets v{v}"), |conn| {
            let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
                ListOffsetsTopic::default().with_name(requests::topic_name(topic)).with_partitions(vec![
                    ListOffsetsPartition::default().with_partition_index(0).with_timestamp(LATEST_TIMESTAMP),
                ]),
            ]);
            let response = conn.request(v, &request);
            let partition = &response.topics[0].partitions[0];
            assert_eq!(partition.error_code, NONE, "error code");
            assert_eq!(partition.offset, next_offset, "latest offset");
        });
    }

    // InitProducerId (idempotent, no transactional id).
    for v in versions(22, (InitProducerIdRequest::VERSIONS.min, InitProducerIdRequest::VERSIONS.max)) {
        attempt(bootstrap, &mut failures, format!("InitProducerId v{v}"), |conn| {
            let response = conn.request(v, &InitProducerIdRequest::default().with_transactional_id(None));
            assert_eq!(response.error_code, NONE, "error code");
            assert!(response.producer_id.0 >= 0, "producer id");
        });
    }

    for v in versions(60, (DescribeClusterRequest::VERSIONS.min, DescribeClusterRequest::VERSIONS.max)) {
        attempt(bootstrap, &mut failures, format!("DescribeCluster v{v}"), |conn| {
            let response = conn.request(v, &DescribeClusterRequest::default());
            assert_eq!(response.error_code, NONE, "error code");
            assert_eq!(response.brokers.len(), 1, "brokers");
        });
    }
    eprintln!("checked {checked:?}; advertised but not encodable by kafka-protocol: {skipped:?}");
    assert!(failures.is_empty(), "{} advertised versions failed:\n{}", failures.len(), failures.join("\n"));
}
