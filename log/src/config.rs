//! Per-partition configuration (Kafka topic-config names), manager options, and the hard limits.
//!
//! `LogConfig::default()` is Kafka's defaults. Values outside what the log can handle are clamped
//! by [`LogConfig::clamped`] (the broker validates topic configs and answers `INVALID_CONFIG`
//! before they get here; the clamp only keeps the log's invariants whatever it is given).

/// Largest `segment.bytes`: positions are `u32` and a segment may exceed `segment.bytes` by one
/// record set, so stay well below 4 GiB.
pub const SEGMENT_BYTES_MAX: u32 = i32::MAX as u32;
/// Smallest `segment.bytes` (Kafka's minimum is 14; a batch header is larger anyway).
pub const SEGMENT_BYTES_MIN: u32 = 14;
/// Largest `max.message.bytes` the log accepts for one batch.
pub const MESSAGE_BYTES_MAX: u32 = 64 * 1024 * 1024;
/// Largest record set one `append` takes (all of its batches go to one segment in one write).
pub const RECORD_SET_BYTES_MAX: usize = 128 * 1024 * 1024;
/// Largest `segment.index.bytes`.
pub const SEGMENT_INDEX_BYTES_MAX: u32 = 64 * 1024 * 1024;
/// Smallest `segment.index.bytes`: room for at least a few entries of either index.
pub const SEGMENT_INDEX_BYTES_MIN: u32 = 64;
/// Producer ids remembered per partition; beyond this the least recently written is forgotten.
pub const PRODUCERS_MAX: usize = 100_000;

/// `message.timestamp.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// One partition's log settings. Field comments give the Kafka topic-config name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// segment.bytes (1 GiB)
    pub segment_bytes: u32,
    /// segment.ms (7 days)
    pub segment_ms: i64,
    /// retention.ms (-1 = unlimited; default 7 days)
    pub retention_ms: i64,
    /// retention.bytes (-1 = unlimited)
    pub retention_bytes: i64,
    /// index.interval.bytes (4096)
    pub index_interval_bytes: u32,
    /// segment.index.bytes (10 MiB)
    pub segment_index_bytes: u32,
    /// flush.messages (u64::MAX = never; 1 = fsync before every acknowledgement)
    pub flush_messages: u64,
    /// flush.ms (u64::MAX = never)
    pub flush_ms: u64,
    /// message.timestamp.type
    pub timestamp_type: TimestampType,
    /// max.message.bytes (1048588): the largest record batch
    pub max_message_bytes: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            flush_messages: u64::MAX,
            flush_ms: u64::MAX,
            timestamp_type: TimestampType::CreateTime,
            max_message_bytes: 1_048_588,
        }
    }
}

impl LogConfig {
    /// The same config with every value inside what the log supports.
    pub fn clamped(mut self) -> LogConfig {
        self.segment_bytes = self.segment_bytes.clamp(SEGMENT_BYTES_MIN, SEGMENT_BYTES_MAX);
        self.segment_ms = self.segment_ms.max(1);
        self.segment_index_bytes = self.segment_index_bytes.clamp(SEGMENT_INDEX_BYTES_MIN, SEGMENT_INDEX_BYTES_MAX);
        self.flush_messages = self.flush_messages.max(1);
        self.max_message_bytes = self.max_message_bytes.min(MESSAGE_BYTES_MAX);
        self
    }
}

/// Options of a [`LogManager`](crate::LogManager), shared by all its partitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// Write jobs queued before `append` blocks (back-pressure).
    pub queue_depth_max: usize,
    /// Segment files the manager keeps open at once; opening or rolling beyond it fails.
    pub open_files_max: usize,
    /// Use the positioned-write fallback even where io_uring works.
    pub force_fallback_io: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions { queue_depth_max: 1024, open_files_max: 100_000, force_fallback_io: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_keeps_invariants() {
        let wild = LogConfig {
            segment_bytes: 0,
            segment_ms: -5,
            segment_index_bytes: u32::MAX,
            flush_messages: 0,
            max_message_bytes: u32::MAX,
            ..LogConfig::default()
        }
        .clamped();
        assert_eq!(wild.segment_bytes, SEGMENT_BYTES_MIN);
        assert_eq!(wild.segment_ms, 1);
        assert_eq!(wild.segment_index_bytes, SEGMENT_INDEX_BYTES_MAX);
        assert_eq!(wild.flush_messages, 1);
        assert_eq!(wild.max_message_bytes, MESSAGE_BYTES_MAX);
        assert_eq!(LogConfig::default().clamped(), LogConfig::default());
    }
}
