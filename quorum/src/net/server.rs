//! The Raft RPCs a controller answers: an accept loop on the controller listener, a task per
//! connection handing each request to the local Raft node (or, for forwarded decisions and
//! heartbeats, to the member as leader). A malformed frame closes the connection with a log line.

use std::sync::Arc;

use openraft::Snapshot;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::frame::{RaftReply, RaftRequest, read_frame, write_frame};
use crate::member::Member;

/// Serves `listener` until the task is aborted, which also ends every connection it accepted.
pub fn serve(listener: TcpListener, member: Arc<Member>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            // Reap finished connections so the set holds only live ones.
            while connections.try_join_next().is_some() {}
            match listener.accept().await {
                Ok((conn, peer)) => {
                    let member = Arc::clone(&member);
                    connections.spawn(async move {
                        if let Err(error) = connection(conn, &member).await {
                            tracing::info!(%peer, %error, "controller connection closed");
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "controller listener accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    })
}

async fn connection(mut conn: TcpStream, member: &Member) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    let raft = &member.raft;
    while let Some(request) = read_frame::<_, RaftRequest>(&mut conn).await? {
        let reply = match request {
            RaftRequest::AppendEntries(rpc) => RaftReply::AppendEntries(raft.append_entries(rpc).await),
            RaftRequest::Vote(rpc) => RaftReply::Vote(raft.vote(rpc).await),
            RaftRequest::Snapshot { vote, meta, data } => {
                RaftReply::Snapshot(raft.install_full_snapshot(vote, Snapshot { meta, snapshot: Box::new(data) }).await)
            }
            // Answered here only: a member that does not lead says so rather than forward again.
            RaftRequest::Propose(decision) => RaftReply::Propose(member.propose(decision).await),
            RaftRequest::Heartbeat { broker_id } => RaftReply::Heartbeat(member.heartbeat(broker_id)),
            RaftRequest::Describe => RaftReply::Describe(member.describe()),
            RaftRequest::AddObserver { node_id, address } => {
                RaftReply::AddObserver(member.add_observer(node_id, address).await)
            }
        };
        write_frame(&mut conn, &reply).await?;
    }
    Ok(())
}
