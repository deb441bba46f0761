//! Fetch v0-3 (key 1), which Kafka 4 removed. The request becomes the crate's v4-shaped
//! `FetchRequest` (v0-2 have no `max_bytes`: no response limit); the response carries message
//! sets in a format the version reads, down-converted from the stored v2 batches by
//! [`down_convert`]:
//!
//! ```text
//! request  v0-2: replica_id i32, max_wait_ms i32, min_bytes i32,
//!                [topic string, [partition i32, fetch_offset i64, partition_max_bytes i32]]
//! request  v3:   v0 with max_bytes i32 after min_bytes
//! response v0:   [topic string, [partition i32, error_code i16, high_watermark i64, records bytes]]
//! response v1-3: throttle_time_ms i32, then v0's layout
//! ```
//!
//! v0-1 clients read magic 0 messages, v2-3 magic 1 (KIP-32). Down-conversion follows Kafka's
//! `RecordsUtil.downConvert`: records before the fetch offset and control records are left out,
//! headers are dropped (the old formats have none), magic 0 loses timestamps, and a compressed
//! batch becomes one compressed wrapper message of the same codec whose inner messages carry
//! relative offsets (magic 1) or absolute ones (magic 0), with the wrapper at the last offset.
//! lz4 batches are written uncompressed for magic 0: that format's lz4 frame needs the broken
//! header checksum of KAFKA-3160, which readers disagree about.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::Message;
use kafka_protocol::records::{Compression, NO_TIMESTAMP, RecordBatchDecoder, TimestampType};

use crate::batch::BatchHeader;
use crate::compression::BATCH_DECOMPRESSED_BYTES_MAX;
use crate::records::records;

use super::message_set::{LOG_APPEND_TIME_FLAG, MAGIC_V0, MAGIC_V1, MessageSetError, compress, write_message};
use super::{LegacyError, Reader, put_count, put_string};

/// The oldest Fetch version `kafka-protocol` decodes.
pub const CRATE_MIN_VERSION: i16 = FetchRequest::VERSIONS.min;
/// First version with `max_bytes`.
const MAX_BYTES_VERSION_MIN: i16 = 3;
/// First version whose clients read magic 1.
const MAGIC_V1_VERSION_MIN: i16 = 2;
const TOPIC_BYTES_MIN: usize = 2 + 4;
const PARTITION_BYTES_MIN: usize = 4 + 8 + 4;

/// The message format a Fetch of `version` answers in.
pub fn magic_for(version: i16) -> i8 {
    if version >= MAGIC_V1_VERSION_MIN { MAGIC_V1 } else { MAGIC_V0 }
}

/// Decodes a Fetch v0-3 body into a v4-shaped request.
pub fn decode_request(version: i16, body: Bytes) -> Result<FetchRequest, LegacyError> {
    let mut r = Reader::new(body);
    let replica_id = r.i32()?;
    let max_wait_ms = r.i32()?;
    let min_bytes = r.i32()?;
    let max_bytes = if version >= MAX_BYTES_VERSION_MIN { r.i32()? } else { i32::MAX };
    let topic_count = r.count("topics", TOPIC_BYTES_MIN)?;
    let mut topics = Vec::with_capacity(topic_count);
    for _ in 0..topic_count {
        let name = r.string()?;
        let partition_count = r.count("partitions", PARTITION_BYTES_MIN)?;
        let mut partitions = Vec::with_capacity(partition_count);
        for _ in 0..partition_count {
            let partition = r.i32()?;
            let fetch_offset = r.i64()?;
            let partition_max_bytes = r.i32()?;
            partitions.push(
                FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(fetch_offset)
                    .with_partition_max_bytes(partition_max_bytes),
            );
        }
        topics.push(FetchTopic::default().with_topic(TopicName(name)).with_partitions(partitions));
    }
    r.finish()?;
    Ok(FetchRequest::default()
        .with_replica_id(BrokerId(replica_id))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_topics(topics))
}

/// One partition of a Fetch v0-3 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyFetchPartition {
    pub index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    /// A message set of the version's format.
    pub records: Bytes,
}

