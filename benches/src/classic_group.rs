//! W9's classic-group row: `consumers` librdkafka consumers, each on a thread of its own,
//! subscribed to the topic in one consumer group (the classic protocol: JoinGroup and
//! SyncGroup, the range assignor), reading until the group has read `expected` records or
//! `time_max` passes. Offsets are not committed: the share group beside it acknowledges every
//! record, a consumer group would commit once in a while, which costs less than either.

use crate::error::BenchError;
use crate::group_read::{ReadSpec, ReadTotals};
use crate::loadgen::Consumed;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn run(spec: &ReadSpec) -> Result<Consumed, BenchError> {
    let consumers = (0..spec.consumers).map(|_| member(spec)).collect::<Result<Vec<_>, _>>()?;
    let totals = Arc::new(ReadTotals::default());
    let start = Instant::now();
    let threads: Vec<_> = consumers
        .into_iter()
        .map(|consumer| {
            let (spec, totals) = (spec.clone(), Arc::clone(&totals));
            std::thread::spawn(move || {
                while totals.count() < spec.expected && start.elapsed() < spec.time_max {
                    match consumer.poll(Duration::from_millis(100)) {
                        Some(Ok(_)) => totals.add(1, start),
                        Some(Err(error)) => totals.fail(error.to_string()),
                        None => {}
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        if thread.join().is_err() {
            totals.fail("a consumer thread panicked".into());
        }
    }
    Ok(totals.consumed(spec.record_bytes))
}

fn member(spec: &ReadSpec) -> Result<BaseConsumer, BenchError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &spec.bootstrap)
        .set("group.id", &spec.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .set("fetch.queue.backoff.ms", "10")
        .set("enable.partition.eof", "false")
        .create()
        .map_err(BenchError::kafka("creating a group consumer"))?;
    consumer.subscribe(&[spec.topic.as_str()]).map_err(BenchError::kafka("subscribing"))?;
    Ok(consumer)
}
