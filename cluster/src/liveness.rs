//! Broker liveness, as the active controller decides it: a broker heard from within the session
//! timeout is unfenced, one not heard from is fenced, and partition leadership follows; a broker
//! that shuts down cleanly fences itself the same way first ([`shutdown_changes`]). The
//! controller passes in when it last heard from each broker and the time now; this module reads
//! no clock.
//!
//! Leadership follows Kafka's rules for a fenced leader: another in-sync replica on a live broker
//! takes over in the next leader epoch; with none, the partition has no leader (-1) and keeps its
//! in-sync set, and the broker leads it again, in a new epoch, once it is unfenced. Where
//! `unclean.leader.election.enable` holds (the topic's setting, else the broker's), a partition
//! with no live in-sync replica is given any live replica instead, alone in its in-sync set: it
//! is available again, and whatever that replica lacks is lost. A fenced
//! follower leaves the in-sync replicas of the partitions it follows (as Kafka's controller
//! removes fenced brokers from ISRs), so acks=all stops waiting for it; its leader adds it back
//! once it has caught up.

use std::collections::BTreeMap;

use crate::image::MetadataImage;
use crate::leadership::Leadership;
use crate::records::MetadataRecord;

/// The topic setting that lets a replica outside the in-sync set lead.
pub const UNCLEAN_ELECTION: &str = "unclean.leader.election.enable";

/// The records that bring the image in line with who is alive: `last_heard_ms[b]` is when broker
/// `b` last heartbeat (brokers missing from it are treated as never heard); `unclean_default` is
/// the broker's `unclean.leader.election.enable`, for topics that do not set it.
pub fn liveness_changes(
    image: &MetadataImage,
    last_heard_ms: &BTreeMap<i32, i64>,
    now_ms: i64,
    session_timeout_ms: i64,
    unclean_default: bool,
) -> Vec<MetadataRecord> {
    let alive = |id: i32| last_heard_ms.get(&id).is_some_and(|t| now_ms - t <= session_timeout_ms);
    let mut records = Vec::new();
    let mut fenced_now = Vec::new();
    let mut unfenced_now = Vec::new();
    for broker in image.brokers() {
        match (broker.fenced, alive(broker.broker_id)) {
            (true, true) => unfenced_now.push(broker.broker_id),
            (false, false) => fenced_now.push(broker.broker_id),
            _ => {}
        }
    }
    let live = |id: i32| {
        !fenced_now.contains(&id) && (unfenced_now.contains(&id) || image.broker(id).is_some_and(|b| !b.fenced))
    };
    for id in &fenced_now {
        records.push(MetadataRecord::BrokerFencing { broker_id: *id, fenced: true });
    }
    for id in &unfenced_now {
        records.push(MetadataRecord::BrokerFencing { broker_id: *id, fenced: false });
    }
    for topic in image.topics() {
        let unclean = topic.overrides.get(UNCLEAN_ELECTION).map_or(unclean_default, |v| v.eq_ignore_ascii_case("true"));
        for (partition_id, leadership) in (0..).zip(&topic.partitions) {
            if let Some(next) = next_leadership(leadership, &live, unclean) {
                records.push(MetadataRecord::Partition { topic_id: topic.id, partition_id, leadership: next });
            }
        }
    }
    records
}

/// What a broker's controlled shutdown commits before it stops (Kafka's controlled shutdown): it
/// is fenced, its partitions move to another in-sync replica on a live broker or, with none,
/// are left without a leader until it is back, and it leaves the in-sync replicas of the
/// partitions it follows. Nothing else changes.
pub fn shutdown_changes(image: &MetadataImage, node: i32) -> Vec<MetadataRecord> {
    if image.broker(node).is_none_or(|b| b.fenced) {
        return Vec::new();
    }
    let live = |id: i32| id != node && image.broker(id).is_some_and(|b| !b.fenced);
    let mut records = vec![MetadataRecord::BrokerFencing { broker_id: node, fenced: true }];
    for topic in image.topics() {
        for (partition_id, leadership) in (0..).zip(&topic.partitions) {
            let follows = leadership.leader >= 0 && leadership.isr.contains(&node);
            if leadership.leader != node && !follows {
                continue;
            }
            // A shutdown is never a reason for an unclean election.
            if let Some(next) = next_leadership(leadership, &live, false) {
                records.push(MetadataRecord::Partition { topic_id: topic.id, partition_id, leadership: next });
            }
        }
    }
    records
}

