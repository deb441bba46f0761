//! Keeping replay short: compaction of `__consumer_offsets` by snapshot.
//!
//! strata-log does not compact by key. Instead, once a partition has taken
//! [`RECORDS_SINCE_SNAPSHOT_MAX`] records (and at least twice its last snapshot) since its last
//! snapshot, the driver appends, under the coordinator's lock, the coordinator's snapshot of that
//! partition (each group's last metadata record and its live offsets), and once that append is
//! written, moves the partition's log start to the snapshot's first offset (`delete_records`).
//! Replay then reads one snapshot plus what came after it.
//!
//! Transactions: a partition is not snapshotted while a group on it holds pending transactional
//! offsets. Their records must stay in the log until their transaction's marker follows them
//! (moving the log start past them would lose them, and rewriting them would put transactional
//! batches after the log's record of the transaction), and a marker must stay after the records
//! it ends. Once no transaction is open, every transactional record before the snapshot has its
//! marker before it too, and the snapshot restates the offsets the committed ones left.
//!
//! Crash safety: until `delete_records` runs, the log holds the old records *and* the snapshot,
//! which replay to the same state (the snapshot restates the latest values); after it, only the
//! snapshot and later records. A crash in between just leaves more to replay.

use std::sync::Arc;

use strata_log::Partition;

use super::{Inner, OffsetsLog};

/// Records a partition may take after its last snapshot before it is snapshotted again.
pub const RECORDS_SINCE_SNAPSHOT_MAX: u64 = 10_000;

/// `__consumer_offsets` settings: never deleted by age or size (the snapshot does that), and
/// Kafka's `offsets.topic.segment.bytes` (100 MiB), so moved-past segments are freed sooner.
pub fn topic_overrides() -> std::collections::BTreeMap<String, String> {
    [("cleanup.policy", "compact"), ("retention.ms", "-1"), ("retention.bytes", "-1"), ("segment.bytes", "104857600")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Per partition: records appended since the last snapshot, and that snapshot's size.
#[derive(Debug)]
pub struct Counters {
    since_snapshot: Vec<u64>,
    snapshot_len: Vec<u64>,
}

impl Counters {
    /// Starts from what replay read from each partition.
    pub fn new(replayed: Vec<u64>) -> Self {
        let snapshot_len = vec![0; replayed.len()];
        Counters { since_snapshot: replayed, snapshot_len }
    }

    /// Whether `partition` took enough records since its last snapshot to be snapshotted again.
    pub(crate) fn due(&self, partition: usize) -> bool {
        let since = self.since_snapshot.get(partition).copied().unwrap_or(0);
        let last = self.snapshot_len.get(partition).copied().unwrap_or(0);
        since > RECORDS_SINCE_SNAPSHOT_MAX && since > last.saturating_mul(2)
    }

    /// `partition` was just replayed (loaded), holding `records`.
    pub(crate) fn replayed(&mut self, partition: i32, records: u64) {
        let Ok(index) = usize::try_from(partition) else { return };
        if self.since_snapshot.len() <= index {
            self.since_snapshot.resize(index + 1, 0);
            self.snapshot_len.resize(index + 1, 0);
        }
        (self.since_snapshot[index], self.snapshot_len[index]) = (records, 0);
    }

    /// Counts the records just queued (one partition number per record).
    pub(crate) fn count(&mut self, record_partitions: impl IntoIterator<Item = i32>) {
        for p in record_partitions {
            if let Some(n) = usize::try_from(p).ok().and_then(|i| self.since_snapshot.get_mut(i)) {
                *n += 1;
            }
        }
    }

    /// `partition` was just snapshotted as `snapshot_len` records.
    pub(crate) fn snapshotted(&mut self, partition: usize, snapshot_len: u64) {
        if let (Some(since), Some(len)) = (self.since_snapshot.get_mut(partition), self.snapshot_len.get_mut(partition))
        {
            (*since, *len) = (0, snapshot_len);
        }
    }
}

/// Snapshots those of `candidates` that are due. Called under the coordinator's lock, after the
/// records of the current call were queued (`appended`: partition and end offset of each of
/// those appends), so every earlier record lies below the snapshot.
pub(super) fn compact_due(
    inner: &mut Inner,
    log: &OffsetsLog,
    appended: &[(i32, i64)],
    candidates: &[i32],
    now_ms: i64,
) {
    for &p in candidates {
        let Ok(index) = usize::try_from(p) else { continue };
        if !inner.compaction.due(index) {
            continue;
        }
        if inner.coordinator.has_open_transactions(p) {
            // Its transactional records and their markers must stay where they are until every
            // open transaction has ended (see the module docs); a later append tries again.
            continue;
        }
        let Ok(partition) = log.partition(p) else { continue };
        let records: Vec<_> = inner.coordinator.snapshot().into_iter().filter(|r| r.partition == p).collect();
        let snapshot_len = records.len() as u64;
        // The log start moves to the snapshot's first offset, or (nothing live in the partition)
        // past the end of what was queued so far.
        let (before, written_at) = if records.is_empty() {
            let end =
                appended.iter().find(|(q, _)| *q == p).map_or_else(|| partition.high_watermark(), |(_, end)| *end);
            (end, end)
        } else {
            match log.append(&records, now_ms) {
                Ok(mut pending) => match pending.pop() {
                    Some((_, append)) => (append.append.info.base_offset, append.append.info.last_offset + 1),
                    None => continue,
                },
                Err(error) => {
                    tracing::warn!(partition = p, %error, "cannot write an offsets snapshot");
                    continue;
                }
            }
        };
        inner.compaction.snapshotted(index, snapshot_len);
        tracing::info!(partition = p, records = snapshot_len, log_start = before, "snapshotting __consumer_offsets");
        move_log_start(Arc::clone(partition), before, written_at);
    }
}

/// Once the partition's high watermark reaches `written_at` (the snapshot is written), deletes
/// the records before `before`.
pub(crate) fn move_log_start(partition: Arc<Partition>, before: i64, written_at: i64) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no runtime to compact an internal topic on");
        return;
    };
    let partition_name = format!("{}-{}", partition.topic(), partition.partition());
    runtime.spawn(async move {
        let mut hw = partition.subscribe();
        while *hw.borrow_and_update() < written_at {
            if hw.changed().await.is_err() {
                return;
            }
        }
        let deleted = tokio::task::spawn_blocking(move || partition.delete_records(before)).await;
        match deleted {
            Ok(Ok(start)) => tracing::debug!(topic = %partition_name, log_start = start, "internal topic compacted"),
            Ok(Err(error)) => {
                tracing::warn!(topic = %partition_name, %error, "cannot move the internal topic's log start")
            }
            Err(error) => tracing::warn!(%error, "compaction task failed"),
        }
    });
}
