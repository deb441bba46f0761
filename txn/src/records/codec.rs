//! The schema primitives `TransactionLogKey`/`TransactionLogValue` use, over `bytes`' `Buf` and
//! `BufMut`. Decoding checks every length against the bytes left before reading or allocating
//! (the log may hold a corrupt record).

use bytes::{Buf, BufMut, BytesMut};

use crate::records::RecordError;

/// A short read, as the record error the group records use too.
pub(crate) fn truncated(e: bytes::TryGetError) -> RecordError {
    RecordError::Truncated { need: e.requested, have: e.available }
}

pub(crate) fn uvarint(buf: &mut &[u8]) -> Result<u32, RecordError> {
    let mut value: u32 = 0;
    for shift in (0..35).step_by(7) {
        let byte = buf.try_get_u8().map_err(truncated)?;
        value |= u32::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(RecordError::Malformed("varint longer than 5 bytes"))
}

pub(crate) fn put_uvarint(out: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7F) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

/// A length prefix: `i16`/`i32` with -1 for null, or (flexible) a uvarint of length + 1 with 0
/// for null. `None` is null.
pub(crate) fn length(buf: &mut &[u8], flexible: bool, wide: bool) -> Result<Option<usize>, RecordError> {
    let len = if flexible {
        i64::from(uvarint(buf)?) - 1
    } else if wide {
        i64::from(buf.try_get_i32().map_err(truncated)?)
    } else {
        i64::from(buf.try_get_i16().map_err(truncated)?)
    };
    match len {
        -1 => Ok(None),
        n if n < 0 => Err(RecordError::Malformed("negative length")),
        n => usize::try_from(n).map(Some).map_err(|_| RecordError::Malformed("length overflow")),
    }
}

pub(crate) fn put_length(out: &mut BytesMut, len: Option<usize>, flexible: bool, wide: bool) {
    match (flexible, len) {
        (true, None) => out.put_u8(0),
        (true, Some(n)) => put_uvarint(out, u32::try_from(n + 1).expect("length fits a uvarint")),
        (false, None) if wide => out.put_i32(-1),
        (false, None) => out.put_i16(-1),
        (false, Some(n)) if wide => out.put_i32(i32::try_from(n).expect("array length fits an int32")),
        (false, Some(n)) => out.put_i16(i16::try_from(n).expect("string length fits an int16")),
    }
}

pub(crate) fn string(buf: &mut &[u8], flexible: bool) -> Result<String, RecordError> {
    let len = length(buf, flexible, false)?.ok_or(RecordError::Malformed("null in a non-nullable string"))?;
    if buf.remaining() < len {
        return Err(RecordError::Truncated { need: len, have: buf.remaining() });
    }
    let (head, rest) = buf.split_at(len);
    *buf = rest;
    std::str::from_utf8(head).map(str::to_owned).map_err(|_| RecordError::Malformed("string is not UTF-8"))
}

pub(crate) fn put_string(out: &mut BytesMut, s: &str, flexible: bool) {
    // Transactional ids and topic names were bounded by the request decoder (int16 lengths).
    put_length(out, Some(s.len()), flexible, false);
    out.put_slice(s.as_bytes());
}

/// An array's element count, checked against the bytes left (`min_bytes` per element) so that a
/// corrupt count cannot make the caller allocate more than the record holds.
pub(crate) fn array_len(buf: &mut &[u8], flexible: bool, min_bytes: usize) -> Result<Option<usize>, RecordError> {
    let len = length(buf, flexible, true)?;
    if let Some(n) = len
        && n.saturating_mul(min_bytes) > buf.remaining()
    {
        return Err(RecordError::Truncated { need: n.saturating_mul(min_bytes), have: buf.remaining() });
    }
    Ok(len)
}

/// Reads a flexible struct's tagged fields, calling `field(tag, bytes)` for each.
pub(crate) fn tagged_fields(
    buf: &mut &[u8],
    mut field: impl FnMut(u32, &[u8]) -> Result<(), RecordError>,
) -> Result<(), RecordError> {
    let count = uvarint(buf)?;
    for _ in 0..count {
        let tag = uvarint(buf)?;
        let size = uvarint(buf)? as usize;
        if buf.remaining() < size {
            return Err(RecordError::Truncated { need: size, have: buf.remaining() });
        }
        let (head, rest) = buf.split_at(size);
        *buf = rest;
        field(tag, head)?;
    }
    Ok(())
}
