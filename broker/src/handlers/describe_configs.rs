//! DescribeConfigs: topic settings (resource type 2) and broker settings (type 4)
//! with their real values and where each comes from, as Kafka's `ConfigHelper` reports them:
//! DYNAMIC_TOPIC_CONFIG (1) for a topic override, STATIC_BROKER_CONFIG (4) for a value from
//! `server.properties` or `--override`, DEFAULT_CONFIG (5) otherwise; synonyms in precedence
//! order when asked, documentation (v3+) when asked, `config_type` (v3+), `read_only` (broker
//! settings are static in Strata, so all of them are read-only), and the requested-keys filter.
//! The broker resource named "" is the cluster-wide dynamic default, which Strata never has, so
//! it lists nothing, as Kafka does for a cluster without dynamic defaults. A group (type 32) lists
//! every group setting (`crate::group_settings`): the group's own value (GROUP_CONFIG, 8), else
//! the broker setting it defaults to.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{ApiKey, DescribeConfigsRequest, DescribeConfigsResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use crate::api::ApiSpec;
use crate::config::Source;
use crate::config_defs::{BROKER_SETTINGS, TOPIC_SETTINGS, ValueKind, broker_default_for_topic};
use crate::config_resources::{
    RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_CLIENT_METRICS, RESOURCE_GROUP, RESOURCE_TOPIC,
};
use crate::errors::ErrorCode;
use crate::group_settings::GROUP_SETTINGS;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;
use crate::topics::validate_name;

/// The key and versions of DescribeConfigs, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::DescribeConfigs, 1, 4).with_legacy_min(0);

/// Kafka's `DescribeConfigsResponse.ConfigSource` ids used here.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;
const SOURCE_GROUP: i8 = 8;

/// What the request asks to include for every setting.
#[derive(Clone, Copy)]
struct Detail {
    synonyms: bool,
    documentation: bool,
}

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeConfigsRequest) -> Outcome {
    let detail = Detail { synonyms: req.include_synonyms, documentation: req.include_documentation };
    let known = [RESOURCE_TOPIC, RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_CLIENT_METRICS, RESOURCE_GROUP];
    let results = match req.resources.iter().find(|r| !known.contains(&r.resource_type)) {
        // Kafka fails the whole request when one resource has a type it does not know.
        Some(unknown) => {
            let message =
                format!("Unexpected resource type {} for resource {}", unknown.resource_type, unknown.resource_name);
            req.resources
                .into_iter()
                .map(|r| failure(r, ResponseError::InvalidRequest.code(), Some(message.clone())))
                .collect()
        }
        None => req.resources.into_iter().map(|r| describe(broker, r, detail)).collect(),
    };
    ctx.respond(ResponseKind::DescribeConfigs(DescribeConfigsResponse::default().with_results(results)))
}

fn describe(broker: &Broker, resource: DescribeConfigsResource, detail: Detail) -> DescribeConfigsResult {
    let entries = match resource.resource_type {
        RESOURCE_TOPIC => topic_entries(broker, resource.resource_name.as_str(), detail),
        RESOURCE_BROKER => broker_entries(broker, resource.resource_name.as_str(), detail),
        RESOURCE_GROUP => Ok(group_entries(broker, resource.resource_name.as_str(), detail)),
        other => Err((
            ResponseError::InvalidRequest.code(),
            Some(format!(
                "Strata has no configs of resource type {other}; it describes topics (2), brokers (4) and groups (32)."
            )),
        )),
    };
    match entries {
        Ok(entries) => {
            let wanted = resource.configuration_keys.as_ref().filter(|keys| !keys.is_empty());
            let configs = entries.into_iter().filter(|e| wanted.is_none_or(|keys| keys.contains(&e.name))).collect();
            DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name)
                .with_configs(configs)
        }
        Err((code, message)) => failure(resource, code, message),
    }
}

type Entries = Result<Vec<DescribeConfigsResourceResult>, (i16, Option<String>)>;

