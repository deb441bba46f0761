//! End-transaction markers: the control batches a transaction coordinator writes into each
//! partition of a transaction to commit or abort it (Kafka's `EndTransactionMarker`,
//! `ControlRecordType`, `MemoryRecords.withEndTransactionMarker`).
//!
//! A marker batch is a v2 batch with the control and transactional attribute bits set, the
//! producer's id and epoch, base sequence -1 (control batches carry no sequence numbers) and one
//! uncompressed record whose
//!
//! ```text
//! key   = version i16 (0) + type i16 (0 = abort, 1 = commit)
//! value = version i16 (0) + coordinator_epoch i32
//! ```
//!
//! Newer key and value versions are read as version 0, as Kafka does; negative versions and other
//! control types are refused. No I/O, no panic on any input.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression as KCompression, NO_PARTITION_LEADER_EPOCH, Record, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType,
};
use thiserror::Error;

use crate::batch::{BATCH_HEADER_BYTES, BatchError, Compression, validate_batch};
use crate::records::read_varlong;

const CONTROL_KEY_VERSION: i16 = 0;
const END_TXN_MARKER_VERSION: i16 = 0;
const TYPE_ABORT: i16 = 0;
const TYPE_COMMIT: i16 = 1;
/// Key: version i16 + type i16.
const KEY_BYTES: usize = 4;
/// Value: version i16 + coordinator epoch i32.
const VALUE_BYTES: usize = 6;
/// Control batches carry no sequence numbers.
const NO_SEQUENCE: i32 = -1;

/// One end-transaction marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
}

/// Why a batch is not a well-formed end-transaction marker.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ControlError {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error("batch is not a control batch")]
    NotControl,
    #[error("control batch is compressed")]
    Compressed,
    #[error("control record does not parse")]
    Malformed,
    #[error("control record key is {have} bytes, needs {need}")]
    KeyTooShort { need: usize, have: usize },
    #[error("control record value is {have} bytes, needs {need}")]
    ValueTooShort { need: usize, have: usize },
    #[error("control record {field} version {version} is negative")]
    Version { field: &'static str, version: i16 },
    #[error("control record type {control_type} is not an end-transaction marker")]
    NotAMarker { control_type: i16 },
}

/// A v2 record batch holding one control record for `marker` (attributes: control +
/// transactional bits, base offset 0, base sequence -1), ready for `Partition::append`.
pub fn marker_batch(marker: &Marker, timestamp_ms: i64) -> Bytes {
    let mut key = BytesMut::with_capacity(KEY_BYTES);
    key.extend_from_slice(&CONTROL_KEY_VERSION.to_be_bytes());
    key.extend_from_slice(&(if marker.commit { TYPE_COMMIT } else { TYPE_ABORT }).to_be_bytes());
    let mut value = BytesMut::with_capacity(VALUE_BYTES);
    value.extend_from_slice(&END_TXN_MARKER_VERSION.to_be_bytes());
    value.extend_from_slice(&marker.coordinator_epoch.to_be_bytes());
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        producer_id: marker.producer_id,
        producer_epoch: marker.producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: NO_SEQUENCE,
        timestamp: timestamp_ms,
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        headers: Default::default(),
    };
    let mut out = BytesMut::with_capacity(BATCH_HEADER_BYTES + 32);
    let options = RecordEncodeOptions { version: 2, compression: KCompression::None };
    // The encoder fails only on a batch over i32::MAX bytes or records, or a codec left out of the
    // build; one uncompressed record of ten bytes is none of these, so a failure is a bug here.
    RecordBatchEncoder::encode(&mut out, std::iter::once(&record), &options)
        .expect("one uncompressed control record always encodes");
    out.freeze()
}

/// The marker in a control batch (the whole batch's bytes), or an error for a malformed one. The
/// batch is fully validated (CRC included) before its record is read.
pub fn parse_marker(batch: &[u8]) -> Result<Marker, ControlError> {
    let header = validate_batch(batch)?;
    if !header.is_control() {
        return Err(ControlError::NotControl);
    }
    if header.compression() != Compression::None {
        return Err(ControlError::Compressed);
    }
    let body = batch.get(BATCH_HEADER_BYTES..header.total_bytes()).ok_or(ControlError::Malformed)?;
    let (key, value) = first_record_key_value(body)?;
    let key_version = be_i16(key, 0, KEY_BYTES, |have| ControlError::KeyTooShort { need: KEY_BYTES, have })?;
    let control_type = be_i16(key, 2, KEY_BYTES, |have| ControlError::KeyTooShort { need: KEY_BYTES, have })?;
    if key_version < 0 {
        return Err(ControlError::Version { field: "key", version: key_version });
    }
    let commit = match control_type {
        TYPE_ABORT => false,
        TYPE_COMMIT => true,
        other => return Err(ControlError::NotAMarker { control_type: other }),
    };
    let too_short = |have| ControlError::ValueTooShort { need: VALUE_BYTES, have };
    let value_version = be_i16(value, 0, VALUE_BYTES, too_short)?;
    if value_version < 0 {
        return Err(ControlError::Version { field: "value", version: value_version });
    }
    let epoch = value.get(2..6).ok_or_else(|| too_short(value.len()))?;
    let coordinator_epoch = i32::from_be_bytes([epoch[0], epoch[1], epoch[2], epoch[3]]);
    Ok(Marker { producer_id: header.producer_id, producer_epoch: header.producer_epoch, coordinator_epoch, commit })
}

/// The i16 at `buf[at..]`, provided `buf` holds at least `need` bytes.
fn be_i16(buf: &[u8], at: usize, need: usize, short: impl Fn(usize) -> ControlError) -> Result<i16, ControlError> {
    if buf.len() < need {
        return Err(short(buf.len()));
    }
    Ok(i16::from_be_bytes([buf[at], buf[at + 1]]))
}

/// Key and value of the first record of an uncompressed body (Kafka's `DefaultRecord` layout);
/// a null key or value reads as empty, which the length checks then refuse.
fn first_record_key_value(body: &[u8]) -> Result<(&[u8], &[u8]), ControlError> {
    let mut at = 0;
    let len = usize::try_from(read_varlong(body, &mut at).ok_or(ControlError::Malformed)?)
        .map_err(|_| ControlError::Malformed)?;
    let end = at.checked_add(len).filter(|e| *e <= body.len()).ok_or(ControlError::Malformed)?;
    let record = &body[..end];
    at += 1; // attributes
    read_varlong(record, &mut at).ok_or(ControlError::Malformed)?; // timestamp delta
    read_varlong(record, &mut at).ok_or(ControlError::Malformed)?; // offset delta
    let key = read_bytes(record, &mut at)?;
    let value = read_bytes(record, &mut at)?;
    Ok((key, value))
}

/// A varint-length-prefixed byte field at `record[*at..]`; length -1 (null) reads as empty.
fn read_bytes<'a>(record: &'a [u8], at: &mut usize) -> Result<&'a [u8], ControlError> {
    let len = read_varlong(record, at).ok_or(ControlError::Malformed)?;
    if len < 0 {
        return Ok(&[]);
    }
    let len = usize::try_from(len).map_err(|_| ControlError::Malformed)?;
    let end = at.checked_add(len).filter(|e| *e <= record.len()).ok_or(ControlError::Malformed)?;
    let field = &record[*at..end];
    *at = end;
    Ok(field)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report
mod tests;
