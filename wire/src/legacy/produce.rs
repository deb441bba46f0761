//! Produce v0-2 (key 0), which Kafka 4 removed. Their message sets (format v0/v1) are converted to
//! one v2 record batch per partition here, so the Produce handler sees a v3-shaped request:
//!
//! ```text
//! request  v0-2: acks i16, timeout_ms i32, [topic string, [partition i32, message_set bytes]]
//! response v0:   [topic string, [partition i32, error_code i16, base_offset i64]]
//! response v1:   v0, then throttle_time_ms i32
//! response v2:   v1 with log_append_time_ms i64 after base_offset
//! ```
//!
//! A partition whose message set does not read or convert is not in error for the whole request:
//! it is listed in [`LegacyProduce::refused`] (with no records in the request) so the handler
//! answers that partition alone with the error.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::Message;

use super::message_set::{MessageSetError, read_message_set, to_record_batch};
use super::{LegacyError, Reader, put_count, put_string};

/// The oldest Produce version `kafka-protocol` decodes.
pub const CRATE_MIN_VERSION: i16 = ProduceRequest::VERSIONS.min;
/// The smallest encoded topic: name length and partition count.
const TOPIC_BYTES_MIN: usize = 2 + 4;
/// The smallest encoded partition: index and message set size.
const PARTITION_BYTES_MIN: usize = 4 + 4;

/// A decoded Produce v0-2 request.
#[derive(Debug)]
pub struct LegacyProduce {
    /// The request with every message set converted to a v2 batch (`records` is `None` for the
    /// refused partitions).
    pub request: ProduceRequest,
    pub refused: Vec<Refusal>,
}

/// A partition whose message set was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Position of the topic in the request.
    pub topic: usize,
    /// Position of the partition in its topic.
    pub partition: usize,
    pub error: MessageSetError,
}

/// Decodes a Produce v0-2 body, converting each partition's message set.
pub fn decode_request(body: Bytes) -> Result<LegacyProduce, LegacyError> {
    let mut r = Reader::new(body);
    let acks = r.i16()?;
    let timeout_ms = r.i32()?;
    let topic_count = r.count("topics", TOPIC_BYTES_MIN)?;
    let mut topics = Vec::with_capacity(topic_count);
    let mut refused = Vec::new();
    for topic in 0..topic_count {
        let name = r.string()?;
        let partition_count = r.count("partitions", PARTITION_BYTES_MIN)?;
        let mut partitions = Vec::with_capacity(partition_count);
        for partition in 0..partition_count {
            let index = r.i32()?;
            let set = r.nullable_bytes()?;
            let converted = set.ok_or(MessageSetError::Empty).and_then(|set| to_record_batch(&read_message_set(&set)?));
            let records = match converted {
                Ok(batch) => Some(batch),
                Err(error) => {
                    refused.push(Refusal { topic, partition, error });
                    None
                }
            };
            partitions.push(PartitionProduceData::default().with_index(index).with_records(records));
        }
        topics.push(TopicProduceData::default().with_name(TopicName(name)).with_partition_data(partitions));
    }
    r.finish()?;
    let request = ProduceRequest::default().with_acks(acks).with_timeout_ms(timeout_ms).with_topic_data(topics);
    Ok(LegacyProduce { request, refused })
}

/// Encodes the body of a Produce v0-2 response (after the correlation id).
pub fn encode_response(version: i16, response: &ProduceResponse, out: &mut BytesMut) -> Result<(), LegacyError> {
    put_count(out, response.responses.len());
    for topic in &response.responses {
        put_string(out, topic.name.0.as_str());
        put_count(out, topic.partition_responses.len());
        for partition in &topic.partition_responses {
            out.put_i32(partition.index);
            out.put_i16(partition.error_code);
            out.put_i64(partition.base_offset);
            if version >= 2 {
                out.put_i64(partition.log_append_time_ms);
            }
        }
    }
    if version >= 1 {
        out.put_i32(response.throttle_time_ms);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
