//! Share group (KIP-932) requests over [`RawConn`]: a member's ShareGroupHeartbeat, a
//! ShareFetch of one partition carrying acknowledgements, and what a ShareFetch answer acquired.

use kafka_protocol::messages::share_fetch_request::{AcknowledgementBatch, FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    GroupId, ShareFetchRequest, ShareFetchResponse, ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::RawConn;
use crate::batches::decode;
use crate::codes;

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// `member`'s ShareGroupHeartbeat to `group` in `epoch` (0 joins), subscribing to `topics`
/// (`None`: unchanged).
pub fn heartbeat(
    conn: &mut RawConn,
    (group, member): (&str, &str),
    epoch: i32,
    topics: Option<&[&str]>,
) -> ShareGroupHeartbeatResponse {
    let request = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_member_id(text(member))
        .with_member_epoch(epoch)
        .with_subscribed_topic_names(topics.map(|t| t.iter().map(|n| TopicName(text(n))).collect()));
    conn.request(1, &request)
}

/// `member`'s ShareFetch of `partition` of topic `topic` in session `epoch`, carrying `acks`
/// (first, last, type); it waits 500 ms for records when it asks for any (`max_records` > 0).
pub fn fetch(
    conn: &mut RawConn,
    (group, member): (&str, &str),
    epoch: i32,
    (topic, partition): (Uuid, i32),
    max_records: i32,
    acks: &[(i64, i64, i8)],
) -> ShareFetchResponse {
    let batches = acks
        .iter()
        .map(|&(first, last, kind)| {
            AcknowledgementBatch::default()
                .with_first_offset(first)
                .with_last_offset(last)
                .with_acknowledge_types(vec![kind])
        })
        .collect();
    let partition = FetchPartition::default()
        .with_partition_index(partition)
        .with_partition_max_bytes(1 << 20)
        .with_acknowledgement_batches(batches);
    let request = ShareFetchRequest::default()
        .with_group_id(Some(GroupId(text(group))))
        .with_member_id(Some(text(member)))
        .with_share_session_epoch(epoch)
        .with_max_wait_ms(if max_records > 0 { 500 } else { 0 })
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_max_records(max_records.max(1))
        .with_batch_size(max_records.max(1))
        .with_topics(vec![FetchTopic::default().with_topic_id(topic).with_partitions(vec![partition])]);
    conn.request(1, &request)
}

/// The acquired runs (first, last, delivery count) of the answer's one partition, and the
/// offsets of the records it carries; asserts neither the answer nor the partition has an error.
pub fn acquired(response: &ShareFetchResponse) -> (Vec<(i64, i64, i16)>, Vec<i64>) {
    assert_eq!(response.error_code, codes::NONE, "{:?}", response.error_message);
    let Some(partition) = response.responses.first().and_then(|t| t.partitions.first()) else {
        return (Vec::new(), Vec::new());
    };
    assert_eq!(partition.error_code, codes::NONE);
    let runs = partition.acquired_records.iter().map(|a| (a.first_offset, a.last_offset, a.delivery_count)).collect();
    let offsets = partition
        .records
        .as_ref()
        .map(|bytes| decode(bytes).iter().flat_map(|set| set.records.iter().map(|r| r.offset)).collect())
        .unwrap_or_default();
    (runs, offsets)
}

/// Sets `configs` of group `group` (IncrementalAlterConfigs on a GROUP resource); the error code.
pub fn alter_group_configs(conn: &mut RawConn, group: &str, configs: &[(&str, &str)]) -> i16 {
    use kafka_protocol::messages::IncrementalAlterConfigsRequest;
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let configs =
        configs.iter().map(|(k, v)| AlterableConfig::default().with_name(text(k)).with_value(Some(text(v)))).collect();
    let resource =
        AlterConfigsResource::default().with_resource_type(32).with_resource_name(text(group)).with_configs(configs);
    let response = conn.request(1, &IncrementalAlterConfigsRequest::default().with_resources(vec![resource]));
    response.responses[0].error_code
}

/// DescribeShareGroupOffsets of every share-partition of `group`: the group's error code, and
/// each partition's (index, start offset).
pub fn offsets(conn: &mut RawConn, group: &str) -> (i16, Vec<(i32, i64)>) {
    use kafka_protocol::messages::DescribeShareGroupOffsetsRequest;
    use kafka_protocol::messages::describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup;
    let asked = DescribeShareGroupOffsetsRequestGroup::default().with_group_id(GroupId(text(group))).with_topics(None);
    let response = conn.request(0, &DescribeShareGroupOffsetsRequest::default().with_groups(vec![asked]));
    let group = &response.groups[0];
    let starts =
        group.topics.iter().flat_map(|t| t.partitions.iter().map(|p| (p.partition_index, p.start_offset))).collect();
    (group.error_code, starts)
}

/// AlterShareGroupOffsets of `partition` of `topic` for `group` to `start`: the first error code.
pub fn reset_offset(conn: &mut RawConn, (group, topic): (&str, &str), partition: i32, start: i64) -> i16 {
    use kafka_protocol::messages::AlterShareGroupOffsetsRequest;
    use kafka_protocol::messages::alter_share_group_offsets_request::{
        AlterShareGroupOffsetsRequestPartition, AlterShareGroupOffsetsRequestTopic,
    };
    let topic =
        AlterShareGroupOffsetsRequestTopic::default().with_topic_name(TopicName(text(topic))).with_partitions(vec![
            AlterShareGroupOffsetsRequestPartition::default().with_partition_index(partition).with_start_offset(start),
        ]);
    let request = AlterShareGroupOffsetsRequest::default().with_group_id(GroupId(text(group))).with_topics(vec![topic]);
    let response = conn.request(0, &request);
    if response.error_code != codes::NONE {
        return response.error_code;
    }
    response.responses[0].partitions[0].error_code
}

/// DeleteShareGroupOffsets of `topic` for `group`: the first error code.
pub fn delete_offsets(conn: &mut RawConn, group: &str, topic: &str) -> i16 {
    use kafka_protocol::messages::DeleteShareGroupOffsetsRequest;
    use kafka_protocol::messages::delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic;
    let delete = DeleteShareGroupOffsetsRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_topics(vec![DeleteShareGroupOffsetsRequestTopic::default().with_topic_name(TopicName(text(topic)))]);
    let deleted = conn.request(0, &delete);
    if deleted.error_code != codes::NONE {
        return deleted.error_code;
    }
    deleted.responses[0].error_code
}

/// A member id as Kafka clients generate them (KIP-1082), a Kafka `Uuid` string, made from
/// `name` (its first 16 bytes, zero-padded) so that a test's members keep readable names.
pub fn member_id(name: &str) -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    for (slot, byte) in bytes.iter_mut().zip(name.bytes()) {
        *slot = byte;
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
