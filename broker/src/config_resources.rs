//! Kafka's `ConfigResource.Type` ids, named by DescribeConfigs, AlterConfigs and
//! IncrementalAlterConfigs requests.

/// A topic's settings.
pub const RESOURCE_TOPIC: i8 = 2;
/// A broker's settings.
pub const RESOURCE_BROKER: i8 = 4;
/// A broker's log levels.
pub const RESOURCE_BROKER_LOGGER: i8 = 8;
/// A client metrics subscription.
pub const RESOURCE_CLIENT_METRICS: i8 = 16;
/// A group's settings.
pub const RESOURCE_GROUP: i8 = 32;
