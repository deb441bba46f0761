//! The share group offset APIs' view of a group's share-partitions (DescribeShareGroupOffsets,
//! AlterShareGroupOffsets, DeleteShareGroupOffsets, DeleteGroups), at the group's coordinator: on
//! a single node this broker's own; in a cluster the share coordinators', asked over
//! ReadShareGroupStateSummary, InitializeShareGroupState and DeleteShareGroupState (Kafka's
//! group coordinator asks them the same way). A partition leader takes a state started afresh
//! or deleted when a member next opens a share session there.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use strata_shares::StateKey;
use uuid::Uuid;

use super::{PartitionKey, Shares, remote};
use crate::errors::ErrorCode;
use crate::state::Broker;

fn key(group_id: &str, (topic_id, partition): PartitionKey) -> StateKey {
    StateKey { group_id: group_id.to_string(), topic_id, partition }
}

/// The start offset of each share-partition `group_id` has state for. In a cluster every
/// partition of every topic is asked for.
pub async fn start_offsets(broker: &Broker, group_id: &str) -> Result<BTreeMap<PartitionKey, i64>, ResponseError> {
    if broker.cluster.is_none() {
        return Ok(broker.shares.start_offsets(group_id));
    }
    let mut starts = BTreeMap::new();
    for topic in broker.topics.all().into_iter().filter(|t| !t.internal) {
        for index in 0..topic.partition_count() {
            if let Some((_, start)) = remote::summary(broker, key(group_id, (topic.id, index))).await? {
                starts.insert((topic.id, index), start);
            }
        }
    }
    Ok(starts)
}

/// Whether `group_id` is a share group: it has members, or state for some share-partition.
pub async fn is_known(broker: &Broker, group_id: &str) -> Result<bool, ResponseError> {
    let here = broker.shares.is_known(group_id);
    if here || broker.cluster.is_none() {
        return Ok(here);
    }
    Ok(!start_offsets(broker, group_id).await?.is_empty())
}

/// Starts each of `partitions` of `group_id` afresh at its start offset; the caller checked the
/// group has no members.
pub async fn reset(broker: &Broker, group_id: &str, partitions: &[(PartitionKey, i64)]) -> Result<(), ResponseError> {
    if broker.cluster.is_none() {
        for &(partition, start) in partitions {
            broker.shares.reset(group_id, partition, start);
        }
        return Shares::persist(broker).await.map_err(|e| e.kafka_error());
    }
    for &(partition, start) in partitions {
        remote::initialize(broker, key(group_id, partition), start).await?;
    }
    Ok(())
}

/// Deletes `group_id`'s state for every partition of `topics` (`None`: of every topic); the
/// caller checked the group has no members.
pub async fn forget(broker: &Broker, group_id: &str, topics: Option<&[Uuid]>) -> Result<(), ResponseError> {
    let chosen = |id: &Uuid| topics.is_none_or(|ids| ids.contains(id));
    broker.shares.forget(group_id, |(id, _)| chosen(id));
    if broker.cluster.is_none() {
        return Shares::persist(broker).await.map_err(|e| e.kafka_error());
    }
    for topic in broker.topics.all().into_iter().filter(|t| !t.internal && chosen(&t.id)) {
        for index in 0..topic.partition_count() {
            remote::delete(broker, key(group_id, (topic.id, index))).await?;
        }
    }
    Ok(())
}
