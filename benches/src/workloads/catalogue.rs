//! The catalogue of standard workloads W1-W9 of the benchmark issues and their scales: what each
//! workload offers the broker (sizes, rates, partitions, flush policy, how many brokers) and which
//! raw ceiling it is compared with. Nothing here runs anything; [`super::runner`] does.

use std::time::Duration;

const KIB: u32 = 1024;
const MIB: u32 = 1024 * 1024;
/// The ack-after-fsync setting of W4.
const FLUSH_EVERY_MESSAGE: (&str, &str) = ("log.flush.interval.messages", "1");
/// How often W7's transactional producer commits.
const TRANSACTION_COMMIT_INTERVAL: Duration = Duration::from_millis(100);
/// Kafka 4.1 serves share groups only with this (a preview); Strata always does, and accepts it.
const SHARE_ENABLE: (&str, &str) = ("group.share.enable", "true");
/// W9's consumers per group.
const SHARE_READERS: usize = 4;
/// How often each of W8's producer connections sends its one record.
const MANY_CLIENTS_INTERVAL: Duration = Duration::from_millis(100);

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScaleName {
    /// The sizes: 30 s per workload, a 4 GiB backlog, 1,000 partitions.
    Full,
    /// 10 s per workload and a 512 MiB backlog; otherwise as full.
    Quick,
    /// A few seconds in all: every path once, tiny sizes. For CI.
    Smoke,
}

/// The sizes a scale stands for; every field can be overridden from the command line.
#[derive(Debug, Clone)]
pub struct Scale {
    pub name: ScaleName,
    pub duration: Duration,
    pub w3_rate_msgs_per_sec: f64,
    pub w5_backlog_bytes: u64,
    pub w6_partitions: i32,
    pub w6_rate_bytes_per_sec: f64,
    pub ceiling_bytes: u64,
    pub warm_bytes: usize,
    /// Requests W2R's raw-protocol producer keeps outstanding.
    pub raw_in_flight: usize,
    /// W8's producer and consumer connections (and partitions: one per consumer).
    pub w8_producers: usize,
    pub w8_consumers: usize,
    /// W8's schedule runs this long before its measured window.
    pub w8_warm_up: Duration,
    /// The backlog W9's groups read.
    pub w9_backlog_bytes: u64,
}

impl Scale {
    pub fn new(name: ScaleName) -> Scale {
        match name {
            ScaleName::Full => Scale {
                name,
                duration: Duration::from_secs(30),
                w3_rate_msgs_per_sec: 50_000.0,
                w5_backlog_bytes: 4 << 30,
                w6_partitions: 1000,
                w6_rate_bytes_per_sec: 10e6,
                // More than the kernel lets be dirty at once (vm.dirty_ratio 20 % of 23.5 GiB
                // here), as a 30 s workload at full rate writes: a 2 GiB buffered write stayed in
                // the page cache and measured 4.2 GB/s, while the raw producer of W2R fell from
                // ~1 GB/s to writeback speed once a few GB were dirty.
                ceiling_bytes: 8 << 30,
                warm_bytes: 8 << 30,
                raw_in_flight: 8,
                w8_producers: 1000,
                w8_consumers: 100,
                w8_warm_up: Duration::from_secs(2),
                w9_backlog_bytes: 1 << 30,
            },
            ScaleName::Quick => Scale {
                name,
                duration: Duration::from_secs(10),
                w5_backlog_bytes: 512 << 20,
                w9_backlog_bytes: 256 << 20,
                ceiling_bytes: 512 << 20,
                warm_bytes: 2 << 30,
                ..Scale::new(ScaleName::Full)
            },
            ScaleName::Smoke => Scale {
                name,
                duration: Duration::from_secs(1),
                w3_rate_msgs_per_sec: 2_000.0,
                w5_backlog_bytes: 4 << 20,
                w6_partitions: 20,
                w6_rate_bytes_per_sec: 1e6,
                ceiling_bytes: 8 << 20,
                warm_bytes: 64 << 20,
                raw_in_flight: 8,
                w8_producers: 50,
                w8_consumers: 5,
                w8_warm_up: Duration::from_millis(500),
                w9_backlog_bytes: 4 << 20,
            },
        }
    }
}

