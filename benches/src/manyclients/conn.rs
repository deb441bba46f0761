//! W8's sockets: the process's file limit raised to hold them, many connections opened in small
//! batches with pauses between (Kafka's listen backlog is 50 by default, and a connection the
//! backlog drops is retried by the kernel only after a second), and one request-answer exchange
//! on a connection, bounded in time and in answer size. Non-blocking tokio sockets: a connection
//! costs a task on the one runtime thread, not a thread.

use crate::error::BenchError;
use bytes::{Bytes, BytesMut};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// Connections opened at once.
const CONNECT_BATCH: usize = 25;
/// Pause after each batch, so the broker accepts one batch before the next arrives.
const CONNECT_PAUSE: Duration = Duration::from_millis(20);
/// A connection not established within this long counts as failed.
const CONNECT_WAIT_MAX: Duration = Duration::from_secs(10);
/// File descriptors the process needs beside the connections (its log files, pipes, the admin
/// client's sockets).
const SPARE_FDS: u64 = 256;
/// Read buffer per connection: a produce answer or a small fetch answer arrives in one read
/// instead of two (size, then body); larger answers are read past it.
const READ_BUFFER_BYTES: usize = 8 << 10;
/// A fetch answer carries at most 1 MiB of records (one partition, `partition_max_bytes`); an
/// answer frame larger than this is a bug.
pub const ANSWER_BYTES_MAX: usize = 8 << 20;

/// Raises the soft RLIMIT_NOFILE to the hard limit when it cannot hold `connections` sockets
/// (the default soft limit is often 1,024); fails when even the hard limit cannot.
pub fn raise_fd_limit(connections: usize) -> Result<(), BenchError> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(BenchError::sys("reading RLIMIT_NOFILE"))?;
    let needed = connections as u64 + SPARE_FDS;
    if soft >= needed {
        return Ok(());
    }
    if hard < needed {
        return Err(BenchError::Workload {
            workload: "W8".into(),
            reason: format!(
                "{connections} connections need {needed} file descriptors; RLIMIT_NOFILE's hard limit is {hard}"
            ),
        });
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(BenchError::sys("raising RLIMIT_NOFILE"))
}

/// Opens `count` connections to `address`, [`CONNECT_BATCH`] at a time; fails naming how many
/// could not be opened and the first reason.
pub async fn connect_all(address: SocketAddr, count: usize) -> Result<Vec<TcpStream>, String> {
    let mut streams = Vec::with_capacity(count);
    let mut failed = 0;
    let mut first_failure = None;
    while streams.len() + failed < count {
        let batch = (count - streams.len() - failed).min(CONNECT_BATCH);
        let mut connecting = JoinSet::new();
        for _ in 0..batch {
            connecting.spawn(connect(address));
        }
        while let Some(joined) = connecting.join_next().await {
            let connected = match joined {
                Ok(connected) => connected,
                Err(e) => Err(format!("connect task: {e}")),
            };
            match connected {
                Ok(stream) => streams.push(stream),
                Err(reason) => {
                    failed += 1;
                    first_failure.get_or_insert(reason);
                }
            }
        }
        tokio::time::sleep(CONNECT_PAUSE).await;
    }
    match first_failure {
        Some(reason) => Err(format!("{failed} of {count} connections to {address} failed, the first: {reason}")),
        None => Ok(streams),
    }
}

async fn connect(address: SocketAddr) -> Result<TcpStream, String> {
    let stream = tokio::time::timeout(CONNECT_WAIT_MAX, TcpStream::connect(address))
        .await
        .map_err(|_| format!("not established within {CONNECT_WAIT_MAX:?}"))?
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| format!("setting TCP_NODELAY: {e}"))?;
    Ok(stream)
}

/// One connection: requests go out one at a time, each answered before the next is sent.
#[derive(Debug)]
pub struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        Conn { stream: BufReader::with_capacity(READ_BUFFER_BYTES, stream) }
    }

    /// Writes `frame` (size prefix included) and reads one answer frame, returned without its
    /// size prefix; fails when no whole answer arrives within `wait_max`.
    pub async fn exchange(&mut self, frame: &[u8], wait_max: Duration) -> Result<Bytes, String> {
        let exchange = async {
            self.stream.write_all(frame).await.map_err(|e| format!("writing a request: {e}"))?;
            let mut size = [0u8; 4];
            self.stream.read_exact(&mut size).await.map_err(|e| format!("reading an answer: {e}"))?;
            let mut body = BytesMut::zeroed(answer_size(size)?);
            self.stream.read_exact(&mut body).await.map_err(|e| format!("reading an answer: {e}"))?;
            Ok::<Bytes, String>(body.freeze())
        };
        tokio::time::timeout(wait_max, exchange).await.map_err(|_| format!("no answer within {wait_max:?}"))?
    }
}

/// The size an answer's 4-byte prefix announces, checked against [`ANSWER_BYTES_MAX`].
fn answer_size(prefix: [u8; 4]) -> Result<usize, String> {
    let size = i32::from_be_bytes(prefix);
    usize::try_from(size).ok().filter(|s| *s <= ANSWER_BYTES_MAX).ok_or_else(|| format!("answer frame size {size}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn answer_sizes_are_bounded() {
        assert_eq!(answer_size(100i32.to_be_bytes()), Ok(100));
        assert!(answer_size((-1i32).to_be_bytes()).is_err());
        assert!(answer_size(i32::MAX.to_be_bytes()).is_err());
    }

    #[test]
    fn connections_exchange_frames_in_batches() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            // An echo server: answers each frame with itself.
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    tokio::spawn(async move {
                        let mut size = [0u8; 4];
                        while socket.read_exact(&mut size).await.is_ok() {
                            let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
                            socket.read_exact(&mut body).await.unwrap();
                            socket.write_all(&size).await.unwrap();
                            socket.write_all(&body).await.unwrap();
                        }
                    });
                }
            });
            let streams = connect_all(address, 30).await.unwrap();
            assert_eq!(streams.len(), 30);
            let mut conn = Conn::new(streams.into_iter().next().unwrap());
            let answer = conn.exchange(&[0, 0, 0, 3, 7, 8, 9], Duration::from_secs(5)).await.unwrap();
            assert_eq!(&answer[..], &[7, 8, 9]);
        });
    }
}
