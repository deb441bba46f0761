//! Whether this broker coordinates a key: it leads (and holds) the key's partition of the
//! coordinator's internal topic, `__consumer_offsets` for a group, `__transaction_state` for a
//! transactional id. On a single node it always does. In a cluster a request for a key another
//! broker coordinates gets NOT_COORDINATOR, as Kafka answers it, and the client looks the
//! coordinator up again (FindCoordinator); a group whose partition this broker leads but has not
//! loaded yet gets COORDINATOR_LOAD_IN_PROGRESS. [`follow_leadership`] moves the group
//! coordinator with the leadership of `__consumer_offsets`.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;

use crate::groups::{Groups, OFFSETS_TOPIC};
use crate::state::Broker;
use crate::topics::TopicError;
use crate::txn::TXN_STATE_TOPIC;

/// `Err(NOT_COORDINATOR)` unless this broker coordinates group `group_id`.
pub fn check_group(broker: &Broker, group_id: &str) -> Result<(), ResponseError> {
    let partition = broker.groups.partition_for(group_id);
    check(broker, OFFSETS_TOPIC, partition)?;
    if broker.groups.is_loaded(partition) { Ok(()) } else { Err(ResponseError::CoordinatorLoadInProgress) }
}

/// `Err(NOT_COORDINATOR)` unless this broker coordinates transactional id `transactional_id`.
pub fn check_transaction(broker: &Broker, transactional_id: &str) -> Result<(), ResponseError> {
    check(broker, TXN_STATE_TOPIC, broker.txns.partition_for(transactional_id))
}

fn check(broker: &Broker, topic: &str, partition: i32) -> Result<(), ResponseError> {
    let topic = broker.topics.get(topic).ok_or(ResponseError::CoordinatorNotAvailable)?;
    let leads = topic.leadership(partition).is_some_and(|l| l.is_led_by(broker.node_id()));
    if leads && topic.partition(partition).is_some() { Ok(()) } else { Err(ResponseError::NotCoordinator) }
}

/// In a cluster, after the replicas took their roles for a metadata change: creates
/// `__consumer_offsets` once enough brokers are live, and has the group coordinator load the
/// partitions of it this broker now leads and unload the others.
pub async fn follow_leadership(broker: &Arc<Broker>) {
    if broker.topics.get(OFFSETS_TOPIC).is_none() {
        match Groups::create_topic(&broker.log, &broker.topics, &broker.config) {
            Ok(()) => {}
            Err(TopicError::Placement(error)) => {
                tracing::debug!(%error, "{OFFSETS_TOPIC} waits for enough live brokers");
            }
            Err(error) => tracing::warn!(%error, "cannot create {OFFSETS_TOPIC}"),
        }
    }
    let Some(topic) = broker.topics.get(OFFSETS_TOPIC) else { return };
    let node = broker.node_id();
    let mut leaders = HashMap::new();
    for (index, _) in topic.hosted() {
        let Some(leadership) = topic.leadership(index).filter(|l| l.is_led_by(node)) else { continue };
        let state = broker.replication.leading(topic.id, index).filter(|s| s.leader_epoch == leadership.leader_epoch);
        if let Some(state) = state {
            leaders.insert(index, state);
        }
    }
    broker.groups.follow(topic, leaders).await;
}
