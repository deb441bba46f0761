//! The data directory's identity, as Kafka keeps it in `meta.properties`: the cluster id, this
//! node's id and the directory's own id. An empty directory is formatted on its first start (or
//! by `strata format`, Kafka's `kafka-storage.sh format`); every start then checks the stored
//! node id against `node.id` and refuses a directory formatted for another node, as Kafka does,
//! instead of taking over its partitions.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The file's name in the data directory, as Kafka names it.
pub const FILE_NAME: &str = "meta.properties";
/// Where Strata kept the cluster id before `meta.properties`; adopted once, then left alone.
const LEGACY_CLUSTER_ID: &str = "meta/cluster.id";
/// The `version` of a KRaft-mode `meta.properties`.
const VERSION: &str = "1";

/// What `meta.properties` records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub cluster_id: String,
    pub node_id: i32,
    /// Kafka's `directory.id` (KIP-858), a Kafka UUID naming this directory.
    pub directory_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("cannot read or write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid meta.properties: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "stored node id {stored} doesn't match the configured node.id {configured} in {path}. If you moved your \
         data, make sure your configured node id matches. If you intend to create a new node, you should remove \
         all data in your data directories"
    )]
    NodeIdMismatch { path: PathBuf, stored: i32, configured: i32 },
    #[error("cluster id '{0}' is empty or holds whitespace (`strata random-uuid` prints a good one)")]
    BadClusterId(String),
    #[error("Invalid cluster.id in: {path}. Expected {given}, but read {stored}")]
    ClusterIdMismatch { path: PathBuf, given: String, stored: String },
    #[error(
        "log directory {0} is already formatted. Use --ignore-formatted to ignore this directory and format the others"
    )]
    AlreadyFormatted(PathBuf),
}

impl MetaProperties {
    /// Kafka's text of the file: `#`-comment header, then sorted `key=value` lines.
    pub fn render(&self) -> String {
        let mut text = String::from("#\n#Written by strata\n");
        for (key, value) in [
            ("cluster.id", self.cluster_id.as_str()),
            ("directory.id", self.directory_id.as_str()),
            ("node.id", &self.node_id.to_string()),
            ("version", VERSION),
        ] {
            // Writing to a String cannot fail.
            let _ = writeln!(text, "{key}={value}");
        }
        text
    }

    /// Parses the file's text; `path` is only for the error.
    pub fn parse(text: &str, path: &Path) -> Result<MetaProperties, MetaError> {
        let invalid = |reason: String| MetaError::Invalid { path: path.to_path_buf(), reason };
        let entries = crate::config::parse_properties(text, &path.display().to_string())
            .map_err(|error| invalid(error.to_string()))?;
        let get = |key: &str| {
            entries
                .iter()
                .rev()
                .find(|(_, k, _)| k == key)
                .map(|(_, _, v)| v.clone())
                .ok_or_else(|| invalid(format!("no {key}")))
        };
        let version = get("version")?;
        if version != VERSION {
            return Err(invalid(format!("version {version}; only version {VERSION} (KRaft) is supported")));
        }
        let node_id = get("node.id")?;
        let node_id = node_id.parse().map_err(|_| invalid(format!("node.id '{node_id}' is not an integer")))?;
        Ok(MetaProperties { cluster_id: get("cluster.id")?, node_id, directory_id: get("directory.id")? })
    }
}

