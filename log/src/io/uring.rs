//! The io_uring backend: one ring, owned by the writer thread.
//!
//! A batch's writes go into the submission queue together (one `io_uring_enter` for up to
//! `ring_entries` of them); a short write is resubmitted for the rest of its bytes. Only when every
//! write has completed are the batch's fsyncs (`IORING_FSYNC_DATASYNC`) submitted, again together,
//! so an fsync never overtakes a write it must cover. (`IOSQE_IO_DRAIN` could order them in one
//! submission, but a resubmitted short write would land after the drain point.)
//!
//! Files are passed as raw fds, not registered: the batch's jobs hold their `Arc<File>` until every
//! completion of the batch has been reaped, so an fd cannot be closed and reused under the kernel.

// The ring's submission queue is an FFI boundary: pushing an SQE hands the kernel raw pointers.
// This is the one module of strata-log allowed to do that.
#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::Duration;

use io_uring::{IoUring, Probe, opcode, squeue, types};

use super::batch::{Backend, WriteOp};
use super::{IoKind, StatCounters};

/// The kernel moves at most `MAX_RW_COUNT` (2 GiB - 4 KiB) per write and the SQE length is a u32.
const WRITE_BYTES_MAX: usize = 1 << 30;
/// How long a failing `io_uring_enter` is retried while the kernel still holds our buffers.
const ENTER_RETRIES_MAX: u32 = 5_000;

pub(crate) struct UringBackend {
    ring: IoUring,
    /// SQEs in flight at most; keeps completions within the CQ (twice the SQ size).
    in_flight_max: usize,
}

impl UringBackend {
    /// Sets up the ring and proves it usable: seccomp filters or `io_uring_disabled` may let setup
    /// succeed or fail, and an old kernel may lack the opcodes.
    pub(crate) fn new(entries: u32) -> io::Result<UringBackend> {
        let mut ring = IoUring::new(entries)?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        for (code, name) in [(opcode::Write::CODE, "WRITE"), (opcode::Fsync::CODE, "FSYNC"), (opcode::Nop::CODE, "NOP")]
        {
            if !probe.is_supported(code) {
                return Err(io::Error::new(io::ErrorKind::Unsupported, format!("io_uring lacks IORING_OP_{name}")));
            }
        }
        let nop = opcode::Nop::new().build().user_data(0);
        // SAFETY: a NOP carries no buffer or fd; nothing has to outlive the push.
        unsafe { ring.submission().push(&nop) }
            .map_err(|_| io::Error::other("fresh io_uring submission queue is full"))?;
        ring.submit_and_wait(1)?;
        let result = ring.completion().next().map(|cqe| cqe.result());
        match result {
            Some(0) => {}
            Some(negative) if negative < 0 => return Err(io::Error::from_raw_os_error(-negative)),
            _ => return Err(io::Error::other("io_uring NOP probe did not complete")),
        }
        let in_flight_max = ring.params().sq_entries() as usize;
        Ok(UringBackend { ring, in_flight_max })
    }

    /// Pushes ops `0..n` through the ring until every one is finished, resubmitting those whose
    /// `complete` asks for it. Returns the number of SQEs issued. Never returns while an SQE it
    /// pushed is still in flight.
    fn drive(&mut self, n: usize, ops: &mut dyn RingOps) -> io::Result<u64> {
        let mut todo: VecDeque<usize> = (0..n).collect();
        let mut in_flight = 0usize;
        let mut issued = 0u64;
        let mut enter_failures = 0u32;
        while !todo.is_empty() || in_flight > 0 {
            {
                let mut sq = self.ring.submission();
                while in_flight < self.in_flight_max && !sq.is_full() {
                    let Some(index) = todo.pop_front() else { break };
                    let entry = ops.prepare(index).user_data(index as u64);
                    // SAFETY: `RingOps::prepare` builds SQEs from buffers and fds borrowed by `ops`
                    // for this whole call (the batch's `Bytes` and `Arc<File>`s), and this function
                    // does not return while any pushed SQE is in flight (see the error path below).
                    if unsafe { sq.push(&entry) }.is_err() {
                        todo.push_front(index);
                        break;
                    }
                    in_flight += 1;
                    issued += 1;
                }
            }
            match self.ring.submit_and_wait(1) {
                Ok(_) => enter_failures = 0,
                Err(error) if is_transient(&error) => {}
                Err(error) => {
                    enter_failures += 1;
                    if in_flight == 0 && self.ring.submission().is_empty() {
                        return Err(error);
                    }
                    // The kernel may still read our buffers: returning would let them be freed.
                    // Retry for a while; if the ring stays broken the process cannot go on safely.
                    if enter_failures >= ENTER_RETRIES_MAX {
                        tracing::error!(%error, in_flight, "io_uring_enter keeps failing with writes in flight; aborting");
                        std::process::abort();
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            for cqe in self.ring.completion() {
                assert!(in_flight > 0, "an io_uring completion without an SQE in flight");
                in_flight -= 1;
                let Ok(index) = usize::try_from(cqe.user_data()) else { continue };
                if ops.complete(index, cqe.result()) {
                    todo.push_back(index);
                }
            }
        }
        Ok(issued)
    }
}

fn is_transient(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY))
}

/// A set of like operations driven through the ring.
trait RingOps {
    /// The next SQE of op `index` (user data is set by the caller).
    fn prepare(&self, index: usize) -> squeue::Entry;
    /// Records a completion; true = resubmit op `index`.
    fn complete(&mut self, index: usize, result: i32) -> bool;
}

struct Writes<'a, 'b> {
    ops: &'a [WriteOp<'b>],
    written: Vec<usize>,
    results: Vec<Option<io::Result<()>>>,
    chunk_bytes_max: usize,
    stats: &'a StatCounters,
}

