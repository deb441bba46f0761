//! A share group's membership (KIP-932's ShareGroupHeartbeat): members join with epoch 0 and the
//! topics they subscribe to, heartbeat with their member epoch, and leave with epoch -1; the
//! coordinator assigns the subscribed topics' partitions itself, as Kafka's simple share assignor
//! does: with no more members than partitions each partition goes to one member, with more
//! members some partitions are shared (the records of a partition are still each delivered to
//! one member at a time, `crate::partition`). The group epoch moves on with every change of the
//! assignment; a member gets its new assignment with the group epoch as its member epoch. A
//! member not heard from for the session timeout is removed.

use std::collections::{BTreeMap, BTreeSet};

/// A topic's partition, by topic name.
pub type TopicPartition = (String, i32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeartbeatError {
    /// INVALID_REQUEST.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// UNKNOWN_MEMBER_ID: a heartbeat (epoch above 0) from a member the group does not have.
    #[error("unknown member {0}")]
    UnknownMember(String),
    /// FENCED_MEMBER_EPOCH: the member's epoch is not the one it was given; it rejoins.
    #[error("member {member} sent epoch {sent}, its epoch is {current}")]
    FencedMemberEpoch { member: String, sent: i32, current: i32 },
}

/// What a heartbeat is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatReply {
    /// The member's epoch (-1 after leaving).
    pub member_epoch: i32,
    /// The member's partitions, when they changed since it was last told (or it joined).
    pub assignment: Option<Vec<TopicPartition>>,
}

#[derive(Debug, Clone)]
struct Member {
    epoch: i32,
    subscribed: BTreeSet<String>,
    last_heard_ms: i64,
    /// The partitions it was last told of.
    told: Option<Vec<TopicPartition>>,
}

/// A member as ShareGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub member_id: String,
    pub member_epoch: i32,
    pub subscribed: Vec<String>,
    /// Its partitions as it was last told of them.
    pub assignment: Vec<TopicPartition>,
}

/// One share group's members and their assignment.
#[derive(Debug, Clone, Default)]
pub struct ShareGroup {
    epoch: i32,
    members: BTreeMap<String, Member>,
    assignment: BTreeMap<String, Vec<TopicPartition>>,
}

impl ShareGroup {
    pub fn epoch(&self) -> i32 {
        self.epoch
    }

    /// Whether the group has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The members' ids.
    pub fn members(&self) -> impl Iterator<Item = &str> {
        self.members.keys().map(String::as_str)
    }

