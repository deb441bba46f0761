//! Strata's load generator and benchmark harness: workloads W1-W8 against a real `strata` broker
//! through rdkafka (W2's bytes through a raw-protocol producer, and W8's 1,100 connections through
//! raw-protocol clients on one thread), this machine's raw ceilings for the same bytes, and the
//! RESULTS.md report.
//! W9 reads one backlog with a classic consumer group and with a share group (raw-protocol members).
//! Binaries: `bench` (the whole run, or `--smoke` for CI) and `loadgen` (one load against a broker).

pub mod admin;
pub mod broker;
pub mod ceilings;
pub mod classic_group;
pub mod error;
pub mod fsync_spread;
pub mod group_read;
pub mod histogram;
pub mod loadgen;
pub mod machine;
pub mod manyclients;
pub mod pinning;
pub mod plots;
pub mod procstat;
pub mod rawload;
pub mod report;
pub mod shareload;
pub mod targets;
pub mod workloads;
