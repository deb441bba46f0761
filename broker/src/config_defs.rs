//! The broker and topic settings Strata understands, under Kafka's own names, with their defaults
//! and documentation. This table is the configuration reference: the config loader validates
//! against it, DescribeConfigs reports from it, and README.md lists it.

/// How a setting's value is parsed and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Bool,
    /// A 32-bit integer at least `min`.
    Int { min: i64 },
    /// A 64-bit integer at least `min`.
    Long { min: i64 },
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A non-empty comma-separated list of words from a fixed set (Kafka's LIST type, which
    /// IncrementalAlterConfigs may APPEND to and SUBTRACT from).
    List(&'static [&'static str]),
    /// Free text.
    Text,
}

impl ValueKind {
    /// Checks `value`, returning why it is refused.
    pub fn check(self, value: &str) -> Result<(), String> {
        let value = value.trim();
        match self {
            ValueKind::Bool => match value {
                "true" | "false" => Ok(()),
                _ => Err(format!("'{value}' is not true or false")),
            },
            ValueKind::Int { min } => match value.parse::<i32>() {
                Ok(n) if i64::from(n) >= min => Ok(()),
                Ok(n) => Err(format!("{n} is below the minimum {min}")),
                Err(_) => Err(format!("'{value}' is not a 32-bit integer")),
            },
            ValueKind::Long { min } => match value.parse::<i64>() {
                Ok(n) if n >= min => Ok(()),
                Ok(n) => Err(format!("{n} is below the minimum {min}")),
                Err(_) => Err(format!("'{value}' is not a 64-bit integer")),
            },
            ValueKind::Choice(words) => {
                if words.contains(&value) {
                    Ok(())
                } else {
                    Err(format!("'{value}' is not one of {}", words.join(", ")))
                }
            }
            ValueKind::List(words) => {
                if value.is_empty() {
                    return Err(format!("an empty list is not allowed; use some of {}", words.join(", ")));
                }
                match value.split(',').map(str::trim).find(|item| !words.contains(item)) {
                    Some(item) => Err(format!("'{item}' is not one of {}", words.join(", "))),
                    None => Ok(()),
                }
            }
            ValueKind::Text => Ok(()),
        }
    }

    /// Whether IncrementalAlterConfigs may APPEND to and SUBTRACT from values of this kind.
    pub fn is_list(self) -> bool {
        matches!(self, ValueKind::List(_))
    }

    /// The Kafka DescribeConfigs `config_type` code (BOOLEAN=1, STRING=2, INT=3, LONG=5, LIST=7).
    pub fn describe_type(self) -> i8 {
        match self {
            ValueKind::Bool => 1,
            ValueKind::Int { .. } => 3,
            ValueKind::Long { .. } => 5,
            ValueKind::Choice(_) | ValueKind::Text => 2,
            ValueKind::List(_) => 7,
        }
    }
}

/// One broker setting.
#[derive(Debug, Clone, Copy)]
pub struct BrokerSetting {
    pub name: &'static str,
    pub kind: ValueKind,
    pub default: &'static str,
    /// The topic setting whose default this broker setting provides, if any.
    pub topic_setting: Option<&'static str>,
    pub doc: &'static str,
}

/// One topic setting. Its default comes from the broker setting that names it, else `default`.
#[derive(Debug, Clone, Copy)]
pub struct TopicSetting {
    pub name: &'static str,
    pub kind: ValueKind,
    pub default: &'static str,
    pub doc: &'static str,
}

const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
const CLEANUP_POLICIES: &[&str] = &["delete", "compact"];
const COMPRESSION_TYPES: &[&str] = &["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"];

