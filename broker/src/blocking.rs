//! Blocking work from a tokio worker without stalling the runtime: the worker is handed over
//! (`block_in_place`) so its other tasks move to another thread meanwhile. Appends try the
//! non-blocking `try_append` first and block only when the append must wait (a full write queue,
//! a segment roll, another append holding the partition).

use bytes::Bytes;
use strata_log::{AppendError, AppendOrigin, Partition, PendingAppend, TryAppendError};
use tokio::runtime::{Handle, RuntimeFlavor};

/// Appends `records`, written by `origin`, to `partition`; see the module docs.
pub fn append(
    origin: AppendOrigin,
    partition: &Partition,
    records: Bytes,
    leader_epoch: i32,
    now_ms: i64,
) -> Result<PendingAppend, AppendError> {
    match partition.try_append_from(origin, records, leader_epoch, now_ms) {
        Ok(pending) => Ok(pending),
        Err(TryAppendError::Refused(error)) => Err(error),
        Err(TryAppendError::WouldBlock(records)) => {
            run(|| partition.append_from(origin, records, leader_epoch, now_ms))
        }
    }
}

/// Runs blocking `work`, handing the worker over while it does.
pub fn run<R>(work: impl FnOnce() -> R) -> R {
    // `block_in_place` needs a multi-threaded runtime (the broker's); elsewhere (a
    // single-threaded test runtime, or no runtime at all) the work simply blocks.
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Waits for `work` from synchronous code running on a runtime worker (the produce path, which
/// must finish on the connection's reader), handing the worker over meanwhile. `None` off the
/// broker's multi-threaded runtime, where a worker cannot be handed over.
pub fn wait<F: std::future::Future>(work: F) -> Option<F::Output> {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            Some(tokio::task::block_in_place(|| handle.block_on(work)))
        }
        _ => None,
    }
}
