//! The raw-protocol producer: one TCP socket, one ProduceRequest built once up front (every
//! partition's records as uncompressed v2 batches, encoded by `kafka-protocol`), then the same frame
//! sent again and again with up to `in_flight` requests outstanding, until the duration ends.
//!
//! Why it exists: librdkafka on one core stops at 250-300 MB/s of 1 KiB messages while the broker
//! still has headroom, so W2 measures the client. This producer costs one `write` of a prebuilt
//! frame per request and the decoding of a small response, so what it measures is the broker.
//!
//! Re-sending identical batches is valid: the producer id is -1 (not idempotent), so the broker
//! assigns fresh offsets to every copy. Every request carries the same correlation id; answers
//! come back in request order on one connection, so the n-th answer belongs to the n-th send.
//!
//! Threads: the calling thread writes; a reader thread reads and checks every answer. They share
//! a count of outstanding requests (the window) and a channel of send instants, one per request,
//! from which the reader times each request from the start of its write to its answer.

use crate::error::BenchError;
use crate::histogram::Latency;
use crate::loadgen::{LoadResult, TICK};
use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, StrBytes};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use strata_testkit::batches::Batch;
use strata_testkit::frame;

/// Produce v9: the first flexible version, and what the broker's own tests speak.
pub const PRODUCE_VERSION: i16 = 9;
/// Every request is the same frame, so every request carries this correlation id.
const CORRELATION_ID: i32 = 1;
/// acks=all, as W2.
const ACKS_ALL: i16 = -1;
/// How long the broker may take to make a request durable (as configured) before answering.
const PRODUCE_TIMEOUT_MS: i32 = 30_000;
/// A produce answer for a handful of partitions is a few hundred bytes; anything this large is a bug.
const RESPONSE_BYTES_MAX: usize = 1 << 20;
/// A broker that neither answers nor closes within this long fails the run instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// One raw-protocol produce run against a topic that already exists.
#[derive(Debug, Clone)]
pub struct RawSpec {
    pub bootstrap: String,
    pub topic: String,
    pub partitions: i32,
    pub record_bytes: usize,
    /// Record payload per request, spread evenly over the partitions (≈ W2's batch.size).
    pub request_bytes: usize,
    /// Requests outstanding at once.
    pub in_flight: usize,
    /// The send loop stops after this long; the outstanding answers are then awaited.
    pub duration: Duration,
}

/// The prebuilt request: the whole frame (size prefix included) and what one copy of it carries.
#[derive(Debug, Clone)]
pub struct ProduceFrame {
    pub frame: Bytes,
    pub partitions: i32,
    pub records_per_partition: u64,
}

impl ProduceFrame {
    /// Records (messages) one request carries.
    pub fn records(&self) -> u64 {
        self.records_per_partition * self.partitions as u64
    }
}

/// Builds the ProduceRequest frame: for each of `partitions` partitions one uncompressed v2 batch
/// of `request_bytes / partitions / record_bytes` records (at least one) with `record_bytes`-byte
/// values and no key, timestamped `now_ms`.
pub fn build_frame(
    topic: &str,
    partitions: i32,
    record_bytes: usize,
    request_bytes: usize,
    now_ms: i64,
) -> ProduceFrame {
    let partition_count = usize::try_from(partitions.max(1)).unwrap_or(1);
    let records_per_partition = (request_bytes / partition_count / record_bytes.max(1)).max(1);
    let value: Vec<u8> = (0..record_bytes).map(|i| (i % 251) as u8).collect();
    let batch =
        (0..records_per_partition).fold(Batch::new(), |batch, _| batch.record(None, Some(&value), now_ms)).encode();
    let partition_data = (0..partitions)
        .map(|index| PartitionProduceData::default().with_index(index).with_records(Some(batch.clone())))
        .collect();
    let topic_data = TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
        .with_partition_data(partition_data);
    let request = ProduceRequest::default()
        .with_acks(ACKS_ALL)
        .with_timeout_ms(PRODUCE_TIMEOUT_MS)
        .with_topic_data(vec![topic_data]);
    let frame = frame::framed(&frame::encode_request(CORRELATION_ID, PRODUCE_VERSION, &request));
    ProduceFrame { frame: Bytes::from(frame), partitions, records_per_partition: records_per_partition as u64 }
}

/// How many requests are outstanding, and whether either side gave up.
#[derive(Debug)]
struct Window {
    outstanding: Mutex<usize>,
    changed: Condvar,
    in_flight_max: usize,
    failed: AtomicBool,
}

