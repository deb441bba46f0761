//! rdkafka (librdkafka) clients set up for tests: topic creation through the AdminClient, a
//! producer that records every delivery report, and a consumer that reads assigned partitions to
//! their high watermark.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::data::{Consumed, TestMessage};

/// Upper bound for any single client operation in these tests.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A client config pointing at `bootstrap`, IPv4 only, quiet unless `STRATA_TEST_CLIENT_DEBUG` is set.
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("broker.address.family", "v4").set("socket.timeout.ms", "20000");
    if let Ok(debug) = std::env::var("STRATA_TEST_CLIENT_DEBUG") {
        config.set("debug", debug);
    }
    config
}

/// Runs a future (the AdminClient's) to completion on a small runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime").block_on(future)
}

/// Creates a topic with the AdminClient and asserts success.
pub fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    create_topic_with(bootstrap, name, partitions, &[]);
}

/// Creates a topic with topic-level configs (Kafka names) and asserts success.
pub fn create_topic_with(bootstrap: &str, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap).create().expect("create AdminClient");
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(CLIENT_TIMEOUT)).request_timeout(Some(CLIENT_TIMEOUT));
    let results = block_on(admin.create_topics([&topic], &options)).expect("CreateTopics request");
    assert_eq!(results.len(), 1, "one CreateTopics result");
    if let Err((topic, code)) = &results[0] {
        panic!("creating topic {topic}: {code:?}");
    }
}

/// What the producer was told for one message.
pub type DeliveryOutcome = Result<(i32, i64), KafkaError>;

/// Collects delivery reports by message index.
#[derive(Default)]
pub struct DeliveryLog {
    outcomes: Mutex<HashMap<usize, DeliveryOutcome>>,
    acked: AtomicUsize,
}

impl DeliveryLog {
    pub fn len(&self) -> usize {
        self.outcomes.lock().expect("delivery log lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of successful deliveries so far.
    pub fn acked(&self) -> usize {
        self.acked.load(Ordering::Relaxed)
    }

    pub fn take(&self) -> HashMap<usize, DeliveryOutcome> {
        std::mem::take(&mut *self.outcomes.lock().expect("delivery log lock"))
    }
}

impl ClientContext for DeliveryLog {}

impl ProducerContext for DeliveryLog {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        let outcome = match result {
            Ok(message) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
                Ok((message.partition(), message.offset()))
            }
            Err((error, _)) => Err(error.clone()),
        };
        self.outcomes.lock().expect("delivery log lock").insert(index, outcome);
    }
}

pub type TestProducer = ThreadedProducer<DeliveryLog>;

/// A producer with the given extra settings (e.g. `compression.type`, `acks`).
pub fn producer(bootstrap: &str, settings: &[(&str, &str)]) -> TestProducer {
    let mut config = client_config(bootstrap);
    config.set("linger.ms", "5").set("message.timeout.ms", "60000").set("queue.buffering.max.messages", "200000");
    for (key, value) in settings {
        config.set(*key, *value);
    }
    config.create_with_context(DeliveryLog::default()).expect("create producer")
}

/// Queues one message, waiting while librdkafka's local queue is full.
pub fn send(producer: &TestProducer, topic: &str, message: &TestMessage) {
    let mut headers = OwnedHeaders::new_with_capacity(message.headers.len());
    for (name, value) in &message.headers {
        headers = headers.insert(Header { key: name.as_str(), value: value.as_deref() });
    }
    let mut record: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(topic, message.index)
        .partition(message.partition)
        .payload(message.value.as_slice())
        .headers(headers);
    if let Some(key) = &message.key {
        record = record.key(key.as_slice());
    }
    if let Some(ts) = message.timestamp_ms {
        record = record.timestamp(ts);
    }
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                assert!(Instant::now() < deadline, "producer queue stayed full for {CLIENT_TIMEOUT:?}");
                record = back;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err((error, _)) => {
                // A fatal error's reason is librdkafka's own, kept apart from the error returned.
                let fatal = producer.client().fatal_error();
                panic!("producing message {}: {error} ({fatal:?})", message.index)
            }
        }
    }
}

