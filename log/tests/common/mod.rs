//! Helpers shared by the log's crash tests (`crash_kill.rs`, `power_cut.rs`): a seeded PRNG and a
//! reader of every batch of a partition.
#![allow(dead_code)] // each includer uses a different part

use strata_log::Partition;
use strata_wire::batch::BatchHeader;

/// SplitMix64: a seeded PRNG is all the tests need.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Every batch from the log start to the high watermark, as (base offset, bytes).
pub fn read_all(partition: &Partition) -> Vec<(i64, Vec<u8>)> {
    let mut batches = Vec::new();
    let mut offset = partition.log_start_offset();
    while offset < partition.high_watermark() {
        let result = partition.read(offset, 256 * 1024).unwrap();
        assert!(!result.ranges.is_empty(), "no range at offset {offset} below the high watermark");
        for range in &result.ranges {
            let mut bytes = Vec::new();
            range.read_into(&mut bytes).unwrap();
            let mut at = 0;
            while at < bytes.len() {
                let header = BatchHeader::parse(&bytes[at..]).unwrap();
                let end = at + header.total_bytes();
                batches.push((header.base_offset, bytes[at..end].to_vec()));
                offset = header.last_offset() + 1;
                at = end;
            }
        }
    }
    batches
}
