//! Topic creation through the Kafka admin API (CreateTopics), as a user would do it.

use crate::error::BenchError;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use std::time::Duration;

/// Creates `topic` with `partitions` partitions and waits for the answer.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), BenchError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(BenchError::kafka("creating the admin client"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(BenchError::io("starting a tokio runtime"))?;
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
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
