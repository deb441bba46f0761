//! Decompression of the compressed wrapper messages of Produce v0-2, with a bound: the inner
//! message set of one wrapper may not grow past [`DECOMPRESSED_BYTES_MAX`], so a small request
//! cannot make the broker allocate gigabytes (a "zip bomb"). Each codec is read as Kafka's Java
//! clients write it:
//!
//! - gzip: a gzip stream.
//! - snappy: xerial-framed (a 16-byte header, then blocks of `length u32, raw snappy block`), or
//!   raw snappy from clients that do not frame it (as snappy-java falls back to).
//! - lz4: an lz4 frame. Magic 0 messages carry the frame header checksum Kafka computed wrongly
//!   before 0.10 (over the magic number too, KAFKA-3160); Kafka's reader ignores it for them, so
//!   here it is replaced by the right one before the frame decoder checks it.

use std::io::Read;

use bytes::Bytes;
use kafka_protocol::records::Compression;

use super::message_set::{MAGIC_V0, MessageSetError};

/// The largest inner message set one compressed message may decompress to.
pub const DECOMPRESSED_BYTES_MAX: usize = 64 << 20;

/// snappy-java's stream header: magic, version 1, compatible version 1.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_BYTES: usize = 16;
const LZ4_FRAME_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];

/// Decompresses the value of a wrapper message of `magic` compressed with `codec`.
pub fn decompress(codec: Compression, magic: i8, value: &Bytes) -> Result<Bytes, MessageSetError> {
    let fail = |reason: String| MessageSetError::Decompress { codec, reason };
    let out = match codec {
        Compression::None => return Ok(value.clone()),
        Compression::Gzip => read_bounded(flate2::read::GzDecoder::new(&value[..])).map_err(|e| fail(e.to_string()))?,
        Compression::Snappy => snappy(value).map_err(fail)?,
        Compression::Lz4 => {
            let frame = if magic == MAGIC_V0 { fix_lz4_header_checksum(value).map_err(fail)? } else { value.to_vec() };
            let decoder = lz4::Decoder::new(&frame[..]).map_err(|e| fail(e.to_string()))?;
            read_bounded(decoder).map_err(|e| fail(e.to_string()))?
        }
        Compression::Zstd => return Err(MessageSetError::Codec { codec: Compression::Zstd as i8 }),
    };
    if out.len() > DECOMPRESSED_BYTES_MAX {
        return Err(MessageSetError::TooLarge { codec, bytes_max: DECOMPRESSED_BYTES_MAX });
    }
    Ok(Bytes::from(out))
}

/// Reads at most one byte more than [`DECOMPRESSED_BYTES_MAX`] (the caller refuses that).
fn read_bounded<R: Read>(reader: R) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    reader.take(DECOMPRESSED_BYTES_MAX as u64 + 1).read_to_end(&mut out)?;
    Ok(out)
}

fn snappy(value: &[u8]) -> Result<Vec<u8>, String> {
    let raw = |block: &[u8], out: &mut Vec<u8>| -> Result<(), String> {
        let len = snap::raw::decompress_len(block).map_err(|e| e.to_string())?;
        if out.len() + len > DECOMPRESSED_BYTES_MAX {
            // One byte over is enough for the caller to refuse it, without inflating the block.
            out.resize(DECOMPRESSED_BYTES_MAX + 1, 0);
            return Ok(());
        }
        let start = out.len();
        out.resize(start + len, 0);
        snap::raw::Decoder::new().decompress(block, &mut out[start..]).map_err(|e| e.to_string())?;
        Ok(())
    };
    let mut out = Vec::new();
    if !value.starts_with(XERIAL_MAGIC) {
        raw(value, &mut out)?;
        return Ok(out);
    }
    let mut rest = value.get(XERIAL_HEADER_BYTES..).ok_or("xerial snappy header cut short")?;
    while !rest.is_empty() {
        let len_bytes: [u8; 4] = rest.get(..4).and_then(|b| b.try_into().ok()).ok_or("xerial block length cut short")?;
        let len = u32::from_be_bytes(len_bytes) as usize;
        let block = rest.get(4..4 + len).ok_or("xerial block cut short")?;
        raw(block, &mut out)?;
        if out.len() > DECOMPRESSED_BYTES_MAX {
            break;
        }
        rest = &rest[4 + len..];
    }
    Ok(out)
}