/// What a workload does after its topic exists.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Produce (and consume beside it) for the scale's duration.
    Produce,
    /// Produce a backlog, then read it from the beginning once per fetch path.
    CatchUp { backlog_bytes: u64, paths: Vec<FetchPath> },
    /// Send one prebuilt ProduceRequest of `batch_bytes` over and over from the raw-protocol
    /// producer, `in_flight` at a time, for the scale's duration; no consumer.
    RawProduce { in_flight: usize },
    /// W8: `producers` raw-protocol connections each sending one record every `interval`, and
    /// `consumers` long-polling one partition each (the topic's partitions), all on one client
    /// thread; `warm_up` before the scale's duration is measured.
    ManyClients { producers: usize, consumers: usize, interval: Duration, warm_up: Duration },
    /// W9: produce a backlog, then read it from the beginning with `consumers` members of a
    /// classic consumer group, and again with as many members of a share group (each record
    /// acknowledged), each on a restarted broker.
    GroupCatchUp { backlog_bytes: u64, consumers: usize },
}

/// One way fetches are served: a name, the broker overrides that select it, and whether the
/// consumer reads committed records only (`isolation.level=read_committed`).
#[derive(Debug, Clone)]
pub struct FetchPath {
    pub name: String,
    pub overrides: Vec<(String, String)>,
    pub read_committed: bool,
}

/// What the broker's figures are compared with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CeilingRef {
    /// Raw buffered file write in chunks of this many bytes.
    BufferedWrite(usize),
    /// Raw write + fdatasync in chunks of this many bytes.
    Fdatasync(usize),
    /// The offered load of an open-loop workload (messages/s).
    OfferedRate(f64),
    /// The faster of raw sendfile and raw read+write of a cached file to a socket.
    FileToSocket,
    /// The msg/s of another row of the same run (a workload id, or `<id>-<fetch path>`).
    Row(&'static str),
}

/// One workload.
#[derive(Debug, Clone)]
pub struct Workload {
    pub id: &'static str,
    pub title: String,
    pub partitions: i32,
    pub record_bytes: usize,
    pub acks: &'static str,
    pub linger_ms: u32,
    pub batch_bytes: u32,
    pub rate_msgs_per_sec: Option<f64>,
    pub overrides: Vec<(String, String)>,
    /// `Some(interval)`: the producer is transactional and commits every `interval`.
    pub commit_interval: Option<Duration>,
    pub kind: Kind,
    pub ceiling: CeilingRef,
    /// Brokers the workload runs on: one, or a cluster whose topic has a replica on each
    /// (replication factor `brokers`, `min.insync.replicas` one less).
    pub brokers: usize,
}

