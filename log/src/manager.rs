//! `LogManager`: one data directory, one writer, the partitions open in it.
//!
//! Partition directories are `<data_dir>/<topic>-<partition>`, as in Kafka. The manager keeps the
//! open partitions so `shutdown` can close them all cleanly before the writer stops.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::config::{LogConfig, LogOptions};
use crate::error::LogError;
use crate::io::{IoKind, Writer, WriterOptions};
use crate::log_dir::LogDirHealth;
use crate::partition::{DirShared, OpenFiles, Partition};

/// Longest topic name Kafka allows.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;

/// `(topic, partition)`.
type PartitionKey = (String, i32);

pub struct LogManager {
    data_dir: PathBuf,
    writer: Writer,
    shared: DirShared,
    partitions: Mutex<HashMap<PartitionKey, Arc<Partition>>>,
    /// One lock per partition name, held while it is opened or deleted, so different partitions
    /// open in parallel but one partition is never opened twice at once.
    name_locks: Mutex<HashMap<PartitionKey, Arc<Mutex<()>>>>,
}

impl std::fmt::Debug for LogManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogManager").field("data_dir", &self.data_dir).finish_non_exhaustive()
    }
}

fn check_topic(topic: &str) -> Result<(), LogError> {
    let ok = !topic.is_empty()
        && topic.len() <= TOPIC_NAME_BYTES_MAX
        && topic != "."
        && topic != ".."
        && topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(LogError::InvalidTopic(topic.to_string())) }
}

impl LogManager {
    /// Starts the writer (io_uring, or the fallback with a warning) for `data_dir`.
    pub fn open(data_dir: &Path, options: LogOptions) -> Result<LogManager, LogError> {
        let writer = Writer::start(WriterOptions {
            queue_depth_max: options.queue_depth_max.max(1),
            force_fallback: options.force_fallback_io,
            ..WriterOptions::default()
        })?;
        LogManager::with_writer(data_dir, options, writer)
    }

    /// Like `open`, with a writer the caller started (tests: a writer with injected faults).
    pub fn with_writer(data_dir: &Path, options: LogOptions, writer: Writer) -> Result<LogManager, LogError> {
        std::fs::create_dir_all(data_dir).map_err(|e| LogError::io("create data directory", data_dir, e))?;
        Ok(LogManager {
            data_dir: data_dir.to_path_buf(),
            writer,
            shared: DirShared {
                files: Arc::new(OpenFiles { open: AtomicUsize::new(0), max: options.open_files_max }),
                health: Arc::new(LogDirHealth::new(data_dir)),
            },
            partitions: Mutex::new(HashMap::new()),
            name_locks: Mutex::new(HashMap::new()),
        })
    }

    fn partitions(&self) -> MutexGuard<'_, HashMap<PartitionKey, Arc<Partition>>> {
        self.partitions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn name_lock(&self, key: &PartitionKey) -> Arc<Mutex<()>> {
        let mut locks = self.name_locks.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(locks.entry(key.clone()).or_default())
    }

    pub fn io_kind(&self) -> IoKind {
        self.writer.kind()
    }

