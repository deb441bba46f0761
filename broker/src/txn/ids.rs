//! The transaction coordinator's producer ids: the broker's own allocator
//! ([`crate::producer_ids`]), the same one idempotent producers get their ids from, so no id is
//! handed out twice whichever path asked for it.

use std::sync::Arc;

use strata_txn::{ProducerIdSource, TxnError};

use crate::producer_ids::ProducerIds;

/// [`ProducerIdSource`] over the broker's allocator.
#[derive(Debug)]
pub struct BrokerProducerIds {
    ids: Arc<ProducerIds>,
}

impl BrokerProducerIds {
    pub fn new(ids: Arc<ProducerIds>) -> Self {
        BrokerProducerIds { ids }
    }
}

impl ProducerIdSource for BrokerProducerIds {
    /// Blocks on a small fsync once per block of ids (under the coordinator's lock, as Kafka's
    /// coordinator waits for its next block); a failure is COORDINATOR_NOT_AVAILABLE, retried.
    fn next_producer_id(&mut self) -> Result<i64, TxnError> {
        crate::blocking::run(|| self.ids.allocate()).map_err(|error| {
            tracing::error!(%error, "cannot reserve producer ids for the transaction coordinator");
            TxnError::CoordinatorNotAvailable
        })
    }
}
