//! The API table and the one place a request is routed to its handler. Each handler declares its
//! key and versions once (its `API` constant, an [`ApiSpec`]); [`ROUTES`] pairs every such
//! declaration with the code that decodes the request and starts that handler, so an API is
//! advertised (ApiVersions is built from this table), version-checked and routed by the same entry
//! and cannot be one without the others. Each entry is checked against its request type when the
//! broker compiles: the key is the type's key, every version served is one the `kafka-protocol`
//! crate decodes or one `strata_wire::legacy` decodes. With `strata.legacy.protocol.enable` the
//! entries' `legacy_min` versions (those Kafka 3.9 still served and Kafka 4 removed) are
//! advertised and served as well; without it the broker accepts exactly Kafka 4.1's ranges.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AlterPartitionReassignmentsRequest, DescribeLogDirsRequest,
    DescribeProducersRequest, DescribeQuorumRequest, DescribeTransactionsRequest, ElectLeadersRequest, EndTxnRequest,
    ListPartitionReassignmentsRequest, ListTransactionsRequest, ShareAcknowledgeRequest, ShareFetchRequest,
    ShareGroupDescribeRequest, ShareGroupHeartbeatRequest, WriteTxnMarkersRequest,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, ApiKey, ApiVersionsRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteGroupsRequest,
    DeleteRecordsRequest, DeleteTopicsRequest, DescribeClusterRequest, DescribeConfigsRequest, DescribeGroupsRequest,
    FetchRequest, FindCoordinatorRequest, HeartbeatRequest, IncrementalAlterConfigsRequest, InitProducerIdRequest,
    JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest,
    OffsetDeleteRequest, OffsetFetchRequest, OffsetForLeaderEpochRequest, ProduceRequest, SyncGroupRequest,
    TxnOffsetCommitRequest,
};
use kafka_protocol::messages::{
    AlterShareGroupOffsetsRequest, DeleteShareGroupOffsetsRequest, DeleteShareGroupStateRequest,
    DescribeShareGroupOffsetsRequest, InitializeShareGroupStateRequest, ReadShareGroupStateRequest,
    ReadShareGroupStateSummaryRequest, WriteShareGroupStateRequest,
};
use kafka_protocol::protocol::{Message, Request};
use strata_wire::header::{DecodedBody, RequestFrame, decode_message};
use strata_wire::legacy::{self, LegacyError};

use crate::api::ApiSpec;
use crate::handlers;
use crate::reply::{Outcome, Pending, RequestContext};
use crate::state::Broker;

/// Decodes a request's body and starts its handler. It runs on the connection's reader, in
/// request order (see [`begin`]).
type Start = fn(&Arc<Broker>, RequestContext, Bytes) -> Pending;

/// One row of the API table: what the broker serves of an API, and how a request of it starts.
#[derive(Clone, Copy)]
pub struct Route {
    pub spec: ApiSpec,
    start: Start,
}

/// Decodes the versions of `R` that `strata_wire::legacy` knows (those older than the crate's).
type LegacyDecode<R> = fn(i16, Bytes) -> Result<R, LegacyError>;

/// Whether `spec` may be routed to a handler of request type `R`: the key is `R`'s, and every
/// version accepted is decoded by the `kafka-protocol` crate, or (with `legacy_codec`, a decoder
/// in `strata_wire::legacy`) exactly the versions older than the crate's oldest are decoded there.
const fn routable<R: Request>(spec: ApiSpec, legacy_codec: bool) -> bool {
    let key = spec.key as i16 == R::KEY;
    let current = spec.min >= R::VERSIONS.min && spec.max <= R::VERSIONS.max;
    let legacy = if legacy_codec {
        spec.min == R::VERSIONS.min && spec.legacy_min < spec.min
    } else {
        spec.legacy_min == spec.min
    };
    key && current && legacy
}

/// A row of [`ROUTES`] for the handler module `$module`, whose
/// `async fn handle(&Arc<Broker>, &RequestContext, $request) -> Outcome` answers every version of
/// its `API`; with `legacy`, the versions older than the crate's are decoded by the given
/// `strata_wire::legacy` decoder.
macro_rules! route {
    ($module:ident: $request:ty) => {
        route!(@row $module, $request, false, decode::<$request>)
    };
    ($module:ident: $request:ty, legacy $legacy:expr) => {
        route!(@row $module, $request, true, |ctx: &RequestContext, body| {
            decode_or_legacy::<$request>(ctx, body, $legacy)
        })
    };
    (@row $module:ident, $request:ty, $legacy_codec:expr, $decode:expr) => {{
        const _: () = assert!(routable::<$request>(handlers::$module::API, $legacy_codec), stringify!($module));
        Route {
            spec: handlers::$module::API,
            start: |broker, ctx, body| match ($decode)(&ctx, body) {
                Ok(request) => {
                    let broker = Arc::clone(broker);
                    Pending::later(async move { handlers::$module::handle(&broker, &ctx, request).await })
                }
                Err(refused) => refused,
            },
        }
    }};
}

