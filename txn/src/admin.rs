//! DescribeTransactions and ListTransactions: read-only views, as Kafka's coordinator answers them.

use crate::coordinator::Coordinator;
use crate::error::TxnError;
use crate::replies::{DescribedTxn, ListedTxn, ListedTxns};
use crate::requests::ListTransactionsFilter;
use crate::state::TxnState;

impl Coordinator {
    /// One transactional id's state; INVALID_REQUEST for an empty id, TRANSACTIONAL_ID_NOT_FOUND
    /// for an unknown one.
    pub fn describe_transaction(&self, transactional_id: &str) -> DescribedTxn {
        let meta = match transactional_id {
            "" => Err(TxnError::InvalidRequest),
            id => self.txns.get(id).ok_or(TxnError::TransactionalIdNotFound),
        };
        match meta {
            Ok(meta) => DescribedTxn {
                error: None,
                transactional_id: transactional_id.to_owned(),
                state: Some(meta.state),
                producer_id: meta.producer_id,
                producer_epoch: meta.producer_epoch,
                timeout_ms: meta.timeout_ms,
                start_ms: meta.start_ms,
                partitions: meta.partitions.iter().cloned().collect(),
            },
            Err(error) => DescribedTxn {
                error: Some(error),
                transactional_id: transactional_id.to_owned(),
                state: None,
                producer_id: -1,
                producer_epoch: -1,
                timeout_ms: -1,
                start_ms: -1,
                partitions: vec![],
            },
        }
    }

    /// The transactions matching every filter given: state names (unknown names are reported
    /// back and match nothing), producer ids, and (v1+) running longer than `duration_ms`.
    pub fn list_transactions(&self, filter: &ListTransactionsFilter, now_ms: i64) -> ListedTxns {
        let mut states = Vec::new();
        let mut unknown_state_filters = Vec::new();
        for name in &filter.states {
            match TxnState::from_name(name) {
                Some(state) => states.push(state),
                None => unknown_state_filters.push(name.clone()),
            }
        }
        let transactions = self
            .txns
            .values()
            .filter(|t| filter.producer_ids.is_empty() || filter.producer_ids.contains(&t.producer_id))
            .filter(|t| filter.states.is_empty() || states.contains(&t.state))
            .filter(|t| filter.duration_ms < 0 || now_ms.saturating_sub(t.start_ms) > filter.duration_ms)
            .map(|t| ListedTxn { transactional_id: t.id.clone(), producer_id: t.producer_id, state: t.state })
            .collect();
        ListedTxns { unknown_state_filters, transactions }
    }
}
