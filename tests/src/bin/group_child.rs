//! A group consumer in its own process, so that a test can SIGKILL it (no LeaveGroup, no last
//! commit) and watch the rest of the group take over. Used by `tests/groups.rs`.
//!
//! Usage: `group_child BOOTSTRAP GROUP TOPIC SESSION_TIMEOUT_MS`. Prints one line per event on
//! stdout: `consumed <partition> <offset>` then, once the commit is acknowledged,
//! `committed <partition> <next offset>`. Commits every message synchronously. Exits by itself
//! after two minutes in case nobody kills it.

use std::io::Write;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

const LIFETIME_MAX: Duration = Duration::from_secs(120);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, bootstrap, group, topic, session_timeout_ms] = args.as_slice() else {
        eprintln!("usage: group_child BOOTSTRAP GROUP TOPIC SESSION_TIMEOUT_MS");
        std::process::exit(2);
    };
    let mut config = strata_tests::clients::client_config(bootstrap);
    config
        .set("group.id", group)
        .set("session.timeout.ms", session_timeout_ms)
        .set("heartbeat.interval.ms", "500")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    let consumer: BaseConsumer = match config.create() {
        Ok(consumer) => consumer,
        Err(e) => {
            eprintln!("group_child: create consumer: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = consumer.subscribe(&[topic]) {
        eprintln!("group_child: subscribe: {e}");
        std::process::exit(1);
    }
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    while started.elapsed() < LIFETIME_MAX {
        let Some(result) = consumer.poll(Duration::from_millis(100)) else { continue };
        let message = match result {
            Ok(message) => message,
            Err(e) => {
                eprintln!("group_child: poll: {e}");
                continue;
            }
        };
        let (partition, offset) = (message.partition(), message.offset());
        let _ = writeln!(out, "consumed {partition} {offset}");
        let _ = out.flush();
        let mut commit = TopicPartitionList::new();
        if commit.add_partition_offset(topic, partition, Offset::Offset(offset + 1)).is_err() {
            continue;
        }
        match consumer.commit(&commit, CommitMode::Sync) {
            Ok(()) => {
                let _ = writeln!(out, "committed {partition} {}", offset + 1);
                let _ = out.flush();
            }
            Err(e) => eprintln!("group_child: commit {partition}/{offset}: {e}"),
        }
        // Slow enough that the parent can kill it in the middle of the topic.
        std::thread::sleep(Duration::from_millis(2));
    }
}