/// W1-W9 at `scale`. `fetch_paths` are the W5 variants (an empty list reads once with the default).
pub fn standard(scale: &Scale, fetch_paths: &[FetchPath]) -> Vec<Workload> {
    let w2 = Workload {
        id: "W2",
        title: "16 partitions, 1 KiB, acks=all, linger 1 ms, batch 1 MiB, max rate".into(),
        partitions: 16,
        record_bytes: 1024,
        acks: "all",
        linger_ms: 1,
        batch_bytes: MIB,
        rate_msgs_per_sec: None,
        overrides: Vec::new(),
        commit_interval: None,
        kind: Kind::Produce,
        ceiling: CeilingRef::BufferedWrite(MIB as usize),
        brokers: 1,
    };
    let w3_rate = scale.w3_rate_msgs_per_sec;
    let raw_in_flight = scale.raw_in_flight;
    let w3 = Workload {
        id: "W3",
        title: format!("W2 at a fixed {w3_rate:.0} msg/s, batch 128 KiB"),
        batch_bytes: 128 * KIB,
        rate_msgs_per_sec: Some(w3_rate),
        ceiling: CeilingRef::OfferedRate(w3_rate),
        ..w2.clone()
    };
    let flush = || vec![(FLUSH_EVERY_MESSAGE.0.to_string(), FLUSH_EVERY_MESSAGE.1.to_string())];
    let w6_rate = scale.w6_rate_bytes_per_sec / 1024.0;
    let mut paths: Vec<FetchPath> = fetch_paths.to_vec();
    if paths.is_empty() {
        paths.push(FetchPath { name: "default".into(), overrides: Vec::new(), read_committed: false });
    }
    let w8_rate = scale.w8_producers as f64 / MANY_CLIENTS_INTERVAL.as_secs_f64();
    let w8 = Workload {
        id: "W8",
        title: format!(
            "many clients: {} producer connections (one 1 KiB record each every {} ms, acks=1) and {} long-polling consumers, {w8_rate:.0} msg/s, raw protocol",
            scale.w8_producers,
            MANY_CLIENTS_INTERVAL.as_millis(),
            scale.w8_consumers
        ),
        partitions: i32::try_from(scale.w8_consumers).unwrap_or(i32::MAX),
        acks: "1",
        linger_ms: 0,
        batch_bytes: KIB,
        rate_msgs_per_sec: Some(w8_rate),
        kind: Kind::ManyClients {
            producers: scale.w8_producers,
            consumers: scale.w8_consumers,
            interval: MANY_CLIENTS_INTERVAL,
            warm_up: scale.w8_warm_up,
        },
        ceiling: CeilingRef::OfferedRate(w8_rate),
        ..w2.clone()
    };
    // Replication (issue 14): W2 and W3 on three brokers, every partition on all three (acks=all
    // waits for the in-sync replicas, min.insync.replicas 2). W2x3 is compared with single-node
    // W2; W3x3's produce latency is W3's plus replication.
    let replicated = [
        Workload {
            id: "W2x3",
            title: "W2 on three brokers, replication factor 3, min.insync.replicas 2".into(),
            ceiling: CeilingRef::Row("W2"),
            brokers: 3,
            ..w2.clone()
        },
        Workload {
            id: "W3x3",
            title: format!("W3 on three brokers, replication factor 3, min.insync.replicas 2 ({w3_rate:.0} msg/s)"),
            brokers: 3,
            ..w3.clone()
        },
    ];
    let mut all = vec![
        Workload {
            id: "W1",
            title: "6 partitions, 100 B, acks=1, linger 5 ms, max rate".into(),
            partitions: 6,
            record_bytes: 100,
            acks: "1",
            linger_ms: 5,
            batch_bytes: MIB,
            rate_msgs_per_sec: None,
            overrides: Vec::new(),
            commit_interval: None,
            kind: Kind::Produce,
            ceiling: CeilingRef::BufferedWrite(MIB as usize),
            brokers: 1,
        },
        w2.clone(),
        // Not one of the workloads: librdkafka on one core stops at 250-300 MB/s of 1 KiB
        // messages with the broker still idle part of the time, so W2 cannot show what the broker
        // itself ingests. The same bytes from a client that costs almost nothing per byte can.
        Workload {
            id: "W2R",
            title: format!(
                "W2's bytes from a raw-protocol producer (prebuilt 1 MiB requests, {raw_in_flight} in flight, no consumer): what the broker alone ingests"
            ),
            kind: Kind::RawProduce { in_flight: raw_in_flight },
            ..w2.clone()
        },
        w3.clone(),
        // Not one of the workloads: with linger 1 ms the client holds every message up to
        // 1 ms before sending it, so W3's produce latency cannot show what the broker adds alone.
        Workload {
            id: "W3L0",
            title: "W3 with linger 0 ms (the client sends at once: what the broker adds)".into(),
            linger_ms: 0,
            ..w3.clone()
        },
        Workload {
            id: "W4a",
            title: "W2 with log.flush.interval.messages=1".into(),
            overrides: flush(),
            ceiling: CeilingRef::Fdatasync(MIB as usize),
            ..w2.clone()
        },
        Workload {
            id: "W4b",
            title: "W3 with log.flush.interval.messages=1".into(),
            overrides: flush(),
            ceiling: CeilingRef::Fdatasync(128 * KIB as usize),
            ..w3
        },
        Workload {
            id: "W5",
            title: format!("catch-up read of a {} MiB backlog from the beginning", scale.w5_backlog_bytes >> 20),
            acks: "1",
            kind: Kind::CatchUp { backlog_bytes: scale.w5_backlog_bytes, paths },
            ceiling: CeilingRef::FileToSocket,
            ..w2.clone()
        },
        // Transactions (issue 12): W2 from a transactional producer committing every 100 ms, read
        // by a read_committed consumer, against W2 itself; then a backlog written so, read from
        // the beginning with each isolation level.
        Workload {
            id: "W7",
            title: "W2 from a transactional producer committing every 100 ms, read_committed consumer".into(),
            commit_interval: Some(TRANSACTION_COMMIT_INTERVAL),
            ceiling: CeilingRef::Row("W2"),
            ..w2.clone()
        },
        Workload {
            id: "W7C",
            title: format!("catch-up read of a {} MiB backlog written by W7's producer", scale.w5_backlog_bytes >> 20),
            commit_interval: Some(TRANSACTION_COMMIT_INTERVAL),
            kind: Kind::CatchUp {
                backlog_bytes: scale.w5_backlog_bytes,
                paths: [("read_uncommitted", false), ("read_committed", true)]
                    .into_iter()
                    .map(|(name, read_committed)| FetchPath {
                        name: name.into(),
                        overrides: Vec::new(),
                        read_committed,
                    })
                    .collect(),
            },
            ceiling: CeilingRef::Row("W7C-read_uncommitted"),
            ..w2.clone()
        },
        Workload {
            id: "W6",
            title: format!(
                "{} partitions at {:.0} MB/s (1 KiB, acks=all, linger 1 ms)",
                scale.w6_partitions,
                scale.w6_rate_bytes_per_sec / 1e6
            ),
            partitions: scale.w6_partitions,
            batch_bytes: 128 * KIB,
            rate_msgs_per_sec: Some(w6_rate),
            ceiling: CeilingRef::OfferedRate(w6_rate),
            ..w2.clone()
        },
        w8,
        // Queues (issue 16): a share group's members against a classic group's on one backlog.
        Workload {
            id: "W9",
            title: format!(
                "{} MiB backlog of 16 partitions read by {SHARE_READERS} consumers: a classic group, then a share group acknowledging each record",
                scale.w9_backlog_bytes >> 20
            ),
            acks: "1",
            overrides: vec![(SHARE_ENABLE.0.to_string(), SHARE_ENABLE.1.to_string())],
            kind: Kind::GroupCatchUp { backlog_bytes: scale.w9_backlog_bytes, consumers: SHARE_READERS },
            ceiling: CeilingRef::Row("W9-classic"),
            ..w2
        },
    ];
    all.extend(replicated);
    all
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn w8(name: ScaleName) -> Workload {
        standard(&Scale::new(name), &[]).into_iter().find(|w| w.id == "W8").unwrap()
    }

    #[test]
    fn w8_offers_10000_msgs_per_sec_from_1000_producers_over_100_partitions() {
        let w = w8(ScaleName::Full);
        assert_eq!((w.partitions, w.record_bytes, w.acks), (100, 1024, "1"));
        assert_eq!(w.rate_msgs_per_sec, Some(10_000.0));
        assert_eq!(w.ceiling, CeilingRef::OfferedRate(10_000.0));
        let Kind::ManyClients { producers, consumers, interval, .. } = w.kind else { panic!("{:?}", w.kind) };
        assert_eq!((producers, consumers, interval), (1000, 100, Duration::from_millis(100)));
        assert_eq!(w8(ScaleName::Quick).partitions, 100);
    }

    #[test]
    fn w9_reads_a_16_partition_backlog_with_four_consumers_per_group() {
        let w9 = |name| standard(&Scale::new(name), &[]).into_iter().find(|w| w.id == "W9").unwrap();
        let full = w9(ScaleName::Full);
        assert_eq!((full.partitions, full.record_bytes), (16, 1024));
        assert!(matches!(full.kind, Kind::GroupCatchUp { backlog_bytes: 1_073_741_824, consumers: 4 }));
        assert_eq!(full.ceiling, CeilingRef::Row("W9-classic"));
        assert!(full.overrides.iter().any(|(k, v)| k == "group.share.enable" && v == "true"), "Kafka 4.1 needs it");
        assert!(matches!(w9(ScaleName::Smoke).kind, Kind::GroupCatchUp { backlog_bytes: 4_194_304, .. }));
    }

    #[test]
    fn smoke_scale_keeps_w8_small() {
        let w = w8(ScaleName::Smoke);
        assert_eq!(w.partitions, 5);
        assert_eq!(w.rate_msgs_per_sec, Some(500.0));
        assert!(matches!(w.kind, Kind::ManyClients { producers: 50, consumers: 5, .. }));
    }
}
