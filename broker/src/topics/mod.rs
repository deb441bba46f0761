//! The topic registry: names, topic ids, partition logs, each partition's leadership and the
//! per-topic setting overrides. Every change is a batch of metadata records appended (and
//! fsynced) to the metadata log before it takes effect, so a restart finds every topic a client
//! was told exists; at start the log is replayed and partition directories are opened from it.
//!
//! - The metadata records, the image they replay to and partition leadership are
//!   `strata_cluster`'s ([`strata_cluster::records`], [`strata_cluster::image`],
//!   [`strata_cluster::leadership`]); here [`frame`]: their framing on disk; [`journal`]: the
//!   snapshot and log files; [`legacy`]: `topics.json` migration.
//! - [`names`]: topic name rules; [`settings`]: topic setting values.

mod error;
mod frame;
mod journal;
mod legacy;
mod names;
mod settings;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use strata_cluster::UsableBroker;
use strata_log::{LogConfig, LogManager, Partition};
use uuid::Uuid;

use crate::config::BrokerConfig;
pub use error::TopicError;
use journal::{JournalError, LOG_BYTES_MAX, MetadataLog};
pub use names::{is_internal_name, validate_name};
pub use settings::{TopicValueSource, log_config, topic_value, validate_overrides};
pub use strata_cluster::Leadership;
use strata_cluster::image::{MetadataImage, TopicImage, config_changes, creation};
use strata_cluster::records::MetadataRecord;

/// Most partitions one topic may have.
pub const PARTITIONS_MAX: i32 = 10_000;

/// One topic as it is served now. Immutable: a change builds a new `Topic` and swaps it in.
#[derive(Debug)]
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub internal: bool,
    /// Topic settings set on this topic (CreateTopics configs, IncrementalAlterConfigs), by Kafka name.
    pub overrides: BTreeMap<String, String>,
    pub partitions: Vec<Arc<Partition>>,
    /// Each partition's leadership, by partition index (as long as `partitions`).
    leadership: Vec<Leadership>,
}

impl Topic {
    fn new(image: &TopicImage, partitions: Vec<Arc<Partition>>) -> Topic {
        assert_eq!(image.partitions.len(), partitions.len(), "a log for every partition of {}", image.name);
        Topic {
            name: image.name.clone(),
            id: image.id,
            internal: image.internal,
            overrides: image.overrides.clone(),
            partitions,
            leadership: image.partitions.clone(),
        }
    }

    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        usize::try_from(index).ok().and_then(|i| self.partitions.get(i))
    }

    /// The leadership of partition `index`.
    pub fn leadership(&self, index: i32) -> Option<&Leadership> {
        usize::try_from(index).ok().and_then(|i| self.leadership.get(i))
    }

    pub fn partition_count(&self) -> i32 {
        i32::try_from(self.partitions.len()).expect("at most PARTITIONS_MAX partitions")
    }
}

/// What CreateTopics (or auto-creation) asks for.
#[derive(Debug, Clone)]
pub struct NewTopic<'a> {
    pub name: &'a str,
    pub partitions: i32,
    pub replication_factor: i32,
    pub overrides: BTreeMap<String, String>,
    pub internal: bool,
}

/// The metadata log and the image it replays to, changed together under one lock.
#[derive(Debug)]
struct Metadata {
    log: MetadataLog,
    image: MetadataImage,
}

/// All topics of this broker.
pub struct Topics {
    /// This node: the leader and only replica of every partition it creates.
    node: i32,
    /// This node's `broker.rack`, for placement.
    rack: Option<String>,
    by_name: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Held for the whole of each change, so changes reach the log in the order they take effect.
    change: Mutex<Metadata>,
}

impl std::fmt::Debug for Topics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topics").field("node", &self.node).finish_non_exhaustive()
    }
}

impl Topics {
    /// Replays the metadata log (migrating `topics.json` first if the data directory has one) and
    /// opens every partition log it names, recovering any that were not shut down cleanly.
    pub fn load(log: &LogManager, config: &BrokerConfig, now_ms: i64) -> Result<Topics, TopicError> {
        let meta_dir = config.data_dir.join("meta");
        std::fs::create_dir_all(&meta_dir).map_err(|e| TopicError::Storage(format!("{}: {e}", meta_dir.display())))?;
        let node = config.settings.node_id;
        let (journal, image) = MetadataLog::open(&meta_dir, LOG_BYTES_MAX).map_err(storage)?;
        let mut metadata = Metadata { log: journal, image };
        migrate_legacy(&meta_dir, node, &mut metadata)?;
        lead_everything(node, &mut metadata)?;
        let mut by_name = BTreeMap::new();
        for image in metadata.image.topics() {
            let log_config = log_config(config, &image.overrides);
            let partitions = open_partitions(log, &image.name, 0..image.partitions.len(), &log_config, now_ms)?;
            by_name.insert(image.name.clone(), Arc::new(Topic::new(image, partitions)));
        }
        Ok(Topics { node, rack: config.settings.rack(), by_name: RwLock::new(by_name), change: Mutex::new(metadata) })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.read().get(name).cloned()
    }

