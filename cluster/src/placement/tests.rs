//! Placement's guarantees, by example and as properties over any brokers, racks and shapes.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

fn brokers(racks: &[Option<&str>]) -> Vec<UsableBroker> {
    (0..).zip(racks).map(|(id, rack)| UsableBroker { id, rack: rack.map(str::to_owned) }).collect()
}

fn counts(placement: &[Vec<i32>], only_leaders: bool) -> BTreeMap<i32, usize> {
    let mut counts = BTreeMap::new();
    for replicas in placement {
        let take = if only_leaders { 1 } else { replicas.len() };
        for &b in &replicas[..take] {
            *counts.entry(b).or_default() += 1;
        }
    }
    counts
}

#[test]
fn kafkas_refusals() {
    let three = brokers(&[None, None, None]);
    assert_eq!(
        place(&three, 0, 1, 4, 0).expect_err("rf 4").to_string(),
        "Unable to replicate the partition 4 time(s): The target replication factor of 4 cannot be reached \
         because only 3 broker(s) are registered."
    );
    assert_eq!(place(&[], 0, 1, 1, 0), Err(PlacementError::NoUsableBroker));
    assert_eq!(place(&three, 0, 1, 0, 0), Err(PlacementError::NonPositiveReplicationFactor(0)));
    assert_eq!(place(&three, 0, 0, 1, 0), Err(PlacementError::NonPositivePartitions(0)));
}

#[test]
fn one_broker_holds_everything() {
    let one = brokers(&[None]);
    assert_eq!(place(&one, 0, 3, 1, 42).expect("place"), vec![vec![0], vec![0], vec![0]]);
}

#[test]
fn three_brokers_three_partitions_replicated_three_times_lead_once_each() {
    let three = brokers(&[None, None, None]);
    let placement = place(&three, 0, 3, 3, 7).expect("place");
    let leaders: BTreeSet<i32> = placement.iter().map(|r| r[0]).collect();
    assert_eq!(leaders, BTreeSet::from([0, 1, 2]));
    for replicas in &placement {
        assert_eq!(replicas.iter().collect::<BTreeSet<_>>().len(), 3, "{placement:?}");
    }
}

#[test]
fn racks_are_used_before_any_rack_gets_a_second_replica() {
    // Rack a has four brokers, rack b two: every partition still spans both racks.
    let skewed = brokers(&[Some("a"), Some("a"), Some("a"), Some("a"), Some("b"), Some("b")]);
    for seed in 0..50 {
        for replicas in place(&skewed, 0, 12, 2, seed).expect("place") {
            let racks: BTreeSet<_> = replicas.iter().map(|&b| skewed[b as usize].rack.clone()).collect();
            assert_eq!(racks.len(), 2, "seed {seed}: {replicas:?}");
        }
    }
}

proptest! {
    /// Any brokers, racks or not, any shape the brokers allow: every partition gets distinct
    /// usable brokers, spans min(rf, racks) racks, and the same inputs give the same answer.
    #[test]
    fn replicas_are_distinct_usable_and_spread_over_racks(
        racks in proptest::collection::vec(proptest::option::of(0u8..4), 1..12),
        partitions in 1i32..60,
        first in 0i32..20,
        rf_pick in 0usize..12,
        seed in any::<u64>(),
    ) {
        let names: Vec<Option<String>> = racks.iter().map(|r| r.map(|r| format!("rack-{r}"))).collect();
        let brokers: Vec<UsableBroker> =
            (0..).zip(&names).map(|(id, rack)| UsableBroker { id: id * 10 + 3, rack: rack.clone() }).collect();
        let rf = i32::try_from(rf_pick % brokers.len() + 1).expect("small");
        let placement = place(&brokers, first, partitions, rf, seed).expect("place");
        prop_assert_eq!(placement.len(), partitions as usize);
        let rack_of: BTreeMap<i32, RackKey> = brokers
            .iter()
            .map(|b| (b.id, b.rack.clone().map_or(RackKey::Alone(b.id), RackKey::Named)))
            .collect();
        let rack_count = rack_of.values().collect::<BTreeSet<_>>().len();
        for replicas in &placement {
            prop_assert_eq!(replicas.len(), rf as usize);
            prop_assert_eq!(replicas.iter().collect::<BTreeSet<_>>().len(), rf as usize, "distinct: {:?}", replicas);
            prop_assert!(replicas.iter().all(|b| rack_of.contains_key(b)));
            let spanned = replicas.iter().map(|b| &rack_of[b]).collect::<BTreeSet<_>>().len();
            prop_assert_eq!(spanned, (rf as usize).min(rack_count), "racks of {:?}", replicas);
        }
        prop_assert_eq!(place(&brokers, first, partitions, rf, seed).expect("again"), placement);
    }

    /// Without racks: leaders differ by at most one partition between brokers, and every full
    /// round of as many partitions as brokers gives each broker exactly rf replicas.
    #[test]
    fn leaders_and_replicas_are_balanced_without_racks(
        n in 1usize..10,
        rounds in 1usize..6,
        extra in 0usize..10,
        rf_pick in 0usize..10,
        seed in any::<u64>(),
    ) {
        let brokers = brokers(&vec![None; n]);
        let rf = rf_pick % n + 1;
        let full = n * rounds;
        let placement = place(&brokers, 0, full as i32, rf as i32, seed).expect("place");
        let replicas = counts(&placement, false);
        prop_assert!(replicas.len() == n && replicas.values().all(|&c| c == rounds * rf), "{:?}", replicas);
        let partial = place(&brokers, 0, (full + extra % n) as i32, rf as i32, seed).expect("place");
        let leaders = counts(&partial, true);
        let most = leaders.values().max().copied().unwrap_or(0);
        let least = if leaders.len() < n { 0 } else { leaders.values().min().copied().unwrap_or(0) };
        prop_assert!(most - least <= 1, "leaders {:?}", leaders);
    }

    /// CreatePartitions continues a topic's pattern: placing partitions k.. alone gives what
    /// placing 0.. gave them.
    #[test]
    fn added_partitions_continue_the_topic(n in 1usize..8, first in 0i32..30, seed in any::<u64>()) {
        let brokers = brokers(&vec![None; n]);
        let all = place(&brokers, 0, first + 5, 1, seed).expect("all");
        let added = place(&brokers, first, 5, 1, seed).expect("added");
        prop_assert_eq!(&all[first as usize..], &added[..]);
    }
}
