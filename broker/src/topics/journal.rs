//! The metadata log on disk, in `<data_dir>/meta/`:
//! - `metadata.snapshot`: the whole metadata image as of a compaction, written to a temporary
//!   file, fsynced, renamed into place and the directory fsynced, so it is always whole.
//! - `metadata.log`: the batches of records appended since. Each append is fsynced before the
//!   change it records is answered; a crash mid-append leaves a torn last frame, which fails its
//!   length or CRC check and is cut off when the log is opened.
//!
//! Both files start with a `LogStart { generation }` record. Compaction writes the snapshot of
//! generation g+1, then replaces the log with an empty one of generation g+1; a crash between the
//! two leaves a log of generation g, which is already folded into the snapshot and is discarded.
//! One `MetadataLog` is owned by the topic registry, which serialises every change through it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::frame::{self, FrameError};
use strata_cluster::image::{ApplyError, MetadataImage};
use strata_cluster::records::MetadataRecord;
use strata_log::durable_file::write_atomically;

pub const LOG_FILE: &str = "metadata.log";
pub const SNAPSHOT_FILE: &str = "metadata.snapshot";
/// Size of the log past which the change that crosses it also compacts it into a new snapshot.
pub const LOG_BYTES_MAX: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Frame { path: PathBuf, source: FrameError },
    #[error("{path}: {source}")]
    Apply { path: PathBuf, source: ApplyError },
    #[error("{path}: {reason}")]
    Layout { path: PathBuf, reason: &'static str },
    #[error("an earlier write to the metadata log could not be undone; restart the broker")]
    Broken,
}

#[derive(Debug)]
pub struct MetadataLog {
    dir: PathBuf,
    /// The log file, opened for appending.
    file: File,
    /// Bytes of whole frames in the log file.
    log_bytes: u64,
    generation: u64,
    compact_bytes: u64,
    has_snapshot: bool,
    /// Set when a failed append or compaction could not be undone: the file may hold a torn frame
    /// or be older than the snapshot, and an append after it would be lost at replay.
    broken: bool,
}

impl MetadataLog {
    /// Opens (or creates) the metadata log in `dir` and replays the snapshot and the log. A torn
    /// tail is cut off; compaction happens once the log holds `compact_bytes`.
    pub fn open(dir: &Path, compact_bytes: u64) -> Result<(MetadataLog, MetadataImage), JournalError> {
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        let mut image = MetadataImage::default();
        let (generation, has_snapshot) = match read_if_present(&snapshot_path)? {
            None => (0, false),
            Some(bytes) => {
                let scanned = frame::scan(&bytes).map_err(|source| frame_error(&snapshot_path, source))?;
                if scanned.valid_bytes != bytes.len() {
                    return Err(layout(
                        &snapshot_path,
                        "the snapshot is damaged (it is only ever renamed into place whole)",
                    ));
                }
                let (generation, batches) = split_start(&scanned.batches)
                    .ok_or_else(|| layout(&snapshot_path, "the snapshot does not start with its generation"))?;
                replay(&mut image, batches, &snapshot_path)?;
                (generation, true)
            }
        };
        let log_path = dir.join(LOG_FILE);
        let bytes = read_if_present(&log_path)?.unwrap_or_default();
        let scanned = frame::scan(&bytes).map_err(|source| frame_error(&log_path, source))?;
        let start = split_start(&scanned.batches);
        let mut log = MetadataLog {
            dir: dir.to_path_buf(),
            file: open_append(&log_path)?,
            log_bytes: 0,
            generation,
            compact_bytes,
            has_snapshot,
            broken: false,
        };
        match start {
            Some((log_generation, batches)) if log_generation == generation => {
                replay(&mut image, batches, &log_path)?;
                let valid = u64::try_from(scanned.valid_bytes).expect("file length fits u64");
                if scanned.valid_bytes < bytes.len() {
                    tracing::warn!(
                        path = %log_path.display(),
                        dropped_bytes = bytes.len() - scanned.valid_bytes,
                        "metadata log ends in a torn record (a crash during an append); cutting it off"
                    );
                    log.file.set_len(valid).and_then(|()| log.file.sync_all()).map_err(|e| io(&log_path, e))?;
                }
                log.log_bytes = valid;
            }
            Some((log_generation, _)) if log_generation < generation => {
                tracing::info!(path = %log_path.display(), "metadata log predates the snapshot; starting a new one");
                log.start_log()?;
            }
            Some(_) => return Err(layout(&log_path, "the log is newer than the snapshot")),
            None if scanned.valid_bytes == 0 => log.start_log()?,
            None => return Err(layout(&log_path, "the log does not start with its generation")),
        }
        Ok((log, image))
    }

