//! Legacy message sets, message format v0 and v1 (magic 0 and 1), as Produce v0-2 carries them and
//! Fetch v0-3 returns them:
//!
//! ```text
//! entry:   offset i64, size i32, message
//! message: crc u32 (CRC-32/IEEE over magic..end), magic i8, attributes i8,
//!          [timestamp i64, magic 1 only], key bytes (i32 length, -1 null), value bytes
//! attributes: bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4), bit 3 LogAppendTime (v1)
//! ```
//!
//! A compressed message is a wrapper whose value is a compressed message set of inner messages
//! (offsets relative to the first in v1, absolute in v0; the broker assigns offsets anyway). Snappy
//! comes xerial-framed from Java clients and raw from some others; both are read. Reading checks
//! every CRC (the wrapper's and each inner message's) and every length before using it.
//!
//! [`to_record_batch`] converts the messages to one v2 record batch following Kafka's
//! `LogValidator` conversion: keys and values byte for byte, v0 messages get no timestamp (-1), v1
//! messages keep theirs (with LogAppendTime a wrapper's timestamp stands for its inner messages),
//! no producer id, and the batch is compressed with the codec the producer used (Kafka's
//! `compression.type=producer`).
//!
//! Decompression (bounded, and tolerant of the lz4 header checksum of KAFKA-3160 in magic 0) is in
//! [`super::compression`].

use super::compression::decompress;
use crate::plain_batch::plain_record;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy};
use kafka_protocol::records::{Compression, IEEE, NO_TIMESTAMP, Record, RecordBatchEncoder, RecordEncodeOptions};

pub const MAGIC_V0: i8 = 0;
pub const MAGIC_V1: i8 = 1;
/// Offset and size before every message.
pub const LOG_OVERHEAD: usize = 12;
/// crc, magic, attributes, key length, value length.
const MESSAGE_HEADER_V0_BYTES: usize = 14;
/// v0's header and the timestamp.
const MESSAGE_HEADER_V1_BYTES: usize = 22;
const COMPRESSION_MASK: i8 = 0x07;
/// Attributes bit 3: the timestamp is the log append time (magic 1).
pub const LOG_APPEND_TIME_FLAG: i8 = 0x08;

/// Why a message set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageSetError {
    #[error("the message set holds no message")]
    Empty,
    #[error("the message at byte {position} is cut short")]
    Truncated { position: usize },
    #[error("the message at byte {position} has size {size}, below the {min}-byte minimum")]
    Size { position: usize, size: i32, min: usize },
    #[error("the message at byte {position} has magic {magic}; a message set holds magic 0 or 1")]
    Magic { position: usize, magic: i8 },
    #[error("the message at byte {position} has crc {stored:#010x}, its bytes {computed:#010x}")]
    Crc { position: usize, stored: u32, computed: u32 },
    #[error("the message at byte {position} has a key or value of length {len} that does not fit")]
    Field { position: usize, len: i32 },
    #[error("compression codec {codec} is not one a v0/v1 message may use")]
    Codec { codec: i8 },
    #[error("a compressed message holds another compressed message")]
    NestedCompression,
    #[error("a stored batch cannot be converted: {0}")]
    StoredBatch(String),
    #[error("a compressed message has no value")]
    WrapperWithoutValue,
    #[error("a {codec:?} message decompresses to more than {bytes_max} bytes")]
    TooLarge { codec: Compression, bytes_max: usize },
    #[error("cannot decompress a {codec:?} message: {reason}")]
    Decompress { codec: Compression, reason: String },
    #[error("cannot encode the converted batch: {0}")]
    Encode(String),
}

/// One message of a set, after decompression (an inner message of a wrapper is returned, never
/// the wrapper).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyMessage {
    /// The offset in the set: absolute, or relative to its wrapper's first inner message (v1).
    pub offset: i64,
    pub magic: i8,
    /// [`NO_TIMESTAMP`] for magic 0.
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// The messages of a set, and the codec its wrappers used (`None` when nothing was compressed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSet {
    pub messages: Vec<LegacyMessage>,
    pub compression: Compression,
}