/// Broker settings Strata acts on.
pub const BROKER_SETTINGS: &[BrokerSetting] = &[
    BrokerSetting { name: "node.id", kind: ValueKind::Int { min: 0 }, default: "1", topic_setting: None, doc: "This broker's id in metadata responses." },
    BrokerSetting { name: "num.partitions", kind: ValueKind::Int { min: 1 }, default: "1", topic_setting: None, doc: "Partitions of an auto-created topic, and of CreateTopics with num_partitions -1." },
    BrokerSetting { name: "default.replication.factor", kind: ValueKind::Int { min: 1 }, default: "1", topic_setting: None, doc: "Replication factor of auto-created topics; a single node accepts only 1." },
    BrokerSetting { name: "auto.create.topics.enable", kind: ValueKind::Bool, default: "true", topic_setting: None, doc: "Create a topic when Metadata asks for an unknown one (and the client allows it)." },
    BrokerSetting { name: "delete.topic.enable", kind: ValueKind::Bool, default: "true", topic_setting: None, doc: "Allow DeleteTopics." },
    BrokerSetting { name: "message.max.bytes", kind: ValueKind::Int { min: 0 }, default: "1048588", topic_setting: Some("max.message.bytes"), doc: "Largest record batch a topic accepts." },
    BrokerSetting { name: "socket.request.max.bytes", kind: ValueKind::Int { min: 1 }, default: "104857600", topic_setting: None, doc: "Largest request frame; a larger size prefix closes the connection." },
    BrokerSetting { name: "max.connections", kind: ValueKind::Int { min: 1 }, default: "10000", topic_setting: None, doc: "Connections accepted at once; more wait in the listen backlog." },
    BrokerSetting { name: "queued.max.requests", kind: ValueKind::Int { min: 1 }, default: "500", topic_setting: None, doc: "Requests in flight per connection before reading pauses." },
    BrokerSetting { name: "log.segment.bytes", kind: ValueKind::Int { min: 14 }, default: "1073741824", topic_setting: Some("segment.bytes"), doc: "Size at which a segment rolls." },
    BrokerSetting { name: "log.roll.ms", kind: ValueKind::Long { min: 1 }, default: "604800000", topic_setting: Some("segment.ms"), doc: "Age at which a segment rolls." },
    BrokerSetting { name: "log.retention.ms", kind: ValueKind::Long { min: -1 }, default: "604800000", topic_setting: Some("retention.ms"), doc: "Age after which whole segments are deleted; -1 keeps them." },
    BrokerSetting { name: "log.retention.bytes", kind: ValueKind::Long { min: -1 }, default: "-1", topic_setting: Some("retention.bytes"), doc: "Partition size beyond which the oldest segments are deleted; -1 for no limit." },
    BrokerSetting { name: "log.retention.check.interval.ms", kind: ValueKind::Long { min: 1 }, default: "300000", topic_setting: None, doc: "How often roll-by-age, retention and flush.ms are checked." },
    BrokerSetting { name: "log.flush.interval.messages", kind: ValueKind::Long { min: 1 }, default: "9223372036854775807", topic_setting: Some("flush.messages"), doc: "Messages between fsyncs; 1 acknowledges every append only after its fsync (group-committed)." },
    BrokerSetting { name: "log.flush.interval.ms", kind: ValueKind::Long { min: 0 }, default: "9223372036854775807", topic_setting: Some("flush.ms"), doc: "Longest time data stays unflushed." },
    BrokerSetting { name: "log.index.interval.bytes", kind: ValueKind::Int { min: 0 }, default: "4096", topic_setting: Some("index.interval.bytes"), doc: "Bytes between offset index entries." },
    BrokerSetting { name: "log.index.size.max.bytes", kind: ValueKind::Int { min: 4 }, default: "10485760", topic_setting: Some("segment.index.bytes"), doc: "Largest offset index per segment; a full index rolls the segment." },
    BrokerSetting { name: "log.message.timestamp.type", kind: ValueKind::Choice(TIMESTAMP_TYPES), default: "CreateTime", topic_setting: Some("message.timestamp.type"), doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches on append." },
    BrokerSetting { name: "log.cleanup.policy", kind: ValueKind::List(CLEANUP_POLICIES), default: "delete", topic_setting: Some("cleanup.policy"), doc: "Retention policy (compaction of user topics is not implemented; see README)." },
    BrokerSetting { name: "compression.type", kind: ValueKind::Choice(COMPRESSION_TYPES), default: "producer", topic_setting: Some("compression.type"), doc: "Only 'producer' is acted on: batches are stored as produced." },
    BrokerSetting { name: "min.insync.replicas", kind: ValueKind::Int { min: 1 }, default: "1", topic_setting: Some("min.insync.replicas"), doc: "Replicas that must acknowledge acks=all; a single node has one." },
    BrokerSetting { name: "offsets.topic.num.partitions", kind: ValueKind::Int { min: 1 }, default: "50", topic_setting: None, doc: "Partitions of __consumer_offsets." },
    BrokerSetting { name: "offsets.retention.minutes", kind: ValueKind::Int { min: 1 }, default: "10080", topic_setting: None, doc: "Committed offsets of empty groups expire after this." },
    BrokerSetting { name: "group.min.session.timeout.ms", kind: ValueKind::Int { min: 0 }, default: "6000", topic_setting: None, doc: "Smallest session timeout a consumer may ask for." },
    BrokerSetting { name: "group.max.session.timeout.ms", kind: ValueKind::Int { min: 0 }, default: "1800000", topic_setting: None, doc: "Largest session timeout a consumer may ask for." },
    BrokerSetting { name: "group.initial.rebalance.delay.ms", kind: ValueKind::Int { min: 0 }, default: "3000", topic_setting: None, doc: "Wait for more members before the first rebalance of an empty group." },
    BrokerSetting { name: "strata.legacy.protocol.enable", kind: ValueKind::Bool, default: "true", topic_setting: None, doc: "Serve the request versions Kafka 3.9 still accepted and Kafka 4 removed, so clients such as Sarama at old protocol levels keep working; false answers and refuses exactly as Kafka 4 does. Strata-specific." },
    BrokerSetting { name: "strata.fetch.transfer", kind: ValueKind::Choice(&["sendfile", "copy"]), default: "sendfile", topic_setting: None, doc: "How Fetch record data reaches the socket: 'sendfile' sends file ranges of 64 KiB and more from the page cache without copying them into the broker (smaller ones are copied into the response's one write, which costs less than their own syscalls); 'copy' reads all of it into a reused per-connection buffer and writes it (what TLS will need). Strata-specific." },
];

/// Kafka settings that have no effect on a single Strata node; setting them is a warning, not an error.
pub const IGNORED_BROKER_SETTINGS: &[&str] = &[
    "broker.id", "process.roles", "controller.quorum.voters", "controller.quorum.bootstrap.servers",
    "controller.listener.names", "listeners", "advertised.listeners", "listener.security.protocol.map",
    "inter.broker.listener.name", "num.network.threads", "num.io.threads", "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes", "num.recovery.threads.per.data.dir", "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor", "transaction.state.log.min.isr", "log.cleaner.enable",
    "zookeeper.connect", "zookeeper.connection.timeout.ms", "group.coordinator.rebalance.protocols",
    "log.dirs", "log.dir", "metadata.log.dir", "num.replica.fetchers", "replica.lag.time.max.ms",
    "unclean.leader.election.enable", "auto.leader.rebalance.enable", "log.flush.scheduler.interval.ms",
    "log.flush.offset.checkpoint.interval.ms", "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.min.isr",
];

/// Topic settings Strata acts on (CreateTopics configs, IncrementalAlterConfigs, DescribeConfigs).
pub const TOPIC_SETTINGS: &[TopicSetting] = &[
    TopicSetting { name: "cleanup.policy", kind: ValueKind::List(CLEANUP_POLICIES), default: "delete", doc: "delete: retention by time and size." },
    TopicSetting { name: "compression.type", kind: ValueKind::Choice(COMPRESSION_TYPES), default: "producer", doc: "Batches are stored as produced." },
    TopicSetting { name: "segment.bytes", kind: ValueKind::Int { min: 14 }, default: "1073741824", doc: "Segment roll size." },
    TopicSetting { name: "segment.ms", kind: ValueKind::Long { min: 1 }, default: "604800000", doc: "Segment roll age." },
    TopicSetting { name: "segment.index.bytes", kind: ValueKind::Int { min: 4 }, default: "10485760", doc: "Largest offset index per segment." },
    TopicSetting { name: "index.interval.bytes", kind: ValueKind::Int { min: 0 }, default: "4096", doc: "Bytes between index entries." },
    TopicSetting { name: "retention.ms", kind: ValueKind::Long { min: -1 }, default: "604800000", doc: "Age after which segments are deleted." },
    TopicSetting { name: "retention.bytes", kind: ValueKind::Long { min: -1 }, default: "-1", doc: "Size beyond which the oldest segments are deleted." },
    TopicSetting { name: "flush.messages", kind: ValueKind::Long { min: 1 }, default: "9223372036854775807", doc: "Messages between fsyncs." },
    TopicSetting { name: "flush.ms", kind: ValueKind::Long { min: 0 }, default: "9223372036854775807", doc: "Longest time data stays unflushed." },
    TopicSetting { name: "max.message.bytes", kind: ValueKind::Int { min: 0 }, default: "1048588", doc: "Largest record batch." },
    TopicSetting { name: "message.timestamp.type", kind: ValueKind::Choice(TIMESTAMP_TYPES), default: "CreateTime", doc: "CreateTime or LogAppendTime." },
    TopicSetting { name: "min.insync.replicas", kind: ValueKind::Int { min: 1 }, default: "1", doc: "Replicas that must acknowledge acks=all." },
];

pub fn broker_setting(name: &str) -> Option<&'static BrokerSetting> {
    BROKER_SETTINGS.iter().find(|s| s.name == name)
}

