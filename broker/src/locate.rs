//! Finding a requested partition's log, or the error code that answers for it, for the requests
//! that name partitions of topics (Fetch, ListOffsets, DeleteRecords): at its leader, or, for a
//! consumer's fetch, at any of its replicas (KIP-392).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use strata_log::Partition;

use crate::topics::{Leadership, Topic};

/// A partition's log on `node`, or the error code that answers for it. `unknown_topic` is the
/// code for a topic that does not exist (UNKNOWN_TOPIC_ID when the request names topics by id).
/// As Kafka checks them: the partition exists; the client's leader epoch (-1: none given) is
/// neither newer (UNKNOWN_LEADER_EPOCH) nor older (FENCED_LEADER_EPOCH) than this node's; this
/// node leads the partition (NOT_LEADER_OR_FOLLOWER: another broker does, or none does).
pub fn locate(
    node: i32,
    topic: Option<&Topic>,
    index: i32,
    current_leader_epoch: i32,
    unknown_topic: i16,
) -> Result<Arc<Partition>, i16> {
    find(topic, index, unknown_topic, |leadership| check_leader(node, leadership, current_leader_epoch))
}

/// A partition's log here for a consumer's fetch that a follower may serve (KIP-392): as
/// [`locate`], except that any replica this node holds will do, not only the leader's. A follower
/// reads up to the high watermark its leader last told it.
pub fn locate_replica(
    topic: Option<&Topic>,
    index: i32,
    current_leader_epoch: i32,
    unknown_topic: i16,
) -> Result<Arc<Partition>, i16> {
    find(topic, index, unknown_topic, |leadership| check_epoch(leadership, current_leader_epoch))
}

/// The log of partition `index` of `topic` held here, once `check` allows its leadership.
fn find(
    topic: Option<&Topic>,
    index: i32,
    unknown_topic: i16,
    check: impl FnOnce(&Leadership) -> Result<(), i16>,
) -> Result<Arc<Partition>, i16> {
    let topic = topic.ok_or(unknown_topic)?;
    check(topic.leadership(index).ok_or(ResponseError::UnknownTopicOrPartition.code())?)?;
    topic.partition(index).cloned().ok_or(ResponseError::NotLeaderOrFollower.code())
}

/// Whether a request naming `current_leader_epoch` may be served by `node` as the partition's
/// leader; the error code otherwise.
pub fn check_leader(node: i32, leadership: &Leadership, current_leader_epoch: i32) -> Result<(), i16> {
    check_epoch(leadership, current_leader_epoch)?;
    if !leadership.is_led_by(node) {
        return Err(ResponseError::NotLeaderOrFollower.code());
    }
    Ok(())
}

/// The client's leader epoch (-1: none given) is neither newer (UNKNOWN_LEADER_EPOCH) nor older
/// (FENCED_LEADER_EPOCH) than this node's.
fn check_epoch(leadership: &Leadership, current_leader_epoch: i32) -> Result<(), i16> {
    if current_leader_epoch > leadership.leader_epoch {
        // The client has seen a newer leader epoch than this node has: it knows more than we do.
        return Err(ResponseError::UnknownLeaderEpoch.code());
    }
    if current_leader_epoch >= 0 && current_leader_epoch < leadership.leader_epoch {
        return Err(ResponseError::FencedLeaderEpoch.code());
    }
    Ok(())
}
