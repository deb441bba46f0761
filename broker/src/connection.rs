//! One client connection. A reader reads frames, decodes each and starts its request with
//! [`dispatch::begin`], which does the order-sensitive part at once (Produce assigns offsets and
//! queues its writes there), so a produce waiting for fsync never stops the next request from
//! being read. The rest of each request is a future that the writer awaits in request order and
//! whose response it then writes, so answers leave strictly in the order the requests came.
//! The writer runs those futures itself, one at a time, rather than spawning a task per request:
//! Kafka also works on one request per connection at a time, and a task per request cost a spawn,
//! a wake-up and a context switch each (benches/RESULTS.md). A panic in a handler closes the
//! connection, as before, not the broker. At most `queued.max.requests` requests and
//! [`IN_FLIGHT_BYTES_MAX`] bytes of them are in flight, and all connections together read at most
//! `queued.max.request.bytes` of frames not yet handled; beyond that the reader waits
//! (back-pressure), it never queues without bound. A client that never reads its responses
//! therefore stops being read from once its unanswered requests reach those bounds.
//!
//! Hostile clients: a connection with nothing in flight that sends nothing for
//! `connections.max.idle.ms` is closed (Kafka's idle timeout); a frame that has not arrived whole
//! `strata.request.read.timeout.ms` after its first byte closes the connection (a slowloris sender;
//! time spent waiting for the byte budgets does not count); a response that cannot be written
//! within `connections.max.idle.ms` closes the connection (a client that stopped reading).

use std::any::Any;
use std::future::Future;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::{Instant, timeout, timeout_at};

use strata_wire::frame::{FRAME_PREFIX_BYTES, check_frame_size};
use strata_wire::header::decode_request_frame;
use strata_wire::pool::{BufferPool, PoolBuf};

use crate::config::BrokerConfig;
use crate::connection_limits::RequestBytes;
use crate::dispatch;
use crate::frame_reader::{FrameReader, QUIET_BEFORE_RELEASE};
use crate::reply::{Chunk, Outcome, Pending};
use crate::settings::FetchTransfer;
use crate::state::Broker;

/// Request bytes a connection may have read and not yet answered. With the request count alone,
/// 500 pipelined 1 MiB produce requests were held at once whenever the disk fell behind (broker
/// peak RSS up to 460 MiB on W2, benches/RESULTS.md). A larger frame still goes through, alone.
const IN_FLIGHT_BYTES_MAX: usize = 16 << 20;

/// Frames of this size and more are read into a buffer from [`FRAMES`]; smaller ones into an
/// ordinary allocation, which malloc serves from its free lists without page faults.
const POOLED_FRAME_BYTES_MIN: usize = 64 * 1024;

/// Free frame buffers kept for reuse, all connections together. A fresh ~1 MiB buffer per produce
/// frame was faulted in (zero-filled) while `recvfrom` filled it and handed back to the kernel
/// after use: with page faults, ~27 % of the broker's CPU on W2 (benches/RESULTS.md). A frame's
/// buffer returns here once the request no longer refers to it (its response is built). One
/// connection holds at most [`IN_FLIGHT_BYTES_MAX`] of frames at a time, so 32 MiB keeps the
/// whole in-flight budget of two busy producer connections (or one connection's burst after the
/// disk fell behind) for reuse; buffers in use and free ones are the same memory, so the pool
/// adds to peak RSS only what it keeps beyond the largest amount ever in flight at once.
const POOLED_FRAMES_BYTES_MAX: usize = 32 << 20;

static FRAMES: BufferPool = BufferPool::new(POOLED_FRAME_BYTES_MIN, POOLED_FRAMES_BYTES_MAX);

/// Whether record data is read into memory and written (`copy`) instead of sent with `sendfile`.
fn copies_record_data(config: &BrokerConfig) -> bool {
    config.settings.fetch_transfer == FetchTransfer::Copy
}

/// A started request and the shares of the byte budgets its frame holds.
struct InFlight {
    request: Pending,
    /// This connection's share, given back once the response is written.
    connection_share: OwnedSemaphorePermit,
    /// The share of `queued.max.request.bytes`, given back once the request is handled (its
    /// response built), so that a client not reading its responses does not keep it.
    broker_share: Option<OwnedSemaphorePermit>,
}

