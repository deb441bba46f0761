//! This machine's own ceilings for the bytes a workload moves, measured in the same run so every
//! broker figure can be shown as a ratio (shared VMs drift from run to run):
//! a raw loopback TCP stream, a raw buffered file write with and without `fdatasync` after every
//! chunk (the flush size), the same flush spread over one file per partition ([`fsync_spread`]),
//! and a cached file sent to a socket by `sendfile` and by `pread` + `write`.
//! The sending side runs on the broker's CPU and the receiving side on the client's, as in a workload.

use crate::error::BenchError;
use crate::fsync_spread::{self, SpreadSync};
use crate::histogram::Latency;
use crate::pinning::{Placement, pin_current_thread};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Size of one socket write or read in the raw stream measurements.
const SOCKET_CHUNK_BYTES: usize = 1 << 20;

/// Bytes per second measured for a raw path.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rate {
    pub bytes: u64,
    pub secs: f64,
}

impl Rate {
    pub fn mb_per_sec(&self) -> f64 {
        if self.secs > 0.0 { self.bytes as f64 / 1e6 / self.secs } else { 0.0 }
    }
}

/// File-write ceilings at one flush size.
#[derive(Debug, Clone)]
pub struct WriteCeiling {
    pub chunk_bytes: usize,
    pub buffered: Rate,
    pub fdatasync: Rate,
    pub fdatasync_latency: Latency,
    /// The same flush size spread over [`CeilingSpec::spread_files`] files synced at once.
    pub spread: SpreadSync,
}

/// Every ceiling of a run.
#[derive(Debug, Clone)]
pub struct Ceilings {
    pub tcp_loopback: Rate,
    pub writes: Vec<WriteCeiling>,
    pub sendfile: Rate,
    pub read_write: Rate,
}

impl Ceilings {
    pub fn write_at(&self, chunk_bytes: usize) -> Option<&WriteCeiling> {
        self.writes.iter().find(|w| w.chunk_bytes == chunk_bytes)
    }
}

/// How much to measure.
#[derive(Debug, Clone)]
pub struct CeilingSpec {
    /// Bytes per measurement (each also stops at `time_max`).
    pub bytes: u64,
    pub chunk_sizes: Vec<usize>,
    pub time_max: Duration,
    pub placement: Placement,
    /// Files a flush is spread over for the partitioned fsync ceiling (W4's partition count).
    pub spread_files: usize,
}

/// Touches `bytes` of fresh memory once, page by page, then frees it. On these VMs memory (and so
/// the page cache) is slow the first time it is touched; doing it first keeps that out of the numbers.
pub fn warm_memory(bytes: usize) {
    let mut block = vec![0u8; bytes];
    for i in (0..block.len()).step_by(4096) {
        block[i] = 1;
    }
    std::hint::black_box(&block);
}

/// Measures every ceiling; files go in `dir` (use the filesystem the broker's data directory is on).
pub fn measure(dir: &Path, spec: &CeilingSpec) -> Result<Ceilings, BenchError> {
    let tcp_loopback = tcp_stream(spec)?;
    // Buffered writes first, each the better of two tries: in the first full-scale run a 2 GiB
    // buffered write measured after the fdatasync'd ones ran at a sixth of the same write measured
    // before them (605 against 3,887 MB/s), the page cache still busy with what they left.
    let mut buffered_rates = Vec::new();
    for &chunk in &spec.chunk_sizes {
        let (first, _) = file_write(dir, spec, chunk, false)?;
        let (second, _) = file_write(dir, spec, chunk, false)?;
        buffered_rates.push(if second.mb_per_sec() > first.mb_per_sec() { second } else { first });
    }
    let mut writes = Vec::new();
    for (&chunk, buffered) in spec.chunk_sizes.iter().zip(buffered_rates) {
        let (fdatasync, fdatasync_latency) = file_write(dir, spec, chunk, true)?;
        let spread =
            fsync_spread::measure(dir, spec.spread_files, chunk, spec.bytes, spec.time_max, spec.placement.broker_cpu)?;
        writes.push(WriteCeiling { chunk_bytes: chunk, buffered, fdatasync, fdatasync_latency, spread });
    }
    let cached = dir.join("ceiling-cached.bin");
    write_cached_file(&cached, spec.bytes)?;
    let sendfile = file_to_socket(&cached, spec, true)?;
    let read_write = file_to_socket(&cached, spec, false)?;
    let _ = std::fs::remove_file(&cached);
    Ok(Ceilings { tcp_loopback, writes, sendfile, read_write })
}

/// A raw loopback TCP stream: the writer on the broker's CPU, the reader on the client's.
fn tcp_stream(spec: &CeilingSpec) -> Result<Rate, BenchError> {
    let data = vec![7u8; SOCKET_CHUNK_BYTES];
    let budget = spec.bytes;
    let time_max = spec.time_max;
    stream_to_reader(spec, move |socket| {
        let mut sent = 0u64;
        let start = Instant::now();
        while sent < budget && start.elapsed() < time_max {
            socket.write_all(&data)?;
            sent += data.len() as u64;
        }
        Ok(())
    })
}

