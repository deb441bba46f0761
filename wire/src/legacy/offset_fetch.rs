//! OffsetFetch v0 (key 9), which Kafka 4 removed. Kafka's schema says it: "Version 1 is the same
//! as version 0" in both directions (v0 once read offsets from ZooKeeper; Kafka 3.9 in KRaft mode
//! serves both from the group coordinator), so the crate's v1 codec decodes and encodes it.
//!
//! ```text
//! request  v0-1: group_id string, [topic string, [partition i32]]
//! response v0-1: [topic string, [partition i32, offset i64, metadata nullable string, error_code i16]]
//! ```

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::protocol::{Encodable, Message};

use super::{LegacyError, decode_whole};

/// The oldest OffsetFetch version `kafka-protocol` decodes; v0 has its layout.
pub const CRATE_MIN_VERSION: i16 = OffsetFetchRequest::VERSIONS.min;

/// Decodes an OffsetFetch v0 body (v1's layout).
pub fn decode_request(body: Bytes) -> Result<OffsetFetchRequest, LegacyError> {
    decode_whole(body, CRATE_MIN_VERSION)
}

/// Encodes the body of an OffsetFetch v0 response (v1's layout).
pub fn encode_response(response: &OffsetFetchResponse, out: &mut BytesMut) -> Result<(), LegacyError> {
    response.encode(out, CRATE_MIN_VERSION).map_err(|e| LegacyError::Encode(format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::hex;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::offset_fetch_response::{OffsetFetchResponsePartition, OffsetFetchResponseTopic};
    use kafka_protocol::protocol::StrBytes;

    #[test]
    fn decodes_and_encodes_v0_bytes() {
        let request = decode_request(hex("0001 67 00000001 0001 74 00000002 00000000 00000001")).expect("decodes");
        assert_eq!(request.group_id.0.as_str(), "g");
        let topics = request.topics.expect("topics");
        assert_eq!(topics[0].partition_indexes, [0, 1]);
        assert!(decode_request(hex("0001 67 00000001 0001 74 00000001 00000000 00")).is_err(), "trailing byte");

        let partition = OffsetFetchResponsePartition::default()
            .with_partition_index(0)
            .with_committed_offset(7)
            .with_metadata(Some(StrBytes::from_static_str("m")));
        let topic = OffsetFetchResponseTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![partition]);
        let mut out = BytesMut::new();
        encode_response(&OffsetFetchResponse::default().with_topics(vec![topic]), &mut out).expect("encodes");
        assert_eq!(out.freeze(), hex("00000001 0001 74 00000001 00000000 0000000000000007 0001 6d 0000"));
    }
}