/// Produces all messages, flushes, and returns `(partition, offset)` per message index; panics on
/// any failed delivery.
pub fn produce_all(
    bootstrap: &str,
    topic: &str,
    messages: &[TestMessage],
    settings: &[(&str, &str)],
) -> Vec<(i32, i64)> {
    let producer = producer(bootstrap, settings);
    for message in messages {
        send(&producer, topic, message);
    }
    producer.flush(Duration::from_secs(120)).expect("flush producer");
    let outcomes = producer.context().take();
    assert_eq!(outcomes.len(), messages.len(), "delivery reports received");
    let mut offsets = vec![(-1, -1); messages.len()];
    for (index, outcome) in outcomes {
        match outcome {
            Ok(at) => offsets[index] = at,
            Err(error) => panic!("message {index} was not delivered: {error}"),
        }
    }
    offsets
}

/// A transactional producer (`transaction.timeout.ms` 60 s), its transactions initialized.
pub fn transactional_producer(bootstrap: &str, transactional_id: &str) -> BaseProducer {
    let mut config = client_config(bootstrap);
    config.set("transactional.id", transactional_id).set("transaction.timeout.ms", "60000");
    let producer: BaseProducer = config.create().expect("create a transactional producer");
    producer.init_transactions(CLIENT_TIMEOUT).expect("init_transactions");
    producer
}

/// Sends `count` records to each of partitions `0..partitions`, valued `{tag}-{partition}-{i}`,
/// and waits until they are acknowledged.
pub fn send_tagged(producer: &BaseProducer, topic: &str, partitions: i32, count: usize, tag: &str) {
    for partition in 0..partitions {
        for i in 0..count {
            let value = format!("{tag}-{partition}-{i}");
            let record = BaseRecord::<(), str>::to(topic).partition(partition).payload(&value);
            producer.send(record).map_err(|(e, _)| e).expect("queue a record");
        }
    }
    producer.flush(CLIENT_TIMEOUT).expect("flush");
}

/// A consumer for explicitly assigned partitions, with the given extra settings. librdkafka
/// refuses `assign` without a `group.id`; it never joins the group (no subscribe, no commits).
pub fn consumer(bootstrap: &str, settings: &[(&str, &str)]) -> BaseConsumer {
    let mut config = client_config(bootstrap);
    config
        .set("group.id", "strata-tests-assign-only")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    for (key, value) in settings {
        config.set(*key, *value);
    }
    config.create().expect("create consumer")
}

/// Converts a consumed message into an owned [`Consumed`].
pub fn to_consumed<M: Message>(message: &M) -> Consumed {
    let headers = message
        .headers()
        .map(|headers| headers.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect())
        .unwrap_or_default();
    Consumed {
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
        timestamp_ms: message.timestamp().to_millis(),
    }
}

/// Reads partitions `0..partitions` of `topic` from the beginning up to the high watermarks they
/// have when the call starts, in arrival order.
pub fn consume_all(bootstrap: &str, topic: &str, partitions: i32) -> Vec<Consumed> {
    let consumer = consumer(bootstrap, &[]);
    let mut ends = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, CLIENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("watermarks of {topic}/{partition}: {e}"));
        assert!(low <= high, "{topic}/{partition}: low watermark {low} > high watermark {high}");
        if high > low {
            ends.insert(partition, high);
        }
        assignment.add_partition_offset(topic, partition, Offset::Beginning).expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let mut consumed = Vec::new();
    let mut deadline = Instant::now() + CLIENT_TIMEOUT;
    while !ends.is_empty() {
        assert!(
            Instant::now() < deadline,
            "consuming {topic}: no progress for {CLIENT_TIMEOUT:?}; still waiting for {ends:?}, have {} messages",
            consumed.len()
        );
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(error)) => panic!("consuming {topic}: {error}"),
            Some(Ok(message)) => {
                let c = to_consumed(&message);
                if let Some(&end) = ends.get(&c.partition) {
                    assert!(c.offset < end, "consumed offset {} past the high watermark {end}", c.offset);
                    if c.offset + 1 >= end {
                        ends.remove(&c.partition);
                    }
                }
                consumed.push(c);
                deadline = Instant::now() + CLIENT_TIMEOUT;
            }
        }
    }
    consumed
}
