//! Partition reassignments (Kafka's AlterPartitionReassignments, KIP-455): moving a partition to
//! another set of replicas without losing what it holds. The partition first gains the target's
//! new replicas beside its current ones (`adding_replicas`, which copy the leader's log as
//! followers); once every one of them is in sync, the replicas become the target, those left out
//! (`removing_replicas`) are dropped, and if the leader is among them the first live in-sync
//! replica of the target leads, in a new leader epoch. A cancelled reassignment drops the
//! replicas it was adding. Pure functions of the leadership; the image applies them.

use crate::leadership::Leadership;

/// Why a reassignment cannot be asked for (Kafka's error codes follow each).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReassignmentError {
    /// INVALID_REPLICA_ASSIGNMENT.
    #[error("the target replicas {0:?} are empty or name a broker twice")]
    InvalidTarget(Vec<i32>),
    /// INVALID_REPLICA_ASSIGNMENT.
    #[error("the target replicas name broker {0}, which is not registered")]
    UnknownBroker(i32),
    /// NO_REASSIGNMENT_IN_PROGRESS.
    #[error("no reassignment is in progress")]
    NoneInProgress,
}

/// `current` on its way to the replicas `target` (a reassignment under way is replaced: its
/// original replicas are the starting point), or already there when `target` adds no replica.
/// `registered` tells which broker ids exist; `live`, which are live (for a new leader).
pub fn reassign(
    current: &Leadership,
    target: &[i32],
    registered: impl Fn(i32) -> bool,
    live: impl Fn(i32) -> bool,
) -> Result<Leadership, ReassignmentError> {
    let mut seen = target.to_vec();
    seen.sort_unstable();
    seen.dedup();
    if target.is_empty() || seen.len() != target.len() {
        return Err(ReassignmentError::InvalidTarget(target.to_vec()));
    }
    if let Some(&unknown) = target.iter().find(|r| !registered(**r)) {
        return Err(ReassignmentError::UnknownBroker(unknown));
    }
    let original: Vec<i32> =
        current.replicas.iter().copied().filter(|r| !current.adding_replicas.contains(r)).collect();
    let adding: Vec<i32> = target.iter().copied().filter(|r| !original.contains(r)).collect();
    let removing: Vec<i32> = original.iter().copied().filter(|r| !target.contains(r)).collect();
    let replicas: Vec<i32> = target.iter().chain(&removing).copied().collect();
    let mut next = Leadership {
        isr: current.isr.iter().copied().filter(|r| replicas.contains(r)).collect(),
        replicas,
        adding_replicas: adding,
        removing_replicas: removing,
        ..current.clone()
    };
    if next.replicas.len() < current.replicas.len() {
        // Replicas a replaced reassignment was adding are dropped: they stop in this epoch.
        next.leader_epoch = next.leader_epoch.saturating_add(1);
    }
    Ok(complete_if_caught_up(&next, live).unwrap_or(next))
}

/// `current` without its reassignment: the replicas it was adding are dropped.
pub fn cancel(current: &Leadership) -> Result<Leadership, ReassignmentError> {
    if !current.is_reassigning() {
        return Err(ReassignmentError::NoneInProgress);
    }
    let kept = |r: &i32| !current.adding_replicas.contains(r);
    let dropped = !current.adding_replicas.is_empty();
    Ok(Leadership {
        replicas: current.replicas.iter().copied().filter(kept).collect(),
        isr: current.isr.iter().copied().filter(kept).collect(),
        leader_epoch: if dropped { current.leader_epoch.saturating_add(1) } else { current.leader_epoch },
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
        ..current.clone()
    })
}

