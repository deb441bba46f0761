//! ApiVersions: the APIs and version ranges of the API table, [`crate::dispatch::ROUTES`]. The response
//! header is always v0 so that a client can read it before it knows anything else. With
//! `strata.legacy.protocol.enable` the ranges start at the legacy versions the broker serves.
//! v3+ also carries the features (KIP-584): `transaction.version` finalized at 2, as reference
//! Kafka 4.1.2 reports it (and supported 0-2, which Kafka 4.1.2 does not list: its supported
//! features name only `metadata.version`), so producers use KIP-890 part 2 (EndTxn v5, the epoch
//! bumped at every transaction, partitions added by Produce v12). Kafka's other features
//! (`metadata.version`, `group.version`, ...) are not reported: Strata does not serve what their
//! levels would promise (KIP-848 groups, for one).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::{ApiVersion, FinalizedFeatureKey, SupportedFeatureKey};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, ResponseKind};

use crate::api::ApiSpec;
use crate::dispatch;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of ApiVersions, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::ApiVersions, 0, 4);

/// The transaction version feature's name and its highest level (KIP-890 part 2).
const TRANSACTION_VERSION: &str = "transaction.version";
const TRANSACTION_VERSION_MAX: i16 = 2;
/// The finalized features' epoch. Kafka's is the metadata offset of the last feature change;
/// a Strata node's levels never change, so it is constant, and positive: clients take the
/// features of a response whose epoch exceeds the last they saw (-1 at first).
const FINALIZED_FEATURES_EPOCH: i64 = 1;

/// The features of a v3+ response.
fn with_features(response: ApiVersionsResponse) -> ApiVersionsResponse {
    let name = || kafka_protocol::protocol::StrBytes::from_static_str(TRANSACTION_VERSION);
    response
        .with_supported_features(vec![
            SupportedFeatureKey::default()
                .with_name(name())
                .with_min_version(0)
                .with_max_version(TRANSACTION_VERSION_MAX),
        ])
        .with_finalized_features_epoch(FINALIZED_FEATURES_EPOCH)
        .with_finalized_features(vec![
            FinalizedFeatureKey::default()
                .with_name(name())
                .with_min_version_level(TRANSACTION_VERSION_MAX)
                .with_max_version_level(TRANSACTION_VERSION_MAX),
        ])
}

fn api_keys(legacy: bool) -> Vec<ApiVersion> {
    dispatch::specs()
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
    let response = with_features(ApiVersionsResponse::default().with_api_keys(api_keys(legacy)));
    ctx.respond(ResponseKind::ApiVersions(response))
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
