//! The coordinator's inputs: the fields of each transaction request that it needs, filled by the
//! broker's handlers from the decoded `kafka-protocol` messages.

use strata_groups::TopicPartition;

use crate::metadata::TxnVersion;

/// InitProducerId with a transactional id (without one the broker allocates an idempotent
/// producer id itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdRequest {
    /// The request's API version (PRODUCER_FENCED reaches only v4+).
    pub version: i16,
    pub transactional_id: String,
    pub transaction_timeout_ms: i32,
    /// KIP-360 (v3+): the producer's current id and epoch when it re-initialises after an
    /// error, `-1`/`-1` otherwise.
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// AddPartitionsToTxn adding partitions: from a producer (v0-3), or (TV2) from a partition leader
/// on the producer's behalf (v4+ with `verify_only` false).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsRequest {
    /// The request's API version (PRODUCER_FENCED reaches only v2+).
    pub version: i16,
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub partitions: Vec<TopicPartition>,
    /// The client's transaction version: V2 when a leader adds for a TV2 producer (its Produce
    /// request told it), V1 for a producer's own request.
    pub transaction_version: TxnVersion,
}

/// AddPartitionsToTxn v4+ with `verify_only` (KIP-890 part 1): a partition leader asks whether
/// the partitions are in the transaction before it appends a transactional batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyPartitionsRequest {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub partitions: Vec<TopicPartition>,
}

/// AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOffsetsRequest {
    /// The request's API version (PRODUCER_FENCED reaches only v2+).
    pub version: i16,
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// `strata_groups::Coordinator::partition_for(group_id)` of the request's group.
    pub offsets_partition: i32,
}

/// EndTxn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTxnRequest {
    /// The request's API version: v5+ is transaction version 2 (the epoch is bumped), and
    /// PRODUCER_FENCED reaches only v2+.
    pub version: i16,
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Commit (true) or abort.
    pub commit: bool,
}

/// ListTransactions' filters; empty means no filter, a negative duration likewise (the default,
/// as in the request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListTransactionsFilter {
    pub states: Vec<String>,
    pub producer_ids: Vec<i64>,
    /// v1+ (KIP-994): only transactions running longer than this.
    pub duration_ms: i64,
}

impl Default for ListTransactionsFilter {
    fn default() -> Self {
        ListTransactionsFilter { states: vec![], producer_ids: vec![], duration_ms: -1 }
    }
}
