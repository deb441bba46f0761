//! One drained batch: writes, then group-commit fdatasyncs, then one outcome per job.
//!
//! This is the policy shared by both backends; a [`Backend`] only knows how to issue many positioned
//! writes and many fdatasyncs at once. Fault injection ([`Faults`]) decides here, before the backend
//! runs, which bytes of a job reach it and which fsyncs fail, so both backends see the same faults.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use bytes::Bytes;

use super::faults::Faults;
use super::power_cut;
use super::{IoKind, StatCounters, WriteJob};

/// One positioned write of a whole buffer. `file` outlives the call (the batch's jobs hold it).
pub(crate) struct WriteOp<'a> {
    pub file: &'a File,
    pub position: u64,
    pub data: Bytes,
}

/// What the writer thread needs from an I/O mechanism.
pub(crate) trait Backend: Send {
    fn kind(&self) -> IoKind;
    /// Writes every op completely (resubmitting after short writes), each write moving at most
    /// `chunk_bytes_max` bytes. Returns one result per op, in order.
    fn write_all(&mut self, ops: &[WriteOp<'_>], chunk_bytes_max: usize, stats: &StatCounters) -> Vec<io::Result<()>>;
    /// fdatasyncs every file. Called only after every write of the batch completed.
    fn datasync(&mut self, files: &[&File], stats: &StatCounters) -> Vec<io::Result<()>>;
}

/// Runs one batch and returns each job's outcome, in job order.
pub(crate) fn execute(
    backend: &mut dyn Backend,
    faults: Option<&Faults>,
    jobs: &[WriteJob],
    stats: &StatCounters,
) -> Vec<io::Result<()>> {
    let chunk_bytes_max = faults.map_or(usize::MAX, Faults::chunk_bytes_max);
    let mut outcomes: Vec<Option<io::Error>> = jobs.iter().map(|_| None).collect();
    let mut op_of_job: Vec<Option<usize>> = vec![None; jobs.len()];
    let mut ops: Vec<WriteOp<'_>> = Vec::with_capacity(jobs.len());
    let mut process_died = faults.is_some_and(Faults::is_dead);

    for (index, job) in jobs.iter().enumerate() {
        if process_died {
            break; // a dead process writes nothing more
        }
        let mut write_len = job.data.len();
        if write_len > 0
            && let Some(faults) = faults
        {
            let decision = faults.on_write(write_len);
            write_len = decision.write_len;
            outcomes[index] = decision.error;
            process_died = decision.process_dies;
        }
        if write_len > 0 {
            op_of_job[index] = Some(ops.len());
            ops.push(WriteOp { file: &job.file, position: job.position, data: job.data.slice(..write_len) });
        }
    }

    let write_results = if ops.is_empty() { Vec::new() } else { backend.write_all(&ops, chunk_bytes_max, stats) };
    for (op, result) in ops.iter().zip(&write_results) {
        if result.is_ok() {
            power_cut::wrote(op.file, op.position, &op.data);
        }
    }

    if process_died {
        // Nothing of this batch is acknowledged and nothing is synced: the process is "gone".
        return jobs.iter().map(|_| Err(Faults::dead_error())).collect();
    }

    let sync_results = sync_files(backend, faults, jobs, stats);

    let mut failed_files: Vec<RawFd> = Vec::new();
    let mut results = Vec::with_capacity(jobs.len());
    for (index, job) in jobs.iter().enumerate() {
        let fd = job.file.as_raw_fd();
        let own_write = op_of_job[index].and_then(|op| write_results.get(op)).and_then(|r| r.as_ref().err());
        let result = if let Some(error) = outcomes[index].take() {
            failed_files.push(fd);
            Err(error)
        } else if let Some(error) = own_write {
            failed_files.push(fd);
            Err(duplicate_error(error))
        } else if failed_files.contains(&fd) {
            Err(io::Error::other("an earlier write to this file in the same batch failed"))
        } else if job.sync {
            match sync_results.get(&fd) {
                Some(Err(error)) => Err(FsyncFailed::wrap(error)),
                _ => Ok(()),
            }
        } else {
            Ok(())
        };
        results.push(result);
    }
    results
}

/// One fdatasync per distinct file any job asked to sync (group commit), keyed by fd.
fn sync_files(
    backend: &mut dyn Backend,
    faults: Option<&Faults>,
    jobs: &[WriteJob],
    stats: &StatCounters,
) -> HashMap<RawFd, io::Result<()>> {
    let mut results: HashMap<RawFd, io::Result<()>> = HashMap::new();
    let mut to_sync: Vec<&File> = Vec::new();
    for job in jobs.iter().filter(|job| job.sync) {
        let fd = job.file.as_raw_fd();
        if results.contains_key(&fd) || to_sync.iter().any(|file| file.as_raw_fd() == fd) {
            continue;
        }
        if let Some(errno) = faults.and_then(Faults::on_fsync) {
            results.insert(fd, Err(io::Error::from_raw_os_error(errno)));
        } else {
            to_sync.push(&job.file);
        }
    }
    if !to_sync.is_empty() {
        let synced = backend.datasync(&to_sync, stats);
        for (file, result) in to_sync.iter().zip(synced) {
            if result.is_ok() {
                power_cut::file_synced(file);
            }
            results.insert(file.as_raw_fd(), result);
        }
    }
    results
}

/// A job's error that came from its fdatasync, not its write: the owner of the file must not
/// retry (after a failed fsync the kernel may have dropped the dirty pages and marked them clean,
/// so a second fsync can succeed without the data: PostgreSQL's "fsyncgate"). Found in a job's
/// error with [`FsyncFailed::of`].
#[derive(Debug, thiserror::Error)]
#[error("fdatasync failed: {source}")]
pub struct FsyncFailed {
    pub source: io::Error,
}

impl FsyncFailed {
    fn wrap(error: &io::Error) -> io::Error {
        io::Error::new(error.kind(), FsyncFailed { source: duplicate_error(error) })
    }

    /// The fdatasync error inside a job's error, if its fsync (not its write) failed.
    pub fn of(error: &io::Error) -> Option<&io::Error> {
        error.get_ref().and_then(|inner| inner.downcast_ref::<FsyncFailed>()).map(|failed| &failed.source)
    }
}

/// `io::Error` is not `Clone`; one failed fsync answers many jobs.
pub(crate) fn duplicate_error(error: &io::Error) -> io::Error {
    match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(error.kind(), error.to_string()),
    }
}
