//! In-process tests of the data path: Produce, Fetch, ListOffsets, DeleteRecords and
//! InitProducerId against a broker started in this process on 127.0.0.1:0 with a temporary data
//! directory, driven by raw frames encoded with `kafka-protocol` over a real TCP socket. Record
//! data is compared byte for byte with what was produced (with the offsets and leader epoch the
//! broker assigns), and Fetch responses are checked to be exactly `kafka-protocol`'s encoding.

mod support;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::list_offsets_response::ListOffsetsPartitionResponse;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, DeleteRecordsRequest, FetchRequest, FetchResponse, InitProducerIdRequest,
    ListOffsetsRequest, MetadataRequest, ProduceRequest, ProducerId, RequestHeader, ResponseHeader, TopicName,
    TransactionalId,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::Compression;
use strata_wire::batch::{set_base_offset, set_partition_leader_epoch};
use uuid::Uuid;

use strata_testkit::batches::Batch;
use strata_testkit::codes::{
    CORRUPT_MESSAGE, FETCH_SESSION_ID_NOT_FOUND, INVALID_RECORD, INVALID_REQUIRED_ACKS, MESSAGE_TOO_LARGE, NONE,
    OFFSET_OUT_OF_RANGE, OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_OR_PARTITION,
};
use strata_testkit::requests::epoch_ms;
use support::{Client, Node};

impl Client {
    /// Fetch, also checking that the frame is exactly `kafka-protocol`'s encoding of what it says.
    async fn fetch(&mut self, version: i16, request: &FetchRequest) -> FetchResponse {
        let id = self.send(version, request).await;
        let frame = self.receive().await.expect("a fetch response");
        let response = Self::decode::<FetchRequest>(version, id, frame.clone());
        let mut again = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(id)
            .encode(&mut again, ApiKey::Fetch.response_header_version(version))
            .expect("header encodes");
        response.encode(&mut again, version).expect("response encodes");
        assert_eq!(again.freeze(), frame, "Fetch v{version} frame differs from kafka-protocol's encoding");
        response
    }

    async fn create_topic(&mut self, name: &str, partitions: i32, configs: &[(&str, &str)]) -> Uuid {
        let configs = configs
            .iter()
            .map(|(k, v)| {
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_string(k.to_string()))
                    .with_value(Some(StrBytes::from_string(v.to_string())))
            })
            .collect();
        let topic = CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(configs);
        let response =
            self.call(7, &CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(5000)).await;
        assert_eq!(response.topics[0].error_code, NONE, "{:?}", response.topics[0].error_message);
        response.topics[0].topic_id
    }

    /// Produce one record set to one partition; the partition's answer.
    async fn produce(
        &mut self,
        version: i16,
        acks: i16,
        topic: Target<'_>,
        partition: i32,
        records: Bytes,
    ) -> PartitionProduceResponse {
        let request = produce_request(version, acks, topic, partition, records);
        let mut response = self.call(version, &request).await;
        assert_eq!(response.responses.len(), 1);
        let topic_response = response.responses.remove(0);
        if version >= 13 {
            assert_eq!(topic_response.topic_id, topic.id);
        } else {
            assert_eq!(topic_response.name.0.as_str(), topic.name);
        }
        topic_response.partition_responses.into_iter().next().expect("one partition")
    }

    /// Fetch one partition from `offset`; the partition's data.
    async fn fetch_one(
        &mut self,
        version: i16,
        topic: Target<'_>,
        partition: i32,
        offset: i64,
        max_bytes: i32,
    ) -> PartitionData {
        let request = fetch_request(version, topic, &[(partition, offset, max_bytes)], 0, 0, max_bytes);
        let mut response = self.fetch(version, &request).await;
        assert_eq!(response.error_code, NONE);
        response.responses.remove(0).partitions.remove(0)
    }

    async fn list_offset(
        &mut self,
        version: i16,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> ListOffsetsPartitionResponse {
        let request = ListOffsetsRequest::default().with_replica_id((-1).into()).with_topics(vec![
            ListOffsetsTopic::default().with_name(topic_name(topic)).with_partitions(vec![
                ListOffsetsPartition::default().with_partition_index(partition).with_timestamp(timestamp),
            ]),
        ]);
        self.call(version, &request).await.topics.remove(0).partitions.remove(0)
    }
}

