//! Delayed delivery for share groups (beyond Kafka): a record produced with the header
//! `strata-deliver-at` (the epoch milliseconds it is due, in decimal) or `strata-delay-ms`
//! (milliseconds after its own timestamp) is not handed to a share consumer before it is due.
//! A record that names no time of its own is due `strata.delivery.delay.ms` (a topic setting)
//! after its timestamp. It waits in the group's window, available but not yet delivered, while
//! later records are delivered past it; a ShareFetch long poll takes it once due. A header that
//! does not parse is ignored.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use strata_wire::batch::{BatchHeader, Compression};

/// The header naming when a record is due, in epoch milliseconds.
pub const DELIVER_AT_HEADER: &str = "strata-deliver-at";
/// The header naming how long after its timestamp a record is due, in milliseconds.
pub const DELAY_HEADER: &str = "strata-delay-ms";

/// The topic setting delaying every record of a topic (milliseconds after its timestamp).
pub const TOPIC_DELAY_SETTING: &str = "strata.delivery.delay.ms";

/// When each record of `batches` (as read from the log) is due, by offset, if later than its
/// timestamp: its header's time, else `topic_delay_ms` after its timestamp. Batches that do not
/// decode name none. Without a topic delay, an uncompressed batch in which neither header's name
/// appears is passed over undecoded (most batches: decoding every record of every fetch was the
/// share path's largest cost).
pub fn due_times(batches: &[u8], topic_delay_ms: i64) -> BTreeMap<i64, i64> {
    let mut due = BTreeMap::new();
    let mut at = 0;
    while at < batches.len() {
        let Ok(header) = BatchHeader::parse(&batches[at..]) else { break };
        let Some(batch) = batches.get(at..at + header.total_bytes()) else { break };
        at += batch.len();
        if topic_delay_ms <= 0 && header.compression() == Compression::None && !names_a_time(batch) {
            continue;
        }
        let mut bytes = Bytes::copy_from_slice(batch);
        let Ok(set) = RecordBatchDecoder::decode(&mut bytes) else { break };
        for record in set.records {
            let header = |name: &str| {
                let value = record.headers.get(name.as_bytes())?.as_ref()?;
                std::str::from_utf8(value).ok()?.trim().parse::<i64>().ok()
            };
            let at = header(DELIVER_AT_HEADER)
                .or_else(|| header(DELAY_HEADER).filter(|d| *d > 0).map(|d| record.timestamp.saturating_add(d)))
                .or_else(|| (topic_delay_ms > 0).then(|| record.timestamp.saturating_add(topic_delay_ms)));
            if let Some(at) = at {
                due.insert(record.offset, at);
            }
        }
    }
    due
}

/// What both headers' names begin with, so that one scan finds either.
const HEADERS_PREFIX: &str = "strata-del";

/// Whether either header's name may appear in `batch`'s bytes (uncompressed, a record's header
/// key is there as written): one scan for the names' common prefix.
fn names_a_time(batch: &[u8]) -> bool {
    debug_assert!(DELIVER_AT_HEADER.starts_with(HEADERS_PREFIX) && DELAY_HEADER.starts_with(HEADERS_PREFIX));
    memchr::memmem::find(batch, HEADERS_PREFIX.as_bytes()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_testkit::batches::Batch;

    #[test]
    fn due_times_come_from_either_header_and_bad_values_are_ignored() {
        let batch = Batch::new()
            .record(None, Some(b"now"), 1_000)
            .record(None, Some(b"at"), 1_000)
            .header(DELIVER_AT_HEADER, Some(b"5000"))
            .record(None, Some(b"after"), 1_000)
            .header(DELAY_HEADER, Some(b"250"))
            .record(None, Some(b"bad"), 1_000)
            .header(DELAY_HEADER, Some(b"soon"));
        assert_eq!(due_times(&batch.encode(), 0), BTreeMap::from([(1, 5_000), (2, 1_250)]));
        let by_topic = BTreeMap::from([(0, 1_100), (1, 5_000), (2, 1_250), (3, 1_100)]);
        assert_eq!(due_times(&batch.encode(), 100), by_topic, "the topic's delay where a record names none");
    }

    #[test]
    fn batches_without_a_time_are_passed_over_and_those_after_them_read() {
        let plain = Batch::new().record(None, Some(b"plain"), 1_000).record(None, Some(b"plain"), 1_000);
        let timed =
            Batch::new().base_offset(2).record(None, Some(b"at"), 1_000).header(DELIVER_AT_HEADER, Some(b"7000"));
        let mut bytes = plain.encode().to_vec();
        bytes.extend_from_slice(&timed.encode());
        assert_eq!(due_times(&bytes, 0), BTreeMap::from([(2, 7_000)]));
        assert_eq!(due_times(&bytes, 10).len(), 3, "a topic delay decodes every batch");
        assert_eq!(due_times(&bytes[..bytes.len() - 3], 0), BTreeMap::new(), "a cut batch names none");
    }
}
