//! DeleteTopics v0 (key 20), which Kafka 4 removed. Its request is v1's (the crate decodes it);
//! its response is v1's without the leading throttle time:
//!
//! ```text
//! request  v0-1: [topic string], timeout_ms i32
//! response v0:   [topic string, error_code i16]
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use kafka_protocol::protocol::Message;

use super::{LegacyError, decode_whole, put_count, put_string};

/// The oldest DeleteTopics version `kafka-protocol` decodes; v0 requests have its layout.
pub const CRATE_MIN_VERSION: i16 = DeleteTopicsRequest::VERSIONS.min;

/// Decodes a DeleteTopics v0 body (v1's layout).
pub fn decode_request(body: Bytes) -> Result<DeleteTopicsRequest, LegacyError> {
    decode_whole(body, CRATE_MIN_VERSION)
}

/// Encodes the body of a DeleteTopics v0 response.
pub fn encode_response(response: &DeleteTopicsResponse, out: &mut BytesMut) {
    put_count(out, response.responses.len());
    for topic in &response.responses {
        put_string(out, topic.name.as_ref().map_or("", |n| n.0.as_str()));
        out.put_i16(topic.error_code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::hex;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
    use kafka_protocol::protocol::StrBytes;

    #[test]
    fn decodes_and_encodes_v0_bytes() {
        let request = decode_request(hex("00000002 0001 74 0001 75 00001388")).expect("decodes");
        let names: Vec<_> = request.topic_names.iter().map(|n| n.0.as_str()).collect();
        assert_eq!((names, request.timeout_ms), (vec!["t", "u"], 5000));
        let response = DeleteTopicsResponse::default().with_responses(vec![
            DeletableTopicResult::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
                .with_error_code(3),
        ]);
        let mut out = BytesMut::new();
        encode_response(&response, &mut out);
        assert_eq!(out.freeze(), hex("00000001 0001 74 0003"));
    }
}
