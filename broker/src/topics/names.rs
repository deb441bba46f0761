//! Topic names as Kafka checks them, and which names belong to Kafka's internal topics.

use super::TopicError;

/// Longest topic name Kafka accepts.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;

/// Kafka's internal topics (`Topic.isInternal`): made by the broker component that owns them.
pub const INTERNAL_TOPIC_NAMES: &[&str] = &["__consumer_offsets", "__transaction_state", "__share_group_state"];

pub fn is_internal_name(name: &str) -> bool {
    INTERNAL_TOPIC_NAMES.contains(&name)
}

/// Checks a topic name the way Kafka does.
pub fn validate_name(name: &str) -> Result<(), TopicError> {
    let invalid = |reason| Err(TopicError::InvalidName { name: name.to_string(), reason });
    if name.is_empty() {
        return invalid("empty");
    }
    if name == "." || name == ".." {
        return invalid("'.' and '..' are not allowed");
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return invalid("longer than 249 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return invalid("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_name("orders.v1_2-x").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("..").is_err());
        assert!(validate_name("has space").is_err());
        assert!(validate_name(&"a".repeat(250)).is_err());
        assert!(validate_name(&"a".repeat(249)).is_ok());
    }
}
