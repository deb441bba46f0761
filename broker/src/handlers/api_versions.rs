//! ApiVersions (key 18): the APIs and version ranges of [`crate::dispatch::APIS`]. The response
//! header is always v0 so that a client can read it before it knows anything else. With
//! `strata.legacy.protocol.enable` the ranges start at the legacy versions the broker serves.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, ResponseKind};
use kafka_protocol::ResponseError;

use crate::dispatch::APIS;
use crate::reply::{Outcome, RequestContext};

fn api_keys(legacy: bool) -> Vec<ApiVersion> {
    APIS.iter()
        .map(|s| ApiVersion::default().with_api_key(s.key as i16).with_min_version(s.min_version(legacy)).with_max_version(s.max))
        .collect()
}

pub fn handle(ctx: &RequestContext, _req: ApiVersionsRequest, legacy: bool) -> Outcome {
    ctx.respond(ResponseKind::ApiVersions(ApiVersionsResponse::default().with_api_keys(api_keys(legacy))))
}

/// The answer to an ApiVersions request of a version this broker does not know: a v0 response
/// with UNSUPPORTED_VERSION and the supported keys, so the client can retry with a version it finds there.
pub fn unsupported_version(ctx: &RequestContext, legacy: bool) -> Outcome {
    let v0 = RequestContext { api_version: 0, ..ctx.clone() };
    v0.respond(ResponseKind::ApiVersions(
        ApiVersionsResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code())
            .with_api_keys(api_keys(legacy)),
    ))
}
