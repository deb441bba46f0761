//! The partition's producer state as others may see it: each active producer for
//! DescribeProducers, and whether a producer has a transaction open here (a transactional
//! batch of an open transaction needs no verification with the coordinator, as in Kafka's
//! `UnifiedLog.maybeStartTransactionVerification`). Read under the partition's state lock.

use super::Partition;

/// One producer of the partition, as Kafka's DescribeProducers reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The last sequence number of its last batch (-1 when only markers are known).
    pub last_sequence: i32,
    /// The largest timestamp of its last batch or marker (-1 before any).
    pub last_timestamp: i64,
    /// The coordinator epoch of its last marker (-1 before any).
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction, if one is open.
    pub current_txn_start_offset: Option<i64>,
}

impl Partition {
    /// Every producer the partition remembers, by producer id.
    pub fn active_producers(&self) -> Vec<ActiveProducer> {
        let state = self.inner.lock_state();
        let mut producers: Vec<ActiveProducer> = state
            .producers
            .entries()
            .map(|(producer_id, entry)| ActiveProducer {
                producer_id,
                producer_epoch: entry.epoch,
                last_sequence: entry.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: entry.last_timestamp,
                coordinator_epoch: entry.coordinator_epoch,
                current_txn_start_offset: entry.txn_first_offset,
            })
            .collect();
        producers.sort_by_key(|p| p.producer_id);
        producers
    }

    /// The epoch and first offset of `producer_id`'s open transaction in this partition, if any.
    pub fn open_transaction_of(&self, producer_id: i64) -> Option<(i16, i64)> {
        self.inner.lock_state().producers.open_txn_of(producer_id)
    }
}