impl Window {
    /// Waits for a free slot and takes it; `false` when `deadline` passed or the run failed first.
    fn acquire(&self, deadline: Instant) -> bool {
        let mut outstanding = self.outstanding.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.failed.load(Ordering::Acquire) {
                return false;
            }
            if *outstanding < self.in_flight_max {
                *outstanding += 1;
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            outstanding =
                self.changed.wait_timeout(outstanding, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    fn release(&self) {
        let mut outstanding = self.outstanding.lock().unwrap_or_else(PoisonError::into_inner);
        *outstanding = outstanding.saturating_sub(1);
        self.changed.notify_all();
    }

    fn fail(&self) {
        self.failed.store(true, Ordering::Release);
        let _guard = self.outstanding.lock().unwrap_or_else(PoisonError::into_inner);
        self.changed.notify_all();
    }
}

/// What the reader thread measured.
#[derive(Debug, Default)]
struct Acks {
    latency: Latency,
    /// Records in partitions answered with error code 0.
    delivered: u64,
    /// Records in partitions answered with an error (or missing from an answer).
    errors: u64,
    first_error: Option<String>,
    /// Records acknowledged per [`TICK`] since the first send.
    per_tick: Vec<u64>,
    last_ack: Option<Instant>,
}

impl Acks {
    fn error(&mut self, error: String) {
        self.first_error.get_or_insert(error);
    }
}

/// Runs the load: connect, build the frame, send it with up to `in_flight` outstanding until the
/// duration ends, then wait for every outstanding answer.
pub fn run(spec: &RawSpec) -> Result<LoadResult, BenchError> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let request = build_frame(&spec.topic, spec.partitions, spec.record_bytes, spec.request_bytes, now_ms);
    let mut stream =
        TcpStream::connect(&spec.bootstrap).map_err(BenchError::io(format!("connecting to {}", spec.bootstrap)))?;
    stream.set_nodelay(true).map_err(BenchError::io("setting TCP_NODELAY"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(BenchError::io("setting a read timeout"))?;
    stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(BenchError::io("setting a write timeout"))?;
    let reader_stream = stream.try_clone().map_err(BenchError::io("cloning the socket"))?;
    let window = Arc::new(Window {
        outstanding: Mutex::new(0),
        changed: Condvar::new(),
        in_flight_max: spec.in_flight.max(1),
        failed: AtomicBool::new(false),
    });
    let (sends, sent_at) = mpsc::channel::<Instant>();
    let start = Instant::now();
    let reader = {
        let window = Arc::clone(&window);
        let request = request.clone();
        std::thread::spawn(move || read_loop(reader_stream, &sent_at, &window, &request, start))
    };
    let stop_at = start + spec.duration;
    let mut requests: u64 = 0;
    let mut write_error = None;
    while Instant::now() < stop_at && window.acquire(stop_at) {
        if sends.send(Instant::now()).is_err() {
            break; // the reader is gone; it says why
        }
        if let Err(e) = stream.write_all(&request.frame) {
            write_error = Some(format!("writing request {}: {e}", requests + 1));
            window.fail();
            // The reader is waiting for an answer to a request that never went out.
            let _ = stream.shutdown(Shutdown::Both);
            break;
        }
        requests += 1;
    }
    drop(sends);
    let acks = reader
        .join()
        .map_err(|_| BenchError::Workload { workload: spec.topic.clone(), reason: "reader thread panicked".into() })?;
    let sent = requests * request.records();
    Ok(LoadResult {
        sent,
        delivered: acks.delivered,
        // Requests never answered count against the run too.
        delivery_errors: acks.errors + sent.saturating_sub(acks.delivered + acks.errors),
        first_error: write_error.or(acks.first_error),
        produce_secs: acks.last_ack.map_or(0.0, |t| t.duration_since(start).as_secs_f64()),
        produce_latency: acks.latency,
        delivered_per_tick: acks.per_tick,
        ..LoadResult::default()
    })
}

/// Reads one answer per send instant until the writer is done and every answer is in, or the
/// connection fails (then the writer is told to stop).
fn read_loop(
    mut stream: TcpStream,
    sent_at: &Receiver<Instant>,
    window: &Window,
    request: &ProduceFrame,
    start: Instant,
) -> Acks {
    let mut acks = Acks::default();
    let mut body = Vec::new();
    while let Ok(sent) = sent_at.recv() {
        if let Err(e) = read_frame(&mut stream, &mut body) {
            acks.error(format!("reading an answer: {e}"));
            window.fail();
            break;
        }
        let now = Instant::now();
        window.release();
        acks.latency.record(now.duration_since(sent));
        let ok_partitions = match check_response(&body, request.partitions) {
            Ok(ok) => ok,
            Err((ok, error)) => {
                acks.error(error);
                ok
            }
        };
        let ok_records = ok_partitions * request.records_per_partition;
        acks.delivered += ok_records;
        acks.errors += request.records() - ok_records;
        if ok_records > 0 {
            add_to_tick(&mut acks.per_tick, now.duration_since(start), ok_records);
            acks.last_ack = Some(now);
        }
    }
    acks
}

fn add_to_tick(per_tick: &mut Vec<u64>, since_start: Duration, records: u64) {
    let tick = (since_start.as_nanos() / TICK.as_nanos()) as usize;
    if per_tick.len() <= tick {
        per_tick.resize(tick + 1, 0);
    }
    per_tick[tick] += records;
}

/// Reads one size-prefixed frame into `body` (its previous contents are replaced).
fn read_frame(stream: &mut TcpStream, body: &mut Vec<u8>) -> std::io::Result<()> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let size = i32::from_be_bytes(size);
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s <= RESPONSE_BYTES_MAX)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("answer frame size {size}")))?;
    body.resize(size, 0);
    stream.read_exact(body)
}

