//! `meta/topics.json`, the registry's file before the metadata log: read once at start, written
//! into the metadata log as a snapshot, then removed, so data directories from before still open.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use uuid::Uuid;

use super::journal::JournalError;
use strata_cluster::Leadership;
use strata_cluster::image::{MetadataImage, TopicImage, creation};
use strata_log::durable_file::sync_parent;

pub const LEGACY_FILE: &str = "topics.json";

/// One topic as `topics.json` held it.
#[derive(Debug, Deserialize)]
struct LegacyTopic {
    name: String,
    id: Uuid,
    partitions: i32,
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    overrides: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    #[error("{0}")]
    Journal(#[from] JournalError),
    #[error("{path}: {reason}")]
    Unreadable { path: String, reason: String },
}

/// The image `meta/topics.json` in `dir` describes, every partition led by `node`; `None` if
/// there is no such file.
pub fn read(dir: &Path, node: i32) -> Result<Option<MetadataImage>, LegacyError> {
    let path = dir.join(LEGACY_FILE);
    let unreadable = |reason: String| LegacyError::Unreadable { path: path.display().to_string(), reason };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e.to_string())),
    };
    let topics: Vec<LegacyTopic> = serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?;
    let mut image = MetadataImage::default();
    for topic in topics {
        let count =
            usize::try_from(topic.partitions).map_err(|_| unreadable(format!("{} partitions", topic.partitions)))?;
        let topic = TopicImage {
            name: topic.name,
            id: topic.id,
            internal: topic.internal,
            partitions: vec![Leadership::single_node(node); count],
            overrides: topic.overrides,
        };
        image.apply_batch(&creation(&topic)).map_err(|e| unreadable(e.to_string()))?;
    }
    Ok(Some(image))
}

/// Removes `meta/topics.json` from `dir`, durably.
pub fn remove(dir: &Path) -> Result<(), LegacyError> {
    let path = dir.join(LEGACY_FILE);
    let io = |source| JournalError::Io { path: path.clone(), source };
    std::fs::remove_file(&path).map_err(io)?;
    sync_parent(&path).map_err(io)?;
    Ok(())
}
