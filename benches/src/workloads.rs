//! The standard workloads W1-W6 of the benchmark issue, their scales, and how one is run: a fresh
//! broker (own data directory and overrides, pinned), a topic, the load, and the broker's usage.

use crate::admin::create_topic;
use crate::broker::{Broker, BrokerSpec};
use crate::error::BenchError;
use crate::loadgen::{self, Consumed, LoadResult, LoadSpec};
use crate::procstat::{self, ProcSample};
use crate::rawload::{self, RawSpec};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const KIB: u32 = 1024;
const MIB: u32 = 1024 * 1024;
/// The ack-after-fsync setting of W4.
const FLUSH_EVERY_MESSAGE: (&str, &str) = ("log.flush.interval.messages", "1");

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
            },
            ScaleName::Quick => Scale {
                name,
                duration: Duration::from_secs(10),
                w5_backlog_bytes: 512 << 20,
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
}

/// One way the broker can be told to serve fetches (a name and the overrides that select it).
#[derive(Debug, Clone)]
pub struct FetchPath {
    pub name: String,
    pub overrides: Vec<(String, String)>,
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
    pub kind: Kind,
    pub ceiling: CeilingRef,
}

/// W1-W6 at `scale`. `fetch_paths` are the W5 variants (an empty list reads once with the default).
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
        kind: Kind::Produce,
        ceiling: CeilingRef::BufferedWrite(MIB as usize),
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
        paths.push(FetchPath { name: "default".into(), overrides: Vec::new() });
    }
    vec![
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
            kind: Kind::Produce,
            ceiling: CeilingRef::BufferedWrite(MIB as usize),
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
            ..w2
        },
    ]
}

/// What the broker (and, beside it, the client) used during the measured part of a workload.
#[derive(Debug, Clone, Default)]
pub struct BrokerUsage {
    pub cpu_secs: f64,
    pub write_bytes: u64,
    pub rss_peak_bytes: u64,
    pub cpus: String,
    /// Wall-clock length of the measured part.
    pub wall_secs: f64,
    /// CPU time of this process (the rdkafka producer and consumer) over the same part: when it is
    /// close to `wall_secs`, the client's one core was the limit, not the broker.
    pub client_cpu_secs: f64,
}

impl BrokerUsage {
    /// Share of one core the broker used, in percent.
    pub fn broker_core_percent(&self) -> f64 {
        percent(self.cpu_secs, self.wall_secs)
    }
    /// Share of one core the client used, in percent.
    pub fn client_core_percent(&self) -> f64 {
        percent(self.client_cpu_secs, self.wall_secs)
    }
}

fn percent(cpu_secs: f64, wall_secs: f64) -> f64 {
    if wall_secs > 0.0 { cpu_secs / wall_secs * 100.0 } else { 0.0 }
}

/// Broker and client counters taken together, before and after a measured part.
struct Window {
    broker_pid: u32,
    broker: ProcSample,
    client: ProcSample,
    started: Instant,
}

impl Window {
    fn open(broker_pid: u32) -> Result<Window, BenchError> {
        let client = procstat::sample(std::process::id())?;
        Ok(Window { broker_pid, broker: procstat::sample(broker_pid)?, client, started: Instant::now() })
    }

    fn close(self, cpus: &str) -> Result<BrokerUsage, BenchError> {
        let wall_secs = self.started.elapsed().as_secs_f64();
        let broker = procstat::sample(self.broker_pid)?;
        let client = procstat::sample(std::process::id())?;
        Ok(BrokerUsage {
            cpu_secs: broker.cpu_secs - self.broker.cpu_secs,
            write_bytes: broker.write_bytes.saturating_sub(self.broker.write_bytes),
            rss_peak_bytes: broker.rss_peak_bytes,
            cpus: cpus.to_string(),
            wall_secs,
            client_cpu_secs: client.cpu_secs - self.client.cpu_secs,
        })
    }
}

