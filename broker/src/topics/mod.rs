//! The topic registry: names, topic ids, partition logs, each partition's leadership and the
//! per-topic setting overrides. Every change is a batch of metadata records committed before it
//! takes effect, so a restart finds every topic a client was told exists: on a single node to its
//! metadata journal (appended and fsynced, replayed at start), in a cluster through the Raft
//! quorum (`strata_quorum`), whose image every member applies. Either way the registry then
//! reconciles itself with the image ([`Topics::reconcile`]): it serves each topic of the image and
//! opens the logs of the partitions this node holds a replica of; in a cluster a background task
//! reconciles after every change another member commits.
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
use strata_log::{LogManager, Partition};
use strata_quorum::{ProposeError, Quorum};
use uuid::Uuid;

use crate::config::BrokerConfig;
pub use error::TopicError;
use journal::{JournalError, LOG_BYTES_MAX, MetadataLog};
pub use names::{is_internal_name, validate_name};
pub use settings::{TopicValueSource, log_config, topic_value, validate_overrides};
pub use strata_cluster::Leadership;
use strata_cluster::image::{MetadataImage, TopicImage, config_changes, creation, group_config_changes};
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
    /// Each partition's log, by partition index, where this node holds a replica of it.
    partitions: Vec<Option<Arc<Partition>>>,
    /// Each partition's leadership, by partition index (as long as `partitions`).
    leadership: Vec<Leadership>,
}

impl Topic {
    fn new(image: &TopicImage, partitions: Vec<Option<Arc<Partition>>>) -> Topic {
        assert_eq!(image.partitions.len(), partitions.len(), "a slot for every partition of {}", image.name);
        Topic {
            name: image.name.clone(),
            id: image.id,
            internal: image.internal,
            overrides: image.overrides.clone(),
            partitions,
            leadership: image.partitions.clone(),
        }
    }