/// One message as stored, before decompression.
struct ShallowMessage {
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

/// Reads every message of `set`, decompressing wrappers and checking every CRC.
pub fn read_message_set(set: &Bytes) -> Result<MessageSet, MessageSetError> {
    let mut messages = Vec::new();
    let mut compression = Compression::None;
    for shallow in shallow_messages(set)? {
        let shallow = shallow?;
        let codec = codec(shallow.attributes)?;
        if codec == Compression::None {
            messages.push(LegacyMessage {
                offset: shallow.offset,
                magic: shallow.magic,
                timestamp: shallow.timestamp,
                key: shallow.key,
                value: shallow.value,
            });
            continue;
        }
        if compression == Compression::None {
            compression = codec;
        }
        let value = shallow.value.ok_or(MessageSetError::WrapperWithoutValue)?;
        let inner = decompress(codec, shallow.magic, &value)?;
        let log_append_time = shallow.magic == MAGIC_V1 && shallow.attributes & LOG_APPEND_TIME_FLAG != 0;
        for message in shallow_messages(&inner)? {
            let message = message?;
            if codec_bits(message.attributes) != 0 {
                return Err(MessageSetError::NestedCompression);
            }
            let timestamp = if log_append_time { shallow.timestamp } else { message.timestamp };
            messages.push(LegacyMessage {
                offset: message.offset,
                magic: message.magic,
                timestamp,
                key: message.key,
                value: message.value,
            });
        }
    }
    if messages.is_empty() {
        return Err(MessageSetError::Empty);
    }
    Ok(MessageSet { messages, compression })
}

fn codec_bits(attributes: i8) -> i8 {
    attributes & COMPRESSION_MASK
}

fn codec(attributes: i8) -> Result<Compression, MessageSetError> {
    match codec_bits(attributes) {
        0 => Ok(Compression::None),
        1 => Ok(Compression::Gzip),
        2 => Ok(Compression::Snappy),
        3 => Ok(Compression::Lz4),
        codec => Err(MessageSetError::Codec { codec }),
    }
}

/// The messages of `set` without looking into wrappers. The iterator checks each message's size,
/// CRC and fields before returning it.
fn shallow_messages(
    set: &Bytes,
) -> Result<impl Iterator<Item = Result<ShallowMessage, MessageSetError>> + '_, MessageSetError> {
    if set.is_empty() {
        return Err(MessageSetError::Empty);
    }
    let mut position = 0usize;
    Ok(std::iter::from_fn(move || {
        if position >= set.len() {
            return None;
        }
        let result = shallow_message(set, position);
        match &result {
            Ok((_, next)) => position = *next,
            Err(_) => position = set.len(),
        }
        Some(result.map(|(m, _)| m))
    }))
}

/// The message at `position` and the position after it.
fn shallow_message(set: &Bytes, position: usize) -> Result<(ShallowMessage, usize), MessageSetError> {
    let entry = set.get(position..).unwrap_or_default();
    if entry.len() < LOG_OVERHEAD {
        return Err(MessageSetError::Truncated { position });
    }
    let offset = i64::from_be_bytes(bytes8(&entry[0..8]));
    let size = i32::from_be_bytes(bytes4(&entry[8..12]));
    let size_bytes = usize::try_from(size).unwrap_or(0);
    if size_bytes < MESSAGE_HEADER_V0_BYTES {
        return Err(MessageSetError::Size { position, size, min: MESSAGE_HEADER_V0_BYTES });
    }
    let start = position + LOG_OVERHEAD;
    let end =
        start.checked_add(size_bytes).filter(|&end| end <= set.len()).ok_or(MessageSetError::Truncated { position })?;
    let message = &set[start..end];
    let stored = u32::from_be_bytes(bytes4(&message[0..4]));
    let magic = message[4] as i8;
    if magic != MAGIC_V0 && magic != MAGIC_V1 {
        return Err(MessageSetError::Magic { position, magic });
    }
    if magic == MAGIC_V1 && size_bytes < MESSAGE_HEADER_V1_BYTES {
        return Err(MessageSetError::Size { position, size, min: MESSAGE_HEADER_V1_BYTES });
    }
    let computed = IEEE.checksum(&message[4..]);
    if computed != stored {
        return Err(MessageSetError::Crc { position, stored, computed });
    }
    let attributes = message[5] as i8;
    let (timestamp, mut at) =
        if magic == MAGIC_V1 { (i64::from_be_bytes(bytes8(&message[6..14])), 14) } else { (NO_TIMESTAMP, 6) };
    let key = field(set, start, message, &mut at, position)?;
    let value = field(set, start, message, &mut at, position)?;
    if at != message.len() {
        return Err(MessageSetError::Size { position, size, min: at });
    }
    Ok((ShallowMessage { offset, magic, attributes, timestamp, key, value }, end))
}

