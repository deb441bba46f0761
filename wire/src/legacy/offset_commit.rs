//! OffsetCommit v0-1 (key 8), which Kafka 4 removed. The request becomes the crate's v2 request
//! (v0 is a "simple" commit outside any generation: generation -1 and no member id, as Kafka's
//! defaults give it; v1's per-partition commit timestamp is read and left out, as Kafka 3.9 only
//! used it for the expiry of offsets, which `offsets.retention.minutes` decides here). The
//! response layout of v0-1 is v2's, so the crate encodes it.
//!
//! ```text
//! request v0: group_id string, [topic string, [partition i32, offset i64, metadata nullable string]]
//! request v1: group_id string, generation_id i32, member_id string,
//!             [topic string, [partition i32, offset i64, timestamp i64, metadata nullable string]]
//! response v0-2: [topic string, [partition i32, error_code i16]]
//! ```

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::{GroupId, OffsetCommitRequest, OffsetCommitResponse, TopicName};
use kafka_protocol::protocol::{Encodable, Message, StrBytes};

use super::{LegacyError, Reader};

/// The oldest OffsetCommit version `kafka-protocol` decodes; its response layout is v0-1's.
pub const CRATE_MIN_VERSION: i16 = OffsetCommitRequest::VERSIONS.min;
const TOPIC_BYTES_MIN: usize = 2 + 4;
const PARTITION_BYTES_MIN: usize = 4 + 8 + 2;

/// Decodes an OffsetCommit v0 or v1 body into a v2 request.
pub fn decode_request(version: i16, body: Bytes) -> Result<OffsetCommitRequest, LegacyError> {
    let mut r = Reader::new(body);
    let group_id = r.string()?;
    let (generation, member_id) = if version >= 1 { (r.i32()?, r.string()?) } else { (-1, StrBytes::default()) };
    let topic_count = r.count("topics", TOPIC_BYTES_MIN)?;
    let mut topics = Vec::with_capacity(topic_count);
    for _ in 0..topic_count {
        let name = r.string()?;
        let partition_count = r.count("partitions", PARTITION_BYTES_MIN)?;
        let mut partitions = Vec::with_capacity(partition_count);
        for _ in 0..partition_count {
            let partition_index = r.i32()?;
            let committed_offset = r.i64()?;
            if version >= 1 {
                let _commit_timestamp = r.i64()?;
            }
            let metadata = r.nullable_string()?;
            partitions.push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(partition_index)
                    .with_committed_offset(committed_offset)
                    .with_committed_metadata(metadata),
            );
        }
        topics.push(OffsetCommitRequestTopic::default().with_name(TopicName(name)).with_partitions(partitions));
    }
    r.finish()?;
    Ok(OffsetCommitRequest::default()
        .with_group_id(GroupId(group_id))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(member_id)
        .with_retention_time_ms(-1)
        .with_topics(topics))
}

/// Encodes the body of an OffsetCommit v0-1 response (v2's layout).
pub fn encode_response(response: &OffsetCommitResponse, out: &mut BytesMut) -> Result<(), LegacyError> {
    response.encode(out, CRATE_MIN_VERSION).map_err(|e| LegacyError::Encode(format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::hex;

    #[test]
    fn decodes_v0_and_v1() {
        // group "g", topic "t", partition 3 at offset 9 with metadata "m".
        let v0 = hex("0001 67 00000001 0001 74 00000001 00000003 0000000000000009 0001 6d");
        let request = decode_request(0, v0).expect("v0");
        assert_eq!(
            (request.group_id.0.as_str(), request.generation_id_or_member_epoch, request.member_id.as_str()),
            ("g", -1, "")
        );
        let p = &request.topics[0].partitions[0];
        assert_eq!((p.partition_index, p.committed_offset, p.committed_metadata.as_deref()), (3, 9, Some("m")));
        // v1: generation 5, member "c", commit timestamp 1000, null metadata.
        let v1 =
            hex("0001 67 00000005 0001 63 00000001 0001 74 00000001 00000003 0000000000000009 00000000000003e8 ffff");
        let request = decode_request(1, v1.clone()).expect("v1");
        assert_eq!((request.generation_id_or_member_epoch, request.member_id.as_str()), (5, "c"));
        assert_eq!(request.topics[0].partitions[0].committed_metadata, None);
        assert!(decode_request(0, v1).is_err(), "a v1 body is not a v0 body");
    }
}
