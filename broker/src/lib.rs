//! The Strata broker: a Kafka-compatible server on the Strata segment log. `main.rs` parses the
//! command line and calls [`start`]; tests may start a broker in-process the same way.

pub mod api;
pub mod authorized_operations;
pub mod blocking;
pub mod cluster;
pub mod config;
pub mod config_changes;
pub mod config_defs;
pub mod config_resources;
pub mod connection;
pub mod connection_limits;
pub mod controller_node;
pub mod coordinator_owner;
pub mod data_dir_lock;
pub mod delay_topics;
pub mod dispatch;
pub mod duplicates;
pub mod errors;
pub mod fd_limit;
pub mod fetch_sessions;
pub mod frame_reader;
pub mod group_settings;
pub mod groups;
pub mod handlers;
pub mod leader_hint;
pub mod listeners;
pub mod locate;
pub mod malloc_arenas;
pub mod meta_properties;
pub mod own_writes;
pub mod peers;
pub mod producer_ids;
pub mod quorum_config;
pub mod replica_assignment;
pub mod replication;
pub mod reply;
pub mod server;
pub mod settings;
pub mod shares;
pub mod state;
pub mod topics;
pub mod txn;

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::BrokerConfig;
use crate::state::{Advertised, Broker, StartError};

/// A broker bound to its listen address and ready to serve.
#[derive(Debug)]
pub struct Started {
    pub broker: Arc<Broker>,
    pub listener: TcpListener,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("clean shutdown failed: {0}")]
    Shutdown(strata_log::LogError),
    #[error("this node is not a controller (process.roles and controller.listener.names)")]
    NotAController,
}

/// Binds the listener and opens the data directory.
pub async fn start(config: BrokerConfig) -> Result<Started, RunError> {
    let listen_err = |source| RunError::Listen { address: config.listen.clone(), source };
    let listener = TcpListener::bind(&config.listen).await.map_err(listen_err)?;
    let bound = listener.local_addr().map_err(listen_err)?;
    let advertised = match &config.advertise {
        Some(address) => {
            let (host, port) = address.rsplit_once(':').unwrap_or((address.as_str(), "9092"));
            Advertised { host: host.to_string(), port: port.parse().unwrap_or(9092) }
        }
        // Bound to every interface, Kafka advertises the host's name; so does Strata.
        None if bound.ip().is_unspecified() => Advertised { host: host_name(), port: i32::from(bound.port()) },
        None => Advertised { host: bound.ip().to_string(), port: i32::from(bound.port()) },
    };
    let broker = tokio::task::block_in_place(|| Broker::open(config, advertised))?;
    Ok(Started { broker: Arc::new(broker), listener })
}

/// This machine's host name, or `localhost` if it has none that is valid UTF-8.
fn host_name() -> String {
    nix::unistd::gethostname().ok().and_then(|name| name.into_string().ok()).unwrap_or_else(|| "localhost".into())
}

/// Serves until `shutdown` completes, then closes the log cleanly.
pub async fn serve(started: Started, shutdown: impl std::future::Future<Output = ()>) -> Result<(), RunError> {
    let Started { broker, listener } = started;
    let group_ticker = tokio::spawn(groups::ticker::run(Arc::clone(&broker)));
    let follower = tokio::spawn(cluster::follow_image(Arc::clone(&broker)));
    let isr_shrinker = tokio::spawn(replication::shrink_lagging(Arc::clone(&broker)));
    let checkpointer = tokio::spawn(replication::checkpoint::run(Arc::clone(&broker)));
    let txn_ticker = tokio::spawn(txn::ticker::run(Arc::clone(&broker)));
    server::run(listener, Arc::clone(&broker), shutdown).await;
    group_ticker.abort();
    txn_ticker.abort();
    follower.abort();
    isr_shrinker.abort();
    checkpointer.abort();
    broker.replication.stop();
    replication::checkpoint::write_final(&broker);
    if let Some(membership) = &broker.cluster {
        membership.leave(broker.node_id()).await;
    }
    broker.groups.shutdown().await;
    tokio::task::block_in_place(|| broker.log.shutdown()).map_err(RunError::Shutdown)?;
    tracing::info!("log closed cleanly");
    Ok(())
}
