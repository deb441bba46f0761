//! The request versions Kafka 4 removed and Kafka 3.9 still served, which the `kafka-protocol`
//! crate cannot decode (its oldest versions follow Kafka 4). Each API has a file that decodes the
//! old request into the crate's request type of the oldest version it knows (so one handler serves
//! every version) and encodes the crate's response type in the old layout. Like the rest of this
//! crate it performs no I/O.
//!
//! Old record data travels as message sets of format v0/v1 ([`message_set`]); Produce converts
//! them to v2 record batches before the log sees them.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseKind};
use kafka_protocol::protocol::{Decodable, Request};

use crate::frame::{finish_frame, start_frame};

pub mod compression;
pub mod create_topics;
pub mod delete_topics;
pub mod describe_configs;
pub mod fetch;
pub mod list_offsets;
pub mod message_set;
pub mod offset_commit;
pub mod offset_fetch;
pub mod produce;
mod reader;

pub use reader::Reader;

/// Why a legacy request could not be decoded or its response encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyError {
    #[error("request cut short at byte {offset}: {need} bytes needed, {have} left")]
    Truncated { offset: usize, need: usize, have: usize },
    #[error("{what} count {count} is negative or larger than the request")]
    Count { what: &'static str, count: i32 },
    #[error("a string is not UTF-8")]
    Utf8,
    #[error("a string that may not be null is null")]
    NullString,
    #[error("{left} bytes left after the request")]
    TrailingBytes { left: usize },
    #[error("no legacy codec for {api:?} v{version}")]
    Unsupported { api: ApiKey, version: i16 },
    #[error("cannot decode: {0}")]
    Decode(String),
    #[error("cannot encode: {0}")]
    Encode(String),
}

/// The oldest version of `api` that the `kafka-protocol` crate decodes; older ones come here.
pub fn crate_min_version(api: ApiKey) -> i16 {
    match api {
        ApiKey::Produce => produce::CRATE_MIN_VERSION,
        ApiKey::Fetch => fetch::CRATE_MIN_VERSION,
        ApiKey::ListOffsets => list_offsets::CRATE_MIN_VERSION,
        ApiKey::OffsetCommit => offset_commit::CRATE_MIN_VERSION,
        ApiKey::OffsetFetch => offset_fetch::CRATE_MIN_VERSION,
        ApiKey::CreateTopics => create_topics::CRATE_MIN_VERSION,
        ApiKey::DeleteTopics => delete_topics::CRATE_MIN_VERSION,
        ApiKey::DescribeConfigs => describe_configs::CRATE_MIN_VERSION,
        _ => 0,
    }
}

/// Whether a request of `api` at `version` is decoded and answered by this module.
pub fn is_legacy(api: ApiKey, version: i16) -> bool {
    version >= 0 && version < crate_min_version(api)
}

/// Encodes `body` as the response frame (v0 header: the correlation id) of a legacy request.
pub fn encode_response_frame(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<BytesMut, LegacyError> {
    let mut out = BytesMut::new();
    let start = start_frame(&mut out);
    out.put_i32(correlation_id);
    match body {
        ResponseKind::Produce(response) if api == ApiKey::Produce => {
            produce::encode_response(version, response, &mut out)?
        }
        ResponseKind::ListOffsets(response) if api == ApiKey::ListOffsets => {
            list_offsets::encode_response(response, &mut out)
        }
        ResponseKind::OffsetCommit(response) if api == ApiKey::OffsetCommit => {
            offset_commit::encode_response(response, &mut out)?
        }
        ResponseKind::OffsetFetch(response) if api == ApiKey::OffsetFetch => {
            offset_fetch::encode_response(response, &mut out)?
        }
        ResponseKind::CreateTopics(response) if api == ApiKey::CreateTopics => {
            create_topics::encode_response(version, response, &mut out)
        }
        ResponseKind::DeleteTopics(response) if api == ApiKey::DeleteTopics => {
            delete_topics::encode_response(response, &mut out)
        }
        ResponseKind::DescribeConfigs(response) if api == ApiKey::DescribeConfigs => {
            describe_configs::encode_response(response, &mut out)
        }
        _ => return Err(LegacyError::Unsupported { api, version }),
    }
    finish_frame(&mut out, start);
    Ok(out)
}

/// Decodes all of `body` as the crate's message `M` at `version` (the old layout is that version's).
/// The body is checked against `M`'s layout first, as every request body is (see [`crate::schema`]).
fn decode_whole<M: Decodable + Request>(mut body: Bytes, version: i16) -> Result<M, LegacyError> {
    crate::schema::check_request(M::KEY, version, &body).map_err(|e| LegacyError::Decode(e.to_string()))?;
    let message = M::decode(&mut body, version).map_err(|e| LegacyError::Decode(format!("{e:#}")))?;
    match body.len() {
        0 => Ok(message),
        left => Err(LegacyError::TrailingBytes { left }),
    }
}

/// `body` with `suffix` appended: for an old layout that is a newer one without its last fields.
fn with_suffix(body: &Bytes, suffix: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(body.len() + suffix.len());
    out.put_slice(body);
    out.put_slice(suffix);
    out.freeze()
}

/// Hex text (spaces allowed) as bytes, for the codecs' byte-exact tests.
#[cfg(test)]
fn hex(s: &str) -> Bytes {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    Bytes::from(
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect::<Vec<u8>>(),
    )
}

/// Writes a non-null string (INT16 length).
fn put_string(out: &mut BytesMut, s: &str) {
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

/// Writes an array length.
fn put_count(out: &mut BytesMut, n: usize) {
    out.put_i32(n as i32);
}
