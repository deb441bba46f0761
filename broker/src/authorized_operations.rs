//! The authorized-operations bit fields Kafka reports without an authorizer (every operation
//! allowed), for Metadata, DescribeCluster, DescribeGroups and ShareGroupDescribe.

/// The cluster operations a client may perform, as the bit field Kafka reports without an
/// authorizer: CREATE(5), ALTER(7), DESCRIBE(8), CLUSTER_ACTION(9), DESCRIBE_CONFIGS(10),
/// ALTER_CONFIGS(11), IDEMPOTENT_WRITE(12).
pub const CLUSTER_AUTHORIZED_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

/// The schema default of `cluster_authorized_operations`: not requested.
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// The topic operations bit field Kafka reports without an authorizer: READ(3), WRITE(4),
/// CREATE(5), DELETE(6), ALTER(7), DESCRIBE(8), DESCRIBE_CONFIGS(10), ALTER_CONFIGS(11).
pub const TOPIC_AUTHORIZED_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

/// Group operations without an authorizer: READ(3), DELETE(6), DESCRIBE(8).
pub const GROUP_AUTHORIZED_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);