/// Sends a cached file to a socket, with `sendfile` or with `pread` + `write` through one buffer.
fn file_to_socket(path: &Path, spec: &CeilingSpec, use_sendfile: bool) -> Result<Rate, BenchError> {
    let file = File::open(path).map_err(BenchError::io(format!("opening {}", path.display())))?;
    let len = spec.bytes;
    let time_max = spec.time_max;
    stream_to_reader(spec, move |socket| {
        let start = Instant::now();
        let mut position = 0u64;
        if use_sendfile {
            while position < len && start.elapsed() < time_max {
                let mut offset = position as i64;
                let count = (len - position).min(1 << 30) as usize;
                let n = nix::sys::sendfile::sendfile(&*socket, &file, Some(&mut offset), count)
                    .map_err(std::io::Error::from)?;
                if n == 0 {
                    break;
                }
                position += n as u64;
            }
        } else {
            let mut buffer = vec![0u8; SOCKET_CHUNK_BYTES];
            while position < len && start.elapsed() < time_max {
                let n = file.read_at(&mut buffer, position)?;
                if n == 0 {
                    break;
                }
                socket.write_all(&buffer[..n])?;
                position += n as u64;
            }
        }
        Ok(())
    })
}

/// Runs `send` on a socket (on the broker's CPU) while a reader thread (on the client's CPU) drains
/// the other end; the rate is the bytes the reader got over the reader's time from first byte to EOF.
fn stream_to_reader<F>(spec: &CeilingSpec, send: F) -> Result<Rate, BenchError>
where
    F: FnOnce(&mut TcpStream) -> std::io::Result<()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").map_err(BenchError::io("binding a loopback listener"))?;
    let address = listener.local_addr().map_err(BenchError::io("reading the listener address"))?;
    let placement = spec.placement;
    let sender = std::thread::spawn(move || -> Result<(), BenchError> {
        if let Some(cpu) = placement.broker_cpu {
            pin_current_thread(cpu)?;
        }
        let mut socket = TcpStream::connect(address).map_err(BenchError::io("connecting on loopback"))?;
        send(&mut socket).map_err(BenchError::io("sending on loopback"))
    });
    if let Some(cpu) = placement.client_cpu {
        pin_current_thread(cpu)?;
    }
    let (mut socket, _) = listener.accept().map_err(BenchError::io("accepting on loopback"))?;
    let mut buffer = vec![0u8; SOCKET_CHUNK_BYTES];
    let mut bytes = 0u64;
    let mut first: Option<Instant> = None;
    loop {
        let n = socket.read(&mut buffer).map_err(BenchError::io("reading on loopback"))?;
        if n == 0 {
            break;
        }
        first.get_or_insert_with(Instant::now);
        bytes += n as u64;
    }
    let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    sender
        .join()
        .map_err(|_| BenchError::Workload { workload: "ceilings".into(), reason: "sender thread panicked".into() })??;
    Ok(Rate { bytes, secs })
}

/// Writes `spec.bytes` to a new file in `chunk`-sized `write`s, with `fdatasync` after every chunk
/// when `sync` (recording each fdatasync's latency), then removes the file.
fn file_write(dir: &Path, spec: &CeilingSpec, chunk: usize, sync: bool) -> Result<(Rate, Latency), BenchError> {
    let path = dir.join(format!("ceiling-write-{chunk}-{sync}.bin"));
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .map_err(BenchError::io(format!("creating {}", path.display())))?;
    let data: Vec<u8> = (0..chunk).map(|i| (i % 253) as u8).collect();
    let mut latency = Latency::new();
    let mut bytes = 0u64;
    let start = Instant::now();
    while bytes < spec.bytes && start.elapsed() < spec.time_max {
        file.write_all(&data).map_err(BenchError::io("writing the ceiling file"))?;
        bytes += chunk as u64;
        if sync {
            let t = Instant::now();
            file.sync_data().map_err(BenchError::io("fdatasync of the ceiling file"))?;
            latency.record(t.elapsed());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(&path);
    Ok((Rate { bytes, secs }, latency))
}

fn write_cached_file(path: &Path, bytes: u64) -> Result<(), BenchError> {
    let mut file = File::create(path).map_err(BenchError::io(format!("creating {}", path.display())))?;
    let data: Vec<u8> = (0..SOCKET_CHUNK_BYTES).map(|i| (i % 241) as u8).collect();
    let mut written = 0u64;
    while written < bytes {
        let n = (bytes - written).min(data.len() as u64) as usize;
        file.write_all(&data[..n]).map_err(BenchError::io("writing the cached file"))?;
        written += n as u64;
    }
    // Read it back once so every page is in the page cache before it is timed.
    let mut reader = File::open(path).map_err(BenchError::io("reopening the cached file"))?;
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(BenchError::io("reading the cached file"))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn small_ceilings_measure_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let spec = CeilingSpec {
            bytes: 4 << 20,
            chunk_sizes: vec![128 << 10],
            time_max: Duration::from_secs(10),
            placement: Placement { broker_cpu: None, client_cpu: None },
            spread_files: 4,
        };
        let c = measure(dir.path(), &spec).unwrap();
        assert_eq!(c.tcp_loopback.bytes, 4 << 20);
        assert_eq!(c.sendfile.bytes, 4 << 20);
        assert_eq!(c.read_write.bytes, 4 << 20);
        let w = c.write_at(128 << 10).unwrap();
        assert_eq!(w.buffered.bytes, 4 << 20);
        assert_eq!(w.fdatasync_latency.count(), 32);
        assert_eq!(w.spread.round_latency.count(), 32);
        assert!(c.sendfile.mb_per_sec() > 0.0);
    }
}
