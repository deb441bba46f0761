//! Kafka's `TransactionState`: the state byte of `__transaction_state` and the names
//! DescribeTransactions and ListTransactions use.
//!
//! `Dead` and `PrepareEpochFence` exist for the wire and the log format, but this coordinator
//! never rests in them: a transactional id that expires is removed (tombstone) at once, and an
//! epoch fence goes straight to `PrepareAbort` (Kafka's PrepareEpochFence is an in-memory pending
//! state, never written).

/// A transaction's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxnState {
    /// Initialised (InitProducerId), no transaction open.
    Empty,
    /// Partitions or offsets have been added; the transaction is open.
    Ongoing,
    /// EndTxn(commit) accepted; commit markers are being written.
    PrepareCommit,
    /// EndTxn(abort), a timeout or a fence; abort markers are being written.
    PrepareAbort,
    /// Commit markers written to every partition.
    CompleteCommit,
    /// Abort markers written to every partition.
    CompleteAbort,
    /// The transactional id is being expired.
    Dead,
    /// The producer is being fenced before its transaction is aborted.
    PrepareEpochFence,
}

impl TxnState {
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    /// The state byte of `TransactionLogValue.TransactionStatus`.
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.id() == id)
    }

    /// The name Kafka's admin APIs use.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Markers are being written: the previous transaction is still completing.
    pub fn is_preparing(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }

    /// No transaction open or completing (Kafka's `isExpirationAllowed`).
    pub fn is_idle(self) -> bool {
        matches!(self, TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_round_trip() {
        for (i, state) in TxnState::ALL.into_iter().enumerate() {
            assert_eq!(state.id(), i as i8);
            assert_eq!(TxnState::from_id(state.id()), Some(state));
            assert_eq!(TxnState::from_name(state.name()), Some(state));
        }
        assert_eq!(TxnState::from_id(8), None);
        assert_eq!(TxnState::from_name("ongoing"), None);
    }
}
