//! Starts a `strata` broker for one workload (fresh data directory, its own overrides, pinned with
//! `taskset` when asked), waits for its `strata listening on HOST:PORT` line, and stops it with SIGTERM.

use crate::error::BenchError;
use crate::procstat;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest wait for the broker's ready line.
const START_WAIT_MAX: Duration = Duration::from_secs(30);
/// Longest wait for a clean exit after SIGTERM before the broker is killed.
const STOP_WAIT_MAX: Duration = Duration::from_secs(30);

/// What to start.
#[derive(Debug, Clone)]
pub struct BrokerSpec {
    pub binary: PathBuf,
    pub data_dir: PathBuf,
    pub overrides: Vec<(String, String)>,
    pub cpu: Option<usize>,
}

/// A running broker; stopped (SIGTERM, then SIGKILL after a wait) when dropped.
#[derive(Debug)]
pub struct Broker {
    child: Option<Child>,
    pub address: String,
    pub pid: u32,
    /// `Cpus_allowed_list` of the broker process, as read after it started.
    pub cpus: String,
}

impl Broker {
    /// Starts the broker and returns once it prints its listening line.
    pub fn start(spec: &BrokerSpec) -> Result<Broker, BenchError> {
        std::fs::create_dir_all(&spec.data_dir)
            .map_err(BenchError::io(format!("creating {}", spec.data_dir.display())))?;
        let mut command = match spec.cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(&spec.binary);
                c
            }
            None => Command::new(&spec.binary),
        };
        command.arg("--listen").arg("127.0.0.1:0").arg("--data-dir").arg(&spec.data_dir);
        for (key, value) in &spec.overrides {
            command.arg("--override").arg(format!("{key}={value}"));
        }
        let log_path = spec.data_dir.with_extension("log");
        let log =
            std::fs::File::create(&log_path).map_err(BenchError::io(format!("creating {}", log_path.display())))?;
        command.stdout(Stdio::piped()).stderr(Stdio::from(log)).stdin(Stdio::null());
        let mut child = command.spawn().map_err(BenchError::io(format!("starting {}", spec.binary.display())))?;
        let fail = |reason: String| BenchError::BrokerStart { path: spec.binary.clone(), reason };
        let stdout = child.stdout.take().ok_or_else(|| fail("no stdout pipe".into()))?;
        let address = match wait_for_ready_line(stdout) {
            Ok(address) => address,
            Err(reason) => {
                let _ = child.kill();
                let _ = child.wait();
                let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
                let tail: String = tail.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                return Err(fail(format!("{reason}; its log ends: {tail}")));
            }
        };
        let pid = child.id();
        let cpus = procstat::cpus_allowed(pid)?;
        Ok(Broker { child: Some(child), address, pid, cpus })
    }

    /// Stops the broker with SIGTERM and waits for it; reports an unclean exit.
    pub fn stop(mut self) -> Result<(), BenchError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), BenchError> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_WAIT_MAX;
        loop {
            match child.try_wait().map_err(BenchError::io("waiting for the broker"))? {
                Some(status) if status.success() => return Ok(()),
                Some(status) => {
                    return Err(BenchError::Workload {
                        workload: "broker shutdown".into(),
                        reason: format!("broker exited with {status}"),
                    });
                }
                None if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(BenchError::Workload {
                        workload: "broker shutdown".into(),
                        reason: "broker did not exit within 30 s of SIGTERM".into(),
                    });
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Err(e) = self.stop_inner() {
            tracing::warn!("{e}");
        }
    }
}

/// Reads stdout on a helper thread until the ready line, so a silent broker cannot hang the run.
/// The thread keeps draining stdout afterwards so the broker never blocks on a full pipe.
fn wait_for_ready_line(stdout: std::process::ChildStdout) -> Result<String, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent && let Some(address) = line.strip_prefix("strata listening on ") {
                let _ = tx.send(address.trim().to_string());
                sent = true;
            }
        }
    });
    rx.recv_timeout(START_WAIT_MAX)
        .map_err(|_| "no 'strata listening on' line (it exited or took longer than 30 s)".to_string())
}

/// Locates (and builds) the broker binary: `cargo build -p strata-broker --bin strata` with the same
/// profile as this harness, in the same target directory, so `--release` here means a release broker.
pub fn build_broker() -> Result<PathBuf, BenchError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let release = !cfg!(debug_assertions);
    let mut command = Command::new(cargo);
    command.args(["build", "-q", "-p", "strata-broker", "--bin", "strata"]);
    if release {
        command.arg("--release");
    }
    let status = command.status().map_err(BenchError::io("running cargo build for the broker"))?;
    if !status.success() {
        return Err(BenchError::Build(format!("cargo build -p strata-broker exited with {status}")));
    }
    let exe = std::env::current_exe().map_err(BenchError::io("locating this executable"))?;
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let binary = dir.join("strata");
    if binary.exists() {
        Ok(binary)
    } else {
        Err(BenchError::Build(format!("{} not found after the build", binary.display())))
    }
}
