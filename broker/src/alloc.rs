//! The broker's global allocator: the system allocator, except that huge blocks (1 GiB and up)
//! are mapped with `MAP_NORESERVE`, so that reserving one costs no memory until it is touched.
//!
//! Why: `kafka-protocol` decodes an array by first reserving capacity for the element count the
//! request claims (`Vec::with_capacity(n)`), before it has read a single element. A frame of a few
//! bytes that claims two billion topics would make the system allocator refuse hundreds of
//! gigabytes, and Rust aborts the process on a refused allocation: any client could kill the
//! broker. With this allocator the reservation succeeds without touching memory, the decoder then
//! runs out of bytes at the first missing element and returns an error, the block is unmapped, and
//! the connection is closed as Kafka closes it. Legitimate allocations never come near 1 GiB
//! (frames are bounded by `socket.request.max.bytes`).
//!
//! This is the only `unsafe` in the broker.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks at least this large are mapped lazily.
pub const HUGE_BLOCK_BYTES: usize = 1 << 30;
/// mmap returns page-aligned memory; larger alignments go to the system allocator.
const PAGE_BYTES: usize = 4096;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct LazyHugeBlocks;

fn is_huge(size: usize, align: usize) -> bool {
    size >= HUGE_BLOCK_BYTES && align <= PAGE_BYTES
}

// SAFETY: every method upholds GlobalAlloc's contract: huge blocks come from an anonymous
// private mapping of exactly `size` bytes (page-aligned, hence aligned for `align <= 4096`,
// zero-filled) and are returned with munmap of the same `size`, which GlobalAlloc guarantees is
// the size they were allocated with; every other block goes to `System` unchanged. A block's
// route depends only on its layout, so alloc and dealloc always take the same route.
unsafe impl GlobalAlloc for LazyHugeBlocks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_huge(layout.size(), layout.align()) {
            return map(layout.size());
        }
        // SAFETY: forwarded with the caller's guarantees (non-zero size layout).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_huge(layout.size(), layout.align()) {
            // Anonymous mappings are zero-filled.
            return map(layout.size());
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_huge(layout.size(), layout.align()) {
            // SAFETY: `ptr` was returned by `map(layout.size())` (same route, see above) and is
            // not used after this call. munmap cannot fail for a mapping we made.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
            return;
        }
        // SAFETY: forwarded with the caller's guarantees; the block came from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !is_huge(layout.size(), layout.align()) && !is_huge(new_size, layout.align()) {
            // SAFETY: forwarded with the caller's guarantees; both sides stay with `System`.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // Crossing the threshold: move the block between the two routes.
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        // SAFETY: `new_layout` has a non-zero size (realloc's contract) and a valid alignment.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct, and at least `min(old, new)` bytes long.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            // SAFETY: `ptr` was allocated by this allocator with `layout` and is not used again.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

/// Maps `size` bytes of lazily backed memory, or returns null (the allocator's failure value).
fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address the kernel chooses touches no existing
    // memory; the result is checked for MAP_FAILED before use.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED { std::ptr::null_mut() } else { ptr.cast() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_reservations_cost_nothing_until_touched() {
        let alloc = LazyHugeBlocks;
        // 512 GiB: far beyond this machine's memory, as a hostile array length would ask for.
        let layout = Layout::from_size_align(512 << 30, 8).expect("layout");
        // SAFETY: non-zero size; the block is written at both ends, then freed with its layout.
        unsafe {
            let ptr = alloc.alloc(layout);
            assert!(!ptr.is_null());
            *ptr = 1;
            *ptr.add(layout.size() - 1) = 2;
            assert_eq!(*ptr + *ptr.add(layout.size() - 1), 3);
            alloc.dealloc(ptr, layout);
        }
    }

    #[test]
    fn realloc_moves_blocks_across_the_threshold_keeping_contents() {
        let alloc = LazyHugeBlocks;
        let small = Layout::from_size_align(64, 8).expect("layout");
        // SAFETY: each pointer is used only while live and freed with the layout it now has.
        unsafe {
            let ptr = alloc.alloc(small);
            assert!(!ptr.is_null());
            std::ptr::write_bytes(ptr, 7, 64);
            let grown = alloc.realloc(ptr, small, HUGE_BLOCK_BYTES);
            assert!(!grown.is_null());
            assert_eq!(*grown.add(63), 7);
            let huge = Layout::from_size_align(HUGE_BLOCK_BYTES, 8).expect("layout");
            let shrunk = alloc.realloc(grown, huge, 32);
            assert!(!shrunk.is_null());
            assert_eq!(*shrunk.add(31), 7);
            alloc.dealloc(shrunk, Layout::from_size_align(32, 8).expect("layout"));
        }
    }
}
