//! Topic creation through the Kafka admin API (CreateTopics), as a user would do it, and a wait
//! until a new topic takes writes, for loads whose producer does not retry.

use crate::error::BenchError;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;

/// Creates `topic` with `partitions` partitions and waits for the answer.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), BenchError> {
    create_replicated_topic(bootstrap, topic, partitions, 1)
}

/// Creates `topic` with `replicas` replicas of each partition and, above one,
/// `min.insync.replicas` one less (acks=all then survives the loss of one replica).
pub fn create_replicated_topic(bootstrap: &str, topic: &str, partitions: i32, replicas: i32) -> Result<(), BenchError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(BenchError::kafka("creating the admin client"))?;
    let runtime = runtime()?;
    let min_insync = (replicas - 1).max(1).to_string();
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replicas));
    if replicas > 1 {
        new_topic = new_topic.set("min.insync.replicas", &min_insync);
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = runtime
        .block_on(admin.create_topics([&new_topic], &options))
        .map_err(BenchError::kafka(format!("creating topic {topic}")))?;
    for result in results {
        if let Err((name, code)) = result {
            return Err(BenchError::Workload { workload: name, reason: format!("CreateTopics answered {code:?}") });
        }
    }
    Ok(())
}

/// Waits until every partition of `topic` takes a write: one one-byte record to each, which the
/// client retries until the partition's leader is ready (reference Kafka elects leaders a moment
/// after CreateTopics answers, and answers NOT_LEADER_OR_FOLLOWER until then). For loads that do
/// not retry, such as the raw-protocol producer.
pub fn wait_writable(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), BenchError> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "30000")
        .create()
        .map_err(BenchError::kafka("creating the probe producer"))?;
    runtime()?.block_on(async {
        for partition in 0..partitions {
            let record = FutureRecord::<(), [u8]>::to(topic).partition(partition).payload(&[0u8][..]);
            producer
                .send(record, Duration::from_secs(30))
                .await
                .map_err(|(error, _)| BenchError::kafka(format!("probing {topic}-{partition} with a write"))(error))?;
        }
        Ok(())
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(BenchError::io("starting a tokio runtime"))
}
