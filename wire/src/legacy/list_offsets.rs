//! ListOffsets v0 (key 2), which Kafka 4 removed. The request becomes the crate's v1 request
//! (`max_num_offsets` is read and left out: every answer holds one offset, which "up to
//! max_num_offsets" allows, or none when it is 0 or the partition failed); the response lists
//! offsets where later versions give one:
//!
//! ```text
//! request  v0: replica_id i32, [topic string, [partition i32, timestamp i64, max_num_offsets i32]]
//! response v0: [topic string, [partition i32, error_code i16, old_style_offsets [i64]]]
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, ListOffsetsResponse, TopicName};
use kafka_protocol::protocol::Message;

use super::{LegacyError, Reader, put_count, put_string};

/// The oldest ListOffsets version `kafka-protocol` decodes.
pub const CRATE_MIN_VERSION: i16 = ListOffsetsRequest::VERSIONS.min;
const TOPIC_BYTES_MIN: usize = 2 + 4;
const PARTITION_BYTES_MIN: usize = 4 + 8 + 4;

/// Decodes a ListOffsets v0 body into a v1 request.
pub fn decode_request(body: Bytes) -> Result<ListOffsetsRequest, LegacyError> {
    let mut r = Reader::new(body);
    let replica_id = r.i32()?;
    let topic_count = r.count("topics", TOPIC_BYTES_MIN)?;
    let mut topics = Vec::with_capacity(topic_count);
    for _ in 0..topic_count {
        let name = r.string()?;
        let partition_count = r.count("partitions", PARTITION_BYTES_MIN)?;
        let mut partitions = Vec::with_capacity(partition_count);
        for _ in 0..partition_count {
            let partition_index = r.i32()?;
            let timestamp = r.i64()?;
            let _max_num_offsets = r.i32()?;
            partitions
                .push(ListOffsetsPartition::default().with_partition_index(partition_index).with_timestamp(timestamp));
        }
        topics.push(ListOffsetsTopic::default().with_name(TopicName(name)).with_partitions(partitions));
    }
    r.finish()?;
    Ok(ListOffsetsRequest::default().with_replica_id(BrokerId(replica_id)).with_topics(topics))
}

/// Encodes the body of a ListOffsets v0 response: each partition's offset as a one-element list,
/// an empty list for a partition with an error or without an offset (-1).
pub fn encode_response(response: &ListOffsetsResponse, out: &mut BytesMut) {
    put_count(out, response.topics.len());
    for topic in &response.topics {
        put_string(out, topic.name.0.as_str());
        put_count(out, topic.partitions.len());
        for p in &topic.partitions {
            out.put_i32(p.partition_index);
            out.put_i16(p.error_code);
            if p.error_code == 0 && p.offset >= 0 {
                put_count(out, 1);
                out.put_i64(p.offset);
            } else {
                put_count(out, 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::hex;
    use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
    use kafka_protocol::protocol::StrBytes;

    #[test]
    fn decodes_a_v0_request() {
        // replica -1, topic "t": partition 0 latest (-1), max 1; partition 1 earliest (-2), max 5.
        let body = hex(
            "ffffffff 00000001 0001 74 00000002 00000000 ffffffffffffffff 00000001 00000001 fffffffffffffffe 00000005",
        );
        let request = decode_request(body.clone()).expect("decodes");
        assert_eq!(request.replica_id.0, -1);
        let got: Vec<_> = request.topics[0].partitions.iter().map(|p| (p.partition_index, p.timestamp)).collect();
        assert_eq!(got, [(0, -1), (1, -2)]);
        assert!(decode_request(body.slice(..body.len() - 1)).is_err());
    }

    #[test]
    fn encodes_offsets_as_old_style_lists() {
        let partitions = vec![
            ListOffsetsPartitionResponse::default().with_partition_index(0).with_offset(42),
            ListOffsetsPartitionResponse::default().with_partition_index(1).with_error_code(3).with_offset(-1),
        ];
        let response = ListOffsetsResponse::default().with_topics(vec![
            ListOffsetsTopicResponse::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(partitions),
        ]);
        let mut out = BytesMut::new();
        encode_response(&response, &mut out);
        assert_eq!(
            out.freeze(),
            hex("00000001 0001 74 00000002 00000000 0000 00000001 000000000000002a 00000001 0003 00000000")
        );
    }
}
