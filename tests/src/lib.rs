//! Test harness for Strata's end-to-end tests: starts the real `strata` binary ([`broker`]), talks
//! to it through librdkafka ([`clients`]) (raw sockets with exact bytes come from `strata_testkit`),
//! and checks what comes back against deterministic test data ([`data`]); [`cluster`] starts several
//! brokers as one cluster (on loopback, or in network namespaces of [`netns`]), and [`history`]
//! checks what a producer and a consumer saw through replication faults against the log left at
//! the end.

pub mod broker;
pub mod clients;
pub mod cluster;
pub mod data;
pub mod history;
pub mod netns;
pub mod transactions;

pub use broker::{Broker, BrokerOptions};

/// Number of messages the bulk produce/consume tests send; `STRATA_E2E_MESSAGES` overrides it
/// (100,000 by default, as the issue asks).
pub fn bulk_message_count() -> usize {
    std::env::var("STRATA_E2E_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}
