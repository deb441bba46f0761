//! Whether this broker coordinates a key: it leads (and holds) the key's partition of the
//! coordinator's internal topic, `__consumer_offsets` for a group, `__transaction_state` for a
//! transactional id. On a single node it always does. In a cluster a request for a key another
//! broker coordinates gets NOT_COORDINATOR, as Kafka answers it, and the client looks the
//! coordinator up again (FindCoordinator).

use kafka_protocol::ResponseError;

use crate::groups::OFFSETS_TOPIC;
use crate::state::Broker;
use crate::txn::TXN_STATE_TOPIC;

/// `Err(NOT_COORDINATOR)` unless this broker coordinates group `group_id`.
pub fn check_group(broker: &Broker, group_id: &str) -> Result<(), ResponseError> {
    check(broker, OFFSETS_TOPIC, broker.groups.partition_for(group_id))
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