/// The leadership that ends `current`'s reassignment, once every replica it adds is in sync:
/// the target replicas, the in-sync ones among them, and a new leader (the target's first live
/// in-sync replica) if the leader is being removed. Any replica removed starts a new leader
/// epoch, so it cannot act in the partition any more. `None` while replicas are catching up.
pub fn complete_if_caught_up(current: &Leadership, live: impl Fn(i32) -> bool) -> Option<Leadership> {
    if !current.is_reassigning() || !current.adding_replicas.iter().all(|r| current.isr.contains(r)) {
        return None;
    }
    let target: Vec<i32> =
        current.replicas.iter().copied().filter(|r| !current.removing_replicas.contains(r)).collect();
    let isr: Vec<i32> = current.isr.iter().copied().filter(|r| target.contains(r)).collect();
    let leader = if target.contains(&current.leader) {
        current.leader
    } else {
        target.iter().copied().find(|r| isr.contains(r) && live(*r)).unwrap_or(-1)
    };
    let changed = leader != current.leader || !current.removing_replicas.is_empty();
    Some(Leadership {
        leader,
        leader_epoch: if changed { current.leader_epoch.saturating_add(1) } else { current.leader_epoch },
        replicas: target,
        isr,
        offline_replicas: current.offline_replicas.clone(),
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
        partition_epoch: current.partition_epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leadership(leader: i32, replicas: &[i32], isr: &[i32]) -> Leadership {
        Leadership { leader, isr: isr.to_vec(), ..Leadership::new_partition(replicas.to_vec()) }
    }

    #[test]
    fn a_partition_gains_its_new_replicas_first_and_drops_the_old_once_they_are_in_sync() {
        let all = |_: i32| true;
        let moving = reassign(&leadership(1, &[1, 2], &[1, 2]), &[3, 2], all, all).expect("valid");
        assert_eq!(
            (moving.replicas.clone(), moving.adding_replicas.clone(), moving.removing_replicas.clone()),
            (vec![3, 2, 1], vec![3], vec![1])
        );
        assert_eq!((moving.leader, moving.leader_epoch, moving.isr.clone()), (1, 0, vec![1, 2]), "nothing moves yet");
        assert_eq!(complete_if_caught_up(&moving, all), None, "3 is not in sync yet");

        let caught_up = Leadership { isr: vec![1, 2, 3], ..moving.clone() };
        let done = complete_if_caught_up(&caught_up, all).expect("complete");
        assert_eq!(
            (done.leader, done.leader_epoch, done.replicas.clone(), done.isr.clone()),
            (3, 1, vec![3, 2], vec![2, 3])
        );
        assert!(!done.is_reassigning());
        // The new leader must be live: the next live in-sync one of the target leads instead.
        let done = complete_if_caught_up(&caught_up, |r| r != 3).expect("complete");
        assert_eq!(done.leader, 2);
    }

    #[test]
    fn shrinking_completes_at_once_and_cancelling_drops_what_was_being_added() {
        let all = |_: i32| true;
        let shrunk = reassign(&leadership(2, &[1, 2, 3], &[1, 2, 3]), &[2, 3], all, all).expect("valid");
        assert_eq!((shrunk.leader, shrunk.leader_epoch, shrunk.replicas, shrunk.isr), (2, 1, vec![2, 3], vec![2, 3]));

        let moving = reassign(&leadership(1, &[1], &[1]), &[2], all, all).expect("valid");
        let cancelled = cancel(&moving).expect("in progress");
        assert_eq!(
            (cancelled.replicas, cancelled.isr, cancelled.leader, cancelled.leader_epoch),
            (vec![1], vec![1], 1, 1)
        );
        assert_eq!(cancel(&leadership(1, &[1], &[1])), Err(ReassignmentError::NoneInProgress));

        // A new target replaces a reassignment under way, from its original replicas.
        let again = reassign(&moving, &[3], all, all).expect("valid");
        assert_eq!((again.replicas, again.adding_replicas, again.removing_replicas), (vec![3, 1], vec![3], vec![1]));
    }

    #[test]
    fn targets_must_be_distinct_registered_brokers() {
        let current = leadership(1, &[1], &[1]);
        let known = |r: i32| r <= 3;
        assert_eq!(reassign(&current, &[], known, known), Err(ReassignmentError::InvalidTarget(vec![])));
        assert_eq!(reassign(&current, &[2, 2], known, known), Err(ReassignmentError::InvalidTarget(vec![2, 2])));
        assert_eq!(reassign(&current, &[2, 9], known, known), Err(ReassignmentError::UnknownBroker(9)));
    }
}
