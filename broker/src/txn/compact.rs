//! Keeping replay short: compaction of `__transaction_state` by snapshot, as
//! `crate::groups`'s compaction of `__consumer_offsets` (same counters, same rule, same
//! crash safety): once a partition is due, the coordinator's snapshot of that partition (one
//! record per transactional id) is appended under the lock, and once it is written the
//! partition's log start moves to it.

use strata_txn::TxnRecord;

use super::Inner;
use crate::groups::{OffsetsLog, move_log_start};

/// Snapshots the partitions of `appended` (partition, end offset of the append just queued)
/// that are due. Called under the coordinator's lock, after the call's records were queued, so
/// every earlier record lies below the snapshot.
pub(super) fn compact_due(inner: &mut Inner, log: &OffsetsLog, appended: &[(i32, i64)], now_ms: i64) {
    for &(p, end) in appended {
        let Ok(index) = usize::try_from(p) else { continue };
        if !inner.compaction.due(index) {
            continue;
        }
        let (Ok(partition), Some(coordinator)) = (log.partition(p), inner.coordinator.as_ref()) else { continue };
        let records: Vec<TxnRecord> = coordinator.snapshot().into_iter().filter(|r| r.partition == p).collect();
        let snapshot_len = records.len() as u64;
        // The log start moves to the snapshot's first offset, or (no transactional id lives in
        // the partition) past what was queued so far.
        let (before, written_at) = if records.is_empty() {
            (end, end)
        } else {
            match log.append(&records, now_ms).map(|mut pending| pending.pop()) {
                Ok(Some((_, append))) => (append.append.info.base_offset, append.append.info.last_offset + 1),
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(partition = p, %error, "cannot write a __transaction_state snapshot");
                    continue;
                }
            }
        };
        inner.compaction.snapshotted(index, snapshot_len);
        tracing::info!(partition = p, records = snapshot_len, log_start = before, "snapshotting __transaction_state");
        move_log_start(std::sync::Arc::clone(partition), before, written_at);
    }
}
