//! The topic registry: names, topic ids, partition logs and per-topic setting overrides. Changes
//! are written to `<data_dir>/meta/topics.json` (write, fsync, rename) before they take effect, so
//! a restart finds every topic a client was told exists; partition directories are then opened or
//! created from it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use strata_log::{LogConfig, LogManager, Partition, TimestampType};
use uuid::Uuid;

use crate::config::BrokerConfig;
use crate::config_defs::{broker_default_for_topic, topic_setting};

/// Longest topic name Kafka accepts.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;
/// Most partitions one topic may have.
pub const PARTITIONS_MAX: i32 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("topic '{0}' already exists")]
    AlreadyExists(String),
    #[error("topic '{0}' does not exist")]
    Unknown(String),
    #[error("invalid topic name '{name}': {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("Topic '{name}' collides with existing topic: {existing}")]
    Collides { name: String, existing: String },
    #[error("invalid partition count {count}: {reason}")]
    InvalidPartitions { count: i32, reason: String },
    #[error("replication factor {0} is not possible on a single broker")]
    InvalidReplicationFactor(i32),
    #[error("Invalid value {value} for configuration {key}: {reason}")]
    InvalidConfig { key: String, value: String, reason: String },
    #[error("Unknown topic config name: {0}")]
    UnknownConfig(String),
    #[error("topic deletion is disabled (delete.topic.enable=false)")]
    DeletionDisabled,
    #[error("storage error: {0}")]
    Storage(String),
}

/// One topic as it is served now. Immutable: a change builds a new `Topic` and swaps it in.
#[derive(Debug)]
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub internal: bool,
    /// Topic settings set on this topic (CreateTopics configs, IncrementalAlterConfigs), by Kafka name.
    pub overrides: BTreeMap<String, String>,
    pub partitions: Vec<Arc<Partition>>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        usize::try_from(index).ok().and_then(|i| self.partitions.get(i))
    }

    pub fn partition_count(&self) -> i32 {
        i32::try_from(self.partitions.len()).unwrap_or(i32::MAX)
    }
}

/// The persisted form of one topic.
#[derive(Debug, Serialize, Deserialize)]
struct TopicRecord {
    name: String,
    id: Uuid,
    partitions: i32,
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    overrides: BTreeMap<String, String>,
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

/// All topics of this broker.
pub struct Topics {
    meta_path: PathBuf,
    by_name: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serialises changes so that each persisted file is a consistent snapshot.
    change: Mutex<()>,
}

impl std::fmt::Debug for Topics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topics").field("meta_path", &self.meta_path).finish_non_exhaustive()
    }
}

/// Kafka's internal topics (`Topic.isInternal`): made by the broker component that owns them.
pub const INTERNAL_TOPIC_NAMES: &[&str] = &["__consumer_offsets", "__transaction_state", "__share_group_state"];

pub fn is_internal_name(name: &str) -> bool {
    INTERNAL_TOPIC_NAMES.contains(&name)
}