/// Serves one connection until the client closes it, a frame is refused, or the broker stops.
pub async fn serve(stream: TcpStream, broker: Arc<Broker>, request_bytes: RequestBytes) {
    let peer_addr = stream.peer_addr().ok();
    let peer = peer_addr.map(|a| a.to_string()).unwrap_or_default();
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
    }
    let (reader, writer) = stream.into_split();
    let (in_flight, pending) = mpsc::channel(broker.config.settings.queued_max_requests);
    let copy = copies_record_data(&broker.config);
    let write_timeout = Duration::from_millis(broker.config.settings.connections_max_idle_ms);
    let mut writer_task = tokio::spawn(write_responses(writer, pending, peer.clone(), copy, write_timeout));
    let reading = read_requests(reader, &broker, in_flight, peer_addr, request_bytes);
    tokio::pin!(reading);
    let written = tokio::select! {
        read = &mut reading => {
            if let Err(reason) = read {
                tracing::info!(%peer, %reason, "closing connection");
            }
            // The reader has dropped its sender: the writer finishes the responses already started.
            writer_task.await
        }
        // The writer stopped (a write failed or timed out, or a request closes the connection):
        // nothing more is read, also not the rest of a frame the client is still sending.
        written = &mut writer_task => written,
    };
    if let Err(error) = written {
        tracing::error!(%peer, %error, "connection writer failed");
    }
}

/// Reads frames and starts their requests until the stream ends. `Err` carries why the
/// connection is being closed by the broker.
async fn read_requests(
    reader: OwnedReadHalf,
    broker: &Arc<Broker>,
    in_flight: mpsc::Sender<InFlight>,
    peer: Option<std::net::SocketAddr>,
    request_bytes: RequestBytes,
) -> Result<(), String> {
    let settings = &broker.config.settings;
    let frame_bytes_max = settings.socket_request_max_bytes;
    let idle = Duration::from_millis(settings.connections_max_idle_ms);
    let read_timeout = Duration::from_millis(settings.request_read_timeout_ms);
    let budget = Arc::new(Semaphore::new(IN_FLIGHT_BYTES_MAX));
    let mut reader = FrameReader::new(reader);
    // (api key, version) pairs this connection has used, each logged once at debug level. Only
    // versions the broker serves stay on the connection, so the set stays small.
    let mut versions_used = std::collections::HashSet::new();
    loop {
        if !next_frame_starts(&mut reader, idle, &budget).await? {
            return Ok(());
        }
        let mut deadline = Instant::now() + read_timeout;
        let slow = || format!("frame not whole {read_timeout:?} after its first byte (strata.request.read.timeout.ms)");
        let mut prefix = [0u8; FRAME_PREFIX_BYTES];
        match timeout_at(deadline, reader.read_exact(&mut prefix)).await.map_err(|_| slow())? {
            Ok(_) => {}
            Err(e) => return Err(format!("frame size cut short: {e}")),
        }
        let len = check_frame_size(prefix, frame_bytes_max).map_err(|e| e.to_string())?;
        let waiting_since = Instant::now();
        let share = u32::try_from(len.clamp(1, IN_FLIGHT_BYTES_MAX)).unwrap_or(u32::MAX);
        let connection_share = Arc::clone(&budget).acquire_many_owned(share).await.map_err(|e| e.to_string())?;
        let broker_share = request_bytes.acquire(len).await.map_err(|e| e.to_string())?;
        deadline += waiting_since.elapsed();
        let frame = timeout_at(deadline, read_frame_body(&mut reader, len)).await.map_err(|_| slow())??;
        let frame = decode_request_frame(frame.freeze()).map_err(|e| e.to_string())?;
        if versions_used.insert((frame.api_key, frame.api_version())) {
            tracing::debug!(
                ?peer,
                client = frame.header.client_id.as_deref().unwrap_or_default(),
                api = ?frame.api_key,
                version = frame.api_version(),
                "client uses this API version"
            );
        }
        let (api_key, version) = (frame.api_key, frame.api_version());
        let request = dispatch::begin(Arc::clone(broker), frame, peer);
        let closes = request.closes();
        if in_flight.send(InFlight { request, connection_share, broker_share }).await.is_err() {
            return Err("response writer stopped".into());
        }
        if closes {
            return Err(format!("{api_key:?} v{version} closes the connection; nothing pipelined after it is read"));
        }
    }
}

