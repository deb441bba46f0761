//! AlterConfigs, the legacy form of IncrementalAlterConfigs: the settings given
//! replace all of a topic's overrides (any not listed return to their defaults). Broker settings
//! are static in Strata and refused as Kafka refuses non-dynamic ones. Checks and error codes are
//! those of [`crate::config_changes`], shared with IncrementalAlterConfigs.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse, ApiKey, ResponseKind};

use crate::api::ApiSpec;
use crate::config_changes::{
    Refusal, alter_each, alter_topic, check_broker_id, check_keys_unique, check_no_nulls, refuse_static_broker_keys,
};
use crate::config_resources::{RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of AlterConfigs, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::AlterConfigs, 0, 2);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: AlterConfigsRequest) -> Outcome {
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
    ctx.respond(ResponseKind::AlterConfigs(AlterConfigsResponse::default().with_responses(responses)))
}

fn alter(broker: &Broker, resource: &AlterConfigsResource, validate_only: bool) -> Result<(), Refusal> {
    check_keys_unique(resource.configs.iter().map(|c| c.name.as_str()))?;
    let null_values: Vec<&str> =
        resource.configs.iter().filter(|c| c.value.is_none()).map(|c| c.name.as_str()).collect();
    check_no_nulls(&null_values)?;
    let name = resource.resource_name.as_str();
    match resource.resource_type {
        RESOURCE_TOPIC => {
            let replacement: BTreeMap<String, String> = resource
                .configs
                .iter()
                .filter_map(|c| c.value.as_ref().map(|v| (c.name.to_string(), v.to_string())))
                .collect();
            alter_topic(broker, name, validate_only, |_current| Ok(replacement.clone()))
        }
        RESOURCE_BROKER => {
            if !name.is_empty() {
                check_broker_id(broker, name)?;
            }
            refuse_static_broker_keys(resource.configs.iter().map(|c| c.name.as_str()))
        }
        // Legacy AlterConfigs never supported broker loggers or the newer resource types.
        other => Err(Refusal::invalid_request(format!("Unknown resource type {other}"))),
    }
}