    pub fn by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.read().values().find(|t| t.id == id).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Topic>> {
        self.read().values().cloned().collect()
    }

    /// Checks everything CreateTopics checks, without creating anything.
    pub fn check_new(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i32,
        overrides: &BTreeMap<String, String>,
    ) -> Result<(), TopicError> {
        self.check_new_name(name)?;
        validate_overrides(overrides)?;
        if !(1..=PARTITIONS_MAX).contains(&partitions) {
            return Err(TopicError::InvalidPartitions {
                count: partitions,
                reason: format!("must be between 1 and {PARTITIONS_MAX}"),
            });
        }
        self.place(0, 1, replication_factor)?;
        Ok(())
    }

    /// Where new partitions `first..first + count` of a topic go, replicated `replication_factor`
    /// times, over the brokers that may take replicas: so far this node alone. Kafka's random
    /// start, so that topics do not all begin on one broker.
    fn place(&self, first: i32, count: i32, replication_factor: i32) -> Result<Vec<Vec<i32>>, TopicError> {
        let usable = [UsableBroker { id: self.node, rack: self.rack.clone() }];
        let seed = Uuid::new_v4().as_u64_pair().0;
        Ok(strata_cluster::place(&usable, first, count, replication_factor, seed)?)
    }

    /// Checks a new topic's name as Kafka's controller does, in its order: valid, not colliding
    /// with an existing topic once '.' and '_' are treated alike (their metric names would
    /// clash), not already existing.
    pub fn check_new_name(&self, name: &str) -> Result<(), TopicError> {
        validate_name(name)?;
        let topics = self.read();
        let normalized = name.replace('.', "_");
        if let Some(existing) = topics.keys().find(|t| t.as_str() != name && t.replace('.', "_") == normalized) {
            return Err(TopicError::Collides { name: name.to_string(), existing: existing.clone() });
        }
        if topics.contains_key(name) {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        Ok(())
    }

    /// Creates a topic: records it, then creates its partition logs.
    pub fn create(
        &self,
        log: &LogManager,
        config: &BrokerConfig,
        new: NewTopic<'_>,
        now_ms: i64,
    ) -> Result<Arc<Topic>, TopicError> {
        let NewTopic { name, partitions, replication_factor, overrides, internal } = new;
        let mut metadata = self.lock_changes();
        self.check_new(name, partitions, replication_factor, &overrides)?;
        let count = usize::try_from(partitions).expect("checked to be positive");
        let placed = self.place(0, partitions, replication_factor)?;
        let image = TopicImage {
            name: name.to_string(),
            id: Uuid::new_v4(),
            internal,
            partitions: placed.into_iter().map(Leadership::new_partition).collect(),
            overrides,
        };
        commit(&mut metadata, creation(&image))?;
        let logs = open_partitions(log, name, 0..count, &log_config(config, &image.overrides), now_ms)?;
        let topic = Arc::new(Topic::new(&image, logs));
        self.write().insert(name.to_string(), Arc::clone(&topic));
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Deletes a topic and its partition logs.
    pub fn delete(&self, log: &LogManager, name: &str) -> Result<Arc<Topic>, TopicError> {
        let mut metadata = self.lock_changes();
        let topic = self.get(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        commit(&mut metadata, vec![MetadataRecord::RemoveTopic { topic_id: topic.id }])?;
        self.write().remove(name);
        for index in 0..topic.partition_count() {
            log.delete_partition(name, index).map_err(|e| TopicError::Storage(e.to_string()))?;
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic)
    }

    /// Grows a topic to `count` partitions.
    pub fn add_partitions(
        &self,
        log: &LogManager,
        config: &BrokerConfig,
        name: &str,
        count: i32,
        now_ms: i64,
    ) -> Result<(), TopicError> {
        let mut metadata = self.lock_changes();
        let topic = self.get(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let current = topic.partition_count();
        if count <= current || count > PARTITIONS_MAX {
            return Err(TopicError::InvalidPartitions {
                count,
                reason: format!(
                    "topic '{name}' has {current} partitions; the new count must be larger and at most {PARTITIONS_MAX}"
                ),
            });
        }
        let replication_factor = topic.leadership.first().map_or(1, |l| i32::try_from(l.replicas.len()).unwrap_or(1));
        let added = (current..)
            .zip(self.place(current, count - current, replication_factor)?)
            .map(|(partition_id, replicas)| MetadataRecord::Partition {
                topic_id: topic.id,
                partition_id,
                leadership: Leadership::new_partition(replicas),
            })
            .collect();
        commit(&mut metadata, added)?;
        let image = metadata.image.topic(topic.id).expect("the topic was just changed");
        let range = topic.partitions.len()..image.partitions.len();
        let mut partitions = topic.partitions.clone();
        partitions.extend(open_partitions(log, name, range, &log_config(config, &topic.overrides), now_ms)?);
        self.write().insert(name.to_string(), Arc::new(Topic::new(image, partitions)));
        Ok(())
    }

    /// Replaces a topic's setting overrides and applies them to its partition logs.
    pub fn set_overrides(
        &self,
        config: &BrokerConfig,
        name: &str,
        overrides: BTreeMap<String, String>,
    ) -> Result<(), TopicError> {
        self.update_overrides::<TopicError>(config, name, |_| Ok(overrides)).map(|_| ())
    }

    /// Computes a topic's new setting overrides from its current ones with `change`, records them
    /// and applies them to its partition logs. `change` runs under the change lock, so concurrent
    /// IncrementalAlterConfigs requests never lose each other's updates.
    pub fn update_overrides<E: From<TopicError>>(
        &self,
        config: &BrokerConfig,
        name: &str,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, E>,
    ) -> Result<Arc<Topic>, E> {
        let mut metadata = self.lock_changes();
        let topic = self.get(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let overrides = change(&topic.overrides)?;
        validate_overrides(&overrides)?;
        let changes = config_changes(topic.id, &topic.overrides, &overrides);
        if !changes.is_empty() {
            commit(&mut metadata, changes)?;
        }
        let log_config = log_config(config, &overrides);
        for partition in &topic.partitions {
            partition.set_config(log_config);
        }
        let image = metadata.image.topic(topic.id).expect("the topic is in the image");
        let updated = Arc::new(Topic::new(image, topic.partitions.clone()));
        self.write().insert(name.to_string(), Arc::clone(&updated));
        Ok(updated)
    }

    fn lock_changes(&self) -> std::sync::MutexGuard<'_, Metadata> {
        self.change.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Topic>>> {
        self.by_name.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Topic>>> {
        self.by_name.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Applies `batch` to a copy of the image, appends it durably, then keeps the copy: the image
/// changes only once the log holds the change.
fn commit(metadata: &mut Metadata, batch: Vec<MetadataRecord>) -> Result<(), TopicError> {
    let mut next = metadata.image.clone();
    next.apply_batch(&batch).map_err(|e| TopicError::Storage(format!("metadata change does not apply: {e}")))?;
    metadata.log.append(&batch, &next).map_err(storage)?;
    metadata.image = next;
    Ok(())
}

/// Moves `topics.json` from before the metadata log into it, once.
fn migrate_legacy(meta_dir: &Path, node: i32, metadata: &mut Metadata) -> Result<(), TopicError> {
    let legacy = legacy::read(meta_dir, node).map_err(|e| TopicError::Storage(e.to_string()))?;
    let Some(image) = legacy else { return Ok(()) };
    // With a snapshot present, an earlier start already migrated it and stopped before removing it.
    if !metadata.log.has_snapshot() {
        if !metadata.image.is_empty() {
            return Err(TopicError::Storage(format!(
                "{}: both {} and a metadata log hold topics",
                meta_dir.display(),
                legacy::LEGACY_FILE
            )));
        }
        metadata.log.compact(&image).map_err(storage)?;
        tracing::info!(topics = image.topics().count(), "moved {} into the metadata log", legacy::LEGACY_FILE);
        metadata.image = image;
    }
    legacy::remove(meta_dir).map_err(|e| TopicError::Storage(e.to_string()))
}

/// A single node leads every partition. If the metadata names another leader (`node.id` changed
/// since it was written), this node takes the partition over in the next leader epoch, as a
/// recorded change.
fn lead_everything(node: i32, metadata: &mut Metadata) -> Result<(), TopicError> {
    let mut taken_over = Vec::new();
    for topic in metadata.image.topics() {
        for (partition_id, leadership) in (0..).zip(&topic.partitions) {
            if leadership.is_led_by(node) && leadership.replicas == [node] {
                continue;
            }
            let leader_epoch = leadership.leader_epoch.checked_add(1).ok_or_else(|| {
                TopicError::Storage(format!("{}-{partition_id}: leader epoch {} is the last", topic.name, i32::MAX))
            })?;
            let leadership = Leadership { leader_epoch, ..Leadership::single_node(node) };
            taken_over.push(MetadataRecord::Partition { topic_id: topic.id, partition_id, leadership });
        }
    }
    if taken_over.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        node,
        partitions = taken_over.len(),
        "partitions were led by another node id; this node takes them over"
    );
    commit(metadata, taken_over)
}

fn storage(error: JournalError) -> TopicError {
    TopicError::Storage(error.to_string())
}

fn open_partitions(
    log: &LogManager,
    name: &str,
    indexes: std::ops::Range<usize>,
    config: &LogConfig,
    now_ms: i64,
) -> Result<Vec<Arc<Partition>>, TopicError> {
    indexes
        .map(|i| {
            let i = i32::try_from(i).expect("at most PARTITIONS_MAX partitions");
            log.open_partition(name, i, *config, now_ms).map_err(|e| TopicError::Storage(format!("{name}-{i}: {e}")))
        })
        .collect()
}
