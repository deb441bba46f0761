//! CreateTopics v0-1 (key 19), which Kafka 4 removed. Kafka's schema: "Version 1 adds
//! validateOnly", and v2 changed only the response (throttle time), so a v1 request is decoded by
//! the crate's v2 codec and a v0 request is the v1 layout without its last field, the
//! `validate_only` boolean (false when absent). Responses are written here:
//!
//! ```text
//! request  v0: [topic string, partitions i32, replication i16, [assignment], [config]], timeout_ms i32
//! request  v1: v0, then validate_only bool
//! response v0: [topic string, error_code i16]
//! response v1: [topic string, error_code i16, error_message nullable string]
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::Message;

use super::{LegacyError, decode_whole, put_count, put_string, with_suffix};

/// The oldest CreateTopics version `kafka-protocol` decodes; v1 requests have its layout.
pub const CRATE_MIN_VERSION: i16 = CreateTopicsRequest::VERSIONS.min;

/// Decodes a CreateTopics v0 or v1 body.
pub fn decode_request(version: i16, body: Bytes) -> Result<CreateTopicsRequest, LegacyError> {
    // v0 is v1 without the trailing validate_only: add it, as false.
    let body = if version == 0 { with_suffix(&body, &[0]) } else { body };
    decode_whole(body, CRATE_MIN_VERSION)
}

/// Encodes the body of a CreateTopics v0 or v1 response.
pub fn encode_response(version: i16, response: &CreateTopicsResponse, out: &mut BytesMut) {
    put_count(out, response.topics.len());
    for topic in &response.topics {
        put_string(out, topic.name.0.as_str());
        out.put_i16(topic.error_code);
        if version >= 1 {
            match &topic.error_message {
                Some(message) => put_string(out, message.as_str()),
                None => out.put_i16(-1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::hex;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
    use kafka_protocol::protocol::StrBytes;

    /// Topic "t", 3 partitions, replication 1, no assignments, config retention.ms=1, timeout 5000.
    const V0: &str = "00000001 0001 74 00000003 0001 00000000 00000001 000c 726574656e74696f6e2e6d73 0001 31 00001388";

    #[test]
    fn decodes_v0_and_v1() {
        let request = decode_request(0, hex(V0)).expect("v0");
        let topic = &request.topics[0];
        assert_eq!((topic.name.0.as_str(), topic.num_partitions, topic.replication_factor), ("t", 3, 1));
        assert_eq!((topic.configs[0].name.as_str(), topic.configs[0].value.as_deref()), ("retention.ms", Some("1")));
        assert_eq!((request.timeout_ms, request.validate_only), (5000, false));
        let request = decode_request(1, hex(&format!("{V0} 01"))).expect("v1");
        assert!(request.validate_only);
        assert!(decode_request(1, hex(V0)).is_err(), "v1 needs validate_only");
        assert!(decode_request(0, hex(&format!("{V0} 01"))).is_err(), "v0 has no validate_only");
    }

    #[test]
    fn encodes_v0_and_v1_responses() {
        let response = CreateTopicsResponse::default().with_topics(vec![
            CreatableTopicResult::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_error_code(36)
                .with_error_message(Some(StrBytes::from_static_str("x"))),
            CreatableTopicResult::default()
                .with_name(TopicName(StrBytes::from_static_str("u")))
                .with_error_message(None),
        ]);
        let mut out = BytesMut::new();
        encode_response(0, &response, &mut out);
        assert_eq!(out.freeze(), hex("00000002 0001 74 0024 0001 75 0000"));
        let mut out = BytesMut::new();
        encode_response(1, &response, &mut out);
        assert_eq!(out.freeze(), hex("00000002 0001 74 0024 0001 78 0001 75 0000 ffff"));
    }
}