    /// Why the data directory is offline for writes (a failed fsync or write took it offline; see
    /// `log_dir`), if it is. Reads go on; writes need a restart.
    pub fn storage_offline(&self) -> Option<Arc<std::io::Error>> {
        self.shared.health.offline_cause().cloned()
    }

    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{partition}"))
    }

    /// Opens (creating if missing) `<data_dir>/<topic>-<partition>`, recovering it if it was not
    /// shut down cleanly. Opening an open partition returns the same `Arc` (the config is applied).
    /// Blocks on file I/O (call it from a blocking context); different partitions may be opened
    /// from several threads at once.
    pub fn open_partition(
        &self,
        topic: &str,
        partition: i32,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Arc<Partition>, LogError> {
        check_topic(topic)?;
        if partition < 0 {
            return Err(LogError::InvalidTopic(format!("{topic}-{partition}")));
        }
        let key = (topic.to_string(), partition);
        let name_lock = self.name_lock(&key);
        let _opening = name_lock.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = self.partitions().get(&key) {
            p.set_config(config);
            return Ok(Arc::clone(p));
        }
        let dir = self.partition_dir(topic, partition);
        let p = Arc::new(Partition::open(&dir, topic, partition, config, self.writer.clone(), &self.shared, now_ms)?);
        self.partitions().insert(key, Arc::clone(&p));
        Ok(p)
    }

    /// `(topic, partition)` of every partition directory under the data dir.
    pub fn partitions_on_disk(&self) -> Result<Vec<(String, i32)>, LogError> {
        let dir = &self.data_dir;
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| LogError::io("list data directory", dir, e))? {
            let entry = entry.map_err(|e| LogError::io("list data directory", dir, e))?;
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((topic, partition)) = name.rsplit_once('-') else { continue };
            let Ok(partition) = partition.parse::<i32>() else { continue };
            if partition >= 0 && check_topic(topic).is_ok() {
                out.push((topic.to_string(), partition));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Closes the partition (waiting for its in-flight writes) and removes its directory.
    pub fn delete_partition(&self, topic: &str, partition: i32) -> Result<(), LogError> {
        check_topic(topic)?;
        let key = (topic.to_string(), partition);
        let name_lock = self.name_lock(&key);
        let _deleting = name_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let removed = self.partitions().remove(&key);
        if let Some(p) = removed {
            p.close(false)?;
        }
        let dir = self.partition_dir(topic, partition);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LogError::io("delete partition", dir, e)),
            _ => Ok(()),
        }
    }

    /// Closes every partition cleanly (fsync, clean-shutdown markers), then stops the writer.
    /// Partitions close on a few threads at once (each close is a handful of fsyncs that the disk
    /// can overlap). Every partition is attempted; the first error is returned.
    pub fn shutdown(&self) -> Result<(), LogError> {
        let partitions: Vec<_> = self.partitions().drain().map(|(_, p)| p).collect();
        let chunk = partitions.len().div_ceil(SHUTDOWN_THREADS).max(1);
        let errors: Vec<LogError> = std::thread::scope(|scope| {
            let handles: Vec<_> = partitions
                .chunks(chunk)
                .map(|group| {
                    scope.spawn(move || group.iter().filter_map(|p| close_logged(p).err()).collect::<Vec<_>>())
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        });
        self.writer.stop();
        errors.into_iter().next().map_or(Ok(()), Err)
    }
}

/// Threads `shutdown` closes partitions on.
const SHUTDOWN_THREADS: usize = 8;

fn close_logged(p: &Partition) -> Result<(), LogError> {
    p.close(true).inspect_err(|e| {
        tracing::error!(topic = p.topic(), partition = p.partition(), error = %e, "clean close failed");
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_are_checked() {
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(250)] {
            assert!(check_topic(bad).is_err(), "{bad:?}");
        }
        for good in ["orders", "a.b_c-d", &"x".repeat(249)] {
            assert!(check_topic(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn partitions_on_disk_lists_partition_dirs_only() {
        let dir = tempfile::tempdir().unwrap();
        let manager =
            LogManager::open(dir.path(), LogOptions { force_fallback_io: true, ..LogOptions::default() }).unwrap();
        manager.open_partition("my-topic", 3, LogConfig::default(), 0).unwrap();
        manager.open_partition("b", 0, LogConfig::default(), 0).unwrap();
        std::fs::create_dir(dir.path().join("meta")).unwrap();
        std::fs::write(dir.path().join("x-1"), b"file").unwrap();
        assert_eq!(manager.partitions_on_disk().unwrap(), vec![("b".into(), 0), ("my-topic".into(), 3)]);
        manager.delete_partition("b", 0).unwrap();
        assert_eq!(manager.partitions_on_disk().unwrap(), vec![("my-topic".into(), 3)]);
        assert!(manager.open_partition("bad/topic", 0, LogConfig::default(), 0).is_err());
        manager.shutdown().unwrap();
    }
}
