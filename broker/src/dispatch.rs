//! The API table and the one place a request is routed to its handler. ApiVersions is built from
//! [`APIS`], and every request's version is checked against it here, so what the broker advertises
//! cannot drift from what it serves. With `strata.legacy.protocol.enable` the table's `legacy_min`
//! versions (those Kafka 3.9 still served and Kafka 4 removed) are advertised and served as well;
//! without it the broker accepts exactly Kafka 4.1's ranges.

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, RequestKind};
use strata_wire::header::{DecodedBody, RequestFrame, decode_request_body};

use crate::handlers;
use crate::reply::{Outcome, Pending, RequestContext};
use crate::state::Broker;

/// An API the broker serves and the versions it accepts.
#[derive(Debug, Clone, Copy)]
pub struct ApiSpec {
    pub key: ApiKey,
    /// Kafka 4.1's oldest version.
    pub min: i16,
    pub max: i16,
    /// The oldest version served with `strata.legacy.protocol.enable` (Kafka 3.9's oldest).
    pub legacy_min: i16,
}

impl ApiSpec {
    /// The oldest version accepted, with or without the legacy versions.
    pub fn min_version(&self, legacy: bool) -> i16 {
        if legacy { self.legacy_min } else { self.min }
    }

    /// Whether `version` is accepted.
    pub fn accepts(&self, version: i16, legacy: bool) -> bool {
        (self.min_version(legacy)..=self.max).contains(&version)
    }
}

const fn api(key: ApiKey, min: i16, max: i16) -> ApiSpec {
    ApiSpec { key, min, max, legacy_min: min }
}

/// An API whose versions `legacy_min..min` Kafka 4 removed and Strata serves when
/// `strata.legacy.protocol.enable` is on (decoded and encoded by `strata_wire::legacy`).
const fn legacy_api(key: ApiKey, legacy_min: i16, min: i16, max: i16) -> ApiSpec {
    ApiSpec { key, min, max, legacy_min }
}

/// Every API served, with Kafka 4.1's version ranges (and Kafka 3.9's oldest versions where
/// Strata serves them again).
pub const APIS: &[ApiSpec] = &[
    api(ApiKey::Metadata, 0, 13),
    api(ApiKey::ApiVersions, 0, 4),
    legacy_api(ApiKey::CreateTopics, 0, 2, 7),
    legacy_api(ApiKey::DeleteTopics, 0, 1, 6),
    api(ApiKey::CreatePartitions, 0, 3),
    legacy_api(ApiKey::DescribeConfigs, 0, 1, 4),
    api(ApiKey::AlterConfigs, 0, 2),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
    api(ApiKey::DescribeCluster, 0, 2),
    api(ApiKey::Produce, 0, 13),
    legacy_api(ApiKey::Fetch, 0, 4, 18),
    legacy_api(ApiKey::ListOffsets, 0, 1, 10),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::InitProducerId, 0, 5),
    api(ApiKey::FindCoordinator, 0, 6),
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    legacy_api(ApiKey::OffsetCommit, 0, 2, 9),
    legacy_api(ApiKey::OffsetFetch, 0, 1, 9),
    api(ApiKey::DescribeGroups, 0, 6),
    api(ApiKey::ListGroups, 0, 5),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::OffsetDelete, 0, 0),
];

/// The versions of `key` the broker accepts, if it serves it at all.
pub fn spec(key: ApiKey) -> Option<&'static ApiSpec> {
    APIS.iter().find(|s| s.key == key)
}

/// Decodes a request and starts its handler. This runs on the connection's reader, in request
/// order, so whatever a handler does before returning its future (Produce assigns offsets there)
/// happens in the order the client sent the requests; the rest runs concurrently and is answered
/// in order by the writer.
pub fn begin(broker: Arc<Broker>, frame: RequestFrame, peer: Option<std::net::SocketAddr>) -> Pending {
    let ctx = RequestContext {
        api_key: frame.api_key,
        api_version: frame.api_version(),
        correlation_id: frame.correlation_id(),
        client_id: frame.header.client_id.as_deref().unwrap_or_default().to_string(),
        peer,
    };
    let done = Pending::ready;
    let legacy = broker.config.settings.legacy_protocol_enable;
    let supported = spec(ctx.api_key).is_some_and(|s| s.accepts(ctx.api_version, legacy));
    if ctx.api_key == ApiKey::ApiVersions && !supported {
        // KIP-511: a client newer than the broker gets a v0 answer listing what is supported.
        return done(handlers::api_versions::unsupported_version(&ctx, legacy));
    }
    if !supported {
        // Kafka cannot parse a request of a version it does not know, and closes the connection.
        tracing::info!(api = ?ctx.api_key, version = ctx.api_version, client = %ctx.client_id, "unsupported request version");
        return done(Outcome::Close(format!("unsupported {:?} version {}", ctx.api_key, ctx.api_version)));
    }
    if let Some(refused) = handlers::produce::refuse_removed_version(&ctx, legacy) {
        return done(refused);
    }
    if strata_wire::legacy::is_legacy(ctx.api_key, ctx.api_version) {
        return begin_legacy(&broker, ctx, frame.body);
    }
    let request = match decode_request_body(ctx.api_key, ctx.api_version, frame.body) {
        Ok(DecodedBody { request, trailing_bytes: 0 }) => request,
        Ok(DecodedBody { request, trailing_bytes }) => {
            tracing::debug!(api = ?ctx.api_key, version = ctx.api_version, client = %ctx.client_id, trailing_bytes, "ignoring bytes after the request body, as Kafka does");
            request
        }
        Err(error) => {
            tracing::info!(%error, client = %ctx.client_id, "malformed request");
            return done(Outcome::Close(error.to_string()));
        }
    };
    match request {
        // Offsets are assigned now, in request order; only the wait for the writes is deferred.
        RequestKind::Produce(req) => handlers::produce::start(&broker, ctx, req),
        other => Pending::later(async move { route(&broker, &ctx, other).await }),
    }
}

