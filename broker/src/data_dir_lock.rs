//! The data directory's lock. Kafka takes an exclusive lock on a `.lock` file in each log
//! directory so that a second broker started on the same directory by mistake refuses to start
//! instead of "recovering" logs another process is writing; Strata does the same. The lock is an
//! advisory `flock` held for the life of the process, so the kernel releases it when the process
//! exits, however it exits (SIGKILL included), and a restarted broker takes it again. The file
//! holds the owner's pid so that the refusal can name the other process.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The lock file's name, as Kafka names it.
pub const LOCK_FILE_NAME: &str = ".lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("data directory {dir} is in use by another process{owner}; stop it or choose another --data-dir")]
    InUse { dir: PathBuf, owner: String },
    #[error("cannot lock data directory {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// An exclusive lock on a data directory, released when dropped or when the process exits.
#[derive(Debug)]
pub struct DataDirLock {
    _file: Flock<File>,
}

impl DataDirLock {
    /// Takes the lock on `dir` (which must exist) without waiting.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, LockError> {
        let path = dir.join(LOCK_FILE_NAME);
        let io = |source| LockError::Io { path: path.clone(), source };
        let file = File::options().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut pid = String::new();
                // The owner's pid is only for the message: a failed read leaves it out.
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                let owner = if pid.is_empty() { String::new() } else { format!(" (pid {pid})") };
                return Err(LockError::InUse { dir: dir.to_path_buf(), owner });
            }
            Err((_, errno)) => return Err(io(errno.into())),
        };
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DataDirLock::acquire(dir.path()).expect("first lock");
        match DataDirLock::acquire(dir.path()) {
            Err(LockError::InUse { owner, .. }) => assert_eq!(owner, format!(" (pid {})", std::process::id())),
            other => panic!("expected InUse, got {other:?}"),
        }
        drop(first);
        DataDirLock::acquire(dir.path()).expect("lock again after release");
    }
}
