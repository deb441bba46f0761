//! Buffers for the copy `append` makes of each record set (to rewrite its offsets), kept for reuse
//! after the writer is done with them.
//!
//! A produce request's partitions share one allocation, so `append` copies every record set. With
//! a fresh ~1 MiB allocation per copy, malloc handed the block back to the kernel after the write
//! and the next append faulted its pages in again, zero-filled: a quarter of the broker's CPU on
//! W2 (benches/RESULTS.md). Large copies therefore go into a buffer from a small process-wide
//! [`BufferPool`], returned when the last [`Bytes`] of it is dropped (on the writer thread, after
//! the write). The pool keeps at most [`POOLED_BYTES_MAX`] bytes, so it cannot hold on to memory
//! beyond that.

use bytes::Bytes;
use strata_wire::pool::{BufferPool, PoolBuf};

/// Record sets smaller than this are copied into an ordinary allocation (malloc's own free lists
/// serve those without page faults).
const POOLED_SET_BYTES_MIN: usize = 64 * 1024;
/// Most bytes of free capacity the pool keeps.
const POOLED_BYTES_MAX: usize = 8 * 1024 * 1024;

static POOL: BufferPool = BufferPool::new(POOLED_SET_BYTES_MIN, POOLED_BYTES_MAX);

/// A copy of a record set, writable until [`RecordBuf::freeze`].
pub(crate) struct RecordBuf(PoolBuf);

impl RecordBuf {
    /// Copies `set`, into a pooled buffer if it is large.
    pub(crate) fn copy_of(set: &[u8]) -> RecordBuf {
        let mut buf = POOL.take(set.len());
        buf.extend_from_slice(set);
        RecordBuf(buf)
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// The bytes, for the writer; a pooled buffer goes back to the pool when they are dropped.
    pub(crate) fn freeze(self) -> Bytes {
        self.0.freeze()
    }
}

impl AsRef<[u8]> for RecordBuf {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_copies_hold_the_bytes_written_through_them() {
        for len in [10, POOLED_SET_BYTES_MIN + 10] {
            let set: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut buf = RecordBuf::copy_of(&set);
            assert_eq!(buf.0.is_pooled(), len >= POOLED_SET_BYTES_MIN);
            buf.as_mut_slice()[0] = 0xAB;
            let bytes = buf.freeze();
            assert_eq!(bytes.len(), len);
            assert_eq!(bytes[0], 0xAB);
            assert_eq!(&bytes[1..], &set[1..]);
        }
    }

    #[test]
    fn a_large_buffer_returns_to_the_pool_when_its_bytes_drop_and_the_pool_stays_bounded() {
        let set = vec![7u8; POOLED_SET_BYTES_MIN];
        let bytes = RecordBuf::copy_of(&set).freeze();
        let clone = bytes.clone();
        drop(bytes);
        assert_eq!(clone[..], set[..], "a live clone keeps the buffer");
        drop(clone);
        // Other tests share the pool: check only the bound and that reuse hands back the copy.
        assert!(POOL.free_bytes() <= POOLED_BYTES_MAX);
        let again = RecordBuf::copy_of(&[9u8; POOLED_SET_BYTES_MIN]).freeze();
        assert!(again.iter().all(|&b| b == 9));
        let many: Vec<Bytes> = (0..256).map(|_| RecordBuf::copy_of(&set).freeze()).collect();
        drop(many);
        assert!(POOL.free_bytes() <= POOLED_BYTES_MAX);
        assert!(POOL.free_bytes() > 0, "large copies are kept for reuse");
    }
}