pub fn topic_setting(name: &str) -> Option<&'static TopicSetting> {
    TOPIC_SETTINGS.iter().find(|s| s.name == name)
}

/// The broker setting that provides the default of topic setting `topic_name`.
pub fn broker_default_for_topic(topic_name: &str) -> Option<&'static BrokerSetting> {
    BROKER_SETTINGS.iter().find(|s| s.topic_setting == Some(topic_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_passes_its_own_check() {
        for s in BROKER_SETTINGS {
            assert_eq!(s.kind.check(s.default), Ok(()), "{}", s.name);
        }
        for s in TOPIC_SETTINGS {
            assert_eq!(s.kind.check(s.default), Ok(()), "{}", s.name);
        }
    }

    #[test]
    fn broker_defaults_point_at_real_topic_settings_with_the_same_default() {
        for s in BROKER_SETTINGS {
            if let Some(topic) = s.topic_setting {
                let t = topic_setting(topic).expect("topic setting exists");
                assert_eq!(t.default, s.default, "{topic}");
                assert_eq!(t.kind, s.kind, "{topic}");
            }
        }
    }

    #[test]
    fn values_are_checked() {
        assert!(ValueKind::Bool.check("yes").is_err());
        assert!(ValueKind::Int { min: 1 }.check("0").is_err());
        assert!(ValueKind::Int { min: 1 }.check("99999999999").is_err());
        assert!(ValueKind::Long { min: -1 }.check("-1").is_ok());
        assert!(ValueKind::Choice(TIMESTAMP_TYPES).check("Now").is_err());
        assert!(ValueKind::List(CLEANUP_POLICIES).check("compact,delete").is_ok());
        assert!(ValueKind::List(CLEANUP_POLICIES).check("delete, compact").is_ok());
        assert!(ValueKind::List(CLEANUP_POLICIES).check("delete,forever").is_err());
        assert!(ValueKind::List(CLEANUP_POLICIES).check("").is_err());
    }
}
