//! Request and response headers. A request frame starts with api key and version, which decide the
//! header version (flexible versions carry tagged fields and a compact client id); the body follows.
//! Responses are a header (correlation id, tagged fields from header v1) and a body encoded by
//! `kafka-protocol`, inside a size-prefixed frame.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::frame::{finish_frame, start_frame};

/// Bytes of the fixed start of every request header: api key (i16), api version (i16), correlation id (i32).
pub const REQUEST_HEADER_FIXED_BYTES: usize = 8;

/// Why a request frame could not be read. Kafka closes the connection for each of these.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("request frame of {len} bytes is shorter than a request header")]
    Short { len: usize },
    #[error("unknown api key {api_key}")]
    UnknownApiKey { api_key: i16, correlation_id: i32 },
    #[error("malformed request header for api key {api_key} v{api_version}: {reason}")]
    Malformed { api_key: i16, api_version: i16, reason: String },
}

/// Why a request body or a response could not be coded.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("malformed {api_key:?} v{api_version} request body: {reason}")]
    Malformed { api_key: ApiKey, api_version: i16, reason: String },
    #[error("cannot encode {api_key:?} v{api_version} response: {reason}")]
    Encode { api_key: ApiKey, api_version: i16, reason: String },
}

/// A request frame split into its decoded header and the still-encoded body.
#[derive(Debug, Clone)]
pub struct RequestFrame {
    pub api_key: ApiKey,
    pub header: RequestHeader,
    pub body: Bytes,
}

impl RequestFrame {
    pub fn api_version(&self) -> i16 {
        self.header.request_api_version
    }

    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }
}

/// Reads the api key, version and correlation id without decoding the rest of the header.
pub fn peek_fixed(frame: &[u8]) -> Result<(i16, i16, i32), HeaderError> {
    if frame.len() < REQUEST_HEADER_FIXED_BYTES {
        return Err(HeaderError::Short { len: frame.len() });
    }
    let mut fixed = &frame[..REQUEST_HEADER_FIXED_BYTES];
    Ok((fixed.get_i16(), fixed.get_i16(), fixed.get_i32()))
}

/// Decodes the request header at the start of `frame` and returns it with the body that follows.
pub fn decode_request_frame(mut frame: Bytes) -> Result<RequestFrame, HeaderError> {
    let (api_key_raw, api_version, correlation_id) = peek_fixed(&frame)?;
    let api_key = ApiKey::try_from(api_key_raw)
        .map_err(|()| HeaderError::UnknownApiKey { api_key: api_key_raw, correlation_id })?;
    let header_version = api_key.request_header_version(api_version);
    let header = RequestHeader::decode(&mut frame, header_version).map_err(|e| HeaderError::Malformed {
        api_key: api_key_raw,
        api_version,
        reason: e.to_string(),
    })?;
    Ok(RequestFrame { api_key, header, body: frame })
}

/// A request body decoded by [`decode_request_body`] (any API) or [`decode_message`] (one type).
#[derive(Debug)]
pub struct DecodedBody<R = RequestKind> {
    pub request: R,
    /// Bytes the frame held after the body's last field. Kafka reads a request's fields and never
    /// looks at what follows them, so these are ignored, not refused: librdkafka 2.15 and 2.16
    /// send a Metadata v13 request for all topics with three stray bytes after a null topic
    /// array (a varint placeholder it never shrinks), and Kafka answers it.
    pub trailing_bytes: usize,
}

/// Decodes a request body of a version already checked against the API table.
/// The body is first checked against Kafka's layout for its version ([`crate::schema`]), so that
/// no array count it claims can make the decoder reserve more than the body holds.
pub fn decode_request_body(api_key: ApiKey, api_version: i16, mut body: Bytes) -> Result<DecodedBody, BodyError> {
    check_layout(api_key, api_version, &body)?;
    let request = RequestKind::decode(api_key, &mut body, api_version).map_err(|e| BodyError::Malformed {
        api_key,
        api_version,
        reason: e.to_string(),
    })?;
    Ok(DecodedBody { request, trailing_bytes: body.remaining() })
}

/// Decodes a request body of one message type, of a version already checked against the API table.
pub fn decode_message<M: Decodable>(
    api_key: ApiKey,
    api_version: i16,
    mut body: Bytes,
) -> Result<DecodedBody<M>, BodyError> {
    check_layout(api_key, api_version, &body)?;
    let request = M::decode(&mut body, api_version).map_err(|e| BodyError::Malformed {
        api_key,
        api_version,
        reason: e.to_string(),
    })?;
    Ok(DecodedBody { request, trailing_bytes: body.remaining() })
}

/// Refuses a body whose lengths and counts do not fit in it (see [`crate::schema`]).
fn check_layout(api_key: ApiKey, api_version: i16, body: &[u8]) -> Result<(), BodyError> {
    crate::schema::check_request(api_key as i16, api_version, body).map_err(|e| BodyError::Malformed {
        api_key,
        api_version,
        reason: e.to_string(),
    })
}

