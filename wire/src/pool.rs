//! Reusable large byte buffers that freeze into [`Bytes`] and come back when the last of those
//! bytes is dropped.
//!
//! The broker fills large buffers at a high rate (request frames, the log's copies of record
//! sets), each ~1 MiB on a produce-heavy load. With a fresh allocation each time, glibc handed the
//! block back to the kernel once it was freed and the next one faulted its pages in again,
//! zero-filled: page faults were a quarter to a third of the broker's CPU (benches/RESULTS.md).
//! A [`BufferPool`] keeps freed buffers instead, up to its own byte limit, so it cannot hold on to
//! memory beyond that. Small buffers (below the pool's `pooled_len_min`) are ordinary allocations
//! the pool never sees: malloc serves those from its free lists without faults.
//!
//! A pool is `const`-constructible, so each user keeps one in a `static`; buffers are returned
//! from whichever thread drops their last [`Bytes`] (a short critical section under a mutex).

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

/// A process-wide pool of large buffers; see the module comment.
pub struct BufferPool {
    /// Buffers asked for with a smaller length are not pooled.
    pooled_len_min: usize,
    /// Most bytes of capacity kept free; beyond it the oldest free buffers are released.
    bytes_max: usize,
    free: Mutex<Free>,
}

/// Free buffers, oldest first, and their total capacity.
struct Free {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

impl BufferPool {
    /// A pool for buffers of at least `pooled_len_min` bytes that keeps at most `bytes_max`
    /// bytes of free capacity.
    pub const fn new(pooled_len_min: usize, bytes_max: usize) -> BufferPool {
        BufferPool { pooled_len_min, bytes_max, free: Mutex::new(Free { buffers: Vec::new(), bytes: 0 }) }
    }

    /// An empty buffer with room for `len` bytes, so filling it up to `len` never reallocates
    /// (growing would reallocate, up to twice the size, and fault the new pages in anyway). A
    /// pooled buffer's spare capacity is not zeroed: it may hold an earlier user's bytes.
    pub fn take(&'static self, len: usize) -> PoolBuf {
        if len < self.pooled_len_min {
            return PoolBuf { data: Vec::with_capacity(len), pool: None };
        }
        let mut free = self.lock();
        // The smallest free buffer that fits, so a small request does not take a large one.
        let fit = (0..free.buffers.len())
            .filter(|&at| free.buffers[at].capacity() >= len)
            .min_by_key(|&at| free.buffers[at].capacity());
        let reused = fit.map(|at| free.buffers.remove(at));
        free.bytes -= reused.as_ref().map_or(0, Vec::capacity);
        drop(free);
        let mut data = reused.unwrap_or_else(|| Vec::with_capacity(self.capacity_for(len)));
        data.clear();
        PoolBuf { data, pool: Some(self) }
    }

    /// Bytes of capacity the pool holds free right now.
    pub fn free_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// The capacity of a new pooled buffer for `len` bytes: rounded up to an eighth of the next
    /// power of two, so that later requests of a slightly larger length (produce frames of one
    /// load vary by a few hundred bytes) still fit it, at most 1/8 more memory than asked for.
    /// A buffer the pool could never keep gets exactly `len`.
    fn capacity_for(&self, len: usize) -> usize {
        let step = (len.next_power_of_two() / 8).max(4096);
        let rounded = len.div_ceil(step).saturating_mul(step);
        if rounded <= self.bytes_max { rounded } else { len }
    }

    fn give_back(&self, buf: Vec<u8>) {
        if buf.capacity() > self.bytes_max {
            return;
        }
        let mut free = self.lock();
        free.bytes += buf.capacity();
        free.buffers.push(buf);
        // Release the oldest buffers rather than refuse this one, so the pool follows the sizes
        // in use now (a pool full of buffers too small for today's frames would never be used).
        // The buffers are dropped after the lock is released.
        let mut released = Vec::new();
        while free.bytes > self.bytes_max {
            let oldest = free.buffers.remove(0);
            free.bytes -= oldest.capacity();
            released.push(oldest);
        }
        drop(free);
        drop(released);
    }

