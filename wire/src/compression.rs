//! Decompression of record-batch bodies with a bound on the output. A client chooses what it
//! compresses, so a batch of a few kilobytes can expand to gigabytes (a decompression bomb); every
//! place the broker looks inside a client's compressed batch goes through here and stops at
//! `output_bytes_max`. Codecs and framings as Kafka writes them: gzip, snappy (raw blocks, or the
//! xerial framing of the Java client), the LZ4 frame format, zstd. No I/O beyond the slices given.

use std::io::Read;

use thiserror::Error;

use crate::batch::Compression;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecompressError {
    #[error("decompressed data exceeds {limit} bytes")]
    TooLarge { limit: usize },
    #[error("corrupt {codec:?} data: {reason}")]
    Corrupt { codec: Compression, reason: String },
}

/// The most the broker decompresses of one client batch when it looks inside (a compacted topic's
/// key check, a timestamp lookup): 64 times the largest batch Kafka accepts by default, so a
/// legitimate batch fits and a bomb costs at most this much memory while it is read.
pub const BATCH_DECOMPRESSED_BYTES_MAX: usize = 64 << 20;

/// The xerial snappy framing's magic header (Kafka's Java client writes it).
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
/// Magic, version (i32) and compatible version (i32).
const XERIAL_HEADER_BYTES: usize = 16;

/// Decompresses `data`, refusing to produce more than `output_bytes_max` bytes.
pub fn decompress(codec: Compression, data: &[u8], output_bytes_max: usize) -> Result<Vec<u8>, DecompressError> {
    let corrupt = |reason: String| DecompressError::Corrupt { codec, reason };
    match codec {
        Compression::None => {
            if data.len() > output_bytes_max {
                return Err(DecompressError::TooLarge { limit: output_bytes_max });
            }
            Ok(data.to_vec())
        }
        Compression::Gzip => read_bounded(flate2::read::GzDecoder::new(data), output_bytes_max, codec),
        Compression::Lz4 => {
            let decoder = lz4::Decoder::new(data).map_err(|e| corrupt(e.to_string()))?;
            read_bounded(decoder, output_bytes_max, codec)
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(|e| corrupt(e.to_string()))?;
            read_bounded(decoder, output_bytes_max, codec)
        }
        Compression::Snappy => snappy(data, output_bytes_max),
    }
}

/// Reads `reader` to its end, or fails once it yields more than `limit` bytes.
fn read_bounded(reader: impl Read, limit: usize, codec: Compression) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(cap).read_to_end(&mut out).map_err(|e| DecompressError::Corrupt { codec, reason: e.to_string() })?;
    if out.len() > limit {
        return Err(DecompressError::TooLarge { limit });
    }
    Ok(out)
}

/// Raw snappy, or xerial-framed snappy: the magic, two versions, then blocks of
/// `[length i32][raw snappy block]`. Each block's decompressed length is read from its header
/// before anything is allocated for it.
fn snappy(data: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let corrupt = |reason: String| DecompressError::Corrupt { codec: Compression::Snappy, reason };
    let mut out = Vec::new();
    let block = |raw: &[u8], out: &mut Vec<u8>| -> Result<(), DecompressError> {
        let len = snap::raw::decompress_len(raw).map_err(|e| corrupt(e.to_string()))?;
        if out.len().saturating_add(len) > limit {
            return Err(DecompressError::TooLarge { limit });
        }
        let start = out.len();
        out.resize(start + len, 0);
        snap::raw::Decoder::new().decompress(raw, &mut out[start..]).map_err(|e| corrupt(e.to_string()))?;
        Ok(())
    };
    if !data.starts_with(XERIAL_MAGIC) {
        block(data, &mut out)?;
        return Ok(out);
    }
    let mut rest = data.get(XERIAL_HEADER_BYTES..).ok_or_else(|| corrupt("short xerial header".into()))?;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(|| corrupt("short xerial block length".into()))?;
        let len =
            usize::try_from(i32::from_be_bytes(*len)).map_err(|_| corrupt("negative xerial block length".into()))?;
        let raw = tail.get(..len).ok_or_else(|| corrupt("xerial block past the end".into()))?;
        block(raw, &mut out)?;
        rest = &tail[len..];
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn lz4_frame(data: &[u8]) -> Vec<u8> {
        let mut encoder = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
        encoder.write_all(data).unwrap();
        let (out, result) = encoder.finish();
        result.unwrap();
        out
    }

    fn xerial(data: &[u8]) -> Vec<u8> {
        let mut out = XERIAL_MAGIC.to_vec();
        out.extend_from_slice(&1i32.to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
        for chunk in data.chunks(1000) {
            let block = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
            out.extend_from_slice(&(block.len() as i32).to_be_bytes());
            out.extend_from_slice(&block);
        }
        out
    }

    #[test]
    fn every_codec_round_trips_within_the_bound() {
        let data: Vec<u8> = (0..5000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let cases = [
            (Compression::None, data.clone()),
            (Compression::Gzip, gzip(&data)),
            (Compression::Lz4, lz4_frame(&data)),
            (Compression::Zstd, zstd::encode_all(&data[..], 3).unwrap()),
            (Compression::Snappy, snap::raw::Encoder::new().compress_vec(&data).unwrap()),
            (Compression::Snappy, xerial(&data)),
        ];
        for (codec, compressed) in cases {
            assert_eq!(decompress(codec, &compressed, data.len()).unwrap(), data, "{codec:?}");
        }
    }

    #[test]
    fn a_bomb_stops_at_the_bound() {
        let zeros = vec![0u8; 8 << 20];
        let limit = 1 << 20;
        let bombs = [
            (Compression::Gzip, gzip(&zeros)),
            (Compression::Lz4, lz4_frame(&zeros)),
            (Compression::Zstd, zstd::encode_all(&zeros[..], 3).unwrap()),
            (Compression::Snappy, snap::raw::Encoder::new().compress_vec(&zeros).unwrap()),
            (Compression::Snappy, xerial(&zeros)),
        ];
        for (codec, compressed) in bombs {
            assert!(compressed.len() < limit, "{codec:?} compresses zeros below the bound");
            assert_eq!(decompress(codec, &compressed, limit), Err(DecompressError::TooLarge { limit }), "{codec:?}");
        }
    }

    /// Garbage never panics and never yields data (some decoders read a lone byte as an empty
    /// stream rather than an error).
    #[test]
    fn garbage_is_refused_or_empty_never_a_panic() {
        for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd, Compression::Snappy] {
            for garbage in [
                &b""[..],
                b"\x00",
                b"\xff\xff\xff\xff\xff\xff",
                b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x7f\xff\xff\xff",
            ] {
                match decompress(codec, garbage, 1 << 20) {
                    Ok(out) => assert!(out.is_empty(), "{codec:?} {garbage:?} gave {out:?}"),
                    Err(DecompressError::Corrupt { .. }) => {}
                    Err(other) => panic!("{codec:?} {garbage:?}: {other}"),
                }
            }
        }
    }
}
