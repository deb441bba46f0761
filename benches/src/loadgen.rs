//! The rdkafka load generator: one producer thread (open loop at a fixed rate, or closed loop at the
//! highest rate the client queue allows) and, optionally, one consumer thread reading the same topic.
//! Delivery reports run on rdkafka's own polling thread as they arrive, so each is timed when it
//! lands, not when the send loop gets round to polling.
//!
//! Latencies:
//! - produce: from the moment a message *should* have been sent to its delivery report. In the open
//!   loop that is its slot in the schedule (`start + i / rate`), so when the producer falls behind the
//!   wait is counted, not hidden (coordinated omission); in the closed loop it is the enqueue time.
//! - end-to-end: the same instant, carried in the first 8 bytes of the payload, to the moment the
//!   consumer sees the message. Producer and consumer share one process, so one monotonic clock.

use crate::error::BenchError;
use crate::histogram::Latency;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Width of one bucket of the throughput-over-time series.
pub const TICK: Duration = Duration::from_millis(100);
/// Bytes at the start of each payload that carry the send instant.
pub const STAMP_BYTES: usize = 8;
/// Stamp value of the warm-up messages, which are not measured.
const WARMUP_STAMP: u64 = u64::MAX;
/// Longest wait for the delivery of everything queued once the send loop stops.
const FLUSH_WAIT_MAX: Duration = Duration::from_secs(60);
/// How long init, commit and abort of a transaction may take.
const TRANSACTION_WAIT_MAX: Duration = Duration::from_secs(60);
/// Longest wait for the consumer to see the warm-up messages.
const WARMUP_WAIT_MAX: Duration = Duration::from_secs(30);
/// Pause before retrying a send the full client queue refused.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_micros(200);
/// Send errors (other than a full client queue) after which the run gives up.
const SEND_ERRORS_MAX: u64 = 1000;

/// One producer (and consumer) run against a topic that already exists.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub bootstrap: String,
    pub topic: String,
    pub partitions: i32,
    pub record_bytes: usize,
    /// `"1"` or `"all"`.
    pub acks: String,
    pub linger_ms: u32,
    pub batch_bytes: u32,
    /// `Some(rate)`: open loop at `rate` messages/s; `None`: closed loop at the maximum rate.
    pub rate_msgs_per_sec: Option<f64>,
    /// The send loop stops after this long ...
    pub duration: Duration,
    /// ... or after this many payload bytes, whichever comes first.
    pub bytes_max: Option<u64>,
    /// Run a consumer beside the producer and measure end-to-end latency.
    pub consume: bool,
    /// After the producer is done, how long the consumer may go without progress before giving up.
    pub drain_idle_max: Duration,
    /// `Some(interval)`: a transactional producer that commits every `interval` (and its
    /// consumer reads committed records only); `None`: a plain producer.
    pub commit_interval: Option<Duration>,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub sent: u64,
    pub delivered: u64,
    pub delivery_errors: u64,
    pub send_errors: u64,
    pub first_error: Option<String>,
    /// First send to last delivery report.
    pub produce_secs: f64,
    pub produce_latency: Latency,
    pub consumed: u64,
    pub consumed_bytes: u64,
    /// First to last message consumed.
    pub consume_secs: f64,
    pub e2e_latency: Latency,
    /// The first error the consumer reported, if any (transient ones included).
    pub consume_error: Option<String>,
    /// Messages delivered (acknowledged) per [`TICK`].
    pub delivered_per_tick: Vec<u64>,
    /// Messages consumed per [`TICK`].
    pub consumed_per_tick: Vec<u64>,
}

impl LoadResult {
    pub fn delivered_msgs_per_sec(&self) -> f64 {
        per_sec(self.delivered as f64, self.produce_secs)
    }
    pub fn consumed_msgs_per_sec(&self) -> f64 {
        per_sec(self.consumed as f64, self.consume_secs)
    }
    pub fn consumed_mb_per_sec(&self) -> f64 {
        per_sec(self.consumed_bytes as f64 / 1e6, self.consume_secs)
    }
}

fn per_sec(amount: f64, secs: f64) -> f64 {
    if secs > 0.0 { amount / secs } else { 0.0 }
}

/// Delivery statistics, filled by the delivery callback on the producer thread.
#[derive(Debug, Default)]
struct DeliveryStats {
    latency: Latency,
    delivered: u64,
    errors: u64,
    first_error: Option<String>,
    per_tick: Vec<u64>,
    last_delivery: Option<Instant>,
}