// Produce starts on the reader (offsets are assigned in request order), so its row is written out.
// Its versions 0-2 are advertised with or without the legacy setting (Kafka 4 does, KAFKA-18659).
const _: () = assert!(
    handlers::produce::API.key as i16 == ProduceRequest::KEY
        && handlers::produce::API.legacy_min == handlers::produce::API.min
        && handlers::produce::API.max <= ProduceRequest::VERSIONS.max,
    "produce"
);

/// Every API served: the table ApiVersions advertises and requests are checked and routed by.
pub const ROUTES: &[Route] = &[
    route!(metadata: MetadataRequest),
    route!(api_versions: ApiVersionsRequest),
    route!(create_topics: CreateTopicsRequest, legacy legacy::create_topics::decode_request),
    route!(delete_topics: DeleteTopicsRequest, legacy |_, body| legacy::delete_topics::decode_request(body)),
    route!(create_partitions: CreatePartitionsRequest),
    route!(describe_configs: DescribeConfigsRequest, legacy |_, body| legacy::describe_configs::decode_request(body)),
    route!(alter_configs: AlterConfigsRequest),
    route!(incremental_alter_configs: IncrementalAlterConfigsRequest),
    route!(describe_cluster: DescribeClusterRequest),
    Route { spec: handlers::produce::API, start: start_produce },
    route!(fetch: FetchRequest, legacy legacy::fetch::decode_request),
    route!(list_offsets: ListOffsetsRequest, legacy |_, body| legacy::list_offsets::decode_request(body)),
    route!(delete_records: DeleteRecordsRequest),
    route!(offset_for_leader_epoch: OffsetForLeaderEpochRequest),
    route!(init_producer_id: InitProducerIdRequest),
    route!(find_coordinator: FindCoordinatorRequest),
    route!(join_group: JoinGroupRequest),
    route!(sync_group: SyncGroupRequest),
    route!(heartbeat: HeartbeatRequest),
    route!(leave_group: LeaveGroupRequest),
    route!(offset_commit: OffsetCommitRequest, legacy legacy::offset_commit::decode_request),
    route!(offset_fetch: OffsetFetchRequest, legacy |_, body| legacy::offset_fetch::decode_request(body)),
    route!(describe_groups: DescribeGroupsRequest),
    route!(list_groups: ListGroupsRequest),
    route!(delete_groups: DeleteGroupsRequest),
    route!(offset_delete: OffsetDeleteRequest),
    route!(add_partitions_to_txn: AddPartitionsToTxnRequest),
    route!(add_offsets_to_txn: AddOffsetsToTxnRequest),
    route!(end_txn: EndTxnRequest),
    route!(write_txn_markers: WriteTxnMarkersRequest),
    route!(describe_transactions: DescribeTransactionsRequest),
    route!(list_transactions: ListTransactionsRequest),
    route!(describe_producers: DescribeProducersRequest),
    route!(describe_log_dirs: DescribeLogDirsRequest),
    route!(describe_quorum: DescribeQuorumRequest),
    route!(elect_leaders: ElectLeadersRequest),
    route!(alter_partition_reassignments: AlterPartitionReassignmentsRequest),
    route!(list_partition_reassignments: ListPartitionReassignmentsRequest),
    route!(txn_offset_commit: TxnOffsetCommitRequest),
    route!(share_group_heartbeat: ShareGroupHeartbeatRequest),
    route!(share_group_describe: ShareGroupDescribeRequest),
    route!(share_fetch: ShareFetchRequest),
    route!(share_acknowledge: ShareAcknowledgeRequest),
    route!(describe_share_group_offsets: DescribeShareGroupOffsetsRequest),
    route!(alter_share_group_offsets: AlterShareGroupOffsetsRequest),
    route!(delete_share_group_offsets: DeleteShareGroupOffsetsRequest),
    route!(read_share_group_state: ReadShareGroupStateRequest),
    route!(write_share_group_state: WriteShareGroupStateRequest),
    route!(read_share_group_state_summary: ReadShareGroupStateSummaryRequest),
    route!(initialize_share_group_state: InitializeShareGroupStateRequest),
    route!(delete_share_group_state: DeleteShareGroupStateRequest),
];

/// What the broker serves of every API, in table order.
pub fn specs() -> impl Iterator<Item = &'static ApiSpec> {
    ROUTES.iter().map(|r| &r.spec)
}

/// The row of `key`, if the broker serves it at all.
fn route(key: ApiKey) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.spec.key == key)
}