/// Encodes a complete size-prefixed response frame: header (v0, or v1 with tagged fields for
/// flexible versions; ApiVersions always v0) and body.
pub fn encode_response_frame(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<BytesMut, BodyError> {
    let encode_err = |e: anyhow::Error| BodyError::Encode { api_key, api_version, reason: e.to_string() };
    let mut buf = BytesMut::with_capacity(64);
    let start = start_frame(&mut buf);
    encode_response_header(&mut buf, api_key, api_version, correlation_id).map_err(encode_err)?;
    body.encode(&mut buf, api_version).map_err(encode_err)?;
    finish_frame(&mut buf, start);
    Ok(buf)
}

/// Encodes just the response header for `api_key` at `api_version` (used by framing that writes
/// the body itself, such as the zero-copy Fetch response).
pub fn encode_response_header(
    buf: &mut BytesMut,
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
) -> anyhow::Result<()> {
    let header_version = api_key.response_header_version(api_version);
    ResponseHeader::default().with_correlation_id(correlation_id).encode(buf, header_version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, MetadataRequest};
    use kafka_protocol::protocol::StrBytes;

    fn request_frame(api_key: ApiKey, version: i16, body: &impl Encodable) -> Bytes {
        let mut buf = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("test")))
            .encode(&mut buf, api_key.request_header_version(version))
            .expect("header encodes");
        body.encode(&mut buf, version).expect("body encodes");
        buf.freeze()
    }

    #[test]
    fn decodes_flexible_and_non_flexible_headers() {
        for version in [0, 4, 12] {
            let frame = request_frame(ApiKey::Metadata, version, &MetadataRequest::default());
            let decoded = decode_request_frame(frame).expect("decodes");
            assert_eq!(decoded.api_key, ApiKey::Metadata);
            assert_eq!(decoded.api_version(), version);
            assert_eq!(decoded.correlation_id(), 7);
            assert_eq!(decoded.header.client_id.as_deref(), Some("test"));
            let body = decode_request_body(decoded.api_key, version, decoded.body).expect("body decodes");
            assert!(matches!(body.request, RequestKind::Metadata(_)));
            assert_eq!(body.trailing_bytes, 0);
        }
    }

    #[test]
    fn refuses_unknown_keys_and_short_frames_but_reads_past_trailing_bytes() {
        let mut unknown = BytesMut::new();
        unknown.extend_from_slice(&[0x7f, 0x00, 0, 0, 0, 0, 0, 9, 0xff, 0xff]);
        assert!(matches!(
            decode_request_frame(unknown.freeze()),
            Err(HeaderError::UnknownApiKey { api_key: 0x7f00, correlation_id: 9 })
        ));
        assert!(matches!(decode_request_frame(Bytes::from_static(&[0, 18, 0])), Err(HeaderError::Short { len: 3 })));

        let mut frame = BytesMut::from(&request_frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())[..]);
        frame.extend_from_slice(b"garbage");
        let decoded = decode_request_frame(frame.freeze()).expect("header decodes");
        let body = decode_request_body(decoded.api_key, 3, decoded.body).expect("body decodes");
        assert!(matches!(body.request, RequestKind::ApiVersions(_)));
        assert_eq!(body.trailing_bytes, 7);
    }

    /// The Metadata v13 request librdkafka 2.16 sends for all topics, as captured from
    /// confluent-kafka 2.16.1's `AdminClient.list_topics()`: header v2 (api key 3, version 13,
    /// correlation id 3, client id "rdkafka", no tags), then a null topic array (varint 0), three
    /// zero bytes of an unshrunk varint placeholder, allow_auto_topic_creation = true (1),
    /// include_topic_authorized_operations = false, no tags. Kafka reads the first four body
    /// bytes as the whole request (null topics, no auto-creation, no operations, no tags).
    #[test]
    fn librdkafka_2_16_metadata_v13_with_stray_bytes_decodes_as_kafka_reads_it() {
        let captured = "0003000d00000003000772646b61666b610000000000010000";
        let bytes: Vec<u8> =
            (0..captured.len()).step_by(2).map(|i| u8::from_str_radix(&captured[i..i + 2], 16).expect("hex")).collect();
        let frame = decode_request_frame(Bytes::from(bytes)).expect("header decodes");
        assert_eq!((frame.api_version(), frame.correlation_id()), (13, 3));
        let body = decode_request_body(frame.api_key, 13, frame.body).expect("body decodes");
        let RequestKind::Metadata(request) = body.request else { panic!("not a Metadata request") };
        assert!(request.topics.is_none());
        assert!(!request.allow_auto_topic_creation);
        assert!(!request.include_topic_authorized_operations);
        assert_eq!(body.trailing_bytes, 3);
    }

    #[test]
    fn api_versions_response_uses_header_v0_and_writes_no_default_tagged_fields() {
        let body = ResponseKind::ApiVersions(ApiVersionsResponse::default());
        let frame = encode_response_frame(ApiKey::ApiVersions, 3, 42, &body).expect("encodes");
        // size, correlation id, error code, empty compact array, throttle, empty tagged fields.
        assert_eq!(&frame[..], &[0, 0, 0, 12, 0, 0, 0, 42, 0, 0, 1, 0, 0, 0, 0, 0]);
    }
}