struct DeliveryContext {
    base: Instant,
    stats: Mutex<DeliveryStats>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    /// Nanoseconds from `base` to the instant the message should have been sent.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        let now = Instant::now();
        let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        if sent_ns as u64 == WARMUP_STAMP {
            return;
        }
        match result {
            Ok(_) => {
                let since_base = now.duration_since(self.base);
                stats.latency.record(since_base.saturating_sub(Duration::from_nanos(sent_ns as u64)));
                stats.delivered += 1;
                bump(&mut stats.per_tick, since_base);
                stats.last_delivery = Some(now);
            }
            Err((error, _)) => {
                stats.errors += 1;
                if stats.first_error.is_none() {
                    stats.first_error = Some(format!("delivery failed: {error}"));
                }
            }
        }
    }
}

fn bump(per_tick: &mut Vec<u64>, since_start: Duration) {
    let tick = (since_start.as_nanos() / TICK.as_nanos()) as usize;
    if per_tick.len() <= tick {
        per_tick.resize(tick + 1, 0);
    }
    per_tick[tick] += 1;
}

/// Runs the workload: warm-up (when consuming), the send loop, the flush, and the consumer's drain.
pub fn run(spec: &LoadSpec) -> Result<LoadResult, BenchError> {
    let base = Instant::now();
    let producer = producer(spec, base)?;
    let consumer_shared = Arc::new(ConsumerShared::default());
    let consumer_thread = if spec.consume {
        let consumer = consumer(&spec.bootstrap, &spec.topic, spec.partitions, spec.commit_interval.is_some())?;
        let shared = Arc::clone(&consumer_shared);
        let idle_max = spec.drain_idle_max;
        Some(std::thread::spawn(move || consume_loop(&consumer, base, &shared, idle_max)))
    } else {
        None
    };
    if spec.commit_interval.is_some() {
        producer.init_transactions(TRANSACTION_WAIT_MAX).map_err(BenchError::kafka("initialising transactions"))?;
        producer.begin_transaction().map_err(BenchError::kafka("beginning a transaction"))?;
    }
    if spec.consume {
        warm_up(&producer, spec, &consumer_shared)?;
    }
    let loop_result = send_loop(&producer, spec, base);
    let flushed = match spec.commit_interval {
        Some(_) => producer.commit_transaction(TRANSACTION_WAIT_MAX),
        None => producer.flush(FLUSH_WAIT_MAX),
    };
    consumer_shared.producer_done.store(true, Ordering::Release);
    let (sent, send_errors, send_error, start) = loop_result?;

    let stats = producer.context().stats.lock().unwrap_or_else(PoisonError::into_inner);
    let mut result = LoadResult {
        sent,
        delivered: stats.delivered,
        delivery_errors: stats.errors + sent.saturating_sub(stats.delivered + stats.errors),
        send_errors,
        first_error: send_error.or_else(|| stats.first_error.clone()),
        produce_secs: stats.last_delivery.map_or(0.0, |t| t.duration_since(start).as_secs_f64()),
        produce_latency: stats.latency.clone(),
        delivered_per_tick: rebase_ticks(&stats.per_tick, start.duration_since(base)),
        ..LoadResult::default()
    };
    drop(stats);
    if let Err(e) = flushed
        && result.first_error.is_none()
    {
        result.first_error = Some(format!("flush: {e}"));
    }
    consumer_shared.target.store(result.delivered, Ordering::Release);
    if let Some(thread) = consumer_thread {
        let consumed = thread.join().map_err(|_| BenchError::Workload {
            workload: spec.topic.clone(),
            reason: "consumer thread panicked".into(),
        })?;
        result.consumed = consumed.count;
        result.consumed_bytes = consumed.bytes;
        result.consume_secs = consumed.secs;
        result.e2e_latency = consumed.latency;
        result.consume_error = consumed.first_error;
        result.consumed_per_tick = rebase_ticks(&consumed.per_tick, start.duration_since(base));
    }
    Ok(result)
}

/// Ticks were counted from `base`; the report wants them from the start of the send loop.
fn rebase_ticks(per_tick: &[u64], offset: Duration) -> Vec<u64> {
    let skip = (offset.as_nanos() / TICK.as_nanos()) as usize;
    per_tick.iter().skip(skip).copied().collect()
}

