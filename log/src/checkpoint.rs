//! The small files beside the segments: the clean-shutdown marker, the recovery point, the log
//! start offset and producer-state snapshots. Each is written to a temporary name and renamed, and
//! carries a CRC32C, so a crash leaves either the old or the new content, never a mix; a damaged or
//! missing file reads as `None` and the caller falls back to scanning.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::LogError;
use crate::io::power_cut;
use crate::offset::Offset;

pub(crate) const CLEAN_SHUTDOWN_FILE: &str = "clean-shutdown";
pub(crate) const RECOVERY_POINT_FILE: &str = "recovery-point";
pub(crate) const LOG_START_FILE: &str = "log-start-offset";
pub(crate) const SNAPSHOT_SUFFIX: &str = ".snapshot";
const TMP_SUFFIX: &str = ".tmp";

pub(crate) fn is_tmp(name: &str) -> bool {
    name.ends_with(TMP_SUFFIX)
}

/// Writes `bytes` to `path` atomically (temp file + rename); with `sync`, the file and the
/// directory are fsynced so the new content survives a crash.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], sync: bool) -> Result<(), LogError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    let mut file = File::create(&tmp).map_err(|e| LogError::io("create", &tmp, e))?;
    if let Err(e) = file.write_all(bytes) {
        let _ = std::fs::remove_file(&tmp); // a full disk: give back what was written
        return Err(LogError::io("write", &tmp, e));
    }
    if sync {
        file.sync_all().map_err(|e| LogError::io("fsync", &tmp, e))?;
        power_cut::path_synced(&tmp);
    } else {
        power_cut::created(&tmp);
    }
    std::fs::rename(&tmp, path).map_err(|e| LogError::io("rename", path, e))?;
    power_cut::renamed(&tmp, path);
    if sync && let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes a directory's entries (files created, renamed or removed in it) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    #[cfg(test)]
    synced_dirs::record(dir);
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| LogError::io("fsync directory", dir, e))?;
    power_cut::dir_synced(dir);
    Ok(())
}

/// fdatasyncs a file the writer does not own (a clean close).
pub(crate) fn sync_file(file: &File, path: &Path) -> Result<(), LogError> {
    file.sync_data().map_err(|e| LogError::io("fsync", path, e))?;
    power_cut::file_synced(file);
    Ok(())
}

/// Which directories were fsynced, for tests that check a new file's entry is made durable.
#[cfg(test)]
pub(crate) mod synced_dirs {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    static SYNCED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    pub(crate) fn record(dir: &Path) {
        SYNCED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(dir.to_path_buf());
    }

    /// How many times `dir` was fsynced so far.
    pub(crate) fn count(dir: &Path) -> usize {
        SYNCED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().filter(|d| d.as_path() == dir).count()
    }
}

/// Removes a file; a missing file is fine.
pub(crate) fn remove(path: &Path) -> Result<(), LogError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LogError::io("remove", path, e)),
        _ => Ok(()),
    }
}

/// An offset file: 8 bytes big-endian + CRC32C.
///
/// On a full disk (no room for the temporary file) an existing file is overwritten in place
/// instead: its 12 bytes lie in one block the file already owns, so this needs no space, and
/// retention or `delete_records` (which persist the log start before unlinking) can still free
/// space. A write torn by a crash there fails the CRC and reads as `None`, as a missing file does.
pub(crate) fn write_offset(path: &Path, offset: Offset, sync: bool) -> Result<(), LogError> {
    let mut bytes = offset.0.to_be_bytes().to_vec();
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_be_bytes());
    match write_atomic(path, &bytes, sync) {
        Err(LogError::Io { source, .. }) if crate::log_dir::is_disk_full(&source) && path.exists() => {
            overwrite(path, &bytes, sync)
        }
        result => result,
    }
}

fn overwrite(path: &Path, bytes: &[u8], sync: bool) -> Result<(), LogError> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| LogError::io("open", path, e))?;
    file.write_all_at(bytes, 0).map_err(|e| LogError::io("write", path, e))?;
    if sync {
        sync_file(&file, path)?;
    }
    Ok(())
}

pub(crate) fn read_offset(path: &Path) -> Option<Offset> {
    let bytes = std::fs::read(path).ok()?;
    let (value, crc) = bytes.split_first_chunk::<8>()?;
    let crc: [u8; 4] = crc.try_into().ok()?;
    (crc32c::crc32c(value) == u32::from_be_bytes(crc)).then(|| Offset(i64::from_be_bytes(*value)))
}

pub(crate) fn snapshot_path(dir: &Path, offset: Offset) -> PathBuf {
    dir.join(format!("{}{SNAPSHOT_SUFFIX}", crate::offset::segment_stem(offset)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_and_damage_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RECOVERY_POINT_FILE);
        assert_eq!(read_offset(&path), None);
        write_offset(&path, Offset(12345), true).unwrap();
        assert_eq!(read_offset(&path), Some(Offset(12345)));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_offset(&path), None);
        std::fs::write(&path, [0u8; 5]).unwrap();
        assert_eq!(read_offset(&path), None);
        remove(&path).unwrap();
        remove(&path).unwrap();
    }

    /// On a really full filesystem (a 64 KiB tmpfs, mounted where the test may mount: root, as on
    /// CI) an existing offset file is still updated, in place; a new one cannot be.
    #[test]
    fn offsets_are_written_on_a_full_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "strata-full-disk-test"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            eprintln!("offsets_are_written_on_a_full_disk: cannot mount a tmpfs here (not root); not run");
            return;
        }
        let path = dir.path().join(LOG_START_FILE);
        write_offset(&path, Offset(1), true).unwrap();
        let filler = dir.path().join("filler");
        let full = std::fs::write(&filler, vec![7u8; 1 << 20]).unwrap_err();
        let result = write_offset(&path, Offset(2), true);
        let fresh = write_offset(&dir.path().join(RECOVERY_POINT_FILE), Offset(3), true);
        let read_back = read_offset(&path);
        let tmp_left =
            std::fs::read_dir(dir.path()).unwrap().any(|e| is_tmp(&e.unwrap().file_name().to_string_lossy()));
        std::process::Command::new("umount").arg(dir.path()).status().unwrap();
        assert_eq!(full.raw_os_error(), Some(libc::ENOSPC));
        result.unwrap();
        assert_eq!(read_back, Some(Offset(2)));
        assert!(fresh.is_err(), "a new file cannot be made on a full disk");
        assert!(!tmp_left, "a failed temporary file is removed");
    }
}
