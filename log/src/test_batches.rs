//! Test support: the log's tests' record batches, from the test kit's builder.

use bytes::Bytes;
use strata_testkit::batches::Batch;

/// One uncompressed batch of `n` records (100-byte values) at base offset `base`, all with
/// timestamp `ts`, from producer `pid` (-1: not idempotent) with `epoch` and first sequence `seq`.
pub(crate) fn batch_from(base: i64, n: usize, ts: i64, pid: i64, epoch: i16, seq: i32) -> Bytes {
    batch_timestamps(base, &vec![ts; n], pid, epoch, seq)
}

/// Like [`batch_from`], one record per entry of `timestamps`.
pub(crate) fn batch_timestamps(base: i64, timestamps: &[i64], pid: i64, epoch: i16, seq: i32) -> Bytes {
    let batch = timestamps.iter().fold(Batch::new(), |batch, ts| batch.record(None, Some(&[b'v'; 100]), *ts));
    let batch = batch.base_offset(base).leader_epoch(0);
    if pid >= 0 { batch.producer(pid, epoch, seq) } else { batch }.encode()
}