/// A topic as requests name it: by name before v13, by id from v13.
#[derive(Clone, Copy)]
struct Target<'a> {
    name: &'a str,
    id: Uuid,
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn produce_request(version: i16, acks: i16, topic: Target, partition: i32, records: Bytes) -> ProduceRequest {
    let mut data = TopicProduceData::default()
        .with_partition_data(vec![PartitionProduceData::default().with_index(partition).with_records(Some(records))]);
    if version >= 13 {
        data = data.with_topic_id(topic.id);
    } else {
        data = data.with_name(topic_name(topic.name));
    }
    ProduceRequest::default().with_acks(acks).with_timeout_ms(5000).with_topic_data(vec![data])
}

/// A Fetch of `(partition, offset, partition_max_bytes)` of one topic.
fn fetch_request(
    version: i16,
    topic: Target,
    partitions: &[(i32, i64, i32)],
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
) -> FetchRequest {
    let partitions = partitions
        .iter()
        .map(|&(p, offset, max)| {
            FetchPartition::default().with_partition(p).with_fetch_offset(offset).with_partition_max_bytes(max)
        })
        .collect();
    let mut fetch_topic = FetchTopic::default().with_partitions(partitions);
    if version >= 13 {
        fetch_topic = fetch_topic.with_topic_id(topic.id);
    } else {
        fetch_topic = fetch_topic.with_topic(topic_name(topic.name));
    }
    FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_topics(vec![fetch_topic])
}

/// One v2 batch of `count` records (values of `value_bytes` bytes) with timestamps
/// `epoch_ms() + first_timestamp + i`, optionally from an idempotent producer `(id, epoch, first sequence)`.
fn batch(count: i32, value_bytes: usize, first_timestamp: i64, producer: Option<(i64, i16, i32)>) -> Bytes {
    compressed_batch(count, value_bytes, first_timestamp, producer, Compression::None)
}

/// [`batch`] compressed with `compression` (kafka-protocol writes snappy in the xerial framing the
/// Java client uses; librdkafka's raw snappy is covered by the end-to-end tests).
fn compressed_batch(
    count: i32,
    value_bytes: usize,
    first_timestamp: i64,
    producer: Option<(i64, i16, i32)>,
    compression: Compression,
) -> Bytes {
    let count = usize::try_from(count).expect("a positive count");
    let mut batch =
        Batch::new().numbered(count, Some(value_bytes), epoch_ms() + first_timestamp).compression(compression);
    if let Some((id, epoch, sequence)) = producer {
        batch = batch.producer(id, epoch, sequence);
    }
    batch.encode()
}

/// The batch as the log stores it: base offset assigned, leader epoch 0.
fn stored(batch: &Bytes, base_offset: i64) -> Vec<u8> {
    let mut bytes = batch.to_vec();
    set_base_offset(&mut bytes, base_offset);
    set_partition_leader_epoch(&mut bytes, 0);
    bytes
}