    /// The group's state as Kafka names it: Empty, or Stable with members.
    pub fn state(&self) -> &'static str {
        if self.members.is_empty() { "Empty" } else { "Stable" }
    }

    /// Every member, by id.
    pub fn describe(&self) -> Vec<MemberView> {
        self.members
            .iter()
            .map(|(id, m)| MemberView {
                member_id: id.clone(),
                member_epoch: m.epoch,
                subscribed: m.subscribed.iter().cloned().collect(),
                assignment: m.told.clone().unwrap_or_default(),
            })
            .collect()
    }

    /// A member's heartbeat at `now_ms`: epoch 0 joins (or rejoins) with `subscribed` topics,
    /// -1 leaves, any other must be the member's current epoch. `subscribed` is `None` when
    /// unchanged. `partitions` gives the partition count of an existing topic.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        member_epoch: i32,
        subscribed: Option<&[String]>,
        partitions: impl Fn(&str) -> Option<i32>,
        now_ms: i64,
    ) -> Result<HeartbeatReply, HeartbeatError> {
        if member_id.is_empty() {
            return Err(HeartbeatError::InvalidRequest("MemberId can't be empty."));
        }
        match member_epoch {
            -1 => {
                self.leave(member_id, &partitions);
                return Ok(HeartbeatReply { member_epoch: -1, assignment: None });
            }
            0 => {
                let Some(topics) = subscribed.filter(|t| !t.is_empty()) else {
                    return Err(HeartbeatError::InvalidRequest("SubscribedTopicNames must be set in first request."));
                };
                let member = Member {
                    epoch: 0,
                    subscribed: topics.iter().cloned().collect(),
                    last_heard_ms: now_ms,
                    told: None,
                };
                self.members.insert(member_id.to_string(), member);
            }
            sent => {
                let member =
                    self.members.get_mut(member_id).ok_or_else(|| HeartbeatError::UnknownMember(member_id.into()))?;
                if sent != member.epoch {
                    return Err(HeartbeatError::FencedMemberEpoch {
                        member: member_id.to_string(),
                        sent,
                        current: member.epoch,
                    });
                }
                member.last_heard_ms = now_ms;
                if let Some(topics) = subscribed {
                    member.subscribed = topics.iter().cloned().collect();
                }
            }
        }
        self.reassign(&partitions);
        let epoch = self.epoch;
        let assigned = self.assignment.get(member_id).cloned().unwrap_or_default();
        let member = self.members.get_mut(member_id).ok_or_else(|| HeartbeatError::UnknownMember(member_id.into()))?;
        if member.told.as_ref() == Some(&assigned) {
            return Ok(HeartbeatReply { member_epoch: member.epoch, assignment: None });
        }
        member.epoch = epoch;
        member.told = Some(assigned.clone());
        Ok(HeartbeatReply { member_epoch: epoch, assignment: Some(assigned) })
    }

    /// Removes `member_id`; true if it was a member.
    pub fn leave(&mut self, member_id: &str, partitions: impl Fn(&str) -> Option<i32>) -> bool {
        let left = self.members.remove(member_id).is_some();
        if left {
            self.reassign(&partitions);
        }
        left
    }

    /// Removes the members not heard from since `now_ms - session_timeout_ms`; their ids.
    pub fn expire(
        &mut self,
        now_ms: i64,
        session_timeout_ms: i64,
        partitions: impl Fn(&str) -> Option<i32>,
    ) -> Vec<String> {
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| now_ms.saturating_sub(m.last_heard_ms) > session_timeout_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            self.members.remove(id);
        }
        if !gone.is_empty() {
            self.reassign(&partitions);
        }
        gone
    }

    /// Recomputes the assignment; a different one is a new group epoch.
    fn reassign(&mut self, partitions: &impl Fn(&str) -> Option<i32>) {
        let assignment = assign(&self.members, partitions);
        if assignment != self.assignment {
            self.assignment = assignment;
            self.epoch += 1;
        }
    }
}