/// A fresh Kafka UUID as Kafka prints it (`kafka-storage.sh random-uuid`): 16 random bytes in
/// URL-safe base64 without padding. Like Kafka, never one starting with '-', which a command
/// line would take for a flag.
pub fn random_uuid() -> String {
    loop {
        let id = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// Checks a cluster id given to `strata format`. Kafka 4.1 writes any string (it stopped
/// requiring a UUID in 3.9); Strata only refuses what would not survive the properties file.
fn check_cluster_id(id: &str) -> Result<(), MetaError> {
    if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(MetaError::BadClusterId(id.to_string()));
    }
    Ok(())
}

/// The identity of `data_dir` for a broker configured with `node_id`: the stored one, checked,
/// or, for a directory never formatted, a new one written durably first (a new random cluster id,
/// or the one an older Strata kept in `meta/cluster.id`).
pub fn load_or_format(data_dir: &Path, node_id: i32) -> Result<MetaProperties, MetaError> {
    if let Some(meta) = load(data_dir, node_id)? {
        return Ok(meta);
    }
    let path = data_dir.join(FILE_NAME);
    let legacy = data_dir.join(LEGACY_CLUSTER_ID);
    let cluster_id = match std::fs::read_to_string(&legacy) {
        Ok(id) => id.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => random_uuid(),
        Err(source) => return Err(MetaError::Io { path: legacy, source }),
    };
    let meta = MetaProperties { cluster_id, node_id, directory_id: random_uuid() };
    write(&path, &meta)?;
    tracing::info!(path = %path.display(), cluster_id = %meta.cluster_id, node_id, "formatted the data directory");
    Ok(meta)
}

/// The stored identity of `data_dir`, checked against `node_id`; `None` if never formatted.
pub fn load(data_dir: &Path, node_id: i32) -> Result<Option<MetaProperties>, MetaError> {
    let path = data_dir.join(FILE_NAME);
    match read(&path)? {
        Some(meta) if meta.node_id != node_id => {
            Err(MetaError::NodeIdMismatch { path, stored: meta.node_id, configured: node_id })
        }
        found => Ok(found),
    }
}

/// The identity of a cluster member's `data_dir`, given the id its cluster agreed on: the
/// stored one when it names that cluster (`ClusterIdMismatch` when it names another), or a new
/// one written durably first.
pub fn join_cluster(data_dir: &Path, node_id: i32, cluster_id: &str) -> Result<MetaProperties, MetaError> {
    let path = data_dir.join(FILE_NAME);
    if let Some(meta) = load(data_dir, node_id)? {
        if meta.cluster_id != cluster_id {
            return Err(MetaError::ClusterIdMismatch { path, given: cluster_id.to_string(), stored: meta.cluster_id });
        }
        return Ok(meta);
    }
    let meta = MetaProperties { cluster_id: cluster_id.to_string(), node_id, directory_id: random_uuid() };
    write(&path, &meta)?;
    tracing::info!(path = %path.display(), cluster_id, node_id, "formatted the data directory for the cluster");
    Ok(meta)
}

/// `strata format`: writes `meta.properties` for `cluster_id` and `node_id` into `data_dir`
/// (created if missing). As Kafka's format, a directory formatted for another cluster or node is
/// an error even with `ignore_formatted`; one formatted for this cluster and node is an error
/// unless `ignore_formatted`, and is then left as it is.
pub fn format(
    data_dir: &Path,
    cluster_id: &str,
    node_id: i32,
    ignore_formatted: bool,
) -> Result<Option<MetaProperties>, MetaError> {
    check_cluster_id(cluster_id)?;
    let path = data_dir.join(FILE_NAME);
    if let Some(stored) = read(&path)? {
        if stored.cluster_id != cluster_id {
            let given = cluster_id.to_string();
            return Err(MetaError::ClusterIdMismatch { path, given, stored: stored.cluster_id });
        }
        if stored.node_id != node_id {
            return Err(MetaError::NodeIdMismatch { path, stored: stored.node_id, configured: node_id });
        }
        return if ignore_formatted { Ok(None) } else { Err(MetaError::AlreadyFormatted(data_dir.to_path_buf())) };
    }
    std::fs::create_dir_all(data_dir).map_err(|source| MetaError::Io { path: data_dir.to_path_buf(), source })?;
    let meta = MetaProperties { cluster_id: cluster_id.to_string(), node_id, directory_id: random_uuid() };
    write(&path, &meta)?;
    Ok(Some(meta))
}

fn read(path: &Path) -> Result<Option<MetaProperties>, MetaError> {
    match std::fs::read_to_string(path) {
        Ok(text) => MetaProperties::parse(&text, path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(MetaError::Io { path: path.to_path_buf(), source }),
    }
}

/// Writes the file so that a power cut leaves it whole or absent, never half written.
fn write(path: &Path, meta: &MetaProperties) -> Result<(), MetaError> {
    strata_log::durable_file::write_atomically(path, meta.render().as_bytes())
        .map_err(|source| MetaError::Io { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_round_trips_and_reads_kafkas_own() {
        let meta = MetaProperties { cluster_id: random_uuid(), node_id: 3, directory_id: random_uuid() };
        let path = Path::new("meta.properties");
        assert_eq!(MetaProperties::parse(&meta.render(), path).expect("parse"), meta);
        // As Kafka 4.1's `kafka-storage.sh format` writes it.
        let kafka = "#\n#Thu Dec 04 04:40:00 UTC 2026\nnode.id=1\ndirectory.id=0Bx0vA3VQ2ik7sBGN1ZjLw\nversion=1\n\
                     cluster.id=MkU3OEVBNTcwNTJENDM2Qk\n";
        let read = MetaProperties::parse(kafka, path).expect("parse");
        assert_eq!((read.cluster_id.as_str(), read.node_id), ("MkU3OEVBNTcwNTJENDM2Qk", 1));
        let err = MetaProperties::parse("version=0\nbroker.id=1\ncluster.id=x\n", path).expect_err("zk");
        assert!(err.to_string().contains("only version 1"), "{err}");
        let err = MetaProperties::parse("version=1\ncluster.id=x\n", path).expect_err("no node");
        assert!(err.to_string().contains("no node.id"), "{err}");
    }

    #[test]
    fn random_uuids_are_kafka_uuids() {
        for _ in 0..1000 {
            let id = random_uuid();
            assert_eq!(id.len(), 22, "{id}");
            assert!(!id.starts_with('-'));
            assert_eq!(URL_SAFE_NO_PAD.decode(&id).expect("base64url").len(), 16, "{id}");
        }
        check_cluster_id("any-string-Kafka-4.1-accepts").expect("as Kafka");
        assert!(check_cluster_id("").is_err());
        assert!(check_cluster_id("two words").is_err());
    }

    #[test]
    fn a_directory_is_formatted_once_and_refused_to_another_node() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_format(dir.path(), 1).expect("format");
        assert_eq!(load_or_format(dir.path(), 1).expect("load"), first);
        let err = load_or_format(dir.path(), 2).expect_err("other node");
        assert!(matches!(err, MetaError::NodeIdMismatch { stored: 1, configured: 2, .. }), "{err}");
        assert_eq!(load_or_format(dir.path(), 1).expect("still"), first, "the refusal changed nothing");
    }

    #[test]
    fn an_older_strata_directory_keeps_its_cluster_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("meta")).expect("mkdir");
        std::fs::write(dir.path().join(LEGACY_CLUSTER_ID), "0123456789abcdef0123456789abcdef").expect("write");
        let meta = load_or_format(dir.path(), 7).expect("adopt");
        assert_eq!((meta.cluster_id.as_str(), meta.node_id), ("0123456789abcdef0123456789abcdef", 7));
    }

    #[test]
    fn format_writes_the_given_cluster_id_and_refuses_a_formatted_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let id = random_uuid();
        let meta = format(&data, &id, 4, false).expect("format").expect("written");
        assert_eq!((meta.cluster_id.as_str(), meta.node_id), (id.as_str(), 4));
        assert!(matches!(format(&data, &id, 4, false), Err(MetaError::AlreadyFormatted(_))));
        assert_eq!(format(&data, &id, 4, true).expect("ignored"), None);
        // Another cluster or node is refused even when told to ignore formatted directories.
        assert!(matches!(format(&data, &random_uuid(), 4, true), Err(MetaError::ClusterIdMismatch { .. })));
        assert!(matches!(format(&data, &id, 5, true), Err(MetaError::NodeIdMismatch { stored: 4, .. })));
        assert_eq!(load_or_format(&data, 4).expect("load"), meta);
        assert!(matches!(format(&dir.path().join("other"), "a b", 4, false), Err(MetaError::BadClusterId(_))));
    }
}
