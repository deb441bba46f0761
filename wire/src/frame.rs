//! Frame size prefixes: every Kafka request and response is a 4-byte big-endian size followed by
//! that many bytes. The size comes from the network, so it is checked against a limit before
//! anything is allocated for it.

use bytes::{BufMut, BytesMut};

/// Bytes of the size prefix in front of every frame.
pub const FRAME_PREFIX_BYTES: usize = 4;

/// Why a frame size prefix was refused. Kafka closes the connection in both cases.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame size {size} is negative")]
    Negative { size: i32 },
    #[error("frame size {size} is zero: a request needs at least a header")]
    Empty { size: i32 },
    #[error("frame size {size} exceeds socket.request.max.bytes {frame_bytes_max}")]
    TooLarge { size: i32, frame_bytes_max: usize },
}

/// Checks a frame size prefix read from the network and returns the body length to read.
pub fn check_frame_size(prefix: [u8; FRAME_PREFIX_BYTES], frame_bytes_max: usize) -> Result<usize, FrameError> {
    let size = i32::from_be_bytes(prefix);
    if size < 0 {
        return Err(FrameError::Negative { size });
    }
    if size == 0 {
        return Err(FrameError::Empty { size });
    }
    let len = size as usize;
    if len > frame_bytes_max {
        return Err(FrameError::TooLarge { size, frame_bytes_max });
    }
    Ok(len)
}

/// Reserves the size prefix at the start of `buf`; call [`finish_frame`] once the body is written.
pub fn start_frame(buf: &mut BytesMut) -> usize {
    let start = buf.len();
    buf.put_i32(0);
    start
}

/// Writes the size of everything after the prefix reserved at `start`.
pub fn finish_frame(buf: &mut BytesMut, start: usize) {
    let body_len = buf.len() - start - FRAME_PREFIX_BYTES;
    // A response larger than i32::MAX cannot be framed; the callers bound responses far below it.
    let size = i32::try_from(body_len).unwrap_or(i32::MAX);
    buf[start..start + FRAME_PREFIX_BYTES].copy_from_slice(&size.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_sizes_within_the_limit() {
        assert_eq!(check_frame_size(100i32.to_be_bytes(), 100), Ok(100));
        assert_eq!(check_frame_size(1i32.to_be_bytes(), 100), Ok(1));
    }

    #[test]
    fn refuses_negative_empty_and_oversized_frames() {
        assert_eq!(check_frame_size((-1i32).to_be_bytes(), 100), Err(FrameError::Negative { size: -1 }));
        assert_eq!(check_frame_size(0i32.to_be_bytes(), 100), Err(FrameError::Empty { size: 0 }));
        assert_eq!(
            check_frame_size(101i32.to_be_bytes(), 100),
            Err(FrameError::TooLarge { size: 101, frame_bytes_max: 100 })
        );
    }

    #[test]
    fn finish_frame_writes_the_body_length() {
        let mut buf = BytesMut::new();
        let start = start_frame(&mut buf);
        buf.put_slice(b"hello");
        finish_frame(&mut buf, start);
        assert_eq!(&buf[..], &[0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o']);
    }
}