/// A key or value at `*at` in `message` (which starts at `start` in `set`), as a slice of `set`.
fn field(
    set: &Bytes,
    start: usize,
    message: &[u8],
    at: &mut usize,
    position: usize,
) -> Result<Option<Bytes>, MessageSetError> {
    let len_bytes = message.get(*at..*at + 4).ok_or(MessageSetError::Truncated { position })?;
    let len = i32::from_be_bytes(bytes4(len_bytes));
    *at += 4;
    if len < 0 {
        return Ok(None);
    }
    let n = len as usize;
    if message.len() - *at < n {
        return Err(MessageSetError::Field { position, len });
    }
    let bytes = set.slice(start + *at..start + *at + n);
    *at += n;
    Ok(Some(bytes))
}

fn bytes4(b: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    out.copy_from_slice(&b[..4]);
    out
}

fn bytes8(b: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&b[..8]);
    out
}

/// Compresses `data` with `codec` (snappy xerial-framed, as Java clients write it).
pub fn compress(codec: Compression, data: &[u8]) -> Result<Bytes, MessageSetError> {
    let fail = |e: anyhow::Error| MessageSetError::Encode(format!("{codec:?}: {e:#}"));
    let mut out = BytesMut::new();
    let fill = |b: &mut BytesMut| -> anyhow::Result<()> {
        b.put_slice(data);
        Ok(())
    };
    match codec {
        Compression::None => out.put_slice(data),
        Compression::Gzip => Gzip::compress(&mut out, fill).map_err(fail)?,
        Compression::Snappy => Snappy::compress(&mut out, fill).map_err(fail)?,
        Compression::Lz4 => Lz4::compress(&mut out, fill).map_err(fail)?,
        Compression::Zstd => return Err(MessageSetError::Codec { codec: Compression::Zstd as i8 }),
    }
    Ok(out.freeze())
}

/// Appends one message entry (offset, size, message) with its CRC to `out`. `timestamp` is written
/// for magic 1 only.
pub fn write_message(
    out: &mut BytesMut,
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let header = if magic == MAGIC_V1 { MESSAGE_HEADER_V1_BYTES } else { MESSAGE_HEADER_V0_BYTES };
    let size = header + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
    out.put_i64(offset);
    out.put_i32(size as i32);
    let crc_at = out.len();
    out.put_u32(0);
    out.put_i8(magic);
    out.put_i8(attributes);
    if magic == MAGIC_V1 {
        out.put_i64(timestamp);
    }
    for field in [key, value] {
        match field {
            Some(bytes) => {
                out.put_i32(bytes.len() as i32);
                out.put_slice(bytes);
            }
            None => out.put_i32(-1),
        }
    }
    let crc = IEEE.checksum(&out[crc_at + 4..]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
}

/// The v2 record batch holding `set`'s messages at offsets 0..n (the log assigns the real ones),
/// compressed as the producer compressed them.
pub fn to_record_batch(set: &MessageSet) -> Result<Bytes, MessageSetError> {
    let records: Vec<Record> = set
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let timestamp = if m.magic == MAGIC_V0 { NO_TIMESTAMP } else { m.timestamp };
            plain_record(i, timestamp, m.key.clone(), m.value.clone(), Default::default())
        })
        .collect();
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: set.compression };
    RecordBatchEncoder::encode(&mut out, records.iter(), &options)
        .map_err(|e| MessageSetError::Encode(format!("{e:#}")))?;
    Ok(out.freeze())
}

#[cfg(test)]
mod tests;
