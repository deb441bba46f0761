//! What a `read_committed` share group never gets (`share.isolation.level`): the transaction
//! markers, and the records of aborted transactions. A ShareFetch answer has no aborted
//! transactions for the client to drop them itself, so the broker archives them unread, as
//! Kafka's `SharePartition.filterAbortedTransactionalAcquiredRecords` does. Found the way a
//! read_committed consumer finds them: walking the batches in offset order, a producer is in
//! an aborted transaction from that transaction's first offset to its abort marker.

use std::collections::BTreeSet;

use strata_wire::batch::BatchHeader;
use strata_wire::control::parse_marker;

/// The offset ranges (first, last) of `batches` (as read from the log) that a read_committed
/// share group never gets; `aborted` is the log's aborted transactions overlapping them, as
/// `(producer id, first offset)`.
pub fn unreadable_ranges(batches: &[u8], aborted: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut pending: Vec<(i64, i64)> = aborted.iter().map(|&(producer, first)| (first, producer)).collect();
    pending.sort_unstable();
    let mut pending = pending.into_iter().peekable();
    let mut aborting: BTreeSet<i64> = BTreeSet::new();
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    let mut rest = batches;
    while let Ok(header) = BatchHeader::parse(rest) {
        let total = header.total_bytes();
        let Some(batch) = rest.get(..total) else { break };
        while let Some(&(first, producer)) = pending.peek() {
            if first > header.last_offset() {
                break;
            }
            aborting.insert(producer);
            pending.next();
        }
        let unreadable = if header.is_control() {
            if let Ok(marker) = parse_marker(batch)
                && !marker.commit
            {
                aborting.remove(&marker.producer_id);
            }
            true
        } else {
            header.is_transactional() && aborting.contains(&header.producer_id)
        };
        if unreadable {
            match ranges.last_mut() {
                Some(last) if last.1 + 1 == header.base_offset => last.1 = header.last_offset(),
                _ => ranges.push((header.base_offset, header.last_offset())),
            }
        }
        rest = &rest[total..];
    }
    ranges
}

/// Whether `offset` lies in one of `ranges` (sorted, disjoint).
pub fn contains(ranges: &[(i64, i64)], offset: i64) -> bool {
    let at = ranges.partition_point(|&(_, last)| last < offset);
    ranges.get(at).is_some_and(|&(first, _)| first <= offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_testkit::batches::Batch;
    use strata_wire::control::{Marker, marker_batch};

    fn data(base: i64, count: usize, producer: i64) -> Vec<u8> {
        Batch::new()
            .numbered(count, None, 0)
            .producer(producer, 0, 0)
            .transactional()
            .base_offset(base)
            .encode()
            .to_vec()
    }

    fn marker(base: i64, producer: i64, commit: bool) -> Vec<u8> {
        let marker = Marker { producer_id: producer, producer_epoch: 0, coordinator_epoch: 0, commit };
        let mut bytes = marker_batch(&marker, 0).to_vec();
        strata_wire::batch::set_base_offset(&mut bytes, base);
        bytes
    }

    #[test]
    fn markers_and_aborted_records_are_unreadable_committed_ones_are_not() {
        // Producer 1 commits 0-2 (marker 3); producer 2 aborts 4-5 (marker 6); producer 1 then
        // writes 7 in a transaction still open; a plain batch of producer 2 at 8.
        let plain = Batch::new().numbered(1, None, 0).base_offset(8).encode().to_vec();
        let log =
            [data(0, 3, 1), marker(3, 1, true), data(4, 2, 2), marker(6, 2, false), data(7, 1, 1), plain].concat();
        let ranges = unreadable_ranges(&log, &[(2, 4)]);
        assert_eq!(ranges, [(3, 6)]);
        assert!(contains(&ranges, 5) && !contains(&ranges, 2) && !contains(&ranges, 7));
        assert_eq!(unreadable_ranges(&log[..10], &[]), [], "a torn batch ends the walk");
    }
}
