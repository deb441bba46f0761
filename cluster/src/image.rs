//! The metadata image: the topic metadata that replaying the metadata records yields (names,
//! ids, partitions with their leadership, setting overrides), without partition logs. It is what
//! a snapshot holds, and what the registry builds its served topics from.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::leadership::Leadership;
use crate::reassignment;
use crate::records::{BrokerRegistration, ConfigResource, MetadataRecord};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub internal: bool,
    /// Indexed by partition id.
    pub partitions: Vec<Leadership>,
    pub overrides: BTreeMap<String, String>,
}

/// A record that does not fit the state it is applied to: the log is not one this broker wrote.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ApplyError {
    #[error("topic '{name}' ({id}) is created twice")]
    DuplicateTopic { name: String, id: Uuid },
    #[error("record for unknown topic id {0}")]
    UnknownTopic(Uuid),
    #[error("partition {partition} of topic {id} skips a partition id")]
    PartitionGap { id: Uuid, partition: i32 },
    #[error("log start record in the middle of the metadata")]
    MisplacedLogStart,
    #[error("broker {0} is not registered")]
    UnknownBroker(i32),
    #[error("another live broker is registered with node id {0}")]
    DuplicateBroker(i32),
    #[error("producer ids from {start} are taken (the next free is {next})")]
    ProducerIdsTaken { start: i64, next: i64 },
    #[error("partition {partition} of topic {id} is in leader epoch {current}, not {requested}")]
    StaleLeaderEpoch { id: Uuid, partition: i32, requested: i32, current: i32 },
    #[error("partition {partition} of topic {id} is in partition epoch {current}, not {requested}")]
    StalePartitionEpoch { id: Uuid, partition: i32, requested: i32, current: i32 },
    #[error("the in-sync replicas {isr:?} of partition {partition} of topic {id} are not its replicas with the leader")]
    InvalidIsr { id: Uuid, partition: i32, isr: Vec<i32> },
    #[error("the cluster id is {current}, not {proposed}")]
    ClusterIdSet { current: String, proposed: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    topics: BTreeMap<Uuid, TopicImage>,
    brokers: BTreeMap<i32, BrokerRegistration>,
    cluster_id: Option<String>,
    /// The first producer id no block has covered.
    next_producer_id: i64,
    /// Each group's settings that differ from the broker's defaults, by group id.
    group_configs: BTreeMap<String, BTreeMap<String, String>>,
}

