//! DescribeConfigs v0 (key 32), which Kafka 4 removed (Sarama at protocol levels before 1.1 lists
//! topics through it). Its request is v1's without `include_synonyms`; its response has
//! `is_default` where v1 has `config_source`, and no synonyms:
//!
//! ```text
//! request  v0: [resource_type i8, resource_name string, configuration_keys [string] (nullable)]
//! response v0: throttle_time_ms i32,
//!              [error_code i16, error_message string (nullable), resource_type i8, resource_name string,
//!               [name string, value string (nullable), read_only bool, is_default bool, is_sensitive bool]]
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::Message;

use super::{LegacyError, decode_whole, put_count, put_string, with_suffix};

/// The oldest DescribeConfigs version `kafka-protocol` decodes.
pub const CRATE_MIN_VERSION: i16 = DescribeConfigsRequest::VERSIONS.min;

/// Kafka's DEFAULT_CONFIG `config_source`, which v0 reports as `is_default`.
const DEFAULT_CONFIG_SOURCE: i8 = 5;

/// Decodes a DescribeConfigs v0 body as v1 without synonyms.
pub fn decode_request(body: Bytes) -> Result<DescribeConfigsRequest, LegacyError> {
    decode_whole(with_suffix(&body, &[0]), CRATE_MIN_VERSION) // include_synonyms = false
}

/// Encodes the body of a DescribeConfigs v0 response.
pub fn encode_response(response: &DescribeConfigsResponse, out: &mut BytesMut) {
    out.put_i32(response.throttle_time_ms);
    put_count(out, response.results.len());
    for result in &response.results {
        out.put_i16(result.error_code);
        put_nullable_string(out, result.error_message.as_deref());
        out.put_i8(result.resource_type);
        put_string(out, &result.resource_name);
        put_count(out, result.configs.len());
        for config in &result.configs {
            put_string(out, &config.name);
            put_nullable_string(out, config.value.as_deref());
            out.put_u8(u8::from(config.read_only));
            out.put_u8(u8::from(config.config_source == DEFAULT_CONFIG_SOURCE));
            out.put_u8(u8::from(config.is_sensitive));
        }
    }
}

fn put_nullable_string(out: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(out, s),
        None => out.put_i16(-1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::hex;
    use kafka_protocol::messages::describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult};
    use kafka_protocol::protocol::StrBytes;

    #[test]
    fn decodes_and_encodes_v0_bytes() {
        // One topic resource "t", all keys (null).
        let request = decode_request(hex("00000001 02 0001 74 ffffffff")).expect("decodes");
        assert_eq!(request.resources.len(), 1);
        assert_eq!((request.resources[0].resource_type, request.resources[0].resource_name.as_str()), (2, "t"));
        assert!(request.resources[0].configuration_keys.is_none());
        assert!(!request.include_synonyms);

        let response = DescribeConfigsResponse::default().with_results(vec![
            DescribeConfigsResult::default()
                .with_error_message(None)
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("t"))
                .with_configs(vec![
                    DescribeConfigsResourceResult::default()
                        .with_name(StrBytes::from_static_str("a"))
                        .with_value(Some(StrBytes::from_static_str("1")))
                        .with_config_source(5),
                    DescribeConfigsResourceResult::default()
                        .with_name(StrBytes::from_static_str("b"))
                        .with_value(None)
                        .with_config_source(1),
                ]),
        ]);
        let mut out = BytesMut::new();
        encode_response(&response, &mut out);
        assert_eq!(
            out.freeze(),
            hex("00000000 00000001 0000 ffff 02 0001 74 00000002  0001 61 0001 31 00 01 00  0001 62 ffff 00 00 00")
        );
    }
}
