//! Transaction markers: the one place a commit or abort marker (a control batch) is written to a
//! partition, [`write_marker`], used by the coordinator after EndTxn, a timeout abort or a
//! fencing InitProducerId ([`spawn`]), and by WriteTxnMarkers (the inter-broker API).
//!
//! The coordinator's markers are written after the reply (replies before markers). Each goes
//! to its partition's leader, as Kafka's marker channel sends them: written here when this broker
//! leads the partition, otherwise sent to the leader in one WriteTxnMarkers request per broker.
//! A partition is retried until its marker is written, unless its topic is gone or this broker
//! stopped coordinating the transaction (its successor writes the markers again). Then the
//! coordinator is told ([`super::Transactions::markers_written`]), which completes the
//! transaction. In a cluster a marker counts as written once the partition's in-sync replicas
//! hold it (Kafka appends markers with acks=all), so a leader's failover cannot lose it. A marker
//! for a `__consumer_offsets` partition also completes the group coordinator's pending
//! transactional offset commits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest};
use strata_groups::TopicPartition;
use strata_log::{AppendError, AppendOrigin, LogError};
use strata_txn::WriteMarkers;
use strata_wire::control::{Marker, marker_batch};

use crate::groups::convert::wire;
use crate::groups::{CoordinatorAppend, OFFSETS_TOPIC, StoreError};
use crate::state::{Broker, BrokerEndpoint, now_ms};

/// Wait before writing the markers not yet written again.
const RETRY_MS: u64 = 250;
/// The WriteTxnMarkers version sent to other brokers (Kafka 4's only one).
const WRITE_TXN_MARKERS_VERSION: i16 = 1;
/// How long another broker may take to answer WriteTxnMarkers (Kafka's `request.timeout.ms`).
const PEER_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a marker was not written.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    #[error("no partition {0:?} here")]
    UnknownPartition(TopicPartition),
    /// Another broker leads it (a cluster): writing to this replica would fork its log.
    #[error("this broker does not lead {0:?}; markers for other brokers' partitions are not built")]
    NotLeader(TopicPartition),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Write(#[from] LogError),
}

/// Where the marker of a partition goes.
enum Destination {
    /// This broker leads the partition.
    Here,
    /// Another broker does.
    Peer(BrokerEndpoint),
    /// The partition has no live leader now.
    NoLeader,
    /// Its topic was deleted.
    Gone,
}

/// Writes `marker` to `tp`, which this broker leads, and waits until it is in the log and, in a
/// cluster, held by the partition's in-sync replicas. The one marker-writing function.
pub async fn write_marker(broker: &Broker, tp: &TopicPartition, marker: &Marker) -> Result<(), MarkerError> {
    let topic = broker.topics.get(&tp.topic).ok_or_else(|| MarkerError::UnknownPartition(tp.clone()))?;
    let (partition, leadership) = topic
        .partition(tp.partition)
        .zip(topic.leadership(tp.partition))
        .ok_or_else(|| MarkerError::UnknownPartition(tp.clone()))?;
    if !leadership.is_led_by(broker.node_id()) {
        return Err(MarkerError::NotLeader(tp.clone()));
    }
    let leader = match broker.cluster {
        None => None,
        Some(_) => Some(
            broker
                .replication
                .leading(topic.id, tp.partition)
                .filter(|state| state.leader_epoch == leadership.leader_epoch)
                .ok_or_else(|| MarkerError::NotLeader(tp.clone()))?,
        ),
    };
    let now = now_ms();
    let batch = marker_batch(marker, now);
    let append = crate::blocking::append(AppendOrigin::Coordinator, partition, batch, leadership.leader_epoch, now)?;
    CoordinatorAppend::new(append, leader).wait().await.map_err(|error| match error {
        StoreError::Write(error) => MarkerError::Write(error),
        _ => MarkerError::NotLeader(tp.clone()),
    })?;
    if tp.topic == OFFSETS_TOPIC {
        crate::groups::transaction_completed(broker, tp.partition, marker.producer_id, marker.commit).await;
    }
    Ok(())
}

/// Writes each transaction's markers in its own task, then completes the transaction.
pub fn spawn(broker: &Arc<Broker>, markers: Vec<WriteMarkers>) {
    for markers in markers {
        let broker = Arc::clone(broker);
        tokio::spawn(async move {
            if write_all(&broker, &markers).await {
                let again = broker.txns.markers_written(&markers).await;
                spawn(&broker, again);
            }
        });
    }
}

