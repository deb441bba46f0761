//! The listener: accepts connections up to `max.connections` (as in Kafka, the next waits in the
//! listen backlog until one closes), closes one over `max.connections.per.ip` right after
//! accepting it (as Kafka does), runs periodic log maintenance and the delay topics' mover
//! (`crate::delay_topics`), and on shutdown stops accepting,
//! lets connections go, and closes the log cleanly.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::connection;
use crate::connection_limits::{PerIpCounts, RequestBytes};
use crate::state::{Broker, now_ms};

/// Accepts connections until `shutdown` completes.
pub async fn run(listener: TcpListener, broker: Arc<Broker>, shutdown: impl std::future::Future<Output = ()>) {
    let settings = &broker.config.settings;
    let slots = Arc::new(Semaphore::new(settings.max_connections.min(Semaphore::MAX_PERMITS)));
    let per_ip = Arc::new(PerIpCounts::default());
    let request_bytes = RequestBytes::new(settings);
    let maintenance = tokio::spawn(maintain(Arc::clone(&broker)));
    let delay_topics = tokio::spawn(crate::delay_topics::run(Arc::clone(&broker)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let address = peer.ip().to_canonical();
                let limit = broker.config.settings.max_connections_for(address);
                let Some(ip_slot) = per_ip.admit(address, limit) else {
                    // Kafka's words, at Kafka's level.
                    tracing::info!(%peer, limit, "rejected connection: the address already has the configured maximum of connections (max.connections.per.ip)");
                    continue;
                };
                tracing::debug!(%peer, "accepted connection");
                let broker = Arc::clone(&broker);
                let request_bytes = request_bytes.clone();
                tokio::spawn(async move {
                    connection::serve(stream, broker, request_bytes).await;
                    drop((ip_slot, permit));
                });
            }
            Err(error) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    maintenance.abort();
    delay_topics.abort();
}

/// Rolls segments by age, applies retention and flush.ms on every partition, periodically.
async fn maintain(broker: Arc<Broker>) {
    // flush.ms needs a finer tick than the retention check; one second is Kafka's scheduler default
    // resolution for both in practice.
    let interval_ms = broker.config.settings.log_retention_check_interval_ms.min(1000);
    let mut tick = tokio::time::interval(Duration::from_millis(interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let broker = Arc::clone(&broker);
        // Retention deletes files: keep it off the runtime's worker threads.
        let pass = tokio::task::spawn_blocking(move || {
            let now = now_ms();
            for topic in broker.topics.all() {
                for (index, partition) in topic.hosted() {
                    if let Err(error) = partition.maintain(now) {
                        tracing::warn!(topic = %topic.name, partition = index, %error, "log maintenance failed");
                    }
                }
            }
        });
        if let Err(error) = pass.await {
            tracing::error!(%error, "log maintenance pass failed");
        }
    }
}
