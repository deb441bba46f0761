//! The group coordinator driver when writes to `__consumer_offsets` fail or must wait: the driver
//! over a real log whose writer has fault injection (`strata_log::io::faults`).
//!
//! - A commit whose write fails leaves no trace: OffsetFetch still returns the last offset that
//!   was written, as after a restart (the coordinator is rebuilt from the log).
//! - A commit whose append must wait for room in the write queue does not stall the runtime
//!   worker it runs on: other tasks keep running while it waits.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use strata_broker::config::{BrokerConfig, Cli};
use strata_broker::groups::Groups;
use strata_broker::topics::Topics;
use strata_groups::{OffsetCommitEntry, OffsetCommitRequest, TopicPartition};
use strata_log::io::faults::{Faults, TearMode};
use strata_log::io::{Writer, WriterOptions};
use strata_log::{LogManager, LogOptions};

const GROUP: &str = "g";

/// The broker's coordinator over a one-partition `__consumer_offsets` in `dir`, its writer faulted.
fn coordinator(dir: &std::path::Path, faults: &Arc<Faults>, queue_depth_max: usize) -> (LogManager, Groups) {
    let args = ["strata", "--data-dir", dir.to_str().expect("utf-8"), "--override", "offsets.topic.num.partitions=1"];
    let config = BrokerConfig::from_cli(Cli::parse_from(args)).expect("valid config");
    let options = WriterOptions { queue_depth_max, ..WriterOptions::default() };
    let writer = Writer::start_with_faults(options, Arc::clone(faults)).expect("writer");
    let log = LogManager::with_writer(dir, LogOptions::default(), writer).expect("log");
    let topics = Topics::load(&log, &config, 0).expect("topics");
    let groups = Groups::open(&log, &topics, &config).expect("coordinator");
    (log, groups)
}

/// Commits `offset` for topic `t` partition 0 outside group management; true if it was written.
async fn commit(groups: &Groups, offset: i64) -> bool {
    let request = OffsetCommitRequest {
        group_id: GROUP.into(),
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
        offsets: vec![OffsetCommitEntry {
            partition: TopicPartition::new("t", 0),
            offset,
            leader_epoch: -1,
            metadata: None,
        }],
    };
    let (reply, persisted) = groups.call(|c, now| c.offset_commit(request, now)).await;
    assert!(reply.partitions.iter().all(|p| p.error.is_none()), "the coordinator accepted it: {reply:?}");
    persisted.is_ok()
}

async fn committed(groups: &Groups) -> i64 {
    let reply = groups.read(|c| c.offset_fetch(GROUP, Some(&[TopicPartition::new("t", 0)]), false)).await;
    reply.partitions[0].offset
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_write_fails_is_not_seen_by_later_fetches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Arc::new(Faults::default());
    let (_log, groups) = coordinator(dir.path(), &faults, 1024);

    assert!(commit(&groups, 5).await, "a healthy write");
    assert_eq!(committed(&groups).await, 5);

    faults.tear_write_job(faults.write_jobs_seen(), 0, TearMode::FailJob);
    assert!(!commit(&groups, 9).await, "the write failed (EIO)");
    assert_eq!(committed(&groups).await, 5, "the failed commit left no trace in memory");
    assert_eq!(groups.rebuilds().await, 1, "rebuilt from the log once");

    // The failed partition takes no more writes; nothing of them shows either.
    assert!(!commit(&groups, 11).await);
    assert_eq!(committed(&groups).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_commit_waiting_for_room_in_the_write_queue_does_not_stall_the_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Arc::new(Faults::default());
    let (_log, groups) = coordinator(dir.path(), &faults, 1);
    let groups = Arc::new(groups);

    // The writer takes the first job and holds it; the second fills the queue (depth 1); the
    // third's append must wait for room. Each is spawned on the runtime's only worker. The test
    // thread waits with std's sleep and channel: a stalled worker would also stall tokio's timers.
    faults.hold_writes(true);
    let mut commits = Vec::new();
    for offset in 1..=3 {
        let groups = Arc::clone(&groups);
        commits.push(tokio::spawn(async move { commit(&groups, offset).await }));
        std::thread::sleep(Duration::from_millis(200));
    }
    let (ran, probe) = std::sync::mpsc::channel();
    tokio::spawn(async move { ran.send(42).expect("the test waits") });
    let probed = probe.recv_timeout(Duration::from_secs(5));
    faults.hold_writes(false);
    assert_eq!(probed, Ok(42), "another task ran while the third commit waited for room");

    for commit in commits {
        let written = tokio::time::timeout(Duration::from_secs(10), commit).await.expect("commit done").expect("task");
        assert!(written);
    }
    assert_eq!(committed(&groups).await, 3);
}