/// Checks a topic name the way Kafka does.
pub fn validate_name(name: &str) -> Result<(), TopicError> {
    let invalid = |reason| Err(TopicError::InvalidName { name: name.to_string(), reason });
    if name.is_empty() {
        return invalid("empty");
    }
    if name == "." || name == ".." {
        return invalid("'.' and '..' are not allowed");
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return invalid("longer than 249 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return invalid("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// Checks topic setting overrides against the settings table.
pub fn validate_overrides(overrides: &BTreeMap<String, String>) -> Result<(), TopicError> {
    for (key, value) in overrides {
        let setting = topic_setting(key).ok_or_else(|| TopicError::UnknownConfig(key.clone()))?;
        setting.kind.check_named(key, value).map_err(|(value, reason)| TopicError::InvalidConfig {
            key: key.clone(),
            value,
            reason,
        })?;
    }
    Ok(())
}

/// The value of topic setting `name` for a topic with `overrides`: the override, else the broker
/// setting that provides its default, else the topic setting's own default. `None` if unknown.
pub fn topic_value<'a>(
    config: &'a BrokerConfig,
    overrides: &'a BTreeMap<String, String>,
    name: &str,
) -> Option<(&'a str, TopicValueSource)> {
    if let Some(v) = overrides.get(name) {
        return Some((v.as_str(), TopicValueSource::Topic));
    }
    if let Some(broker) = broker_default_for_topic(name)
        && let Some((v, source)) = config.value(broker.name)
    {
        let source = match source {
            crate::config::Source::Static => TopicValueSource::StaticBroker,
            crate::config::Source::Default => TopicValueSource::Default,
        };
        return Some((v, source));
    }
    topic_setting(name).map(|s| (s.default, TopicValueSource::Default))
}

/// Where a topic setting's value comes from (DescribeConfigs sources 1, 4 and 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicValueSource {
    Topic,
    StaticBroker,
    Default,
}

impl TopicValueSource {
    /// Kafka's `config_source` code: DYNAMIC_TOPIC_CONFIG=1, STATIC_BROKER_CONFIG=4, DEFAULT_CONFIG=5.
    pub fn config_source(self) -> i8 {
        match self {
            TopicValueSource::Topic => 1,
            TopicValueSource::StaticBroker => 4,
            TopicValueSource::Default => 5,
        }
    }
}

/// The log settings of a topic with `overrides`.
pub fn log_config(config: &BrokerConfig, overrides: &BTreeMap<String, String>) -> LogConfig {
    let text = |name: &str| topic_value(config, overrides, name).map(|(v, _)| v.trim().to_string()).unwrap_or_default();
    let long = |name: &str| text(name).parse::<i64>().unwrap_or(i64::MAX);
    let unsigned = |name: &str| u64::try_from(long(name)).unwrap_or(u64::MAX);
    let int = |name: &str| u32::try_from(long(name)).unwrap_or(u32::MAX);
    // As in Kafka, retention deletes only where the policy says `delete`: a compacted topic (and
    // one with an empty policy) keeps every segment; compaction itself is not built yet.
    let deletes = text("cleanup.policy").split(',').any(|p| p.trim() == "delete");
    let retention = |name: &str| if deletes { long(name) } else { -1 };
    LogConfig {
        segment_bytes: match overrides.get("internal.segment.bytes") {
            Some(bytes) => u32::try_from(bytes.trim().parse::<i64>().unwrap_or(i64::MAX)).unwrap_or(u32::MAX),
            None => int("segment.bytes"),
        },
        segment_ms: long("segment.ms"),
        retention_ms: retention("retention.ms"),
        retention_bytes: retention("retention.bytes"),
        index_interval_bytes: int("index.interval.bytes"),
        segment_index_bytes: int("segment.index.bytes"),
        flush_messages: unsigned("flush.messages"),
        flush_ms: unsigned("flush.ms"),
        timestamp_type: if text("message.timestamp.type") == "LogAppendTime" {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        },
        max_message_bytes: int("max.message.bytes"),
    }
}

impl Topics {
    /// Loads the registry and opens every partition log it names (recovering any that were not
    /// shut down cleanly).
    pub fn load(log: &LogManager, config: &BrokerConfig, now_ms: i64) -> Result<Topics, TopicError> {
        let meta_dir = config.data_dir.join("meta");
        std::fs::create_dir_all(&meta_dir).map_err(|e| TopicError::Storage(format!("{}: {e}", meta_dir.display())))?;
        let meta_path = meta_dir.join("topics.json");
        let records: Vec<TopicRecord> = match std::fs::read(&meta_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| TopicError::Storage(format!("{}: {e}", meta_path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(TopicError::Storage(format!("{}: {e}", meta_path.display()))),
        };
        let mut by_name = BTreeMap::new();
        for record in records {
            let log_config = log_config(config, &record.overrides);
            let partitions = open_partitions(log, &record.name, 0..record.partitions, &log_config, now_ms)?;
            let topic = Topic {
                name: record.name.clone(),
                id: record.id,
                internal: record.internal,
                overrides: record.overrides,
                partitions,
            };
            by_name.insert(record.name, Arc::new(topic));
        }
        Ok(Topics { meta_path, by_name: RwLock::new(by_name), change: Mutex::new(()) })
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
        if replication_factor != 1 {
            return Err(TopicError::InvalidReplicationFactor(replication_factor));
        }
        Ok(())
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

    /// Creates a topic: persists it, then creates its partition logs.
    pub fn create(
        &self,
        log: &LogManager,
        config: &BrokerConfig,
        new: NewTopic<'_>,
        now_ms: i64,
    ) -> Result<Arc<Topic>, TopicError> {
        let NewTopic { name, partitions, replication_factor, overrides, internal } = new;
        let _change = self.lock_changes();
        self.check_new(name, partitions, replication_factor, &overrides)?;
        let id = Uuid::new_v4();
        let record = TopicRecord { name: name.to_string(), id, partitions, internal, overrides: overrides.clone() };
        let mut records = self.records();
        records.push(record);
        self.persist(&records)?;
        let log_config = log_config(config, &overrides);
        let logs = open_partitions(log, name, 0..partitions, &log_config, now_ms)?;
        let topic = Arc::new(Topic { name: name.to_string(), id, internal, overrides, partitions: logs });
        self.write().insert(name.to_string(), Arc::clone(&topic));
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Deletes a topic and its partition logs.
    pub fn delete(&self, log: &LogManager, name: &str) -> Result<Arc<Topic>, TopicError> {
        let _change = self.lock_changes();
        let topic = self.get(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let records: Vec<TopicRecord> = self.records().into_iter().filter(|r| r.name != name).collect();
        self.persist(&records)?;
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
        let _change = self.lock_changes();
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
        let records = self.with_record(name, |r| r.partitions = count);
        self.persist(&records)?;
        let log_config = log_config(config, &topic.overrides);
        let mut partitions = topic.partitions.clone();
        partitions.extend(open_partitions(log, name, current..count, &log_config, now_ms)?);
        self.swap(Topic { partitions, overrides: topic.overrides.clone(), ..clone_head(&topic) });
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

    /// Computes a topic's new setting overrides from its current ones with `change`, persists them
    /// and applies them to its partition logs. `change` runs under the change lock, so concurrent
    /// IncrementalAlterConfigs requests never lose each other's updates.
    pub fn update_overrides<E: From<TopicError>>(
        &self,
        config: &BrokerConfig,
        name: &str,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, E>,
    ) -> Result<Arc<Topic>, E> {
        let _change = self.lock_changes();
        let topic = self.get(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let overrides = change(&topic.overrides)?;
        validate_overrides(&overrides)?;
        let records = self.with_record(name, |r| r.overrides = overrides.clone());
        self.persist(&records)?;
        let log_config = log_config(config, &overrides);
        for partition in &topic.partitions {
            partition.set_config(log_config);
        }
        let updated = Arc::new(Topic { partitions: topic.partitions.clone(), overrides, ..clone_head(&topic) });
        self.write().insert(name.to_string(), Arc::clone(&updated));
        Ok(updated)
    }

    fn swap(&self, topic: Topic) {
        self.write().insert(topic.name.clone(), Arc::new(topic));
    }

    fn records(&self) -> Vec<TopicRecord> {
        self.read()
            .values()
            .map(|t| TopicRecord {
                name: t.name.clone(),
                id: t.id,
                partitions: t.partition_count(),
                internal: t.internal,
                overrides: t.overrides.clone(),
            })
            .collect()
    }

    fn with_record(&self, name: &str, change: impl Fn(&mut TopicRecord)) -> Vec<TopicRecord> {
        let mut records = self.records();
        records.iter_mut().filter(|r| r.name == name).for_each(change);
        records
    }

    fn persist(&self, records: &[TopicRecord]) -> Result<(), TopicError> {
        let storage = |e: std::io::Error| TopicError::Storage(format!("{}: {e}", self.meta_path.display()));
        let json = serde_json::to_vec_pretty(records).map_err(|e| TopicError::Storage(e.to_string()))?;
        write_atomically(&self.meta_path, &json).map_err(storage)
    }

    fn lock_changes(&self) -> std::sync::MutexGuard<'_, ()> {
        self.change.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Topic>>> {
        self.by_name.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Topic>>> {
        self.by_name.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn clone_head(topic: &Topic) -> Topic {
    Topic {
        name: topic.name.clone(),
        id: topic.id,
        internal: topic.internal,
        overrides: BTreeMap::new(),
        partitions: Vec::new(),
    }
}

fn open_partitions(
    log: &LogManager,
    name: &str,
    indexes: std::ops::Range<i32>,
    config: &LogConfig,
    now_ms: i64,
) -> Result<Vec<Arc<Partition>>, TopicError> {
    indexes
        .map(|i| {
            log.open_partition(name, i, *config, now_ms).map_err(|e| TopicError::Storage(format!("{name}-{i}: {e}")))
        })
        .collect()
}

/// Writes `bytes` to `path` so that a crash leaves either the old or the new file whole.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::ErrorCode;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_name("orders.v1_2-x").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("..").is_err());
        assert!(validate_name("has space").is_err());
        assert!(validate_name(&"a".repeat(250)).is_err());
        assert!(validate_name(&"a".repeat(249)).is_ok());
    }

    #[test]
    fn retention_applies_only_where_the_policy_says_delete() {
        let config = BrokerConfig::defaults(std::path::Path::new("/nonexistent"));
        let with = |policy: &str| {
            let overrides = BTreeMap::from([
                ("cleanup.policy".to_string(), policy.to_string()),
                ("retention.ms".to_string(), "1000".to_string()),
                ("retention.bytes".to_string(), "2000".to_string()),
            ]);
            let log = log_config(&config, &overrides);
            (log.retention_ms, log.retention_bytes)
        };
        assert_eq!(with("delete"), (1000, 2000));
        assert_eq!(with("compact,delete"), (1000, 2000));
        assert_eq!(with("compact"), (-1, -1));
        assert_eq!(with(""), (-1, -1));
    }

    #[test]
    fn overrides_are_checked_against_the_table() {
        let ok = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        assert!(validate_overrides(&ok).is_ok());
        let unknown = BTreeMap::from([("retention.forever".to_string(), "1".to_string())]);
        assert_eq!(validate_overrides(&unknown).map_err(|e| e.code()), Err(40));
        let bad = BTreeMap::from([("segment.bytes".to_string(), "big".to_string())]);
        assert_eq!(validate_overrides(&bad).map_err(|e| e.code()), Err(40));
    }

    #[test]
    fn topic_values_prefer_override_then_broker_then_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = BrokerConfig::defaults(dir.path());
        let overrides = BTreeMap::from([("segment.bytes".to_string(), "1048576".to_string())]);
        assert_eq!(topic_value(&config, &overrides, "segment.bytes"), Some(("1048576", TopicValueSource::Topic)));
        assert_eq!(topic_value(&config, &overrides, "retention.ms"), Some(("604800000", TopicValueSource::Default)));
        let log = log_config(&config, &overrides);
        assert_eq!(log.segment_bytes, 1_048_576);
        assert_eq!(log.flush_messages, u64::try_from(i64::MAX).expect("fits"));
    }
}
