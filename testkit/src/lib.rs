//! Test support for every Strata crate's tests and the benchmarks (a dev-dependency only):
//!
//! - [`codes`]: Kafka's error codes by name, taken from the `kafka-protocol` crate, so no test
//!   writes an error code as a bare integer;
//! - [`frame`]: a request framed with its header and a response checked against its header, the
//!   one encoding both raw clients share;
//! - [`raw`]: the blocking raw Kafka connection, [`raw_async`] its tokio twin for tests that run
//!   a broker in their own runtime;
//! - [`batches`]: the one v2 record-batch builder (encoded by `kafka-protocol`);
//! - [`requests`]: ready-made requests and one-call helpers over [`raw`];
//! - [`shares`]: share group members' requests over [`raw`].
//!
//! It depends on no Strata crate, so the log, the wire layer and the broker can all use it.

pub mod batches;
pub mod codes;
pub mod frame;
pub mod raw;
pub mod raw_async;
pub mod requests;
pub mod shares;

pub use raw::{RawConn, Reply};
pub use raw_async::AsyncConn;
