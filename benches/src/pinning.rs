//! CPU pinning: the client pins itself with `sched_setaffinity`; the broker is started under
//! `taskset` so every one of its threads, created later, inherits its CPU.

use crate::error::BenchError;
use nix::sched::{CpuSet, sched_setaffinity};
use nix::unistd::Pid;

/// How many CPUs this machine has online.
pub fn cpus_online() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Pins the calling process's current thread — and so every thread it creates afterwards — to `cpu`.
/// Call it before any client library starts its threads.
pub fn pin_current_thread(cpu: usize) -> Result<(), BenchError> {
    let mut set = CpuSet::new();
    set.set(cpu).map_err(BenchError::sys(format!("adding CPU {cpu} to a CPU set")))?;
    sched_setaffinity(Pid::from_raw(0), &set).map_err(BenchError::sys(format!("pinning to CPU {cpu}")))
}

/// The CPU layout of a run: where the broker and the client run, or `None` when not pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub broker_cpu: Option<usize>,
    pub client_cpu: Option<usize>,
}

impl Placement {
    /// Broker on CPU 0 and client on CPU 1 when there are two CPUs or more; unpinned otherwise.
    pub fn default_for_machine(pin: bool) -> Placement {
        if pin && cpus_online() >= 2 {
            Placement { broker_cpu: Some(0), client_cpu: Some(1) }
        } else {
            Placement { broker_cpu: None, client_cpu: None }
        }
    }
}
