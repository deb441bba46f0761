//! Test support: real v2 record batches built with the `kafka-protocol` encoder.

#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

/// One uncompressed batch of `n` records (100-byte values) at base offset `base`, all with
/// timestamp `ts`, from producer `pid` (-1: not idempotent) with `epoch` and first sequence `seq`.
pub(crate) fn batch_from(base: i64, n: usize, ts: i64, pid: i64, epoch: i16, seq: i32) -> Bytes {
    batch_timestamps(base, &vec![ts; n], pid, epoch, seq)
}

/// Like [`batch_from`], one record per entry of `timestamps`.
pub(crate) fn batch_timestamps(base: i64, timestamps: &[i64], pid: i64, epoch: i16, seq: i32) -> Bytes {
    let records: Vec<Record> = timestamps
        .iter()
        .enumerate()
        .map(|(i, ts)| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: base + i as i64,
            // offset - sequence must be constant or the encoder starts a new batch.
            sequence: if pid >= 0 { seq + i as i32 } else { -1 + i as i32 },
            timestamp: *ts,
            key: None,
            value: Some(Bytes::from(vec![b'v'; 100])),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &options).unwrap();
    buf.freeze()
}
