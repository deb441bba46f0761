//! ApiVersions: the APIs and version ranges of the API table, [`crate::dispatch::ROUTES`] (those
//! not marked unadvertised). The response
//! header is always v0 so that a client can read it before it knows anything else. With
//! `strata.legacy.protocol.enable` the ranges start at the legacy versions the broker serves.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, ResponseKind};

use crate::api::ApiSpec;
use crate::dispatch;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of ApiVersions, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::ApiVersions, 0, 4);

fn api_keys(legacy: bool) -> Vec<ApiVersion> {
    dispatch::advertised()
        .map(|s| {
            ApiVersion::default()
                .with_api_key(s.key as i16)
                .with_min_version(s.min_version(legacy))
                .with_max_version(s.max)
        })
        .collect()
}

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: ApiVersionsRequest) -> Outcome {
    let legacy = broker.config.settings.legacy_protocol_enable;
    if ctx.api_version >= 3 {
        tracing::debug!(
            peer = ?ctx.peer,
            client = %ctx.client_id,
            software = %req.client_software_name.as_str(),
            software_version = %req.client_software_version.as_str(),
            "client software"
        );
        if !is_software_label(&req.client_software_name) || !is_software_label(&req.client_software_version) {
            // Kafka's ApiVersionsRequest.isValid: INVALID_REQUEST, with no key list.
            return ctx.respond(ResponseKind::ApiVersions(
                ApiVersionsResponse::default().with_error_code(ResponseError::InvalidRequest.code()),
            ));
        }
    }
    ctx.respond(ResponseKind::ApiVersions(ApiVersionsResponse::default().with_api_keys(api_keys(legacy))))
}

/// Whether a client software name or version (ApiVersions v3+, KIP-511) has the form Kafka
/// accepts: letters, digits, '-' and '.', starting and ending with a letter or digit.
fn is_software_label(label: &str) -> bool {
    let alphanumeric = |c: char| c.is_ascii_alphanumeric();
    label.starts_with(alphanumeric)
        && label.ends_with(alphanumeric)
        && label.chars().all(|c| alphanumeric(c) || c == '-' || c == '.')
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

#[cfg(test)]
mod tests {
    use super::is_software_label;

    #[test]
    fn software_labels_follow_kafkas_pattern() {
        for ok in ["librdkafka", "2.16.0", "confluent-kafka-python", "2.16.1-rdkafka-2.16.0", "a", "9"] {
            assert!(is_software_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", ".a", "a.", "a b", "a_b", "é"] {
            assert!(!is_software_label(bad), "{bad}");
        }
    }
}
