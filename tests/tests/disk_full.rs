//! Disk full, for real: the broker's data directory on a small tmpfs that the test mounts (and
//! unmounts) itself, filled by producing until the kernel answers ENOSPC.
//!
//! - Produce then gets KAFKA_STORAGE_ERROR: no crash, no hang, and the broker keeps serving.
//! - Consumers keep reading everything that was acknowledged, byte for byte.
//! - When space comes back (DeleteRecords frees whole segments) writes resume without a restart.
//! - Nothing acknowledged is lost: after a clean restart every acknowledged batch above the new
//!   log start is still there, at its offset.
//!
//! Mounting needs root, as CI runs; elsewhere the test fails with a message saying so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::DeleteRecordsRequest;
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use strata_testkit::RawConn;
use strata_testkit::batches::{self, Batch};
use strata_testkit::codes::{KAFKA_STORAGE_ERROR, NONE};
use strata_testkit::requests::{self, epoch_ms};
use strata_tests::{Broker, BrokerOptions};

const TOPIC: &str = "full";
const FILESYSTEM_BYTES: u64 = 24 * 1024 * 1024;
const VALUE_BYTES: usize = 60 * 1024;

/// A tmpfs of [`FILESYSTEM_BYTES`] mounted for the test; unmounted (lazily) when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path) -> Tmpfs {
        std::fs::create_dir_all(path).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={FILESYSTEM_BYTES}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs at {} failed: this test needs root (CI runs as root)",
            path.display()
        );
        Tmpfs { path: path.to_path_buf() }
    }

    fn free_bytes(&self) -> u64 {
        let stat = nix::sys::statvfs::statvfs(&self.path).expect("statvfs");
        stat.blocks_available() * stat.fragment_size()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// One batch of one record whose value is `VALUE_BYTES` of a pattern naming `n`.
fn batch(n: usize) -> Bytes {
    let key = format!("k{n}");
    let timestamp = epoch_ms() + i64::try_from(n).expect("fits");
    Batch::new().record(Some(key.as_bytes()), Some(&batch_value(n)), timestamp).encode()
}

/// The record values stored from `offset` on, read with Fetch to the end of the log.
fn values_from(conn: &mut RawConn, offset: i64) -> Vec<(i64, Bytes)> {
    let mut out = Vec::new();
    let mut next = offset;
    loop {
        let data = requests::fetch(conn, TOPIC, 0, next);
        assert_eq!(data.error_code, NONE, "fetch at {next}");
        let Some(records) = data.records.filter(|r| !r.is_empty()) else { break };
        for set in batches::decode(&records) {
            for record in set.records {
                if record.offset >= next {
                    out.push((record.offset, record.value.expect("a value")));
                }
            }
        }
        let last = out.last().map_or(next - 1, |(o, _)| *o);
        if last + 1 >= data.high_watermark || last < next {
            break;
        }
        next = last + 1;
    }
    out
}

fn delete_records_before(conn: &mut RawConn, offset: i64) -> (i16, i64) {
    let request = DeleteRecordsRequest::default().with_timeout_ms(10_000).with_topics(vec![
        DeleteRecordsTopic::default()
            .with_name(requests::topic_name(TOPIC))
            .with_partitions(vec![DeleteRecordsPartition::default().with_partition_index(0).with_offset(offset)]),
    ]);
    let response = conn.request(2, &request);
    let partition = &response.topics[0].partitions[0];
    (partition.error_code, partition.low_watermark)
}

#[test]
fn a_full_disk_refuses_produce_keeps_reads_and_takes_writes_again_when_space_returns() {
    let work = tempfile::tempdir().expect("tempdir");
    let tmpfs = Tmpfs::mount(&work.path().join("mnt"));
    let mut broker = Broker::start(BrokerOptions {
        data_dir: Some(tmpfs.path.join("data")),
        ..BrokerOptions::default().with("log.flush.interval.messages", "1")
    });
    let mut conn = RawConn::connect(broker.bootstrap());
    let created = requests::create_topic(&mut conn, TOPIC, 1);
    assert_eq!(created.error_code, NONE);
    // 1 MiB segments (internal.segment.bytes, as Kafka's tests use), so deleting records frees space.
    let alter = kafka_protocol::messages::IncrementalAlterConfigsRequest::default().with_resources(vec![
        kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(kafka_protocol::protocol::StrBytes::from_static_str(TOPIC))
            .with_configs(vec![
                kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(kafka_protocol::protocol::StrBytes::from_static_str("internal.segment.bytes"))
                    .with_config_operation(0)
                    .with_value(Some(kafka_protocol::protocol::StrBytes::from_static_str("1048576"))),
            ]),
    ]);
    let altered = conn.request(1, &alter);
    assert_eq!(altered.responses[0].error_code, NONE, "{:?}", altered.responses[0].error_message);

    // Fill the disk: every answer is either an offset or KAFKA_STORAGE_ERROR, then only the latter.
    let mut acked: Vec<(i64, usize)> = Vec::new();
    let limit = usize::try_from(2 * FILESYSTEM_BYTES).expect("fits") / VALUE_BYTES;
    let mut refused = 0;
    for n in 0..limit {
        let answer = requests::produce(&mut conn, TOPIC, 0, batch(n));
        match answer.error_code {
            NONE => acked.push((answer.base_offset, n)),
            KAFKA_STORAGE_ERROR => {
                refused += 1;
                if refused == 3 {
                    break;
                }
            }
            other => panic!("produce {n}: error {other}, expected none or KAFKA_STORAGE_ERROR"),
        }
    }
    assert_eq!(refused, 3, "the disk filled up within {limit} batches of {VALUE_BYTES} bytes");
    assert!(acked.len() > 100, "most of the disk took data first ({} batches)", acked.len());
    assert!(broker.is_running(), "the broker survives a full disk\n{}", broker.stderr_tail());

    // Consumers keep reading what was acknowledged.
    let stored = values_from(&mut conn, 0);
    assert_eq!(stored.len(), acked.len(), "every acknowledged batch is readable");
    for ((offset, value), (acked_offset, n)) in stored.iter().zip(&acked) {
        assert_eq!(offset, acked_offset);
        assert_eq!(value, &batch_value(*n), "batch {n} at offset {offset}");
    }

    // Space comes back: delete the older half; writes resume without a restart.
    let (mid_offset, _) = acked[acked.len() / 2];
    let free_before = tmpfs.free_bytes();
    assert_eq!(delete_records_before(&mut conn, mid_offset), (NONE, mid_offset));
    let deadline = Instant::now() + Duration::from_secs(20);
    let resumed_at = loop {
        let n = limit + acked.len();
        let answer = requests::produce(&mut conn, TOPIC, 0, batch(n));
        if answer.error_code == NONE {
            acked.push((answer.base_offset, n));
            break answer.base_offset;
        }
        assert_eq!(answer.error_code, KAFKA_STORAGE_ERROR);
        assert!(
            Instant::now() < deadline,
            "writes did not resume within 20 s of freeing space ({} bytes free before, {} after)\n{}",
            free_before,
            tmpfs.free_bytes(),
            broker.stderr_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(resumed_at > acked[acked.len() - 2].0, "the log continues after the last acknowledged batch");

    // Nothing acknowledged above the new log start is lost, across a clean restart too.
    for restarted in [false, true] {
        if restarted {
            drop(conn);
            broker.restart();
            conn = RawConn::connect(broker.bootstrap());
        }
        let stored = values_from(&mut conn, mid_offset);
        let expected: Vec<_> = acked.iter().filter(|(o, _)| *o >= mid_offset).collect();
        assert_eq!(stored.len(), expected.len(), "acknowledged batches from {mid_offset} (restarted: {restarted})");
        for ((offset, value), (acked_offset, n)) in stored.iter().zip(expected) {
            assert_eq!(offset, acked_offset);
            assert_eq!(value, &batch_value(*n), "batch {n} at offset {offset} (restarted: {restarted})");
        }
    }
    broker.stop_ok();
}

fn batch_value(n: usize) -> Bytes {
    Bytes::from(format!("batch-{n:06}-").bytes().cycle().take(VALUE_BYTES).collect::<Vec<u8>>())
}
