//! Test harness for Strata's end-to-end tests: starts the real `strata` binary ([`broker`]), talks
//! to it over raw sockets with exact bytes ([`raw`], [`requests`]) and through librdkafka
//! ([`clients`]), and checks what comes back against deterministic test data ([`data`]).

pub mod broker;
pub mod clients;
pub mod data;
pub mod raw;
pub mod requests;

pub use broker::{Broker, BrokerOptions};
pub use raw::{RawConn, Reply};

/// Kafka error codes the tests check (values from Kafka's `Errors` enum).
pub mod codes {
    pub const NONE: i16 = 0;
    pub const OFFSET_OUT_OF_RANGE: i16 = 1;
    pub const CORRUPT_MESSAGE: i16 = 2;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const MESSAGE_TOO_LARGE: i16 = 10;
    pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
    pub const INVALID_REQUIRED_ACKS: i16 = 21;
    pub const UNSUPPORTED_VERSION: i16 = 35;
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    pub const INVALID_PARTITIONS: i16 = 37;
    pub const INVALID_CONFIG: i16 = 40;
    pub const INVALID_REQUEST: i16 = 42;
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
}

/// Number of messages the bulk produce/consume tests send; `STRATA_E2E_MESSAGES` overrides it
/// (100,000 by default, as the issue asks).
pub fn bulk_message_count() -> usize {
    std::env::var("STRATA_E2E_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}
