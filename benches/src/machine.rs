//! A description of the machine a run happened on: CPU model, CPU count, memory, kernel, load,
//! and the date, for the head of RESULTS.md.

use std::process::Command;

/// What RESULTS.md says about the machine.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    pub date_utc: String,
    pub cpu_model: String,
    pub cpus: usize,
    pub memory_gib: f64,
    pub kernel: String,
    /// /proc/loadavg when the run started: how busy the shared machine was.
    pub load_at_start: String,
    /// The commit the harness was built from, and whether the work tree differed from it.
    pub git_revision: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Machine {
            date_utc: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            cpu_model,
            cpus: crate::pinning::cpus_online(),
            memory_gib: mem_kib / (1024.0 * 1024.0),
            kernel: command_output("uname", &["-r"]),
            load_at_start: load_average(),
            git_revision: git_revision(),
        }
    }
}

/// The three load averages from /proc/loadavg.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// `abc1234`, or `abc1234 plus uncommitted changes in wire/ log/ broker/` when the code the broker
/// was built from is not exactly that commit.
fn git_revision() -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let head = command_output("git", &["-C", root, "rev-parse", "--short", "HEAD"]);
    let dirty = command_output("git", &["-C", root, "status", "--porcelain", "--", "wire", "log", "broker", "groups"]);
    if dirty.is_empty() { head } else { format!("{head} plus uncommitted changes in wire/ log/ broker/ groups/") }
}
