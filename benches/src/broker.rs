//! Starts the broker of one workload (fresh data directory, its own overrides, pinned with
//! `taskset` when asked), or a cluster of Strata brokers, and stops it: `strata` (ready at its `strata listening on HOST:PORT`
//! line, stopped with SIGTERM) or reference Apache Kafka, one KRaft node started and stopped by
//! `compat/reference-kafka.sh` with the same overrides (Kafka's names), Strata-only settings
//! (`strata.*`) left out.

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

/// Kafka's own default heap (`kafka-server-start.sh`), which the reference broker runs with.
pub const KAFKA_HEAP_OPTS: &str = "-Xms1G -Xmx1G";

/// Which broker a workload runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// The `strata` binary at this path.
    Strata(PathBuf),
    /// Reference Kafka, through this `compat/reference-kafka.sh`.
    Kafka(PathBuf),
}

impl Engine {
    /// The engine's name in reports and directory names.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Strata(_) => "strata",
            Engine::Kafka(_) => "kafka",
        }
    }

    /// The reference Kafka script of this repository.
    pub fn reference_kafka() -> Engine {
        Engine::Kafka(Path::new(env!("CARGO_MANIFEST_DIR")).join("../compat/reference-kafka.sh"))
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct BrokerSpec {
    pub engine: Engine,
    pub data_dir: PathBuf,
    pub overrides: Vec<(String, String)>,
    pub cpu: Option<usize>,
}

/// A running broker; stopped (SIGTERM, then SIGKILL after a wait) when dropped.
#[derive(Debug)]
pub struct Broker {
    child: Option<Child>,
    /// For reference Kafka: the script and the directory it was started in.
    kafka: Option<(PathBuf, PathBuf)>,
    pub address: String,
    pub pid: u32,
    /// `Cpus_allowed_list` of the broker process, as read after it started.
    pub cpus: String,
}

impl Broker {
    /// Starts the broker and returns once it serves.
    pub fn start(spec: &BrokerSpec) -> Result<Broker, BenchError> {
        std::fs::create_dir_all(&spec.data_dir)
            .map_err(BenchError::io(format!("creating {}", spec.data_dir.display())))?;
        match &spec.engine {
            Engine::Strata(binary) => Broker::start_strata(spec, binary),
            Engine::Kafka(script) => Broker::start_kafka(spec, script),
        }
    }

    /// Starts `n` Strata brokers as one cluster: node ids 1..=n, each with its own data directory
    /// under the spec's and a controller listener on a free loopback port, all of them voters;
    /// started in parallel, since each waits for the quorum before it serves. Reference Kafka runs
    /// as one node in this harness: a cluster of it is refused.
    pub fn start_cluster(spec: &BrokerSpec, n: usize) -> Result<Vec<Broker>, BenchError> {
        if !matches!(spec.engine, Engine::Strata(_)) {
            return Err(BenchError::Workload {
                workload: "cluster".into(),
                reason: "reference Kafka runs as one node in this harness; a Kafka cluster is not set up".into(),
            });
        }
        let ports = controller_ports(n)?;
        let voters: Vec<String> = (1..).zip(&ports).map(|(id, port)| format!("{id}@127.0.0.1:{port}")).collect();
        let voters = voters.join(",");
        let starts: Vec<_> = (1..)
            .zip(ports)
            .map(|(id, port)| {
                let mut node = spec.clone();
                node.data_dir = spec.data_dir.join(format!("node-{id}"));
                node.overrides.extend([
                    ("node.id".to_string(), format!("{id}")),
                    ("listeners".to_string(), format!("PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{port}")),
                    ("controller.listener.names".to_string(), "CONTROLLER".to_string()),
                    (
                        "listener.security.protocol.map".to_string(),
                        "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_string(),
                    ),
                    ("controller.quorum.voters".to_string(), voters.clone()),
                ]);
                std::thread::spawn(move || Broker::start(&node))
            })
            .collect();
        starts
            .into_iter()
            .map(|start| {
                start.join().unwrap_or_else(|_| {
                    Err(BenchError::Workload { workload: "cluster".into(), reason: "a broker's start panicked".into() })
                })
            })
            .collect()
    }

    /// `command`, under `taskset -c <cpu>` when the spec pins the broker.
    fn pinned(spec: &BrokerSpec, program: &Path) -> Command {
        match spec.cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    fn start_strata(spec: &BrokerSpec, binary: &Path) -> Result<Broker, BenchError> {
        let mut command = Broker::pinned(spec, binary);
        command.arg("--listen").arg("127.0.0.1:0").arg("--data-dir").arg(&spec.data_dir);
        for (key, value) in &spec.overrides {
            command.arg("--override").arg(format!("{key}={value}"));
        }
        let log_path = spec.data_dir.with_extension("log");
        let log =
            std::fs::File::create(&log_path).map_err(BenchError::io(format!("creating {}", log_path.display())))?;
        command.stdout(Stdio::piped()).stderr(Stdio::from(log)).stdin(Stdio::null());
        let mut child = command.spawn().map_err(BenchError::io(format!("starting {}", binary.display())))?;
        let fail = |reason: String| BenchError::BrokerStart { path: binary.to_path_buf(), reason };
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
        Ok(Broker { child: Some(child), kafka: None, address, pid, cpus })
    }

    /// Starts reference Kafka with `compat/reference-kafka.sh start` (which returns once Kafka
    /// serves); the JVM inherits the script's CPU pinning.
    fn start_kafka(spec: &BrokerSpec, script: &Path) -> Result<Broker, BenchError> {
        let fail = |reason: String| BenchError::BrokerStart { path: script.to_path_buf(), reason };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(BenchError::io("finding a free port"))?
            .port();
        let mut command = Broker::pinned(spec, Path::new("bash"));
        command.arg(script).arg("start").arg(port.to_string()).arg(&spec.data_dir);
        for (key, value) in spec.overrides.iter().filter(|(key, _)| !key.starts_with("strata.")) {
            command.arg(format!("{key}={value}"));
        }
        command.env("KAFKA_HEAP_OPTS", KAFKA_HEAP_OPTS).stdin(Stdio::null());
        let output = command.output().map_err(BenchError::io(format!("running {}", script.display())))?;
        if !output.status.success() {
            return Err(fail(format!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim())));
        }
        let pid_file = spec.data_dir.join("kafka.pid");
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            .ok_or_else(|| fail(format!("no pid in {}", pid_file.display())))?;
        let cpus = procstat::cpus_allowed(pid)?;
        Ok(Broker {
            child: None,
            kafka: Some((script.to_path_buf(), spec.data_dir.clone())),
            address: format!("127.0.0.1:{port}"),
            pid,
            cpus,
        })
    }

    /// Stops the broker with SIGTERM and waits for it; reports an unclean exit.
    pub fn stop(mut self) -> Result<(), BenchError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), BenchError> {
        if let Some((script, dir)) = self.kafka.take() {
            // TERM, then KILL after 30 s; Kafka's clean shutdown is not what is measured.
            let status = Command::new("bash")
                .arg(&script)
                .arg("stop")
                .arg(&dir)
                .status()
                .map_err(BenchError::io("stopping reference Kafka"))?;
            if !status.success() {
                return Err(BenchError::Workload {
                    workload: "broker shutdown".into(),
                    reason: format!("reference-kafka.sh stop exited with {status}"),
                });
            }
            return Ok(());
        }
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

/// `n` distinct loopback ports free now, below Linux's ephemeral range (32768 and up), so that
/// no broker's client listener (bound to port 0) takes one before its controller listener binds it.
fn controller_ports(n: usize) -> Result<Vec<u16>, BenchError> {
    let seed = (std::process::id() % 65_536).wrapping_mul(7919);
    let mut ports = Vec::with_capacity(n);
    for attempt in 0..1000u32 {
        if ports.len() == n {
            break;
        }
        let port =
            u16::try_from(20_000 + (seed.wrapping_add(attempt.wrapping_mul(104_729)) % 12_000)).unwrap_or(20_000);
        if !ports.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    if ports.len() < n {
        return Err(BenchError::Workload {
            workload: "cluster".into(),
            reason: "no free loopback ports in 20000-32000".into(),
        });
    }
    Ok(ports)
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
