//! ElectLeaders (`kafka-leader-election.sh`, Admin `electLeaders`): a preferred election moves a
//! partition's leadership back to its preferred replica when it is live and in sync; an unclean
//! one gives a leaderless partition a live replica as leader (`strata_cluster::election`). The
//! elections of one request are committed together. Each partition is answered as Kafka's
//! controller answers it: ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
//! ELIGIBLE_LEADERS_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION; a request for every partition
//! (null) leaves out those that needed no election. An unknown election type is INVALID_REQUEST.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ApiKey, ElectLeadersRequest, ElectLeadersResponse, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use strata_cluster::election::{Election, ElectionType, elect};
use strata_cluster::image::MetadataImage;
use strata_cluster::records::MetadataRecord;

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of ElectLeaders, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::ElectLeaders, 0, 2);

/// One partition's answer: its topic, partition and error (none when elected).
type Answer = (String, i32, Option<ResponseError>);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ElectLeadersRequest) -> Outcome {
    let kind = match req.election_type {
        0 => ElectionType::Preferred,
        1 => ElectionType::Unclean,
        other => {
            tracing::debug!(election_type = other, "ElectLeaders: unknown election type");
            let response = ElectLeadersResponse::default().with_error_code(ResponseError::InvalidRequest.code());
            return ctx.respond(ResponseKind::ElectLeaders(response));
        }
    };
    let wanted: Option<Vec<(String, i32)>> = req
        .topic_partitions
        .as_ref()
        .map(|topics| topics.iter().flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p))).collect());
    let elect_all = wanted.is_none();
    let decided = crate::blocking::run(|| {
        broker.topics.change_partitions(&broker.log, &broker.config, |image, live| decide(image, live, kind, wanted))
    });
    let answers = match decided {
        Ok(answers) => answers,
        Err(error) => {
            tracing::warn!(%error, "ElectLeaders: the elections were not committed");
            let code = error.code();
            let failed = ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError);
            let asked = req.topic_partitions.iter().flatten();
            asked.flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p, Some(failed)))).collect()
        }
    };
    let mut results: Vec<ReplicaElectionResult> = Vec::new();
    for (topic, partition, error) in answers {
        if elect_all && error == Some(ResponseError::ElectionNotNeeded) {
            continue;
        }
        let result = PartitionResult::default()
            .with_partition_id(partition)
            .with_error_code(error.map_or(0, |e| e.code()))
            .with_error_message(error.map(|e| StrBytes::from_string(e.to_string())));
        match results.iter_mut().find(|r| r.topic.0.as_str() == topic) {
            Some(entry) => entry.partition_result.push(result),
            None => results.push(
                ReplicaElectionResult::default()
                    .with_topic(TopicName(StrBytes::from_string(topic)))
                    .with_partition_result(vec![result]),
            ),
        }
    }
    ctx.respond(ResponseKind::ElectLeaders(ElectLeadersResponse::default().with_replica_election_results(results)))
}

/// Each wanted partition's election (every partition when `wanted` is `None`), with the records
/// of those that elect a leader.
fn decide(
    image: &MetadataImage,
    live: &dyn Fn(i32) -> bool,
    kind: ElectionType,
    wanted: Option<Vec<(String, i32)>>,
) -> (Vec<MetadataRecord>, Vec<Answer>) {
    let wanted = wanted.unwrap_or_else(|| {
        image.topics().flat_map(|t| (0..).zip(&t.partitions).map(|(p, _)| (t.name.clone(), p))).collect()
    });
    let mut records = Vec::new();
    let mut answers = Vec::new();
    for (name, partition) in wanted {
        let found = image.topic_named(&name).and_then(|t| {
            let leadership = usize::try_from(partition).ok().and_then(|i| t.partitions.get(i))?;
            Some((t.id, leadership))
        });
        let error = match found {
            None => Some(ResponseError::UnknownTopicOrPartition),
            Some((topic_id, current)) => match elect(current, kind, live) {
                Election::Elected(leadership) => {
                    records.push(MetadataRecord::Partition { topic_id, partition_id: partition, leadership });
                    None
                }
                Election::NotNeeded => Some(ResponseError::ElectionNotNeeded),
                Election::PreferredNotAvailable => Some(ResponseError::PreferredLeaderNotAvailable),
                Election::NoEligibleLeader => Some(ResponseError::EligibleLeadersNotAvailable),
            },
        };
        answers.push((name, partition, error));
    }
    (records, answers)
}