/// Kafka's simple share assignment, per topic: the members subscribed to it, sorted, share its
/// partitions round robin; when they outnumber the partitions, member `i` gets partition
/// `i % partitions` (a partition then has several members).
fn assign(
    members: &BTreeMap<String, Member>,
    partitions: &impl Fn(&str) -> Option<i32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let topics: BTreeSet<&String> = members.values().flat_map(|m| &m.subscribed).collect();
    let mut assignment: BTreeMap<String, Vec<TopicPartition>> =
        members.keys().map(|id| (id.clone(), Vec::new())).collect();
    for topic in topics {
        let Some(count) = partitions(topic).filter(|c| *c > 0) else { continue };
        let subscribers: Vec<&String> =
            members.iter().filter(|(_, m)| m.subscribed.contains(topic)).map(|(id, _)| id).collect();
        let n = i32::try_from(subscribers.len()).unwrap_or(i32::MAX);
        if n == 0 {
            continue;
        }
        if n <= count {
            for partition in 0..count {
                let owner = subscribers[usize::try_from(partition % n).unwrap_or(0)];
                assignment.entry(owner.clone()).or_default().push((topic.clone(), partition));
            }
        } else {
            for (i, member) in (0..).zip(&subscribers) {
                assignment.entry((*member).clone()).or_default().push((topic.clone(), i % count));
            }
        }
    }
    for partitions in assignment.values_mut() {
        partitions.sort();
    }
    assignment
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(name: &str) -> Option<i32> {
        match name {
            "orders" => Some(4),
            "one" => Some(1),
            _ => None,
        }
    }

    fn subscribe(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        (topic.to_string(), partition)
    }

    #[test]
    fn members_share_the_partitions_and_learn_changes_with_a_new_epoch() {
        let mut g = ShareGroup::default();
        let orders = subscribe(&["orders"]);
        let a = g.heartbeat("a", 0, Some(&orders), topics, 0).expect("join");
        assert_eq!(a, HeartbeatReply { member_epoch: 1, assignment: Some((0..4).map(|p| tp("orders", p)).collect()) });
        let b = g.heartbeat("b", 0, Some(&orders), topics, 0).expect("join");
        assert_eq!(b, HeartbeatReply { member_epoch: 2, assignment: Some(vec![tp("orders", 1), tp("orders", 3)]) });
        // a learns it lost two partitions with the new epoch; then nothing changes.
        let a = g.heartbeat("a", 1, None, topics, 10).expect("heartbeat");
        assert_eq!(a, HeartbeatReply { member_epoch: 2, assignment: Some(vec![tp("orders", 0), tp("orders", 2)]) });
        assert_eq!(g.heartbeat("a", 2, None, topics, 20), Ok(HeartbeatReply { member_epoch: 2, assignment: None }));
    }

    #[test]
    fn a_described_group_shows_what_each_member_was_told() {
        let mut g = ShareGroup::default();
        assert_eq!(g.state(), "Empty");
        g.heartbeat("a", 0, Some(&subscribe(&["orders"])), topics, 0).expect("join");
        g.heartbeat("b", 0, Some(&subscribe(&["orders", "one"])), topics, 0).expect("join");
        assert_eq!(g.state(), "Stable");
        let described = g.describe();
        assert_eq!(described[0].member_id, "a");
        assert_eq!(described[0].assignment.len(), 4, "a was not told of b's share yet");
        assert_eq!(described[1].subscribed, ["one", "orders"]);
        assert_eq!(described[1].member_epoch, 2);
    }

    #[test]
    fn more_members_than_partitions_share_a_partition() {
        let mut g = ShareGroup::default();
        let one = subscribe(&["one"]);
        for member in ["a", "b", "c"] {
            g.heartbeat(member, 0, Some(&one), topics, 0).expect("join");
        }
        for member in ["a", "b", "c"] {
            assert_eq!(g.assignment.get(member), Some(&vec![tp("one", 0)]), "{member}");
        }
    }

    #[test]
    fn wrong_epochs_unknown_members_and_missing_subscriptions_are_refused() {
        let mut g = ShareGroup::default();
        assert_eq!(
            g.heartbeat("a", 0, None, topics, 0),
            Err(HeartbeatError::InvalidRequest("SubscribedTopicNames must be set in first request."))
        );
        assert!(matches!(
            g.heartbeat("", 0, Some(&subscribe(&["orders"])), topics, 0),
            Err(HeartbeatError::InvalidRequest(_))
        ));
        assert_eq!(g.heartbeat("x", 3, None, topics, 0), Err(HeartbeatError::UnknownMember("x".into())));
        g.heartbeat("a", 0, Some(&subscribe(&["orders"])), topics, 0).expect("join");
        assert_eq!(
            g.heartbeat("a", 7, None, topics, 0),
            Err(HeartbeatError::FencedMemberEpoch { member: "a".into(), sent: 7, current: 1 })
        );
    }

    #[test]
    fn leaving_and_silent_members_give_their_partitions_back() {
        let mut g = ShareGroup::default();
        let orders = subscribe(&["orders"]);
        g.heartbeat("a", 0, Some(&orders), topics, 0).expect("join");
        g.heartbeat("b", 0, Some(&orders), topics, 0).expect("join");
        assert_eq!(g.heartbeat("b", -1, None, topics, 5), Ok(HeartbeatReply { member_epoch: -1, assignment: None }));
        // a was never told of b's share: it still holds all four, nothing to tell.
        assert_eq!(g.heartbeat("a", 1, None, topics, 10), Ok(HeartbeatReply { member_epoch: 1, assignment: None }));
        g.heartbeat("c", 0, Some(&orders), topics, 20_000).expect("join");
        assert_eq!(g.expire(50_000, 45_000, topics), vec!["a".to_string()]);
        assert_eq!(g.members().collect::<Vec<_>>(), ["c"]);
    }

    #[test]
    fn a_topic_created_later_is_assigned_when_it_appears() {
        let mut g = ShareGroup::default();
        let later = subscribe(&["later"]);
        let joined = g.heartbeat("a", 0, Some(&later), topics, 0).expect("join");
        assert_eq!(joined.assignment, Some(vec![]));
        let created = |name: &str| (name == "later").then_some(2);
        let a = g.heartbeat("a", joined.member_epoch, None, created, 10).expect("heartbeat");
        assert_eq!(a.assignment, Some(vec![tp("later", 0), tp("later", 1)]));
    }
}
