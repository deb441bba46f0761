//! Strata's segment log: partitions as directories of Kafka-layout segment files
//! (`<base offset>.log/.index/.timeindex/.txnindex`), written through one io_uring writer (or a positioned-
//! write fallback), with sparse mmapped indexes, size/age rolls, retention, idempotent and
//! transactional producer state (last stable offset, aborted-transaction index) and crash recovery. No knowledge of requests: the broker uses [`LogManager`] and
//! [`Partition`].
//!
//! Module map: `durable_file` (small files replaced whole), `offset` (offset/position types), `config`, `error`; on-disk pieces `mmap` (the
//! only `unsafe`), `index_file`, `offset_index`, `time_index`, `txn_index` (aborted transactions), `scan`, `segment`, `checkpoint`,
//! `producer_state`, `leader_epochs` (each leader epoch's first offset), `log_dir` (the directory's health: offline after an I/O error);
//! `record_buf` (reused copies of record sets); `partition` (append, read,
//! maintain, open/recovery); `manager`; `io` (the writer, owned separately).

mod checkpoint;
mod config;
pub mod durable_file;
mod error;
mod index_file;
pub mod io;
mod leader_epochs;
mod log_dir;
mod manager;
mod mmap;
mod offset;
mod offset_index;
mod partition;
mod producer_state;
mod record_buf;
mod scan;
mod segment;
#[cfg(test)]
mod test_batches;
mod time_index;
mod txn_index;

pub use config::{
    LogConfig, LogOptions, MESSAGE_BYTES_MAX, PRODUCERS_MAX, RECORD_SET_BYTES_MAX, SEGMENT_BYTES_MAX,
    SEGMENT_INDEX_BYTES_MAX, TimestampType,
};
pub use error::{AppendError, LogError, ReadError, TryAppendError};
pub use io::IoKind;
pub use leader_epochs::{UNDEFINED_EPOCH, UNDEFINED_OFFSET};
pub use manager::{LogManager, TOPIC_NAME_BYTES_MAX};
pub use partition::{
    ActiveProducer, AppendInfo, AppendOrigin, FileRange, Isolation, Partition, PendingAppend, Progress, ReadResult,
};