    fn lock(&self) -> MutexGuard<'_, Free> {
        // The free list holds no invariant a panic could break beyond `bytes`, which only bounds
        // memory.
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A buffer from [`BufferPool::take`], writable (as a `Vec<u8>`) until [`PoolBuf::freeze`]. A
/// pooled one goes back to its pool when it is dropped, or when the last [`Bytes`] of it is.
pub struct PoolBuf {
    data: Vec<u8>,
    pool: Option<&'static BufferPool>,
}

impl PoolBuf {
    /// The bytes written so far, shareable; a pooled buffer returns to its pool when the last
    /// clone or slice of them is dropped.
    pub fn freeze(mut self) -> Bytes {
        if self.pool.is_some() { Bytes::from_owner(self) } else { Bytes::from(std::mem::take(&mut self.data)) }
    }

    /// Whether the buffer came from (and returns to) a pool.
    pub fn is_pooled(&self) -> bool {
        self.pool.is_some()
    }
}

impl Deref for PoolBuf {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.data
    }
}

impl DerefMut for PoolBuf {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.data
    }
}

impl AsRef<[u8]> for PoolBuf {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for PoolBuf {
    fn drop(&mut self) {
        if let Some(pool) = self.pool {
            pool.give_back(std::mem::take(&mut self.data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: usize = 64 * 1024;

    #[test]
    fn small_buffers_are_not_pooled_and_large_ones_hold_what_was_written() {
        static POOL: BufferPool = BufferPool::new(MIN, 1 << 20);
        for len in [10, MIN - 1, MIN, MIN + 10] {
            let mut buf = POOL.take(len);
            assert_eq!(buf.is_pooled(), len >= MIN, "len {len}");
            assert!(buf.is_empty() && buf.capacity() >= len);
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            buf.extend_from_slice(&data);
            let bytes = buf.freeze();
            assert_eq!(bytes[..], data[..]);
        }
    }

    #[test]
    fn a_buffer_returns_when_its_last_bytes_drop_and_is_reused() {
        static POOL: BufferPool = BufferPool::new(MIN, 1 << 20);
        let mut buf = POOL.take(MIN);
        buf.extend_from_slice(&[7u8; MIN]);
        let at = buf.as_ptr();
        let bytes = buf.freeze();
        let slice = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(POOL.free_bytes(), 0, "a live slice keeps the buffer");
        assert_eq!(slice[..], [7u8; 10]);
        drop(slice);
        assert!(POOL.free_bytes() >= MIN);
        let again = POOL.take(MIN);
        assert_eq!(again.as_ptr(), at, "the freed buffer is handed out again");
        assert!(again.is_empty());
        assert_eq!(POOL.free_bytes(), 0);
        drop(again);
        assert!(POOL.free_bytes() >= MIN, "an unfrozen buffer returns too");
    }

    #[test]
    fn take_picks_the_smallest_free_buffer_that_fits() {
        static POOL: BufferPool = BufferPool::new(MIN, 8 << 20);
        let (large, small) = (POOL.take(1 << 20), POOL.take(MIN));
        let (large_at, small_at) = (large.as_ptr(), small.as_ptr());
        drop((large, small));
        assert_eq!(POOL.take(MIN).as_ptr(), small_at);
        assert_eq!(POOL.take(MIN + 1).as_ptr(), large_at, "the small one is too small");
    }

    #[test]
    fn slightly_larger_requests_fit_a_rounded_up_buffer() {
        static POOL: BufferPool = BufferPool::new(MIN, 8 << 20);
        let first = POOL.take(1_000_000);
        let at = first.as_ptr();
        assert!(first.capacity() <= 1_000_000 + 1_000_000 / 8 + 4096);
        drop(first);
        assert_eq!(POOL.take(1_000_300).as_ptr(), at);
    }

    #[test]
    fn the_pool_keeps_at_most_its_limit_and_follows_the_sizes_in_use() {
        const MAX: usize = 1 << 20;
        static POOL: BufferPool = BufferPool::new(MIN, MAX);
        let many: Vec<PoolBuf> = (0..64).map(|_| POOL.take(MIN)).collect();
        drop(many);
        assert!(POOL.free_bytes() <= MAX);
        assert!(POOL.free_bytes() >= MAX - MIN, "it filled up to its limit");
        // A larger buffer pushes old small ones out instead of being refused.
        drop(POOL.take(MAX / 2));
        assert!(POOL.free_bytes() <= MAX);
        let big = POOL.take(MAX / 2);
        let at = big.as_ptr();
        drop(big);
        assert_eq!(POOL.take(MAX / 2).as_ptr(), at);
        // One larger than the whole limit is never kept.
        drop(POOL.take(MAX + 1));
        assert!(POOL.free_bytes() <= MAX);
    }
}
