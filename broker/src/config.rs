//! The broker's configuration: command-line flags, a Kafka `server.properties` file and repeatable
//! `--override KEY=VALUE`, validated against [`crate::config_defs`] before the broker starts.
//! Precedence, lowest first: defaults, the file, overrides.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::config_defs::{BROKER_SETTINGS, IGNORED_BROKER_SETTINGS, broker_setting};
use crate::settings::Settings;

/// Command-line flags of `strata`.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about = "A Kafka-compatible log store and message broker.")]
pub struct Cli {
    /// Address to accept Kafka clients on. Port 0 picks a free port (printed at start-up).
    /// Wins over `listeners`; without either, 127.0.0.1:9092.
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Address clients are told to connect to (Metadata); wins over `advertised.listeners`;
    /// defaults to the bound listen address.
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// Directory holding topics, partitions and metadata; created if missing. Wins over
    /// `log.dirs` and `log.dir`; without any of them, ./data.
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// A Kafka server.properties file.
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// A setting that wins over the file, as KEY=VALUE with Kafka's names. Repeatable.
    #[arg(long = "override", value_name = "KEY=VALUE", global = true)]
    pub overrides: Vec<String>,
    /// Without a command, `strata` runs the broker.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `strata`'s commands besides running the broker: Kafka's `kafka-storage.sh` steps, for
/// operators who format explicitly (a broker formats an empty data directory by itself).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Writes the data directory's meta.properties for a cluster id and this configuration's
    /// node.id, as `kafka-storage.sh format` does.
    Format {
        /// The cluster id (`strata random-uuid` prints a new one, in Kafka's form).
        #[arg(long, short = 't', value_name = "ID")]
        cluster_id: String,
        /// A directory already formatted is left as it is instead of being an error.
        #[arg(long, short = 'g')]
        ignore_formatted: bool,
        /// Kafka's flag for a one-controller quorum; a Strata node is its own quorum already.
        #[arg(long, short = 's')]
        standalone: bool,
    },
    /// Prints a new random Kafka UUID for a cluster id, as `kafka-storage.sh random-uuid` does.
    RandomUuid,
}

