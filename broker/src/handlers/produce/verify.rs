//! KIP-890 verification of a transactional batch before it is appended, as Kafka 4.1.2's
//! `ReplicaManager.appendRecords` with its `AddPartitionsToTxnManager` does it (the coordinator
//! is asked directly when it is this broker, otherwise over AddPartitionsToTxn v5,
//! `crate::txn::partition_check`):
//!
//! - Produce v12+ (transaction version 2 clients): the partition is *added* to the producer's
//!   transaction (KIP-890 part 2), its record written before the batch is appended;
//! - Produce v11 and older (transaction versions 0 and 1): the coordinator is asked whether the
//!   partition is already in the producer's ongoing transaction (part 1) and the batch is refused
//!   if not: TRANSACTION_ABORTABLE for v11, INVALID_TXN_STATE ("Partition was not added to the
//!   transaction") for v10 and older, which do not know TRANSACTION_ABORTABLE;
//! - a fenced producer is INVALID_PRODUCER_EPOCH; errors older clients might not retry (the
//!   coordinator loading or unavailable, and, before v12, CONCURRENT_TRANSACTIONS) become
//!   NOT_ENOUGH_REPLICAS, which they retry without refreshing metadata.
//!
//! (A transactional batch in a request without a transactional id never gets here: the produce
//! handler refuses the whole request, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Kafka does.)
//!
//! As Kafka (`UnifiedLog.hasOngoingTransaction`), the coordinator is not asked when the
//! partition's log already holds an open transaction of the producer at the batch's epoch: the
//! partition joined the transaction with its first batch.
//!
//! The produce path assigns offsets on the connection's reader, in request order, so this check
//! runs there too: it waits for the coordinator's lock (and, for an add, its record) with the
//! runtime worker handed over (`crate::blocking::wait`).

use kafka_protocol::ResponseError;
use strata_groups::TopicPartition;
use strata_log::Partition;
use strata_wire::batch::BatchHeader;

use crate::state::Broker;
use crate::txn::partition_check::{self, TxnProducer};

/// The first Produce version whose transactional batches add their partition (TV2).
const ADD_PARTITION_VERSION_MIN: i16 = 12;
/// The first Produce version that knows TRANSACTION_ABORTABLE.
const ABORTABLE_VERSION_MIN: i16 = 11;

/// Whether the transactional batch with `header` may be appended to `tp`; `Err` is the
/// partition's error code and message.
pub(super) fn transactional_batch(
    broker: &Broker,
    version: i16,
    transactional_id: &str,
    tp: TopicPartition,
    partition: &Partition,
    header: &BatchHeader,
) -> Result<(), (i16, String)> {
    if !header.is_transactional() || header.is_control() {
        return Ok(());
    }
    if partition.open_transaction_of(header.producer_id).is_some_and(|(epoch, _)| epoch == header.producer_epoch) {
        return Ok(());
    }
    let producer =
        TxnProducer { transactional_id, producer_id: header.producer_id, producer_epoch: header.producer_epoch };
    let add = version >= ADD_PARTITION_VERSION_MIN;
    let error = match crate::blocking::wait(partition_check::in_transaction(broker, producer, tp, add)) {
        Some(Ok(())) => return Ok(()),
        Some(Err(error)) => error,
        None => ResponseError::CoordinatorNotAvailable,
    };
    Err(produce_error(version, error))
}

/// A coordinator error as the producer is told it (Kafka's `AddPartitionsToTxnManager` and
/// `ReplicaManager` translations).
fn produce_error(version: i16, error: ResponseError) -> (i16, String) {
    let error = match error {
        ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
        ResponseError::TransactionAbortable if version < ABORTABLE_VERSION_MIN => ResponseError::InvalidTxnState,
        other => other,
    };
    let retriable_for_old_clients = matches!(
        error,
        ResponseError::NetworkException
            | ResponseError::CoordinatorLoadInProgress
            | ResponseError::CoordinatorNotAvailable
            | ResponseError::NotCoordinator
    ) || (error == ResponseError::ConcurrentTransactions
        && version < ADD_PARTITION_VERSION_MIN);
    if retriable_for_old_clients {
        let message =
            format!("Unable to verify the partition has been added to the transaction. Underlying error: {error:?}");
        return (ResponseError::NotEnoughReplicas.code(), message);
    }
    if error == ResponseError::InvalidTxnState {
        return (error.code(), "Partition was not added to the transaction".into());
    }
    (error.code(), format!("{error:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_txn::TxnError;

    #[test]
    fn errors_are_translated_per_produce_version() {
        let code = |version, error| produce_error(version, error).0;
        let abortable = TxnError::TransactionAbortable.response_error();
        assert_eq!(code(10, abortable), ResponseError::InvalidTxnState.code());
        assert_eq!(code(11, abortable), ResponseError::TransactionAbortable.code());
        assert_eq!(code(12, ResponseError::ProducerFenced), ResponseError::InvalidProducerEpoch.code());
        assert_eq!(code(11, ResponseError::ConcurrentTransactions), ResponseError::NotEnoughReplicas.code());
        assert_eq!(code(12, ResponseError::ConcurrentTransactions), ResponseError::ConcurrentTransactions.code());
        assert_eq!(code(12, ResponseError::CoordinatorLoadInProgress), ResponseError::NotEnoughReplicas.code());
    }
}
