//! The group settings Strata understands (Kafka's group configs, changed with
//! IncrementalAlterConfigs on a GROUP resource and shown by DescribeConfigs): those of share
//! groups (KIP-932), Kafka's names where Kafka has one. Each one's default is a broker setting's
//! value, which a group's own value overrides. Kept in the metadata log beside topic overrides.

use std::collections::BTreeMap;

use crate::config::BrokerConfig;
use crate::config_defs::ValueKind;

/// One group setting.
#[derive(Debug)]
pub struct GroupSetting {
    pub name: &'static str,
    pub kind: ValueKind,
    /// The broker setting whose value is the default, if any.
    pub broker_setting: Option<&'static str>,
    /// The default when no broker setting provides one.
    pub default: &'static str,
    pub doc: &'static str,
}

pub const GROUP_SETTINGS: &[GroupSetting] = &[
    GroupSetting {
        name: "share.auto.offset.reset",
        kind: ValueKind::Choice(&["earliest", "latest"]),
        broker_setting: None,
        default: "latest",
        doc: "Where a share group starts reading a partition it has no state for: earliest (the log start) or latest (the log end). Kafka's by_duration is not served.",
    },
    GroupSetting {
        name: "share.isolation.level",
        kind: ValueKind::Choice(&["read_uncommitted", "read_committed"]),
        broker_setting: None,
        default: "read_uncommitted",
        doc: "read_committed: a share group gets records only below the last stable offset, and never a transaction marker or a record of an aborted transaction (archived unread).",
    },
    GroupSetting {
        name: "share.record.lock.duration.ms",
        kind: ValueKind::IntRange { min: 15_000, max: 60_000 },
        broker_setting: Some("group.share.record.lock.duration.ms"),
        default: "30000",
        doc: "How long a share consumer holds the records a ShareFetch acquired for it (Kafka's bounds, 15000 to 60000).",
    },
    GroupSetting {
        name: "share.session.timeout.ms",
        kind: ValueKind::IntRange { min: 45_000, max: 60_000 },
        broker_setting: Some("group.share.session.timeout.ms"),
        default: "45000",
        doc: "How long a share group member may go without a heartbeat before it leaves the group and what it held is delivered again (Kafka's bounds, 45000 to 60000).",
    },
    GroupSetting {
        name: "share.heartbeat.interval.ms",
        kind: ValueKind::IntRange { min: 5_000, max: 15_000 },
        broker_setting: Some("group.share.heartbeat.interval.ms"),
        default: "5000",
        doc: "How often a share group member is told to heartbeat (Kafka's bounds, 5000 to 15000).",
    },
    GroupSetting {
        name: "share.delivery.count.limit",
        kind: ValueKind::IntRange { min: 2, max: 10 },
        broker_setting: Some("group.share.delivery.count.limit"),
        default: "5",
        doc: "How many times a record is delivered before a release or an expired lock archives it.",
    },
    GroupSetting {
        name: "errors.deadletterqueue.topic.name",
        kind: ValueKind::Text,
        broker_setting: None,
        default: "",
        doc: "Beyond Kafka (KIP-1191's proposal): the share group's dead-letter topic, whose name starts with dlq. (empty: none). A record rejected, or released or expired after its last delivery, is written there with headers naming where it came from, then archived.",
    },
    GroupSetting {
        name: "strata.share.retry.backoff.ms",
        kind: ValueKind::Int { min: 0 },
        broker_setting: Some("strata.share.retry.backoff.ms"),
        default: "0",
        doc: "Beyond Kafka: how long a released or expired record waits before it is delivered again, after its first delivery.",
    },
    GroupSetting {
        name: "strata.share.retry.backoff.multiplier",
        kind: ValueKind::Int { min: 1 },
        broker_setting: Some("strata.share.retry.backoff.multiplier"),
        default: "2",
        doc: "Beyond Kafka: the retry backoff is multiplied by this after each further delivery.",
    },
    GroupSetting {
        name: "strata.share.retry.backoff.max.ms",
        kind: ValueKind::Int { min: 0 },
        broker_setting: Some("strata.share.retry.backoff.max.ms"),
        default: "60000",
        doc: "Beyond Kafka: the longest retry backoff.",
    },
];

/// What a dead-letter topic's name starts with (KIP-1191's `errors.deadletterqueue.topic.name.prefix`
/// default), so that a group cannot make the broker write onto any topic.
pub const DEAD_LETTER_PREFIX: &str = "dlq.";

pub fn group_setting(name: &str) -> Option<&'static GroupSetting> {
    GROUP_SETTINGS.iter().find(|s| s.name == name)
}

/// Checks a group's settings as Kafka's `GroupConfig.validate` does: every name known, every
/// value of its kind. The reason is Kafka's INVALID_CONFIG message.
pub fn validate(settings: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in settings {
        let setting = group_setting(name).ok_or_else(|| format!("Unknown group config name: {name}"))?;
        setting
            .kind
            .check(value)
            .map_err(|reason| format!("Invalid value {value} for configuration {name}: {reason}"))?;
        if name == crate::shares::group_config::DEAD_LETTER_SETTING
            && !value.is_empty()
            && !value.starts_with(DEAD_LETTER_PREFIX)
        {
            return Err(format!(
                "Invalid value {value} for configuration {name}: a dead-letter topic's name starts with {DEAD_LETTER_PREFIX}"
            ));
        }
    }
    Ok(())
}

/// Setting `name` of a group with `overrides`: its own value, else the broker's, else the default.
pub fn value<'a>(config: &'a BrokerConfig, overrides: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    let setting = group_setting(name)?;
    if let Some(value) = overrides.get(name) {
        return Some(value);
    }
    match setting.broker_setting.and_then(|b| config.value(b)) {
        Some((value, _)) => Some(value),
        None => Some(setting.default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_their_checks_and_name_real_broker_settings() {
        for s in GROUP_SETTINGS {
            assert_eq!(s.kind.check(s.default), Ok(()), "{}", s.name);
            if let Some(broker) = s.broker_setting {
                let setting = crate::config_defs::broker_setting(broker).expect(broker);
                assert_eq!(setting.default, s.default, "{}", s.name);
            }
        }
        let bad = BTreeMap::from([("share.record.lock.duration.ms".to_string(), "1000".to_string())]);
        assert!(validate(&bad).expect_err("below Kafka's bound").contains("at least 15000"));
        let unknown = BTreeMap::from([("share.bogus".to_string(), "1".to_string())]);
        assert_eq!(validate(&unknown), Err("Unknown group config name: share.bogus".to_string()));
    }
}
