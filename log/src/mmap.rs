//! The one place in the log (outside `io/`) that uses `unsafe`: mapping index files into memory.
//!
//! Invariant callers keep: a mapped file is never shortened while a mapping of it is alive
//! ([`IndexFile`](crate::index_file::IndexFile) drops its map before every `set_len`), and index
//! files live inside the partition directory that only this process writes.
#![allow(unsafe_code)]

use std::fs::File;

use memmap2::{Advice, MmapMut, MmapOptions};

/// Maps the first `len` bytes of `file` read-write and shared. `len` must be > 0 and at most the
/// file's length.
///
/// The mapping is advised `MADV_RANDOM`: an active index is a sparse file preallocated to
/// `segment.index.bytes` (10 MiB), and without the hint the first write fault reads ahead (large
/// folios, zero-filled from the hole) far past the page being written. With a thousand
/// partitions that zero-filling was two thirds of the broker's CPU (see benches/RESULTS.md).
pub(crate) fn map_mut(file: &File, len: usize) -> std::io::Result<MmapMut> {
    // SAFETY: memmap2 requires that the file is not truncated or modified outside this mapping
    // while it is alive, or reads could fault (SIGBUS) or see torn data. The file is an index in a
    // partition directory owned by this process; the only writer is the owning `IndexFile`, which
    // writes through this mapping and unmaps before any `set_len`, and `len` is within the file.
    let map = unsafe { MmapOptions::new().len(len).map_mut(file) }?;
    if let Err(error) = map.advise(Advice::Random) {
        // Only a readahead hint: the index works without it.
        tracing::debug!(%error, "madvise(MADV_RANDOM) on an index mapping failed");
    }
    Ok(map)
}