/// One topic of a Fetch v0-3 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyFetchTopic {
    pub name: String,
    pub partitions: Vec<LegacyFetchPartition>,
}

/// Encodes the body of a Fetch v0-3 response (after the correlation id).
pub fn encode_response(version: i16, throttle_time_ms: i32, topics: &[LegacyFetchTopic], out: &mut BytesMut) {
    if version >= 1 {
        out.put_i32(throttle_time_ms);
    }
    put_count(out, topics.len());
    for topic in topics {
        put_string(out, &topic.name);
        put_count(out, topic.partitions.len());
        for p in &topic.partitions {
            out.put_i32(p.index);
            out.put_i16(p.error_code);
            out.put_i64(p.high_watermark);
            out.put_i32(p.records.len() as i32);
            out.put_slice(&p.records);
        }
    }
}

/// Converts stored v2 record batches (`batches`, whole batches as the log reads them; a cut batch
/// at the end is left out) to a message set of `magic`, leaving out records before `fetch_offset`.
pub fn down_convert(batches: &Bytes, magic: i8, fetch_offset: i64) -> Result<Bytes, MessageSetError> {
    let mut out = BytesMut::new();
    let mut buf = batches.clone();
    let mut first = true;
    while !buf.is_empty() {
        // The crate's decoder sizes header maps from the record bytes and decompresses without a
        // bound: check the batch with the bounded reader first. A cut batch at the end is left
        // to the decoder, which stops there.
        if let Ok(header) = BatchHeader::parse(&buf)
            && header.total_bytes() <= buf.len()
        {
            records(&buf[..header.total_bytes()], BATCH_DECOMPRESSED_BYTES_MAX)
                .map_err(|e| MessageSetError::StoredBatch(e.to_string()))?;
        }
        let set = match RecordBatchDecoder::decode(&mut buf) {
            Ok(set) => set,
            // A cut batch at the end (the read limit) ends the set, as a cut message would.
            Err(_) if !first => break,
            Err(e) => return Err(MessageSetError::Decompress { codec: Compression::None, reason: format!("{e:#}") }),
        };
        first = false;
        let records: Vec<_> = set.records.iter().filter(|r| !r.control && r.offset >= fetch_offset).collect();
        let Some(last) = records.last() else { continue };
        let codec = match set.compression {
            Compression::Lz4 if magic == MAGIC_V0 => Compression::None,
            // zstd cannot be read by clients of these versions (Kafka answers
            // UNSUPPORTED_COMPRESSION_TYPE); the records go uncompressed instead.
            Compression::Zstd => Compression::None,
            codec => codec,
        };
        let attributes = |r: &kafka_protocol::records::Record| {
            if magic == MAGIC_V1 && r.timestamp_type == TimestampType::LogAppend { LOG_APPEND_TIME_FLAG } else { 0 }
        };
        let timestamp =
            |r: &kafka_protocol::records::Record| if magic == MAGIC_V1 { r.timestamp } else { NO_TIMESTAMP };
        if codec == Compression::None {
            for r in &records {
                write_message(
                    &mut out,
                    r.offset,
                    magic,
                    attributes(r),
                    timestamp(r),
                    r.key.as_deref(),
                    r.value.as_deref(),
                );
            }
            continue;
        }
        let mut inner = BytesMut::new();
        let base = records[0].offset;
        for r in &records {
            let offset = if magic == MAGIC_V1 { r.offset - base } else { r.offset };
            write_message(&mut inner, offset, magic, 0, timestamp(r), r.key.as_deref(), r.value.as_deref());
        }
        let compressed = compress(codec, &inner)?;
        let max_timestamp = records.iter().map(|r| r.timestamp).max().unwrap_or(NO_TIMESTAMP);
        let wrapper_timestamp = if magic == MAGIC_V1 { max_timestamp } else { NO_TIMESTAMP };
        write_message(
            &mut out,
            last.offset,
            magic,
            codec as i8 | attributes(last),
            wrapper_timestamp,
            None,
            Some(&compressed),
        );
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests;
