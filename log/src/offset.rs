//! Offset and position types, and the only place they convert into each other.
//!
//! The public API speaks plain `i64` offsets (that is what Kafka's protocol carries); inside the
//! crate an absolute offset is an [`Offset`], an offset inside a segment is a [`RelativeOffset`]
//! (what the 8- and 12-byte index entries store) and a byte position in a segment file is a
//! [`FilePosition`]. Segments never exceed `u32` in size or relative offset: the partition rolls
//! before either could overflow, so the narrowing conversions here fail only on a programmer error
//! or a corrupt file, and they say so with `None`.

/// An absolute Kafka offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Offset(pub i64);

/// An offset relative to its segment's base offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RelativeOffset(pub u32);

/// A byte position inside one segment's `.log` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FilePosition(pub u32);

impl Offset {
    /// `self - base` as a relative offset, if it fits (`None` below the base or beyond `u32`).
    pub fn relative_to(self, base: Offset) -> Option<RelativeOffset> {
        let delta = self.0.checked_sub(base.0)?;
        u32::try_from(delta).ok().map(RelativeOffset)
    }

    /// The next offset, saturating (offsets never come near `i64::MAX` in a real log).
    pub fn next(self) -> Offset {
        Offset(self.0.saturating_add(1))
    }
}

impl RelativeOffset {
    pub fn absolute(self, base: Offset) -> Offset {
        Offset(base.0.saturating_add(i64::from(self.0)))
    }
}

impl FilePosition {
    pub fn as_u64(self) -> u64 {
        u64::from(self.0)
    }

    /// A position from a file length or byte count, if it fits in a segment.
    pub fn from_len(len: u64) -> Option<FilePosition> {
        u32::try_from(len).ok().map(FilePosition)
    }
}

/// File name stem of a segment: the base offset, zero-padded to 20 digits, as Kafka names them.
pub fn segment_stem(base: Offset) -> String {
    format!("{:020}", base.0)
}

/// Parses a 20-digit stem back into a base offset.
pub fn parse_segment_stem(stem: &str) -> Option<Offset> {
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse::<i64>().ok().map(Offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_offsets_round_trip_and_refuse_overflow() {
        let base = Offset(1_000);
        assert_eq!(Offset(1_005).relative_to(base), Some(RelativeOffset(5)));
        assert_eq!(RelativeOffset(5).absolute(base), Offset(1_005));
        assert_eq!(Offset(999).relative_to(base), None);
        assert_eq!(Offset(1_000 + i64::from(u32::MAX) + 1).relative_to(base), None);
        assert_eq!(Offset(i64::MIN).relative_to(Offset(i64::MAX)), None);
    }

    #[test]
    fn stems_are_twenty_digits() {
        assert_eq!(segment_stem(Offset(42)), "00000000000000000042");
        assert_eq!(parse_segment_stem("00000000000000000042"), Some(Offset(42)));
        assert_eq!(parse_segment_stem("42"), None);
        assert_eq!(parse_segment_stem("0000000000000000004x"), None);
        assert_eq!(parse_segment_stem("99999999999999999999"), None); // beyond i64
    }

    #[test]
    fn positions_fit_u32() {
        assert_eq!(FilePosition::from_len(7), Some(FilePosition(7)));
        assert_eq!(FilePosition::from_len(u64::from(u32::MAX) + 1), None);
    }
}