impl MetadataImage {
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.topics.values()
    }

    pub fn topic(&self, id: Uuid) -> Option<&TopicImage> {
        self.topics.get(&id)
    }

    pub fn topic_named(&self, name: &str) -> Option<&TopicImage> {
        self.topics.values().find(|t| t.name == name)
    }

    pub fn is_empty(&self) -> bool {
        self.topics.is_empty() && self.brokers.is_empty()
    }

    /// Every registered broker, fenced or not, by id.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values()
    }

    pub fn broker(&self, id: i32) -> Option<&BrokerRegistration> {
        self.brokers.get(&id)
    }

    /// The first producer id no block has covered: where the next block starts.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }

    /// The cluster's id, once a member has set it.
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    /// Applies one batch. On error the image is left part-changed: replay then fails, and a live
    /// change applies its batch to a copy (see `Topics`), so no caller keeps such an image.
    pub fn apply_batch(&mut self, batch: &[MetadataRecord]) -> Result<(), ApplyError> {
        batch.iter().try_for_each(|record| self.apply(record))
    }

    fn apply(&mut self, record: &MetadataRecord) -> Result<(), ApplyError> {
        match record {
            MetadataRecord::LogStart { .. } => return Err(ApplyError::MisplacedLogStart),
            MetadataRecord::Topic { name, topic_id, internal } => {
                if self.topics.contains_key(topic_id) || self.topics.values().any(|t| &t.name == name) {
                    return Err(ApplyError::DuplicateTopic { name: name.clone(), id: *topic_id });
                }
                let topic = TopicImage {
                    name: name.clone(),
                    id: *topic_id,
                    internal: *internal,
                    partitions: Vec::new(),
                    overrides: BTreeMap::new(),
                };
                self.topics.insert(*topic_id, topic);
            }
            MetadataRecord::Partition { topic_id, partition_id, leadership } => {
                let topic = self.topics.get_mut(topic_id).ok_or(ApplyError::UnknownTopic(*topic_id))?;
                let gap = ApplyError::PartitionGap { id: *topic_id, partition: *partition_id };
                let index = usize::try_from(*partition_id).map_err(|_| gap.clone())?;
                match index.cmp(&topic.partitions.len()) {
                    std::cmp::Ordering::Less => {
                        // A change: the next partition epoch (a snapshot creates partitions anew,
                        // with the epoch they had).
                        let next = topic.partitions[index].partition_epoch + 1;
                        let partition_epoch = leadership.partition_epoch.max(next);
                        topic.partitions[index] = Leadership { partition_epoch, ..leadership.clone() };
                    }
                    std::cmp::Ordering::Equal => topic.partitions.push(leadership.clone()),
                    std::cmp::Ordering::Greater => return Err(gap),
                }
            }
            MetadataRecord::PartitionIsr { topic_id, partition_id, leader_epoch, isr, partition_epoch } => {
                let live: Vec<i32> = self.brokers.values().filter(|b| !b.fenced).map(|b| b.broker_id).collect();
                let topic = self.topics.get_mut(topic_id).ok_or(ApplyError::UnknownTopic(*topic_id))?;
                let partition = *partition_id;
                let leadership = usize::try_from(partition)
                    .ok()
                    .and_then(|i| topic.partitions.get_mut(i))
                    .ok_or(ApplyError::PartitionGap { id: *topic_id, partition })?;
                if leadership.leader_epoch != *leader_epoch {
                    return Err(ApplyError::StaleLeaderEpoch {
                        id: *topic_id,
                        partition,
                        requested: *leader_epoch,
                        current: leadership.leader_epoch,
                    });
                }
                if let Some(requested) = partition_epoch.filter(|e| *e != leadership.partition_epoch) {
                    return Err(ApplyError::StalePartitionEpoch {
                        id: *topic_id,
                        partition,
                        requested,
                        current: leadership.partition_epoch,
                    });
                }
                let valid = isr.contains(&leadership.leader) && isr.iter().all(|r| leadership.replicas.contains(r));
                if !valid {
                    return Err(ApplyError::InvalidIsr { id: *topic_id, partition, isr: isr.clone() });
                }
                leadership.isr = isr.clone();
                leadership.partition_epoch += 1;
                // A reassignment whose new replicas are all in sync now ends (on every member
                // alike: the image is the same everywhere).
                if let Some(done) = reassignment::complete_if_caught_up(leadership, |r| live.contains(&r)) {
                    *leadership = done;
                }
            }
            MetadataRecord::Config { resource: ConfigResource::Topic { topic_id }, name, value } => {
                let topic = self.topics.get_mut(topic_id).ok_or(ApplyError::UnknownTopic(*topic_id))?;
                match value {
                    Some(value) => topic.overrides.insert(name.clone(), value.clone()),
                    None => topic.overrides.remove(name),
                };
            }
            MetadataRecord::Config { resource: ConfigResource::Group { group_id }, name, value } => {
                let configs = self.group_configs.entry(group_id.clone()).or_default();
                match value {
                    Some(value) => configs.insert(name.clone(), value.clone()),
                    None => configs.remove(name),
                };
                if configs.is_empty() {
                    self.group_configs.remove(group_id);
                }
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                self.topics.remove(topic_id).ok_or(ApplyError::UnknownTopic(*topic_id))?;
            }
            MetadataRecord::ClusterId { cluster_id } => match &self.cluster_id {
                Some(current) if current != cluster_id => {
                    return Err(ApplyError::ClusterIdSet { current: current.clone(), proposed: cluster_id.clone() });
                }
                _ => self.cluster_id = Some(cluster_id.clone()),
            },
            MetadataRecord::ProducerIdBlock { start, end, .. } => {
                if *start < self.next_producer_id || end < start {
                    return Err(ApplyError::ProducerIdsTaken { start: *start, next: self.next_producer_id });
                }
                self.next_producer_id = *end;
            }
            MetadataRecord::RegisterBroker(registration) => {
                // Another live incarnation holds the id: a second broker with the same node.id, or
                // this broker's previous run whose session has not expired yet (Kafka's
                // DUPLICATE_BROKER_REGISTRATION).
                let id = registration.broker_id;
                if self.brokers.get(&id).is_some_and(|b| !b.fenced && b.incarnation_id != registration.incarnation_id) {
                    return Err(ApplyError::DuplicateBroker(id));
                }
                self.brokers.insert(id, registration.clone());
            }
            MetadataRecord::BrokerFencing { broker_id, fenced } => {
                self.brokers.get_mut(broker_id).ok_or(ApplyError::UnknownBroker(*broker_id))?.fenced = *fenced;
            }
        }
        Ok(())
    }

    /// The records that rebuild this image: one batch for the cluster id and the brokers (when
    /// there are any), then one per topic.
    pub fn snapshot(&self) -> Vec<Vec<MetadataRecord>> {
        let id = self.cluster_id.iter().map(|cluster_id| MetadataRecord::ClusterId { cluster_id: cluster_id.clone() });
        let next = self.next_producer_id;
        let producer_ids =
            (next > 0).then_some(MetadataRecord::ProducerIdBlock { broker_id: -1, start: next, end: next });
        let brokers: Vec<MetadataRecord> =
            id.chain(producer_ids).chain(self.brokers.values().cloned().map(MetadataRecord::RegisterBroker)).collect();
        let brokers = (!brokers.is_empty()).then_some(brokers);
        let groups = self
            .group_configs
            .iter()
            .map(|(group_id, configs)| group_config_changes(group_id, &BTreeMap::new(), configs));
        brokers.into_iter().chain(self.topics.values().map(creation)).chain(groups).collect()
    }

    /// Group `group_id`'s settings that differ from the broker's defaults.
    pub fn group_configs(&self, group_id: &str) -> Option<&BTreeMap<String, String>> {
        self.group_configs.get(group_id)
    }
}

