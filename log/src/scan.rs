//! Walks the record batches of a segment file region, reading in large chunks.
//!
//! Two modes: `validate` (recovery: every batch is CRC-checked and must carry the next expected
//! offset) and header-only (producer-state replay, timestamp search, max-timestamp rebuild on a
//! file already trusted). The scan stops at the first thing that is not a good batch and says
//! where, so recovery can cut the file there.

use std::fs::File;
use std::os::unix::fs::FileExt;

use strata_wire::batch::{BATCH_HEADER_BYTES, BatchError, BatchHeader, validate_batch};

use crate::config::MESSAGE_BYTES_MAX;

/// Bytes read per `pread` when the buffer runs dry.
const CHUNK_BYTES: usize = 256 * 1024;

/// What the scanner found next.
#[derive(Debug)]
pub(crate) enum Step {
    /// A batch starting at `position`.
    Batch { position: u64, header: BatchHeader },
    /// The region ended exactly on a batch boundary.
    End,
    /// Bytes at `position` are not a good batch (torn, corrupt, zero-filled, out of sequence).
    Bad { position: u64, reason: BadBatch },
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BadBatch {
    Invalid(BatchError),
    /// The batch runs past the end of the region (a torn write).
    Torn,
    /// A batch larger than any the log accepts.
    TooLarge,
    /// The batch does not carry the offset that follows the previous one.
    OffsetGap {
        expected: i64,
        found: i64,
    },
}

pub(crate) struct Scanner<'a> {
    file: &'a File,
    position: u64,
    end: u64,
    buf: Vec<u8>,
    buf_start: u64,
    validate: bool,
    expected_offset: Option<i64>,
}

impl<'a> Scanner<'a> {
    /// Scans `[start, end)` of `file`. With `validate`, `expected_offset` (if given) is the base
    /// offset the first batch must have; later batches must follow on.
    pub(crate) fn new(file: &'a File, start: u64, end: u64, validate: bool, expected_offset: Option<i64>) -> Self {
        Scanner { file, position: start, end, buf: Vec::new(), buf_start: start, validate, expected_offset }
    }

    /// Makes `buf` hold `[position, position + len)`; false if the file ends first.
    fn fill(&mut self, len: usize) -> std::io::Result<bool> {
        let have_from = self.position.saturating_sub(self.buf_start) as usize;
        if self.position >= self.buf_start && have_from + len <= self.buf.len() {
            return Ok(true);
        }
        let want = len.max(CHUNK_BYTES).min((self.end - self.position) as usize).max(len);
        self.buf.clear();
        self.buf.resize(want, 0);
        self.buf_start = self.position;
        let mut filled = 0;
        while filled < want {
            match self.file.read_at(&mut self.buf[filled..], self.position + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.buf.truncate(filled);
        Ok(filled >= len)
    }

    fn slice(&self, len: usize) -> &[u8] {
        let from = (self.position - self.buf_start) as usize;
        &self.buf[from..from + len]
    }

    /// The next batch, or where and why the scan stopped.
    pub(crate) fn next_step(&mut self) -> std::io::Result<Step> {
        let position = self.position;
        if position >= self.end {
            return Ok(Step::End);
        }
        let bad = |reason| Ok(Step::Bad { position, reason });
        if self.end - position < BATCH_HEADER_BYTES as u64 || !self.fill(BATCH_HEADER_BYTES)? {
            return bad(BadBatch::Torn);
        }
        let header = match BatchHeader::parse(self.slice(BATCH_HEADER_BYTES)) {
            Ok(header) => header,
            Err(e) => return bad(BadBatch::Invalid(e)),
        };
        let total = header.total_bytes();
        if total > MESSAGE_BYTES_MAX as usize + BATCH_HEADER_BYTES {
            return bad(BadBatch::TooLarge);
        }
        if self.end - position < total as u64 {
            return bad(BadBatch::Torn);
        }
        if self.validate {
            if !self.fill(total)? {
                return bad(BadBatch::Torn);
            }
            if let Err(e) = validate_batch(self.slice(total)) {
                return bad(BadBatch::Invalid(e));
            }
            if let Some(expected) = self.expected_offset
                && header.base_offset != expected
            {
                return bad(BadBatch::OffsetGap { expected, found: header.base_offset });
            }
            self.expected_offset = Some(header.last_offset().saturating_add(1));
        }
        self.position = position + total as u64;
        Ok(Step::Batch { position, header })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A valid v2 batch of `records` records (100-byte values) with base offset `base`.
    pub(crate) fn test_batch(base: i64, records: usize, timestamp: i64) -> Vec<u8> {
        crate::test_batches::batch_from(base, records, timestamp, -1, -1, -1).to_vec()
    }

    fn file_with(bytes: &[u8]) -> (tempfile::NamedTempFile, u64) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        (f, bytes.len() as u64)
    }

    fn steps(file: &File, end: u64, validate: bool) -> Vec<Step> {
        let mut scanner = Scanner::new(file, 0, end, validate, Some(0));
        let mut out = Vec::new();
        loop {
            let step = scanner.next_step().unwrap();
            let stop = !matches!(step, Step::Batch { .. });
            out.push(step);
            if stop {
                return out;
            }
        }
    }

    #[test]
    fn walks_good_batches_and_stops_at_the_end() {
        let mut bytes = test_batch(0, 3, 10);
        let second_at = bytes.len() as u64;
        bytes.extend(test_batch(3, 2, 20));
        let (f, end) = file_with(&bytes);
        let s = steps(f.as_file(), end, true);
        assert_eq!(s.len(), 3);
        assert!(matches!(s[1], Step::Batch { position, header } if position == second_at && header.base_offset == 3));
        assert!(matches!(s[2], Step::End));
    }

    #[test]
    fn stops_at_torn_zeroed_corrupt_and_out_of_sequence_batches() {
        let good = test_batch(0, 2, 10);
        let n = good.len() as u64;
        type Case = (Vec<u8>, fn(&BadBatch) -> bool);
        let cases: Vec<Case> = vec![
            ([good.clone(), good[..30].to_vec()].concat(), |r| *r == BadBatch::Torn),
            ([good.clone(), good[..good.len() - 1].to_vec()].concat(), |r| *r == BadBatch::Torn),
            ([good.clone(), vec![0u8; 500]].concat(), |r| matches!(r, BadBatch::Invalid(_))),
            (
                [good.clone(), {
                    let mut b = test_batch(2, 2, 10);
                    b[70] ^= 1;
                    b
                }]
                .concat(),
                |r| matches!(r, BadBatch::Invalid(BatchError::CrcMismatch { .. })),
            ),
            ([good.clone(), test_batch(7, 1, 10)].concat(), |r| *r == BadBatch::OffsetGap { expected: 2, found: 7 }),
        ];
        for (i, (bytes, check)) in cases.into_iter().enumerate() {
            let (f, end) = file_with(&bytes);
            let s = steps(f.as_file(), end, true);
            assert_eq!(s.len(), 2, "case {i}");
            match &s[1] {
                Step::Bad { position, reason } => {
                    assert_eq!(*position, n, "case {i}");
                    assert!(check(reason), "case {i}: {reason:?}");
                }
                other => panic!("case {i}: {other:?}"),
            }
        }
    }

    #[test]
    fn header_only_mode_skips_crc() {
        let mut bytes = test_batch(0, 2, 10);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let (f, end) = file_with(&bytes);
        assert!(matches!(steps(f.as_file(), end, false)[1], Step::End));
        assert!(matches!(steps(f.as_file(), end, true)[0], Step::Bad { .. }));
    }
}
