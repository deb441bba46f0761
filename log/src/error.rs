//! The crate's error types: [`LogError`] for storage and lifecycle failures, [`AppendError`] and
//! [`ReadError`] for what `append` and `read` refuse ([`TryAppendError`] adds "would block"). The
//! broker maps them to Kafka error codes in one place (see the variant docs for the intended code).

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use strata_wire::batch::BatchError;

use crate::io::IoError;

/// A storage or lifecycle failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    /// A file operation failed (`KAFKA_STORAGE_ERROR`).
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: Arc<std::io::Error> },
    /// A queued write or fsync failed; the partition refuses further appends until reopened
    /// (`KAFKA_STORAGE_ERROR`).
    #[error("a write to the partition's log failed: {source}")]
    WriteFailed { source: Arc<std::io::Error> },
    /// The log directory went offline for writes after a failed fsync or write; reads go on, writes
    /// need a restart (`KAFKA_STORAGE_ERROR`, as Kafka answers for an offline log directory).
    #[error("the log directory {dir} is offline: {source}")]
    StorageOffline { dir: PathBuf, source: Arc<std::io::Error> },
    /// A write found the disk full; the append failed and nothing of it stays. Appends resume when
    /// space comes back (`KAFKA_STORAGE_ERROR`).
    #[error("the disk is full: {source}")]
    DiskFull { source: Arc<std::io::Error> },
    /// The writer thread has stopped (`KAFKA_STORAGE_ERROR`).
    #[error("the log writer: {0}")]
    Writer(Arc<IoError>),
    /// The manager was shut down or the partition deleted (`NOT_LEADER_OR_FOLLOWER` / retriable).
    #[error("the log is closed")]
    Closed,
    /// A topic name that cannot be a directory name (`INVALID_TOPIC_EXCEPTION`).
    #[error("invalid topic name {0:?}")]
    InvalidTopic(String),
    /// An offset outside `[log_start, high_watermark]` (`OFFSET_OUT_OF_RANGE`).
    #[error("offset {offset} is outside [{log_start_offset}, {high_watermark}]")]
    OffsetOutOfRange { offset: i64, log_start_offset: i64, high_watermark: i64 },
    /// More segment files than `open_files_max` would be open.
    #[error("{open} segment files are open, the limit is {max}")]
    TooManyOpenFiles { open: usize, max: usize },
    /// A segment file says something impossible (offsets out of order, a batch that does not fit).
    #[error("corrupt log {path}: {reason}")]
    Corrupt { path: PathBuf, reason: &'static str },
}

impl LogError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> LogError {
        LogError::Io { op, path: path.into(), source: Arc::new(source) }
    }
}

impl From<IoError> for LogError {
    fn from(error: IoError) -> Self {
        LogError::Writer(Arc::new(error))
    }
}

/// Why `append` refused a record set. Nothing was written when this is returned.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    /// A batch failed validation (`CORRUPT_MESSAGE` for a bad CRC or batch length, `INVALID_RECORD`
    /// for the rest; see the broker's `batch_error`).
    #[error("corrupt record batch: {0}")]
    Corrupt(#[from] BatchError),
    /// One batch is larger than `max.message.bytes` (`MESSAGE_TOO_LARGE`).
    #[error("record batch of {bytes} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge { bytes: usize, max: usize },
    /// The whole record set is larger than the log takes in one append (`RECORD_LIST_TOO_LARGE`).
    #[error("record set of {bytes} bytes exceeds {max}")]
    RecordSetTooLarge { bytes: usize, max: usize },
    /// A storage failure (`KAFKA_STORAGE_ERROR`).
    #[error(transparent)]
    Storage(#[from] LogError),
    /// The batch was already appended: answer `NONE` with these original offsets, as Kafka does.
    #[error("duplicate batch of producer {producer_id}, already at offsets {base_offset}..={last_offset}")]
    DuplicateSequence { producer_id: i64, base_offset: i64, last_offset: i64 },
    /// A gap or reordering in an idempotent producer's sequence (`OUT_OF_ORDER_SEQUENCE_NUMBER`).
    #[error("producer {producer_id} sent sequence {got}, expected {expected}")]
    OutOfOrderSequence { producer_id: i64, expected: i32, got: i32 },
    /// An older producer epoch than the partition has seen (`INVALID_PRODUCER_EPOCH`).
    #[error("producer {producer_id} epoch {epoch} is older than {current}")]
    InvalidProducerEpoch { producer_id: i64, epoch: i16, current: i16 },
    /// A non-transactional batch from a producer whose transaction is open (`INVALID_TXN_STATE`).
    #[error("producer {producer_id} has a transaction open: its batches must be transactional")]
    InvalidTxnState { producer_id: i64 },
    /// An end-transaction marker from an older transaction coordinator than the last marker of
    /// this producer (`TRANSACTION_COORDINATOR_FENCED`).
    #[error("marker of producer {producer_id} has coordinator epoch {coordinator_epoch}, older than {current}")]
    CoordinatorFenced { producer_id: i64, coordinator_epoch: i32, current: i32 },
    /// A control batch that is not a well-formed end-transaction marker (`INVALID_RECORD`).
    #[error("malformed end-transaction marker: {0}")]
    InvalidMarker(#[from] strata_wire::control::ControlError),
    /// A replica's batches (see [`crate::AppendOrigin::Replication`]) do not continue its log:
    /// the next offset is `expected`, the batch starts at `found` (`OFFSET_OUT_OF_RANGE`).
    #[error("replicated batch starts at offset {found}, the log ends at {expected}")]
    ReplicaGap { expected: i64, found: i64 },
}

/// Why `try_append` did not append.
#[derive(Debug, thiserror::Error)]
pub enum TryAppendError {
    /// Appending now would block (full write queue, segment roll, clean-marker removal, or the
    /// partition busy); nothing changed. Carries the record set back, to retry with `append`.
    #[error("the append would block")]
    WouldBlock(Bytes),
    /// What `append` would have refused too.
    #[error(transparent)]
    Refused(#[from] AppendError),
}

impl From<LogError> for TryAppendError {
    fn from(error: LogError) -> Self {
        TryAppendError::Refused(AppendError::Storage(error))
    }
}

/// Why `read` or `offset_for_timestamp` failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// `OFFSET_OUT_OF_RANGE`.
    #[error("offset {offset} is outside [{log_start_offset}, {high_watermark}]")]
    OffsetOutOfRange { offset: i64, log_start_offset: i64, high_watermark: i64 },
    /// `KAFKA_STORAGE_ERROR`.
    #[error(transparent)]
    Storage(#[from] LogError),
}