fn records_of(partition: &PartitionData) -> Vec<u8> {
    partition.records.as_ref().map(|r| r.to_vec()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_then_fetch_byte_for_byte_at_every_range_edge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    let mut conn = node.client().await;
    let id = conn.create_topic("bytes", 1, &[]).await;
    let topic = Target { name: "bytes", id };

    let mut expected = Vec::new();
    let mut next_offset = 0;
    for (i, version) in [3i16, 8, 13].into_iter().enumerate() {
        let produced = batch(3 + i as i32, 40, 1_000 * (i as i64 + 1), None);
        let answer = conn.produce(version, 1, topic, 0, produced.clone()).await;
        assert_eq!(answer.error_code, NONE, "Produce v{version}: {:?}", answer.error_message);
        assert_eq!(answer.base_offset, next_offset, "Produce v{version}");
        assert_eq!(answer.log_append_time_ms, -1);
        if version >= 5 {
            assert_eq!(answer.log_start_offset, 0);
        }
        expected.extend(stored(&produced, next_offset));
        next_offset += 3 + i as i64;
    }
    for version in [4i16, 5, 7, 11, 12, 13, 16, 18] {
        let data = conn.fetch_one(version, topic, 0, 0, 1 << 20).await;
        assert_eq!(data.error_code, NONE, "Fetch v{version}");
        assert_eq!(data.high_watermark, next_offset, "Fetch v{version}");
        assert_eq!(data.last_stable_offset, next_offset, "Fetch v{version}");
        if version >= 5 {
            assert_eq!(data.log_start_offset, 0);
        }
        assert_eq!(records_of(&data), expected, "Fetch v{version}: record data differs");
        // At the end of the log: no data, same watermarks.
        let end = conn.fetch_one(version, topic, 0, next_offset, 1 << 20).await;
        assert_eq!((end.error_code, end.high_watermark), (NONE, next_offset));
        assert!(records_of(&end).is_empty());
    }
    drop(conn);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copying_path_writes_the_same_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &["strata.fetch.transfer=copy"]).await;
    let mut conn = node.client().await;
    let id = conn.create_topic("copied", 1, &[]).await;
    let topic = Target { name: "copied", id };
    let mut expected = Vec::new();
    // Larger than the copy buffer, so the ranges are read in several pieces.
    for i in 0..4 {
        let produced = batch(10, 30_000, 5_000, None);
        let answer = conn.produce(9, -1, topic, 0, produced.clone()).await;
        assert_eq!((answer.error_code, answer.base_offset), (NONE, i * 10));
        expected.extend(stored(&produced, i * 10));
    }
    let data = conn.fetch_one(12, topic, 0, 0, 8 << 20).await;
    assert_eq!(records_of(&data), expected);
    drop(conn);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_mixing_sendfile_ranges_and_copied_small_ranges_keeps_every_byte_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    let mut conn = node.client().await;
    let id = conn.create_topic("mixed", 3, &[]).await;
    let topic = Target { name: "mixed", id };
    // Partitions 0 and 2 hold small batches (copied into the gathered write), partition 1 one
    // large range (sent with sendfile) between them.
    let small_0 = batch(3, 100, 0, None);
    let large = batch(10, 30_000, 0, None);
    let small_2 = batch(2, 500, 0, None);
    for (partition, produced) in [(0, &small_0), (1, &large), (2, &small_2)] {
        assert_eq!(conn.produce(9, -1, topic, partition, produced.clone()).await.error_code, NONE);
    }
    let request = fetch_request(13, topic, &[(0, 0, 1 << 20), (1, 0, 1 << 20), (2, 0, 1 << 20)], 0, 0, 8 << 20);
    let response = conn.fetch(13, &request).await;
    let parts = &response.responses[0].partitions;
    assert_eq!(records_of(&parts[0]), stored(&small_0, 0));
    assert_eq!(records_of(&parts[1]), stored(&large, 0));
    assert_eq!(records_of(&parts[2]), stored(&small_2, 0));
    drop(conn);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_inside_a_batch_returns_the_whole_batch_and_limits_keep_whole_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    let mut conn = node.client().await;
    let id = conn.create_topic("limits", 2, &[]).await;
    let topic = Target { name: "limits", id };
    let batches: Vec<Bytes> = (0..3).map(|i| batch(5, 200, 100 * i, None)).collect();
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(conn.produce(7, 1, topic, 0, b.clone()).await.base_offset, 5 * i as i64);
    }
    let big = batch(4, 3_000, 0, None);
    assert_eq!(conn.produce(7, 1, topic, 1, big.clone()).await.error_code, NONE);

    // Offset 7 lies in the second batch (5..=9): that whole batch comes back, then the third.
    let inside = conn.fetch_one(10, topic, 0, 7, 1 << 20).await;
    let mut want = stored(&batches[1], 5);
    want.extend(stored(&batches[2], 10));
    assert_eq!(records_of(&inside), want);

    // partition_max_bytes below two batches: only whole batches, at least one.
    let one = conn.fetch_one(10, topic, 0, 0, i32::try_from(batches[0].len() + 10).expect("small")).await;
    assert_eq!(records_of(&one), stored(&batches[0], 0));
    let tiny = conn.fetch_one(10, topic, 0, 0, 1).await;
    assert_eq!(records_of(&tiny), stored(&batches[0], 0), "the first partition gets one batch even when larger");

    // A response limit of 100 bytes: the first partition still gets its first batch, the
    // second gets nothing (it may not exceed the limit), but reports its high watermark.
    let request = fetch_request(13, topic, &[(0, 0, 1 << 20), (1, 0, 1 << 20)], 0, 0, 100);
    let response = conn.fetch(13, &request).await;
    let parts = &response.responses[0].partitions;
    assert_eq!(records_of(&parts[0]), stored(&batches[0], 0));
    assert!(records_of(&parts[1]).is_empty());
    assert_eq!((parts[1].error_code, parts[1].high_watermark), (NONE, 4));
    // With the second partition first, the large batch is the one that exceeds the limit.
    let request = fetch_request(13, topic, &[(1, 0, 1 << 20), (0, 0, 1 << 20)], 0, 0, 100);
    let response = conn.fetch(13, &request).await;
    let parts = &response.responses[0].partitions;
    assert_eq!(records_of(&parts[0]), stored(&big, 0));
    assert!(records_of(&parts[1]).is_empty());
    drop(conn);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_wakes_on_append_and_otherwise_waits_max_wait() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    let mut producer = node.client().await;
    let id = producer.create_topic("poll", 1, &[]).await;
    let topic = Target { name: "poll", id };

    // Nothing arrives: the answer comes after max_wait_ms, empty.
    let mut consumer = node.client().await;
    let started = Instant::now();
    let response = consumer.fetch(12, &fetch_request(12, topic, &[(0, 0, 1 << 20)], 300, 1, 1 << 20)).await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(290), "answered after {waited:?}");
    assert!(records_of(&response.responses[0].partitions[0]).is_empty());

    // An append during the wait wakes it long before max_wait_ms.
    let id_sent = consumer.send(12, &fetch_request(12, topic, &[(0, 0, 1 << 20)], 20_000, 1, 1 << 20)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let produced = batch(2, 10, 0, None);
    let started = Instant::now();
    assert_eq!(producer.produce(11, 1, topic, 0, produced.clone()).await.error_code, NONE);
    let frame = consumer.receive().await.expect("fetch answered");
    let woke = started.elapsed();
    assert!(woke < Duration::from_secs(5), "woken after {woke:?}");
    let response = Client::decode::<FetchRequest>(12, id_sent, frame);
    assert_eq!(records_of(&response.responses[0].partitions[0]), stored(&produced, 0));

    // min_bytes larger than one batch: the wait goes on until enough bytes are there.
    let id_sent = consumer
        .send(12, &fetch_request(12, topic, &[(0, 2, 1 << 20)], 20_000, 3 * produced.len() as i32, 1 << 20))
        .await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(producer.produce(11, 1, topic, 0, produced.clone()).await.error_code, NONE);
    }
    let response = Client::decode::<FetchRequest>(12, id_sent, consumer.receive().await.expect("fetch answered"));
    assert_eq!(records_of(&response.responses[0].partitions[0]).len(), 3 * produced.len());
    drop((producer, consumer));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_offsets_agrees_with_fetch_in_every_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    let mut conn = node.client().await;
    let id = conn.create_topic("times", 1, &[]).await;
    let topic = Target { name: "times", id };
    for version in [1i16, 7, 10] {
        let empty = conn.list_offset(version, "times", 0, -1).await;
        assert_eq!((empty.error_code, empty.offset), (NONE, 0), "v{version} latest of an empty log");
    }
    // Offsets 0..=9 with timestamps 1000..=1009, 10..=19 with 2000..=2009, 20..=29 with 500..=509.
    for first_timestamp in [1_000, 2_000, 500] {
        assert_eq!(conn.produce(8, 1, topic, 0, batch(10, 20, first_timestamp, None)).await.error_code, NONE);
    }
    let high_watermark = conn.fetch_one(12, topic, 0, 0, 1 << 20).await.high_watermark;
    assert_eq!(high_watermark, 30);
    let e = epoch_ms();
    for version in [1i16, 4, 7, 10] {
        let at = |r: ListOffsetsPartitionResponse| (r.error_code, r.offset, r.timestamp);
        assert_eq!(at(conn.list_offset(version, "times", 0, -2).await), (NONE, 0, -1), "v{version} earliest");
        assert_eq!(
            at(conn.list_offset(version, "times", 0, -1).await),
            (NONE, high_watermark, -1),
            "v{version} latest"
        );
        assert_eq!(
            at(conn.list_offset(version, "times", 0, e + 1_005).await),
            (NONE, 5, e + 1_005),
            "v{version} inside a batch"
        );
        assert_eq!(
            at(conn.list_offset(version, "times", 0, e + 1_500).await),
            (NONE, 10, e + 2_000),
            "v{version} between batches"
        );
        assert_eq!(
            at(conn.list_offset(version, "times", 0, 0).await),
            (NONE, 0, e + 1_000),
            "v{version} before everything"
        );
        assert_eq!(
            at(conn.list_offset(version, "times", 0, e + 5_000).await),
            (NONE, -1, -1),
            "v{version} after the last record"
        );
        if version >= 7 {
            assert_eq!(
                at(conn.list_offset(version, "times", 0, -3).await),
                (NONE, 19, e + 2_009),
                "v{version} max timestamp"
            );
        }
        if version >= 4 {
            assert_eq!(conn.list_offset(version, "times", 0, -1).await.leader_epoch, 0);
        }
    }
    let unknown = conn.list_offset(10, "nope", 0, -1).await;
    assert_eq!(unknown.error_code, UNKNOWN_TOPIC_OR_PARTITION);

    // DeleteRecords moves the log start; ListOffsets earliest and Fetch follow it.
    let delete = |offset: i64| {
        DeleteRecordsRequest::default().with_timeout_ms(5000).with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(topic_name("times"))
                .with_partitions(vec![DeleteRecordsPartition::default().with_partition_index(0).with_offset(offset)]),
        ])
    };
    for version in [0i16, 2] {
        let past = conn.call(version, &delete(31)).await.topics.remove(0).partitions.remove(0);
        assert_eq!((past.error_code, past.low_watermark), (OFFSET_OUT_OF_RANGE, -1));
    }
    let moved = conn.call(1, &delete(12)).await.topics.remove(0).partitions.remove(0);
    assert_eq!((moved.error_code, moved.low_watermark), (NONE, 12));
    assert_eq!(conn.list_offset(10, "times", 0, -2).await.offset, 12);
    let data = conn.fetch_one(18, topic, 0, 12, 1 << 20).await;
    assert_eq!((data.error_code, data.log_start_offset, data.high_watermark), (NONE, 12, 30));
    let gone = conn.fetch_one(18, topic, 0, 3, 1 << 20).await;
    assert_eq!(gone.error_code, OFFSET_OUT_OF_RANGE);
    let beyond = conn.fetch_one(18, topic, 0, 31, 1 << 20).await;
    assert_eq!(beyond.error_code, OFFSET_OUT_OF_RANGE);
    let all = conn.call(2, &delete(-1)).await.topics.remove(0).partitions.remove(0);
    assert_eq!((all.error_code, all.low_watermark), (NONE, 30));
    assert_eq!(conn.list_offset(10, "times", 0, -2).await.offset, 30);
    drop(conn);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xerial_snappy_batches_are_stored_as_sent_and_searched_by_timestamp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    let mut conn = node.client().await;
    let id = conn.create_topic("java-snappy", 1, &[]).await;
    let topic = Target { name: "java-snappy", id };
    let sent = compressed_batch(10, 200, 1_000, None, Compression::Snappy);
    // The Java client's framing: the xerial magic right after the 61-byte batch header.
    assert_eq!(&sent[61..69], b"\x82SNAPPY\x00");
    assert_eq!(conn.produce(9, -1, topic, 0, sent.clone()).await.error_code, NONE);
    assert_eq!(records_of(&conn.fetch_one(12, topic, 0, 3, 1 << 20).await), stored(&sent, 0), "stored exactly as sent");
    // A timestamp lookup decompresses the one batch it lands in and answers the exact record.
    let e = epoch_ms();
    let found = conn.list_offset(7, "java-snappy", 0, e + 1_004).await;
    assert_eq!((found.error_code, found.offset, found.timestamp), (NONE, 4, e + 1_004));
    drop(conn);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_one_all_and_bad_acks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    let mut conn = node.client().await;
    let id = conn.create_topic("acks", 1, &[]).await;
    let topic = Target { name: "acks", id };

    // acks=0 gets no answer: the next response on the connection is the next request's.
    conn.send(9, &produce_request(9, 0, topic, 0, batch(1, 5, 0, None))).await;
    let metadata_id = conn.send(12, &MetadataRequest::default().with_topics(Some(vec![]))).await;
    let frame = conn.receive().await.expect("metadata answered");
    Client::decode::<MetadataRequest>(12, metadata_id, frame);

    assert_eq!(conn.produce(9, 1, topic, 0, batch(1, 5, 0, None)).await.base_offset, 1);
    assert_eq!(conn.produce(9, -1, topic, 0, batch(1, 5, 0, None)).await.base_offset, 2);
    for acks in [2i16, -2, 5] {
        let refused = conn.produce(9, acks, topic, 0, batch(1, 5, 0, None)).await;
        assert_eq!((refused.error_code, refused.base_offset), (INVALID_REQUIRED_ACKS, -1), "acks={acks}");
    }
    assert_eq!(conn.list_offset(10, "acks", 0, -1).await.offset, 3, "refused requests wrote nothing");

    // acks=0 that fails closes the connection, as Kafka does.
    conn.send(9, &produce_request(9, 0, Target { name: "missing", id: Uuid::nil() }, 0, batch(1, 5, 0, None))).await;
    assert!(conn.receive().await.is_none(), "acks=0 with an error closes the connection");
    drop(conn);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_batches_get_kafkas_error_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    let mut conn = node.client().await;
    let id = conn.create_topic("small", 1, &[("max.message.bytes", "2000")]).await;
    let topic = Target { name: "small", id };

    let mut corrupt = batch(3, 50, 0, None).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let answer = conn.produce(9, 1, topic, 0, Bytes::from(corrupt)).await;
    assert_eq!((answer.error_code, answer.base_offset), (CORRUPT_MESSAGE, -1));

    let answer = conn.produce(9, 1, topic, 0, batch(3, 1_000, 0, None)).await;
    assert_eq!(answer.error_code, MESSAGE_TOO_LARGE);

    let mut two = batch(1, 10, 0, None).to_vec();
    two.extend_from_slice(&batch(1, 10, 0, None));
    assert_eq!(
        conn.produce(9, 1, topic, 0, Bytes::from(two)).await.error_code,
        INVALID_RECORD,
        "two batches in one produce"
    );
    let cut = batch(2, 10, 0, None);
    assert_eq!(
        conn.produce(9, 1, topic, 0, cut.slice(..cut.len() - 3)).await.error_code,
        INVALID_RECORD,
        "a cut batch"
    );

    for (version, unknown, code) in [
        (9i16, Target { name: "nope", id: Uuid::nil() }, UNKNOWN_TOPIC_OR_PARTITION),
        (13, Target { name: "", id: Uuid::new_v4() }, UNKNOWN_TOPIC_ID),
    ] {
        let answer = conn.produce(version, 1, unknown, 0, batch(1, 5, 0, None)).await;
        assert_eq!(answer.error_code, code, "Produce v{version} to an unknown topic");
    }
    assert_eq!(conn.produce(9, 1, topic, 7, batch(1, 5, 0, None)).await.error_code, UNKNOWN_TOPIC_OR_PARTITION);
    let fetched = conn.fetch_one(13, Target { name: "", id: Uuid::new_v4() }, 0, 0, 1000).await;
    assert_eq!(fetched.error_code, UNKNOWN_TOPIC_ID);
    let fetched = conn.fetch_one(12, Target { name: "nope", id: Uuid::nil() }, 0, 0, 1000).await;
    assert_eq!(fetched.error_code, UNKNOWN_TOPIC_OR_PARTITION);

    // Nothing above was written; a good batch still goes in at offset 0.
    assert_eq!(conn.produce(9, 1, topic, 0, batch(3, 50, 0, None)).await.base_offset, 0);
    drop(conn);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_v0_to_v2_closes_the_connection_as_kafka_4_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Kafka 4's behaviour; by default Strata serves these versions (tests/tests/legacy_protocol.rs).
    let node = Node::start(dir.path(), &["strata.legacy.protocol.enable=false"]).await;
    let mut conn = node.client().await;
    conn.create_topic("old", 1, &[]).await;
    // The crate cannot encode Produce below v3; v0-2 share one request layout, written by hand.
    let old_produce = |version: i16, acks: i16| {
        let mut frame = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(ApiKey::Produce as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("old-client")))
            .encode(&mut frame, 1)
            .expect("header encodes");
        frame.extend_from_slice(&acks.to_be_bytes());
        frame.extend_from_slice(&1000i32.to_be_bytes()); // timeout
        frame.extend_from_slice(&1i32.to_be_bytes()); // one topic
        frame.extend_from_slice(&3i16.to_be_bytes());
        frame.extend_from_slice(b"old");
        frame.extend_from_slice(&1i32.to_be_bytes()); // one partition
        frame.extend_from_slice(&0i32.to_be_bytes()); // partition 0
        frame.extend_from_slice(&(-1i32).to_be_bytes()); // null records
        frame.freeze()
    };
    // Reference Kafka 4.1.2 advertises Produce v0 and closes the connection on v0-2, whatever acks.
    for version in [0i16, 1, 2] {
        for acks in [1, 0] {
            let mut old = node.client().await;
            old.send_raw(old_produce(version, acks)).await;
            assert!(old.receive().await.is_none(), "Produce v{version} acks={acks} closes the connection");
        }
    }
    // Nothing was written, and the broker still serves.
    let latest = conn.list_offset(10, "old", 0, -1).await;
    assert_eq!((latest.error_code, latest.offset), (NONE, 0));
    drop(conn);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producers_get_duplicates_and_sequence_errors_and_ids_never_repeat() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    let mut conn = node.client().await;
    let id = conn.create_topic("idem", 1, &[]).await;
    let topic = Target { name: "idem", id };

    let init = InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60_000);
    let first = conn.call(0, &init).await;
    let second = conn.call(4, &init.clone().with_producer_id(ProducerId(-1)).with_producer_epoch(-1)).await;
    assert_eq!((first.error_code, second.error_code), (NONE, NONE));
    assert_ne!(first.producer_id, second.producer_id);
    assert_eq!(first.producer_epoch, 0);
    let pid = second.producer_id.0;

    let b0 = batch(3, 10, 0, Some((pid, 0, 0)));
    assert_eq!(conn.produce(9, -1, topic, 0, b0.clone()).await.base_offset, 0);
    assert_eq!(conn.produce(9, -1, topic, 0, batch(2, 10, 0, Some((pid, 0, 3)))).await.base_offset, 3);
    // The first batch again (a retry): success with its original offset, nothing appended.
    let retry = conn.produce(9, -1, topic, 0, b0).await;
    assert_eq!((retry.error_code, retry.base_offset), (NONE, 0));
    // A gap in the sequence.
    let gap = conn.produce(9, -1, topic, 0, batch(1, 10, 0, Some((pid, 0, 9)))).await;
    assert_eq!(gap.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(conn.list_offset(10, "idem", 0, -1).await.offset, 5);

    let transactional =
        conn.call(5, &init.clone().with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx"))))).await;
    // A transactional id's producer id comes from the same allocator: never one handed out before.
    assert_eq!(transactional.error_code, NONE);
    assert!(transactional.producer_id.0 > pid, "{transactional:?}");

    drop(conn);
    node.stop().await;
    let node = Node::start(dir.path(), &[]).await;
    let mut conn = node.client().await;
    let after = conn.call(3, &init).await;
    assert!(after.producer_id.0 > pid, "ids keep growing across a restart ({} after {pid})", after.producer_id.0);
    drop(conn);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_duplicates_are_recognised_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    let mut conn = node.client().await;
    let id = conn.create_topic("idem", 1, &[]).await;
    let topic = Target { name: "idem", id };
    let pid = 7;
    assert_eq!(conn.produce(9, -1, topic, 0, batch(3, 10, 0, Some((pid, 0, 0)))).await.base_offset, 0);
    assert_eq!(conn.produce(9, -1, topic, 0, batch(2, 10, 0, Some((pid, 0, 3)))).await.base_offset, 3);
    drop(conn);
    node.stop().await;
    let node = Node::start(dir.path(), &[]).await;
    let mut conn = node.client().await;
    let retry = conn.produce(9, -1, topic, 0, batch(2, 10, 0, Some((pid, 0, 3)))).await;
    assert_eq!((retry.error_code, retry.base_offset), (NONE, 3), "a retry after the restart is a duplicate");
    let gap = conn.produce(9, -1, topic, 0, batch(1, 10, 0, Some((pid, 0, 9)))).await;
    assert_eq!(gap.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER);
    drop(conn);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_session_slots_fetches_stay_full() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &["max.incremental.fetch.session.cache.slots=0"]).await;
    let mut conn = node.client().await;
    let id = conn.create_topic("sessions", 1, &[]).await;
    let topic = Target { name: "sessions", id };
    assert_eq!(conn.produce(9, 1, topic, 0, batch(1, 5, 0, None)).await.error_code, NONE);
    for version in [7i16, 12, 18] {
        // Epoch 0 asks for a new session: the cache has no slot, so none is made (session id 0)
        // and the data comes in full.
        let new_session = fetch_request(version, topic, &[(0, 0, 1 << 20)], 0, 0, 1 << 20).with_session_epoch(0);
        let response = conn.fetch(version, &new_session).await;
        assert_eq!((response.error_code, response.session_id), (NONE, 0));
        assert!(!records_of(&response.responses[0].partitions[0]).is_empty());
        // An incremental fetch in a session the broker does not have.
        let incremental = fetch_request(version, topic, &[], 0, 0, 1 << 20).with_session_id(12).with_session_epoch(3);
        let response = conn.fetch(version, &incremental).await;
        assert_eq!((response.error_code, response.session_id), (FETCH_SESSION_ID_NOT_FOUND, 0));
    }
    assert!(node.broker.fetch_sessions.lock().expect("cache").is_empty());
    drop(conn);
    node.stop().await;
}
