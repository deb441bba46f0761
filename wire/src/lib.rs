//! The Kafka wire protocol for Strata: frame size checks, request and response headers, and
//! record-batch (v2) validation. Message bodies are encoded and decoded by the `kafka-protocol`
//! crate; this crate adds what a broker needs around them. It performs no I/O: everything decodes
//! from byte slices and encodes into `BytesMut`.

pub mod batch;
pub mod compression;
pub mod control;
pub mod fetch_framing;
pub mod frame;
pub mod header;
pub mod legacy;
pub mod plain_batch;
pub mod pool;
pub mod records;
pub mod schema;
