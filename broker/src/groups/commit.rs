//! What OffsetCommit and TxnOffsetCommit share around the coordinator call: partitions of topics
//! or partitions that do not exist answer UNKNOWN_TOPIC_OR_PARTITION without reaching the
//! coordinator (as Kafka's `KafkaApis` does for both), and every partition asked for gets a code
//! in the answer, in request order. The two requests and responses are distinct generated
//! types with the same fields, so the macros below read and build both.

use std::collections::HashMap;

use kafka_protocol::ResponseError;
use kafka_protocol::protocol::StrBytes;
use strata_groups::{OffsetCommitEntry, OffsetCommitReply, TopicPartition};

use crate::errors::{ErrorCode, code_or_none};
use crate::groups::StoreError;
use crate::groups::convert::{opt_text, text};
use crate::state::Broker;

/// One partition of a commit request, as both requests carry it.
pub struct Committed<'a> {
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<&'a StrBytes>,
}

/// The codes of a commit request's partitions, filled in as they are known.
#[derive(Debug, Default)]
pub struct Codes(HashMap<TopicPartition, i16>);

impl Codes {
    /// Splits the request's partitions: those of unknown topics or partitions get their code
    /// here; the others are returned for the coordinator.
    pub fn split<'a>(
        &mut self,
        broker: &Broker,
        topics: impl IntoIterator<Item = (&'a str, Vec<Committed<'a>>)>,
    ) -> Vec<OffsetCommitEntry> {
        let mut offsets = Vec::new();
        for (name, partitions) in topics {
            let name = text(name);
            let known = broker.topics.get(&name).map(|t| t.partition_count());
            for p in partitions {
                let tp = TopicPartition::new(name.clone(), p.partition);
                if known.is_none_or(|count| p.partition < 0 || p.partition >= count) {
                    self.0.insert(tp, ResponseError::UnknownTopicOrPartition.code());
                    continue;
                }
                offsets.push(OffsetCommitEntry {
                    partition: tp,
                    offset: p.offset,
                    leader_epoch: p.leader_epoch,
                    metadata: opt_text(p.metadata),
                });
            }
        }
        offsets
    }

    /// The coordinator's answer, or the store's error for every partition when its records
    /// could not be written.
    pub fn answered(&mut self, reply: OffsetCommitReply, persisted: &Result<(), StoreError>) {
        for result in reply.partitions {
            let code = match persisted {
                Ok(()) => code_or_none(result.error),
                Err(error) => error.code(),
            };
            self.0.insert(result.partition, code);
        }
    }

    /// One code for every partition the coordinator was to answer (a request refused whole).
    pub fn all(&mut self, offsets: &[OffsetCommitEntry], code: i16) {
        for entry in offsets {
            self.0.insert(entry.partition.clone(), code);
        }
    }

    /// The code of one partition of the request.
    pub fn of(&self, topic: &str, partition: i32) -> i16 {
        let tp = TopicPartition::new(text(topic), partition);
        self.0.get(&tp).copied().unwrap_or_else(|| ResponseError::UnknownServerError.code())
    }
}

/// The partitions of an OffsetCommit or TxnOffsetCommit request's `topics`, for [`Codes::split`].
macro_rules! committed_topics {
    ($topics:expr) => {
        $topics.iter().map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| $crate::groups::commit::Committed {
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref(),
                })
                .collect();
            (t.name.as_str(), partitions)
        })
    };
}

/// The response topics of an OffsetCommit or TxnOffsetCommit request's `topics`: every partition
/// asked for, in request order, with its code from `codes`.
macro_rules! answered_topics {
    ($topics:expr, $codes:expr, $topic:ty, $partition:ty) => {
        $topics
            .iter()
            .map(|topic| {
                let partitions = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        <$partition>::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code($codes.of(&topic.name, p.partition_index))
                    })
                    .collect();
                <$topic>::default().with_name(topic.name.clone()).with_partitions(partitions)
            })
            .collect()
    };
}

pub(crate) use {answered_topics, committed_topics};
