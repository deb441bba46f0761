//! The primitive types of Kafka's message schemas, for the `__consumer_offsets` records only.
//!
//! `kafka-protocol` 0.18 generates the request/response messages but not the coordinator record
//! schemas (OffsetCommitKey/Value, GroupMetadataKey/Value), and keeps its primitive encoders
//! crate-private, so the few primitives those schemas use live here. Decoding checks every length
//! against the bytes left before reading or allocating (the log may hold a corrupt record).
//! Encoding writes the non-flexible forms only (what Kafka itself writes); decoding also reads the
//! flexible (compact, tagged-field) forms of the v4 values.

use bytes::{BufMut, Bytes, BytesMut};

use crate::records::RecordError;

/// Reads schema primitives from a byte slice, front to back.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], RecordError> {
        if self.buf.len() < len {
            return Err(RecordError::Truncated { need: len, have: self.buf.len() });
        }
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, RecordError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, RecordError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, RecordError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    pub(crate) fn uvarint(&mut self) -> Result<u32, RecordError> {
        let mut value: u32 = 0;
        for shift in (0..35).step_by(7) {
            let [byte] = self.array::<1>()?;
            value |= u32::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordError::Malformed("varint longer than 5 bytes"))
    }

    /// A length that is -1 for null, or a non-negative count: `None` for null.
    fn length(len: i64) -> Result<Option<usize>, RecordError> {
        match len {
            -1 => Ok(None),
            n if n < 0 => Err(RecordError::Malformed("negative length")),
            n => usize::try_from(n).map(Some).map_err(|_| RecordError::Malformed("length overflow")),
        }
    }

    fn length_of(&mut self, flexible: bool, wide: bool) -> Result<Option<usize>, RecordError> {
        if flexible {
            // Compact forms store length + 1, with 0 meaning null.
            Self::length(i64::from(self.uvarint()?) - 1)
        } else if wide {
            Self::length(i64::from(self.i32()?))
        } else {
            Self::length(i64::from(self.i16()?))
        }
    }

    pub(crate) fn nullable_string(&mut self, flexible: bool) -> Result<Option<String>, RecordError> {
        match self.length_of(flexible, false)? {
            None => Ok(None),
            Some(len) => {
                let raw = self.take(len)?;
                let s = std::str::from_utf8(raw).map_err(|_| RecordError::Malformed("string is not UTF-8"))?;
                Ok(Some(s.to_owned()))
            }
        }
    }

    pub(crate) fn string(&mut self, flexible: bool) -> Result<String, RecordError> {
        self.nullable_string(flexible)?.ok_or(RecordError::Malformed("null in a non-nullable string"))
    }

    pub(crate) fn bytes(&mut self, flexible: bool) -> Result<Bytes, RecordError> {
        match self.length_of(flexible, true)? {
            None => Err(RecordError::Malformed("null in a non-nullable bytes field")),
            Some(len) => Ok(Bytes::copy_from_slice(self.take(len)?)),
        }
    }

    /// An array's element count; the caller bounds its allocation by the bytes left.
    pub(crate) fn array_len(&mut self, flexible: bool) -> Result<usize, RecordError> {
        self.length_of(flexible, true)?.ok_or(RecordError::Malformed("null array"))
    }

    /// An upper bound on how many more elements of at least `min_bytes` each can follow.
    pub(crate) fn capacity_for(&self, count: usize, min_bytes: usize) -> usize {
        count.min(self.buf.len() / min_bytes.max(1))
    }

    /// Skips a flexible struct's tagged fields (none of which this coordinator uses).
    pub(crate) fn skip_tagged_fields(&mut self) -> Result<(), RecordError> {
        let count = self.uvarint()?;
        for _ in 0..count {
            let _tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }
}

pub(crate) fn put_string(out: &mut BytesMut, s: &str) {
    put_nullable_string(out, Some(s));
}

pub(crate) fn put_nullable_string(out: &mut BytesMut, s: Option<&str>) {
    match s {
        None => out.put_i16(-1),
        Some(s) => {
            // Kafka strings are at most i16::MAX bytes; ids and names that reach here were bounded
            // by the request decoder, so a longer one is a programmer error.
            let len = i16::try_from(s.len()).unwrap_or(i16::MAX);
            assert_eq!(len as usize, s.len(), "string longer than i16::MAX bytes");
            out.put_i16(len);
            out.put_slice(s.as_bytes());
        }
    }
}

pub(crate) fn put_bytes(out: &mut BytesMut, b: &[u8]) {
    let len = i32::try_from(b.len()).unwrap_or(i32::MAX);
    assert_eq!(len as usize, b.len(), "bytes longer than i32::MAX");
    out.put_i32(len);
    out.put_slice(b);
}
