//! What a member asks of the quorum's leader: commit a decision, take a broker's heartbeat. The
//! member's own Raft node answers when it leads; otherwise the request goes to the leader over a
//! connection to its controller listener, and waits out an election with retries until a
//! deadline. Calls run side by side, each on a connection of its own (idle ones are kept for
//! reuse): a call to a leader that has just become unreachable waits out its timeout without
//! holding up the calls behind it, which by then go to its successor.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::error::ProposeError;
use crate::net::frame::{RaftReply, RaftRequest, read_frame, write_frame};

/// How long one forwarded request may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between attempts while no leader is known.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// Idle connections kept for reuse.
const IDLE_MAX: usize = 4;

/// Connections to the leader, reused while the leader stays the same.
pub struct LeaderLink {
    addresses: BTreeMap<u64, String>,
    idle: Mutex<Vec<(u64, TcpStream)>>,
}

impl LeaderLink {
    pub fn new(addresses: BTreeMap<u64, String>) -> LeaderLink {
        LeaderLink { addresses, idle: Mutex::new(Vec::new()) }
    }

    /// The voters' ids.
    pub fn nodes(&self) -> Vec<u64> {
        self.addresses.keys().copied().collect()
    }

    /// An idle connection to `node`, dropping those to any other (a former leader).
    fn take_idle(&self, node: u64) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.retain(|(id, _)| *id == node);
        idle.pop().map(|(_, conn)| conn)
    }

    fn put_idle(&self, node: u64, conn: TcpStream) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_MAX {
            idle.push((node, conn));
        }
    }

    /// Sends `request` to `leader` and reads its reply; a connection that failed is dropped, as
    /// is one whose call was abandoned midway (its caller gave up), with its unread reply.
    pub async fn call(&self, leader: u64, request: &RaftRequest) -> Result<RaftReply, ProposeError> {
        let address =
            self.addresses.get(&leader).ok_or_else(|| ProposeError::NoLeader(format!("unknown node {leader}")))?;
        let cached = self.take_idle(leader);
        let outcome = tokio::time::timeout(CALL_TIMEOUT, async {
            let mut conn = match cached {
                Some(conn) => conn,
                None => {
                    let conn = TcpStream::connect(address).await?;
                    conn.set_nodelay(true)?;
                    conn
                }
            };
            write_frame(&mut conn, request).await?;
            let reply = read_frame::<_, RaftReply>(&mut conn).await?.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the leader closed the connection")
            })?;
            Ok::<_, std::io::Error>((conn, reply))
        })
        .await
        .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply in time")));
        match outcome {
            Ok((conn, reply)) => {
                self.put_idle(leader, conn);
                Ok(reply)
            }
            Err(e) => Err(ProposeError::NoLeader(format!("node {leader} at {address}: {e}"))),
        }
    }
}

/// Runs `attempt` until it gives something other than a retryable answer (no leader known, the
/// leader unreachable or just replaced) or `deadline` passes.
pub async fn retry<T, F, Fut>(deadline: Instant, mut attempt: F) -> Result<T, ProposeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProposeError>>,
{
    loop {
        match attempt().await {
            Err(ProposeError::NotLeader { .. } | ProposeError::NoLeader(_)) if Instant::now() < deadline => {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            outcome => return outcome,
        }
    }
}
