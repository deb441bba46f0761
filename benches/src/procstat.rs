//! Readings of another process from /proc: CPU time (utime+stime), current and peak RSS (VmRSS,
//! VmHWM), bytes it caused to be written to storage (`write_bytes`), and the CPUs it may run on.
//!
//! `write_bytes` counts page-cache pages dirtied by the process (and direct I/O), which is what a
//! "disk bytes written per byte produced" figure wants: it does not wait for writeback.

use crate::error::BenchError;
use nix::unistd::{SysconfVar, sysconf};

/// One reading of a process's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcSample {
    /// utime + stime of every thread, in seconds.
    pub cpu_secs: f64,
    /// Bytes the process caused to be sent to the storage layer.
    pub write_bytes: u64,
    /// Resident set size now (VmRSS), bytes.
    pub rss_bytes: u64,
    /// Peak resident set size (VmHWM), bytes.
    pub rss_peak_bytes: u64,
}

/// Reads the counters of process `pid`.
pub fn sample(pid: u32) -> Result<ProcSample, BenchError> {
    let stat = read(pid, "stat")?;
    let status = read(pid, "status")?;
    let io = read(pid, "io")?;
    let ticks_per_sec = sysconf(SysconfVar::CLK_TCK).ok().flatten().filter(|t| *t > 0).unwrap_or(100) as f64;
    let (utime, stime) = parse_stat_times(&stat)?;
    Ok(ProcSample {
        cpu_secs: (utime + stime) as f64 / ticks_per_sec,
        write_bytes: parse_key_value(&io, "write_bytes", "io")?,
        rss_bytes: parse_key_value(&status, "VmRSS", "status")? * 1024,
        rss_peak_bytes: parse_key_value(&status, "VmHWM", "status")? * 1024,
    })
}

/// The `Cpus_allowed_list` of process `pid`, as the kernel prints it (for example `0` or `0-1`).
pub fn cpus_allowed(pid: u32) -> Result<String, BenchError> {
    let status = read(pid, "status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
        .ok_or_else(|| BenchError::Proc { file: format!("/proc/{pid}/status"), reason: "no Cpus_allowed_list".into() })
}

fn read(pid: u32, file: &str) -> Result<String, BenchError> {
    let path = format!("/proc/{pid}/{file}");
    std::fs::read_to_string(&path).map_err(BenchError::io(format!("reading {path}")))
}

/// utime and stime (fields 14 and 15) of a /proc/<pid>/stat line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from the last ')'.
fn parse_stat_times(stat: &str) -> Result<(u64, u64), BenchError> {
    let bad = |reason: &str| BenchError::Proc { file: "stat".into(), reason: reason.into() };
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| bad("no ')'"))?;
    // After ')': field 3 (state) is index 0, so utime (14) is index 11 and stime (15) index 12.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Result<u64, BenchError> {
        fields.get(i).and_then(|f| f.parse().ok()).ok_or_else(|| bad("missing utime/stime"))
    };
    Ok((field(11)?, field(12)?))
}

/// The first number after `key:` in a `key: value [unit]` file.
fn parse_key_value(text: &str, key: &str, file: &str) -> Result<u64, BenchError> {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| BenchError::Proc { file: file.into(), reason: format!("no number for {key}") })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_skip_a_command_name_with_spaces_and_parens() {
        let line = "123 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 1 0";
        assert_eq!(parse_stat_times(line).unwrap(), (250, 75));
    }

    #[test]
    fn key_values_read_the_number_and_ignore_the_unit() {
        let status = "Name:\tstrata\nVmHWM:\t   20480 kB\nVmRSS:\t 100 kB\n";
        assert_eq!(parse_key_value(status, "VmHWM", "status").unwrap(), 20480);
        assert!(parse_key_value(status, "VmSwap", "status").is_err());
    }

    #[test]
    fn own_process_reads_sensible_values() {
        let me = std::process::id();
        let s = sample(me).unwrap();
        assert!(s.rss_bytes > 0);
        assert!(s.rss_peak_bytes >= s.rss_bytes);
        assert!(!cpus_allowed(me).unwrap().is_empty());
    }
}