/// Waits for the first byte of the next frame. `Ok(false)` when the client closed the connection
/// between frames; `Err` when nothing arrived for `idle` while no request was in flight (all of
/// `budget` free). A quiet connection gives its read buffer back meanwhile.
async fn next_frame_starts(reader: &mut FrameReader, idle: Duration, budget: &Semaphore) -> Result<bool, String> {
    let mut quiet_since = Instant::now();
    while reader.buffered() == 0 {
        let quiet = quiet_since.elapsed();
        let (release_in, idle_in) = (QUIET_BEFORE_RELEASE.saturating_sub(quiet), idle.saturating_sub(quiet));
        let wait = if release_in.is_zero() { idle_in } else { release_in.min(idle_in) };
        match tokio::time::timeout(wait, reader.fill()).await {
            Ok(Ok(0)) => return Ok(false),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("read failed: {e}")),
            Err(_) if quiet_since.elapsed() < idle => reader.release_buffer(),
            // Requests in flight (a long-polling fetch, a response being taken): not idle.
            Err(_) if budget.available_permits() < IN_FLIGHT_BYTES_MAX => quiet_since = Instant::now(),
            Err(_) => return Err(format!("idle for {idle:?} (connections.max.idle.ms)")),
        }
    }
    Ok(true)
}

/// Reads a frame body of `len` bytes into a buffer. Read into the buffer's spare capacity:
/// zero-filling a 1 MiB frame first cost a memset each.
async fn read_frame_body(reader: &mut FrameReader, len: usize) -> Result<PoolBuf, String> {
    let mut frame = FRAMES.take(len);
    reader.read_into(&mut frame, len).await.map_err(|e| format!("frame cut short: {e}"))?;
    Ok(frame)
}

/// Finishes each request and writes its response, in request order. A response not written
/// within `write_timeout` closes the connection.
async fn write_responses(
    mut writer: OwnedWriteHalf,
    mut pending: mpsc::Receiver<InFlight>,
    peer: String,
    copy: bool,
    write_timeout: Duration,
) {
    // Encoded bytes (and on the copying path record data) gathered for one write, reused by every
    // response of the connection.
    let mut buf = Vec::new();
    // The connection's share is released when the loop body ends: after the response is written.
    while let Some(InFlight { request, connection_share: _connection_share, broker_share }) = pending.recv().await {
        let outcome = match CatchPanic(request).await {
            Ok(outcome) => outcome,
            Err(panic) => {
                let message = panic_message(&*panic);
                tracing::error!(%peer, %message, "request handler panicked");
                Outcome::Close(format!("request handler panicked: {message}"))
            }
        };
        drop(broker_share);
        match outcome {
            Outcome::Silent => {}
            Outcome::Reply(chunks) => {
                match timeout(write_timeout, write_chunks(&mut writer, chunks, &mut buf, copy)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "write failed; closing connection");
                        break;
                    }
                    Err(_) => {
                        tracing::info!(%peer, ?write_timeout, "response not taken by the client within connections.max.idle.ms; closing connection");
                        break;
                    }
                }
            }
            Outcome::Close(reason) => {
                tracing::info!(%peer, %reason, "closing connection");
                break;
            }
        }
    }
    pending.close();
    if let Err(error) = writer.shutdown().await {
        tracing::debug!(%peer, %error, "shutdown failed");
    }
}

/// A request's future whose panic comes out as `Err` with the panic's payload, as
/// `tokio::spawn`'s `JoinError` did when every request had its own task, so a bug in one handler
/// closes one connection instead of the broker. Unwind safety is asserted as tokio does for its
/// tasks: after a panic the future is dropped and never polled again, and state it shares with
/// the rest of the broker sits behind locks that a panic poisons.
struct CatchPanic(Pending);

