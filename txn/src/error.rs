//! The coordinator's operating errors, and their Kafka error codes (mapped here and nowhere else).
//!
//! Every error a client can cause (a stale epoch, an unknown transactional id, a request while a
//! transaction is completing...) is a value of [`TxnError`] carried in a reply; nothing in this
//! crate panics on input.

use kafka_protocol::ResponseError;

/// An error answered to a transaction request. [`TxnError::code`] gives the Kafka error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TxnError {
    /// An empty transactional id.
    #[error("invalid request")]
    InvalidRequest,
    /// `transaction.timeout.ms` is not in `1..=transaction.max.timeout.ms`.
    #[error("invalid transaction timeout")]
    InvalidTransactionTimeout,
    /// A previous transaction is still completing (its markers are being written), or the
    /// coordinator is aborting the current one; the client backs off and retries.
    #[error("concurrent transactions")]
    ConcurrentTransactions,
    /// A newer producer holds the transactional id (a zombie), KIP-588's code.
    #[error("producer fenced")]
    ProducerFenced,
    /// What older request versions get instead of [`TxnError::ProducerFenced`].
    #[error("invalid producer epoch")]
    InvalidProducerEpoch,
    /// The transactional id is unknown or belongs to another producer id.
    #[error("invalid producer id mapping")]
    InvalidProducerIdMapping,
    /// The request does not fit the transaction's state (EndTxn without a transaction, commit of
    /// an aborted one...).
    #[error("invalid transaction state")]
    InvalidTxnState,
    /// Verification: the partition is not in the transaction; the producer must abort.
    #[error("transaction abortable")]
    TransactionAbortable,
    /// DescribeTransactions of an id the coordinator does not know.
    #[error("transactional id not found")]
    TransactionalIdNotFound,
    /// The producer id source could not give an id (the broker's id block is unavailable).
    #[error("coordinator not available")]
    CoordinatorNotAvailable,
}

impl TxnError {
    /// The Kafka error code, the one mapping of this crate's errors to the wire.
    pub fn code(self) -> i16 {
        self.response_error().code()
    }

    /// The same error as `kafka-protocol`'s enum, for handlers that build responses with it.
    pub fn response_error(self) -> ResponseError {
        match self {
            TxnError::InvalidRequest => ResponseError::InvalidRequest,
            TxnError::InvalidTransactionTimeout => ResponseError::InvalidTransactionTimeout,
            TxnError::ConcurrentTransactions => ResponseError::ConcurrentTransactions,
            TxnError::ProducerFenced => ResponseError::ProducerFenced,
            TxnError::InvalidProducerEpoch => ResponseError::InvalidProducerEpoch,
            TxnError::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping,
            TxnError::InvalidTxnState => ResponseError::InvalidTxnState,
            TxnError::TransactionAbortable => ResponseError::TransactionAbortable,
            TxnError::TransactionalIdNotFound => ResponseError::TransactionalIdNotFound,
            TxnError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        }
    }

    /// Kafka's coordinator answers PRODUCER_FENCED; request versions from before KIP-588 get
    /// INVALID_PRODUCER_EPOCH instead (`fenced_min_version` is the first version that knows it).
    pub(crate) fn for_version(self, version: i16, fenced_min_version: i16) -> TxnError {
        match self {
            TxnError::ProducerFenced if version < fenced_min_version => TxnError::InvalidProducerEpoch,
            other => other,
        }
    }
}

/// The code of an optional error: 0 (NONE) when there is none.
pub fn error_code(error: Option<TxnError>) -> i16 {
    error.map_or(0, TxnError::code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_kafka() {
        assert_eq!(TxnError::InvalidRequest.code(), 42);
        assert_eq!(TxnError::InvalidProducerEpoch.code(), 47);
        assert_eq!(TxnError::InvalidTxnState.code(), 48);
        assert_eq!(TxnError::InvalidProducerIdMapping.code(), 49);
        assert_eq!(TxnError::InvalidTransactionTimeout.code(), 50);
        assert_eq!(TxnError::ConcurrentTransactions.code(), 51);
        assert_eq!(TxnError::TransactionalIdNotFound.code(), 105);
        assert_eq!(TxnError::ProducerFenced.code(), 90);
        assert_eq!(TxnError::TransactionAbortable.code(), 120);
        assert_eq!(error_code(None), 0);
    }

    #[test]
    fn old_versions_get_invalid_producer_epoch() {
        assert_eq!(TxnError::ProducerFenced.for_version(1, 2), TxnError::InvalidProducerEpoch);
        assert_eq!(TxnError::ProducerFenced.for_version(2, 2), TxnError::ProducerFenced);
        assert_eq!(TxnError::InvalidTxnState.for_version(0, 2), TxnError::InvalidTxnState);
    }
}
