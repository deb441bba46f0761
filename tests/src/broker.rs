//! A real `strata` process for end-to-end tests.
//!
//! The binary is the one cargo built next to the test executable (`target/<profile>/strata`), or the
//! one named by `$STRATA_BIN`. Each broker gets its own temporary data directory (kept across
//! [`Broker::restart`]) and listens on a free loopback port; its stderr goes to a file that is printed
//! when a test panics, so a failure shows what the broker logged.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a broker may take to print its "listening on" line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a graceful shutdown may take before the test gives up on it.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

const LISTENING_PREFIX: &str = "strata listening on ";

/// Start-up options: Kafka-named `--override key=value` settings and an optional data dir.
#[derive(Debug, Clone, Default)]
pub struct BrokerOptions {
    pub overrides: Vec<(String, String)>,
    /// Use this data dir instead of a fresh temporary one (it is not deleted afterwards).
    pub data_dir: Option<PathBuf>,
    /// The broker's `RUST_LOG` filter; `$RUST_LOG`, else `info`, when unset.
    pub log_filter: Option<String>,
    /// Runs the broker under this address-space limit in bytes (`prlimit --as`), so that any
    /// allocation beyond it fails as it would without memory overcommit.
    pub address_space_limit: Option<u64>,
    /// Runs the broker in this network namespace (`ip netns exec`), listening on `listen`.
    pub namespace: Option<String>,
    /// The client listener's first address (`127.0.0.1:0` when unset).
    pub listen: Option<String>,
}

impl BrokerOptions {
    /// Adds one `--override key=value`.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.overrides.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Runs the broker under an address-space limit (see the field).
    pub fn with_address_space_limit(mut self, bytes: u64) -> Self {
        self.address_space_limit = Some(bytes);
        self
    }

    /// Runs the broker in network namespace `namespace`, its client listener on `listen`.
    pub fn in_namespace(mut self, namespace: &str, listen: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self.listen = Some(listen.to_owned());
        self
    }

    /// Runs the broker with this `RUST_LOG` filter (for tests that read what it logs).
    pub fn with_log_filter(mut self, filter: &str) -> Self {
        self.log_filter = Some(filter.to_owned());
        self
    }
}

/// A running (or stopped) broker process.
pub struct Broker {
    options: BrokerOptions,
    // Holds the data dir and log for as long as the handle lives (kept when a test fails).
    temp: tempfile::TempDir,
    data_dir: PathBuf,
    stderr_path: PathBuf,
    child: Option<Child>,
    bootstrap: String,
    starts: u32,
}

/// Path of the `strata` binary the tests run.
pub fn strata_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("STRATA_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test-binary>  →  target/<profile>/strata
    let profile_dir = exe.parent().and_then(Path::parent).expect("test executable is not under target/<profile>/deps");
    profile_dir.join("strata")
}