/// The lz4 frame with its header checksum recomputed (over the frame descriptor, without the
/// magic number, as the lz4 frame format defines it).
fn fix_lz4_header_checksum(frame: &[u8]) -> Result<Vec<u8>, String> {
    if frame.get(..4) != Some(&LZ4_FRAME_MAGIC[..]) {
        return Err("not an lz4 frame".into());
    }
    let flags = *frame.get(4).ok_or("lz4 frame descriptor cut short")?;
    let content_size = if flags & 0x08 != 0 { 8 } else { 0 };
    let dictionary_id = if flags & 0x01 != 0 { 4 } else { 0 };
    let checksum_at = 4 + 2 + content_size + dictionary_id;
    if frame.len() <= checksum_at {
        return Err("lz4 frame descriptor cut short".into());
    }
    let mut fixed = frame.to_vec();
    fixed[checksum_at] = (xxh32(&frame[4..checksum_at], 0) >> 8) as u8;
    Ok(fixed)
}

const PRIME1: u32 = 2_654_435_761;
const PRIME2: u32 = 2_246_822_519;
const PRIME3: u32 = 3_266_489_917;
const PRIME4: u32 = 668_265_263;
const PRIME5: u32 = 374_761_393;

/// XXH32, the hash of the lz4 frame header checksum.
pub fn xxh32(data: &[u8], seed: u32) -> u32 {
    let word = |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    let round = |acc: u32, input: u32| acc.wrapping_add(input.wrapping_mul(PRIME2)).rotate_left(13).wrapping_mul(PRIME1);
    let mut at = 0;
    let mut h = if data.len() >= 16 {
        let mut v = [seed.wrapping_add(PRIME1).wrapping_add(PRIME2), seed.wrapping_add(PRIME2), seed, seed.wrapping_sub(PRIME1)];
        while at + 16 <= data.len() {
            for (i, lane) in v.iter_mut().enumerate() {
                *lane = round(*lane, word(at + 4 * i));
            }
            at += 16;
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        seed.wrapping_add(PRIME5)
    };
    h = h.wrapping_add(data.len() as u32);
    while at + 4 <= data.len() {
        h = h.wrapping_add(word(at).wrapping_mul(PRIME3)).rotate_left(17).wrapping_mul(PRIME4);
        at += 4;
    }
    while at < data.len() {
        h = h.wrapping_add(u32::from(data[at]).wrapping_mul(PRIME5)).rotate_left(11).wrapping_mul(PRIME1);
        at += 1;
    }
    h ^= h >> 15;
    h = h.wrapping_mul(PRIME2);
    h ^= h >> 13;
    h = h.wrapping_mul(PRIME3);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::message_set::{MAGIC_V1, compress};

    #[test]
    fn xxh32_matches_the_reference_vectors() {
        assert_eq!(xxh32(b"", 0), 0x02cc_5d05);
        assert_eq!(xxh32(b"a", 0), 0x550d_7456);
        assert_eq!(xxh32(b"abc", 0), 0x32d1_53ff);
        assert_eq!(xxh32(b"Nobody inspects the spammish repetition", 0), 0xe229_3b2f);
    }

    #[test]
    fn lz4_of_magic_0_is_read_with_kafkas_broken_header_checksum() {
        let data = b"lz4 data lz4 data lz4 data".repeat(10);
        let good = compress(Compression::Lz4, &data).expect("lz4");
        // KAFKA-3160: the checksum over the magic number and the descriptor.
        let mut broken = good.to_vec();
        let checksum_at = 6 + if broken[4] & 0x08 != 0 { 8 } else { 0 };
        broken[checksum_at] = (xxh32(&good[..checksum_at], 0) >> 8) as u8;
        assert_ne!(broken[checksum_at], good[checksum_at], "the two checksums differ for this frame");
        let broken = Bytes::from(broken);
        assert_eq!(decompress(Compression::Lz4, MAGIC_V0, &broken).expect("magic 0 accepts it"), Bytes::from(data.clone()));
        assert_eq!(decompress(Compression::Lz4, MAGIC_V0, &good).expect("and the right one"), Bytes::from(data.clone()));
        assert!(
            matches!(decompress(Compression::Lz4, MAGIC_V1, &broken), Err(MessageSetError::Decompress { .. })),
            "magic 1 does not"
        );
    }

    #[test]
    fn a_zip_bomb_is_refused_without_inflating_it_all() {
        let zeros = vec![0u8; DECOMPRESSED_BYTES_MAX + 1024];
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            let bomb = compress(codec, &zeros).expect("compress");
            assert!(bomb.len() < zeros.len() / 10, "{codec:?} compresses zeros");
            assert_eq!(
                decompress(codec, MAGIC_V1, &bomb),
                Err(MessageSetError::TooLarge { codec, bytes_max: DECOMPRESSED_BYTES_MAX }),
                "{codec:?}"
            );
        }
        let raw = snap::raw::Encoder::new().compress_vec(&zeros).expect("raw snappy");
        assert!(matches!(decompress(Compression::Snappy, MAGIC_V0, &Bytes::from(raw)), Err(MessageSetError::TooLarge { .. })));
    }
}
