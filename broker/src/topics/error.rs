//! Why a topic change or lookup failed, and the Kafka error code each reason answers with.

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
    #[error("replication factor {0} is not possible on a single broker")]
    InvalidReplicationFactor(i32),
    #[error("Invalid value {value} for configuration {key}: {reason}")]
    InvalidConfig { key: String, value: String, reason: String },
    #[error("Unknown topic config name: {0}")]
    UnknownConfig(String),
    #[error("topic deletion is disabled (delete.topic.enable=false)")]
    DeletionDisabled,
    #[error("storage error: {0}")]
    Storage(String),
}

impl TopicError {
    /// The Kafka error code a real broker answers with.
    pub fn code(&self) -> i16 {
        use kafka_protocol::ResponseError as E;
        match self {
            TopicError::AlreadyExists(_) => E::TopicAlreadyExists.code(),
            TopicError::Unknown(_) => E::UnknownTopicOrPartition.code(),
            TopicError::InvalidName { .. } | TopicError::Collides { .. } => E::InvalidTopicException.code(),
            TopicError::InvalidPartitions { .. } => E::InvalidPartitions.code(),
            TopicError::InvalidReplicationFactor(_) => E::InvalidReplicationFactor.code(),
            TopicError::InvalidConfig { .. } | TopicError::UnknownConfig(_) => E::InvalidConfig.code(),
            TopicError::DeletionDisabled => E::TopicDeletionDisabled.code(),
            TopicError::Storage(_) => E::KafkaStorageError.code(),
        }
    }
}
