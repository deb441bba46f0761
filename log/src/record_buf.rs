//! Buffers for the copy `append` makes of each record set (to rewrite its offsets), kept for reuse
//! after the writer is done with them.
//!
//! A produce request's partitions share one allocation, so `append` copies every record set. With
//! a fresh ~1 MiB allocation per copy, malloc handed the block back to the kernel after the write
//! and the next append faulted its pages in again, zero-filled: a quarter of the broker's CPU on
//! W2 (benches/RESULTS.md). Large copies therefore go into a buffer from a small process-wide
//! pool, returned when the last [`Bytes`] of it is dropped (on the writer thread, after the write).
//! The pool keeps at most [`POOLED_BYTES_MAX`] bytes, so it cannot hold on to memory beyond that.

use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

/// Record sets smaller than this are copied into an ordinary allocation (malloc's own free lists
/// serve those without page faults).
const POOLED_SET_BYTES_MIN: usize = 64 * 1024;
/// Most bytes of capacity the pool keeps; a returned buffer that would exceed it is freed.
const POOLED_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Free buffers and their total capacity.
struct Pool {
    free: Vec<Vec<u8>>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool { free: Vec::new(), bytes: 0 });

/// A copy of a record set, writable until [`RecordBuf::freeze`].
pub(crate) struct RecordBuf {
    data: Vec<u8>,
    pooled: bool,
}

impl RecordBuf {
    /// Copies `set`, into a pooled buffer if it is large.
    pub(crate) fn copy_of(set: &[u8]) -> RecordBuf {
        if set.len() < POOLED_SET_BYTES_MIN {
            return RecordBuf { data: set.to_vec(), pooled: false };
        }
        let mut data = take(set.len()).unwrap_or_else(|| Vec::with_capacity(set.len()));
        data.clear();
        data.extend_from_slice(set);
        RecordBuf { data, pooled: true }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// The bytes, for the writer; a pooled buffer goes back to the pool when they are dropped.
    pub(crate) fn freeze(mut self) -> Bytes {
        if self.pooled { Bytes::from_owner(self) } else { Bytes::from(std::mem::take(&mut self.data)) }
    }
}

impl AsRef<[u8]> for RecordBuf {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for RecordBuf {
    fn drop(&mut self) {
        if self.pooled {
            give_back(std::mem::take(&mut self.data));
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, Pool> {
    // The pool holds no invariant a panic could break beyond `bytes`, which only bounds memory.
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A pooled buffer that holds `len` bytes without growing (growing one would
/// reallocate it, up to twice the size, and fault the new pages in anyway).
fn take(len: usize) -> Option<Vec<u8>> {
    let mut pool = lock();
    let at = pool.free.iter().rposition(|buf| buf.capacity() >= len)?;
    let buf = pool.free.swap_remove(at);
    pool.bytes = pool.bytes.saturating_sub(buf.capacity());
    Some(buf)
}

fn give_back(buf: Vec<u8>) {
    let mut pool = lock();
    if pool.bytes + buf.capacity() <= POOLED_BYTES_MAX {
        pool.bytes += buf.capacity();
        pool.free.push(buf);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_copies_hold_the_bytes_written_through_them() {
        for len in [10, POOLED_SET_BYTES_MIN + 10] {
            let set: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut buf = RecordBuf::copy_of(&set);
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
        assert!(lock().bytes <= POOLED_BYTES_MAX);
        let again = RecordBuf::copy_of(&[9u8; POOLED_SET_BYTES_MIN]).freeze();
        assert!(again.iter().all(|&b| b == 9));
        let many: Vec<Bytes> = (0..64).map(|_| RecordBuf::copy_of(&set).freeze()).collect();
        drop(many);
        assert!(lock().bytes <= POOLED_BYTES_MAX);
    }
}