/// Every topic setting of `name`: its override, else the broker setting that provides its
/// default, else the table's default.
fn topic_entries(broker: &Broker, name: &str, detail: Detail) -> Entries {
    validate_name(name).map_err(|e| (e.code(), Some(e.to_string())))?;
    // Kafka answers an unknown topic without a message.
    let topic = broker.topics.get(name).ok_or((ResponseError::UnknownTopicOrPartition.code(), None))?;
    Ok(TOPIC_SETTINGS
        .iter()
        .map(|setting| {
            let synonyms = topic_synonyms(broker, &topic.overrides, setting.name);
            entry(setting.name, setting.default, setting.kind, setting.doc, false, synonyms, detail)
        })
        .collect())
}

/// The values that decide a topic setting, strongest first, as Kafka lists its synonyms: the
/// topic override, the broker setting from the file or command line, the broker default.
fn topic_synonyms(broker: &Broker, overrides: &BTreeMap<String, String>, name: &str) -> Vec<DescribeConfigsSynonym> {
    let mut synonyms = Vec::new();
    if let Some(value) = overrides.get(name) {
        synonyms.push(synonym(name, value, SOURCE_TOPIC));
    }
    if let Some(setting) = broker_default_for_topic(name) {
        synonyms.extend(broker_synonyms(broker, setting.name, setting.default));
    }
    synonyms
}

/// Every broker setting, for the resource named by this node's id. Kafka refuses any other id.
fn broker_entries(broker: &Broker, name: &str, detail: Detail) -> Entries {
    if name.is_empty() {
        return Ok(Vec::new());
    }
    let invalid = |message: String| (ResponseError::InvalidRequest.code(), Some(message));
    let id: i32 = name.parse().map_err(|_| invalid(format!("Broker id must be an integer, but it is: {name}")))?;
    if id != broker.node_id() {
        return Err(invalid(format!(
            "Unexpected broker id, expected {} or empty string, but received {name}",
            broker.node_id()
        )));
    }
    Ok(BROKER_SETTINGS
        .iter()
        .map(|s| entry(s.name, s.default, s.kind, s.doc, true, broker_synonyms(broker, s.name, s.default), detail))
        .collect())
}

/// Every group setting of group `name` (which need not exist, as in Kafka).
fn group_entries(broker: &Broker, name: &str, detail: Detail) -> Vec<DescribeConfigsResourceResult> {
    let overrides = broker.topics.group_configs(name);
    GROUP_SETTINGS
        .iter()
        .map(|s| {
            let mut synonyms: Vec<DescribeConfigsSynonym> =
                overrides.get(s.name).map(|v| synonym(s.name, v, SOURCE_GROUP)).into_iter().collect();
            if let Some(setting) = s.broker_setting {
                synonyms.extend(broker_synonyms(broker, setting, s.default));
            }
            entry(s.name, s.default, s.kind, s.doc, false, synonyms, detail)
        })
        .collect()
}

/// A broker setting's synonyms: its static value if one was given, then its default.
fn broker_synonyms(broker: &Broker, name: &str, default: &str) -> Vec<DescribeConfigsSynonym> {
    let mut synonyms = Vec::new();
    if let Some((value, Source::Static)) = broker.config.value(name) {
        synonyms.push(synonym(name, value, SOURCE_STATIC_BROKER));
    }
    synonyms.push(synonym(name, default, SOURCE_DEFAULT));
    synonyms
}

/// One setting: its value and source are those of its strongest synonym.
fn entry(
    name: &'static str,
    default: &str,
    kind: ValueKind,
    doc: &'static str,
    read_only: bool,
    synonyms: Vec<DescribeConfigsSynonym>,
    detail: Detail,
) -> DescribeConfigsResourceResult {
    let (value, source) = match synonyms.first() {
        Some(strongest) => (strongest.value.clone(), strongest.source),
        None => (Some(StrBytes::from_string(default.to_string())), SOURCE_DEFAULT),
    };
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_static_str(name))
        .with_value(value)
        .with_read_only(read_only)
        .with_config_source(source)
        .with_is_sensitive(false)
        .with_synonyms(if detail.synonyms { synonyms } else { Vec::new() })
        .with_config_type(kind.describe_type())
        .with_documentation(detail.documentation.then(|| StrBytes::from_static_str(doc)))
}

fn synonym(name: &str, value: &str, source: i8) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(Some(StrBytes::from_string(value.to_string())))
        .with_source(source)
}

fn failure(resource: DescribeConfigsResource, code: i16, message: Option<String>) -> DescribeConfigsResult {
    DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name)
        .with_error_code(code)
        .with_error_message(message.map(StrBytes::from_string))
}
