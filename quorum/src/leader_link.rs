//! What a member asks of the quorum's leader: commit a decision, take a broker's heartbeat. The
//! member's own Raft node answers when it leads; otherwise the request goes to the leader over
//! one cached connection to the controller listener, and waits out an election with retries
//! until a deadline.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::error::ProposeError;
use crate::net::frame::{RaftReply, RaftRequest, read_frame, write_frame};

/// How long one forwarded request may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between attempts while no leader is known.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// The connection to the leader, reused while the leader stays the same.
pub struct LeaderLink {
    addresses: BTreeMap<u64, String>,
    conn: Mutex<Option<(u64, TcpStream)>>,
}

impl LeaderLink {
    pub fn new(addresses: BTreeMap<u64, String>) -> LeaderLink {
        LeaderLink { addresses, conn: Mutex::new(None) }
    }

    /// The voters' ids.
    pub fn nodes(&self) -> Vec<u64> {
        self.addresses.keys().copied().collect()
    }

    /// Sends `request` to `leader` and reads its reply; any failure drops the connection.
    pub async fn call(&self, leader: u64, request: &RaftRequest) -> Result<RaftReply, ProposeError> {
        let address =
            self.addresses.get(&leader).ok_or_else(|| ProposeError::NoLeader(format!("unknown node {leader}")))?;
        let mut slot = self.conn.lock().await;
        // Out of the slot for the call: a call abandoned midway (its caller gave up) drops the
        // connection with its unread reply instead of leaving it for the next call to misread.
        let cached = slot.take().filter(|(id, _)| *id == leader).map(|(_, conn)| conn);
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
                *slot = Some((leader, conn));
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
