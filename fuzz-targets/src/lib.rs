//! The fuzz targets' bodies: each takes arbitrary bytes and must return without panicking,
//! hanging or allocating more than [`allocation_bound`] allows. libFuzzer drives them through the
//! binaries in `fuzz/` (`fuzz/run.sh`); `tests/corpus.rs` replays the committed corpus on stable.
//!
//! - [`request_frame`]: a request frame's size-stripped bytes through the header decoder;
//! - [`record_batches`]: a Produce record set through the batch validator and, for each valid
//!   batch, the bounded record walker (decompression included);
//! - [`log_recovery`]: arbitrary segment, offset-index and time-index files recovered by the log;
//! - [`offsets_replay`]: arbitrary `__consumer_offsets` records, transactional ones and end markers
//!   among them, replayed by the group coordinator;
//! - [`request_dispatch`]: a request frame through the broker's real dispatch and handlers, on a
//!   broker opened once in a temporary directory and kept for every input.

mod dispatch;

pub use dispatch::request_dispatch;

use bytes::Bytes;

/// The most a target may allocate at once for an input of `input_bytes`: a fixed allowance for
/// the structures every call sets up (a log manager and its writer, a coordinator) plus a small
/// multiple of the input.
pub fn allocation_bound(input_bytes: usize) -> usize {
    16 * 1024 * 1024 + 64 * input_bytes
}

/// The request header decoder over one frame (the bytes after the 4-byte size).
pub fn request_frame(data: &[u8]) {
    if let Ok(frame) = strata_wire::header::decode_request_frame(Bytes::copy_from_slice(data)) {
        let _ = (frame.api_version(), frame.correlation_id(), frame.body.len());
    }
}

/// Largest decompressed batch the walker may produce here (the broker's bound is larger; the
/// fuzzer only needs to reach the same code).
const DECOMPRESSED_BYTES_MAX: usize = 1024 * 1024;

/// A Produce record set through the validator, then each valid batch through the record walker.
pub fn record_batches(data: &[u8]) {
    let Ok(headers) = strata_wire::batch::validate_record_set(data) else { return };
    let mut at = 0;
    for header in headers {
        let Some(batch) = data.get(at..at + header.total_bytes()) else { return };
        at += header.total_bytes();
        let _ = strata_wire::records::records(batch, DECOMPRESSED_BYTES_MAX);
        let _ = strata_wire::records::record_timestamps(batch);
    }
}

/// Splits `data` into up to `N` parts, each prefixed by a 2-byte length (the last takes the rest).
fn parts<const N: usize>(mut data: &[u8]) -> [&[u8]; N] {
    let mut out = [&[][..]; N];
    for (i, part) in out.iter_mut().enumerate() {
        if i + 1 == N || data.len() < 2 {
            *part = data;
            data = &[];
            continue;
        }
        let len = usize::from(u16::from_be_bytes([data[0], data[1]])).min(data.len() - 2);
        *part = &data[2..2 + len];
        data = &data[2 + len..];
    }
    out
}

/// A partition directory holding arbitrary segment, index and time-index files, opened (and so
/// recovered) by the log, then read from its start.
pub fn log_recovery(data: &[u8]) {
    let [segment, index, time_index] = parts::<3>(data);
    let Ok(dir) = tempfile::tempdir() else { return };
    let partition_dir = dir.path().join("t-0");
    let write = |name: &str, bytes: &[u8]| std::fs::write(partition_dir.join(name), bytes).is_ok();
    if std::fs::create_dir_all(&partition_dir).is_err()
        || !write("00000000000000000000.log", segment)
        || !write("00000000000000000000.index", index)
        || !write("00000000000000000000.timeindex", time_index)
    {
        return;
    }
    let options = strata_log::LogOptions { force_fallback_io: true, ..strata_log::LogOptions::default() };
    let Ok(log) = strata_log::LogManager::open(dir.path(), options) else { return };
    if let Ok(partition) = log.open_partition("t", 0, strata_log::LogConfig::default(), 0) {
        let mut offset = partition.log_start_offset();
        let mut buf = Vec::new();
        while offset < partition.high_watermark() {
            let Ok(read) = partition.read(offset, 64 * 1024) else { break };
            buf.clear();
            if read.ranges.iter().any(|range| range.read_into(&mut buf).is_err()) {
                break;
            }
            let Some(next) = last_offset(&buf).map(|o| o + 1).filter(|next| *next > offset) else { break };
            offset = next;
        }
    }
    let _ = log.shutdown();
}

/// The last offset of the whole batches at the start of `bytes`.
fn last_offset(mut bytes: &[u8]) -> Option<i64> {
    let mut last = None;
    while let Ok(header) = strata_wire::batch::BatchHeader::parse(bytes) {
        last = Some(header.last_offset());
        bytes = bytes.get(header.total_bytes()..)?;
    }
    last
}

/// Arbitrary `__consumer_offsets` records replayed by the group coordinator, which then takes
/// over. Each entry is a 2-byte key length, the key, a 2-byte value length and the value, where
/// the key length's top bit makes the record transactional (producer id from the next two bits),
/// a value length of 0xFFFF is a null value, and 0xFFFE makes the entry an end-transaction marker
/// instead (commit if the key's first byte is odd, producer id the key's length mod 4, on the
/// `__consumer_offsets` partition its second byte mod 4).
pub fn offsets_replay(mut data: &[u8]) {
    let config = strata_groups::CoordinatorConfig { offsets_topic_partitions: 4, ..Default::default() };
    let mut replayer = strata_groups::Coordinator::replayer(config, Box::new(strata_groups::SeededMemberIds::new(1)));
    while data.len() >= 4 {
        let raw_key_len = u16::from_be_bytes([data[0], data[1]]);
        let key_len = usize::from(raw_key_len & 0x7FFF).min(data.len() - 2);
        let key = &data[2..2 + key_len];
        data = &data[2 + key_len..];
        if data.len() < 2 {
            break;
        }
        let raw_len = u16::from_be_bytes([data[0], data[1]]);
        if raw_len == 0xFFFE {
            data = &data[2..];
            let commit = key.first().is_some_and(|b| b % 2 == 1);
            let partition = key.get(1).map_or(0, |b| i32::from(b % 4));
            replayer.apply_marker(partition, (key.len() % 4) as i64, commit);
            continue;
        }
        let value_len = usize::from(raw_len).min(data.len() - 2);
        let value = (raw_len != u16::MAX).then(|| &data[2..2 + value_len]);
        data = &data[2 + if raw_len == u16::MAX { 0 } else { value_len }..];
        let _ = if raw_key_len & 0x8000 == 0 {
            replayer.apply(key, value)
        } else {
            let producer_id = i64::from((raw_key_len >> 13) & 3);
            let producer = strata_groups::TxnProducer { producer_id, producer_epoch: 0 };
            replayer.apply_transactional(producer, key, value)
        };
    }
    let mut coordinator = replayer.finish(0);
    let _ = coordinator.snapshot();
    for partition in 0..4 {
        let _ = coordinator.has_open_transactions(partition);
        coordinator.transaction_completed(partition, 1, true);
    }
    let _ = coordinator.snapshot();
}
