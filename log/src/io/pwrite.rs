//! The fallback backend: positioned writes and fdatasync as plain system calls on the writer thread.
//!
//! Used when io_uring cannot be set up (old kernel, seccomp, `io_uring_disabled`) or is not wanted.
//! Slower than the ring only by the number of system calls; the batching and group commit above it
//! are the same.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;

use super::batch::{Backend, WriteOp};
use super::{IoKind, StatCounters};

pub(crate) struct PwriteBackend;

impl Backend for PwriteBackend {
    fn kind(&self) -> IoKind {
        IoKind::Fallback
    }

    fn write_all(&mut self, ops: &[WriteOp<'_>], chunk_bytes_max: usize, stats: &StatCounters) -> Vec<io::Result<()>> {
        ops.iter().map(|op| write_op(op, chunk_bytes_max, stats)).collect()
    }

    fn datasync(&mut self, files: &[&File], stats: &StatCounters) -> Vec<io::Result<()>> {
        files
            .iter()
            .map(|file| {
                stats.fsyncs.fetch_add(1, Ordering::Relaxed);
                file.sync_data()
            })
            .collect()
    }
}

/// `write_all_at`, but counting calls and short writes.
fn write_op(op: &WriteOp<'_>, chunk_bytes_max: usize, stats: &StatCounters) -> io::Result<()> {
    let mut written = 0usize;
    while written < op.data.len() {
        let end = op.data.len().min(written.saturating_add(chunk_bytes_max.max(1)));
        stats.writes.fetch_add(1, Ordering::Relaxed);
        match op.file.write_at(&op.data[written..end], op.position + written as u64) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => written += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
        if written < op.data.len() {
            stats.write_resubmits.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}
