//! KIP-890 verification of a TxnOffsetCommit with the transaction coordinator, before the group
//! coordinator sees it, as Kafka 4.1.2's `CoordinatorRuntime.scheduleTransactionalWriteOperation`
//! does (through its `AddPartitionsToTxnManager`; `crate::txn::partition_check` asks the
//! coordinator, here or over AddPartitionsToTxn v5 at another broker):
//!
//! - v5 (transaction version 2 clients) *adds* the group's `__consumer_offsets` partition to the
//!   producer's transaction, as AddOffsetsToTxn would (KIP-890 part 2), so its commit marker
//!   reaches the group coordinator;
//! - v0-4 must have added it (AddOffsetsToTxn): otherwise TRANSACTION_ABORTABLE for v4,
//!   INVALID_TXN_STATE for older versions;
//! - nothing is asked when the partition's log already holds the producer's open transaction at
//!   its epoch, as Kafka's `ReplicaManager` skips it;
//! - an unknown producer is INVALID_PRODUCER_ID_MAPPING, a fenced one INVALID_PRODUCER_EPOCH;
//!   the coordinator loading or unavailable (and, before v5, CONCURRENT_TRANSACTIONS) answers
//!   COORDINATOR_NOT_AVAILABLE, which clients retry.
//!
//! All checked against reference Kafka 4.1.2 with raw requests.

use kafka_protocol::ResponseError;
use strata_groups::TopicPartition;

use crate::groups::OFFSETS_TOPIC;
use crate::state::Broker;
use crate::txn::partition_check::{self, TxnProducer};

/// The first TxnOffsetCommit version that adds the group's partition to the transaction (TV2).
const ADD_PARTITION_VERSION_MIN: i16 = 5;
/// The first TxnOffsetCommit version that knows TRANSACTION_ABORTABLE.
const ABORTABLE_VERSION_MIN: i16 = 4;

/// Whether `producer`'s transaction holds (or, for v5, now holds) `group_id`'s partition;
/// `Err` is the error every partition of the request is answered with.
pub async fn verify(
    broker: &Broker,
    version: i16,
    producer: TxnProducer<'_>,
    group_id: &str,
) -> Result<(), ResponseError> {
    let tp = TopicPartition::new(OFFSETS_TOPIC, broker.groups.partition_for(group_id));
    // Kafka asks nothing when the partition's log already holds the producer's open transaction
    // at this epoch (its records were verified when that transaction wrote there first).
    let open = broker
        .topics
        .get(OFFSETS_TOPIC)
        .and_then(|t| t.partition(tp.partition).and_then(|p| p.open_transaction_of(producer.producer_id)));
    if open.is_some_and(|(epoch, _)| epoch == producer.producer_epoch) {
        return Ok(());
    }
    let add = version >= ADD_PARTITION_VERSION_MIN;
    partition_check::in_transaction(broker, producer, tp, add).await.map_err(|error| answered(version, error))
}

/// A coordinator error as TxnOffsetCommit `version` answers it (Kafka's
/// `AddPartitionsToTxnManager` translation, then the group coordinator's `normalizeException`).
fn answered(version: i16, error: ResponseError) -> ResponseError {
    match error {
        ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
        ResponseError::TransactionAbortable if version < ABORTABLE_VERSION_MIN => ResponseError::InvalidTxnState,
        ResponseError::NetworkException
        | ResponseError::CoordinatorLoadInProgress
        | ResponseError::CoordinatorNotAvailable
        | ResponseError::NotCoordinator => ResponseError::CoordinatorNotAvailable,
        ResponseError::ConcurrentTransactions if version < ADD_PARTITION_VERSION_MIN => {
            ResponseError::CoordinatorNotAvailable
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_translated_per_version() {
        let abortable = ResponseError::TransactionAbortable;
        assert_eq!(answered(3, abortable), ResponseError::InvalidTxnState);
        assert_eq!(answered(4, abortable), abortable);
        assert_eq!(answered(5, ResponseError::ProducerFenced), ResponseError::InvalidProducerEpoch);
        assert_eq!(answered(4, ResponseError::ConcurrentTransactions), ResponseError::CoordinatorNotAvailable);
        assert_eq!(answered(5, ResponseError::ConcurrentTransactions), ResponseError::ConcurrentTransactions);
        assert_eq!(answered(5, ResponseError::CoordinatorLoadInProgress), ResponseError::CoordinatorNotAvailable);
        let unknown = ResponseError::InvalidProducerIdMapping;
        assert_eq!(answered(0, unknown), unknown);
    }
}
