//! One transactional id's state: its producer id and epoch, its transaction, and the
//! `TransactionLogValue` that persists it.

use std::collections::BTreeSet;

use strata_groups::TopicPartition;

use crate::records::TxnLogValue;
use crate::state::TxnState;

/// The highest epoch a client may use: Kafka keeps `i16::MAX` for the coordinator so that it can
/// always fence one more time.
pub(crate) fn epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// The `transaction.version` a client speaks (the `ClientTransactionVersion` of the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TxnVersion {
    /// Before KIP-890 (feature level 0).
    V0,
    /// KIP-890 part 1: partitions verified before the leader appends (level 1).
    V1,
    /// KIP-890 part 2: the epoch is bumped at every EndTxn, partitions are added by the
    /// partition leaders on the producer's behalf (level 2).
    V2,
}

impl TxnVersion {
    pub fn level(self) -> i16 {
        match self {
            TxnVersion::V0 => 0,
            TxnVersion::V1 => 1,
            TxnVersion::V2 => 2,
        }
    }

    /// Levels above 2 are read as 2, the highest this coordinator knows.
    pub fn from_level(level: i16) -> TxnVersion {
        match level {
            i16::MIN..=0 => TxnVersion::V0,
            1 => TxnVersion::V1,
            _ => TxnVersion::V2,
        }
    }

    pub(crate) fn bumps_epoch(self) -> bool {
        self >= TxnVersion::V2
    }
}

/// A transactional id's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxnMetadata {
    pub(crate) id: String,
    pub(crate) producer_id: i64,
    pub(crate) previous_producer_id: i64,
    pub(crate) next_producer_id: i64,
    /// -1 until the first InitProducerId completes.
    pub(crate) producer_epoch: i16,
    /// The epoch before the last bump, so that a retried InitProducerId (KIP-360) or EndTxn (TV2)
    /// is recognised. Not persisted (as in Kafka): -1 after a replay.
    pub(crate) last_producer_epoch: i16,
    pub(crate) timeout_ms: i32,
    pub(crate) state: TxnState,
    pub(crate) partitions: BTreeSet<TopicPartition>,
    pub(crate) last_update_ms: i64,
    pub(crate) start_ms: i64,
    pub(crate) client_version: TxnVersion,
}

impl TxnMetadata {
    pub(crate) fn new(id: String, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            id,
            producer_id,
            previous_producer_id: -1,
            next_producer_id: -1,
            producer_epoch: -1,
            last_producer_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            last_update_ms: now_ms,
            start_ms: -1,
            client_version: TxnVersion::V0,
        }
    }

    pub(crate) fn from_value(id: String, value: TxnLogValue) -> Self {
        TxnMetadata {
            id,
            producer_id: value.producer_id,
            previous_producer_id: value.previous_producer_id,
            next_producer_id: value.next_producer_id,
            producer_epoch: value.producer_epoch,
            last_producer_epoch: -1,
            timeout_ms: value.timeout_ms,
            state: value.state,
            partitions: value.partitions.into_iter().collect(),
            last_update_ms: value.last_update_ms,
            start_ms: value.start_ms,
            client_version: TxnVersion::from_level(value.client_transaction_version),
        }
    }

    pub(crate) fn to_value(&self) -> TxnLogValue {
        TxnLogValue {
            producer_id: self.producer_id,
            previous_producer_id: self.previous_producer_id,
            next_producer_id: self.next_producer_id,
            producer_epoch: self.producer_epoch,
            timeout_ms: self.timeout_ms,
            state: self.state,
            partitions: self.partitions.iter().cloned().collect(),
            last_update_ms: self.last_update_ms,
            start_ms: self.start_ms,
            client_transaction_version: self.client_version.level(),
        }
    }

    /// Whether the producer's epoch can still be bumped without a new producer id.
    pub(crate) fn epoch_exhausted(&self) -> bool {
        epoch_exhausted(self.producer_epoch)
    }

    /// What holds at rest, after every call.
    pub(crate) fn check_invariants(&self) {
        assert!(self.producer_id >= 0, "{}: producer id {}", self.id, self.producer_id);
        assert!(self.producer_epoch >= 0, "{}: a stored transaction has an epoch", self.id);
        assert!(
            !matches!(self.state, TxnState::Dead | TxnState::PrepareEpochFence),
            "{}: {:?} is never a resting state",
            self.id,
            self.state
        );
        if self.state.is_idle() {
            assert!(self.partitions.is_empty(), "{}: {:?} with partitions", self.id, self.state);
            assert_eq!(self.next_producer_id, -1, "{}: a next producer id outside a completion", self.id);
        }
        if self.state == TxnState::Ongoing {
            assert!(!self.partitions.is_empty(), "{}: Ongoing without partitions", self.id);
            assert!(self.start_ms >= 0, "{}: Ongoing without a start time", self.id);
        }
        assert!(
            self.next_producer_id == -1 || self.client_version.bumps_epoch(),
            "{}: only TV2 rotates the producer id at EndTxn",
            self.id
        );
    }
}