    pub fn has_snapshot(&self) -> bool {
        self.has_snapshot
    }

    /// Appends `batch` and fsyncs it; `after` is the image with the batch applied, which becomes
    /// the next snapshot if the log has grown past its limit. Once this returns `Ok` the change
    /// survives a crash; on `Err` it is not in the log.
    pub fn append(&mut self, batch: &[MetadataRecord], after: &MetadataImage) -> Result<(), JournalError> {
        if self.broken {
            return Err(JournalError::Broken);
        }
        let path = self.dir.join(LOG_FILE);
        let frame = frame::encode(batch).map_err(|source| frame_error(&path, source))?;
        if let Err(e) = self.file.write_all(&frame).and_then(|()| self.file.sync_data()) {
            // Cut off what part of the frame reached the file, or appends after it would be lost.
            if self.file.set_len(self.log_bytes).and_then(|()| self.file.sync_all()).is_err() {
                self.broken = true;
            }
            return Err(io(&path, e));
        }
        self.log_bytes += u64::try_from(frame.len()).expect("frame length fits u64");
        if self.log_bytes >= self.compact_bytes
            && let Err(error) = self.compact(after)
        {
            // The change itself is durable in the log; compaction is tried again on the next one.
            tracing::warn!(%error, "metadata log compaction failed");
        }
        Ok(())
    }

    /// Writes `image` as the snapshot of the next generation and starts an empty log after it.
    pub fn compact(&mut self, image: &MetadataImage) -> Result<(), JournalError> {
        if self.broken {
            return Err(JournalError::Broken);
        }
        let path = self.dir.join(SNAPSHOT_FILE);
        let generation = self.generation + 1;
        let mut bytes = Vec::new();
        for batch in std::iter::once(vec![MetadataRecord::LogStart { generation }]).chain(image.snapshot()) {
            bytes.extend(frame::encode(&batch).map_err(|source| frame_error(&path, source))?);
        }
        write_atomically(&path, &bytes).map_err(|e| io(&path, e))?;
        self.has_snapshot = true;
        self.generation = generation;
        // The old log is now stale: anything appended to it would be discarded at replay.
        self.start_log().inspect_err(|_| self.broken = true)
    }

    /// Replaces the log with one holding only its `LogStart` record.
    fn start_log(&mut self) -> Result<(), JournalError> {
        let path = self.dir.join(LOG_FILE);
        let frame = frame::encode(&[MetadataRecord::LogStart { generation: self.generation }])
            .map_err(|source| frame_error(&path, source))?;
        write_atomically(&path, &frame).map_err(|e| io(&path, e))?;
        self.file = open_append(&path)?;
        self.log_bytes = u64::try_from(frame.len()).expect("frame length fits u64");
        Ok(())
    }
}

/// The generation of a file's first batch, when that batch is exactly its `LogStart` record, and
/// the batches after it.
fn split_start(batches: &[Vec<MetadataRecord>]) -> Option<(u64, &[Vec<MetadataRecord>])> {
    let (first, rest) = batches.split_first()?;
    match first.as_slice() {
        [MetadataRecord::LogStart { generation }] => Some((*generation, rest)),
        _ => None,
    }
}

fn replay(image: &mut MetadataImage, batches: &[Vec<MetadataRecord>], path: &Path) -> Result<(), JournalError> {
    for batch in batches {
        image.apply_batch(batch).map_err(|source| JournalError::Apply { path: path.to_path_buf(), source })?;
    }
    Ok(())
}

fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, JournalError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path, e)),
    }
}

fn open_append(path: &Path) -> Result<File, JournalError> {
    File::options().create(true).append(true).open(path).map_err(|e| io(path, e))
}

fn io(path: &Path, source: std::io::Error) -> JournalError {
    JournalError::Io { path: path.to_path_buf(), source }
}

fn frame_error(path: &Path, source: FrameError) -> JournalError {
    JournalError::Frame { path: path.to_path_buf(), source }
}

fn layout(path: &Path, reason: &'static str) -> JournalError {
    JournalError::Layout { path: path.to_path_buf(), reason }
}
