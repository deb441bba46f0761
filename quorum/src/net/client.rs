//! The Raft RPCs a controller sends: one connection per peer stream, opened on first use and
//! dropped on any error (the next call reconnects).

use std::time::Duration;

use openraft::error::{
    Fatal, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed, StreamingError,
    Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, SnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend, RaftNetwork, RaftNetworkFactory, Snapshot};
use tokio::net::TcpStream;

use super::frame::{RaftReply, RaftRequest, read_frame, write_frame};
use crate::types::{MetaRaft, Vote};

/// Makes a [`PeerClient`] for each peer stream openraft opens.
#[derive(Debug, Default, Clone)]
pub struct PeerClients;

impl RaftNetworkFactory<MetaRaft> for PeerClients {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerClient {
        PeerClient { target, addr: node.addr.clone(), conn: None }
    }
}

pub struct PeerClient {
    target: u64,
    addr: String,
    conn: Option<TcpStream>,
}

/// Why a call got no reply.
enum CallError {
    /// No connection could be made.
    Unreachable(std::io::Error),
    /// The connection failed or timed out mid-call.
    Network(std::io::Error),
}

impl PeerClient {
    async fn call(&mut self, request: &RaftRequest, ttl: Duration) -> Result<RaftReply, CallError> {
        let outcome = tokio::time::timeout(ttl, self.call_inner(request)).await.unwrap_or_else(|_| {
            Err(CallError::Network(std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply in time")))
        });
        if outcome.is_err() {
            self.conn = None;
        }
        outcome
    }

    async fn call_inner(&mut self, request: &RaftRequest) -> Result<RaftReply, CallError> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                let conn = TcpStream::connect(&self.addr).await.map_err(CallError::Unreachable)?;
                conn.set_nodelay(true).map_err(CallError::Unreachable)?;
                self.conn.insert(conn)
            }
        };
        write_frame(conn, request).await.map_err(CallError::Network)?;
        match read_frame(conn).await {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(CallError::Network(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the peer closed the connection",
            ))),
            Err(e) => Err(CallError::Network(e)),
        }
    }

    fn unexpected(&self) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("node {} answered another request", self.target))
    }
}

fn rpc_error<E: std::error::Error>(error: CallError) -> RPCError<u64, BasicNode, E> {
    match error {
        CallError::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
        CallError::Network(e) => RPCError::Network(NetworkError::new(&e)),
    }
}

impl RaftNetwork<MetaRaft> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<MetaRaft>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self.call(&RaftRequest::AppendEntries(rpc), option.hard_ttl()).await.map_err(rpc_error)? {
            RaftReply::AppendEntries(reply) => {
                reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(RPCError::Network(NetworkError::new(&self.unexpected()))),
        }
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<MetaRaft>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>> {
        // Snapshots travel whole through `full_snapshot`; openraft never sends chunks with
        // generic snapshot data.
        Err(RPCError::Network(NetworkError::new(&std::io::Error::other("chunked snapshots are not used"))))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self.call(&RaftRequest::Vote(rpc), option.hard_ttl()).await.map_err(rpc_error)? {
            RaftReply::Vote(reply) => reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(RPCError::Network(NetworkError::new(&self.unexpected()))),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot<MetaRaft>,
        cancel: impl std::future::Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<u64>, StreamingError<MetaRaft, Fatal<u64>>> {
        let request = RaftRequest::Snapshot { vote, meta: snapshot.meta, data: *snapshot.snapshot };
        let reply = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            reply = self.call(&request, option.hard_ttl()) => reply,
        };
        match reply {
            Ok(RaftReply::Snapshot(reply)) => {
                reply.map_err(|e| StreamingError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(StreamingError::Network(NetworkError::new(&self.unexpected()))),
            Err(CallError::Unreachable(e)) => Err(StreamingError::Unreachable(Unreachable::new(&e))),
            Err(CallError::Network(e)) => Err(StreamingError::Network(NetworkError::new(&e))),
        }
    }
}