/// Decodes a produce answer; `Ok(partitions answered with error code 0)` when all `partitions`
/// were, else that count and the first error.
pub fn check_response(body: &[u8], partitions: i32) -> Result<u64, (u64, String)> {
    let mut buf = body;
    let header = ResponseHeader::decode(&mut buf, ApiKey::Produce.response_header_version(PRODUCE_VERSION))
        .map_err(|e| (0, format!("decoding the answer's header: {e}")))?;
    if header.correlation_id != CORRELATION_ID {
        return Err((0, format!("answer with correlation id {}, expected {CORRELATION_ID}", header.correlation_id)));
    }
    let response =
        ProduceResponse::decode(&mut buf, PRODUCE_VERSION).map_err(|e| (0, format!("decoding the answer: {e}")))?;
    let mut ok = 0;
    let mut first_error = None;
    for partition in response.responses.iter().flat_map(|t| t.partition_responses.iter()) {
        if partition.error_code == 0 {
            ok += 1;
        } else {
            first_error.get_or_insert_with(|| {
                format!("partition {} answered error code {}", partition.index, partition.error_code)
            });
        }
    }
    let expected = u64::try_from(partitions).unwrap_or(0);
    let ok = ok.min(expected);
    match first_error {
        Some(error) => Err((ok, error)),
        None if ok < expected => Err((ok, format!("{ok} of {expected} partitions answered"))),
        None => Ok(ok),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Buf;
    use kafka_protocol::messages::RequestHeader;
    use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn the_frame_decodes_back_to_w2s_request() {
        let built = build_frame("bench-w2r", 16, 1024, 1 << 20, 1_700_000_000_000);
        assert_eq!(built.records_per_partition, 64);
        assert_eq!(built.records(), 1024);
        let mut frame = built.frame.clone();
        let size = frame.get_i32();
        assert_eq!(size as usize, frame.len());
        let header =
            RequestHeader::decode(&mut frame, ApiKey::Produce.request_header_version(PRODUCE_VERSION)).unwrap();
        assert_eq!(header.request_api_key, ApiKey::Produce as i16);
        assert_eq!(header.request_api_version, PRODUCE_VERSION);
        let request = ProduceRequest::decode(&mut frame, PRODUCE_VERSION).unwrap();
        assert_eq!(frame.remaining(), 0);
        assert_eq!(request.acks, -1);
        let [topic] = <[_; 1]>::try_from(request.topic_data).unwrap();
        assert_eq!(topic.name.0.as_str(), "bench-w2r");
        assert_eq!(topic.partition_data.len(), 16);
        let mut payload = 0;
        for (i, partition) in topic.partition_data.iter().enumerate() {
            assert_eq!(partition.index, i as i32);
            let mut records = partition.records.clone().unwrap();
            let sets = RecordBatchDecoder::decode_all(&mut records).unwrap();
            for set in sets {
                for record in set.records {
                    assert_eq!(record.producer_id, -1);
                    payload += record.value.unwrap().len();
                }
            }
        }
        assert_eq!(payload, 1 << 20);
    }

    fn answer(codes: &[i16]) -> Vec<u8> {
        let partitions = codes
            .iter()
            .enumerate()
            .map(|(i, code)| PartitionProduceResponse::default().with_index(i as i32).with_error_code(*code))
            .collect();
        let response = ProduceResponse::default()
            .with_responses(vec![TopicProduceResponse::default().with_partition_responses(partitions)]);
        frame::encode_response::<ProduceRequest>(CORRELATION_ID, PRODUCE_VERSION, &response).to_vec()
    }

    #[test]
    fn answers_count_only_partitions_without_errors() {
        assert_eq!(check_response(&answer(&[0, 0, 0]), 3), Ok(3));
        let (ok, error) = check_response(&answer(&[0, 6, 0]), 3).unwrap_err();
        assert_eq!(ok, 2);
        assert!(error.contains("partition 1 answered error code 6"), "{error}");
        assert_eq!(check_response(&answer(&[0, 0]), 3).unwrap_err().0, 2);
        assert!(check_response(&[1, 2], 3).is_err());
    }
}
