//! The one place in the log (outside `io/`) that uses `unsafe`: mapping index files into memory.
//!
//! Invariant callers keep: a mapped file is never shortened while a mapping of it is alive
//! ([`IndexFile`](crate::index_file::IndexFile) drops its map before every `set_len`), and index
//! files live inside the partition directory that only this process writes.
#![allow(unsafe_code)]

use std::fs::File;

use memmap2::{MmapMut, MmapOptions};

/// Maps the first `len` bytes of `file` read-write and shared. `len` must be > 0 and at most the
/// file's length.
pub(crate) fn map_mut(file: &File, len: usize) -> std::io::Result<MmapMut> {
    // SAFETY: memmap2 requires that the file is not truncated or modified outside this mapping
    // while it is alive, or reads could fault (SIGBUS) or see torn data. The file is an index in a
    // partition directory owned by this process; the only writer is the owning `IndexFile`, which
    // writes through this mapping and unmaps before any `set_len`, and `len` is within the file.
    unsafe { MmapOptions::new().len(len).map_mut(file) }
}
