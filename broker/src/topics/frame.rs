//! The metadata files' framing: each batch of records is `length: u32 BE`, `crc32c: u32 BE` of
//! the payload, then the payload. A crash during an append leaves a frame that is short or fails
//! its CRC; [`scan`] stops there, so a torn tail is dropped and everything before it is kept.

use strata_cluster::records::MetadataRecord;

/// Bytes before each payload: its length and its CRC32C.
pub const FRAME_HEADER_BYTES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("a metadata batch does not encode: {0}")]
    Encode(serde_json::Error),
    #[error("a metadata batch is larger than 4 GiB")]
    TooLarge,
    #[error("the metadata batch at byte {position} passes its CRC but does not decode: {source}")]
    Decode { position: usize, source: serde_json::Error },
}

/// Encodes one batch of records as a frame.
pub fn encode(batch: &[MetadataRecord]) -> Result<Vec<u8>, FrameError> {
    let payload = serde_json::to_vec(batch).map_err(FrameError::Encode)?;
    let length = u32::try_from(payload.len()).map_err(|_| FrameError::TooLarge)?;
    let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + payload.len());
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// The whole frames at the start of `bytes`.
#[derive(Debug)]
pub struct Scanned {
    pub batches: Vec<Vec<MetadataRecord>>,
    /// Where the last whole frame ends; bytes after it are a torn tail.
    pub valid_bytes: usize,
}

/// Decodes frames from the start of `bytes` up to the first that is short or fails its CRC. A
/// frame that passes its CRC but does not decode is an error: it was written whole, so the
/// records are not what this broker writes.
pub fn scan(bytes: &[u8]) -> Result<Scanned, FrameError> {
    let mut batches = Vec::new();
    let mut position = 0;
    while let Some(header) = bytes.get(position..position + FRAME_HEADER_BYTES) {
        let (length, crc) = header.split_at(4);
        let length = u32::from_be_bytes(length.try_into().expect("4 bytes")) as usize;
        let crc = u32::from_be_bytes(crc.try_into().expect("4 bytes"));
        let start = position + FRAME_HEADER_BYTES;
        let Some(payload) = start.checked_add(length).and_then(|end| bytes.get(start..end)) else {
            break;
        };
        if crc32c::crc32c(payload) != crc {
            break;
        }
        let batch = serde_json::from_slice(payload).map_err(|source| FrameError::Decode { position, source })?;
        batches.push(batch);
        position = start + length;
    }
    Ok(Scanned { batches, valid_bytes: position })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_torn_tail_is_dropped_and_every_whole_frame_kept() {
        let first = vec![MetadataRecord::LogStart { generation: 3 }];
        let second = vec![MetadataRecord::RemoveTopic { topic_id: uuid::Uuid::from_u128(7) }];
        let one = encode(&first).expect("encode");
        let mut bytes = one.clone();
        bytes.extend(encode(&second).expect("encode"));
        for cut in 0..=bytes.len() {
            let scanned = scan(&bytes[..cut]).expect("scan");
            let (expected, valid): (&[Vec<MetadataRecord>], usize) = if cut == bytes.len() {
                (&[first.clone(), second.clone()], bytes.len())
            } else if cut >= one.len() {
                (std::slice::from_ref(&first), one.len())
            } else {
                (&[], 0)
            };
            assert_eq!((scanned.batches.as_slice(), scanned.valid_bytes), (expected, valid), "cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_payload_bit_ends_the_scan() {
        let mut bytes = encode(&[MetadataRecord::LogStart { generation: 1 }]).expect("encode");
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        assert_eq!(scan(&bytes).expect("scan").valid_bytes, 0);
    }
}
