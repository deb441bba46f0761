//! The encoding both raw clients share: a request's header and body as a broker reads them, and a
//! response's header checked (correlation id) and its body decoded, all by `kafka-protocol`.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};

/// The client id every test request carries.
pub const CLIENT_ID: &str = "strata-tests";

/// Frames larger than this from the broker are a test failure (it would be a bug).
pub const RESPONSE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// The API key of request type `R`.
pub fn api_key<R: Request>() -> ApiKey {
    ApiKey::try_from(R::KEY).expect("known api key")
}

/// The request header (its version chosen from the API key and version) and body, without the
/// frame's size prefix.
pub fn encode_request<R: Request>(correlation_id: i32, version: i16, request: &R) -> BytesMut {
    let api_key = api_key::<R>();
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)))
        .encode(&mut buf, api_key.request_header_version(version))
        .expect("encode request header");
    request.encode(&mut buf, version).unwrap_or_else(|e| panic!("encode {api_key:?} v{version}: {e}"));
    buf
}

/// The response header (its version chosen from the API key and version) and body, without the
/// frame's size prefix: what a broker sends, for tests of code that reads answers.
pub fn encode_response<R: Request>(correlation_id: i32, version: i16, response: &R::Response) -> BytesMut {
    let api_key = api_key::<R>();
    let mut buf = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, api_key.response_header_version(version))
        .expect("encode response header");
    response.encode(&mut buf, version).unwrap_or_else(|e| panic!("encode {api_key:?} v{version} response: {e}"));
    buf
}

/// `body` with its 4-byte big-endian size in front, as it goes on the wire.
pub fn framed(body: &[u8]) -> Vec<u8> {
    let size = i32::try_from(body.len()).expect("frame fits i32");
    let mut framed = Vec::with_capacity(4 + body.len());
    framed.extend_from_slice(&size.to_be_bytes());
    framed.extend_from_slice(body);
    framed
}

/// The size a frame header announces, checked to be a sane response size.
pub fn response_size(header: [u8; 4]) -> usize {
    let size = i32::from_be_bytes(header);
    let size = usize::try_from(size).unwrap_or_else(|_| panic!("broker sent a negative frame size {size}"));
    assert!(size <= RESPONSE_BYTES_MAX, "broker sent a {size}-byte frame");
    size
}

/// The body of response `frame` of `R`'s API at `version`, after checking its correlation id.
pub fn response_body<R: Request>(version: i16, correlation_id: i32, mut frame: Bytes) -> Bytes {
    let api_key = api_key::<R>();
    let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))
        .unwrap_or_else(|e| panic!("decode {api_key:?} v{version} response header: {e}"));
    assert_eq!(header.correlation_id, correlation_id, "{api_key:?} v{version}: correlation id of the response");
    frame
}

/// The response in `frame`, decoded at `version`; nothing may be left over.
pub fn decode_response<R: Request>(version: i16, correlation_id: i32, frame: Bytes) -> R::Response {
    let api_key = api_key::<R>();
    let mut body = response_body::<R>(version, correlation_id, frame);
    let response = R::Response::decode(&mut body, version)
        .unwrap_or_else(|e| panic!("decode {api_key:?} v{version} response: {e}"));
    assert!(
        !body.has_remaining(),
        "{api_key:?} v{version}: {} bytes left over after decoding the response",
        body.remaining()
    );
    response
}