/// One row of results: a produce workload, or one fetch path of W5.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: String,
    pub title: String,
    pub workload: Workload,
    pub load: LoadResult,
    pub catch_up: Option<Consumed>,
    pub usage: BrokerUsage,
    /// Why the row counts as failed (no messages, errors, messages missing), if it does.
    pub failure: Option<String>,
}

impl Outcome {
    /// Payload bytes this row moved: produced and acknowledged, or read back for W5.
    pub fn payload_bytes(&self) -> u64 {
        match &self.catch_up {
            Some(c) => c.bytes,
            None => self.load.delivered * self.workload.record_bytes as u64,
        }
    }
    pub fn msgs_per_sec(&self) -> f64 {
        match &self.catch_up {
            Some(c) if c.secs > 0.0 => c.count as f64 / c.secs,
            Some(_) => 0.0,
            None => self.load.delivered_msgs_per_sec(),
        }
    }
    pub fn mb_per_sec(&self) -> f64 {
        match &self.catch_up {
            Some(c) if c.secs > 0.0 => c.bytes as f64 / 1e6 / c.secs,
            Some(_) => 0.0,
            None => self.load.delivered_msgs_per_sec() * self.workload.record_bytes as f64 / 1e6,
        }
    }
    pub fn cpu_secs_per_gb(&self) -> f64 {
        let gb = self.payload_bytes() as f64 / 1e9;
        if gb > 0.0 { self.usage.cpu_secs / gb } else { 0.0 }
    }
    pub fn disk_bytes_per_byte(&self) -> f64 {
        let bytes = self.payload_bytes() as f64;
        if bytes > 0.0 { self.usage.write_bytes as f64 / bytes } else { 0.0 }
    }
}

/// Where and how workloads run.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub broker_binary: PathBuf,
    pub work_dir: PathBuf,
    pub broker_cpu: Option<usize>,
    pub duration: Duration,
}

/// Runs one workload on a fresh broker and data directory; returns one row (two for W5 with paths).
pub fn run(workload: &Workload, ctx: &RunContext) -> Result<Vec<Outcome>, BenchError> {
    let data_dir = data_dir(&ctx.work_dir, workload.id);
    let _ = std::fs::remove_dir_all(&data_dir);
    let spec = BrokerSpec {
        binary: ctx.broker_binary.clone(),
        data_dir: data_dir.clone(),
        overrides: workload.overrides.clone(),
        cpu: ctx.broker_cpu,
    };
    let topic = format!("bench-{}", workload.id.to_lowercase());
    let broker = Broker::start(&spec)?;
    create_topic(&broker.address, &topic, workload.partitions)?;
    let outcomes = match &workload.kind {
        Kind::Produce => {
            let load_spec = load_spec(workload, &broker.address, &topic, ctx.duration, None, true);
            vec![measure_produce(workload, broker, true, || loadgen::run(&load_spec))?]
        }
        Kind::RawProduce { in_flight } => {
            let raw_spec = RawSpec {
                bootstrap: broker.address.clone(),
                topic: topic.clone(),
                partitions: workload.partitions,
                record_bytes: workload.record_bytes,
                request_bytes: workload.batch_bytes as usize,
                in_flight: *in_flight,
                duration: ctx.duration,
            };
            // No consumer: the row must not fail for having read nothing back.
            vec![measure_produce(workload, broker, false, || rawload::run(&raw_spec))?]
        }
        Kind::CatchUp { backlog_bytes, paths } => {
            // The backlog is written at the highest rate, with a generous time bound.
            let time_max = ctx.duration.max(Duration::from_secs(1)) * 20;
            let load_spec = load_spec(workload, &broker.address, &topic, time_max, Some(*backlog_bytes), false);
            let load = loadgen::run(&load_spec)?;
            broker.stop()?;
            let mut rows = Vec::new();
            for path in paths {
                rows.push(read_backlog(workload, ctx, &spec, path, &topic, &load)?);
            }
            if let Some(failure) = produce_failure(&load, false) {
                for row in &mut rows {
                    row.failure.get_or_insert_with(|| format!("backlog: {failure}"));
                }
            }
            rows
        }
    };
    // A 4 GiB backlog should not outlive its workload; the broker's log file beside it stays.
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(outcomes)
}

