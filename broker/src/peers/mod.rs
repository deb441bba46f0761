//! Requests this broker sends to the other brokers of its cluster, on their client listeners as
//! Kafka brokers do: a transaction coordinator's WriteTxnMarkers to partition leaders, a partition
//! leader's AddPartitionsToTxn to a transaction coordinator. (Followers keep their own connection
//! per leader, `crate::replication`.) Connections are opened on first use and kept idle for the
//! next request to the same broker; one that failed is dropped, so the next call reconnects.

pub mod conn;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kafka_protocol::protocol::Request;

use crate::state::BrokerEndpoint;
use conn::{PeerConn, PeerError};

/// Idle connections kept per broker (more are opened while requests run concurrently).
const IDLE_PER_PEER_MAX: usize = 4;

/// The pool of connections to the other brokers.
#[derive(Debug)]
pub struct Peers {
    /// This broker's id (its client id on the connections).
    node: i32,
    /// Per broker id: its address and the idle connections to it.
    idle: Mutex<HashMap<i32, (String, Vec<PeerConn>)>>,
}

impl Peers {
    pub fn new(node: i32) -> Peers {
        Peers { node, idle: Mutex::new(HashMap::new()) }
    }

    /// Sends `request` at `version` to broker `peer` and reads its response within `timeout`.
    pub async fn call<R: Request>(
        &self,
        peer: &BrokerEndpoint,
        version: i16,
        request: &R,
        timeout: Duration,
    ) -> Result<R::Response, PeerError> {
        let address = crate::cluster::format_address(&peer.host, u16::try_from(peer.port).unwrap_or(0));
        let mut conn = match self.take(peer.id, &address) {
            Some(conn) => conn,
            None => PeerConn::connect(&address, self.node).await?,
        };
        let response = conn.call(version, request, timeout).await?;
        self.put_back(peer.id, address, conn);
        Ok(response)
    }

    /// An idle connection to `peer` at `address`; those to an address it no longer has are
    /// dropped.
    fn take(&self, peer: i32, address: &str) -> Option<PeerConn> {
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (known, conns) = idle.get_mut(&peer)?;
        if known != address {
            idle.remove(&peer);
            return None;
        }
        conns.pop()
    }

    fn put_back(&self, peer: i32, address: String, conn: PeerConn) {
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (known, conns) = idle.entry(peer).or_insert_with(|| (address.clone(), Vec::new()));
        if *known == address && conns.len() < IDLE_PER_PEER_MAX {
            conns.push(conn);
        }
    }
}
