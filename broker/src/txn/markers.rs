//! Transaction markers: the one place a commit or abort marker (a control batch) is written to a
//! partition, [`write_marker`], used by the coordinator after EndTxn, a timeout abort or a
//! fencing InitProducerId ([`spawn`]), and by WriteTxnMarkers (the inter-broker API).
//!
//! The coordinator's markers are written after the reply (replies before markers), each
//! partition retried until written (as Kafka's marker channel retries) unless its topic is gone,
//! and then the coordinator is told ([`super::Transactions::markers_written`]), which completes
//! the transaction. A marker for a `__consumer_offsets` partition also completes the group
//! coordinator's pending transactional offset commits.

use std::sync::Arc;
use std::time::Duration;

use strata_groups::TopicPartition;
use strata_log::{AppendError, AppendOrigin, LogError};
use strata_txn::WriteMarkers;
use strata_wire::control::{Marker, marker_batch};

use crate::groups::OFFSETS_TOPIC;
use crate::state::{Broker, now_ms};

/// Wait before writing a marker again after a storage error.
const RETRY_MS: u64 = 1000;

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

/// Writes `marker` to `tp` and waits until it is in the log. The one marker-writing function.
pub async fn write_marker(broker: &Broker, tp: &TopicPartition, marker: &Marker) -> Result<(), MarkerError> {
    let topic = broker.topics.get(&tp.topic).ok_or_else(|| MarkerError::UnknownPartition(tp.clone()))?;
    let (partition, leadership) = topic
        .partition(tp.partition)
        .zip(topic.leadership(tp.partition))
        .ok_or_else(|| MarkerError::UnknownPartition(tp.clone()))?;
    if !leadership.is_led_by(broker.node_id()) {
        return Err(MarkerError::NotLeader(tp.clone()));
    }
    let now = now_ms();
    let batch = marker_batch(marker, now);
    let pending = crate::blocking::append(AppendOrigin::Coordinator, partition, batch, leadership.leader_epoch, now)?;
    pending.wait().await?;
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

/// Writes `markers` to every partition of the transaction, retrying storage errors. `false` if
/// the broker is stopping (the markers are written again after the restart's replay).
async fn write_all(broker: &Broker, markers: &WriteMarkers) -> bool {
    let marker = Marker {
        producer_id: markers.producer_id,
        producer_epoch: markers.producer_epoch,
        coordinator_epoch: broker.txns.coordinator_epoch(&markers.transactional_id),
        commit: markers.commit,
    };
    for tp in &markers.partitions {
        loop {
            match write_marker(broker, tp, &marker).await {
                Ok(()) => break,
                Err(MarkerError::UnknownPartition(_)) => {
                    // Kafka drops the markers of a partition whose topic was deleted.
                    tracing::info!(topic = %tp.topic, partition = tp.partition, "marker for a partition that is gone; skipped");
                    break;
                }
                Err(
                    MarkerError::Write(LogError::Closed) | MarkerError::Append(AppendError::Storage(LogError::Closed)),
                ) => {
                    return false;
                }
                Err(error) => {
                    tracing::warn!(transactional_id = %markers.transactional_id, topic = %tp.topic, partition = tp.partition, %error, "marker not written; retrying");
                    tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
                }
            }
        }
    }
    true
}
