//! Topic settings: overrides checked against the settings table, the value a topic sees for each
//! setting (override, else broker default, else the setting's own default) and the log settings
//! that follow from them.

use std::collections::BTreeMap;

use strata_log::{LogConfig, TimestampType};

use super::TopicError;
use crate::config::BrokerConfig;
use crate::config_defs::{broker_default_for_topic, topic_setting};

/// Checks topic setting overrides against the settings table.
pub fn validate_overrides(overrides: &BTreeMap<String, String>) -> Result<(), TopicError> {
    for (key, value) in overrides {
        let setting = topic_setting(key).ok_or_else(|| TopicError::UnknownConfig(key.clone()))?;
        setting.kind.check_named(key, value).map_err(|(value, reason)| TopicError::InvalidConfig {
            key: key.clone(),
            value,
            reason,
        })?;
    }
    Ok(())
}

/// The value of topic setting `name` for a topic with `overrides`: the override, else the broker
/// setting that provides its default, else the topic setting's own default. `None` if unknown.
pub fn topic_value<'a>(
    config: &'a BrokerConfig,
    overrides: &'a BTreeMap<String, String>,
    name: &str,
) -> Option<(&'a str, TopicValueSource)> {
    if let Some(v) = overrides.get(name) {
        return Some((v.as_str(), TopicValueSource::Topic));
    }
    if let Some(broker) = broker_default_for_topic(name)
        && let Some((v, source)) = config.value(broker.name)
    {
        let source = match source {
            crate::config::Source::Static => TopicValueSource::StaticBroker,
            crate::config::Source::Default => TopicValueSource::Default,
        };
        return Some((v, source));
    }
    topic_setting(name).map(|s| (s.default, TopicValueSource::Default))
}

/// Where a topic setting's value comes from (DescribeConfigs sources 1, 4 and 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicValueSource {
    Topic,
    StaticBroker,
    Default,
}

impl TopicValueSource {
    /// Kafka's `config_source` code: DYNAMIC_TOPIC_CONFIG=1, STATIC_BROKER_CONFIG=4, DEFAULT_CONFIG=5.
    pub fn config_source(self) -> i8 {
        match self {
            TopicValueSource::Topic => 1,
            TopicValueSource::StaticBroker => 4,
            TopicValueSource::Default => 5,
        }
    }
}

/// The log settings of a topic with `overrides`.
pub fn log_config(config: &BrokerConfig, overrides: &BTreeMap<String, String>) -> LogConfig {
    let text = |name: &str| topic_value(config, overrides, name).map(|(v, _)| v.trim().to_string()).unwrap_or_default();
    let long = |name: &str| text(name).parse::<i64>().unwrap_or(i64::MAX);
    let unsigned = |name: &str| u64::try_from(long(name)).unwrap_or(u64::MAX);
    let int = |name: &str| u32::try_from(long(name)).unwrap_or(u32::MAX);
    // As in Kafka, retention deletes only where the policy says `delete`: a compacted topic (and
    // one with an empty policy) keeps every segment; compaction itself is not built yet.
    let deletes = text("cleanup.policy").split(',').any(|p| p.trim() == "delete");
    let retention = |name: &str| if deletes { long(name) } else { -1 };
    LogConfig {
        segment_bytes: match overrides.get("internal.segment.bytes") {
            Some(bytes) => u32::try_from(bytes.trim().parse::<i64>().unwrap_or(i64::MAX)).unwrap_or(u32::MAX),
            None => int("segment.bytes"),
        },
        segment_ms: long("segment.ms"),
        retention_ms: retention("retention.ms"),
        retention_bytes: retention("retention.bytes"),
        index_interval_bytes: int("index.interval.bytes"),
        segment_index_bytes: int("segment.index.bytes"),
        flush_messages: unsigned("flush.messages"),
        flush_ms: unsigned("flush.ms"),
        timestamp_type: if text("message.timestamp.type") == "LogAppendTime" {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        },
        max_message_bytes: int("max.message.bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::ErrorCode;

    #[test]
    fn retention_applies_only_where_the_policy_says_delete() {
        let config = BrokerConfig::defaults(std::path::Path::new("/nonexistent"));
        let with = |policy: &str| {
            let overrides = BTreeMap::from([
                ("cleanup.policy".to_string(), policy.to_string()),
                ("retention.ms".to_string(), "1000".to_string()),
                ("retention.bytes".to_string(), "2000".to_string()),
            ]);
            let log = log_config(&config, &overrides);
            (log.retention_ms, log.retention_bytes)
        };
        assert_eq!(with("delete"), (1000, 2000));
        assert_eq!(with("compact,delete"), (1000, 2000));
        assert_eq!(with("compact"), (-1, -1));
        assert_eq!(with(""), (-1, -1));
    }

    #[test]
    fn overrides_are_checked_against_the_table() {
        let ok = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        assert!(validate_overrides(&ok).is_ok());
        let unknown = BTreeMap::from([("retention.forever".to_string(), "1".to_string())]);
        assert_eq!(validate_overrides(&unknown).map_err(|e| e.code()), Err(40));
        let bad = BTreeMap::from([("segment.bytes".to_string(), "big".to_string())]);
        assert_eq!(validate_overrides(&bad).map_err(|e| e.code()), Err(40));
    }

    #[test]
    fn topic_values_prefer_override_then_broker_then_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = BrokerConfig::defaults(dir.path());
        let overrides = BTreeMap::from([("segment.bytes".to_string(), "1048576".to_string())]);
        assert_eq!(topic_value(&config, &overrides, "segment.bytes"), Some(("1048576", TopicValueSource::Topic)));
        assert_eq!(topic_value(&config, &overrides, "retention.ms"), Some(("604800000", TopicValueSource::Default)));
        let log = log_config(&config, &overrides);
        assert_eq!(log.segment_bytes, 1_048_576);
        assert_eq!(log.flush_messages, u64::try_from(i64::MAX).expect("fits"));
    }
}
