//! Leader hints (KIP-951): a partition that a Produce (v10+) or Fetch (v16+) is refused because
//! this broker does not lead it names the partition's current leader and leader epoch
//! (`CurrentLeader`), and the response lists where each leader it names is reached
//! (`NodeEndpoints`), so the client goes straight to the new leader without a Metadata round trip.
//! As Kafka's `KafkaApis` does it: Produce hints NOT_LEADER_OR_FOLLOWER, Fetch also
//! FENCED_LEADER_EPOCH; the leader comes from the topic registry as the response is sent (-1 in
//! epoch -1 for a partition this broker does not know), its endpoint only if it is live.
//!
//! Filled in once the response is built, by both handlers. A single node leads every partition it
//! has and never hints.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{BrokerId, ProduceResponse, fetch_response, produce_response};
use kafka_protocol::protocol::StrBytes;
use strata_wire::fetch_framing::FramedResponse;

use crate::state::{Broker, BrokerEndpoint};
use crate::topics::{Leadership, Topic};

/// First Produce version that carries hints.
pub const PRODUCE_VERSION_MIN: i16 = 10;
/// First Fetch version that carries hints (`CurrentLeader` is in the schema from v12, but Kafka
/// fills it for clients only from v16, which added `NodeEndpoints`).
pub const FETCH_VERSION_MIN: i16 = 16;

/// The endpoints of the leaders `hints` named, as Produce's and Fetch's distinct generated
/// `NodeEndpoint` types (same fields).
macro_rules! node_endpoints {
    ($hints:expr, $endpoint:ty) => {
        $hints
            .named
            .into_values()
            .map(|b| {
                <$endpoint>::default()
                    .with_node_id(BrokerId(b.id))
                    .with_host(StrBytes::from_string(b.host))
                    .with_port(b.port)
                    .with_rack(b.rack.map(StrBytes::from_string))
            })
            .collect()
    };
}

/// Fills the hints of a Produce response of `version`: each partition refused with
/// NOT_LEADER_OR_FOLLOWER names its current leader. `by_id`: the response names topics by id.
pub fn fill_produce(broker: &Broker, version: i16, by_id: bool, response: &mut ProduceResponse) {
    let Some(mut hints) = Hints::new(broker, version, PRODUCE_VERSION_MIN) else { return };
    let hinted = |code: i16| code == ResponseError::NotLeaderOrFollower.code();
    for topic in &mut response.responses {
        if !topic.partition_responses.iter().any(|p| hinted(p.error_code)) {
            continue;
        }
        let found = find(broker, by_id, topic.topic_id, topic.name.0.as_str());
        for partition in topic.partition_responses.iter_mut().filter(|p| hinted(p.error_code)) {
            let (leader_id, leader_epoch) = hints.leader(found.as_deref(), partition.index);
            partition.current_leader = produce_response::LeaderIdAndEpoch::default()
                .with_leader_id(BrokerId(leader_id))
                .with_leader_epoch(leader_epoch);
        }
    }
    response.node_endpoints = node_endpoints!(hints, produce_response::NodeEndpoint);
}

/// Fills the hints of a Fetch response of `version`: each partition refused with
/// NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH names its current leader. `by_id`: the
/// response names topics by id.
pub fn fill_fetch<R>(broker: &Broker, version: i16, by_id: bool, response: &mut FramedResponse<R>) {
    let Some(mut hints) = Hints::new(broker, version, FETCH_VERSION_MIN) else { return };
    let hinted = |code: i16| {
        code == ResponseError::NotLeaderOrFollower.code() || code == ResponseError::FencedLeaderEpoch.code()
    };
    for topic in &mut response.topics {
        if !topic.partitions.iter().any(|p| hinted(p.data.error_code)) {
            continue;
        }
        let found = find(broker, by_id, topic.topic_id, topic.topic.0.as_str());
        for partition in topic.partitions.iter_mut().filter(|p| hinted(p.data.error_code)) {
            let (leader_id, leader_epoch) = hints.leader(found.as_deref(), partition.data.partition_index);
            partition.data.current_leader = fetch_response::LeaderIdAndEpoch::default()
                .with_leader_id(BrokerId(leader_id))
                .with_leader_epoch(leader_epoch);
        }
    }
    response.node_endpoints = node_endpoints!(hints, fetch_response::NodeEndpoint);
}

fn find(broker: &Broker, by_id: bool, id: uuid::Uuid, name: &str) -> Option<Arc<Topic>> {
    if by_id { broker.topics.by_id(id) } else { broker.topics.get(name) }
}

/// The leaders one response names, each live one's endpoint once.
struct Hints<'a> {
    broker: &'a Broker,
    /// The live brokers, read on the first hint (most responses need none).
    live: Option<Vec<BrokerEndpoint>>,
    named: BTreeMap<i32, BrokerEndpoint>,
}

impl<'a> Hints<'a> {
    /// Hints for a response of `version`, if it carries them (`version_min` on) and this broker
    /// is in a cluster.
    fn new(broker: &'a Broker, version: i16, version_min: i16) -> Option<Hints<'a>> {
        (version >= version_min && broker.cluster.is_some()).then(|| Hints {
            broker,
            live: None,
            named: BTreeMap::new(),
        })
    }

    /// The leader and leader epoch of partition `index` of `topic`, remembering where the leader
    /// is reached.
    fn leader(&mut self, topic: Option<&Topic>, index: i32) -> (i32, i32) {
        let live = self.live.get_or_insert_with(|| self.broker.live_brokers());
        let (leader, endpoint) = current_leader(topic.and_then(|t| t.leadership(index)), live);
        if let Some(endpoint) = endpoint {
            self.named.entry(endpoint.id).or_insert_with(|| endpoint.clone());
        }
        leader
    }
}

/// `(leader, leader epoch)` of a partition with `leadership` (`(-1, -1)` for one not known), and
/// the leader's endpoint among the `live` brokers, if it is one of them.
fn current_leader<'b>(
    leadership: Option<&Leadership>,
    live: &'b [BrokerEndpoint],
) -> ((i32, i32), Option<&'b BrokerEndpoint>) {
    let Some(leadership) = leadership else { return ((-1, -1), None) };
    let endpoint = live.iter().find(|b| leadership.leader >= 0 && b.id == leadership.leader);
    ((leadership.leader, leadership.leader_epoch), endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(id: i32) -> BrokerEndpoint {
        BrokerEndpoint { id, host: "127.0.0.1".into(), port: 9090 + id, rack: None }
    }

    fn led_by(leader: i32, leader_epoch: i32) -> Leadership {
        Leadership {
            leader,
            leader_epoch,
            replicas: vec![1, 2],
            isr: vec![1, 2],
            ..Leadership::new_partition(vec![1, 2])
        }
    }

    #[test]
    fn a_live_leader_is_named_with_its_endpoint() {
        let live = [endpoint(1), endpoint(2)];
        let (leader, at) = current_leader(Some(&led_by(2, 4)), &live);
        assert_eq!(leader, (2, 4));
        assert_eq!(at, Some(&live[1]));
    }

    #[test]
    fn a_fenced_or_missing_leader_is_named_without_an_endpoint() {
        let live = [endpoint(1)];
        assert_eq!(current_leader(Some(&led_by(2, 4)), &live), ((2, 4), None));
        // No leader at all: -1 in the partition's epoch, as Kafka's `getCurrentLeader`.
        assert_eq!(current_leader(Some(&led_by(-1, 5)), &live), ((-1, 5), None));
        assert_eq!(current_leader(None, &live), ((-1, -1), None));
    }
}
