//! The coordinator's outputs: replies, records to persist, markers to write, and the answers of
//! the read-only calls.

use strata_groups::TopicPartition;

use crate::error::TxnError;
use crate::metadata::TxnVersion;
use crate::records::TxnRecord;
use crate::state::TxnState;

/// What a mutating call returns: its reply, and work for the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<R> {
    pub reply: R,
    pub effects: Effects,
}

/// Work for the broker, in this order: append `records` to `__transaction_state` and wait for
/// the append; then send the call's reply; then write `markers` and report each with
/// [`crate::Coordinator::markers_written`]. If the append fails, the broker answers the error and
/// rebuilds the coordinator from the log (the state here already moved on).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    pub records: Vec<TxnRecord>,
    pub markers: Vec<WriteMarkers>,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.markers.is_empty()
    }

    pub(crate) fn extend(&mut self, other: Effects) {
        self.records.extend(other.records);
        self.markers.extend(other.markers);
    }
}

/// Commit or abort markers (control batches) to append to every partition of a transaction, as
/// a WriteTxnMarkers request would carry them. Retried until written: the transaction cannot
/// complete before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteMarkers {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The epoch the markers carry (under TV2 already the bumped one).
    pub producer_epoch: i16,
    pub commit: bool,
    pub partitions: Vec<TopicPartition>,
    pub transaction_version: TxnVersion,
}

/// The answer to InitProducerId; id and epoch are -1 with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitProducerIdReply {
    pub error: Option<TxnError>,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// The answer to EndTxn; v5+ carries the producer id and epoch the producer continues with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnReply {
    pub error: Option<TxnError>,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

impl InitProducerIdReply {
    pub(crate) fn error(error: TxnError) -> Self {
        InitProducerIdReply { error: Some(error), producer_id: -1, producer_epoch: -1 }
    }
}

impl EndTxnReply {
    pub(crate) fn error(error: TxnError) -> Self {
        EndTxnReply { error: Some(error), producer_id: -1, producer_epoch: -1 }
    }
}

/// One transaction as DescribeTransactions shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedTxn {
    pub error: Option<TxnError>,
    pub transactional_id: String,
    /// `None` with an error.
    pub state: Option<TxnState>,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub start_ms: i64,
    pub partitions: Vec<TopicPartition>,
}

/// ListTransactions' answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedTxns {
    /// State names in the filter that are not Kafka states.
    pub unknown_state_filters: Vec<String>,
    pub transactions: Vec<ListedTxn>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTxn {
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: TxnState,
}