impl Future for CatchPanic {
    type Output = Result<Outcome, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut self.0).poll(cx))) {
            Ok(Poll::Ready(outcome)) => Poll::Ready(Ok(outcome)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// The message of a panic payload (`panic!` makes a `&str` or a `String`).
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Bytes gathered before each write.
const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// Smallest file range sent with `sendfile`; smaller ones are copied into the gathered write. A
/// consumer keeping up with producers fetches a few KiB per partition, and sending each range on
/// its own (a write of the bytes before it, then a `sendfile`) cost two syscalls and two loopback
/// segments per partition: at 50,000 msg/s over 16 partitions (W3) twelve `sendto`s per fetch and
/// 22,000 context switches a second (benches/RESULTS.md). Copying 64 KiB costs less than one of
/// those round trips through the kernel.
const SENDFILE_RANGE_BYTES_MIN: usize = 64 * 1024;

/// Writes one response. Consecutive encoded chunks are gathered in `buf` (a buffer reused across
/// responses) and leave in one write of up to [`WRITE_BUFFER_BYTES`]: a Fetch response has encoded
/// pieces around every partition's records, also for partitions without data, and writing each
/// on its own cost a syscall and a TCP segment apiece (with 1,000 partitions, most of the broker's
/// CPU). File ranges of [`SENDFILE_RANGE_BYTES_MIN`] and more leave with `sendfile`, so their
/// record data never enters user space; smaller ones, and every range with `copy`
/// (`strata.fetch.transfer=copy`), are read into `buf` instead, with `pread`s that the page cache
/// normally serves.
async fn write_chunks(
    writer: &mut OwnedWriteHalf,
    chunks: Vec<Chunk>,
    buf: &mut Vec<u8>,
    copy: bool,
) -> std::io::Result<()> {
    buf.clear();
    for chunk in chunks {
        match chunk {
            Chunk::Bytes(bytes) => buf.extend_from_slice(&bytes),
            Chunk::File(range) if copy || (range.len as usize) < SENDFILE_RANGE_BYTES_MIN => {
                let (mut position, mut left) = (range.position, range.len as usize);
                while left > 0 {
                    if buf.len() >= WRITE_BUFFER_BYTES {
                        writer.write_all(buf).await?;
                        buf.clear();
                    }
                    let n = left.min(WRITE_BUFFER_BYTES - buf.len());
                    let start = buf.len();
                    buf.resize(start + n, 0);
                    // A short file (retention removed it under us) fails here, as sendfile would.
                    range.file.read_exact_at(&mut buf[start..], position)?;
                    position += n as u64;
                    left -= n;
                }
            }
            Chunk::File(range) => {
                writer.write_all(buf).await?;
                buf.clear();
                sendfile_all(writer, &range).await?;
            }
        }
        if buf.len() >= WRITE_BUFFER_BYTES {
            writer.write_all(buf).await?;
            buf.clear();
        }
    }
    writer.write_all(buf).await?;
    buf.clear();
    Ok(())
}

async fn sendfile_all(writer: &mut OwnedWriteHalf, range: &strata_log::FileRange) -> std::io::Result<()> {
    let stream: &TcpStream = writer.as_ref();
    let mut offset = i64::try_from(range.position).map_err(std::io::Error::other)?;
    let mut left = range.len as usize;
    while left > 0 {
        stream.writable().await?;
        let sent = stream.try_io(tokio::io::Interest::WRITABLE, || {
            nix::sys::sendfile::sendfile(stream.as_fd(), range.file.as_fd(), Some(&mut offset), left)
                .map_err(std::io::Error::from)
        });
        match sent {
            Ok(0) => {
                // The file is shorter than the range: retention removed it under us. The frame size
                // was already written, so the connection cannot continue.
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "file range ended early"));
            }
            Ok(n) => left -= n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(future))
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    }

    #[test]
    fn a_panicking_request_comes_out_as_its_message_and_others_as_their_outcome() {
        let panics = Pending::later(async {
            tokio::task::yield_now().await;
            panic!("handler bug {}", 7)
        });
        let result = run(CatchPanic(panics));
        let Err(panic) = result else { panic!("the panic was not caught") };
        assert_eq!(panic_message(&*panic), "handler bug 7");

        let answers = Pending::later(async { Outcome::Close("done".into()) });
        assert!(matches!(run(CatchPanic(answers)), Ok(Outcome::Close(reason)) if reason == "done"));
    }
}
