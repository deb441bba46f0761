//! AlterPartitionReassignments (`kafka-reassign-partitions.sh --execute`, Admin
//! `alterPartitionReassignments`, KIP-455): each named partition moves to its target replicas,
//! first gaining the new ones, which copy the leader's log, then dropping the old ones once the
//! new are in sync (`strata_cluster::reassignment`; the image completes it when the in-sync set
//! grows). Null replicas cancel a reassignment. The changes of one request are committed
//! together. Answered per partition as Kafka's controller answers: UNKNOWN_TOPIC_OR_PARTITION,
//! INVALID_REPLICA_ASSIGNMENT (empty, repeated or unregistered brokers), NO_REASSIGNMENT_IN_PROGRESS
//! (cancelling none), and with v1's `allow_replication_factor_change` false (KIP-860), a target of
//! another size than the partition's replicas is INVALID_REPLICATION_FACTOR.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use strata_cluster::image::MetadataImage;
use strata_cluster::reassignment::{ReassignmentError, cancel, reassign};
use strata_cluster::records::MetadataRecord;

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of AlterPartitionReassignments, from which the route and ApiVersions
/// are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::AlterPartitionReassignments, 0, 1);

/// One partition asked for: its topic, index and target replicas (`None`: cancel).
type Asked = (String, i32, Option<Vec<i32>>);

/// One partition's answer: its error and message, if any.
type Answer = Option<(ResponseError, String)>;

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: AlterPartitionReassignmentsRequest) -> Outcome {
    let asked: Vec<Asked> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let target = p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect());
                (t.name.0.to_string(), p.partition_index, target)
            })
        })
        .collect();
    let allow_resize = req.allow_replication_factor_change;
    let decided = crate::blocking::run(|| {
        broker
            .topics
            .change_partitions(&broker.log, &broker.config, |image, live| decide(image, live, &asked, allow_resize))
    });
    let answers: Vec<Answer> = match decided {
        Ok(answers) => answers,
        Err(error) => {
            tracing::warn!(%error, "AlterPartitionReassignments: the changes were not committed");
            let failed = ResponseError::try_from_code(error.code()).unwrap_or(ResponseError::UnknownServerError);
            asked.iter().map(|_| Some((failed, error.to_string()))).collect()
        }
    };
    let mut responses: Vec<ReassignableTopicResponse> = Vec::new();
    for ((topic, partition, _), answer) in asked.into_iter().zip(answers) {
        let (code, message) = answer.map_or((0, None), |(e, m)| (e.code(), Some(StrBytes::from_string(m))));
        let result = ReassignablePartitionResponse::default()
            .with_partition_index(partition)
            .with_error_code(code)
            .with_error_message(message);
        match responses.iter_mut().find(|r| r.name.0.as_str() == topic) {
            Some(entry) => entry.partitions.push(result),
            None => responses.push(
                ReassignableTopicResponse::default()
                    .with_name(TopicName(StrBytes::from_string(topic)))
                    .with_partitions(vec![result]),
            ),
        }
    }
    let response = AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(allow_resize)
        .with_responses(responses);
    ctx.respond(ResponseKind::AlterPartitionReassignments(response))
}

/// Each asked partition's new leadership, as records, and its answer.
fn decide(
    image: &MetadataImage,
    live: &dyn Fn(i32) -> bool,
    asked: &[Asked],
    allow_resize: bool,
) -> (Vec<MetadataRecord>, Vec<Answer>) {
    let registered = |broker: i32| image.broker(broker).is_some() || live(broker);
    let mut records = Vec::new();
    let mut answers = Vec::new();
    for (name, partition, target) in asked {
        let found = image.topic_named(name).and_then(|t| {
            let leadership = usize::try_from(*partition).ok().and_then(|i| t.partitions.get(i))?;
            Some((t.id, leadership))
        });
        let Some((topic_id, current)) = found else {
            answers.push(Some((ResponseError::UnknownTopicOrPartition, format!("{name}-{partition} does not exist"))));
            continue;
        };
        let original = current.replicas.len() - current.adding_replicas.len();
        let changed = match target {
            Some(target) if !allow_resize && target.len() != original => {
                let message = format!("the target has {} replicas, the partition {original}", target.len());
                answers.push(Some((ResponseError::InvalidReplicationFactor, message)));
                continue;
            }
            Some(target) => reassign(current, target, registered, live),
            None => cancel(current),
        };
        match changed {
            Ok(leadership) => {
                if leadership != *current {
                    records.push(MetadataRecord::Partition { topic_id, partition_id: *partition, leadership });
                }
                answers.push(None);
            }
            Err(error) => answers.push(Some((code_of(&error), error.to_string()))),
        }
    }
    (records, answers)
}

fn code_of(error: &ReassignmentError) -> ResponseError {
    match error {
        ReassignmentError::InvalidTarget(_) | ReassignmentError::UnknownBroker(_) => {
            ResponseError::InvalidReplicaAssignment
        }
        ReassignmentError::NoneInProgress => ResponseError::NoReassignmentInProgress,
    }
}
