//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT on topic settings,
//! checked the way Kafka's broker and controller check them, then persisted with the topic and
//! applied to its partition logs; SET and DELETE on a group's settings (`crate::group_settings`),
//! persisted in the metadata log; `validate_only` checks without changing anything.
//! Strata's broker settings are static (read from the file and command line at start-up), so a
//! change to one is answered as Kafka answers a change to a non-dynamic broker config:
//! INVALID_REQUEST "Cannot update these configs dynamically". The resource checks it shares with
//! the legacy AlterConfigs are in [`crate::config_changes`].

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use crate::api::ApiSpec;
use crate::config_changes::{
    Refusal, alter_each, alter_group, alter_topic, check_broker_id, check_keys_unique, check_no_nulls,
    refuse_static_broker_keys,
};
use crate::config_defs::{broker_setting, topic_setting};
use crate::config_resources::{RESOURCE_BROKER, RESOURCE_GROUP, RESOURCE_TOPIC};
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of IncrementalAlterConfigs, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::IncrementalAlterConfigs, 0, 1);

/// One IncrementalAlterConfigs operation (Kafka's `AlterConfigOp.OpType` ids 0-3).
#[derive(Debug, Clone)]
enum Op {
    Set(String),
    Delete,
    Append(String),
    Subtract(String),
}

impl Op {
    fn parse(operation: i8, value: Option<&StrBytes>) -> Result<Op, Refusal> {
        let value = || value.map(|v| v.to_string()).unwrap_or_default();
        match operation {
            0 => Ok(Op::Set(value())),
            1 => Ok(Op::Delete),
            2 => Ok(Op::Append(value())),
            3 => Ok(Op::Subtract(value())),
            other => Err(Refusal::invalid_request(format!("Unknown operations type {other}"))),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Op::Set(_) => "SET",
            Op::Delete => "DELETE",
            Op::Append(_) => "APPEND",
            Op::Subtract(_) => "SUBTRACT",
        }
    }
}

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: IncrementalAlterConfigsRequest) -> Outcome {
    let validate_only = req.validate_only;
    let responses =
        alter_each(req.resources, |r| (r.resource_type, r.resource_name.clone()), |r| alter(broker, r, validate_only))
            .into_iter()
            .map(|(kind, name, code, message)| {
                AlterConfigsResourceResponse::default()
                    .with_resource_type(kind)
                    .with_resource_name(name)
                    .with_error_code(code)
                    .with_error_message(message)
            })
            .collect();
    ctx.respond(ResponseKind::IncrementalAlterConfigs(
        IncrementalAlterConfigsResponse::default().with_responses(responses),
    ))
}

fn alter(broker: &Broker, resource: &AlterConfigsResource, validate_only: bool) -> Result<(), Refusal> {
    check_keys_unique(resource.configs.iter().map(|c| c.name.as_str()))?;
    let null_values: Vec<&str> = resource
        .configs
        .iter()
        .filter(|c| c.config_operation != 1 && c.value.is_none())
        .map(|c| c.name.as_str())
        .collect();
    check_no_nulls(&null_values)?;
    let name = resource.resource_name.as_str();
    match resource.resource_type {
        RESOURCE_TOPIC => {
            let ops = parse_ops(resource)?;
            alter_topic(broker, name, validate_only, |current| apply_ops(current, &ops))
        }
        RESOURCE_GROUP => {
            let ops = parse_ops(resource)?;
            alter_group(broker, name, validate_only, |current| apply_ops(current, &ops))
        }
        RESOURCE_BROKER => {
            if !name.is_empty() {
                check_broker_id(broker, name)?;
            }
            let ops = parse_ops(resource)?;
            for (key, op) in &ops {
                if matches!(op, Op::Append(_) | Op::Subtract(_)) {
                    let setting = broker_setting(key)
                        .ok_or_else(|| Refusal::invalid_config(format!("Unknown config name: {key}")))?;
                    if !setting.kind.is_list() {
                        let verb = if matches!(op, Op::Append(_)) { "append" } else { "subtract" };
                        return Err(Refusal::invalid_config(format!(
                            "Config value {verb} is not allowed for config key: {key}"
                        )));
                    }
                }
            }
            // DELETE of a setting that was never set dynamically changes nothing, as in Kafka.
            refuse_static_broker_keys(
                ops.iter().filter(|(_, op)| !matches!(op, Op::Delete)).map(|(key, _)| key.as_str()),
            )
        }
        other => Err(Refusal::invalid_request(format!("Unknown resource type {other}"))),
    }
}

fn parse_ops(resource: &AlterConfigsResource) -> Result<Vec<(String, Op)>, Refusal> {
    resource
        .configs
        .iter()
        .map(|c| Ok((c.name.to_string(), Op::parse(c.config_operation, c.value.as_ref())?)))
        .collect()
}

/// The overrides after `ops`, applied in order to `current`. APPEND and SUBTRACT work on LIST
/// settings only, starting from the setting's default when the topic has no override.
fn apply_ops(current: &BTreeMap<String, String>, ops: &[(String, Op)]) -> Result<BTreeMap<String, String>, Refusal> {
    let mut next = current.clone();
    for (key, op) in ops {
        match op {
            Op::Set(value) => {
                next.insert(key.clone(), value.clone());
            }
            Op::Delete => {
                next.remove(key);
            }
            Op::Append(value) | Op::Subtract(value) => {
                let setting = topic_setting(key).filter(|s| s.kind.is_list()).ok_or_else(|| {
                    Refusal::invalid_config(format!("Can't {} to key {key} because its type is not LIST.", op.name()))
                })?;
                let base = next.get(key).map_or(setting.default, String::as_str);
                let mut items: Vec<String> =
                    base.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
                for item in value.split(',').map(str::trim) {
                    if matches!(op, Op::Append(_)) {
                        if !items.iter().any(|i| i == item) {
                            items.push(item.to_string());
                        }
                    } else {
                        items.retain(|i| i != item);
                    }
                }
                next.insert(key.clone(), items.join(","));
            }
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn append_and_subtract_work_on_lists_from_the_default() {
        let ops = vec![("cleanup.policy".to_string(), Op::Append("compact".into()))];
        assert_eq!(
            apply_ops(&BTreeMap::new(), &ops).expect("list").get("cleanup.policy").map(String::as_str),
            Some("delete,compact")
        );
        let ops = vec![("cleanup.policy".to_string(), Op::Subtract("delete".into()))];
        let current = map(&[("cleanup.policy", "delete,compact")]);
        assert_eq!(apply_ops(&current, &ops).expect("list").get("cleanup.policy").map(String::as_str), Some("compact"));
        let ops = vec![("cleanup.policy".to_string(), Op::Append("delete".into()))];
        assert_eq!(
            apply_ops(&BTreeMap::new(), &ops).expect("list").get("cleanup.policy").map(String::as_str),
            Some("delete")
        );
    }

    #[test]
    fn append_to_a_non_list_is_invalid_config() {
        let ops = vec![("retention.ms".to_string(), Op::Append("5".into()))];
        let refusal = apply_ops(&BTreeMap::new(), &ops).expect_err("not a list");
        assert_eq!(refusal.code, 40);
        assert!(refusal.message.contains("APPEND"), "{}", refusal.message);
    }

    #[test]
    fn set_then_delete_in_order() {
        let ops = vec![("retention.ms".to_string(), Op::Set("1000".into())), ("segment.ms".to_string(), Op::Delete)];
        let next = apply_ops(&map(&[("segment.ms", "5")]), &ops).expect("ok");
        assert_eq!(next, map(&[("retention.ms", "1000")]));
    }
}
