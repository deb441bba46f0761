//! What AlterConfigs and IncrementalAlterConfigs share: a resource's [`Refusal`], answering each
//! resource of a request once ([`alter_each`]), changing a topic's overrides ([`alter_topic`]),
//! and the checks Kafka makes on every resource (unique keys, no null values, this node's id,
//! static broker settings).

use std::collections::{BTreeMap, HashMap, HashSet};

use kafka_protocol::ResponseError;
use kafka_protocol::protocol::StrBytes;

use crate::config_defs::broker_setting;
use crate::errors::ErrorCode;
use crate::state::Broker;
use crate::topics::{TopicError, validate_name, validate_overrides};

/// Why a resource's change is refused: a Kafka error code and the message Kafka would give.
#[derive(Debug)]
pub struct Refusal {
    pub code: i16,
    pub message: String,
}

impl Refusal {
    pub fn invalid_request(message: impl Into<String>) -> Refusal {
        Refusal { code: ResponseError::InvalidRequest.code(), message: message.into() }
    }

    pub fn invalid_config(message: impl Into<String>) -> Refusal {
        Refusal { code: ResponseError::InvalidConfig.code(), message: message.into() }
    }
}

impl From<TopicError> for Refusal {
    fn from(error: TopicError) -> Refusal {
        Refusal { code: error.code(), message: error.to_string() }
    }
}

/// Runs `alter` (off the async workers: it may write and fsync) on every resource named once;
/// every occurrence of a resource named more than once is refused, as Kafka refuses them.
/// Answers each resource, in request order, as (type, name, error code, error message).
pub fn alter_each<R>(
    resources: Vec<R>,
    id: impl Fn(&R) -> (i8, StrBytes),
    alter: impl Fn(&R) -> Result<(), Refusal>,
) -> Vec<(i8, StrBytes, i16, Option<StrBytes>)> {
    let mut counts: HashMap<(i8, StrBytes), usize> = HashMap::new();
    for resource in &resources {
        *counts.entry(id(resource)).or_default() += 1;
    }
    resources
        .iter()
        .map(|resource| {
            let (kind, name) = id(resource);
            let outcome = if counts.get(&(kind, name.clone())).copied().unwrap_or(0) > 1 {
                Err(Refusal::invalid_request("Each resource must appear at most once."))
            } else {
                tokio::task::block_in_place(|| alter(resource))
            };
            match outcome {
                Ok(()) => (kind, name, 0, None),
                Err(refusal) => (kind, name, refusal.code, Some(StrBytes::from_string(refusal.message))),
            }
        })
        .collect()
}

/// Checks and (unless `validate_only`) applies a change to a topic's overrides. `change` maps the
/// current overrides to the new ones; it runs once on a snapshot to validate (before the topic's
/// existence is checked, as Kafka's controller does) and again under the registry's change lock.
pub fn alter_topic(
    broker: &Broker,
    name: &str,
    validate_only: bool,
    change: impl Fn(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, Refusal>,
) -> Result<(), Refusal> {
    if name.is_empty() {
        return Err(Refusal::invalid_request("Default topic resources are not allowed."));
    }
    validate_name(name)?;
    let topic = broker.topics.get(name);
    let current = topic.as_ref().map(|t| t.overrides.clone()).unwrap_or_default();
    validate_overrides(&change(&current)?)?;
    if topic.is_none() {
        return Err(Refusal {
            code: ResponseError::UnknownTopicOrPartition.code(),
            message: format!("Topic '{name}' does not exist."),
        });
    }
    if validate_only {
        return Ok(());
    }
    let updated = broker.topics.update_overrides(&broker.log, &broker.config, name, change)?;
    tracing::info!(topic = name, overrides = ?updated.overrides, "altered topic configs");
    Ok(())
}

/// Checks and (unless `validate_only`) applies a change to a group's settings (group configs).
/// The group need not exist: its settings wait for it, as in Kafka (an operator sets
/// `share.auto.offset.reset` before the first consumer joins).
pub fn alter_group(
    broker: &Broker,
    name: &str,
    validate_only: bool,
    change: impl Fn(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, Refusal>,
) -> Result<(), Refusal> {
    if name.is_empty() {
        return Err(Refusal::invalid_request("Group name must not be empty."));
    }
    let checked = |current: &BTreeMap<String, String>| -> Result<BTreeMap<String, String>, Refusal> {
        let next = change(current)?;
        crate::group_settings::validate(&next).map_err(Refusal::invalid_config)?;
        Ok(next)
    };
    checked(&broker.topics.group_configs(name))?;
    if validate_only {
        return Ok(());
    }
    broker.topics.update_group_configs(&broker.log, &broker.config, name, checked)?;
    tracing::info!(group = name, configs = ?broker.topics.group_configs(name), "altered group configs");
    Ok(())
}

/// Broker settings are static: a change to a known one is refused as Kafka refuses a change to
/// a non-dynamic broker config; an unknown one is not a setting at all.
pub fn refuse_static_broker_keys<'a>(keys: impl Iterator<Item = &'a str>) -> Result<(), Refusal> {
    let keys: Vec<&str> = keys.collect();
    if let Some(unknown) = keys.iter().find(|k| broker_setting(k).is_none()) {
        return Err(Refusal::invalid_config(format!("Unknown config name: {unknown}")));
    }
    if keys.is_empty() {
        return Ok(());
    }
    Err(Refusal::invalid_request(format!("Cannot update these configs dynamically: Set({})", keys.join(", "))))
}

/// A broker resource must name this node (or be "" for the cluster default).
pub fn check_broker_id(broker: &Broker, name: &str) -> Result<(), Refusal> {
    let id: i32 =
        name.parse().map_err(|_| Refusal::invalid_request(format!("Node id must be an integer, but it is: {name}")))?;
    if id != broker.node_id() {
        return Err(Refusal::invalid_request(format!(
            "Unexpected broker id, expected {}, but received {name}",
            broker.node_id()
        )));
    }
    Ok(())
}

pub fn check_keys_unique<'a>(keys: impl Iterator<Item = &'a str>) -> Result<(), Refusal> {
    let mut seen = HashSet::new();
    if keys.into_iter().all(|k| seen.insert(k)) {
        Ok(())
    } else {
        Err(Refusal::invalid_request("Error due to duplicate config keys"))
    }
}

pub fn check_no_nulls(null_values: &[&str]) -> Result<(), Refusal> {
    if null_values.is_empty() {
        Ok(())
    } else {
        Err(Refusal::invalid_request(format!("Null value not supported for : {}", null_values.join(", "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_broker_keys_are_refused_and_unknown_ones_are_invalid() {
        assert!(refuse_static_broker_keys(std::iter::empty()).is_ok());
        assert_eq!(refuse_static_broker_keys(["num.partitions"].into_iter()).map_err(|r| r.code).err(), Some(42));
        assert_eq!(refuse_static_broker_keys(["no.such"].into_iter()).map_err(|r| r.code).err(), Some(40));
    }
}
