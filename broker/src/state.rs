//! The broker's shared state: configuration, the log manager, the topic registry and this node's
//! identity, the group and transaction coordinators, the fetch sessions. One `Arc<Broker>` is shared by every connection and background task.

use std::path::PathBuf;
use std::sync::Arc;

use strata_log::{LogManager, LogOptions};

use crate::config::BrokerConfig;
use crate::topics::{TopicError, Topics};

/// The address clients are told to connect to.
#[derive(Debug, Clone)]
pub struct Advertised {
    pub host: String,
    pub port: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("cannot open the log: {0}")]
    Log(#[from] strata_log::LogError),
    #[error("cannot load topics: {0}")]
    Topics(#[from] TopicError),
    #[error(transparent)]
    Meta(#[from] crate::meta_properties::MetaError),
    #[error("cannot start the group coordinator: {0}")]
    Groups(#[from] crate::groups::GroupsStartError),
    #[error("cannot start the transaction coordinator: {0}")]
    Txns(#[from] crate::txn::TxnStartError),
    #[error(transparent)]
    Locked(#[from] crate::data_dir_lock::LockError),
    #[error("cannot join the cluster: {0}")]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error(transparent)]
    Checkpoint(#[from] crate::replication::checkpoint::CheckpointError),
    #[error("cannot load the share groups' state: {0}")]
    Shares(#[from] crate::groups::StoreError),
}

/// A broker as Metadata, DescribeCluster and FindCoordinator give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEndpoint {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    pub advertised: Advertised,
    pub cluster_id: String,
    pub log: LogManager,
    pub topics: Topics,
    /// Idempotent producer ids (InitProducerId).
    pub producer_ids: Arc<crate::producer_ids::ProducerIds>,
    pub groups: crate::groups::Groups,
    pub txns: crate::txn::Transactions,
    /// Incremental fetch sessions (KIP-227).
    pub fetch_sessions: std::sync::Mutex<crate::fetch_sessions::FetchSessionCache>,
    /// This broker's membership of a cluster; `None` on a single node.
    pub cluster: Option<crate::cluster::Membership>,
    /// Its replicas' roles in a cluster: the partitions it leads and the fetchers of those it
    /// follows.
    pub replication: crate::replication::Replication,
    /// Connections to the other brokers of the cluster, for the requests brokers send each other.
    pub peers: crate::peers::Peers,
    /// Share groups (KIP-932): members, share sessions and each partition's in-flight records.
    pub shares: crate::shares::Shares,
    /// Held for the broker's life: no other process opens the data directory meanwhile.
    _data_dir_lock: crate::data_dir_lock::DataDirLock,
}

/// A node's data directory, opened: locked for this process, its stored cluster id read, its log
/// recovered.
pub struct OpenedDataDir {
    pub lock: crate::data_dir_lock::DataDirLock,
    /// The cluster id of its `meta.properties`, if it has one.
    pub stored_cluster_id: Option<String>,
    pub log: LogManager,
}

/// Opens `config`'s data directory (creating it), as a broker and a controller-only node both do:
/// locks it before anything in it is read, refuses a directory of another node before anything
/// is recovered, and opens the log with the configured I/O (`strata.log.io`).
pub fn open_data_dir(config: &BrokerConfig) -> Result<OpenedDataDir, StartError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| StartError::DataDir { path: config.data_dir.clone(), source })?;
    let lock = crate::data_dir_lock::DataDirLock::acquire(&config.data_dir)?;
    let node = config.settings.node_id;
    let stored_cluster_id = crate::meta_properties::load(&config.data_dir, node)?.map(|m| m.cluster_id);
    let force_fallback_io = config.settings.log_io == crate::settings::LogIo::Pwrite;
    let log = LogManager::open(&config.data_dir, LogOptions { force_fallback_io, ..LogOptions::default() })?;
    tracing::info!(io = ?log.io_kind(), "log opened");
    Ok(OpenedDataDir { lock, stored_cluster_id, log })
}

impl Broker {
    /// Opens the data directory: the log, the topic registry and every partition.
    pub fn open(config: BrokerConfig, advertised: Advertised) -> Result<Broker, StartError> {
        let OpenedDataDir { lock: data_dir_lock, stored_cluster_id, log } = open_data_dir(&config)?;
        let node = config.settings.node_id;
        let (cluster, cluster_id) = match &config.cluster {
            Some(cluster) => {
                let membership = tokio::runtime::Handle::current().block_on(crate::cluster::Membership::join(
                    cluster,
                    &config,
                    &log,
                    Some(&advertised),
                    stored_cluster_id,
                ))?;
                let meta = crate::meta_properties::join_cluster(&config.data_dir, node, &membership.cluster_id)?;
                (Some(membership), meta.cluster_id)
            }
            None => (None, crate::meta_properties::load_or_format(&config.data_dir, node)?.cluster_id),
        };
        let topics = match &cluster {
            Some(membership) => {
                let topics = Topics::load_cluster(&log, &config, Arc::clone(&membership.quorum), now_ms())?;
                crate::replication::checkpoint::restore(
                    &topics,
                    &crate::replication::checkpoint::read(&config.data_dir)?,
                );
                topics
            }
            None => Topics::load(&log, &config, now_ms())?,
        };
        let groups = crate::groups::Groups::open(&log, &topics, &config)?;
        let producer_ids = Arc::new(match &cluster {
            Some(membership) => crate::producer_ids::ProducerIds::cluster(Arc::clone(&membership.quorum), node),
            None => crate::producer_ids::ProducerIds::new(&config.data_dir),
        });
        let txns = crate::txn::Transactions::open(&log, &topics, &config, Arc::clone(&producer_ids))?;
        let slots = config.settings.max_incremental_fetch_session_cache_slots;
        let seed = uuid::Uuid::new_v4().as_u64_pair().0;
        let fetch_sessions = std::sync::Mutex::new(crate::fetch_sessions::FetchSessionCache::new(slots, seed));
        let shares = crate::shares::Shares::open(&config.settings, &topics, cluster.is_none())?;
        Ok(Broker {
            config,
            advertised,
            cluster_id,
            log,
            topics,
            producer_ids,
            groups,
            txns,
            fetch_sessions,
            cluster,
            replication: crate::replication::Replication::default(),
            peers: crate::peers::Peers::new(node),
            shares,
            _data_dir_lock: data_dir_lock,
        })
    }

    pub fn node_id(&self) -> i32 {
        self.config.settings.node_id
    }

    /// This node's `broker.rack`, as Metadata and DescribeCluster give it (none when unset).
    pub fn rack(&self) -> Option<String> {
        self.config.settings.rack()
    }

    /// The node Metadata and DescribeCluster name as the controller: a single node is its own; in
    /// a cluster, the quorum's leader when it is a live broker (-1 while there is none), else,
    /// as Kafka's brokers answer when the controllers are processes of their own that clients
    /// cannot reach, a live broker (this one), to which clients send what they address to the
    /// controller.
    pub fn controller_id(&self) -> i32 {
        let Some(membership) = &self.cluster else { return self.node_id() };
        let Some(leader) = membership.quorum.leader().and_then(|id| i32::try_from(id).ok()) else { return -1 };
        if self.broker_endpoint(leader).is_some() { leader } else { self.node_id() }
    }

    /// The brokers clients are told of: this node alone on a single node; in a cluster every
    /// registered broker that is not fenced, as of the image the topic registry serves.
    pub fn live_brokers(&self) -> Vec<BrokerEndpoint> {
        let Some(image) = self.topics.cluster_image() else {
            let Advertised { host, port } = self.advertised.clone();
            return vec![BrokerEndpoint { id: self.node_id(), host, port, rack: self.rack() }];
        };
        // The image the served topics come from: brokers and partition leaders agree.
        image
            .brokers()
            .filter(|b| !b.fenced)
            .map(|b| BrokerEndpoint { id: b.broker_id, host: b.host.clone(), port: b.port, rack: b.rack.clone() })
            .collect()
    }

    /// Where broker `id` is reached, if it is live.
    pub fn broker_endpoint(&self, id: i32) -> Option<BrokerEndpoint> {
        self.live_brokers().into_iter().find(|b| b.id == id)
    }
}

/// Milliseconds since the Unix epoch: the broker is the one place that reads the wall clock and
/// passes it to the log and the group coordinator.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