/// Starts a request of a version only `strata_wire::legacy` decodes (the version check above
/// admitted it, so `strata.legacy.protocol.enable` is on). Its response is encoded in the old
/// layout by [`RequestContext::respond`].
fn begin_legacy(broker: &Arc<Broker>, ctx: RequestContext, body: bytes::Bytes) -> Pending {
    let malformed = |ctx: &RequestContext, error: strata_wire::legacy::LegacyError| -> Pending {
        tracing::info!(%error, api = ?ctx.api_key, version = ctx.api_version, client = %ctx.client_id, "malformed legacy request");
        Pending::ready(Outcome::Close(error.to_string()))
    };
    match ctx.api_key {
        ApiKey::Produce => match strata_wire::legacy::produce::decode_request(body) {
            Ok(request) => handlers::produce::start_legacy(broker, ctx, request),
            Err(error) => malformed(&ctx, error),
        },
        ApiKey::Fetch => match strata_wire::legacy::fetch::decode_request(ctx.api_version, body) {
            Ok(request) => {
                let broker = Arc::clone(broker);
                Pending::later(async move { handlers::fetch::handle(&broker, &ctx, request).await })
            }
            Err(error) => malformed(&ctx, error),
        },
        api => match strata_wire::legacy::decode_request(api, ctx.api_version, body) {
            Ok(request) => {
                let broker = Arc::clone(broker);
                Pending::later(async move { route(&broker, &ctx, request).await })
            }
            Err(error) => malformed(&ctx, error),
        },
    }
}

async fn route(broker: &Arc<Broker>, ctx: &RequestContext, request: RequestKind) -> Outcome {
    match request {
        RequestKind::ApiVersions(req) => {
            handlers::api_versions::handle(ctx, req, broker.config.settings.legacy_protocol_enable)
        }
        RequestKind::Metadata(req) => handlers::metadata::handle(broker, ctx, req).await,
        RequestKind::CreateTopics(req) => handlers::create_topics::handle(broker, ctx, req).await,
        RequestKind::DeleteTopics(req) => handlers::delete_topics::handle(broker, ctx, req).await,
        RequestKind::CreatePartitions(req) => handlers::create_partitions::handle(broker, ctx, req).await,
        RequestKind::DescribeConfigs(req) => handlers::describe_configs::handle(broker, ctx, req).await,
        RequestKind::AlterConfigs(req) => handlers::alter_configs::handle(broker, ctx, req).await,
        RequestKind::IncrementalAlterConfigs(req) => {
            handlers::incremental_alter_configs::handle(broker, ctx, req).await
        }
        RequestKind::DescribeCluster(req) => handlers::describe_cluster::handle(broker, ctx, req).await,
        RequestKind::Fetch(req) => handlers::fetch::handle(broker, ctx, req).await,
        RequestKind::ListOffsets(req) => handlers::list_offsets::handle(broker, ctx, req).await,
        RequestKind::DeleteRecords(req) => handlers::delete_records::handle(broker, ctx, req).await,
        RequestKind::InitProducerId(req) => handlers::init_producer_id::handle(broker, ctx, req).await,
        RequestKind::FindCoordinator(req) => handlers::find_coordinator::handle(broker, ctx, req).await,
        RequestKind::JoinGroup(req) => handlers::join_group::handle(broker, ctx, req).await,
        RequestKind::SyncGroup(req) => handlers::sync_group::handle(broker, ctx, req).await,
        RequestKind::Heartbeat(req) => handlers::heartbeat::handle(broker, ctx, req).await,
        RequestKind::LeaveGroup(req) => handlers::leave_group::handle(broker, ctx, req).await,
        RequestKind::OffsetCommit(req) => handlers::offset_commit::handle(broker, ctx, req).await,
        RequestKind::OffsetFetch(req) => handlers::offset_fetch::handle(broker, ctx, req).await,
        RequestKind::DescribeGroups(req) => handlers::describe_groups::handle(broker, ctx, req).await,
        RequestKind::ListGroups(req) => handlers::list_groups::handle(broker, ctx, req).await,
        RequestKind::DeleteGroups(req) => handlers::delete_groups::handle(broker, ctx, req).await,
        RequestKind::OffsetDelete(req) => handlers::offset_delete::handle(broker, ctx, req).await,
        other => {
            // Unreachable while APIS and this match agree; a test checks that they do.
            tracing::error!(api = ?ctx.api_key, "no handler for a request in the API table");
            Outcome::Close(format!("no handler for {:?}", std::mem::discriminant(&other)))
        }
    }
}