/// The records that create `topic` as it is now.
pub fn creation(topic: &TopicImage) -> Vec<MetadataRecord> {
    let head = MetadataRecord::Topic { name: topic.name.clone(), topic_id: topic.id, internal: topic.internal };
    let partitions = (0..).zip(&topic.partitions).map(|(partition_id, leadership)| MetadataRecord::Partition {
        topic_id: topic.id,
        partition_id,
        leadership: leadership.clone(),
    });
    let configs = config_changes(topic.id, &BTreeMap::new(), &topic.overrides);
    std::iter::once(head).chain(partitions).chain(configs).collect()
}

/// The `Config` records that turn topic `topic_id`'s `old` overrides into `new` ones.
pub fn config_changes(
    topic_id: Uuid,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Vec<MetadataRecord> {
    changes(&ConfigResource::Topic { topic_id }, old, new)
}

/// The `Config` records that turn group `group_id`'s `old` settings into `new` ones.
pub fn group_config_changes(
    group_id: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Vec<MetadataRecord> {
    changes(&ConfigResource::Group { group_id: group_id.to_string() }, old, new)
}

fn changes(
    resource: &ConfigResource,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Vec<MetadataRecord> {
    let record = |name: &String, value: Option<&String>| MetadataRecord::Config {
        resource: resource.clone(),
        name: name.clone(),
        value: value.cloned(),
    };
    let removed = old.keys().filter(|k| !new.contains_key(*k)).map(|k| record(k, None));
    let set = new.iter().filter(|(k, v)| old.get(*k) != Some(*v)).map(|(k, v)| record(k, Some(v)));
    removed.chain(set).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, id: u128, partitions: usize) -> TopicImage {
        TopicImage {
            name: name.to_string(),
            id: Uuid::from_u128(id),
            internal: false,
            partitions: vec![Leadership::single_node(1); partitions],
            overrides: BTreeMap::from([("retention.ms".to_string(), "5".to_string())]),
        }
    }

    #[test]
    fn a_snapshot_replays_to_the_same_image() {
        let mut image = MetadataImage::default();
        image.apply_batch(&creation(&topic("a", 1, 3))).expect("a");
        image.apply_batch(&creation(&topic("b", 2, 1))).expect("b");
        let settings = BTreeMap::from([("share.auto.offset.reset".to_string(), "earliest".to_string())]);
        image.apply_batch(&group_config_changes("queue", &BTreeMap::new(), &settings)).expect("group");
        let mut replayed = MetadataImage::default();
        for batch in image.snapshot() {
            replayed.apply_batch(&batch).expect("replay");
        }
        assert_eq!(replayed, image);
        assert_eq!(image.topic(Uuid::from_u128(1)).map(|t| t.partitions.len()), Some(3));
        assert_eq!(replayed.group_configs("queue"), Some(&settings));
        // Removing a group's last setting forgets the group.
        image.apply_batch(&group_config_changes("queue", &settings, &BTreeMap::new())).expect("removed");
        assert_eq!(image.group_configs("queue"), None);
    }

    #[test]
    fn brokers_register_fence_and_replay_from_a_snapshot() {
        let mut image = MetadataImage::default();
        let set_id = |id: &str| [MetadataRecord::ClusterId { cluster_id: id.to_string() }];
        image.apply_batch(&set_id("abc")).expect("first id");
        image.apply_batch(&set_id("abc")).expect("the same id again");
        assert!(matches!(image.apply_batch(&set_id("xyz")), Err(ApplyError::ClusterIdSet { .. })));
        assert_eq!(image.cluster_id(), Some("abc"));
        let block = |start: i64| [MetadataRecord::ProducerIdBlock { broker_id: 1, start, end: start + 1000 }];
        image.apply_batch(&block(0)).expect("the first block");
        assert!(matches!(image.apply_batch(&block(500)), Err(ApplyError::ProducerIdsTaken { next: 1000, .. })));
        image.apply_batch(&block(1000)).expect("the next block");
        assert_eq!(image.next_producer_id(), 2000);
        let registration = |id: i32, rack: Option<&str>| BrokerRegistration {
            broker_id: id,
            incarnation_id: Uuid::from_u128(id as u128),
            host: "127.0.0.1".to_string(),
            port: 9000 + id,
            rack: rack.map(str::to_string),
            fenced: true,
        };
        image.apply_batch(&[MetadataRecord::RegisterBroker(registration(1, Some("r1")))]).expect("register 1");
        image.apply_batch(&[MetadataRecord::RegisterBroker(registration(2, None))]).expect("register 2");
        image.apply_batch(&[MetadataRecord::BrokerFencing { broker_id: 2, fenced: false }]).expect("unfence");
        assert_eq!(image.broker(2).map(|b| b.fenced), Some(false));
        assert_eq!(
            image.apply_batch(&[MetadataRecord::BrokerFencing { broker_id: 7, fenced: false }]),
            Err(ApplyError::UnknownBroker(7))
        );
        // While broker 2 is live another incarnation of it is refused; once it is fenced, a
        // restart registers again and replaces it, fenced until it heartbeats.
        let again = BrokerRegistration { incarnation_id: Uuid::from_u128(22), ..registration(2, None) };
        assert_eq!(
            image.apply_batch(&[MetadataRecord::RegisterBroker(again.clone())]),
            Err(ApplyError::DuplicateBroker(2))
        );
        image.apply_batch(&[MetadataRecord::BrokerFencing { broker_id: 2, fenced: true }]).expect("fence");
        image.apply_batch(&[MetadataRecord::RegisterBroker(again.clone())]).expect("re-register");
        assert_eq!(image.broker(2), Some(&again));
        image.apply_batch(&creation(&topic("a", 1, 2))).expect("a");
        let mut replayed = MetadataImage::default();
        for batch in image.snapshot() {
            replayed.apply_batch(&batch).expect("replay");
        }
        assert_eq!(replayed, image);
    }

    #[test]
    fn records_that_do_not_fit_are_refused() {
        let mut image = MetadataImage::default();
        image.apply_batch(&creation(&topic("a", 1, 1))).expect("a");
        let remove = [MetadataRecord::RemoveTopic { topic_id: Uuid::from_u128(9) }];
        assert_eq!(image.apply_batch(&remove), Err(ApplyError::UnknownTopic(Uuid::from_u128(9))));
        let gap = [MetadataRecord::Partition {
            topic_id: Uuid::from_u128(1),
            partition_id: 2,
            leadership: Leadership::single_node(1),
        }];
        assert!(matches!(image.apply_batch(&gap), Err(ApplyError::PartitionGap { partition: 2, .. })));
        assert!(matches!(image.apply_batch(&creation(&topic("a", 4, 1))), Err(ApplyError::DuplicateTopic { .. })));
    }

    #[test]
    fn isr_changes_apply_only_in_the_current_leader_epoch_and_within_the_replicas() {
        let mut image = MetadataImage::default();
        let mut t = topic("a", 1, 1);
        t.partitions = vec![Leadership::new_partition(vec![1, 2, 3])];
        image.apply_batch(&creation(&t)).expect("a");
        let change = |leader_epoch: i32, isr: &[i32]| {
            [MetadataRecord::PartitionIsr {
                topic_id: Uuid::from_u128(1),
                partition_id: 0,
                leader_epoch,
                isr: isr.to_vec(),
                partition_epoch: None,
            }]
        };
        image.apply_batch(&change(0, &[1, 3])).expect("the leader shrinks its in-sync set");
        assert_eq!(image.topic(Uuid::from_u128(1)).map(|t| t.partitions[0].isr.clone()), Some(vec![1, 3]));
        assert!(matches!(image.apply_batch(&change(1, &[1])), Err(ApplyError::StaleLeaderEpoch { current: 0, .. })));
        assert!(
            matches!(image.apply_batch(&change(0, &[2, 3])), Err(ApplyError::InvalidIsr { .. })),
            "without the leader"
        );
        assert!(matches!(image.apply_batch(&change(0, &[1, 4])), Err(ApplyError::InvalidIsr { .. })), "not a replica");
        // Every change raises the partition epoch; a change worked out from an older one (two
        // proposed from the same state, the later committed second) is refused.
        let epoch = |image: &MetadataImage| image.topic(Uuid::from_u128(1)).map(|t| t.partitions[0].partition_epoch);
        assert_eq!(epoch(&image), Some(1), "one change so far");
        let from = |partition_epoch: i32, isr: &[i32]| {
            [MetadataRecord::PartitionIsr {
                topic_id: Uuid::from_u128(1),
                partition_id: 0,
                leader_epoch: 0,
                isr: isr.to_vec(),
                partition_epoch: Some(partition_epoch),
            }]
        };
        image.apply_batch(&from(1, &[1, 3, 2])).expect("a follower joins");
        let stale = image.apply_batch(&from(1, &[1]));
        assert!(matches!(stale, Err(ApplyError::StalePartitionEpoch { requested: 1, current: 2, .. })), "{stale:?}");
        assert_eq!(image.topic(Uuid::from_u128(1)).map(|t| t.partitions[0].isr.clone()), Some(vec![1, 3, 2]));
        // A leadership change raises it too.
        let elected = Leadership {
            leader: 3,
            leader_epoch: 1,
            ..image.topic(Uuid::from_u128(1)).expect("a").partitions[0].clone()
        };
        image
            .apply_batch(&[MetadataRecord::Partition {
                topic_id: Uuid::from_u128(1),
                partition_id: 0,
                leadership: elected,
            }])
            .expect("elected");
        assert_eq!(epoch(&image), Some(3));
    }

    #[test]
    fn config_changes_set_and_remove_only_what_differs() {
        let id = Uuid::from_u128(1);
        let old = BTreeMap::from([("a".to_string(), "1".to_string()), ("b".to_string(), "2".to_string())]);
        let new = BTreeMap::from([("b".to_string(), "2".to_string()), ("c".to_string(), "3".to_string())]);
        let names: Vec<_> = config_changes(id, &old, &new)
            .into_iter()
            .map(|r| match r {
                MetadataRecord::Config { name, value, .. } => (name, value),
                other => panic!("not a config record: {other:?}"),
            })
            .collect();
        assert_eq!(names, vec![("a".to_string(), None), ("c".to_string(), Some("3".to_string()))]);
    }
}
