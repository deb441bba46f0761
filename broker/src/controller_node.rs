//! A controller-only node (`process.roles=controller`): a voter of the metadata quorum that serves
//! no clients, as Kafka's dedicated controllers. It keeps the metadata log in its data directory,
//! takes the brokers' heartbeats and, while it is the active controller, fences and unfences
//! them; it registers no broker, so no partition is ever placed on it.

use std::path::PathBuf;

use strata_log::LogManager;

use crate::RunError;
use crate::cluster::Membership;
use crate::config::BrokerConfig;
use crate::data_dir_lock::DataDirLock;
use crate::state::{OpenedDataDir, StartError, open_data_dir};

/// A controller-only node that joined the quorum.
pub struct Controller {
    membership: Membership,
    log: LogManager,
    node: i32,
    /// Where it serves the quorum.
    pub address: String,
    pub data_dir: PathBuf,
    _data_dir_lock: DataDirLock,
}

/// Opens the data directory, starts the quorum member and agrees on the cluster id with the
/// other controllers (recording it in `meta.properties`).
pub async fn start(config: BrokerConfig) -> Result<Controller, RunError> {
    let (Some(cluster), Some(address)) =
        (config.cluster.clone(), config.cluster.as_ref().and_then(|c| c.controller_bind.clone()))
    else {
        return Err(RunError::NotAController);
    };
    let data_dir = config.data_dir.clone();
    let node = config.settings.node_id;
    let OpenedDataDir { lock, stored_cluster_id, log } = tokio::task::block_in_place(|| open_data_dir(&config))?;
    let membership =
        Membership::join(&cluster, &config, &log, None, stored_cluster_id).await.map_err(StartError::from)?;
    crate::meta_properties::join_cluster(&data_dir, node, &membership.cluster_id).map_err(StartError::from)?;
    Ok(Controller { membership, log, node, address, data_dir, _data_dir_lock: lock })
}

impl Controller {
    /// Serves the quorum until `shutdown` completes, then leaves it and closes the log cleanly.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), RunError> {
        shutdown.await;
        self.membership.leave(self.node).await;
        tokio::task::block_in_place(|| self.log.shutdown()).map_err(RunError::Shutdown)?;
        tracing::info!("log closed cleanly");
        Ok(())
    }
}
