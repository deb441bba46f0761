//! Transactional offset commits of one group (KIP-98's TxnOffsetCommit): held per producer id,
//! invisible to OffsetFetch, until the transaction's marker reaches the group's
//! `__consumer_offsets` partition; a commit marker makes them the group's committed offsets, an
//! abort marker drops them. Kafka keeps the same state in `OffsetMetadataManager`
//! (`pendingTransactionalOffsets`, `openTransactions`).
//!
//! Which commit wins when a regular commit and a transactional one of the same partition mix:
//! Kafka keeps the one whose record lies later in the log (`recordOffset`). A group's records are
//! all in one partition, written in the order the coordinator produces them, so that order is
//! this struct's own: a regular commit (or another transaction's commit) made after a pending
//! offset was written *supersedes* it, and a superseded offset is not materialized when its
//! transaction commits. Replay applies the same rules in log order, so it reaches the same state.

use std::collections::BTreeMap;

use crate::records::{OffsetCommitValue, TxnProducer};
use crate::requests::TopicPartition;

/// One transactional offset waiting for its transaction's end.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingOffset {
    value: OffsetCommitValue,
    /// When it was written, in this group's record order.
    seq: u64,
    /// A later commit of the same partition made this one stale: it never becomes visible.
    superseded: bool,
}

/// One producer's open transaction in a group.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Open {
    /// The epoch of its latest transactional offset (what a snapshot rewrites them with).
    producer_epoch: i16,
    offsets: BTreeMap<TopicPartition, PendingOffset>,
}

/// A group's pending transactional offsets, by producer id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TxnOffsets {
    by_producer: BTreeMap<i64, Open>,
    next_seq: u64,
}

/// A pending offset as a snapshot rewrites it.
pub(crate) struct PendingRecord<'a> {
    pub producer: TxnProducer,
    pub partition: &'a TopicPartition,
    pub value: &'a OffsetCommitValue,
}

impl TxnOffsets {
    /// A transactional offset of `producer` was written.
    pub fn add(&mut self, producer: TxnProducer, tp: TopicPartition, value: OffsetCommitValue) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let open = self
            .by_producer
            .entry(producer.producer_id)
            .or_insert_with(|| Open { producer_epoch: producer.producer_epoch, offsets: BTreeMap::new() });
        open.producer_epoch = producer.producer_epoch;
        open.offsets.insert(tp, PendingOffset { value, seq, superseded: false });
    }

    /// A regular (non-transactional) commit of `tp` was written: every pending offset of `tp`
    /// is older than it.
    pub fn committed(&mut self, tp: &TopicPartition) {
        for pending in self.by_producer.values_mut().filter_map(|open| open.offsets.get_mut(tp)) {
            pending.superseded = true;
        }
    }

    /// `tp`'s offset was deleted (a tombstone): its pending offsets go with it, as Kafka's
    /// replay of a tombstone drops them.
    pub fn deleted(&mut self, tp: &TopicPartition) {
        for open in self.by_producer.values_mut() {
            open.offsets.remove(tp);
        }
        self.by_producer.retain(|_, open| !open.offsets.is_empty());
    }

    /// The transaction of `producer_id` ended. On commit its offsets that no later commit
    /// superseded become committed (in `committed`), superseding the older pending offsets of
    /// other producers on the same partitions. Returns whether the producer had pending offsets.
    pub fn complete(
        &mut self,
        producer_id: i64,
        commit: bool,
        committed: &mut BTreeMap<TopicPartition, OffsetCommitValue>,
    ) -> bool {
        let Some(open) = self.by_producer.remove(&producer_id) else { return false };
        if commit {
            for (tp, pending) in open.offsets {
                if pending.superseded {
                    continue;
                }
                for other in self.by_producer.values_mut().filter_map(|o| o.offsets.get_mut(&tp)) {
                    if other.seq < pending.seq {
                        other.superseded = true;
                    }
                }
                committed.insert(tp, pending.value);
            }
        }
        true
    }

    /// Whether some transaction holds a pending offset of `tp` (OffsetFetch's `require_stable`).
    pub fn is_pending(&self, tp: &TopicPartition) -> bool {
        self.by_producer.values().any(|open| open.offsets.contains_key(tp))
    }

    pub fn is_empty(&self) -> bool {
        self.by_producer.is_empty()
    }

    /// Every partition with a pending offset (each once).
    pub fn partitions(&self) -> std::collections::BTreeSet<&TopicPartition> {
        self.by_producer.values().flat_map(|open| open.offsets.keys()).collect()
    }

    /// The pending offsets in an order whose replay rebuilds this state (given the group's
    /// committed offsets written in between): first the superseded ones, which the committed
    /// offsets that follow supersede again, then the others in the order they were written.
    pub fn snapshot_order(&self) -> (Vec<PendingRecord<'_>>, Vec<PendingRecord<'_>>) {
        let mut all: Vec<(&PendingOffset, PendingRecord<'_>)> = self
            .by_producer
            .iter()
            .flat_map(|(&producer_id, open)| {
                let producer = TxnProducer { producer_id, producer_epoch: open.producer_epoch };
                open.offsets
                    .iter()
                    .map(move |(partition, p)| (p, PendingRecord { producer, partition, value: &p.value }))
            })
            .collect();
        all.sort_by_key(|(p, _)| p.seq);
        let (superseded, live): (Vec<_>, Vec<_>) = all.into_iter().partition(|(p, _)| p.superseded);
        (superseded.into_iter().map(|(_, r)| r).collect(), live.into_iter().map(|(_, r)| r).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(offset: i64) -> OffsetCommitValue {
        OffsetCommitValue {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 0,
            expire_timestamp_ms: -1,
        }
    }

    fn producer(producer_id: i64) -> TxnProducer {
        TxnProducer { producer_id, producer_epoch: 0 }
    }

    #[test]
    fn the_later_of_two_transactions_wins_whatever_order_they_end_in() {
        let tp = TopicPartition::new("t", 0);
        for first_to_end in [1, 2] {
            let mut txns = TxnOffsets::default();
            let mut committed = BTreeMap::new();
            txns.add(producer(1), tp.clone(), value(10));
            txns.add(producer(2), tp.clone(), value(20));
            let second_to_end = 3 - first_to_end;
            assert!(txns.complete(first_to_end, true, &mut committed));
            assert!(txns.complete(second_to_end, true, &mut committed));
            assert_eq!(committed[&tp].offset, 20, "producer {first_to_end} ended first");
            assert!(txns.is_empty());
        }
    }

    #[test]
    fn a_regular_commit_after_a_pending_one_wins_and_abort_drops() {
        let tp = TopicPartition::new("t", 0);
        let mut txns = TxnOffsets::default();
        let mut committed = BTreeMap::new();
        txns.add(producer(7), tp.clone(), value(10));
        committed.insert(tp.clone(), value(15));
        txns.committed(&tp);
        assert!(txns.is_pending(&tp));
        assert!(txns.complete(7, true, &mut committed));
        assert_eq!(committed[&tp].offset, 15);
        txns.add(producer(7), tp.clone(), value(30));
        assert!(txns.complete(7, false, &mut committed));
        assert_eq!(committed[&tp].offset, 15);
        assert!(!txns.complete(7, true, &mut committed), "nothing pending any more");
        txns.add(producer(8), tp.clone(), value(40));
        txns.deleted(&tp);
        assert!(txns.is_empty() && !txns.is_pending(&tp));
    }
}
