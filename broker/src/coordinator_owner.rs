//! Whether this broker coordinates a key: it leads (and holds) the key's partition of the
//! coordinator's internal topic, `__consumer_offsets` for a group, `__transaction_state` for a
//! transactional id. On a single node it always does. In a cluster a request for a key another
//! broker coordinates gets NOT_COORDINATOR, as Kafka answers it, and the client looks the
//! coordinator up again (FindCoordinator); a group whose partition this broker leads but has not
//! loaded yet gets COORDINATOR_LOAD_IN_PROGRESS (a transactional id, likewise).
//! [`follow_leadership`] moves both coordinators with the leadership of their topics.

use std::sync::Arc;

use kafka_protocol::ResponseError;

use strata_log::LogManager;

use crate::config::BrokerConfig;
use crate::groups::{Groups, Leaders, OFFSETS_TOPIC};
use crate::shares::state_log::SHARE_STATE_TOPIC;
use crate::state::{Broker, BrokerEndpoint};
use crate::topics::{Topic, TopicError, Topics};
use crate::txn::{TXN_STATE_TOPIC, Transactions};

/// `Err(NOT_COORDINATOR)` unless this broker coordinates group `group_id`.
pub fn check_group(broker: &Broker, group_id: &str) -> Result<(), ResponseError> {
    let partition = broker.groups.partition_for(group_id);
    check(broker, OFFSETS_TOPIC, partition)?;
    if broker.groups.is_loaded(partition) { Ok(()) } else { Err(ResponseError::CoordinatorLoadInProgress) }
}

/// `Err(NOT_COORDINATOR)` unless this broker coordinates transactional id `transactional_id`.
pub fn check_transaction(broker: &Broker, transactional_id: &str) -> Result<(), ResponseError> {
    let partition = broker.txns.partition_for(transactional_id);
    check(broker, TXN_STATE_TOPIC, partition)?;
    if broker.txns.is_loaded(partition) { Ok(()) } else { Err(ResponseError::CoordinatorLoadInProgress) }
}

/// The live broker that leads `partition` of the internal topic `topic`, and so coordinates the
/// keys it holds (FindCoordinator's answer; where a leader sends its AddPartitionsToTxn).
pub fn coordinator_endpoint(broker: &Broker, topic: &str, partition: i32) -> Option<BrokerEndpoint> {
    let leader = broker.topics.get(topic)?.leadership(partition)?.leader;
    broker.broker_endpoint(leader)
}

fn check(broker: &Broker, topic: &str, partition: i32) -> Result<(), ResponseError> {
    let topic = broker.topics.get(topic).ok_or(ResponseError::CoordinatorNotAvailable)?;
    let leads = topic.leadership(partition).is_some_and(|l| l.is_led_by(broker.node_id()));
    if leads && topic.partition(partition).is_some() { Ok(()) } else { Err(ResponseError::NotCoordinator) }
}

/// In a cluster, after the replicas took their roles for a metadata change: creates
/// `__consumer_offsets` and `__transaction_state` once enough brokers are live, and has each
/// coordinator load the partitions of its topic this broker now leads and unload the others (the
/// transaction coordinator then writes the markers of the loaded transactions left preparing).
pub async fn follow_leadership(broker: &Arc<Broker>) {
    create_missing(broker, OFFSETS_TOPIC, Groups::create_topic);
    create_missing(broker, TXN_STATE_TOPIC, Transactions::create_topic);
    if let Some((topic, leaders)) = led(broker, OFFSETS_TOPIC) {
        broker.groups.follow(topic, leaders).await;
    }
    if let Some((topic, leaders)) = led(broker, TXN_STATE_TOPIC) {
        let pending = broker.txns.follow(topic, leaders).await;
        crate::txn::markers::spawn(broker, pending);
    }
    if let Some((topic, leaders)) = led(broker, SHARE_STATE_TOPIC) {
        broker.shares.coordinator.follow(topic, leaders);
    }
    let node = broker.node_id();
    broker.shares.follow_leadership(|(topic_id, index)| {
        let topic = broker.topics.by_id(topic_id)?;
        let (leader, epoch) = topic.leadership(index).map(|l| (l.leader, l.leader_epoch))?;
        (leader == node).then_some(epoch)
    });
}

type Create = fn(&LogManager, &Topics, &BrokerConfig) -> Result<(), TopicError>;

/// Creates internal topic `name` with `create` if it does not exist yet.
fn create_missing(broker: &Broker, name: &str, create: Create) {
    if broker.topics.get(name).is_some() {
        return;
    }
    match create(&broker.log, &broker.topics, &broker.config) {
        Ok(()) => {}
        Err(TopicError::Placement(error)) => tracing::debug!(%error, "{name} waits for enough live brokers"),
        Err(error) => tracing::warn!(%error, "cannot create {name}"),
    }
}

/// Internal topic `name` and the leader states of its partitions this broker leads (and holds),
/// each in its current leader epoch.
fn led(broker: &Broker, name: &str) -> Option<(Arc<Topic>, Leaders)> {
    let topic = broker.topics.get(name)?;
    let node = broker.node_id();
    let mut leaders = Leaders::new();
    for (index, _) in topic.hosted() {
        let Some(leadership) = topic.leadership(index).filter(|l| l.is_led_by(node)) else { continue };
        let state = broker.replication.leading(topic.id, index).filter(|s| s.leader_epoch == leadership.leader_epoch);
        if let Some(state) = state {
            leaders.insert(index, state);
        }
    }
    Some((topic, leaders))
}
