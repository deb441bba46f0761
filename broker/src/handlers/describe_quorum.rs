//! DescribeQuorum (`kafka-metadata-quorum.sh describe --status`, Admin `describeMetadataQuorum`):
//! the metadata quorum's leader, its epoch and high watermark, and each voter's and observer's
//! (broker-only node's) log end offset as the leader knows it (asked of the leader when this broker does not lead, as Kafka's brokers
//! forward it to the active controller). Only `__cluster_metadata` partition 0 exists; any other
//! topic or partition is answered UNKNOWN_TOPIC_OR_PARTITION for the whole request, as Kafka's
//! raft client answers it. Fetch timestamps are not tracked (-1, Kafka's "unknown"). A single
//! node is its own quorum of one with no Raft log: itself as leader and voter, offsets -1.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{Listener, Node, PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use strata_quorum::QuorumDescription;

use crate::api::ApiSpec;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of DescribeQuorum, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::DescribeQuorum, 0, 2);

/// The metadata log's topic, as Kafka names it.
const METADATA_TOPIC: &str = "__cluster_metadata";
/// Kafka's "not known" for offsets and timestamps.
const UNKNOWN: i64 = -1;

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeQuorumRequest) -> Outcome {
    let asks_for_the_log = matches!(req.topics.as_slice(), [topic]
        if topic.topic_name.0.as_str() == METADATA_TOPIC
            && matches!(topic.partitions.as_slice(), [partition] if partition.partition_index == 0));
    if !asks_for_the_log {
        let response = DescribeQuorumResponse::default().with_error_code(ResponseError::UnknownTopicOrPartition.code());
        return ctx.respond(ResponseKind::DescribeQuorum(response));
    }
    let description = match &broker.cluster {
        Some(membership) => membership.quorum.describe().await,
        None => Ok(single_node(broker)),
    };
    let partition = match description {
        Ok(quorum) => described(&quorum),
        Err(error) => {
            tracing::debug!(%error, "DescribeQuorum: no leader answered");
            PartitionData::default()
                .with_error_code(ResponseError::NotLeaderOrFollower.code())
                .with_leader_id(BrokerId(-1))
                .with_leader_epoch(-1)
                .with_high_watermark(UNKNOWN)
        }
    };
    let topic = TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
        .with_partitions(vec![partition]);
    let nodes = match &broker.config.cluster {
        Some(cluster) => cluster
            .voters
            .iter()
            .map(|v| {
                let listener = Listener::default()
                    .with_name(StrBytes::from_static_str("CONTROLLER"))
                    .with_host(StrBytes::from_string(v.host.clone()))
                    .with_port(v.port);
                Node::default().with_node_id(BrokerId(v.id)).with_listeners(vec![listener])
            })
            .collect(),
        None => Vec::new(),
    };
    ctx.respond(ResponseKind::DescribeQuorum(
        DescribeQuorumResponse::default().with_topics(vec![topic]).with_nodes(nodes),
    ))
}

fn single_node(broker: &Broker) -> QuorumDescription {
    let node = u64::try_from(broker.node_id()).unwrap_or_default();
    QuorumDescription {
        leader: node,
        term: 0,
        high_watermark: UNKNOWN,
        voters: vec![strata_quorum::VoterProgress { id: node, log_end_offset: UNKNOWN }],
        observers: Vec::new(),
    }
}

fn described(quorum: &QuorumDescription) -> PartitionData {
    let id = |node: u64| BrokerId(i32::try_from(node).unwrap_or(-1));
    let states = |replicas: &[strata_quorum::VoterProgress]| {
        replicas
            .iter()
            .map(|v| {
                ReplicaState::default()
                    .with_replica_id(id(v.id))
                    .with_log_end_offset(v.log_end_offset)
                    .with_last_fetch_timestamp(UNKNOWN)
                    .with_last_caught_up_timestamp(UNKNOWN)
            })
            .collect()
    };
    PartitionData::default()
        .with_leader_id(id(quorum.leader))
        .with_leader_epoch(i32::try_from(quorum.term).unwrap_or(i32::MAX))
        .with_high_watermark(quorum.high_watermark)
        .with_current_voters(states(&quorum.voters))
        .with_observers(states(&quorum.observers))
}
