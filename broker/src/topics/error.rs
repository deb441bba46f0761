//! Why a topic change or lookup failed (`crate::errors` maps each reason to its Kafka error code).

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("topic '{0}' already exists")]
    AlreadyExists(String),
    #[error("topic '{0}' does not exist")]
    Unknown(String),
    #[error("invalid topic name '{name}': {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("Topic '{name}' collides with existing topic: {existing}")]
    Collides { name: String, existing: String },
    #[error("invalid partition count {count}: {reason}")]
    InvalidPartitions { count: i32, reason: String },
    #[error(transparent)]
    Placement(#[from] strata_cluster::PlacementError),
    #[error("Invalid value {value} for configuration {key}: {reason}")]
    InvalidConfig { key: String, value: String, reason: String },
    #[error("Unknown topic config name: {0}")]
    UnknownConfig(String),
    #[error("topic deletion is disabled (delete.topic.enable=false)")]
    DeletionDisabled,
    #[error("storage error: {0}")]
    Storage(String),
    /// The metadata quorum did not commit the change (no leader within the wait, or stopped).
    #[error("the metadata quorum did not commit the change: {0}")]
    Quorum(String),
}
