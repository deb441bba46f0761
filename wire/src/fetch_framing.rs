//! Zero-copy Fetch response framing (every Fetch version `kafka-protocol` encodes).
//!
//! A Fetch response is mostly record data that already sits, byte for byte, in the log's segment
//! files. This module encodes everything *around* that data — the size prefix, the response
//! header, every field of the response, topic and partition — and, for each partition's `records`
//! field, only its length prefix (`i32` before v12, an unsigned varint of `len + 1` in the flexible
//! versions). The record data itself is left as an opaque [`Piece::Records`] value that the caller
//! writes from the file (with `sendfile`), so it never enters user space.
//!
//! The byte layout is exactly what `kafka-protocol` writes for the same `FetchResponse` with the
//! records filled in; the tests check that for every version. Tagged fields are written only when
//! they differ from their defaults, as the crate (and Kafka) do: older librdkafka misreads a reply
//! that spells out defaults. Sub-structures that carry no record data (aborted transactions,
//! diverging epoch, current leader, snapshot id, node endpoints) are encoded by `kafka-protocol`
//! itself; only the fields of the three levels that lead to the record data are written here.
//!
//! No I/O: everything is encoded into one `BytesMut` and then cut (without copying) into pieces.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{NodeEndpoint, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchResponse, TopicName};
use kafka_protocol::protocol::{Encodable, Message, VersionRange};
use uuid::Uuid;

use crate::frame::{FRAME_PREFIX_BYTES, start_frame};
use crate::header::encode_response_header;

/// The Fetch versions this framing writes: those `kafka-protocol` encodes, against which the
/// tests check it byte for byte. Which of them the broker serves is its API table's business.
const FRAMED: VersionRange = FetchResponse::VERSIONS;
/// First flexible (compact, tagged-field) Fetch version.
const FLEXIBLE_FROM: i16 = 12;

/// Record data the framing does not copy: only its length is needed here.
pub trait RecordData {
    /// Bytes this record data occupies in the response.
    fn records_len(&self) -> usize;
}

impl RecordData for Bytes {
    fn records_len(&self) -> usize {
        self.len()
    }
}

/// A Fetch response whose record data is described, not held.
#[derive(Debug, Clone)]
pub struct FramedResponse<R> {
    pub throttle_time_ms: i32,
    /// Top-level error (v7+).
    pub error_code: i16,
    /// Fetch session id (v7+); 0 for a sessionless fetch.
    pub session_id: i32,
    pub topics: Vec<FramedTopic<R>>,
    /// Leader endpoints (v16+), sent as tagged field 0 only when non-empty.
    pub node_endpoints: Vec<NodeEndpoint>,
}

impl<R> Default for FramedResponse<R> {
    fn default() -> Self {
        FramedResponse {
            throttle_time_ms: 0,
            error_code: 0,
            session_id: 0,
            topics: Vec::new(),
            node_endpoints: Vec::new(),
        }
    }
}

/// One topic of a Fetch response: by name up to v12, by topic id from v13.
#[derive(Debug, Clone)]
pub struct FramedTopic<R> {
    pub topic: TopicName,
    pub topic_id: Uuid,
    pub partitions: Vec<FramedPartition<R>>,
}

/// One partition: every field of `data` except `data.records`, which is ignored; `records` is the
/// record data that follows its length prefix (`None` writes a null records field).
#[derive(Debug, Clone)]
pub struct FramedPartition<R> {
    pub data: PartitionData,
    pub records: Option<R>,
}

/// A piece of an encoded response frame, in write order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<R> {
    /// Encoded bytes (the first piece starts with the frame's size prefix).
    Bytes(Bytes),
    /// Record data to write as is, right after the previous piece.
    Records(R),
}

