//! The tidy test's crate: no code of its own and no dependencies (it reads the workspace's files
//! as text), so `cargo test -p strata-tidy` runs without building librdkafka. See `tests/tidy.rs`.
