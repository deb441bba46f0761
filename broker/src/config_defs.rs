//! The broker and topic settings Strata understands, under Kafka's own names, with their defaults
//! and documentation. This table is the configuration reference: the config loader validates
//! against it, DescribeConfigs reports from it, and README.md lists it.

/// How a setting's value is parsed and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Bool,
    /// A 32-bit integer at least `min`.
    Int {
        min: i64,
    },
    /// A 32-bit integer from `min` to `max`.
    IntRange {
        min: i64,
        max: i64,
    },
    /// Kafka's gzip level: 1 to 9, or -1 for the codec's default.
    GzipLevel,
    /// A 64-bit integer at least `min`.
    Long {
        min: i64,
    },
    /// A floating-point number from 0 to 1.
    Ratio,
    /// Kafka's throttled-replica list: empty, `*`, or comma-separated `partition:broker` pairs.
    ReplicaList,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A non-empty comma-separated list of words from a fixed set (Kafka's LIST type, which
    /// IncrementalAlterConfigs may APPEND to and SUBTRACT from).
    List(&'static [&'static str]),
    /// Free text.
    Text,
}

impl ValueKind {
    /// Checks `value`, returning why it is refused in the words of Kafka's `ConfigDef` validators
    /// (the text after "Invalid value V for configuration NAME: ").
    pub fn check(self, value: &str) -> Result<(), String> {
        let value = value.trim();
        let range = |n: i64, min: i64, max: i64| {
            if n < min {
                Err(format!("Value must be at least {min}"))
            } else if n > max {
                Err(format!("Value must be no more than {max}"))
            } else {
                Ok(())
            }
        };
        let int = |value: &str| value.parse::<i32>().map(i64::from).map_err(|_| "Not a number of type INT".to_string());
        match self {
            ValueKind::Bool => match value.to_ascii_lowercase().as_str() {
                "true" | "false" => Ok(()),
                _ => Err("Expected value to be either true or false".into()),
            },
            ValueKind::Int { min } => range(int(value)?, min, i64::MAX),
            ValueKind::IntRange { min, max } => range(int(value)?, min, max),
            ValueKind::GzipLevel => match int(value)? {
                -1 => Ok(()),
                n => range(n, 1, 9).map_err(|_| "Value must be between 1 and 9 or equal to -1".to_string()),
            },
            ValueKind::Long { min } => {
                range(value.parse::<i64>().map_err(|_| "Not a number of type LONG".to_string())?, min, i64::MAX)
            }
            ValueKind::Ratio => match value.parse::<f64>() {
                Ok(n) if n < 0.0 => Err("Value must be at least 0".into()),
                Ok(n) if n > 1.0 => Err("Value must be no more than 1".into()),
                Ok(n) if n.is_nan() => Err("Not a number of type DOUBLE".into()),
                Ok(_) => Ok(()),
                Err(_) => Err("Not a number of type DOUBLE".into()),
            },
            ValueKind::Choice(words) => {
                if words.contains(&value) {
                    Ok(())
                } else {
                    Err(format!("String must be one of: {}", words.join(", ")))
                }
            }
            // Kafka 4.1 accepts an empty list (for cleanup.policy: neither delete nor compact).
            ValueKind::List(words) => {
                match value.split(',').map(str::trim).find(|item| !item.is_empty() && !words.contains(item)) {
                    Some(_) => Err(format!("String must be one of: {}", words.join(", "))),
                    None => Ok(()),
                }
            }
            ValueKind::ReplicaList => {
                let pair = |item: &str| {
                    item.split_once(':').is_some_and(|(p, b)| p.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
                };
                if value.is_empty() || value == "*" || value.split(',').map(str::trim).all(pair) {
                    Ok(())
                } else {
                    Err("must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...".into())
                }
            }
            ValueKind::Text => Ok(()),
        }
    }

    /// Checks `value` of setting `name` as Kafka reports a refusal: `(the value named, reason)` for
    /// Kafka's "Invalid value V for configuration NAME: REASON". A LIST names its first bad item,
    /// the throttled-replica list names the whole list in brackets and prefixes the setting.
    pub fn check_named(self, name: &str, value: &str) -> Result<(), (String, String)> {
        self.check(value).map_err(|reason| match self {
            ValueKind::List(words) => {
                let bad = value.split(',').map(str::trim).find(|item| !item.is_empty() && !words.contains(item));
                (bad.unwrap_or(value).to_string(), reason)
            }
            ValueKind::ReplicaList => {
                let items: Vec<&str> = value.split(',').map(str::trim).collect();
                (format!("[{}]", items.join(", ")), format!("{name} {reason}"))
            }
            _ => (value.trim().to_string(), reason),
        })
    }

    /// Whether IncrementalAlterConfigs may APPEND to and SUBTRACT from values of this kind.
    pub fn is_list(self) -> bool {
        matches!(self, ValueKind::List(_) | ValueKind::ReplicaList)
    }

    /// The Kafka DescribeConfigs `config_type` code (BOOLEAN=1, STRING=2, INT=3, LONG=5, DOUBLE=6, LIST=7).
    pub fn describe_type(self) -> i8 {
        match self {
            ValueKind::Bool => 1,
            ValueKind::Int { .. } | ValueKind::IntRange { .. } | ValueKind::GzipLevel => 3,
            ValueKind::Long { .. } => 5,
            ValueKind::Ratio => 6,
            ValueKind::Choice(_) | ValueKind::Text => 2,
            ValueKind::List(_) | ValueKind::ReplicaList => 7,
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
// In Kafka's order, which its error messages list.
const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

/// Broker settings Strata acts on.
pub const BROKER_SETTINGS: &[BrokerSetting] = &[
    BrokerSetting {
        name: "node.id",
        kind: ValueKind::Int { min: 0 },
        default: "1",
        topic_setting: None,
        doc: "This broker's id in metadata responses. broker.id, Kafka's older name, sets it when node.id is not given; both given must agree.",
    },
    BrokerSetting {
        name: "broker.rack",
        kind: ValueKind::Text,
        default: "",
        topic_setting: None,
        doc: "This broker's rack, shown in Metadata and DescribeCluster; replica placement spreads a partition's replicas over racks.",
    },
    BrokerSetting {
        name: "process.roles",
        kind: ValueKind::List(&["broker", "controller"]),
        default: "broker,controller",
        topic_setting: None,
        doc: "KRaft's roles of this node: broker,controller (Kafka's combined mode), controller (a voter of the metadata quorum that serves no clients) or broker (serves clients and follows the quorum's log as an observer).",
    },
    BrokerSetting {
        name: "controller.quorum.voters",
        kind: ValueKind::Text,
        default: "",
        topic_setting: None,
        doc: "KRaft's static controller quorum, ID@HOST:PORT,... Empty or naming only this node.id: the node is its own quorum. Naming other nodes makes this node a member of their cluster: it serves the Raft quorum on the controller listener (in listeners, named by controller.listener.names) at the address its own entry gives.",
    },
    BrokerSetting {
        name: "broker.session.timeout.ms",
        kind: ValueKind::Int { min: 1 },
        default: "9000",
        topic_setting: None,
        doc: "In a cluster: a broker the active controller has not heard a heartbeat from for this long is fenced (left out of Metadata, its partitions' leadership moved or set to none) until it heartbeats again.",
    },
    BrokerSetting {
        name: "replica.lag.time.max.ms",
        kind: ValueKind::Int { min: 1 },
        default: "30000",
        topic_setting: None,
        doc: "In a cluster: a follower that has not caught up with its leader's log end for this long leaves the partition's in-sync replicas (acks=all stops waiting for it) until it catches up again.",
    },
    BrokerSetting {
        name: "replica.high.watermark.checkpoint.interval.ms",
        kind: ValueKind::Int { min: 1 },
        default: "5000",
        topic_setting: None,
        doc: "In a cluster: how often each partition's high watermark is saved to replication-offset-checkpoint, which bounds what a restarted replica serves until its leader or followers report.",
    },
    BrokerSetting {
        name: "unclean.leader.election.enable",
        kind: ValueKind::Bool,
        default: "false",
        topic_setting: Some("unclean.leader.election.enable"),
        doc: "In a cluster: when no in-sync replica of a partition is live, the controller makes a live replica outside the in-sync set its leader (alone in sync), losing whatever that replica lacks; off, the partition waits for an in-sync replica.",
    },
    BrokerSetting {
        name: "replica.selector.class",
        kind: ValueKind::Choice(&["", LEADER_SELECTOR, RACK_AWARE_SELECTOR]),
        default: "",
        topic_setting: None,
        doc: "KIP-392: with org.apache.kafka.common.replica.RackAwareReplicaSelector (or LeaderSelector, Kafka's default), a partition's leader tells a consumer whose client.rack differs from its own broker.rack to fetch from an in-sync replica in that rack. Empty: consumers fetch from the leader. Followers serve consumers' fetches (v11+) either way.",
    },
    BrokerSetting {
        name: "group.share.delivery.count.limit",
        kind: ValueKind::Int { min: 2 },
        default: "5",
        topic_setting: None,
        doc: "Share groups (KIP-932): how many times a record is delivered before a release or an expired lock archives it instead of making it available again.",
    },
    BrokerSetting {
        name: "group.share.record.lock.duration.ms",
        kind: ValueKind::Int { min: 1000 },
        default: "30000",
        topic_setting: None,
        doc: "Share groups (KIP-932): how long a share consumer holds the records a ShareFetch acquired for it before they become available again.",
    },
    BrokerSetting {
        name: "group.share.session.timeout.ms",
        kind: ValueKind::IntRange { min: 45_000, max: 60_000 },
        default: "45000",
        topic_setting: None,
        doc: "Share groups (KIP-932): a member not heard from (ShareGroupHeartbeat) for this long leaves its group, and what it held is delivered again (Kafka's bounds, 45000 to 60000).",
    },
    BrokerSetting {
        name: "group.share.heartbeat.interval.ms",
        kind: ValueKind::IntRange { min: 5_000, max: 15_000 },
        default: "5000",
        topic_setting: None,
        doc: "Share groups (KIP-932): how often a member is told to heartbeat (Kafka's bounds, 5000 to 15000).",
    },
    BrokerSetting {
        name: "group.share.partition.max.record.locks",
        kind: ValueKind::Int { min: 1 },
        default: "2000",
        topic_setting: None,
        doc: "Share groups (KIP-932): the most records of one partition in flight for one share group (acquired, or released and not yet delivered again).",
    },
    BrokerSetting {
        name: "strata.share.retry.backoff.ms",
        kind: ValueKind::Int { min: 0 },
        default: "0",
        topic_setting: None,
        doc: "Share groups, beyond Kafka: how long a record released by a consumer, or whose lock expired, waits before it is delivered again, after its first delivery (0: at once, as in Kafka).",
    },
    BrokerSetting {
        name: "strata.share.retry.backoff.multiplier",
        kind: ValueKind::Int { min: 1 },
        default: "2",
        topic_setting: None,
        doc: "Share groups, beyond Kafka: the retry backoff is multiplied by this after each further delivery (1: a fixed backoff).",
    },
    BrokerSetting {
        name: "strata.share.retry.backoff.max.ms",
        kind: ValueKind::Int { min: 0 },
        default: "60000",
        topic_setting: None,
        doc: "Share groups, beyond Kafka: the longest retry backoff.",
    },
    BrokerSetting {
        name: "share.coordinator.state.topic.num.partitions",
        kind: ValueKind::Int { min: 1 },
        default: "50",
        topic_setting: None,
        doc: "Partitions of __share_group_state, where the share groups' state is kept (created with the first share-partition).",
    },
    BrokerSetting {
        name: "share.coordinator.state.topic.replication.factor",
        kind: ValueKind::Int { min: 1 },
        default: "3",
        topic_setting: None,
        doc: "Replicas of each __share_group_state partition in a cluster, created by the first share-partition once this many brokers are live; a single node keeps one.",
    },
    BrokerSetting {
        name: "broker.heartbeat.interval.ms",
        kind: ValueKind::Int { min: 1 },
        default: "2000",
        topic_setting: None,
        doc: "In a cluster: how often a broker heartbeats to the active controller.",
    },
    BrokerSetting {
        name: "controller.quorum.bootstrap.servers",
        kind: ValueKind::Text,
        default: "",
        topic_setting: None,
        doc: "KRaft's dynamic quorum's bootstrap controllers (KIP-853), HOST:PORT,...; accepted for a single node (its own quorum), refused beside other voters (a dynamic quorum is not built yet).",
    },
    BrokerSetting {
        name: "listeners",
        kind: ValueKind::Text,
        default: "PLAINTEXT://127.0.0.1:9092",
        topic_setting: None,
        doc: "Kafka's NAME://HOST:PORT listeners. One PLAINTEXT client listener is served (an empty host binds every interface); a listener named in controller.listener.names serves the Raft quorum in a cluster and is not bound on a single node; SSL and SASL listeners are refused. --listen wins. Strata's default binds loopback only (Kafka's binds every interface).",
    },
    BrokerSetting {
        name: "advertised.listeners",
        kind: ValueKind::Text,
        default: "",
        topic_setting: None,
        doc: "The address Metadata gives clients for the client listener; empty for the bound address (the host name when bound to every interface). --advertise wins.",
    },
    BrokerSetting {
        name: "listener.security.protocol.map",
        kind: ValueKind::Text,
        default: "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        topic_setting: None,
        doc: "Each listener name's protocol; only PLAINTEXT is served so far.",
    },
    BrokerSetting {
        name: "controller.listener.names",
        kind: ValueKind::Text,
        default: "",
        topic_setting: None,
        doc: "Listeners of the KRaft controller, not served to clients.",
    },
    BrokerSetting {
        name: "log.dirs",
        kind: ValueKind::Text,
        default: "",
        topic_setting: None,
        doc: "The data directory (one only so far); wins over log.dir. --data-dir wins over both.",
    },
    BrokerSetting {
        name: "log.dir",
        kind: ValueKind::Text,
        default: "./data",
        topic_setting: None,
        doc: "The data directory when log.dirs is not set.",
    },
    BrokerSetting {
        name: "num.partitions",
        kind: ValueKind::Int { min: 1 },
        default: "1",
        topic_setting: None,
        doc: "Partitions of an auto-created topic, and of CreateTopics with num_partitions -1.",
    },
    BrokerSetting {
        name: "default.replication.factor",
        kind: ValueKind::Int { min: 1 },
        default: "1",
        topic_setting: None,
        doc: "Replication factor of auto-created topics; a single node accepts only 1.",
    },
    BrokerSetting {
        name: "auto.create.topics.enable",
        kind: ValueKind::Bool,
        default: "true",
        topic_setting: None,
        doc: "Create a topic when Metadata asks for an unknown one (and the client allows it).",
    },
    BrokerSetting {
        name: "delete.topic.enable",
        kind: ValueKind::Bool,
        default: "true",
        topic_setting: None,
        doc: "Allow DeleteTopics.",
    },
    BrokerSetting {
        name: "message.max.bytes",
        kind: ValueKind::Int { min: 0 },
        default: "1048588",
        topic_setting: Some("max.message.bytes"),
        doc: "Largest record batch a topic accepts.",
    },
    BrokerSetting {
        name: "socket.request.max.bytes",
        kind: ValueKind::Int { min: 1 },
        default: "104857600",
        topic_setting: None,
        doc: "Largest request frame; a larger size prefix closes the connection.",
    },
    BrokerSetting {
        name: "max.connections",
        kind: ValueKind::Int { min: 1 },
        default: "10000",
        topic_setting: None,
        doc: "Connections served at once; as in Kafka, the next is not accepted until one closes (it waits in the listen backlog). Kafka's default is 2147483647; Strata's bounds the broker's memory and file descriptors (it raises its soft RLIMIT_NOFILE to the hard limit at start-up).",
    },
    BrokerSetting {
        name: "max.connections.per.ip",
        kind: ValueKind::Int { min: 0 },
        default: "2147483647",
        topic_setting: None,
        doc: "Connections from one client address; as in Kafka, one more is closed right after it is accepted.",
    },
    BrokerSetting {
        name: "max.connections.per.ip.overrides",
        kind: ValueKind::Text,
        default: "",
        topic_setting: None,
        doc: "ADDRESS:LIMIT,... limits that win over max.connections.per.ip for those addresses (IP addresses only; Kafka also resolves host names).",
    },
    BrokerSetting {
        name: "connections.max.idle.ms",
        kind: ValueKind::Long { min: 1 },
        default: "600000",
        topic_setting: None,
        doc: "A connection with no request in flight that sends nothing for this long is closed, as in Kafka.",
    },
    BrokerSetting {
        name: "strata.request.read.timeout.ms",
        kind: ValueKind::Long { min: 1 },
        default: "30000",
        topic_setting: None,
        doc: "A request frame must arrive whole within this of its first byte, else the connection is closed (a slowloris sender holds no memory past it). Kafka has no such limit; 30 s is its clients' request.timeout.ms. Strata-specific.",
    },
    BrokerSetting {
        name: "queued.max.requests",
        kind: ValueKind::Int { min: 1 },
        default: "500",
        topic_setting: None,
        doc: "Requests in flight per connection before reading pauses.",
    },
    BrokerSetting {
        name: "queued.max.request.bytes",
        kind: ValueKind::Long { min: -1 },
        default: "268435456",
        topic_setting: None,
        doc: "Bytes of request frames read and not yet handled, all connections together; beyond it the broker reads no more requests until some are handled (a larger frame still goes through, alone). -1 for no limit (Kafka's default); when set, at least socket.request.max.bytes, as Kafka requires.",
    },
    BrokerSetting {
        name: "max.incremental.fetch.session.cache.slots",
        kind: ValueKind::Int { min: 0 },
        default: "1000",
        topic_setting: None,
        doc: "Incremental fetch sessions (KIP-227) kept at once; when full, a new session displaces one unused for 2 minutes, or an older one with fewer partitions, as in Kafka. Strata also bounds the partitions cached over all sessions at 200,000 (past it, fetchers go on without a session).",
    },
    BrokerSetting {
        name: "log.segment.bytes",
        kind: ValueKind::Int { min: 1048576 },
        default: "1073741824",
        topic_setting: Some("segment.bytes"),
        doc: "Size at which a segment rolls (at least 1 MiB, as in Kafka 4).",
    },
    BrokerSetting {
        name: "log.roll.ms",
        kind: ValueKind::Long { min: 1 },
        default: "604800000",
        topic_setting: Some("segment.ms"),
        doc: "Age at which a segment rolls.",
    },
    BrokerSetting {
        name: "log.retention.ms",
        kind: ValueKind::Long { min: -1 },
        default: "604800000",
        topic_setting: Some("retention.ms"),
        doc: "Age after which whole segments are deleted; -1 keeps them.",
    },
    BrokerSetting {
        name: "log.retention.bytes",
        kind: ValueKind::Long { min: i64::MIN },
        default: "-1",
        topic_setting: Some("retention.bytes"),
        doc: "Partition size beyond which the oldest segments are deleted; negative for no limit.",
    },
    BrokerSetting {
        name: "log.retention.check.interval.ms",
        kind: ValueKind::Long { min: 1 },
        default: "300000",
        topic_setting: None,
        doc: "How often roll-by-age, retention and flush.ms are checked.",
    },
    BrokerSetting {
        name: "log.flush.interval.messages",
        kind: ValueKind::Long { min: 1 },
        default: "9223372036854775807",
        topic_setting: Some("flush.messages"),
        doc: "Messages between fsyncs; 1 acknowledges every append only after its fsync (group-committed).",
    },
    BrokerSetting {
        name: "log.flush.interval.ms",
        kind: ValueKind::Long { min: 0 },
        default: "9223372036854775807",
        topic_setting: Some("flush.ms"),
        doc: "Longest time data stays unflushed.",
    },
    BrokerSetting {
        name: "log.index.interval.bytes",
        kind: ValueKind::Int { min: 0 },
        default: "4096",
        topic_setting: Some("index.interval.bytes"),
        doc: "Bytes between offset index entries.",
    },
    BrokerSetting {
        name: "log.index.size.max.bytes",
        kind: ValueKind::Int { min: 4 },
        default: "10485760",
        topic_setting: Some("segment.index.bytes"),
        doc: "Largest offset index per segment; a full index rolls the segment.",
    },
    BrokerSetting {
        name: "log.message.timestamp.type",
        kind: ValueKind::Choice(TIMESTAMP_TYPES),
        default: "CreateTime",
        topic_setting: Some("message.timestamp.type"),
        doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches on append.",
    },
    BrokerSetting {
        name: "log.cleanup.policy",
        kind: ValueKind::List(CLEANUP_POLICIES),
        default: "delete",
        topic_setting: Some("cleanup.policy"),
        doc: "Retention policy (compaction of user topics is not implemented; see README).",
    },
    BrokerSetting {
        name: "compression.type",
        kind: ValueKind::Choice(COMPRESSION_TYPES),
        default: "producer",
        topic_setting: Some("compression.type"),
        doc: "Only 'producer' is acted on: batches are stored as produced.",
    },
    BrokerSetting {
        name: "min.insync.replicas",
        kind: ValueKind::Int { min: 1 },
        default: "1",
        topic_setting: Some("min.insync.replicas"),
        doc: "Replicas that must acknowledge acks=all; a single node has one.",
    },
    BrokerSetting {
        name: "offsets.topic.num.partitions",
        kind: ValueKind::Int { min: 1 },
        default: "50",
        topic_setting: None,
        doc: "Partitions of __consumer_offsets.",
    },
    BrokerSetting {
        name: "offsets.topic.replication.factor",
        kind: ValueKind::Int { min: 1 },
        default: "3",
        topic_setting: None,
        doc: "Replicas of each __consumer_offsets partition in a cluster, created once this many brokers are live; a single node keeps one.",
    },
    BrokerSetting {
        name: "offsets.retention.minutes",
        kind: ValueKind::Int { min: 1 },
        default: "10080",
        topic_setting: None,
        doc: "Committed offsets of empty groups expire after this.",
    },
    BrokerSetting {
        name: "group.min.session.timeout.ms",
        kind: ValueKind::Int { min: 0 },
        default: "6000",
        topic_setting: None,
        doc: "Smallest session timeout a consumer may ask for.",
    },
    BrokerSetting {
        name: "group.max.session.timeout.ms",
        kind: ValueKind::Int { min: 0 },
        default: "1800000",
        topic_setting: None,
        doc: "Largest session timeout a consumer may ask for.",
    },
    BrokerSetting {
        name: "group.initial.rebalance.delay.ms",
        kind: ValueKind::Int { min: 0 },
        default: "3000",
        topic_setting: None,
        doc: "Wait for more members before the first rebalance of an empty group.",
    },
    BrokerSetting {
        name: "transaction.state.log.num.partitions",
        kind: ValueKind::Int { min: 1 },
        default: "50",
        topic_setting: None,
        doc: "Partitions of __transaction_state (applied when the topic is created).",
    },
    BrokerSetting {
        name: "transaction.state.log.replication.factor",
        kind: ValueKind::Int { min: 1 },
        default: "3",
        topic_setting: None,
        doc: "Replicas of each __transaction_state partition in a cluster, created once this many brokers are live; a single node keeps one.",
    },
    BrokerSetting {
        name: "transaction.max.timeout.ms",
        kind: ValueKind::Int { min: 1 },
        default: "900000",
        topic_setting: None,
        doc: "Largest transaction.timeout.ms a producer may ask for; a larger one is INVALID_TRANSACTION_TIMEOUT.",
    },
    BrokerSetting {
        name: "transactional.id.expiration.ms",
        kind: ValueKind::Int { min: 1 },
        default: "604800000",
        topic_setting: None,
        doc: "A transactional id with no transaction open and no request for this long is forgotten.",
    },
    BrokerSetting {
        name: "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        kind: ValueKind::Int { min: 1 },
        default: "10000",
        topic_setting: None,
        doc: "Longest time between two checks for timed-out transactions (Strata also checks at each transaction's own deadline).",
    },
    BrokerSetting {
        name: "strata.legacy.protocol.enable",
        kind: ValueKind::Bool,
        default: "true",
        topic_setting: None,
        doc: "Serve the request versions Kafka 3.9 still accepted and Kafka 4 removed, so clients such as Sarama at old protocol levels keep working; false answers and refuses exactly as Kafka 4 does. Strata-specific.",
    },
    BrokerSetting {
        name: "strata.fetch.transfer",
        kind: ValueKind::Choice(&["sendfile", "copy"]),
        default: "sendfile",
        topic_setting: None,
        doc: "How Fetch record data reaches the socket: 'sendfile' sends file ranges of 64 KiB and more from the page cache without copying them into the broker (smaller ones are copied into the response's one write, which costs less than their own syscalls); 'copy' reads all of it into a reused per-connection buffer and writes it (what TLS will need). Strata-specific.",
    },
    BrokerSetting {
        name: "strata.log.io",
        kind: ValueKind::Choice(&["io_uring", "pwrite"]),
        default: "io_uring",
        topic_setting: None,
        doc: "How the log writer thread writes and syncs segment files: 'io_uring' submits a batch of writes and fdatasyncs to one ring (falling back to pwrite, with a warning, where the kernel refuses io_uring); 'pwrite' makes plain pwrite and fdatasync calls. Both give the same ordering, group commit and durability. Strata-specific.",
    },
];

/// Kafka settings that have no effect on a single Strata node; setting them is a warning, not an error.
pub const IGNORED_BROKER_SETTINGS: &[&str] = &[
    "inter.broker.listener.name",
    "num.network.threads",
    "num.io.threads",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "num.recovery.threads.per.data.dir",
    "transaction.state.log.min.isr",
    "log.cleaner.enable",
    "zookeeper.connect",
    "zookeeper.connection.timeout.ms",
    "group.coordinator.rebalance.protocols",
    "metadata.log.dir",
    "num.replica.fetchers",
    "auto.leader.rebalance.enable",
    "log.flush.scheduler.interval.ms",
    "log.flush.offset.checkpoint.interval.ms",
    "share.coordinator.state.topic.min.isr",
    "group.share.enable",
];

/// Kafka's replica selectors (KIP-392) by class name: the default, and the one by rack.
pub const LEADER_SELECTOR: &str = "org.apache.kafka.common.replica.LeaderSelector";
pub const RACK_AWARE_SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";

/// A topic setting that is stored and described but that Strata does not act on yet says so.
const NOT_ACTED_ON: &str = "Accepted, stored and described; Strata does not act on it yet.";

/// Every topic setting Kafka 4.1 defines (`LogConfig`), with Kafka's types, ranges and defaults,
/// so a client may create, alter and describe any of them (CreateTopics configs,
/// IncrementalAlterConfigs, AlterConfigs, DescribeConfigs). Those Strata does not act on yet say so.
pub const TOPIC_SETTINGS: &[TopicSetting] = &[
    TopicSetting {
        name: "cleanup.policy",
        kind: ValueKind::List(CLEANUP_POLICIES),
        default: "delete",
        doc: "delete: retention by time and size. compact is stored, not acted on yet.",
    },
    TopicSetting {
        name: "compression.type",
        kind: ValueKind::Choice(COMPRESSION_TYPES),
        default: "producer",
        doc: "Batches are stored as produced.",
    },
    TopicSetting { name: "compression.gzip.level", kind: ValueKind::GzipLevel, default: "-1", doc: NOT_ACTED_ON },
    TopicSetting {
        name: "compression.lz4.level",
        kind: ValueKind::IntRange { min: 1, max: 17 },
        default: "9",
        doc: NOT_ACTED_ON,
    },
    TopicSetting {
        name: "compression.zstd.level",
        kind: ValueKind::IntRange { min: -131072, max: 22 },
        default: "3",
        doc: NOT_ACTED_ON,
    },
    TopicSetting {
        name: "segment.bytes",
        kind: ValueKind::Int { min: 1048576 },
        default: "1073741824",
        doc: "Segment roll size.",
    },
    TopicSetting {
        name: "segment.ms",
        kind: ValueKind::Long { min: 1 },
        default: "604800000",
        doc: "Segment roll age.",
    },
    TopicSetting { name: "segment.jitter.ms", kind: ValueKind::Long { min: 0 }, default: "0", doc: NOT_ACTED_ON },
    TopicSetting {
        name: "segment.index.bytes",
        kind: ValueKind::Int { min: 4 },
        default: "10485760",
        doc: "Largest offset index per segment.",
    },
    TopicSetting {
        name: "index.interval.bytes",
        kind: ValueKind::Int { min: 0 },
        default: "4096",
        doc: "Bytes between index entries.",
    },
    TopicSetting {
        name: "retention.ms",
        kind: ValueKind::Long { min: -1 },
        default: "604800000",
        doc: "Age after which segments are deleted.",
    },
    TopicSetting {
        name: "retention.bytes",
        kind: ValueKind::Long { min: i64::MIN },
        default: "-1",
        doc: "Size beyond which the oldest segments are deleted; negative for no limit.",
    },
    TopicSetting { name: "local.retention.ms", kind: ValueKind::Long { min: -2 }, default: "-2", doc: NOT_ACTED_ON },
    TopicSetting { name: "local.retention.bytes", kind: ValueKind::Long { min: -2 }, default: "-2", doc: NOT_ACTED_ON },
    TopicSetting {
        name: "delete.retention.ms",
        kind: ValueKind::Long { min: 0 },
        default: "86400000",
        doc: NOT_ACTED_ON,
    },
    TopicSetting { name: "min.compaction.lag.ms", kind: ValueKind::Long { min: 0 }, default: "0", doc: NOT_ACTED_ON },
    TopicSetting {
        name: "max.compaction.lag.ms",
        kind: ValueKind::Long { min: 1 },
        default: "9223372036854775807",
        doc: NOT_ACTED_ON,
    },
    TopicSetting { name: "min.cleanable.dirty.ratio", kind: ValueKind::Ratio, default: "0.5", doc: NOT_ACTED_ON },
    TopicSetting {
        name: "file.delete.delay.ms",
        kind: ValueKind::Long { min: 0 },
        default: "60000",
        doc: NOT_ACTED_ON,
    },
    TopicSetting {
        name: "flush.messages",
        kind: ValueKind::Long { min: 1 },
        default: "9223372036854775807",
        doc: "Messages between fsyncs.",
    },
    TopicSetting {
        name: "flush.ms",
        kind: ValueKind::Long { min: 0 },
        default: "9223372036854775807",
        doc: "Longest time data stays unflushed.",
    },
    TopicSetting {
        name: "max.message.bytes",
        kind: ValueKind::Int { min: 0 },
        default: "1048588",
        doc: "Largest record batch.",
    },
    TopicSetting {
        name: "message.timestamp.type",
        kind: ValueKind::Choice(TIMESTAMP_TYPES),
        default: "CreateTime",
        doc: "CreateTime or LogAppendTime.",
    },
    TopicSetting {
        name: "message.timestamp.before.max.ms",
        kind: ValueKind::Long { min: 0 },
        default: "9223372036854775807",
        doc: NOT_ACTED_ON,
    },
    TopicSetting {
        name: "message.timestamp.after.max.ms",
        kind: ValueKind::Long { min: 0 },
        default: "3600000",
        doc: NOT_ACTED_ON,
    },
    TopicSetting {
        name: "min.insync.replicas",
        kind: ValueKind::Int { min: 1 },
        default: "1",
        doc: "Replicas that must acknowledge acks=all.",
    },
    TopicSetting {
        name: "unclean.leader.election.enable",
        kind: ValueKind::Bool,
        default: "false",
        doc: "Let a live replica outside the in-sync set lead when no in-sync one is live (losing what it lacks).",
    },
    TopicSetting {
        name: "strata.delay.target.topic",
        kind: ValueKind::Text,
        default: "",
        doc: "Beyond Kafka: makes this a delay topic, whose records the broker moves to the named topic once due (their strata-deliver-at or strata-delay-ms header, else strata.delivery.delay.ms after their timestamp), at least once, in offset order per partition.",
    },
    TopicSetting {
        name: "strata.delivery.delay.ms",
        kind: ValueKind::Long { min: 0 },
        default: "0",
        doc: "Beyond Kafka: share groups hand a record of this topic out, and a delay topic moves it, no earlier than this long after its timestamp (its own strata-deliver-at or strata-delay-ms header comes first).",
    },
    TopicSetting { name: "preallocate", kind: ValueKind::Bool, default: "false", doc: NOT_ACTED_ON },
    TopicSetting {
        name: "leader.replication.throttled.replicas",
        kind: ValueKind::ReplicaList,
        default: "",
        doc: NOT_ACTED_ON,
    },
    TopicSetting {
        name: "follower.replication.throttled.replicas",
        kind: ValueKind::ReplicaList,
        default: "",
        doc: NOT_ACTED_ON,
    },
    TopicSetting { name: "remote.storage.enable", kind: ValueKind::Bool, default: "false", doc: NOT_ACTED_ON },
    TopicSetting { name: "remote.log.copy.disable", kind: ValueKind::Bool, default: "false", doc: NOT_ACTED_ON },
    TopicSetting { name: "remote.log.delete.on.disable", kind: ValueKind::Bool, default: "false", doc: NOT_ACTED_ON },
];

/// Whether `name` is a broker setting; `const` so that [`crate::settings`] checks its names at
/// compile time.
pub const fn is_broker_setting(name: &str) -> bool {
    let mut i = 0;
    while i < BROKER_SETTINGS.len() {
        if const_str_eq(BROKER_SETTINGS[i].name, name) {
            return true;
        }
        i += 1;
    }
    false
}

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

pub fn broker_setting(name: &str) -> Option<&'static BrokerSetting> {
    BROKER_SETTINGS.iter().find(|s| s.name == name)
}

/// Kafka's internal topic settings: accepted from clients but never described. Kafka's own tests
/// use `internal.segment.bytes` for segments smaller than `segment.bytes` allows (1 MiB).
pub const INTERNAL_TOPIC_SETTINGS: &[TopicSetting] = &[TopicSetting {
    name: "internal.segment.bytes",
    kind: ValueKind::Int { min: 14 },
    default: "",
    doc: "Segment roll size that wins over segment.bytes, below its 1 MiB minimum (for tests).",
}];

pub fn topic_setting(name: &str) -> Option<&'static TopicSetting> {
    TOPIC_SETTINGS.iter().chain(INTERNAL_TOPIC_SETTINGS).find(|s| s.name == name)
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
        for s in INTERNAL_TOPIC_SETTINGS {
            assert_eq!(s.default, "", "{}: an internal setting has no default", s.name);
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
        assert!(ValueKind::List(CLEANUP_POLICIES).check("").is_ok());
        assert_eq!(ValueKind::Int { min: 1048576 }.check("1000"), Err("Value must be at least 1048576".into()));
        assert_eq!(ValueKind::Int { min: 0 }.check("big"), Err("Not a number of type INT".into()));
        assert_eq!(ValueKind::IntRange { min: 1, max: 17 }.check("18"), Err("Value must be no more than 17".into()));
        assert!(ValueKind::GzipLevel.check("-1").is_ok());
        assert!(ValueKind::GzipLevel.check("9").is_ok());
        assert!(ValueKind::GzipLevel.check("0").is_err());
        assert!(ValueKind::Ratio.check("0.25").is_ok());
        assert!(ValueKind::Ratio.check("1.5").is_err());
        assert!(ValueKind::Ratio.check("NaN").is_err());
        assert!(ValueKind::ReplicaList.check("").is_ok());
        assert!(ValueKind::ReplicaList.check("*").is_ok());
        assert!(ValueKind::ReplicaList.check("0:1,1:2").is_ok());
        assert!(ValueKind::ReplicaList.check("0-1").is_err());
        assert!(ValueKind::Bool.check("TRUE").is_ok());
    }
}