/// Where a setting's value came from (DescribeConfigs `config_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Kafka's STATIC_BROKER_CONFIG (4): the file or an override.
    Static,
    /// Kafka's DEFAULT_CONFIG (5).
    Default,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{origin}: '{line}' is not KEY=VALUE")]
    Syntax { origin: String, line: String },
    #[error("{origin}: unknown setting '{key}' (see the configuration reference in README.md)")]
    UnknownKey { origin: String, key: String },
    #[error("{origin}: bad value for '{key}': {reason}")]
    BadValue { origin: String, key: String, reason: String },
    #[error("bad address '{address}' for --{flag}: expected HOST:PORT")]
    BadAddress { flag: &'static str, address: String },
    #[error("listeners: {0}")]
    Listener(#[from] crate::listeners::ListenerError),
    #[error("log.dirs names {0} directories; Strata keeps its data in one directory so far")]
    SeveralLogDirs(usize),
    #[error(transparent)]
    Quorum(#[from] crate::quorum_config::QuorumConfigError),
    #[error("You must set `node.id` to the same value as `broker.id`.")]
    BrokerIdMismatch,
}

/// Kafka's older name of `node.id`: it gives `node.id` its value when only it is set, and must
/// agree with `node.id` when both are.
const BROKER_ID: &str = "broker.id";
const NODE_ID: &str = "node.id";

/// Kafka's coarser spellings of millisecond settings (Kafka's stock server.properties sets
/// `log.retention.hours`): (name, the setting it gives a value to, milliseconds per unit), in
/// precedence order.
const COARSE_SYNONYMS: &[(&str, &str, i64)] = &[
    ("log.retention.minutes", "log.retention.ms", 60_000),
    ("log.retention.hours", "log.retention.ms", 3_600_000),
    ("log.roll.hours", "log.roll.ms", 3_600_000),
];

/// The validated broker configuration.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The client listener's address to bind (empty on a controller-only node, which has none).
    pub listen: String,
    pub advertise: Option<String>,
    pub data_dir: PathBuf,
    /// Every setting the broker acts on, typed.
    pub settings: Settings,
    /// Settings given explicitly (file, then overrides), by Kafka name; all validated.
    explicit: BTreeMap<String, String>,
    /// Set when `controller.quorum.voters` names other nodes, or this node has one role only:
    /// this node is a cluster member.
    pub cluster: Option<crate::quorum_config::ClusterConfig>,
}

impl BrokerConfig {
    /// Builds the configuration from the command line, reading the properties file it names.
    /// Kafka settings Strata ignores are logged as warnings here.
    pub fn from_cli(cli: Cli) -> Result<BrokerConfig, ConfigError> {
        if let Some(listen) = &cli.listen {
            check_address("listen", listen)?;
        }
        if let Some(advertise) = &cli.advertise {
            check_address("advertise", advertise)?;
        }
        let mut entries = Vec::new();
        if let Some(path) = &cli.config {
            let text =
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
            entries.extend(parse_properties(&text, &path.display().to_string())?);
        }
        for item in &cli.overrides {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| ConfigError::Syntax { origin: "--override".into(), line: item.clone() })?;
            entries.push(("--override".to_string(), key.trim().to_string(), value.trim().to_string()));
        }
        let mut explicit = BTreeMap::new();
        let mut coarse: BTreeMap<&'static str, i64> = BTreeMap::new();
        let mut broker_id = None;
        for (origin, key, value) in entries {
            if IGNORED_BROKER_SETTINGS.contains(&key.as_str()) {
                tracing::warn!(setting = %key, %origin, "Kafka setting has no effect on Strata; ignored");
                continue;
            }
            if let Some(&(name, _, _)) = COARSE_SYNONYMS.iter().find(|(name, _, _)| *name == key) {
                let n = value.trim().parse::<i32>().map_err(|_| ConfigError::BadValue {
                    origin: origin.clone(),
                    key: key.clone(),
                    reason: format!("'{value}' is not a 32-bit integer"),
                })?;
                coarse.insert(name, i64::from(n));
                continue;
            }
            // broker.id, Kafka's older name of node.id, is checked as node.id is.
            let checked_as = if key == BROKER_ID { NODE_ID } else { key.as_str() };
            let setting = broker_setting(checked_as)
                .ok_or_else(|| ConfigError::UnknownKey { origin: origin.clone(), key: key.clone() })?;
            setting.kind.check(&value).map_err(|reason| ConfigError::BadValue {
                origin: origin.clone(),
                key: key.clone(),
                reason,
            })?;
            if key == BROKER_ID {
                broker_id = Some(value);
            } else {
                explicit.insert(key, value);
            }
        }
        if let Some(broker_id) = broker_id {
            match explicit.get(NODE_ID) {
                None => {
                    explicit.insert(NODE_ID.to_string(), broker_id);
                }
                Some(node_id) if node_id.trim().parse::<i32>().ok() != broker_id.trim().parse::<i32>().ok() => {
                    return Err(ConfigError::BrokerIdMismatch);
                }
                Some(_) => {}
            }
        }
        // As in Kafka, the millisecond setting wins over minutes, which win over hours.
        for &(name, target, unit_ms) in COARSE_SYNONYMS {
            if let Some(&n) = coarse.get(name)
                && !explicit.contains_key(target)
            {
                let ms = if n < 0 { -1 } else { n.saturating_mul(unit_ms) };
                explicit.insert(target.to_string(), ms.to_string());
            }
        }
        let value = |name: &'static str| match explicit.get(name) {
            Some(v) => v.as_str(),
            None => broker_setting(name).map_or("", |s| s.default),
        };
        let settings = Settings::parse(value).map_err(|(key, reason)| ConfigError::BadValue {
            origin: "configuration".into(),
            key: key.into(),
            reason,
        })?;
        let frame_bytes_max = i64::try_from(settings.socket_request_max_bytes).unwrap_or(i64::MAX);
        if (0..frame_bytes_max).contains(&settings.queued_max_request_bytes) {
            return Err(ConfigError::BadValue {
                origin: "configuration".into(),
                key: "queued.max.request.bytes".into(),
                reason: "must be -1 or at least socket.request.max.bytes, as Kafka requires".into(),
            });
        }
        let cluster = crate::quorum_config::cluster(&settings)?;
        // A controller-only node serves no clients: it has no client listener to bind.
        let controller_only = cluster.as_ref().is_some_and(|c| c.roles.controller_only());
        let listener = match controller_only {
            true => None,
            false => Some(crate::listeners::client_listener(
                &settings.listeners,
                &settings.advertised_listeners,
                &settings.listener_security_protocol_map,
                &settings.controller_listener_names,
            )?),
        };
        let log_dirs: Vec<&str> = settings.log_dirs.split(',').map(str::trim).filter(|d| !d.is_empty()).collect();
        let data_dir = match (cli.data_dir, log_dirs.as_slice()) {
            (Some(dir), _) => dir,
            (None, []) => PathBuf::from(&settings.log_dir),
            (None, [dir]) => PathBuf::from(dir),
            (None, dirs) => return Err(ConfigError::SeveralLogDirs(dirs.len())),
        };
        let (listen, advertise) = match listener {
            Some(listener) => (
                cli.listen.unwrap_or_else(|| listener.bind.bind_address()),
                cli.advertise.or_else(|| listener.advertised.map(|e| format!("{}:{}", e.host, e.port))),
            ),
            None => (String::new(), None),
        };
        Ok(BrokerConfig { listen, advertise, data_dir, settings, explicit, cluster })
    }

    /// A configuration with every default, for tests.
    pub fn defaults(data_dir: &Path) -> BrokerConfig {
        let settings = Settings::parse(|name| broker_setting(name).map_or("", |s| s.default));
        BrokerConfig {
            listen: "127.0.0.1:0".into(),
            advertise: None,
            data_dir: data_dir.to_path_buf(),
            // A unit test parses every default.
            settings: settings.unwrap_or_else(|(name, reason)| panic!("default of {name}: {reason}")),
            explicit: BTreeMap::new(),
            cluster: None,
        }
    }

    /// The value of broker setting `name` and where it came from; `None` for a name not in the table.
    pub fn value(&self, name: &str) -> Option<(&str, Source)> {
        let setting = broker_setting(name)?;
        Some(match self.explicit.get(name) {
            Some(v) => (v.as_str(), Source::Static),
            None => (setting.default, Source::Default),
        })
    }

    /// Every broker setting with its value and source, in table order (DescribeConfigs).
    pub fn all_values(&self) -> impl Iterator<Item = (&'static str, &str, Source)> + '_ {
        BROKER_SETTINGS.iter().filter_map(|s| self.value(s.name).map(|(v, src)| (s.name, v, src)))
    }
}