/// What the broker serves of `key`, if anything.
pub fn spec(key: ApiKey) -> Option<&'static ApiSpec> {
    route(key).map(|r| &r.spec)
}

/// Checks a request's version against the table and starts its handler. This runs on the
/// connection's reader, in request order, so whatever a handler does before returning its future
/// (Produce assigns offsets there) happens in the order the client sent the requests; the rest
/// runs concurrently and is answered in order by the writer.
pub fn begin(broker: Arc<Broker>, frame: RequestFrame, peer: Option<std::net::SocketAddr>) -> Pending {
    let ctx = RequestContext {
        api_key: frame.api_key,
        api_version: frame.api_version(),
        correlation_id: frame.correlation_id(),
        client_id: frame.header.client_id.as_deref().unwrap_or_default().to_string(),
        peer,
    };
    let legacy = broker.config.settings.legacy_protocol_enable;
    match route(ctx.api_key).filter(|r| r.spec.accepts(ctx.api_version, legacy)) {
        Some(route) => (route.start)(&broker, ctx, frame.body),
        // KIP-511: a client newer than the broker gets a v0 answer listing what is supported.
        None if ctx.api_key == ApiKey::ApiVersions => {
            Pending::ready(handlers::api_versions::unsupported_version(&ctx, legacy))
        }
        None => {
            // Kafka cannot parse a request of a version it does not know, and closes the connection.
            tracing::info!(api = ?ctx.api_key, version = ctx.api_version, client = %ctx.client_id, "unsupported request version");
            Pending::ready(Outcome::Close(format!("unsupported {:?} version {}", ctx.api_key, ctx.api_version)))
        }
    }
}

/// Decodes a request of a version the `kafka-protocol` crate knows. A malformed body closes the
/// connection, as Kafka closes it; bytes after the body are ignored, as Kafka ignores them.
fn decode<R: Request>(ctx: &RequestContext, body: Bytes) -> Result<R, Pending> {
    match decode_message::<R>(ctx.api_key, ctx.api_version, body) {
        Ok(DecodedBody { request, trailing_bytes: 0 }) => Ok(request),
        Ok(DecodedBody { request, trailing_bytes }) => {
            tracing::debug!(api = ?ctx.api_key, version = ctx.api_version, client = %ctx.client_id, trailing_bytes, "ignoring bytes after the request body, as Kafka does");
            Ok(request)
        }
        Err(error) => {
            tracing::info!(%error, client = %ctx.client_id, "malformed request");
            Err(Pending::ready(Outcome::Close(error.to_string())))
        }
    }
}

/// Decodes a request whose older versions only `strata_wire::legacy` knows (the version check
/// admitted those only with `strata.legacy.protocol.enable` on). Their responses are encoded in the
/// old layout by [`RequestContext::respond`].
fn decode_or_legacy<R: Request>(ctx: &RequestContext, body: Bytes, legacy: LegacyDecode<R>) -> Result<R, Pending> {
    if ctx.api_version >= R::VERSIONS.min {
        return decode(ctx, body);
    }
    legacy(ctx.api_version, body).map_err(|error| malformed_legacy(ctx, error))
}

fn malformed_legacy(ctx: &RequestContext, error: LegacyError) -> Pending {
    tracing::info!(%error, api = ?ctx.api_key, version = ctx.api_version, client = %ctx.client_id, "malformed legacy request");
    Pending::ready(Outcome::Close(error.to_string()))
}

/// Produce: decoded and started at once (offsets are assigned now, in request order; only the wait
/// for the writes is deferred). Versions 0-2 are Kafka 4's removed ones: served through
/// `strata_wire::legacy::produce` with `strata.legacy.protocol.enable`, else the connection closes.
fn start_produce(broker: &Arc<Broker>, ctx: RequestContext, body: Bytes) -> Pending {
    if ctx.api_version >= ProduceRequest::VERSIONS.min {
        return match decode::<ProduceRequest>(&ctx, body) {
            Ok(request) => handlers::produce::start(broker, ctx, request),
            Err(refused) => refused,
        };
    }
    if !broker.config.settings.legacy_protocol_enable {
        return Pending::ready(handlers::produce::refuse_removed_version(&ctx));
    }
    match legacy::produce::decode_request(body) {
        Ok(request) => handlers::produce::start_legacy(broker, ctx, request),
        Err(error) => malformed_legacy(&ctx, error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_has_one_row() {
        let mut keys: Vec<i16> = specs().map(|s| s.key as i16).collect();
        let rows = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), rows, "an API key appears twice in ROUTES");
        assert!(route(ApiKey::ApiVersions).is_some() && route(ApiKey::EndTxn).is_some());
    }
}
