//! Ready-made requests for the raw-socket tests, built with `kafka-protocol` (never by hand), and
//! one-call helpers that send them and return the interesting part of the answer.
//!
//! Versions are pinned to ones every Kafka 4.x broker accepts and that still name topics (not ids).

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::list_offsets_response::ListOffsetsPartitionResponse;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, FetchRequest, ListOffsetsRequest, MetadataRequest, MetadataResponse, ProduceRequest,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::batches::Batch;
use crate::raw::RawConn;

pub const PRODUCE_VERSION: i16 = 9;
pub const FETCH_VERSION: i16 = 12;
pub const LIST_OFFSETS_VERSION: i16 = 7;
pub const CREATE_TOPICS_VERSION: i16 = 7;
pub const METADATA_VERSION: i16 = 12;

/// ListOffsets special timestamps.
pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;

/// Test timestamps are offsets from this: one hour before the test started. Timestamps near 1970
/// would be deleted by time retention (`log.retention.ms`, 7 days by default) while a test runs.
pub fn epoch_ms() -> i64 {
    static EPOCH: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970");
        i64::try_from(now.as_millis()).expect("fits") / 1000 * 1000 - 3_600_000
    })
}

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// `count` records `key-<i>` / `value-<i>`, each with the header `h: v`, timestamps
/// `epoch_ms() + base_ts + i`: one batch to encode (add `.producer(..)` or `.compression(..)`).
pub fn records(count: usize, base_ts: i64) -> Batch {
    (0..count).fold(Batch::new(), |batch, i| {
        let timestamp = epoch_ms() + base_ts + i64::try_from(i).expect("small");
        batch
            .record(Some(format!("key-{i}").as_bytes()), Some(format!("value-{i}").as_bytes()), timestamp)
            .header("h", Some(b"v"))
    })
}

pub fn produce_request(topic: &str, partition: i32, record_set: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default().with_acks(acks).with_timeout_ms(10_000).with_topic_data(vec![
        TopicProduceData::default().with_name(topic_name(topic)).with_partition_data(vec![
            PartitionProduceData::default().with_index(partition).with_records(Some(record_set)),
        ]),
    ])
}

/// Produces one record set with acks=all and returns the single partition answer.
pub fn produce(conn: &mut RawConn, topic: &str, partition: i32, record_set: Bytes) -> PartitionProduceResponse {
    produce_acks(conn, topic, partition, record_set, -1)
}

pub fn produce_acks(
    conn: &mut RawConn,
    topic: &str,
    partition: i32,
    record_set: Bytes,
    acks: i16,
) -> PartitionProduceResponse {
    let response = conn.request(PRODUCE_VERSION, &produce_request(topic, partition, record_set, acks));
    let [topic_response] = <[_; 1]>::try_from(response.responses).expect("one topic in the produce response");
    assert_eq!(topic_response.name.0.as_str(), topic, "topic name in the produce response");
    let [partition_response] =
        <[_; 1]>::try_from(topic_response.partition_responses).expect("one partition in the produce response");
    assert_eq!(partition_response.index, partition, "partition index in the produce response");
    partition_response
}

pub fn fetch_request(topic: &str, partition: i32, offset: i64, partition_max_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(64 * 1024 * 1024)
        .with_topics(vec![FetchTopic::default().with_topic(topic_name(topic)).with_partitions(vec![
            FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(partition_max_bytes),
        ])])
}

/// Fetches one partition (no waiting) and returns its answer.
pub fn fetch(conn: &mut RawConn, topic: &str, partition: i32, offset: i64) -> PartitionData {
    let response = conn.request(FETCH_VERSION, &fetch_request(topic, partition, offset, 8 * 1024 * 1024));
    assert_eq!(response.error_code, 0, "top-level fetch error code");
    let [topic_response] = <[_; 1]>::try_from(response.responses).expect("one topic in the fetch response");
    let [partition_data] = <[_; 1]>::try_from(topic_response.partitions).expect("one partition in the fetch response");
    assert_eq!(partition_data.partition_index, partition, "partition index in the fetch response");
    partition_data
}

/// ListOffsets for one partition at `timestamp` (or one of the special timestamps above).
pub fn list_offset(conn: &mut RawConn, topic: &str, partition: i32, timestamp: i64) -> ListOffsetsPartitionResponse {
    list_offset_v(conn, LIST_OFFSETS_VERSION, topic, partition, timestamp)
}

pub fn list_offsets_request(topic: &str, partition: i32, timestamp: i64) -> ListOffsetsRequest {
    ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        ListOffsetsTopic::default().with_name(topic_name(topic)).with_partitions(vec![
            ListOffsetsPartition::default().with_partition_index(partition).with_timestamp(timestamp),
        ]),
    ])
}

pub fn list_offset_v(
    conn: &mut RawConn,
    version: i16,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> ListOffsetsPartitionResponse {
    let response = conn.request(version, &list_offsets_request(topic, partition, timestamp));
    let [topic_response] = <[_; 1]>::try_from(response.topics).expect("one topic in the list-offsets response");
    let [partition_response] =
        <[_; 1]>::try_from(topic_response.partitions).expect("one partition in the list-offsets response");
    assert_eq!(partition_response.partition_index, partition);
    partition_response
}

pub fn create_topics_request(name: &str, partitions: i32) -> CreateTopicsRequest {
    CreateTopicsRequest::default().with_timeout_ms(10_000).with_topics(vec![
        CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1),
    ])
}

/// Creates one topic and returns its result (check `error_code`).
pub fn create_topic(conn: &mut RawConn, name: &str, partitions: i32) -> CreatableTopicResult {
    let response = conn.request(CREATE_TOPICS_VERSION, &create_topics_request(name, partitions));
    let [result] = <[_; 1]>::try_from(response.topics).expect("one topic in the create-topics response");
    assert_eq!(result.name.0.as_str(), name);
    result
}

/// Creates a topic and asserts it worked.
pub fn create_topic_ok(conn: &mut RawConn, name: &str, partitions: i32) {
    let result = create_topic(conn, name, partitions);
    assert_eq!(result.error_code, 0, "create topic {name}: {:?}", result.error_message);
}

pub fn metadata_request(topics: Option<&[&str]>, allow_auto_create: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(topics.map(|names| {
            names.iter().map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n)))).collect()
        }))
        .with_allow_auto_topic_creation(allow_auto_create)
}

pub fn metadata(conn: &mut RawConn, topics: Option<&[&str]>, allow_auto_create: bool) -> MetadataResponse {
    conn.request(METADATA_VERSION, &metadata_request(topics, allow_auto_create))
}

/// An ApiVersions request naming its client software, as v3 and later must (Kafka answers
/// INVALID_REQUEST to an empty or malformed name, KIP-511).
pub fn api_versions_request() -> kafka_protocol::messages::ApiVersionsRequest {
    kafka_protocol::messages::ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("strata-tests"))
        .with_client_software_version(StrBytes::from_static_str("1"))
}

/// Asserts that the broker answers a fresh client normally: ApiVersions v3 and Metadata v12.
/// Every bad-input test ends with this, so one bad client cannot take the broker down.
pub fn assert_serves(bootstrap: &str) {
    let mut conn = RawConn::connect(bootstrap);
    let versions = conn.request(3, &api_versions_request());
    assert_eq!(versions.error_code, 0, "ApiVersions v3 from a fresh client");
    assert!(versions.api_keys.iter().any(|k| k.api_key == 18), "ApiVersions lists itself");
    let metadata = metadata(&mut conn, None, false);
    assert_eq!(metadata.brokers.len(), 1, "Metadata lists this broker");
}