fn check_address(flag: &'static str, address: &str) -> Result<(), ConfigError> {
    let bad = || ConfigError::BadAddress { flag, address: address.to_string() };
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(())
}

/// Parses Java properties text: `key=value`, `key: value` or `key value`; `#` and `!` comments;
/// a trailing backslash continues a line.
pub(crate) fn parse_properties(text: &str, origin: &str) -> Result<Vec<(String, String, String)>, ConfigError> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!')) {
            continue;
        }
        if let Some(body) = line.strip_suffix('\\') {
            pending.push_str(body);
            continue;
        }
        pending.push_str(line);
        let logical = std::mem::take(&mut pending);
        let split_at = logical.find(['=', ':', ' ', '\t']);
        let (key, value) = match split_at {
            Some(i) => {
                let value = logical[i + 1..].trim_start_matches(['=', ':', ' ', '\t']);
                (logical[..i].trim(), value.trim())
            }
            None => return Err(ConfigError::Syntax { origin: origin.to_string(), line: logical.clone() }),
        };
        if key.is_empty() {
            return Err(ConfigError::Syntax { origin: origin.to_string(), line: logical.clone() });
        }
        out.push((origin.to_string(), key.to_string(), value.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::parse_from(std::iter::once("strata").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_apply_without_flags() {
        let config = BrokerConfig::from_cli(cli(&[])).expect("valid");
        assert_eq!(config.listen, "127.0.0.1:9092");
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.settings.num_partitions, 1);
        assert!(config.settings.auto_create_topics_enable);
        assert_eq!(config.value("log.segment.bytes"), Some(("1073741824", Source::Default)));
        assert!(config.settings.legacy_protocol_enable);
        let kafka4 =
            BrokerConfig::from_cli(cli(&["--override", "strata.legacy.protocol.enable=false"])).expect("valid");
        assert!(!kafka4.settings.legacy_protocol_enable);
    }

    #[test]
    fn file_then_overrides_with_kafka_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.properties");
        std::fs::write(
            &path,
            "# a comment\nnum.partitions=3\nlog.segment.bytes : 1048576\nauto.create.topics.enable false\nlisteners=PLAINTEXT://:9092\nlog.retention.ms=\\\n  1000\n",
        )
        .expect("write");
        let config =
            BrokerConfig::from_cli(cli(&["--config", path.to_str().expect("utf8"), "--override", "num.partitions=5"]))
                .expect("valid");
        assert_eq!(config.settings.num_partitions, 5);
        assert!(!config.settings.auto_create_topics_enable);
        assert_eq!(config.value("log.segment.bytes"), Some(("1048576", Source::Static)));
        assert_eq!(config.value("log.retention.ms"), Some(("1000", Source::Static)));
    }

    #[test]
    fn retention_hours_and_minutes_give_retention_ms_with_kafka_precedence() {
        let config =
            BrokerConfig::from_cli(cli(&["--override", "log.retention.hours=168", "--override", "log.roll.hours=1"]))
                .expect("valid");
        assert_eq!(config.value("log.retention.ms"), Some(("604800000", Source::Static)));
        assert_eq!(config.value("log.roll.ms"), Some(("3600000", Source::Static)));
        let config = BrokerConfig::from_cli(cli(&[
            "--override",
            "log.retention.hours=1",
            "--override",
            "log.retention.minutes=2",
        ]))
        .expect("valid");
        assert_eq!(config.value("log.retention.ms"), Some(("120000", Source::Static)));
        let config =
            BrokerConfig::from_cli(cli(&["--override", "log.retention.ms=5", "--override", "log.retention.hours=1"]))
                .expect("valid");
        assert_eq!(config.value("log.retention.ms"), Some(("5", Source::Static)));
        assert!(BrokerConfig::from_cli(cli(&["--override", "log.retention.hours=week"])).is_err());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let err = BrokerConfig::from_cli(cli(&["--override", "no.such.setting=1"])).expect_err("unknown");
        assert!(err.to_string().contains("unknown setting 'no.such.setting'"), "{err}");
        let err = BrokerConfig::from_cli(cli(&["--override", "num.partitions=zero"])).expect_err("bad");
        assert!(err.to_string().contains("num.partitions"), "{err}");
        let err = BrokerConfig::from_cli(cli(&["--override", "num.partitions"])).expect_err("syntax");
        assert!(matches!(err, ConfigError::Syntax { .. }));
        let err = BrokerConfig::from_cli(cli(&["--override", "queued.max.request.bytes=1000"])).expect_err("small");
        assert!(err.to_string().contains("at least socket.request.max.bytes"), "{err}");
        let config = BrokerConfig::from_cli(cli(&["--override", "queued.max.request.bytes=-1"])).expect("no limit");
        assert_eq!(config.settings.queued_max_request_bytes, -1);
        let err = BrokerConfig::from_cli(cli(&["--override", "max.connections.per.ip.overrides=host:1"]))
            .expect_err("host name");
        assert!(err.to_string().contains("max.connections.per.ip.overrides"), "{err}");
        let err = BrokerConfig::from_cli(cli(&["--listen", "nowhere"])).expect_err("address");
        assert!(matches!(err, ConfigError::BadAddress { .. }));
    }

    /// As in Kafka, `broker.id` is `node.id`'s older name: alone it sets the node id, and the two
    /// must agree when both are given.
    #[test]
    fn broker_id_is_node_ids_older_name() {
        let config = BrokerConfig::from_cli(cli(&["--override", "broker.id=4"])).expect("valid");
        assert_eq!(config.settings.node_id, 4);
        let same = ["--override", "broker.id=4", "--override", "node.id=4"];
        assert_eq!(BrokerConfig::from_cli(cli(&same)).expect("valid").settings.node_id, 4);
        let differ = ["--override", "broker.id=4", "--override", "node.id=5"];
        let err = BrokerConfig::from_cli(cli(&differ)).expect_err("disagree");
        assert_eq!(err.to_string(), "You must set `node.id` to the same value as `broker.id`.");
        let err = BrokerConfig::from_cli(cli(&["--override", "broker.id=-2"])).expect_err("negative");
        assert!(err.to_string().contains("broker.id"), "{err}");
    }

    /// Kafka 4's stock KRaft `config/server.properties` (its listener and log settings) puts the
    /// broker where it says; the command-line flags win when given.
    #[test]
    fn kafkas_stock_server_properties_set_the_listener_and_the_data_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.properties");
        std::fs::write(
            &path,
            "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.bootstrap.servers=localhost:9093\n\
             listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ninter.broker.listener.name=PLAINTEXT\n\
             advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093\n\
             controller.listener.names=CONTROLLER\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\n\
             log.dirs=/tmp/kraft-combined-logs\nnum.partitions=1\n",
        )
        .expect("write");
        let file = path.to_str().expect("utf8");
        let config = BrokerConfig::from_cli(cli(&["--config", file])).expect("valid");
        assert_eq!(config.listen, "0.0.0.0:9092");
        assert_eq!(config.advertise.as_deref(), Some("localhost:9092"));
        assert_eq!(config.data_dir, PathBuf::from("/tmp/kraft-combined-logs"));
        assert_eq!(config.value("listeners"), Some(("PLAINTEXT://:9092,CONTROLLER://:9093", Source::Static)));

        let flags = ["--config", file, "--listen", "127.0.0.1:0", "--advertise", "h:1", "--data-dir", "/x"];
        let config = BrokerConfig::from_cli(cli(&flags)).expect("valid");
        assert_eq!((config.listen.as_str(), config.advertise.as_deref()), ("127.0.0.1:0", Some("h:1")));
        assert_eq!(config.data_dir, PathBuf::from("/x"));

        let config = BrokerConfig::from_cli(cli(&["--override", "log.dir=/y"])).expect("valid");
        assert_eq!(config.data_dir, PathBuf::from("/y"));
        let err = BrokerConfig::from_cli(cli(&["--override", "log.dirs=/a,/b"])).expect_err("two dirs");
        assert!(matches!(err, ConfigError::SeveralLogDirs(2)), "{err}");
        let err = BrokerConfig::from_cli(cli(&["--override", "listeners=SSL://:9093"])).expect_err("ssl");
        assert!(err.to_string().contains("PLAINTEXT only"), "{err}");
    }
}
