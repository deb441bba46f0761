//! Decompression of the compressed wrapper messages of Produce v0-2, through the bounded
//! decompressor every client batch goes through ([`crate::compression`]): the inner message set
//! of one wrapper may not grow past [`DECOMPRESSED_BYTES_MAX`], so a small request cannot make the
//! broker allocate gigabytes (a "zip bomb"). Codecs as Kafka's Java clients write them (gzip,
//! xerial-framed or raw snappy, lz4 frames); what is particular to old messages is handled here:
//! magic 0 lz4 messages carry the frame header checksum Kafka computed wrongly before 0.10 (over
//! the magic number too, KAFKA-3160), which Kafka's reader ignores for them, so it is replaced by
//! the right one before the frame decoder checks it; and zstd never existed for old messages.

use bytes::Bytes;
use kafka_protocol::records::Compression;

use super::message_set::{MAGIC_V0, MessageSetError};
use crate::batch::Compression as Codec;
use crate::compression::DecompressError;

/// The largest inner message set one compressed message may decompress to.
pub const DECOMPRESSED_BYTES_MAX: usize = crate::compression::BATCH_DECOMPRESSED_BYTES_MAX;

const LZ4_FRAME_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];

/// Decompresses the value of a wrapper message of `magic` compressed with `codec`.
pub fn decompress(codec: Compression, magic: i8, value: &Bytes) -> Result<Bytes, MessageSetError> {
    let fail = |reason: String| MessageSetError::Decompress { codec, reason };
    let bounded = |codec_of: Codec, data: &[u8]| {
        crate::compression::decompress(codec_of, data, DECOMPRESSED_BYTES_MAX).map_err(|e| match e {
            DecompressError::TooLarge { .. } => MessageSetError::TooLarge { codec, bytes_max: DECOMPRESSED_BYTES_MAX },
            DecompressError::Corrupt { reason, .. } => fail(reason),
        })
    };
    let out = match codec {
        Compression::None => return Ok(value.clone()),
        Compression::Gzip => bounded(Codec::Gzip, value)?,
        Compression::Snappy => bounded(Codec::Snappy, value)?,
        Compression::Lz4 if magic == MAGIC_V0 => bounded(Codec::Lz4, &fix_lz4_header_checksum(value).map_err(fail)?)?,
        Compression::Lz4 => bounded(Codec::Lz4, value)?,
        Compression::Zstd => return Err(MessageSetError::Codec { codec: Compression::Zstd as i8 }),
    };
    Ok(Bytes::from(out))
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
    let round =
        |acc: u32, input: u32| acc.wrapping_add(input.wrapping_mul(PRIME2)).rotate_left(13).wrapping_mul(PRIME1);
    let mut at = 0;
    let mut h = if data.len() >= 16 {
        let mut v = [
            seed.wrapping_add(PRIME1).wrapping_add(PRIME2),
            seed.wrapping_add(PRIME2),
            seed,
            seed.wrapping_sub(PRIME1),
        ];
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
        assert_eq!(
            decompress(Compression::Lz4, MAGIC_V0, &broken).expect("magic 0 accepts it"),
            Bytes::from(data.clone())
        );
        assert_eq!(
            decompress(Compression::Lz4, MAGIC_V0, &good).expect("and the right one"),
            Bytes::from(data.clone())
        );
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
        assert!(matches!(
            decompress(Compression::Snappy, MAGIC_V0, &Bytes::from(raw)),
            Err(MessageSetError::TooLarge { .. })
        ));
    }
}
