//! A bounds-checked reader over a request body for the legacy codecs: every read checks the bytes
//! left first and fails with [`LegacyError::Truncated`], never panics, and every array count is
//! checked against the bytes left before anything is allocated for it.

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;

use super::LegacyError;

/// Reads big-endian Kafka primitives from a body, sharing its bytes (strings and byte fields are
/// slices of the body, not copies).
#[derive(Debug)]
pub struct Reader {
    body: Bytes,
    position: usize,
}

impl Reader {
    pub fn new(body: Bytes) -> Reader {
        Reader { body, position: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.body.len() - self.position
    }

    fn take(&mut self, need: usize) -> Result<Bytes, LegacyError> {
        let have = self.remaining();
        if need > have {
            return Err(LegacyError::Truncated { offset: self.position, need, have });
        }
        let bytes = self.body.slice(self.position..self.position + need);
        self.position += need;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], LegacyError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&bytes);
        Ok(out)
    }

    pub fn i8(&mut self) -> Result<i8, LegacyError> {
        Ok(i8::from_be_bytes(self.array()?))
    }

    pub fn i16(&mut self) -> Result<i16, LegacyError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub fn i32(&mut self) -> Result<i32, LegacyError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub fn i64(&mut self) -> Result<i64, LegacyError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, LegacyError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn bool(&mut self) -> Result<bool, LegacyError> {
        Ok(self.i8()? != 0)
    }

    /// An array count: refused when negative, or when the array, at `element_bytes_min` bytes per
    /// element, could not fit in what is left of the body.
    pub fn count(&mut self, what: &'static str, element_bytes_min: usize) -> Result<usize, LegacyError> {
        let count = self.i32()?;
        match usize::try_from(count) {
            Ok(n) if n.saturating_mul(element_bytes_min.max(1)) <= self.remaining() => Ok(n),
            _ => Err(LegacyError::Count { what, count }),
        }
    }

    /// A non-null string (INT16 length, UTF-8).
    pub fn string(&mut self) -> Result<StrBytes, LegacyError> {
        self.nullable_string()?.ok_or(LegacyError::NullString)
    }

    /// A nullable string: length -1 is null.
    pub fn nullable_string(&mut self) -> Result<Option<StrBytes>, LegacyError> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize)?;
        StrBytes::from_utf8(bytes).map(Some).map_err(|_| LegacyError::Utf8)
    }

    /// Nullable bytes (INT32 length, -1 is null).
    pub fn nullable_bytes(&mut self) -> Result<Option<Bytes>, LegacyError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(None);
        }
        self.take(len as usize).map(Some)
    }

    /// Fails unless the whole body was read.
    pub fn finish(self) -> Result<(), LegacyError> {
        match self.remaining() {
            0 => Ok(()),
            left => Err(LegacyError::TrailingBytes { left }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked() {
        let mut r = Reader::new(Bytes::from_static(&[0, 1, 0, 0, 0]));
        assert_eq!(r.i16().ok(), Some(1));
        assert!(matches!(r.i32(), Err(LegacyError::Truncated { offset: 2, need: 4, have: 3 })));
        let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff]));
        assert!(matches!(r.count("topics", 1), Err(LegacyError::Count { .. })));
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0, 2, b'h', b'i', 0, 1]));
        assert_eq!(r.nullable_string().ok(), Some(None));
        assert_eq!(r.string().ok().as_deref().map(|s| s.to_string()), Some("hi".to_string()));
        assert!(matches!(r.finish(), Err(LegacyError::TrailingBytes { left: 2 })));
    }
}
