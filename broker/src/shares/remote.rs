//! A partition leader's side of the share coordinator, in a cluster (Kafka's `Persister`): the
//! state of a share-partition this broker leads is read from, and written to, the broker that
//! leads the key's `__share_group_state` partition: directly when that is this broker,
//! otherwise over ReadShareGroupState and WriteShareGroupState (v0). Each call names the leader
//! epoch this broker leads the partition in, which fences a deposed leader's writes. The topic
//! is created by the first share-partition that needs it.

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ReadShareGroupStateRequest, WriteShareGroupStateRequest, read_share_group_state_request,
    write_share_group_state_request,
};
use strata_shares::{PartitionSnapshot, SnapshotRecord, StateBatch, StateKey};

use super::state_log::{SHARE_STATE_TOPIC, StateLog};
use crate::errors::ErrorCode;
use crate::groups::convert::wire;
use crate::state::Broker;

/// How long a remote share coordinator may take to answer.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// Where `key`'s state is kept: `None` when this broker coordinates it.
fn coordinator(broker: &Broker, key: &StateKey) -> Result<Option<crate::state::BrokerEndpoint>, ResponseError> {
    let Some(topic) = broker.topics.get(SHARE_STATE_TOPIC) else {
        if let Err(error) = StateLog::create_replicated(broker) {
            tracing::debug!(%error, "{SHARE_STATE_TOPIC} is not created yet");
        }
        return Err(ResponseError::CoordinatorNotAvailable);
    };
    let partition = key.state_partition(topic.partition_count());
    let leader = topic.leadership(partition).map(|l| l.leader).ok_or(ResponseError::CoordinatorNotAvailable)?;
    if leader == broker.node_id() {
        return Ok(None);
    }
    broker.broker_endpoint(leader).map(Some).ok_or(ResponseError::CoordinatorNotAvailable)
}

/// `key`'s state for this broker leading its partition in `leader_epoch`: `None` when it has
/// none yet.
pub async fn read(broker: &Broker, key: StateKey, leader_epoch: i32) -> Result<Option<SnapshotRecord>, ResponseError> {
    let Some(peer) = coordinator(broker, &key)? else {
        return broker.shares.coordinator.read(broker, key, leader_epoch).await.map_err(|e| e.kafka_error());
    };
    let partition = read_share_group_state_request::PartitionData::default()
        .with_partition(key.partition)
        .with_leader_epoch(leader_epoch);
    let topic = read_share_group_state_request::ReadStateData::default()
        .with_topic_id(key.topic_id)
        .with_partitions(vec![partition]);
    let request = ReadShareGroupStateRequest::default().with_group_id(wire(&key.group_id)).with_topics(vec![topic]);
    let response = broker.peers.call(&peer, 0, &request, PEER_TIMEOUT).await.map_err(|error| {
        tracing::info!(coordinator = peer.id, %error, "cannot reach the share coordinator");
        ResponseError::CoordinatorNotAvailable
    })?;
    let result =
        response.results.into_iter().flat_map(|t| t.partitions).next().ok_or(ResponseError::UnknownServerError)?;
    if result.error_code != 0 {
        return Err(ResponseError::try_from_code(result.error_code).unwrap_or(ResponseError::UnknownServerError));
    }
    if result.start_offset < 0 {
        return Ok(None);
    }
    let batches = result
        .state_batches
        .iter()
        .map(|b| StateBatch::new((b.first_offset, b.last_offset), b.delivery_state, b.delivery_count))
        .collect();
    Ok(Some(SnapshotRecord {
        snapshot_epoch: 0,
        state_epoch: result.state_epoch,
        leader_epoch,
        create_timestamp: 0,
        write_timestamp: 0,
        state: PartitionSnapshot { start_offset: result.start_offset, batches },
    }))
}

/// Writes `key`'s `state` as this broker leading its partition in `leader_epoch`; done once
/// the coordinator's in-sync replicas hold it.
pub async fn write(
    broker: &Broker,
    key: StateKey,
    state: PartitionSnapshot,
    (state_epoch, leader_epoch): (i32, i32),
) -> Result<(), ResponseError> {
    let Some(peer) = coordinator(broker, &key)? else {
        let written = broker.shares.coordinator.write(broker, key, state, (state_epoch, leader_epoch)).await;
        return written.map_err(|e| e.kafka_error());
    };
    let batches = state
        .batches
        .iter()
        .map(|b| {
            write_share_group_state_request::StateBatch::default()
                .with_first_offset(b.first_offset)
                .with_last_offset(b.last_offset)
                .with_delivery_state(b.delivery_state)
                .with_delivery_count(b.delivery_count)
        })
        .collect();
    let partition = write_share_group_state_request::PartitionData::default()
        .with_partition(key.partition)
        .with_state_epoch(state_epoch)
        .with_leader_epoch(leader_epoch)
        .with_start_offset(state.start_offset)
        .with_state_batches(batches);
    let topic = write_share_group_state_request::WriteStateData::default()
        .with_topic_id(key.topic_id)
        .with_partitions(vec![partition]);
    let request = WriteShareGroupStateRequest::default().with_group_id(wire(&key.group_id)).with_topics(vec![topic]);
    let response = broker.peers.call(&peer, 0, &request, PEER_TIMEOUT).await.map_err(|error| {
        tracing::info!(coordinator = peer.id, %error, "cannot reach the share coordinator");
        ResponseError::CoordinatorNotAvailable
    })?;
    match response.results.iter().flat_map(|t| &t.partitions).map(|p| p.error_code).find(|&c| c != 0) {
        None => Ok(()),
        Some(code) => Err(ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError)),
    }
}

/// Reads the state of each share-partition of `session` this broker leads and does not have in
/// its leader epoch yet. One that cannot be read now is skipped (the next fetch tries again).
pub async fn load(broker: &Broker, group_id: &str, session: &[super::PartitionKey]) {
    if broker.cluster.is_none() {
        return;
    }
    for &(topic_id, partition) in session {
        let Some(topic) = broker.topics.by_id(topic_id) else { continue };
        let Some((leader, epoch)) = topic.leadership(partition).map(|l| (l.leader, l.leader_epoch)) else { continue };
        if leader != broker.node_id() || broker.shares.is_loaded(group_id, (topic_id, partition), epoch) {
            continue;
        }
        let key = StateKey { group_id: group_id.to_string(), topic_id, partition };
        match read(broker, key, epoch).await {
            Ok(state) => broker.shares.load(group_id, (topic_id, partition), epoch, state),
            Err(error) => {
                tracing::debug!(group_id, partition, ?error, "cannot read a share-partition's state yet");
            }
        }
    }
}
