//! Leader elections an operator asks for (Kafka's ElectLeaders): a preferred election moves a
//! partition's leadership back to its preferred replica (the first) when that replica is live and
//! in sync; an unclean election gives a leaderless partition a leader, from the in-sync replicas
//! if one is live, else from any live replica (which may lack acknowledged records: the loss an
//! operator accepts by asking). Each election is a new leader epoch.

use crate::leadership::Leadership;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

/// What asking for an election of one partition gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Election {
    /// The partition's new leadership.
    Elected(Leadership),
    /// Preferred: the preferred replica leads already. Unclean: the partition has a leader.
    NotNeeded,
    /// Preferred: the preferred replica is not live or not in sync.
    PreferredNotAvailable,
    /// Unclean: no replica is live.
    NoEligibleLeader,
}

/// The election of `current` that `kind` asks for, with `live` telling which brokers are live.
pub fn elect(current: &Leadership, kind: ElectionType, live: impl Fn(i32) -> bool) -> Election {
    let Some(epoch) = current.leader_epoch.checked_add(1) else { return Election::NoEligibleLeader };
    match kind {
        ElectionType::Preferred => {
            let Some(&preferred) = current.replicas.first() else { return Election::PreferredNotAvailable };
            if current.leader == preferred {
                Election::NotNeeded
            } else if live(preferred) && current.isr.contains(&preferred) {
                Election::Elected(Leadership { leader: preferred, leader_epoch: epoch, ..current.clone() })
            } else {
                Election::PreferredNotAvailable
            }
        }
        ElectionType::Unclean => {
            if current.leader >= 0 {
                return Election::NotNeeded;
            }
            if let Some(&clean) = current.isr.iter().find(|r| live(**r)) {
                return Election::Elected(Leadership { leader: clean, leader_epoch: epoch, ..current.clone() });
            }
            match current.replicas.iter().find(|r| live(**r)) {
                Some(&unclean) => Election::Elected(Leadership {
                    leader: unclean,
                    leader_epoch: epoch,
                    isr: vec![unclean],
                    ..current.clone()
                }),
                None => Election::NoEligibleLeader,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leadership(leader: i32, replicas: &[i32], isr: &[i32]) -> Leadership {
        Leadership {
            leader,
            leader_epoch: 4,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            offline_replicas: Vec::new(),
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
            partition_epoch: 0,
        }
    }

    #[test]
    fn preferred_elections_move_leadership_back_only_to_a_live_in_sync_preferred_replica() {
        let all_live = |_: i32| true;
        assert_eq!(elect(&leadership(1, &[1, 2], &[1, 2]), ElectionType::Preferred, all_live), Election::NotNeeded);
        let moved = elect(&leadership(2, &[1, 2], &[1, 2]), ElectionType::Preferred, all_live);
        assert_eq!(
            moved,
            Election::Elected(Leadership { leader: 1, leader_epoch: 5, ..leadership(2, &[1, 2], &[1, 2]) })
        );
        let out_of_sync = elect(&leadership(2, &[1, 2], &[2]), ElectionType::Preferred, all_live);
        assert_eq!(out_of_sync, Election::PreferredNotAvailable);
        let down = elect(&leadership(2, &[1, 2], &[1, 2]), ElectionType::Preferred, |b| b != 1);
        assert_eq!(down, Election::PreferredNotAvailable);
    }

    #[test]
    fn unclean_elections_prefer_the_in_sync_replicas_then_take_any_live_one() {
        assert_eq!(elect(&leadership(1, &[1, 2], &[1]), ElectionType::Unclean, |_| true), Election::NotNeeded);
        let clean = elect(&leadership(-1, &[1, 2, 3], &[1, 3]), ElectionType::Unclean, |b| b != 1);
        assert!(matches!(clean, Election::Elected(Leadership { leader: 3, leader_epoch: 5, .. })));
        let unclean = elect(&leadership(-1, &[1, 2], &[1]), ElectionType::Unclean, |b| b == 2);
        assert_eq!(
            unclean,
            Election::Elected(Leadership { leader: 2, leader_epoch: 5, ..leadership(-1, &[1, 2], &[2]) })
        );
        assert_eq!(elect(&leadership(-1, &[1, 2], &[1]), ElectionType::Unclean, |_| false), Election::NoEligibleLeader);
    }
}
