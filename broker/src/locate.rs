//! Finding a requested partition's log, or the error code that answers for it, for the requests
//! that name partitions of topics (Fetch, ListOffsets, DeleteRecords).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use strata_log::Partition;

use crate::topics::Topic;

/// A partition's log, or the error code that answers for it. `unknown_topic` is the code for a
/// topic that does not exist (UNKNOWN_TOPIC_ID when the request names topics by id).
pub fn locate(
    topic: Option<&Topic>,
    index: i32,
    current_leader_epoch: i32,
    unknown_topic: i16,
) -> Result<Arc<Partition>, i16> {
    let topic = topic.ok_or(unknown_topic)?;
    let unknown_partition = ResponseError::UnknownTopicOrPartition.code();
    let (log, leadership) = topic.partition(index).zip(topic.leadership(index)).ok_or(unknown_partition)?;
    if current_leader_epoch > leadership.leader_epoch {
        // The client has seen a newer leader epoch than this node has: it knows more than we do.
        return Err(ResponseError::UnknownLeaderEpoch.code());
    }
    Ok(Arc::clone(log))
}