/// The partition's leadership once the live brokers are `live`, if it changes; `unclean` lets a
/// live replica outside the in-sync set lead when no in-sync one is live.
fn next_leadership(current: &Leadership, live: &impl Fn(i32) -> bool, unclean: bool) -> Option<Leadership> {
    let bump = current.leader_epoch.checked_add(1)?;
    let out_of_sync = || {
        let chosen = current.replicas.iter().copied().find(|r| unclean && *r != current.leader && live(*r))?;
        Some(Leadership { leader: chosen, leader_epoch: bump, isr: vec![chosen], ..current.clone() })
    };
    if current.leader >= 0 && !live(current.leader) {
        let successor = current.isr.iter().copied().find(|r| *r != current.leader && live(*r));
        let next = match successor {
            Some(next) => Leadership {
                leader: next,
                leader_epoch: bump,
                isr: current.isr.iter().copied().filter(|r| *r != current.leader).collect(),
                ..current.clone()
            },
            None => out_of_sync().unwrap_or(Leadership { leader: -1, leader_epoch: bump, ..current.clone() }),
        };
        return Some(next);
    }
    if current.leader < 0 {
        return match current.isr.iter().copied().find(|r| live(*r)) {
            Some(back) => Some(Leadership { leader: back, leader_epoch: bump, ..current.clone() }),
            None => out_of_sync(),
        };
    }
    // A live leader: fenced followers leave its in-sync set, in the same leader epoch.
    let isr: Vec<i32> = current.isr.iter().copied().filter(|r| *r == current.leader || live(*r)).collect();
    (isr.len() != current.isr.len()).then(|| Leadership { isr, ..current.clone() })
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::image::{TopicImage, creation};
    use crate::records::BrokerRegistration;

    fn register(image: &mut MetadataImage, id: i32, fenced: bool) {
        let registration = BrokerRegistration {
            broker_id: id,
            incarnation_id: Uuid::from_u128(id as u128),
            host: "h".into(),
            port: id,
            rack: None,
            fenced,
        };
        image.apply_batch(&[MetadataRecord::RegisterBroker(registration)]).expect("register");
    }

    fn image_with(leaderships: Vec<Leadership>) -> MetadataImage {
        let mut image = MetadataImage::default();
        for id in 1..=3 {
            register(&mut image, id, false);
        }
        let topic = TopicImage {
            name: "t".into(),
            id: Uuid::from_u128(7),
            internal: false,
            partitions: leaderships,
            overrides: BTreeMap::new(),
        };
        image.apply_batch(&creation(&topic)).expect("topic");
        image
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        image.apply_batch(records).expect("changes apply");
    }

    #[test]
    fn a_silent_broker_is_fenced_and_its_partitions_lose_or_move_their_leader() {
        let alone = Leadership::new_partition(vec![2]);
        let shared = Leadership { isr: vec![2, 3], ..Leadership::new_partition(vec![2, 3]) };
        let elsewhere = Leadership::new_partition(vec![1]);
        let mut image = image_with(vec![alone, shared, elsewhere.clone()]);
        let heard = BTreeMap::from([(1, 10_000), (2, 500), (3, 10_000)]);
        let changes = liveness_changes(&image, &heard, 10_000, 9_000, false);
        apply(&mut image, &changes);
        assert_eq!(image.broker(2).map(|b| b.fenced), Some(true));
        let topic = image.topic(Uuid::from_u128(7)).expect("topic");
        assert_eq!((topic.partitions[0].leader, topic.partitions[0].leader_epoch), (-1, 1));
        assert_eq!(topic.partitions[0].isr, vec![2], "no other replica has the data: the in-sync set stays");
        assert_eq!((topic.partitions[1].leader, topic.partitions[1].isr.clone()), (3, vec![3]));
        assert_eq!(topic.partitions[2], elsewhere);
        assert!(liveness_changes(&image, &heard, 10_000, 9_000, false).is_empty(), "nothing more to change");

        // Broker 2 heartbeats again: unfenced, and it leads its partition again in a new epoch.
        let heard = BTreeMap::from([(1, 20_000), (2, 20_000), (3, 20_000)]);
        let changes = liveness_changes(&image, &heard, 20_000, 9_000, false);
        apply(&mut image, &changes);
        let topic = image.topic(Uuid::from_u128(7)).expect("topic");
        assert_eq!(image.broker(2).map(|b| b.fenced), Some(false));
        assert_eq!((topic.partitions[0].leader, topic.partitions[0].leader_epoch), (2, 2));
        assert_eq!(topic.partitions[1].leader, 3, "a partition that moved stays with its new leader");
    }

    #[test]
    fn an_unclean_election_gives_a_partition_with_no_live_in_sync_replica_any_live_replica() {
        // Replicas 2 and 3; only 2 in sync, and 2 falls silent.
        let lagging = Leadership { isr: vec![2], ..Leadership::new_partition(vec![2, 3]) };
        let heard = BTreeMap::from([(1, 10_000), (2, 500), (3, 10_000)]);
        let mut clean = image_with(vec![lagging.clone()]);
        let changes = liveness_changes(&clean, &heard, 10_000, 9_000, false);
        apply(&mut clean, &changes);
        let topic = clean.topic(Uuid::from_u128(7)).expect("topic");
        assert_eq!((topic.partitions[0].leader, topic.partitions[0].isr.clone()), (-1, vec![2]), "by default");

        // The broker's setting, or the topic's, lets replica 3 lead: alone in sync, a new epoch.
        let mut unclean = image_with(vec![lagging]);
        let changes = liveness_changes(&unclean, &heard, 10_000, 9_000, true);
        apply(&mut unclean, &changes);
        let p = &unclean.topic(Uuid::from_u128(7)).expect("topic").partitions[0];
        assert_eq!((p.leader, p.leader_epoch, p.isr.clone()), (3, 1, vec![3]));
        let set = MetadataRecord::Config {
            resource: crate::records::ConfigResource::Topic { topic_id: Uuid::from_u128(7) },
            name: UNCLEAN_ELECTION.into(),
            value: Some("true".into()),
        };
        apply(&mut clean, &[set]);
        let changes = liveness_changes(&clean, &heard, 10_000, 9_000, false);
        apply(&mut clean, &changes);
        let p = &clean.topic(Uuid::from_u128(7)).expect("topic").partitions[0];
        assert_eq!((p.leader, p.leader_epoch, p.isr.clone()), (3, 2, vec![3]), "a leaderless partition too");
    }

    #[test]
    fn a_controlled_shutdown_fences_the_broker_and_moves_only_its_partitions() {
        let alone = Leadership::new_partition(vec![2]);
        let shared = Leadership { isr: vec![2, 3], ..Leadership::new_partition(vec![2, 3]) };
        let fenced_elsewhere = Leadership { leader: -1, ..Leadership::new_partition(vec![1]) };
        let followed = Leadership::new_partition(vec![3, 2]);
        let mut image = image_with(vec![alone, shared, fenced_elsewhere.clone(), followed]);
        let changes = shutdown_changes(&image, 2);
        apply(&mut image, &changes);
        let topic = image.topic(Uuid::from_u128(7)).expect("topic");
        assert_eq!(image.broker(2).map(|b| b.fenced), Some(true));
        assert_eq!((topic.partitions[0].leader, topic.partitions[0].leader_epoch), (-1, 1));
        assert_eq!((topic.partitions[1].leader, topic.partitions[1].isr.clone()), (3, vec![3]));
        assert_eq!(topic.partitions[2], fenced_elsewhere, "another broker's leaderless partition is left alone");
        let follower_left =
            (topic.partitions[3].leader, topic.partitions[3].leader_epoch, topic.partitions[3].isr.clone());
        assert_eq!(follower_left, (3, 0, vec![3]), "it leaves the in-sync set it followed in, same leader epoch");
        assert!(shutdown_changes(&image, 2).is_empty(), "already fenced");
    }

    #[test]
    fn a_newly_registered_broker_is_unfenced_by_its_first_heartbeat() {
        let mut image = MetadataImage::default();
        register(&mut image, 4, true);
        assert!(liveness_changes(&image, &BTreeMap::new(), 1_000, 9_000, false).is_empty(), "not heard yet");
        let changes = liveness_changes(&image, &BTreeMap::from([(4, 900)]), 1_000, 9_000, false);
        assert_eq!(changes, vec![MetadataRecord::BrokerFencing { broker_id: 4, fenced: false }]);
    }
}
