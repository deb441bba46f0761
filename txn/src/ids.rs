//! Producer ids, injected: the broker allocates them (its `ProducerIds`, the same source the
//! idempotent producer uses), so the coordinator holds no counter that could hand out an id twice.

use crate::error::TxnError;

/// A source of fresh producer ids. Each `Ok` must be an id never returned before.
pub trait ProducerIdSource: Send {
    /// A new producer id, or the error to answer when none can be allocated now.
    fn next_producer_id(&mut self) -> Result<i64, TxnError>;
}

/// Ids counting up from a start value: for tests and simulations.
#[derive(Debug, Clone)]
pub struct SequentialProducerIds {
    next: i64,
}

impl SequentialProducerIds {
    pub fn starting_at(first: i64) -> Self {
        assert!(first >= 0, "producer ids are non-negative");
        SequentialProducerIds { next: first }
    }
}

impl ProducerIdSource for SequentialProducerIds {
    fn next_producer_id(&mut self) -> Result<i64, TxnError> {
        let id = self.next;
        self.next = self.next.checked_add(1).ok_or(TxnError::CoordinatorNotAvailable)?;
        Ok(id)
    }
}