/// Why a Fetch response could not be framed. Each is a broker bug (a field set that the client's
/// version cannot carry) or an impossible size, never bad input.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    #[error("Fetch v{0} is outside the framed range {min}-{max}", min = FRAMED.min, max = FRAMED.max)]
    Version(i16),
    #[error("Fetch v{version} cannot carry field {field}")]
    FieldNotInVersion { version: i16, field: &'static str },
    #[error("Fetch response of {bytes} bytes exceeds a frame's i32 size")]
    TooLarge { bytes: usize },
    #[error("cannot encode Fetch v{version}: {reason}")]
    Encode { version: i16, reason: String },
}

/// Encodes a complete size-prefixed Fetch response frame (response header included) for
/// `version`, leaving each partition's record data as a [`Piece::Records`].
pub fn encode_fetch_response<R: RecordData>(
    version: i16,
    correlation_id: i32,
    response: FramedResponse<R>,
) -> Result<Vec<Piece<R>>, FramingError> {
    if !(FRAMED.min..=FRAMED.max).contains(&version) {
        return Err(FramingError::Version(version));
    }
    let encode_err = |e: anyhow::Error| FramingError::Encode { version, reason: e.to_string() };
    let flexible = version >= FLEXIBLE_FROM;
    let mut out = Encoder { buf: BytesMut::with_capacity(256), flexible, splits: Vec::new(), records_bytes: 0 };
    let start = start_frame(&mut out.buf);
    encode_response_header(&mut out.buf, ApiKey::Fetch, version, correlation_id).map_err(encode_err)?;

    out.buf.put_i32(response.throttle_time_ms);
    if version >= 7 {
        out.buf.put_i16(response.error_code);
        out.buf.put_i32(response.session_id);
    } else if response.session_id != 0 {
        return Err(FramingError::FieldNotInVersion { version, field: "session_id" });
    }
    out.array_len(response.topics.len())?;
    for topic in response.topics {
        if version >= 13 {
            out.buf.put_slice(topic.topic_id.as_bytes());
        } else {
            out.string(topic.topic.0.as_bytes())?;
        }
        out.array_len(topic.partitions.len())?;
        for partition in topic.partitions {
            out.partition(version, partition)?;
        }
        if flexible {
            out.varint(0); // no tagged fields on the topic
        }
    }
    if flexible {
        if version >= 16 && !response.node_endpoints.is_empty() {
            out.varint(1);
            let mut field = BytesMut::new();
            write_varint(&mut field, len_u32(response.node_endpoints.len() + 1)?);
            for endpoint in &response.node_endpoints {
                endpoint.encode(&mut field, version).map_err(encode_err)?;
            }
            out.tagged_field(0, &field)?;
        } else {
            out.varint(0);
        }
    }
    out.finish(start)
}

/// The encoding state: one buffer of encoded bytes and where record data goes between them.
struct Encoder<R> {
    buf: BytesMut,
    flexible: bool,
    /// (position in `buf`, record data written there), in order.
    splits: Vec<(usize, R)>,
    records_bytes: usize,
}

impl<R: RecordData> Encoder<R> {
    fn partition(&mut self, version: i16, partition: FramedPartition<R>) -> Result<(), FramingError> {
        let encode_err = |e: anyhow::Error| FramingError::Encode { version, reason: e.to_string() };
        let data = partition.data;
        self.buf.put_i32(data.partition_index);
        self.buf.put_i16(data.error_code);
        self.buf.put_i64(data.high_watermark);
        self.buf.put_i64(data.last_stable_offset);
        if version >= 5 {
            self.buf.put_i64(data.log_start_offset);
        }
        match &data.aborted_transactions {
            None => self.null_array(),
            Some(aborted) => {
                self.array_len(aborted.len())?;
                for txn in aborted {
                    txn.encode(&mut self.buf, version).map_err(encode_err)?;
                }
            }
        }
        if version >= 11 {
            self.buf.put_i32(data.preferred_read_replica.0);
        } else if data.preferred_read_replica.0 != -1 {
            return Err(FramingError::FieldNotInVersion { version, field: "preferred_read_replica" });
        }
        match partition.records {
            None => self.null_array(),
            Some(records) => {
                let len = records.records_len();
                self.array_len(len)?;
                self.records_bytes += len;
                self.splits.push((self.buf.len(), records));
            }
        }
        if self.flexible {
            let mut tagged: Vec<(u32, BytesMut)> = Vec::new();
            if data.diverging_epoch != Default::default() {
                tagged.push((0, encoded(&data.diverging_epoch, version).map_err(encode_err)?));
            }
            if data.current_leader != Default::default() {
                tagged.push((1, encoded(&data.current_leader, version).map_err(encode_err)?));
            }
            if data.snapshot_id != Default::default() {
                tagged.push((2, encoded(&data.snapshot_id, version).map_err(encode_err)?));
            }
            let unknown = data.unknown_tagged_fields.range(3..);
            self.varint(len_u32(tagged.len() + unknown.clone().count())?);
            for (tag, field) in &tagged {
                self.tagged_field(*tag, field)?;
            }
            for (tag, field) in unknown {
                self.tagged_field(u32::try_from(*tag).unwrap_or(u32::MAX), field)?;
            }
        }
        Ok(())
    }

