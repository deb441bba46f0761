//! Coordinator settings, named after (and defaulting to) Kafka's broker configs.

/// Limits and timings of the group coordinator. `Default` gives Kafka's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorConfig {
    /// `group.min.session.timeout.ms` (6000).
    pub session_timeout_ms_min: i32,
    /// `group.max.session.timeout.ms` (1800000).
    pub session_timeout_ms_max: i32,
    /// `group.initial.rebalance.delay.ms` (3000): how long the first rebalance of an empty group
    /// waits for more members, extended per new member up to the rebalance timeout.
    pub initial_rebalance_delay_ms: i32,
    /// `group.max.size` (unbounded in Kafka: `i32::MAX`).
    pub group_size_max: usize,
    /// `offsets.retention.minutes` (7 days), in milliseconds.
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms` (600000): how often `tick` looks for expired offsets.
    pub offsets_retention_check_interval_ms: i64,
    /// `offsets.topic.num.partitions` (50): partitions of `__consumer_offsets`.
    pub offsets_topic_partitions: i32,
    /// `offset.metadata.max.bytes` (4096): longest metadata string of a committed offset.
    pub offset_metadata_bytes_max: usize,
    /// How long a brand-new member may wait in JoinGroup before it is dropped (Kafka's
    /// `GroupCoordinator.NewMemberJoinTimeoutMs`, 300000).
    pub new_member_join_timeout_ms: i64,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            session_timeout_ms_min: 6_000,
            session_timeout_ms_max: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            group_size_max: i32::MAX as usize,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offsets_retention_check_interval_ms: 600_000,
            offsets_topic_partitions: 50,
            offset_metadata_bytes_max: 4096,
            new_member_join_timeout_ms: 300_000,
        }
    }
}