/// Writes `markers` to every partition of the transaction, at its leader, retrying what failed.
/// `false` if the markers are no longer this broker's to write: it is stopping (they are written
/// again after the restart's replay) or no longer coordinates the transaction (its new
/// coordinator writes them).
async fn write_all(broker: &Broker, markers: &WriteMarkers) -> bool {
    let Some(coordinator_epoch) = broker.txns.loaded_epoch(&markers.transactional_id) else { return false };
    let marker = Marker {
        producer_id: markers.producer_id,
        producer_epoch: markers.producer_epoch,
        coordinator_epoch,
        commit: markers.commit,
    };
    let mut pending = markers.partitions.clone();
    loop {
        let mut failed = Vec::new();
        let mut remote: BTreeMap<i32, (BrokerEndpoint, Vec<TopicPartition>)> = BTreeMap::new();
        for tp in pending {
            match destination(broker, &tp) {
                Destination::Here => match write_marker(broker, &tp, &marker).await {
                    Ok(()) => {}
                    Err(MarkerError::UnknownPartition(_)) => gone(&tp),
                    Err(
                        MarkerError::Write(LogError::Closed)
                        | MarkerError::Append(AppendError::Storage(LogError::Closed)),
                    ) => return false,
                    Err(error) => {
                        tracing::warn!(transactional_id = %markers.transactional_id, topic = %tp.topic, partition = tp.partition, %error, "marker not written; retrying");
                        failed.push(tp);
                    }
                },
                Destination::Peer(leader) => remote.entry(leader.id).or_insert_with(|| (leader, Vec::new())).1.push(tp),
                Destination::NoLeader => failed.push(tp),
                Destination::Gone => gone(&tp),
            }
        }
        for (leader, partitions) in remote.into_values() {
            failed.extend(send(broker, &leader, &marker, partitions, &markers.transactional_id).await);
        }
        if failed.is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
        if broker.txns.loaded_epoch(&markers.transactional_id) != Some(coordinator_epoch) {
            tracing::info!(transactional_id = %markers.transactional_id, "no longer coordinating the transaction; its new coordinator writes its markers");
            return false;
        }
        pending = failed;
    }
}

/// Kafka drops the markers of a partition whose topic was deleted.
fn gone(tp: &TopicPartition) {
    tracing::info!(topic = %tp.topic, partition = tp.partition, "marker for a partition that is gone; skipped");
}

fn destination(broker: &Broker, tp: &TopicPartition) -> Destination {
    let Some(topic) = broker.topics.get(&tp.topic) else { return Destination::Gone };
    let Some(leadership) = topic.leadership(tp.partition) else { return Destination::Gone };
    if leadership.is_led_by(broker.node_id()) {
        return Destination::Here;
    }
    match broker.broker_endpoint(leadership.leader) {
        Some(leader) => Destination::Peer(leader),
        None => Destination::NoLeader,
    }
}

/// Sends `marker` for `partitions` to their leader; returns those it did not write.
async fn send(
    broker: &Broker,
    leader: &BrokerEndpoint,
    marker: &Marker,
    partitions: Vec<TopicPartition>,
    transactional_id: &str,
) -> Vec<TopicPartition> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in &partitions {
        topics.entry(tp.topic.as_str()).or_default().push(tp.partition);
    }
    let topics = topics
        .into_iter()
        .map(|(name, indexes)| {
            WritableTxnMarkerTopic::default()
                .with_name(TopicName(wire(name.to_owned())))
                .with_partition_indexes(indexes)
        })
        .collect();
    let request = WriteTxnMarkersRequest::default().with_markers(vec![
        WritableTxnMarker::default()
            .with_producer_id(ProducerId(marker.producer_id))
            .with_producer_epoch(marker.producer_epoch)
            .with_transaction_result(marker.commit)
            .with_topics(topics)
            .with_coordinator_epoch(marker.coordinator_epoch),
    ]);
    let response = match broker.peers.call(leader, WRITE_TXN_MARKERS_VERSION, &request, PEER_TIMEOUT).await {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(transactional_id, leader = leader.id, %error, "markers not sent; retrying");
            return partitions;
        }
    };
    let mut written = Vec::new();
    for result in response.markers.iter().filter(|m| m.producer_id.0 == marker.producer_id) {
        for topic in &result.topics {
            for p in &topic.partitions {
                let tp = TopicPartition { topic: topic.name.0.to_string(), partition: p.partition_index };
                if p.error_code == 0 {
                    written.push(tp);
                } else {
                    tracing::info!(transactional_id, leader = leader.id, topic = %tp.topic, partition = tp.partition, code = p.error_code, "marker not written by the leader; retrying");
                }
            }
        }
    }
    partitions.into_iter().filter(|tp| !written.contains(tp)).collect()
}
