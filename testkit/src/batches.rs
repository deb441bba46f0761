//! The one v2 record-batch builder of the tests and benchmarks, over `kafka-protocol`'s encoder
//! (never bytes written by hand): records with keys, values, timestamps and headers, an optional
//! idempotent producer (optionally transactional), a codec, a base offset and a leader epoch. [`decode`] reads batches back.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record, RecordBatchDecoder,
    RecordBatchEncoder, RecordEncodeOptions, RecordSet, TimestampType,
};

/// An idempotent producer's id, epoch and the batch's first sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Producer {
    id: i64,
    epoch: i16,
    base_sequence: i32,
}

/// A record batch under construction; [`Batch::encode`] makes its bytes.
#[derive(Debug, Clone)]
pub struct Batch {
    records: Vec<Record>,
    compression: Compression,
    base_offset: i64,
    producer: Option<Producer>,
    leader_epoch: i32,
    transactional: bool,
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

impl Batch {
    /// No records yet, uncompressed, base offset 0, no producer, no leader epoch.
    pub fn new() -> Batch {
        Batch {
            records: Vec::new(),
            compression: Compression::None,
            base_offset: 0,
            producer: None,
            leader_epoch: NO_PARTITION_LEADER_EPOCH,
            transactional: false,
        }
    }

    /// Adds a record (a null key or value is `None`).
    pub fn record(mut self, key: Option<&[u8]>, value: Option<&[u8]>, timestamp_ms: i64) -> Batch {
        self.records.push(Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: NO_SEQUENCE,
            timestamp: timestamp_ms,
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            headers: IndexMap::new(),
        });
        self
    }

    /// Adds a header to the last record added.
    pub fn header(mut self, name: &str, value: Option<&[u8]>) -> Batch {
        let record = self.records.last_mut().expect("a header belongs to a record: add one first");
        record.headers.insert(StrBytes::from_string(name.to_owned()), value.map(Bytes::copy_from_slice));
        self
    }

    /// `count` records `key-<i>` / `value-<i>` (or values of `value_bytes` letters when given) with
    /// timestamps `first_timestamp_ms + i`.
    pub fn numbered(mut self, count: usize, value_bytes: Option<usize>, first_timestamp_ms: i64) -> Batch {
        for i in 0..count {
            let key = format!("key-{i}");
            let value = match value_bytes {
                Some(n) => vec![b'a' + (i % 26) as u8; n],
                None => format!("value-{i}").into_bytes(),
            };
            let timestamp = first_timestamp_ms + i64::try_from(i).expect("small");
            self = self.record(Some(key.as_bytes()), Some(&value), timestamp);
        }
        self
    }

    pub fn compression(mut self, compression: Compression) -> Batch {
        self.compression = compression;
        self
    }

    pub fn base_offset(mut self, base_offset: i64) -> Batch {
        self.base_offset = base_offset;
        self
    }

    pub fn producer(mut self, id: i64, epoch: i16, base_sequence: i32) -> Batch {
        self.producer = Some(Producer { id, epoch, base_sequence });
        self
    }

    /// Sets the transactional attribute bit (a transactional producer's data batch).
    pub fn transactional(mut self) -> Batch {
        self.transactional = true;
        self
    }

    pub fn leader_epoch(mut self, leader_epoch: i32) -> Batch {
        self.leader_epoch = leader_epoch;
        self
    }

    /// The batch's bytes: one v2 batch holding every record, at offsets `base_offset + i`.
    pub fn encode(&self) -> Bytes {
        assert!(!self.records.is_empty(), "a batch holds at least one record");
        let records: Vec<Record> = self
            .records
            .iter()
            .enumerate()
            .map(|(i, record)| {
                let delta = i32::try_from(i).expect("small batch");
                let mut record = record.clone();
                record.offset = self.base_offset + i64::from(delta);
                record.partition_leader_epoch = self.leader_epoch;
                record.transactional = self.transactional;
                // The encoder starts a new batch where `offset - sequence` changes, so a batch
                // without a producer numbers its sequences from -1 too.
                match self.producer {
                    Some(p) => {
                        (record.producer_id, record.producer_epoch) = (p.id, p.epoch);
                        record.sequence = p.base_sequence.wrapping_add(delta);
                    }
                    None => record.sequence = NO_SEQUENCE + delta,
                }
                record
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions { version: 2, compression: self.compression };
        RecordBatchEncoder::encode(&mut buf, records.iter(), &options).expect("encode a record batch");
        buf.freeze()
    }
}

/// Every record batch in `bytes` (a fetch response's records, a segment's contents).
pub fn decode(bytes: &Bytes) -> Vec<RecordSet> {
    let mut buf = bytes.clone();
    RecordBatchDecoder::decode_all(&mut buf).expect("decode record batches")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_batch_with_every_field_as_built() {
        let bytes = Batch::new()
            .record(Some(b"k"), Some(b"v"), 1_000)
            .header("h", Some(b"x"))
            .record(None, None, 1_001)
            .producer(7, 2, 40)
            .base_offset(100)
            .leader_epoch(3)
            .compression(Compression::Lz4)
            .encode();
        let sets = decode(&bytes);
        assert_eq!(sets.len(), 1, "one batch");
        let records = &sets[0].records;
        assert_eq!(records.iter().map(|r| (r.offset, r.sequence)).collect::<Vec<_>>(), [(100, 40), (101, 41)]);
        assert!(records.iter().all(|r| (r.producer_id, r.producer_epoch, r.partition_leader_epoch) == (7, 2, 3)));
        let header = records[0].headers.get(&StrBytes::from_static_str("h")).cloned().flatten();
        assert_eq!(header, Some(Bytes::from_static(b"x")));
        assert_eq!((records[1].key.clone(), records[1].value.clone()), (None, None));
        assert_eq!(sets[0].compression, Compression::Lz4);
    }

    #[test]
    fn numbered_records_without_a_producer_stay_one_batch() {
        let bytes = Batch::new().numbered(50, Some(10), 5).encode();
        let sets = decode(&bytes);
        assert_eq!((sets.len(), sets[0].records.len()), (1, 50));
        assert_eq!(sets[0].records[49].timestamp, 54);
    }
}
