//! Walks a message's bytes along its layout, checking every length and count against the bytes
//! left, as Kafka's generated readers do, without building anything.

use super::layout::{Field, Layout};

/// Why a body does not fit its layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("no layout is known for API key {api_key}")]
    NoLayout { api_key: i16 },
    #[error("no layout is known for the message {name}")]
    NoEmbeddedLayout { name: String },
    #[error("tried to allocate a collection of size {count}, but there are only {remaining} bytes remaining")]
    Count { count: u64, remaining: usize },
    #[error("a {what} of length {length} is longer than the {remaining} bytes remaining")]
    Length { what: &'static str, length: u64, remaining: usize },
    #[error("the message is cut short at byte {at}")]
    Truncated { at: usize },
    #[error("invalid {what} length {length}")]
    Negative { what: &'static str, length: i64 },
    #[error("a varint runs past 5 bytes at byte {at}")]
    Varint { at: usize },
    #[error("version {version} is not one Kafka defines for this message")]
    Version { version: i16 },
    #[error("unknown field type {kind}")]
    UnknownType { kind: String },
}

/// Checks `bytes` as `layout` at `version`; returns how many bytes the message takes (what
/// follows is ignored, as Kafka ignores it).
pub(super) fn check(layout: &Layout, version: i16, bytes: &[u8]) -> Result<usize, SchemaError> {
    if !layout.valid.contains(version) {
        return Err(SchemaError::Version { version });
    }
    let mut walker = Walker { bytes, at: 0, version, flexible: layout.flexible.contains(version) };
    walker.fields(&layout.fields)?;
    Ok(walker.at)
}

struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
    version: i16,
    flexible: bool,
}

impl Walker<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn skip(&mut self, n: usize) -> Result<(), SchemaError> {
        if n > self.remaining() {
            return Err(SchemaError::Truncated { at: self.at });
        }
        self.at += n;
        Ok(())
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], SchemaError> {
        let slice = self.bytes.get(self.at..self.at + N).ok_or(SchemaError::Truncated { at: self.at })?;
        self.at += N;
        let mut out = [0; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    fn uvarint(&mut self) -> Result<u64, SchemaError> {
        let start = self.at;
        let mut value = 0u64;
        for shift in (0..35).step_by(7) {
            let [byte] = self.fixed::<1>()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(SchemaError::Varint { at: start })
    }

    /// A length or count: compact (unsigned varint of n + 1, 0 for null) in flexible versions,
    /// else a signed INT16 or INT32 (-1 for null). `None` is null.
    fn length(&mut self, what: &'static str, wide: bool) -> Result<Option<u64>, SchemaError> {
        let signed = if self.flexible {
            i64::try_from(self.uvarint()?).unwrap_or(i64::MAX) - 1
        } else if wide {
            i64::from(i32::from_be_bytes(self.fixed()?))
        } else {
            i64::from(i16::from_be_bytes(self.fixed()?))
        };
        match signed {
            -1 => Ok(None),
            n if n < -1 => Err(SchemaError::Negative { what, length: n }),
            n => Ok(Some(n.unsigned_abs())),
        }
    }

    /// Skips a length-prefixed string or byte field after checking its length.
    fn sized(&mut self, what: &'static str, wide: bool) -> Result<(), SchemaError> {
        if let Some(length) = self.length(what, wide)? {
            let remaining = self.remaining();
            if length > remaining as u64 {
                return Err(SchemaError::Length { what, length, remaining });
            }
            self.at += length as usize;
        }
        Ok(())
    }

    fn fields(&mut self, fields: &[Field]) -> Result<(), SchemaError> {
        let version = self.version;
        for field in fields.iter().filter(|f| f.tag.is_none() && f.versions.contains(version)) {
            self.field(field)?;
        }
        if self.flexible { self.tagged(fields) } else { Ok(()) }
    }

    /// The tagged-field section of a struct: each known tag is walked within its stated size.
    fn tagged(&mut self, fields: &[Field]) -> Result<(), SchemaError> {
        let count = self.uvarint()?;
        self.check_count(count)?;
        for _ in 0..count {
            let tag = self.uvarint()?;
            let size = self.uvarint()?;
            let remaining = self.remaining();
            if size > remaining as u64 {
                return Err(SchemaError::Length { what: "tagged field", length: size, remaining });
            }
            let end = self.at + size as usize;
            let known = fields.iter().find(|f| {
                f.tag.map(u64::from) == Some(tag) && f.tagged_versions.is_some_and(|v| v.contains(self.version))
            });
            if let Some(field) = known {
                let mut inner = Walker { bytes: &self.bytes[..end], at: self.at, ..*self };
                inner.field(field)?;
            }
            self.at = end;
        }
        Ok(())
    }

    fn check_count(&self, count: u64) -> Result<(), SchemaError> {
        let remaining = self.remaining();
        if count > remaining as u64 {
            return Err(SchemaError::Count { count, remaining });
        }
        Ok(())
    }

    fn field(&mut self, field: &Field) -> Result<(), SchemaError> {
        match field.kind.strip_prefix("[]") {
            Some(element) => {
                let Some(count) = self.length("array", true)? else { return Ok(()) };
                self.check_count(count)?;
                match fixed_size(element) {
                    Some(size) => self.skip(count as usize * size),
                    None => (0..count).try_for_each(|_| self.value(element, field)),
                }
            }
            None => self.value(&field.kind, field),
        }
    }

    /// One value of type `kind` (`field` holds a struct's fields and nullability).
    fn value(&mut self, kind: &str, field: &Field) -> Result<(), SchemaError> {
        if let Some(size) = fixed_size(kind) {
            return self.skip(size);
        }
        match kind {
            "string" => self.sized("string", false),
            "bytes" | "records" => self.sized(if kind == "bytes" { "bytes field" } else { "record set" }, true),
            "struct" => {
                let nullable =
                    !field.kind.starts_with("[]") && field.nullable_struct.is_some_and(|v| v.contains(self.version));
                if nullable && i8::from_be_bytes(self.fixed()?) < 0 {
                    return Ok(());
                }
                self.fields(&field.fields)
            }
            other => Err(SchemaError::UnknownType { kind: other.to_string() }),
        }
    }
}

/// The encoded size of a fixed-size type.
fn fixed_size(kind: &str) -> Option<usize> {
    match kind {
        "bool" | "int8" => Some(1),
        "int16" | "uint16" => Some(2),
        "int32" | "uint32" => Some(4),
        "int64" | "float64" => Some(8),
        "uuid" => Some(16),
        _ => None,
    }
}
