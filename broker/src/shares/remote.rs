//! A partition leader's side of the share coordinator, in a cluster (Kafka's `Persister`): the
//! state of a share-partition this broker leads is read from, and written to, the broker that
//! leads the key's `__share_group_state` partition: directly when that is this broker,
//! otherwise over ReadShareGroupState and WriteShareGroupState (v0). Each call names the leader
//! epoch this broker leads the partition in, which fences a deposed leader's writes, and the
//! state epoch it read, which fences its writes once the state was started afresh. The topic is
//! created by the first share-partition that needs it. A group coordinator's calls
//! (ReadShareGroupStateSummary, InitializeShareGroupState, DeleteShareGroupState) serve the share
//! group offset APIs in a cluster.

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ReadShareGroupStateRequest, WriteShareGroupStateRequest, read_share_group_state_request,
    write_share_group_state_request,
};
use kafka_protocol::protocol::Request;
use strata_shares::{PartitionSnapshot, SnapshotRecord, StateBatch, StateKey};

use super::state_log::{SHARE_STATE_TOPIC, StateLog};
use crate::errors::ErrorCode;
use crate::groups::convert::wire;
use crate::state::{Broker, BrokerEndpoint};

/// How long a remote share coordinator may take to answer.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// Where `key`'s state is kept: `None` when this broker coordinates it. The topic is created
/// if it does not exist yet (COORDINATOR_NOT_AVAILABLE meanwhile).
fn coordinator(broker: &Broker, key: &StateKey) -> Result<Option<BrokerEndpoint>, ResponseError> {
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
    let response = ask(broker, &peer, &request).await?;
    let result =
        response.results.into_iter().flat_map(|t| t.partitions).next().ok_or(ResponseError::UnknownServerError)?;
    first_error([result.error_code])?;
    if result.start_offset < 0 {
        return Ok(None);
    }
    let batches = result
        .state_batches
        .iter()
        .map(|b| StateBatch::new((b.first_offset, b.last_offset), b.delivery_state, b.delivery_count))
        .collect();
    // The snapshot's numbering and timestamps are the coordinator's own; a leader uses none.
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
    let response = ask(broker, &peer, &request).await?;
    first_error(response.results.iter().flat_map(|t| &t.partitions).map(|p| p.error_code))
}

/// Reads the state of each share-partition of `session` this broker leads and does not have in
/// its leader epoch yet; `again` (a session opening) reads those it has too, and takes the state
/// if it was started afresh or deleted meanwhile (the share group offset APIs, which require a
/// group without members). One that cannot be read now is skipped (the next fetch tries again).
pub async fn load(broker: &Broker, group_id: &str, session: &[super::PartitionKey], again: bool) {
    if broker.cluster.is_none() {
        return;
    }
    // No write of this broker's is under way meanwhile, so what is read is not older than it.
    let _in_order = if again { Some(broker.shares.remote_order().await) } else { None };
    for &(topic_id, partition) in session {
        let Some(topic) = broker.topics.by_id(topic_id) else { continue };
        let Some((leader, epoch)) = topic.leadership(partition).map(|l| (l.leader, l.leader_epoch)) else { continue };
        if leader != broker.node_id() || (!again && broker.shares.is_loaded(group_id, (topic_id, partition), epoch)) {
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

/// The first error code of a broker's per-partition answers, as an error.
fn first_error(codes: impl IntoIterator<Item = i16>) -> Result<(), ResponseError> {
    match codes.into_iter().find(|&c| c != 0) {
        None => Ok(()),
        Some(code) => Err(ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError)),
    }
}

/// Sends `request` (v0, as every share coordinator API) to the share coordinator `peer`; one that
/// cannot be reached is COORDINATOR_NOT_AVAILABLE.
async fn ask<R: Request>(broker: &Broker, peer: &BrokerEndpoint, request: &R) -> Result<R::Response, ResponseError> {
    broker.peers.call(peer, 0, request, PEER_TIMEOUT).await.map_err(|error| {
        tracing::info!(coordinator = peer.id, %error, "cannot reach the share coordinator");
        ResponseError::CoordinatorNotAvailable
    })
}

/// `key`'s state epoch and start offset as its share coordinator has them, for the group
/// coordinator (`None`: no state; also when the topic does not exist yet).
pub async fn summary(broker: &Broker, key: StateKey) -> Result<Option<(i32, i64)>, ResponseError> {
    use kafka_protocol::messages::read_share_group_state_summary_request::{PartitionData, ReadStateSummaryData};
    if broker.topics.get(SHARE_STATE_TOPIC).is_none() {
        return Ok(None);
    }
    let Some(peer) = coordinator(broker, &key)? else {
        let record = broker.shares.coordinator.summary(broker, &key).map_err(|e| e.kafka_error())?;
        return Ok(record.map(|r| (r.state_epoch, r.state.start_offset)));
    };
    let partition = PartitionData::default().with_partition(key.partition).with_leader_epoch(-1);
    let topic = ReadStateSummaryData::default().with_topic_id(key.topic_id).with_partitions(vec![partition]);
    let request = kafka_protocol::messages::ReadShareGroupStateSummaryRequest::default()
        .with_group_id(wire(&key.group_id))
        .with_topics(vec![topic]);
    let response = ask(broker, &peer, &request).await?;
    let result =
        response.results.into_iter().flat_map(|t| t.partitions).next().ok_or(ResponseError::UnknownServerError)?;
    first_error([result.error_code])?;
    Ok((result.start_offset >= 0).then_some((result.state_epoch, result.start_offset)))
}

/// Starts `key`'s state afresh at `start_offset` (AlterShareGroupOffsets).
pub async fn initialize(broker: &Broker, key: StateKey, start_offset: i64) -> Result<(), ResponseError> {
    use kafka_protocol::messages::initialize_share_group_state_request::{InitializeStateData, PartitionData};
    let Some(peer) = coordinator(broker, &key)? else {
        return broker.shares.coordinator.initialize(broker, key, start_offset).await.map_err(|e| e.kafka_error());
    };
    let partition = PartitionData::default().with_partition(key.partition).with_start_offset(start_offset);
    let topic = InitializeStateData::default().with_topic_id(key.topic_id).with_partitions(vec![partition]);
    let request = kafka_protocol::messages::InitializeShareGroupStateRequest::default()
        .with_group_id(wire(&key.group_id))
        .with_topics(vec![topic]);
    let response = ask(broker, &peer, &request).await?;
    first_error(response.results.iter().flat_map(|t| &t.partitions).map(|p| p.error_code))
}

/// Deletes `key`'s state (DeleteShareGroupOffsets, DeleteGroups).
pub async fn delete(broker: &Broker, key: StateKey) -> Result<(), ResponseError> {
    use kafka_protocol::messages::delete_share_group_state_request::{DeleteStateData, PartitionData};
    if broker.topics.get(SHARE_STATE_TOPIC).is_none() {
        return Ok(());
    }
    let Some(peer) = coordinator(broker, &key)? else {
        return broker.shares.coordinator.delete(broker, key).await.map_err(|e| e.kafka_error());
    };
    let partition = PartitionData::default().with_partition(key.partition);
    let topic = DeleteStateData::default().with_topic_id(key.topic_id).with_partitions(vec![partition]);
    let request = kafka_protocol::messages::DeleteShareGroupStateRequest::default()
        .with_group_id(wire(&key.group_id))
        .with_topics(vec![topic]);
    let response = ask(broker, &peer, &request).await?;
    first_error(response.results.iter().flat_map(|t| &t.partitions).map(|p| p.error_code))
}