    /// An array (or bytes) length: `i32`, or an unsigned varint of `len + 1` when flexible.
    fn array_len(&mut self, len: usize) -> Result<(), FramingError> {
        if self.flexible {
            self.varint(len_u32(len + 1)?);
        } else {
            self.buf.put_i32(i32::try_from(len).map_err(|_| FramingError::TooLarge { bytes: len })?);
        }
        Ok(())
    }

    /// A null array or null bytes.
    fn null_array(&mut self) {
        if self.flexible {
            self.varint(0);
        } else {
            self.buf.put_i32(-1);
        }
    }

    fn string(&mut self, s: &[u8]) -> Result<(), FramingError> {
        if self.flexible {
            self.varint(len_u32(s.len() + 1)?);
        } else {
            let len = i16::try_from(s.len()).map_err(|_| FramingError::TooLarge { bytes: s.len() })?;
            self.buf.put_i16(len);
        }
        self.buf.put_slice(s);
        Ok(())
    }

    fn varint(&mut self, value: u32) {
        write_varint(&mut self.buf, value);
    }

    fn tagged_field(&mut self, tag: u32, field: &[u8]) -> Result<(), FramingError> {
        self.varint(tag);
        self.varint(len_u32(field.len())?);
        self.buf.put_slice(field);
        Ok(())
    }

    /// Writes the frame size and cuts the buffer into pieces around the record data.
    fn finish(self, start: usize) -> Result<Vec<Piece<R>>, FramingError> {
        let Encoder { buf, splits, records_bytes, .. } = self;
        let body = buf.len() - start - FRAME_PREFIX_BYTES + records_bytes;
        let size = i32::try_from(body).map_err(|_| FramingError::TooLarge { bytes: body })?;
        let mut buf = buf;
        buf[start..start + FRAME_PREFIX_BYTES].copy_from_slice(&size.to_be_bytes());
        let mut encoded = buf.freeze();
        let mut pieces = Vec::with_capacity(splits.len() * 2 + 1);
        let mut taken = 0;
        for (at, records) in splits {
            pieces.push(Piece::Bytes(encoded.split_to(at - taken)));
            taken = at;
            pieces.push(Piece::Records(records));
        }
        if !encoded.is_empty() {
            pieces.push(Piece::Bytes(encoded));
        }
        Ok(pieces)
    }
}

fn encoded<T: Encodable>(value: &T, version: i16) -> anyhow::Result<BytesMut> {
    let mut out = BytesMut::new();
    value.encode(&mut out, version)?;
    Ok(out)
}

fn len_u32(len: usize) -> Result<u32, FramingError> {
    u32::try_from(len).map_err(|_| FramingError::TooLarge { bytes: len })
}