fn producer(spec: &LoadSpec, base: Instant) -> Result<ThreadedProducer<DeliveryContext>, BenchError> {
    let context = DeliveryContext { base, stats: Mutex::new(DeliveryStats::default()) };
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &spec.bootstrap)
        .set("acks", &spec.acks)
        .set("linger.ms", spec.linger_ms.to_string())
        .set("batch.size", spec.batch_bytes.to_string())
        // The broker's default max.message.bytes: the largest record batch it accepts.
        .set("message.max.bytes", "1048588")
        .set("compression.type", "none")
        .set("enable.idempotence", "false")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("message.timeout.ms", "120000");
    if spec.commit_interval.is_some() {
        // Transactions need the idempotent producer (and with it acks=all).
        // librdkafka wants message.timeout.ms at most transaction.timeout.ms (60 s by default).
        config
            .set("transactional.id", format!("strata-bench-{}", spec.topic))
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "60000");
    }
    config.create_with_context(context).map_err(BenchError::kafka("creating the producer"))
}

/// Sends one warm-up message per partition and waits until the consumer has seen them all, so that
/// connection set-up and the consumer's first offset look-ups are not measured.
fn warm_up(
    producer: &ThreadedProducer<DeliveryContext>,
    spec: &LoadSpec,
    shared: &ConsumerShared,
) -> Result<(), BenchError> {
    let mut payload = vec![0u8; spec.record_bytes.max(STAMP_BYTES)];
    payload[..STAMP_BYTES].copy_from_slice(&WARMUP_STAMP.to_le_bytes());
    for partition in 0..spec.partitions {
        let record =
            BaseRecord::with_opaque_to(&spec.topic, WARMUP_STAMP as usize).partition(partition).payload(&payload[..]);
        producer
            .send::<(), [u8]>(record)
            .map_err(|(e, _)| BenchError::Kafka { what: "sending warm-up".into(), source: e })?;
    }
    match spec.commit_interval {
        Some(_) => {
            producer.commit_transaction(TRANSACTION_WAIT_MAX).map_err(BenchError::kafka("committing warm-up"))?;
            producer.begin_transaction().map_err(BenchError::kafka("beginning a transaction"))?;
        }
        None => producer.flush(FLUSH_WAIT_MAX).map_err(BenchError::kafka("flushing warm-up"))?,
    }
    let deadline = Instant::now() + WARMUP_WAIT_MAX;
    while shared.warmups_seen.load(Ordering::Acquire) < spec.partitions as u64 {
        if Instant::now() > deadline {
            return Err(BenchError::Workload {
                workload: spec.topic.clone(),
                reason: format!(
                    "consumer saw {} of {} warm-up messages within 30 s",
                    shared.warmups_seen.load(Ordering::Acquire),
                    spec.partitions
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

type SendOutcome = (u64, u64, Option<String>, Instant);

/// Sends until the duration or byte budget runs out; returns (sent, send errors, first error, start).
fn send_loop(
    producer: &ThreadedProducer<DeliveryContext>,
    spec: &LoadSpec,
    base: Instant,
) -> Result<SendOutcome, BenchError> {
    let mut payload: Vec<u8> = (0..spec.record_bytes.max(STAMP_BYTES)).map(|i| (i % 251) as u8).collect();
    let start = Instant::now();
    let stop_at = start + spec.duration;
    let interval_ns = spec.rate_msgs_per_sec.map(|r| 1e9 / r.max(1e-3));
    let mut sent: u64 = 0;
    let mut errors: u64 = 0;
    let mut first_error = None;
    let mut sent_bytes: u64 = 0;
    let mut next_commit = spec.commit_interval.map(|interval| start + interval);
    loop {
        let now = Instant::now();
        if now >= stop_at || spec.bytes_max.is_some_and(|max| sent_bytes >= max) {
            break;
        }
        if let (Some(at), Some(interval)) = (next_commit, spec.commit_interval)
            && now >= at
        {
            // As an application does: commit (which waits for every message sent so far to be
            // acknowledged and the markers written), then start the next transaction.
            producer.commit_transaction(TRANSACTION_WAIT_MAX).map_err(BenchError::kafka("committing"))?;
            producer.begin_transaction().map_err(BenchError::kafka("beginning a transaction"))?;
            next_commit = Some(Instant::now() + interval);
        }
        let due = match interval_ns {
            Some(interval) => start + Duration::from_nanos((sent as f64 * interval) as u64),
            None => now,
        };
        if due > now {
            std::thread::sleep((due - now).min(Duration::from_millis(1)));
            continue;
        }
        let stamp = due.duration_since(base).as_nanos() as u64;
        payload[..STAMP_BYTES].copy_from_slice(&stamp.to_le_bytes());
        let partition = (sent % spec.partitions as u64) as i32;
        let record = BaseRecord::with_opaque_to(&spec.topic, stamp as usize).partition(partition).payload(&payload[..]);
        match producer.send::<(), [u8]>(record) {
            Ok(()) => {
                sent += 1;
                sent_bytes += spec.record_bytes as u64;
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                std::thread::sleep(QUEUE_FULL_BACKOFF);
            }
            Err((e, _)) => {
                errors += 1;
                first_error.get_or_insert_with(|| format!("send: {e}"));
                if errors >= SEND_ERRORS_MAX {
                    break;
                }
            }
        }
    }
    Ok((sent, errors, first_error, start))
}

/// State the consumer thread shares with the producer side.
#[derive(Debug, Default)]
struct ConsumerShared {
    warmups_seen: AtomicU64,
    producer_done: AtomicBool,
    /// Messages to consume before stopping; set once the producer has flushed.
    target: AtomicU64,
}

/// What the consumer thread measured.
#[derive(Debug, Clone, Default)]
pub struct Consumed {
    pub count: u64,
    pub bytes: u64,
    pub secs: f64,
    pub latency: Latency,
    pub per_tick: Vec<u64>,
    pub first_error: Option<String>,
}

/// A consumer without a group, assigned every partition of `topic` from the beginning.
/// With `read_committed`, it reads only committed transactional records (Kafka's `isolation.level`).
pub fn consumer(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    read_committed: bool,
) -> Result<BaseConsumer, BenchError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("isolation.level", if read_committed { "read_committed" } else { "read_uncommitted" })
        .set("group.id", "strata-bench")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        // librdkafka stops fetching a partition for this long whenever its local queue is over
        // `queued.min.messages` (1 s by default): a consumer sharing its core with a producer at
        // full rate then sat idle for a second at a time, and end-to-end latency measured that.
        .set("fetch.queue.backoff.ms", "10")
        .set("enable.partition.eof", "false")
        .create()
        .map_err(BenchError::kafka("creating the consumer"))?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(BenchError::kafka("building the assignment"))?;
    }
    consumer.assign(&assignment).map_err(BenchError::kafka("assigning partitions"))?;
    Ok(consumer)
}

fn consume_loop(consumer: &BaseConsumer, base: Instant, shared: &ConsumerShared, idle_max: Duration) -> Consumed {
    let mut out = Consumed::default();
    let mut first: Option<Instant> = None;
    let mut last_progress = Instant::now();
    loop {
        let done = shared.producer_done.load(Ordering::Acquire);
        if done && out.count >= shared.target.load(Ordering::Acquire) {
            break;
        }
        if done && last_progress.elapsed() > idle_max {
            break;
        }
        match consumer.poll(Duration::from_millis(50)) {
            None => {}
            Some(Err(e)) => {
                out.first_error.get_or_insert_with(|| e.to_string());
            }
            Some(Ok(message)) => {
                let now = Instant::now();
                let Some(payload) = message.payload() else { continue };
                let Some(stamp) = payload.get(..STAMP_BYTES).and_then(|s| <[u8; 8]>::try_from(s).ok()) else {
                    continue;
                };
                let stamp = u64::from_le_bytes(stamp);
                last_progress = now;
                if stamp == WARMUP_STAMP {
                    shared.warmups_seen.fetch_add(1, Ordering::AcqRel);
                    continue;
                }
                let since_base = now.duration_since(base);
                out.latency.record(since_base.saturating_sub(Duration::from_nanos(stamp)));
                first.get_or_insert(now);
                out.count += 1;
                out.bytes += payload.len() as u64;
                bump(&mut out.per_tick, since_base);
                out.secs = now.duration_since(first.unwrap_or(now)).as_secs_f64();
            }
        }
    }
    out
}

/// Catch-up read (committed records only with `read_committed`): consumes `expected` messages of `topic` from the beginning as fast as possible.
pub fn catch_up(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: u64,
    time_max: Duration,
    read_committed: bool,
) -> Result<Consumed, BenchError> {
    let consumer = consumer(bootstrap, topic, partitions, read_committed)?;
    let mut out = Consumed::default();
    let start = Instant::now();
    let mut first: Option<Instant> = None;
    while out.count < expected && start.elapsed() < time_max {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => {
                out.first_error.get_or_insert_with(|| e.to_string());
            }
            Some(Ok(message)) => {
                let now = Instant::now();
                let first = *first.get_or_insert(now);
                if let Some(payload) = message.payload() {
                    if payload.get(..STAMP_BYTES).is_some_and(|s| s == WARMUP_STAMP.to_le_bytes()) {
                        continue;
                    }
                    out.count += 1;
                    out.bytes += payload.len() as u64;
                    bump(&mut out.per_tick, now.duration_since(start));
                }
                out.secs = now.duration_since(first).as_secs_f64();
            }
        }
    }
    Ok(out)
}