impl RingOps for Writes<'_, '_> {
    fn prepare(&self, index: usize) -> squeue::Entry {
        let op = &self.ops[index];
        let start = self.written[index];
        let len = (op.data.len() - start).min(self.chunk_bytes_max).min(WRITE_BYTES_MAX);
        let buf = op.data[start..].as_ptr();
        opcode::Write::new(types::Fd(op.file.as_raw_fd()), buf, len as u32).offset(op.position + start as u64).build()
    }

    fn complete(&mut self, index: usize, result: i32) -> bool {
        if result < 0 {
            if matches!(-result, libc::EINTR | libc::EAGAIN) {
                return true;
            }
            self.results[index] = Some(Err(io::Error::from_raw_os_error(-result)));
            return false;
        }
        if result == 0 {
            self.results[index] = Some(Err(io::Error::from(io::ErrorKind::WriteZero)));
            return false;
        }
        self.written[index] += result as usize;
        if self.written[index] < self.ops[index].data.len() {
            self.stats.write_resubmits.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        self.results[index] = Some(Ok(()));
        false
    }
}

struct Syncs<'a, 'b> {
    files: &'a [&'b File],
    results: Vec<Option<io::Result<()>>>,
}

impl RingOps for Syncs<'_, '_> {
    fn prepare(&self, index: usize) -> squeue::Entry {
        opcode::Fsync::new(types::Fd(self.files[index].as_raw_fd())).flags(types::FsyncFlags::DATASYNC).build()
    }

    fn complete(&mut self, index: usize, result: i32) -> bool {
        if result == -libc::EINTR || result == -libc::EAGAIN {
            return true;
        }
        self.results[index] = Some(if result < 0 { Err(io::Error::from_raw_os_error(-result)) } else { Ok(()) });
        false
    }
}

/// Results of a drive: a ring-level error fails every op that did not finish.
fn collect(results: Vec<Option<io::Result<()>>>, outcome: &io::Result<u64>) -> Vec<io::Result<()>> {
    results
        .into_iter()
        .map(|result| match (result, outcome) {
            (Some(result), _) => result,
            (None, Err(error)) => Err(super::batch::duplicate_error(error)),
            (None, Ok(_)) => Err(io::Error::other("io_uring op finished without a result")),
        })
        .collect()
}

impl Backend for UringBackend {
    fn kind(&self) -> IoKind {
        IoKind::IoUring
    }

    fn write_all(&mut self, ops: &[WriteOp<'_>], chunk_bytes_max: usize, stats: &StatCounters) -> Vec<io::Result<()>> {
        let mut writes = Writes {
            ops,
            written: vec![0; ops.len()],
            results: ops.iter().map(|_| None).collect(),
            chunk_bytes_max: chunk_bytes_max.max(1),
            stats,
        };
        let outcome = self.drive(ops.len(), &mut writes);
        if let Ok(issued) = outcome {
            stats.writes.fetch_add(issued, Ordering::Relaxed);
        }
        collect(writes.results, &outcome)
    }

    fn datasync(&mut self, files: &[&File], stats: &StatCounters) -> Vec<io::Result<()>> {
        let mut syncs = Syncs { files, results: files.iter().map(|_| None).collect() };
        let outcome = self.drive(files.len(), &mut syncs);
        if let Ok(issued) = outcome {
            stats.fsyncs.fetch_add(issued, Ordering::Relaxed);
        }
        collect(syncs.results, &outcome)
    }
}