/// Runs `load` inside a measured window of `broker`, stops the broker and makes the row;
/// `consumed` says whether the load read everything back (and must have).
fn measure_produce(
    workload: &Workload,
    broker: Broker,
    consumed: bool,
    load: impl FnOnce() -> Result<LoadResult, BenchError>,
) -> Result<Outcome, BenchError> {
    let window = Window::open(broker.pid)?;
    let load = load()?;
    let usage = window.close(&broker.cpus)?;
    broker.stop()?;
    let failure = produce_failure(&load, consumed);
    Ok(Outcome {
        id: workload.id.into(),
        title: workload.title.clone(),
        workload: workload.clone(),
        load,
        catch_up: None,
        usage,
        failure,
    })
}

/// Restarts the broker on the backlog with one fetch path and reads everything from the beginning.
fn read_backlog(
    workload: &Workload,
    ctx: &RunContext,
    spec: &BrokerSpec,
    path: &FetchPath,
    topic: &str,
    backlog: &LoadResult,
) -> Result<Outcome, BenchError> {
    let mut spec = spec.clone();
    spec.overrides.extend(path.overrides.iter().cloned());
    let broker = Broker::start(&spec)?;
    let window = Window::open(broker.pid)?;
    let time_max = ctx.duration.max(Duration::from_secs(1)) * 20;
    let consumed = loadgen::catch_up(&broker.address, topic, workload.partitions, backlog.delivered, time_max)?;
    let usage = window.close(&broker.cpus)?;
    broker.stop()?;
    let failure = if consumed.count == 0 {
        Some("no message read back".to_string())
    } else if consumed.count < backlog.delivered {
        Some(format!("read {} of {} messages", consumed.count, backlog.delivered))
    } else {
        None
    };
    Ok(Outcome {
        id: format!("{}-{}", workload.id, path.name),
        title: format!("{} ({} fetch path)", workload.title, path.name),
        workload: workload.clone(),
        load: backlog.clone(),
        catch_up: Some(consumed),
        usage,
        failure,
    })
}

fn load_spec(
    w: &Workload,
    bootstrap: &str,
    topic: &str,
    duration: Duration,
    bytes_max: Option<u64>,
    consume: bool,
) -> LoadSpec {
    LoadSpec {
        bootstrap: bootstrap.to_string(),
        topic: topic.to_string(),
        partitions: w.partitions,
        record_bytes: w.record_bytes,
        acks: w.acks.to_string(),
        linger_ms: w.linger_ms,
        batch_bytes: w.batch_bytes,
        rate_msgs_per_sec: w.rate_msgs_per_sec,
        duration,
        bytes_max,
        consume,
        drain_idle_max: Duration::from_secs(10),
    }
}

/// A produce run fails when nothing was acknowledged, anything failed, or (when consuming)
/// the consumer did not get every acknowledged message.
fn produce_failure(load: &LoadResult, consumed: bool) -> Option<String> {
    if load.delivered == 0 {
        return Some(format!(
            "no message acknowledged ({})",
            load.first_error.as_deref().unwrap_or("no error reported")
        ));
    }
    if load.send_errors + load.delivery_errors > 0 {
        return Some(format!(
            "{} send and {} delivery errors, first: {}",
            load.send_errors,
            load.delivery_errors,
            load.first_error.as_deref().unwrap_or("-")
        ));
    }
    if consumed && load.consumed < load.delivered {
        return Some(format!(
            "consumed {} of {} acknowledged messages (consumer error: {})",
            load.consumed,
            load.delivered,
            load.consume_error.as_deref().unwrap_or("none")
        ));
    }
    None
}

/// The data directory of the workload `id` under `work_dir` (kept for inspection after a run).
pub fn data_dir(work_dir: &Path, id: &str) -> PathBuf {
    work_dir.join(id.to_lowercase())
}
