//! One client connection. A reader decodes frames and starts a task per request, so a produce
//! waiting for fsync or a fetch long-polling never stops the next request from being read; a
//! writer awaits those tasks in request order and writes their responses, so answers leave
//! strictly in the order the requests came. At most `queued.max.requests` requests and
//! [`IN_FLIGHT_BYTES_MAX`] bytes of them are in flight; beyond that the reader waits
//! (back-pressure), it never queues without bound.

use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

use strata_wire::frame::{FRAME_PREFIX_BYTES, check_frame_size};
use strata_wire::header::decode_request_frame;

use crate::dispatch;
use crate::reply::{Chunk, Outcome};
use crate::state::Broker;

/// Request bytes a connection may have read and not yet answered. With the request count alone,
/// 500 pipelined 1 MiB produce requests were held at once whenever the disk fell behind (broker
/// peak RSS up to 460 MiB on W2, benches/RESULTS.md). A larger frame still goes through, alone.
const IN_FLIGHT_BYTES_MAX: usize = 16 << 20;

/// A started request and the share of the byte budget its frame holds until it is answered.
type InFlight = (JoinHandle<Outcome>, OwnedSemaphorePermit);

/// Serves one connection until the client closes it, a frame is refused, or the broker stops.
pub async fn serve(stream: TcpStream, broker: Arc<Broker>) {
    let peer_addr = stream.peer_addr().ok();
    let peer = peer_addr.map(|a| a.to_string()).unwrap_or_default();
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
    }
    let (reader, writer) = stream.into_split();
    let (in_flight, pending) = mpsc::channel(broker.config.requests_in_flight_max());
    let copy = crate::handlers::fetch::copies_record_data(&broker.config);
    let writer_task = tokio::spawn(write_responses(writer, pending, peer.clone(), copy));
    if let Err(reason) = read_requests(reader, &broker, in_flight, peer_addr).await {
        tracing::info!(%peer, %reason, "closing connection");
    }
    // The reader has dropped its sender: the writer finishes the responses already started.
    if let Err(error) = writer_task.await {
        tracing::error!(%peer, %error, "connection writer failed");
    }
}

/// Reads frames and starts their handlers until the stream ends. `Err` carries why the
/// connection is being closed by the broker.
async fn read_requests(
    mut reader: OwnedReadHalf,
    broker: &Arc<Broker>,
    in_flight: mpsc::Sender<InFlight>,
    peer: Option<std::net::SocketAddr>,
) -> Result<(), String> {
    let frame_bytes_max = broker.config.frame_bytes_max();
    let budget = Arc::new(Semaphore::new(IN_FLIGHT_BYTES_MAX));
    loop {
        let mut prefix = [0u8; FRAME_PREFIX_BYTES];
        match reader.read_exact(&mut prefix).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(format!("read failed: {e}")),
        }
        let len = check_frame_size(prefix, frame_bytes_max).map_err(|e| e.to_string())?;
        let share = u32::try_from(len.clamp(1, IN_FLIGHT_BYTES_MAX)).unwrap_or(u32::MAX);
        let permit = Arc::clone(&budget).acquire_many_owned(share).await.map_err(|e| e.to_string())?;
        // Read into the buffer's spare capacity: zero-filling a 1 MiB frame first cost a memset each.
        let mut frame = BytesMut::with_capacity(len);
        while frame.len() < len {
            let left = (len - frame.len()) as u64;
            match (&mut reader).take(left).read_buf(&mut frame).await {
                Ok(0) => return Err("frame cut short: early eof".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("frame cut short: {e}")),
            }
        }
        let frame = decode_request_frame(frame.freeze()).map_err(|e| e.to_string())?;
        let handler = tokio::spawn(dispatch::begin(Arc::clone(broker), frame, peer));
        if in_flight.send((handler, permit)).await.is_err() {
            return Err("response writer stopped".into());
        }
    }
}

/// Writes each request's response in request order.
async fn write_responses(mut writer: OwnedWriteHalf, mut pending: mpsc::Receiver<InFlight>, peer: String, copy: bool) {
    // Encoded bytes (and on the copying path record data) gathered for one write, reused by every
    // response of the connection.
    let mut buf = Vec::new();
    // The permit is released when the loop body ends: after the response is written.
    while let Some((handler, _permit)) = pending.recv().await {
        let outcome = match handler.await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::error!(%peer, %error, "request handler failed");
                Outcome::Close(error.to_string())
            }
        };
        match outcome {
            Outcome::Silent => {}
            Outcome::Reply(chunks) => {
                if let Err(error) = write_chunks(&mut writer, chunks, &mut buf, copy).await {
                    tracing::debug!(%peer, %error, "write failed; closing connection");
                    break;
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

/// Bytes gathered before each write.
const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// Writes one response. Consecutive encoded chunks are gathered in `buf` (a buffer reused across
/// responses) and leave in one write of up to [`WRITE_BUFFER_BYTES`]: a Fetch response has encoded
/// pieces around every partition's records, also for partitions without data, and writing each
/// on its own cost a syscall and a TCP segment apiece (with 1,000 partitions, most of the broker's
/// CPU). File ranges leave with `sendfile`, so record data never enters user space; with `copy`
/// (`strata.fetch.transfer=copy`) they are read into `buf` instead, with `pread`s that the page
/// cache normally serves.
async fn write_chunks(writer: &mut OwnedWriteHalf, chunks: Vec<Chunk>, buf: &mut Vec<u8>, copy: bool) -> std::io::Result<()> {
    buf.clear();
    for chunk in chunks {
        match chunk {
            Chunk::Bytes(bytes) => buf.extend_from_slice(&bytes),
            Chunk::File(range) if copy => {
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
