//! A share group's settings as they apply now: its group configs (`crate::group_settings`) over
//! the broker's `group.share.*` settings.

use strata_shares::{RetryBackoff, ShareConfig};

use super::Shares;
use crate::state::Broker;

/// A share group's settings as they apply now (`Shares::group_config`).
#[derive(Debug, Clone)]
pub struct GroupShareConfig {
    pub config: ShareConfig,
    /// `share.auto.offset.reset=earliest`: a new share-partition starts at the log start.
    pub earliest: bool,
    /// Where records rejected or past the delivery limit go before they are archived.
    pub dead_letter_topic: Option<String>,
    /// `share.isolation.level=read_committed`: only committed records, below the last stable offset.
    pub read_committed: bool,
    /// A member not heard from for this long leaves the group.
    pub session_timeout_ms: i64,
    /// How often members are told to heartbeat.
    pub heartbeat_interval_ms: i32,
}

/// The group setting naming a group's dead-letter topic (KIP-1191's name).
pub const DEAD_LETTER_SETTING: &str = "errors.deadletterqueue.topic.name";

impl Shares {
    /// Group `group_id`'s share settings: its own group configs over the broker's settings.
    pub fn group_config(broker: &Broker, group_id: &str) -> GroupShareConfig {
        let overrides = broker.topics.group_configs(group_id);
        let defaults = broker.shares.config;
        let value = |name: &str| crate::group_settings::value(&broker.config, &overrides, name);
        let number =
            |name: &str, default: i64| value(name).and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(default);
        let dead_letter_topic = value(DEAD_LETTER_SETTING).filter(|t| !t.is_empty()).map(str::to_string);
        let config = ShareConfig {
            delivery_count_limit: i16::try_from(number(
                "share.delivery.count.limit",
                i64::from(defaults.delivery_count_limit),
            ))
            .unwrap_or(defaults.delivery_count_limit),
            lock_duration_ms: number("share.record.lock.duration.ms", defaults.lock_duration_ms),
            max_in_flight: defaults.max_in_flight,
            retry_backoff: RetryBackoff {
                initial_ms: number("strata.share.retry.backoff.ms", defaults.retry_backoff.initial_ms),
                multiplier: u32::try_from(number(
                    "strata.share.retry.backoff.multiplier",
                    i64::from(defaults.retry_backoff.multiplier),
                ))
                .unwrap_or(defaults.retry_backoff.multiplier),
                max_ms: number("strata.share.retry.backoff.max.ms", defaults.retry_backoff.max_ms),
            },
            dead_letter: dead_letter_topic.is_some(),
        };
        let settings = &broker.config.settings;
        GroupShareConfig {
            config,
            earliest: value("share.auto.offset.reset") == Some("earliest"),
            dead_letter_topic,
            read_committed: value("share.isolation.level") == Some("read_committed"),
            session_timeout_ms: number("share.session.timeout.ms", settings.group_share_session_timeout_ms),
            heartbeat_interval_ms: i32::try_from(number(
                "share.heartbeat.interval.ms",
                settings.group_share_heartbeat_interval_ms,
            ))
            .unwrap_or(i32::MAX),
        }
    }
}
