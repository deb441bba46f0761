//! Replica placement for new partitions (CreateTopics, CreatePartitions, auto-created topics),
//! with Kafka's guarantees and Kafka's refusals:
//!
//! - each partition gets `replication_factor` distinct brokers, the first being its preferred
//!   leader;
//! - replicas go to as many racks (`broker.rack`) as there are, before any rack gets a second;
//!   a broker without a rack counts as a rack of its own;
//! - leaders and replicas are spread evenly: brokers are taken round-robin from a list that
//!   alternates racks, and followers follow their leader at a shift that changes every round,
//!   so each round of as many partitions as brokers gives every broker the same share;
//! - a `seed` (Kafka draws a random one) picks where a topic's round-robin starts, so that many
//!   small topics do not all lead on the same broker.
//!
//! Refusals carry Kafka's messages (INVALID_REPLICATION_FACTOR), e.g. "Unable to replicate the
//! partition 3 time(s): The target replication factor of 3 cannot be reached because only 1
//! broker(s) are registered."

use std::collections::{BTreeMap, BTreeSet};

/// A broker that may take new replicas: registered, not fenced, not shutting down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsableBroker {
    pub id: i32,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("Invalid replication factor {0}: the replication factor must be positive.")]
    NonPositiveReplicationFactor(i32),
    #[error("Invalid partition count {0}: the partition count must be positive.")]
    NonPositivePartitions(i32),
    #[error("All brokers are currently fenced.")]
    NoUsableBroker,
    #[error(
        "Unable to replicate the partition {replication_factor} time(s): The target replication factor of \
         {replication_factor} cannot be reached because only {brokers} broker(s) are registered."
    )]
    TooFewBrokers { replication_factor: i32, brokers: usize },
}

/// The replicas, preferred leader first, of partitions `first_partition ..
/// first_partition + partitions` of one topic, over `brokers` (in any order). The same inputs
/// always give the same placement.
pub fn place(
    brokers: &[UsableBroker],
    first_partition: i32,
    partitions: i32,
    replication_factor: i32,
    seed: u64,
) -> Result<Vec<Vec<i32>>, PlacementError> {
    if replication_factor <= 0 {
        return Err(PlacementError::NonPositiveReplicationFactor(replication_factor));
    }
    if partitions <= 0 {
        return Err(PlacementError::NonPositivePartitions(partitions));
    }
    if brokers.is_empty() {
        return Err(PlacementError::NoUsableBroker);
    }
    // Validated positive above, so these conversions cannot fail.
    let rf = usize::try_from(replication_factor).unwrap_or(usize::MAX);
    if rf > brokers.len() {
        return Err(PlacementError::TooFewBrokers { replication_factor, brokers: brokers.len() });
    }
    let ring = rack_alternating(brokers, seed);
    let n = ring.len();
    let racks = ring.iter().map(|b| b.rack.clone()).collect::<BTreeSet<_>>().len();
    let start = usize::try_from(seed % n as u64).unwrap_or(0);
    let shift0 = usize::try_from((seed / n as u64) % n as u64).unwrap_or(0);
    let first = usize::try_from(first_partition.max(0)).unwrap_or(0);
    let count = usize::try_from(partitions).unwrap_or(0);
    Ok((first..first + count).map(|k| partition(&ring, racks, rf, start + k, shift0 + k / n)).collect())
}

/// A broker and its rack key: a broker without a rack is a rack of its own.
#[derive(Debug, Clone)]
struct Slot {
    id: i32,
    rack: RackKey,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum RackKey {
    Named(String),
    Alone(i32),
}

/// The brokers in round-robin order: one from each rack in turn (racks and the brokers within
/// each rotated by `seed`), so that consecutive brokers sit on different racks where they can.
fn rack_alternating(brokers: &[UsableBroker], seed: u64) -> Vec<Slot> {
    let mut by_rack: BTreeMap<RackKey, Vec<i32>> = BTreeMap::new();
    for b in brokers {
        let rack = b.rack.clone().map_or(RackKey::Alone(b.id), RackKey::Named);
        by_rack.entry(rack).or_default().push(b.id);
    }
    let mut racks: Vec<(RackKey, Vec<i32>)> = by_rack.into_iter().collect();
    for (_, ids) in &mut racks {
        ids.sort_unstable();
        ids.dedup();
        let turn = usize::try_from(seed % ids.len() as u64).unwrap_or(0);
        ids.rotate_left(turn);
    }
    let turn = usize::try_from(seed % racks.len() as u64).unwrap_or(0);
    racks.rotate_left(turn);
    let deepest = racks.iter().map(|(_, ids)| ids.len()).max().unwrap_or(0);
    let mut ring = Vec::with_capacity(brokers.len());
    for depth in 0..deepest {
        for (rack, ids) in &racks {
            if let Some(&id) = ids.get(depth) {
                ring.push(Slot { id, rack: rack.clone() });
            }
        }
    }
    ring
}

/// One partition's replicas: the leader at `position` in the ring, then followers in the order
/// `position + 1 + (shift + j) mod (n - 1)`, each time the first one on a rack the partition does
/// not use yet (any rack once all are used).
fn partition(ring: &[Slot], racks: usize, rf: usize, position: usize, shift: usize) -> Vec<i32> {
    let n = ring.len();
    let leader = &ring[position % n];
    let mut replicas = vec![leader.id];
    if n == 1 {
        return replicas;
    }
    let followers: Vec<&Slot> = (0..n - 1).map(|j| &ring[(position + 1 + (shift + j) % (n - 1)) % n]).collect();
    let mut racks_used: BTreeSet<&RackKey> = BTreeSet::from([&leader.rack]);
    while replicas.len() < rf {
        if racks_used.len() == racks {
            racks_used.clear();
        }
        let unused = |s: &&&Slot| !replicas.contains(&s.id);
        let next = followers
            .iter()
            .filter(unused)
            .find(|s| !racks_used.contains(&s.rack))
            .or_else(|| followers.iter().find(unused));
        let Some(next) = next else {
            debug_assert!(false, "fewer brokers than the replication factor passed the check");
            break;
        };
        replicas.push(next.id);
        racks_used.insert(&next.rack);
    }
    replicas
}

#[cfg(test)]
mod tests;