/// Kafka's unsigned varint: seven bits per byte, low bits first, high bit set on all but the last.
fn write_varint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, SnapshotId,
    };
    use kafka_protocol::messages::{BrokerId, FetchResponse, ProducerId, ResponseKind};
    use kafka_protocol::protocol::StrBytes;

    use crate::header::encode_response_frame;

    fn records(len: usize, seed: u8) -> Bytes {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect::<Vec<u8>>().into()
    }

    fn partition(index: i32, version: i16) -> PartitionData {
        let mut data = PartitionData::default()
            .with_partition_index(index)
            .with_high_watermark(1000 + i64::from(index))
            .with_last_stable_offset(1000 + i64::from(index))
            .with_log_start_offset(if version >= 5 { 7 } else { -1 });
        if version >= 11 {
            data = data.with_preferred_read_replica(BrokerId(-1));
        }
        data
    }

    /// A response with several topics and partitions covering every shape the broker sends: data,
    /// empty data, null records, an error partition, aborted transactions, and (where the version
    /// has them) tagged fields that differ from their defaults.
    fn cases(version: i16) -> Vec<FramedResponse<Bytes>> {
        let name = |s: &'static str| TopicName(StrBytes::from_static_str(s));
        let plain = FramedResponse {
            throttle_time_ms: 3,
            error_code: 0,
            session_id: 0,
            topics: vec![
                FramedTopic {
                    topic: name("alpha"),
                    topic_id: Uuid::from_u128(0x1234_5678_9abc_def0_1122_3344_5566_7788),
                    partitions: vec![
                        FramedPartition { data: partition(0, version), records: Some(records(300, 1)) },
                        FramedPartition { data: partition(1, version), records: Some(Bytes::new()) },
                        FramedPartition {
                            data: partition(2, version).with_error_code(1).with_high_watermark(-1),
                            records: None,
                        },
                    ],
                },
                FramedTopic {
                    topic: name("beta"),
                    topic_id: Uuid::from_u128(42),
                    partitions: vec![FramedPartition {
                        data: partition(5, version).with_aborted_transactions(Some(vec![
                            AbortedTransaction::default().with_producer_id(ProducerId(9)).with_first_offset(11),
                        ])),
                        records: Some(records(129, 2)),
                    }],
                },
                FramedTopic { topic: name("gamma"), topic_id: Uuid::nil(), partitions: vec![] },
            ],
            node_endpoints: vec![],
        };
        let mut all = vec![plain, FramedResponse::default()];
        if version >= 7 {
            let mut session = cases_one_partition(version);
            session.session_id = 77;
            session.error_code = 0;
            all.push(session);
        }
        if version >= 12 {
            let mut tagged = cases_one_partition(version);
            let p = &mut tagged.topics[0].partitions[0].data;
            p.current_leader = LeaderIdAndEpoch::default().with_leader_id(BrokerId(1)).with_leader_epoch(3);
            p.diverging_epoch = EpochEndOffset::default().with_epoch(2).with_end_offset(50);
            p.snapshot_id = SnapshotId::default().with_end_offset(10).with_epoch(1);
            p.unknown_tagged_fields.insert(9, Bytes::from_static(b"xyz"));
            p.aborted_transactions = None;
            all.push(tagged);
        }
        if version >= 16 {
            let mut endpoints = cases_one_partition(version);
            endpoints.node_endpoints = vec![
                NodeEndpoint::default()
                    .with_node_id(BrokerId(1))
                    .with_host(StrBytes::from_static_str("localhost"))
                    .with_port(9092),
            ];
            all.push(endpoints);
        }
        all
    }

    fn cases_one_partition(version: i16) -> FramedResponse<Bytes> {
        FramedResponse {
            topics: vec![FramedTopic {
                topic: TopicName(StrBytes::from_static_str("t")),
                topic_id: Uuid::from_u128(5),
                // Large enough that the flexible length prefix needs two varint bytes.
                partitions: vec![FramedPartition { data: partition(0, version), records: Some(records(200, 3)) }],
            }],
            ..FramedResponse::default()
        }
    }

    /// The same response as `kafka-protocol` sees it, records filled in.
    fn as_crate_response(framed: &FramedResponse<Bytes>) -> FetchResponse {
        let topics = framed
            .topics
            .iter()
            .map(|t| {
                FetchableTopicResponse::default().with_topic(t.topic.clone()).with_topic_id(t.topic_id).with_partitions(
                    t.partitions.iter().map(|p| p.data.clone().with_records(p.records.clone())).collect(),
                )
            })
            .collect();
        FetchResponse::default()
            .with_throttle_time_ms(framed.throttle_time_ms)
            .with_error_code(framed.error_code)
            .with_session_id(framed.session_id)
            .with_responses(topics)
            .with_node_endpoints(framed.node_endpoints.clone())
    }

    fn joined(pieces: Vec<Piece<Bytes>>) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Bytes(b) | Piece::Records(b) => out.extend_from_slice(&b),
            }
        }
        out
    }

    #[test]
    fn byte_identical_to_kafka_protocol_for_every_version() {
        for version in FRAMED.min..=FRAMED.max {
            for (case, framed) in cases(version).into_iter().enumerate() {
                let expected =
                    encode_response_frame(ApiKey::Fetch, version, 99, &ResponseKind::Fetch(as_crate_response(&framed)))
                        .unwrap();
                let pieces = encode_fetch_response(version, 99, framed).unwrap();
                assert_eq!(joined(pieces), expected.to_vec(), "Fetch v{version}, case {case}");
            }
        }
    }

    #[test]
    fn record_data_is_left_as_separate_pieces_in_order() {
        let framed = cases(18).remove(0);
        let pieces = encode_fetch_response(18, 1, framed).unwrap();
        let records: Vec<usize> = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Records(r) => Some(r.len()),
                Piece::Bytes(_) => None,
            })
            .collect();
        assert_eq!(records, vec![300, 0, 129]);
        // The pieces alternate: no two record pieces are adjacent, since a length prefix or the
        // next fields always lie between them.
        assert!(matches!(pieces.first(), Some(Piece::Bytes(_))));
        assert!(matches!(pieces.last(), Some(Piece::Bytes(_))));
    }

    #[test]
    fn frame_size_counts_the_record_data() {
        let framed = cases_one_partition(12);
        let pieces = encode_fetch_response(12, 1, framed).unwrap();
        let total: usize = pieces
            .iter()
            .map(|p| match p {
                Piece::Bytes(b) | Piece::Records(b) => b.len(),
            })
            .sum();
        let Piece::Bytes(first) = &pieces[0] else { panic!("first piece is bytes") };
        let size = i32::from_be_bytes(first[..4].try_into().unwrap());
        assert_eq!(size as usize, total - 4);
    }

    #[test]
    fn refuses_fields_the_version_cannot_carry() {
        let mut framed = cases_one_partition(6);
        framed.session_id = 5;
        assert!(matches!(
            encode_fetch_response(6, 1, framed),
            Err(FramingError::FieldNotInVersion { field: "session_id", .. })
        ));
        let mut framed = cases_one_partition(10);
        framed.topics[0].partitions[0].data.preferred_read_replica = BrokerId(1);
        assert!(matches!(
            encode_fetch_response(10, 1, framed),
            Err(FramingError::FieldNotInVersion { field: "preferred_read_replica", .. })
        ));
        assert!(matches!(encode_fetch_response(3, 1, cases_one_partition(4)), Err(FramingError::Version(3))));
        assert!(matches!(encode_fetch_response(19, 1, cases_one_partition(4)), Err(FramingError::Version(19))));
    }

    #[test]
    fn varints_match_kafka_encoding() {
        for (value, expected) in
            [(0u32, vec![0u8]), (1, vec![1]), (127, vec![0x7f]), (128, vec![0x80, 1]), (300, vec![0xac, 2])]
        {
            let mut buf = BytesMut::new();
            write_varint(&mut buf, value);
            assert_eq!(buf.to_vec(), expected, "{value}");
        }
    }
}
