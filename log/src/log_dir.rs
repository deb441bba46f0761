//! The health of the data directory, shared by the manager and every partition in it.
//!
//! Kafka takes a whole log directory offline on an I/O error (its `LogDirFailureChannel`), and so
//! does Strata: one failed fdatasync, or one failed write other than a full disk, takes every
//! partition of the directory offline for writes. Appends then fail with
//! [`LogError::StorageOffline`] (the broker answers `KAFKA_STORAGE_ERROR`), appends still in flight
//! fail when they complete, reads of what was written before go on, and only a restart (whose
//! recovery re-reads the files) brings writes back. Nothing is retried: after a failed fsync the
//! kernel may have dropped the dirty pages and marked them clean, so a retried fsync can succeed
//! without the data (PostgreSQL's "fsyncgate").
//!
//! A write that finds the disk full (`ENOSPC`, `EDQUOT`) is not such a failure: nothing of it is
//! in the page cache to lose, so only that partition's append fails and the partition resumes when
//! space comes back (see `Partition::rewind`).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::error::LogError;

#[derive(Debug)]
pub(crate) struct LogDirHealth {
    dir: PathBuf,
    /// The failure that took the directory offline; set once, never cleared.
    offline: OnceLock<Arc<io::Error>>,
}

impl LogDirHealth {
    pub(crate) fn new(dir: &Path) -> LogDirHealth {
        LogDirHealth { dir: dir.to_path_buf(), offline: OnceLock::new() }
    }

    /// Takes the directory offline for writes (the first cause is kept and logged).
    pub(crate) fn take_offline(&self, cause: io::Error, during: &str) {
        if self.offline.set(Arc::new(cause)).is_ok()
            && let Some(cause) = self.offline.get()
        {
            tracing::error!(dir = %self.dir.display(), error = %cause, during, "log directory is offline for writes until restart");
        }
    }

    /// Why the directory is offline, if it is.
    pub(crate) fn offline_cause(&self) -> Option<&Arc<io::Error>> {
        self.offline.get()
    }

    /// `StorageOffline` once the directory is offline.
    pub(crate) fn check(&self) -> Result<(), LogError> {
        match self.offline.get() {
            Some(source) => Err(LogError::StorageOffline { dir: self.dir.clone(), source: Arc::clone(source) }),
            None => Ok(()),
        }
    }
}

/// Whether a write failed because the disk (or the quota) is full.
pub(crate) fn is_disk_full(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
        || error.kind() == io::ErrorKind::StorageFull
        || error.kind() == io::ErrorKind::QuotaExceeded
}
