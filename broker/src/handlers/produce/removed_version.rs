//! The UNSUPPORTED_VERSION answer to Produce v0-2. Kafka 4 still advertises these versions (older
//! librdkafka needs to see v0) but answers them with an error; `kafka-protocol` no longer has their
//! schema, so this module reads just enough of the request (topics and partitions) and writes the
//! small v0-2 response by hand:
//!
//! ```text
//! request  v0-2: acks i16, timeout i32, [topic string, [partition i32, records bytes]]
//! response v0:   [topic string, [partition i32, error i16, base_offset i64]]
//! response v1:   v0 + throttle_time_ms i32
//! response v2:   v1 with log_append_time i64 after base_offset
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use strata_wire::frame::{finish_frame, start_frame};

/// Topics, and partitions per topic, a v0-2 request may name before it is refused as malformed.
const NAMES_MAX: usize = 10_000;

/// The response frame, or `None` when the request does not parse or asks for no answer (acks=0).
pub fn answer(version: i16, correlation_id: i32, body: &[u8]) -> Option<Bytes> {
    let mut body = body;
    let acks = take_i16(&mut body)?;
    let _timeout_ms = take_i32(&mut body)?;
    let topics = read_topics(&mut body)?;
    if acks == 0 || body.has_remaining() {
        return None;
    }
    let mut out = BytesMut::new();
    let start = start_frame(&mut out);
    out.put_i32(correlation_id);
    out.put_i32(i32::try_from(topics.len()).ok()?);
    for (name, partitions) in &topics {
        out.put_i16(i16::try_from(name.len()).ok()?);
        out.put_slice(name);
        out.put_i32(i32::try_from(partitions.len()).ok()?);
        for partition in partitions {
            out.put_i32(*partition);
            out.put_i16(ResponseError::UnsupportedVersion.code());
            out.put_i64(-1);
            if version >= 2 {
                out.put_i64(-1);
            }
        }
    }
    if version >= 1 {
        out.put_i32(0);
    }
    finish_frame(&mut out, start);
    Some(out.freeze())
}

fn read_topics(body: &mut &[u8]) -> Option<Vec<(Vec<u8>, Vec<i32>)>> {
    let count = take_count(body)?;
    let mut topics = Vec::with_capacity(count);
    for _ in 0..count {
        let name_len = usize::try_from(take_i16(body)?).ok()?;
        let name = take_bytes(body, name_len)?.to_vec();
        let partition_count = take_count(body)?;
        let mut partitions = Vec::with_capacity(partition_count);
        for _ in 0..partition_count {
            partitions.push(take_i32(body)?);
            let records = take_i32(body)?;
            if records > 0 {
                take_bytes(body, usize::try_from(records).ok()?)?;
            }
        }
        topics.push((name, partitions));
    }
    Some(topics)
}

/// An array length, refused when negative, above [`NAMES_MAX`] or longer than the bytes left.
fn take_count(body: &mut &[u8]) -> Option<usize> {
    let count = usize::try_from(take_i32(body)?).ok()?;
    (count <= NAMES_MAX && count <= body.remaining()).then_some(count)
}

fn take_i16(body: &mut &[u8]) -> Option<i16> {
    (body.remaining() >= 2).then(|| body.get_i16())
}

fn take_i32(body: &mut &[u8]) -> Option<i32> {
    (body.remaining() >= 4).then(|| body.get_i32())
}

fn take_bytes<'a>(body: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if body.len() < len {
        return None;
    }
    let (head, tail) = body.split_at(len);
    *body = tail;
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(acks: i16, topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut b = BytesMut::new();
        b.put_i16(acks);
        b.put_i32(1000);
        b.put_i32(topics.len() as i32);
        for (name, partitions) in topics {
            b.put_i16(name.len() as i16);
            b.put_slice(name.as_bytes());
            b.put_i32(partitions.len() as i32);
            for p in *partitions {
                b.put_i32(*p);
                b.put_i32(3);
                b.put_slice(b"abc");
            }
        }
        b.to_vec()
    }

    #[test]
    fn answers_every_partition_with_unsupported_version() {
        let frame = answer(2, 77, &request(1, &[("t", &[0, 1])])).expect("answer");
        let mut f = &frame[..];
        assert_eq!(f.get_i32() as usize, frame.len() - 4);
        assert_eq!(f.get_i32(), 77);
        assert_eq!(f.get_i32(), 1);
        assert_eq!(f.get_i16(), 1);
        assert_eq!(f.get_u8(), b't');
        assert_eq!(f.get_i32(), 2);
        for partition in [0, 1] {
            assert_eq!(f.get_i32(), partition);
            assert_eq!(f.get_i16(), 35);
            assert_eq!(f.get_i64(), -1);
            assert_eq!(f.get_i64(), -1);
        }
        assert_eq!(f.get_i32(), 0);
        assert!(f.is_empty());
    }

    #[test]
    fn v0_has_no_throttle_or_append_time() {
        let frame = answer(0, 1, &request(-1, &[("ab", &[5])])).expect("answer");
        // size, correlation, 1 topic, name, 1 partition, (partition, error, base offset)
        assert_eq!(frame.len(), 4 + 4 + 4 + 2 + 2 + 4 + 4 + 2 + 8);
    }

    #[test]
    fn acks_zero_and_malformed_bodies_get_no_answer() {
        assert!(answer(2, 1, &request(0, &[("t", &[0])])).is_none());
        let mut cut = request(1, &[("t", &[0])]);
        cut.truncate(cut.len() - 1);
        assert!(answer(2, 1, &cut).is_none());
        let mut huge = BytesMut::new();
        huge.put_i16(1);
        huge.put_i32(0);
        huge.put_i32(i32::MAX);
        assert!(answer(2, 1, &huge).is_none());
    }
}
