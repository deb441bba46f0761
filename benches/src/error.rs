//! The one error type of the benchmark harness: everything a run can fail on, typed.

use std::path::PathBuf;

/// Why a benchmark step failed. A failed step fails the whole run (and `--smoke` exits non-zero).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("I/O error while {what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("system call failed while {what}: {source}")]
    Sys { what: String, source: nix::Error },
    #[error("Kafka client error while {what}: {source}")]
    Kafka { what: String, source: rdkafka::error::KafkaError },
    #[error("the broker at {path} did not start: {reason}")]
    BrokerStart { path: PathBuf, reason: String },
    #[error("could not parse {file}: {reason}")]
    Proc { file: String, reason: String },
    #[error("building the broker failed: {0}")]
    Build(String),
    #[error("workload {workload} failed: {reason}")]
    Workload { workload: String, reason: String },
    #[error("plotting {file} failed: {reason}")]
    Plot { file: String, reason: String },
}

impl BenchError {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
        let what = what.into();
        move |source| BenchError::Io { what, source }
    }

    /// Wraps a `nix` error with what was being done.
    pub fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> BenchError {
        let what = what.into();
        move |source| BenchError::Sys { what, source }
    }

    /// Wraps a Kafka client error with what was being done.
    pub fn kafka(what: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> BenchError {
        let what = what.into();
        move |source| BenchError::Kafka { what, source }
    }
}
