//! The broker settings as typed fields, parsed once at start-up from the validated values of
//! [`crate::config`]. Code reads `config.settings.node_id`, so a misspelt setting is a compile
//! error; the one place a Kafka name meets its field is the [`settings!`] table below, and a
//! misspelt name there is a compile error too (a `const` assertion that the name is in
//! [`crate::config_defs::BROKER_SETTINGS`]).
//!
//! Broker settings that only give topic settings their defaults (`log.segment.bytes`,
//! `log.retention.ms`, ...) are not fields: a topic's value is resolved by its topic setting's
//! name, which clients choose at run time (`crate::topics::log_config`).

use std::collections::BTreeMap;
use std::net::IpAddr;

/// How Fetch record data reaches the socket (`strata.fetch.transfer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchTransfer {
    /// Large file ranges leave with `sendfile`.
    Sendfile,
    /// Everything is read into memory and written (what TLS will need).
    Copy,
}

/// How the log writer thread puts bytes on disk (`strata.log.io`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogIo {
    /// One io_uring ring (the positioned-write fallback, with a warning, where io_uring is refused).
    IoUring,
    /// Plain `pwrite` and `fdatasync` system calls on the writer thread.
    Pwrite,
}

/// Kafka's `max.connections.per.ip.overrides`: a connection limit per client address, winning
/// over `max.connections.per.ip`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerIpOverrides(pub BTreeMap<IpAddr, usize>);

/// Parses one setting's (already validated) text into its field's type.
pub trait FromSetting: Sized {
    fn from_setting(value: &str) -> Result<Self, String>;
}

macro_rules! from_setting_by_parse {
    ($($ty:ty),*) => {$(
        impl FromSetting for $ty {
            fn from_setting(value: &str) -> Result<Self, String> {
                value.trim().parse().map_err(|e| format!("'{value}': {e}"))
            }
        }
    )*};
}
from_setting_by_parse!(i16, i32, u32, i64, u64, usize);

impl FromSetting for bool {
    fn from_setting(value: &str) -> Result<Self, String> {
        Ok(value.trim().eq_ignore_ascii_case("true"))
    }
}

impl FromSetting for String {
    fn from_setting(value: &str) -> Result<Self, String> {
        Ok(value.trim().to_string())
    }
}

impl FromSetting for FetchTransfer {
    fn from_setting(value: &str) -> Result<Self, String> {
        match value.trim() {
            "sendfile" => Ok(FetchTransfer::Sendfile),
            "copy" => Ok(FetchTransfer::Copy),
            other => Err(format!("'{other}' is neither sendfile nor copy")),
        }
    }
}

impl FromSetting for LogIo {
    fn from_setting(value: &str) -> Result<Self, String> {
        match value.trim() {
            "io_uring" => Ok(LogIo::IoUring),
            "pwrite" => Ok(LogIo::Pwrite),
            other => Err(format!("'{other}' is neither io_uring nor pwrite")),
        }
    }
}

impl FromSetting for PerIpOverrides {
    /// `ADDRESS:LIMIT,...`; IPv6 addresses work too (the limit follows the last colon). Kafka also
    /// takes host names, which it resolves; Strata takes addresses only and says so.
    fn from_setting(value: &str) -> Result<Self, String> {
        let mut limits = BTreeMap::new();
        for item in value.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let (host, limit) = item.rsplit_once(':').ok_or_else(|| format!("'{item}' is not ADDRESS:LIMIT"))?;
            let address = host
                .trim_matches(['[', ']'])
                .parse::<IpAddr>()
                .map_err(|_| format!("'{host}' is not an IP address (Strata takes addresses, not host names)"))?;
            let limit = limit.parse::<usize>().map_err(|_| format!("'{limit}' is not a connection count"))?;
            limits.insert(address, limit);
        }
        Ok(PerIpOverrides(limits))
    }
}

/// Declares [`Settings`] as `field: Type = "kafka.name"` lines, with [`Settings::parse`] and
/// [`Settings::NAMES`] generated from the same lines.
macro_rules! settings {
    ($($(#[$doc:meta])* $field:ident: $ty:ty = $name:literal,)*) => {
        /// Every broker setting Strata acts on that is not only a topic setting's default.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $($(#[$doc])* pub $field: $ty,)*
        }

        $(const _: () = assert!(
            crate::config_defs::is_broker_setting($name),
            concat!("no broker setting named ", $name, " in config_defs::BROKER_SETTINGS")
        );)*

        impl Settings {
            /// The Kafka names of the fields, in declaration order.
            pub const NAMES: &[&str] = &[$($name),*];

            /// Parses every field from `value`, which gives a setting's text by its Kafka name.
            /// `Err` names the setting and why its value does not fit the field.
            pub fn parse<'a>(value: impl Fn(&'static str) -> &'a str) -> Result<Settings, (&'static str, String)> {
                Ok(Settings {
                    $($field: FromSetting::from_setting(value($name)).map_err(|reason| ($name, reason))?,)*
                })
            }
        }
    };
}