/// Runs `strata ARGS` to its end: a storage command, or a broker the test expects to refuse to
/// start. A process still running after [`START_TIMEOUT`] (a broker that started instead) is
/// killed and fails the test, with what it printed.
pub fn run_strata<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Output {
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let mut child = Command::new(strata_bin())
        .args(&args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strata");
    let deadline = Instant::now() + START_TIMEOUT;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "strata {args:?} kept running: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

impl Broker {
    /// Starts a broker with a fresh data dir and the default settings.
    pub fn start_default() -> Broker {
        Broker::start(BrokerOptions::default())
    }

    /// Starts a broker and waits until it accepts connections.
    pub fn start(options: BrokerOptions) -> Broker {
        let temp = tempfile::Builder::new().prefix("strata-e2e-").tempdir().expect("tempdir");
        let data_dir = options.data_dir.clone().unwrap_or_else(|| temp.path().join("data"));
        let stderr_path = temp.path().join("broker.stderr.log");
        let mut broker =
            Broker { options, temp, data_dir, stderr_path, child: None, bootstrap: String::new(), starts: 0 };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let bin = strata_bin();
        assert!(
            bin.exists(),
            "strata binary not found at {}: run `cargo build -p strata-broker` first (or set STRATA_BIN)",
            bin.display()
        );
        let listen = self.options.listen.clone().unwrap_or_else(|| "127.0.0.1:0".into());
        self.spawn_on(&listen);
    }

    /// Starts the process listening on `listen`, and waits for its address.
    fn spawn_on(&mut self, listen: &str) {
        let bin = strata_bin();
        self.starts += 1;
        let stderr = File::options().create(true).append(true).open(&self.stderr_path).expect("open stderr log");
        // `ip netns exec` and prlimit each set up the process and execute the next in it.
        let mut program: Vec<std::ffi::OsString> = Vec::new();
        if let Some(namespace) = &self.options.namespace {
            program.extend(["ip", "netns", "exec", namespace.as_str()].map(Into::into));
        }
        if let Some(bytes) = self.options.address_space_limit {
            program.extend(["prlimit".into(), format!("--as={bytes}").into(), "--".into()]);
        }
        program.push(bin.clone().into());
        let mut command = Command::new(&program[0]);
        command.args(&program[1..]);
        command
            .arg("--listen")
            .arg(listen)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        for (key, value) in &self.options.overrides {
            command.arg("--override").arg(format!("{key}={value}"));
        }
        if let Some(filter) = &self.options.log_filter {
            command.env("RUST_LOG", filter);
        } else if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info");
        }
        // Plain text in the captured log, and a backtrace if the broker panics.
        command.env("NO_COLOR", "1").env("RUST_BACKTRACE", "1");
        let mut child = command.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = mpsc::channel::<String>();
        // Reads stdout for the whole life of the child so the pipe never fills up.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some(addr) = line.strip_prefix(LISTENING_PREFIX) {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        self.child = Some(child);
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => self.bootstrap = addr,
            Err(_) => {
                let status = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                self.kill();
                panic!(
                    "broker did not print `{LISTENING_PREFIX}<addr>` within {START_TIMEOUT:?} (exit: {status:?})\n{}",
                    self.stderr_tail()
                );
            }
        }
    }

    /// `host:port` to give clients.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// OS process id of the running broker.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The broker's resident set size in KiB (`VmRSS` of /proc/<pid>/status).
    pub fn rss_kib(&self) -> u64 {
        rss_kib_of(self.pid().expect("broker is running"))
    }

    /// How many file descriptors the broker holds open (entries of /proc/<pid>/fd).
    pub fn open_fds(&self) -> usize {
        let pid = self.pid().expect("broker is running");
        std::fs::read_dir(format!("/proc/{pid}/fd")).expect("read /proc/<pid>/fd").count()
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Graceful shutdown: SIGTERM, then waits for the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("broker is not running");
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
        kill(pid, Signal::SIGTERM).expect("send SIGTERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("wait for broker") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("broker did not exit within {STOP_TIMEOUT:?} of SIGTERM\n{}", self.stderr_tail());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Graceful shutdown that must exit with status 0.
    pub fn stop_ok(&mut self) {
        let status = self.stop();
        assert!(status.success(), "broker exited with {status} after SIGTERM\n{}", self.stderr_tail());
    }

    /// SIGKILL, as a crash would: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the process freezes (no heartbeats, no answers) until [`Broker::resume`], as a
    /// long GC pause or a stalled VM would freeze it.
    pub fn pause(&mut self) {
        self.signal(Signal::SIGSTOP);
    }

    /// SIGCONT after [`Broker::pause`].
    pub fn resume(&mut self) {
        self.signal(Signal::SIGCONT);
    }

    fn signal(&self, signal: Signal) {
        let child = self.child.as_ref().expect("broker is running");
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
        kill(pid, signal).unwrap_or_else(|e| panic!("send {signal}: {e}"));
    }

    /// Starts the broker again on the same data dir (after `stop` or `kill`); the port changes.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop_ok();
        }
        self.spawn();
    }

    /// Starts the broker again on the same data dir and the same address (after `stop` or `kill`),
    /// so clients bootstrapped before find it again, as with a real broker's restart.
    pub fn restart_on_same_port(&mut self) {
        if self.child.is_some() {
            self.stop_ok();
        }
        let listen = self.bootstrap.clone();
        self.spawn_on(&listen);
    }

    /// Everything the broker has logged so far (all its starts).
    pub fn stderr_log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(&self.stderr_path) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// What the broker wrote to stderr, for failure messages: panics, errors and warnings first
    /// (a long backtrace could push them out of the tail), then the last part of the log.
    pub fn stderr_tail(&self) -> String {
        let text = self.stderr_log();
        const NOTABLE_LINES_MAX: usize = 30;
        const TAIL_BYTES: usize = 6000;
        let notable: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.contains("panicked") || l.contains("memory allocation") || l.contains("ERROR") || l.contains("WARN")
            })
            .take(NOTABLE_LINES_MAX)
            .collect();
        let start = text.len().saturating_sub(TAIL_BYTES);
        let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
        format!(
            "--- broker stderr ({} starts, {}) ---\npanics/errors/warnings:\n{}\n... last {TAIL_BYTES} bytes:\n{}\n--- end of broker stderr ---",
            self.starts,
            self.stderr_path.display(),
            notable.join("\n"),
            &text[start..]
        )
    }
}

/// The resident set size in KiB of process `pid` (`VmRSS` of /proc/<pid>/status).
pub fn rss_kib_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmRSS in kB")
}

impl Drop for Broker {
    fn drop(&mut self) {
        let crashed = match self.child.as_mut() {
            Some(child) => child.try_wait().ok().flatten(),
            None => None,
        };
        self.kill();
        if std::thread::panicking() {
            // A failed test leaves its broker's directory (log and data) for diagnosis.
            self.temp.disable_cleanup(true);
            eprintln!("{}\nkept {}", self.stderr_tail(), self.temp.path().display());
        } else if let Some(status) = crashed {
            // The broker died under a test that did not expect it; say so loudly.
            eprintln!("broker had already exited ({status}) when the test ended\n{}", self.stderr_tail());
        }
    }
}