    /// Partition `index`'s log, if this node holds a replica of it.
    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        usize::try_from(index).ok().and_then(|i| self.partitions.get(i)).and_then(Option::as_ref)
    }

    /// The logs this node holds, with their partition index.
    pub fn hosted(&self) -> impl Iterator<Item = (i32, &Arc<Partition>)> {
        (0..).zip(&self.partitions).filter_map(|(index, log)| log.as_ref().map(|log| (index, log)))
    }

    /// Whether this topic is served as `image` describes it.
    fn matches(&self, image: &TopicImage) -> bool {
        self.id == image.id
            && self.internal == image.internal
            && self.leadership == image.partitions
            && self.overrides == image.overrides
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

/// Where changes are committed: a single node's journal, or a cluster's quorum.
enum Store {
    Journal(MetadataLog),
    Quorum(Arc<Quorum>),
}

/// The store and the image it holds, changed together under one lock.
struct Metadata {
    store: Store,
    image: MetadataImage,
}

/// How long a cluster member waits for its quorum to commit and apply a change.
const QUORUM_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// All topics of this broker.
pub struct Topics {
    /// This node: on a single node the leader and only replica of every partition.
    node: i32,
    /// This node's `broker.rack`, for placement.
    rack: Option<String>,
    by_name: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// The image `by_name` was built from, for what is served beside the topics (a cluster's
    /// brokers), so that Metadata never names a broker's fencing before its partitions' new
    /// leaders, or the other way round.
    served: RwLock<Arc<MetadataImage>>,
    /// Whether changes go through a cluster's quorum.
    cluster: bool,
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
        let mut metadata = Metadata { store: Store::Journal(journal), image };
        migrate_legacy(&meta_dir, node, &mut metadata)?;
        lead_everything(node, &mut metadata)?;
        Topics::serve(log, config, metadata, now_ms)
    }

    /// The registry of a cluster member: what its quorum has applied so far. Later changes reach
    /// it through [`Topics::reconcile`] (see `crate::cluster`).
    pub fn load_cluster(
        log: &LogManager,
        config: &BrokerConfig,
        quorum: Arc<Quorum>,
        now_ms: i64,
    ) -> Result<Topics, TopicError> {
        let image = MetadataImage::clone(&quorum.view().borrow().image);
        Topics::serve(log, config, Metadata { store: Store::Quorum(quorum), image }, now_ms)
    }

    fn serve(log: &LogManager, config: &BrokerConfig, metadata: Metadata, now_ms: i64) -> Result<Topics, TopicError> {
        let topics = Topics {
            node: config.settings.node_id,
            rack: config.settings.rack(),
            by_name: RwLock::new(BTreeMap::new()),
            served: RwLock::new(Arc::new(MetadataImage::default())),
            cluster: matches!(metadata.store, Store::Quorum(_)),
            change: Mutex::new(metadata),
        };
        let metadata = topics.lock_changes();
        topics.reconcile_with(log, config, &metadata.image, now_ms)?;
        drop(metadata);
        Ok(topics)
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
        self.check_new_locked(&self.lock_changes(), name, partitions, replication_factor, overrides)
    }

    fn check_new_locked(
        &self,
        metadata: &Metadata,
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
        self.place(metadata, 0, 1, replication_factor)?;
        Ok(())
    }

    /// Where new partitions `first..first + count` of a topic go, replicated `replication_factor`
    /// times, over the brokers that may take replicas: this node alone on a single node, the
    /// unfenced brokers of a cluster. Kafka's random start, so that topics do not all begin on
    /// one broker.
    fn place(
        &self,
        metadata: &Metadata,
        first: i32,
        count: i32,
        replication_factor: i32,
    ) -> Result<Vec<Vec<i32>>, TopicError> {
        let usable: Vec<UsableBroker> = match &metadata.store {
            Store::Journal(_) => vec![UsableBroker { id: self.node, rack: self.rack.clone() }],
            Store::Quorum(_) => metadata
                .image
                .brokers()
                .filter(|b| !b.fenced)
                .map(|b| UsableBroker { id: b.broker_id, rack: b.rack.clone() })
                .collect(),
        };
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

    /// Creates a topic: commits it, then serves it and creates the logs of its partitions this
    /// node holds.
    pub fn create(
        &self,
        log: &LogManager,
        config: &BrokerConfig,
        new: NewTopic<'_>,
        now_ms: i64,
    ) -> Result<Arc<Topic>, TopicError> {
        let NewTopic { name, partitions, replication_factor, overrides, internal } = new;
        let mut metadata = self.lock_changes();
        self.check_new_locked(&metadata, name, partitions, replication_factor, &overrides)?;
        let placed = self.place(&metadata, 0, partitions, replication_factor)?;
        let image = TopicImage {
            name: name.to_string(),
            id: Uuid::new_v4(),
            internal,
            partitions: placed.into_iter().map(Leadership::new_partition).collect(),
            overrides,
        };
        match self.commit(log, config, &mut metadata, creation(&image), now_ms) {
            // Another member created it first (the check above saw this member's older image).
            Err(TopicError::Quorum(_)) if metadata.image.topic_named(name).is_some_and(|t| t.id != image.id) => {
                return Err(TopicError::AlreadyExists(name.to_string()));
            }
            outcome => outcome?,
        }
        tracing::info!(topic = name, partitions, "created topic");
        self.get(name).ok_or_else(|| TopicError::Unknown(name.to_string()))
    }

    /// The topic `new` names, created if it does not exist yet (by this member, or by another
    /// that got there first).
    pub fn get_or_create(
        &self,
        log: &LogManager,
        config: &BrokerConfig,
        new: NewTopic<'_>,
        now_ms: i64,
    ) -> Result<Arc<Topic>, TopicError> {
        if let Some(topic) = self.get(new.name) {
            return Ok(topic);
        }
        let name = new.name;
        match self.create(log, config, new, now_ms) {
            Err(TopicError::AlreadyExists(_)) => self.get(name).ok_or_else(|| TopicError::Unknown(name.to_string())),
            outcome => outcome,
        }
    }

    /// Deletes a topic and its partition logs.
    pub fn delete(&self, log: &LogManager, config: &BrokerConfig, name: &str) -> Result<Arc<Topic>, TopicError> {
        let mut metadata = self.lock_changes();
        let topic = self.get(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let remove = vec![MetadataRecord::RemoveTopic { topic_id: topic.id }];
        self.commit(log, config, &mut metadata, remove, 0)?;
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
            .zip(self.place(&metadata, current, count - current, replication_factor)?)
            .map(|(partition_id, replicas)| MetadataRecord::Partition {
                topic_id: topic.id,
                partition_id,
                leadership: Leadership::new_partition(replicas),
            })
            .collect();
        self.commit(log, config, &mut metadata, added, now_ms)
    }

    /// Replaces a topic's setting overrides and applies them to its partition logs.
    pub fn set_overrides(
        &self,
        log: &LogManager,
        config: &BrokerConfig,
        name: &str,
        overrides: BTreeMap<String, String>,
    ) -> Result<(), TopicError> {
        self.update_overrides::<TopicError>(log, config, name, |_| Ok(overrides)).map(|_| ())
    }

    /// Computes a topic's new setting overrides from its current ones with `change`, records them
    /// and applies them to its partition logs. `change` runs under the change lock, so concurrent
    /// IncrementalAlterConfigs requests never lose each other's updates.
    pub fn update_overrides<E: From<TopicError>>(
        &self,
        log: &LogManager,
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
            self.commit(log, config, &mut metadata, changes, 0)?;
        }
        Ok(self.get(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?)
    }

    /// Group `group_id`'s settings that differ from the broker's defaults (group configs).
    pub fn group_configs(&self, group_id: &str) -> BTreeMap<String, String> {
        let served = self.served.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        served.group_configs(group_id).cloned().unwrap_or_default()
    }

    /// Computes group `group_id`'s new settings from its current ones with `change` (under the
    /// change lock, as [`Topics::update_overrides`]) and records them.
    pub fn update_group_configs<E: From<TopicError>>(
        &self,
        log: &LogManager,
        config: &BrokerConfig,
        group_id: &str,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, E>,
    ) -> Result<(), E> {
        let mut metadata = self.lock_changes();
        let current = metadata.image.group_configs(group_id).cloned().unwrap_or_default();
        let changes = group_config_changes(group_id, &current, &change(&current)?);
        if !changes.is_empty() {
            self.commit(log, config, &mut metadata, changes, 0)?;
        }
        Ok(())
    }

    /// Runs `decide` on the image under the change lock, with which brokers are live (this node
    /// alone on a single node, the unfenced brokers of a cluster), and commits the records it
    /// returns (an operator's leader election); its other result is returned as it is.
    pub fn change_partitions<R>(
        &self,
        log: &LogManager,
        config: &BrokerConfig,
        decide: impl FnOnce(&MetadataImage, &dyn Fn(i32) -> bool) -> (Vec<MetadataRecord>, R),
    ) -> Result<R, TopicError> {
        let mut metadata = self.lock_changes();
        let (records, result) = match &metadata.store {
            Store::Journal(_) => decide(&metadata.image, &|broker| broker == self.node),
            Store::Quorum(_) => {
                let image = &metadata.image;
                decide(image, &|broker| image.broker(broker).is_some_and(|b| !b.fenced))
            }
        };
        if !records.is_empty() {
            self.commit(log, config, &mut metadata, records, 0)?;
        }
        Ok(result)
    }

    /// Serves what a cluster member's quorum has applied since the last reconcile (changes other
    /// members committed). A no-op on a single node, whose changes all pass through `commit`.
    pub fn reconcile(&self, log: &LogManager, config: &BrokerConfig, now_ms: i64) -> Result<(), TopicError> {
        let mut metadata = self.lock_changes();
        let Store::Quorum(quorum) = &metadata.store else { return Ok(()) };
        let latest = Arc::clone(&quorum.view().borrow().image);
        if *latest == metadata.image {
            return Ok(());
        }
        metadata.image = MetadataImage::clone(&latest);
        self.reconcile_with(log, config, &metadata.image, now_ms)
    }

    /// The image the served topics were built from, in a cluster (`None` on a single node).
    pub fn cluster_image(&self) -> Option<Arc<MetadataImage>> {
        let served = Arc::clone(&self.served.read().unwrap_or_else(std::sync::PoisonError::into_inner));
        self.cluster.then_some(served)
    }

    /// Commits `batch`, then serves the image it gives. On a single node the journal holds the
    /// change before the image does; in a cluster the quorum commits and applies it first.
    fn commit(
        &self,
        log: &LogManager,
        config: &BrokerConfig,
        metadata: &mut Metadata,
        batch: Vec<MetadataRecord>,
        now_ms: i64,
    ) -> Result<(), TopicError> {
        match &metadata.store {
            Store::Journal(_) => commit_to_journal(metadata, batch)?,
            Store::Quorum(quorum) => {
                let quorum = Arc::clone(quorum);
                // Applied here too before the image is read: a refused change was refused because
                // of what came before it (another member's), which this member must then serve.
                let committed = crate::blocking::wait(async {
                    let (offset, refused) = match quorum.propose(batch).await {
                        Ok(applied) => (applied.offset, None),
                        Err(ProposeError::Refused { offset, reason }) => (offset, Some(reason)),
                        Err(error) => return Err(error),
                    };
                    quorum.wait_applied(offset, QUORUM_WAIT).await.map(|view| (view, refused))
                });
                let (view, refused) = match committed {
                    Some(Ok(outcome)) => outcome,
                    Some(Err(error)) => return Err(quorum_error(error)),
                    None => return Err(TopicError::Quorum("not on the broker's runtime".into())),
                };
                metadata.image = MetadataImage::clone(&view.image);
                if let Some(reason) = refused {
                    self.reconcile_with(log, config, &metadata.image, now_ms)?;
                    return Err(TopicError::Quorum(format!("the change was refused: {reason}")));
                }
            }
        }
        self.reconcile_with(log, config, &metadata.image, now_ms)
    }

    /// Makes the served topics those of `image`: topics gone are dropped with their logs, new
    /// and changed ones served as the image has them, with logs opened for the partitions this
    /// node holds a replica of (and deleted for those it no longer holds, after a reassignment)
    /// and each log's settings from the topic's overrides.
    fn reconcile_with(
        &self,
        log: &LogManager,
        config: &BrokerConfig,
        image: &MetadataImage,
        now_ms: i64,
    ) -> Result<(), TopicError> {
        let current = self.read().clone();
        let mut next = BTreeMap::new();
        // Removed topics first: a topic re-created under the same name reuses the directories.
        for (name, topic) in &current {
            if image.topic(topic.id).is_none() {
                for (index, _) in topic.hosted() {
                    log.delete_partition(name, index).map_err(|e| TopicError::Storage(e.to_string()))?;
                }
            }
        }
        for wanted in image.topics() {
            let existing = current.get(&wanted.name).filter(|t| t.id == wanted.id);
            if let Some(topic) = existing.filter(|t| t.matches(wanted)) {
                next.insert(wanted.name.clone(), Arc::clone(topic));
                continue;
            }
            let log_config = log_config(config, &wanted.overrides);
            let mut partitions = Vec::with_capacity(wanted.partitions.len());
            for (index, leadership) in (0..).zip(&wanted.partitions) {
                let had = existing.and_then(|t| t.partition(index)).cloned();
                let hosts = leadership.replicas.contains(&self.node);
                let slot = match had {
                    Some(partition) if hosts => {
                        partition.set_config(log_config);
                        Some(partition)
                    }
                    Some(_) => {
                        // A reassignment moved this replica away: its log goes (Kafka's StopReplica
                        // with deletion).
                        log.delete_partition(&wanted.name, index).map_err(|e| TopicError::Storage(e.to_string()))?;
                        tracing::info!(topic = %wanted.name, partition = index, "replica moved away; its log is deleted");
                        None
                    }
                    None if hosts => Some(
                        log.open_partition(&wanted.name, index, log_config, now_ms)
                            .map_err(|e| TopicError::Storage(format!("{}-{index}: {e}", wanted.name)))?,
                    ),
                    None => None,
                };
                partitions.push(slot);
            }
            next.insert(wanted.name.clone(), Arc::new(Topic::new(wanted, partitions)));
        }
        *self.served.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(image.clone());
        *self.write() = next;
        Ok(())
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

fn quorum_error(error: ProposeError) -> TopicError {
    TopicError::Quorum(error.to_string())
}

/// Applies `batch` to a copy of the image, appends it to the journal, then keeps the copy: the
/// image changes only once the journal holds the change.
fn commit_to_journal(metadata: &mut Metadata, batch: Vec<MetadataRecord>) -> Result<(), TopicError> {
    let Store::Journal(journal) = &mut metadata.store else {
        return Err(TopicError::Storage("a single node's start-up step in a cluster".into()));
    };
    let mut next = metadata.image.clone();
    next.apply_batch(&batch).map_err(|e| TopicError::Storage(format!("metadata change does not apply: {e}")))?;
    journal.append(&batch, &next).map_err(storage)?;
    metadata.image = next;
    Ok(())
}

/// Moves `topics.json` from before the metadata log into it, once.
fn migrate_legacy(meta_dir: &Path, node: i32, metadata: &mut Metadata) -> Result<(), TopicError> {
    let legacy = legacy::read(meta_dir, node).map_err(|e| TopicError::Storage(e.to_string()))?;
    let Some(image) = legacy else { return Ok(()) };
    // With a snapshot present, an earlier start already migrated it and stopped before removing it.
    if !matches!(&metadata.store, Store::Journal(journal) if journal.has_snapshot()) {
        if !metadata.image.is_empty() {
            return Err(TopicError::Storage(format!(
                "{}: both {} and a metadata log hold topics",
                meta_dir.display(),
                legacy::LEGACY_FILE
            )));
        }
        if let Store::Journal(journal) = &mut metadata.store {
            journal.compact(&image).map_err(storage)?;
        }
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
    commit_to_journal(metadata, taken_over)
}

fn storage(error: JournalError) -> TopicError {
    TopicError::Storage(error.to_string())
}