settings! {
    /// Kafka's `NAME://HOST:PORT` listeners (turned into the bound address by `crate::listeners`).
    listeners: String = "listeners",
    advertised_listeners: String = "advertised.listeners",
    listener_security_protocol_map: String = "listener.security.protocol.map",
    controller_listener_names: String = "controller.listener.names",
    /// Comma-separated; Strata takes one directory.
    log_dirs: String = "log.dirs",
    log_dir: String = "log.dir",
    node_id: i32 = "node.id",
    /// KRaft's roles; checked by `crate::quorum_config`.
    process_roles: String = "process.roles",
    controller_quorum_voters: String = "controller.quorum.voters",
    controller_quorum_bootstrap_servers: String = "controller.quorum.bootstrap.servers",
    broker_session_timeout_ms: i64 = "broker.session.timeout.ms",
    broker_heartbeat_interval_ms: i64 = "broker.heartbeat.interval.ms",
    replica_lag_time_max_ms: i64 = "replica.lag.time.max.ms",
    replica_high_watermark_checkpoint_interval_ms: i64 = "replica.high.watermark.checkpoint.interval.ms",
    /// KIP-392's selector of the replica a consumer should fetch from (empty: the leader).
    replica_selector_class: String = "replica.selector.class",
    /// This broker's rack (empty: none), for placement and Metadata.
    broker_rack: String = "broker.rack",
    num_partitions: i32 = "num.partitions",
    default_replication_factor: i32 = "default.replication.factor",
    auto_create_topics_enable: bool = "auto.create.topics.enable",
    delete_topic_enable: bool = "delete.topic.enable",
    /// Largest request frame.
    socket_request_max_bytes: usize = "socket.request.max.bytes",
    /// Connections served at once; the next waits in the listen backlog.
    max_connections: usize = "max.connections",
    /// Connections from one client address; the next is closed right after accept.
    max_connections_per_ip: usize = "max.connections.per.ip",
    max_connections_per_ip_overrides: PerIpOverrides = "max.connections.per.ip.overrides",
    /// A connection with nothing in flight and nothing arriving for this long is closed.
    connections_max_idle_ms: u64 = "connections.max.idle.ms",
    /// A request frame must arrive whole within this of its first byte.
    request_read_timeout_ms: u64 = "strata.request.read.timeout.ms",
    /// Requests in flight per connection.
    queued_max_requests: usize = "queued.max.requests",
    /// Request bytes in flight across all connections; -1 for no limit.
    queued_max_request_bytes: i64 = "queued.max.request.bytes",
    /// Share groups (KIP-932): deliveries after which a record is archived.
    group_share_delivery_count_limit: i16 = "group.share.delivery.count.limit",
    /// How long a share consumer holds the records it acquired.
    group_share_record_lock_duration_ms: i64 = "group.share.record.lock.duration.ms",
    /// A share group member not heard from for this long leaves its group.
    group_share_session_timeout_ms: i64 = "group.share.session.timeout.ms",
    /// How often a share group member is told to heartbeat.
    group_share_heartbeat_interval_ms: i64 = "group.share.heartbeat.interval.ms",
    /// Records in flight per share-partition.
    group_share_partition_max_record_locks: usize = "group.share.partition.max.record.locks",
    /// Share groups, beyond Kafka: the wait before a released record is delivered again.
    share_retry_backoff_ms: i64 = "strata.share.retry.backoff.ms",
    share_retry_backoff_multiplier: u32 = "strata.share.retry.backoff.multiplier",
    share_retry_backoff_max_ms: i64 = "strata.share.retry.backoff.max.ms",
    /// Partitions of `__share_group_state`.
    share_coordinator_state_topic_num_partitions: i32 = "share.coordinator.state.topic.num.partitions",
    /// Replicas of each `__share_group_state` partition in a cluster.
    share_coordinator_state_topic_replication_factor: i32 = "share.coordinator.state.topic.replication.factor",
    /// Incremental fetch sessions kept at once (KIP-227); 0 for none.
    max_incremental_fetch_session_cache_slots: usize = "max.incremental.fetch.session.cache.slots",
    log_retention_check_interval_ms: u64 = "log.retention.check.interval.ms",
    offsets_topic_num_partitions: i32 = "offsets.topic.num.partitions",
    offsets_topic_replication_factor: i32 = "offsets.topic.replication.factor",
    offsets_retention_minutes: i32 = "offsets.retention.minutes",
    group_min_session_timeout_ms: i32 = "group.min.session.timeout.ms",
    group_max_session_timeout_ms: i32 = "group.max.session.timeout.ms",
    group_initial_rebalance_delay_ms: i32 = "group.initial.rebalance.delay.ms",
    transaction_state_log_num_partitions: i32 = "transaction.state.log.num.partitions",
    transaction_state_log_replication_factor: i32 = "transaction.state.log.replication.factor",
    transaction_max_timeout_ms: i32 = "transaction.max.timeout.ms",
    transactional_id_expiration_ms: i32 = "transactional.id.expiration.ms",
    /// The transaction coordinator's longest sleep between looks for timed-out transactions.
    transaction_abort_timed_out_transaction_cleanup_interval_ms: i32 =
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
    /// Serve the request versions Kafka 4 removed.
    legacy_protocol_enable: bool = "strata.legacy.protocol.enable",
    fetch_transfer: FetchTransfer = "strata.fetch.transfer",
    log_io: LogIo = "strata.log.io",
}

impl Settings {
    /// `offsets.retention.minutes` in milliseconds.
    pub fn offsets_retention_ms(&self) -> i64 {
        i64::from(self.offsets_retention_minutes) * 60_000
    }

    /// How many connections `address` may hold at once.
    pub fn max_connections_for(&self, address: IpAddr) -> usize {
        self.max_connections_per_ip_overrides.0.get(&address).copied().unwrap_or(self.max_connections_per_ip)
    }

    /// `broker.rack`, or none when it is empty (Kafka's unset).
    pub fn rack(&self) -> Option<String> {
        Some(self.broker_rack.clone()).filter(|r| !r.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_defs::{BROKER_SETTINGS, broker_setting};

    #[test]
    fn every_default_parses_into_its_field() {
        let settings = Settings::parse(|name| broker_setting(name).map_or("", |s| s.default)).expect("defaults parse");
        assert_eq!(settings.node_id, 1);
        assert_eq!(settings.fetch_transfer, FetchTransfer::Sendfile);
        assert_eq!(settings.max_connections_for("127.0.0.1".parse().expect("ip")), i32::MAX as usize);
    }

    /// A broker setting is a field here unless it only gives a topic setting its default.
    #[test]
    fn every_broker_setting_is_a_field_or_a_topic_default() {
        for setting in BROKER_SETTINGS {
            let field = Settings::NAMES.contains(&setting.name);
            assert!(field != setting.topic_setting.is_some(), "{}: a field xor a topic default", setting.name);
        }
    }

    /// Every setting README.md's broker table documents is a field or a topic default, and every
    /// field is documented.
    #[test]
    fn readme_broker_settings_are_the_fields_and_topic_defaults() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
        let table = readme.split("Broker settings:").nth(1).and_then(|t| t.split("Topic settings:").next());
        let documented: Vec<&str> = table
            .expect("README.md has a 'Broker settings:' table before 'Topic settings:'")
            .lines()
            .filter_map(|line| line.strip_prefix("| `")?.split('`').next())
            .collect();
        assert!(documented.len() > 20, "found only {} documented settings", documented.len());
        for name in &documented {
            let topic_default = broker_setting(name).is_some_and(|s| s.topic_setting.is_some());
            assert!(Settings::NAMES.contains(name) || topic_default, "README documents {name}, not a field");
        }
        for name in Settings::NAMES {
            assert!(documented.contains(name), "field {name} is not in README.md's broker settings table");
        }
    }

    #[test]
    fn per_ip_overrides_take_addresses() {
        let overrides = PerIpOverrides::from_setting("127.0.0.2:5, [::1]:7,10.0.0.1:0").expect("valid");
        assert_eq!(overrides.0.get(&"127.0.0.2".parse::<IpAddr>().expect("ip")), Some(&5));
        assert_eq!(overrides.0.get(&"::1".parse::<IpAddr>().expect("ip")), Some(&7));
        assert_eq!(overrides.0.len(), 3);
        assert!(PerIpOverrides::from_setting("localhost:5").is_err());
        assert!(PerIpOverrides::from_setting("127.0.0.1").is_err());
        assert_eq!(PerIpOverrides::from_setting(""), Ok(PerIpOverrides::default()));
    }
}
