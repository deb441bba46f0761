//! How one workload is run, on each broker of the run in turn (Strata, then reference Kafka when
//! the run includes it): a fresh broker (own data directory and overrides, pinned), or a fresh
//! cluster of Strata brokers for a replicated workload, a topic, the load, and what the brokers
//! used meanwhile.

use super::catalogue::{FetchPath, Kind, Workload};
use crate::admin::{create_replicated_topic, create_topic, wait_writable};
use crate::broker::{Broker, BrokerSpec, Engine};
use crate::classic_group;
use crate::error::BenchError;
use crate::group_read::ReadSpec;
use crate::loadgen::{self, Consumed, LoadResult, LoadSpec};
use crate::manyclients::{self, ManyClients, ManySpec};
use crate::procstat::{self, ProcSample};
use crate::rawload::{self, RawSpec};
use crate::shareload;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// Broker and client counters taken together, before and after a measured part. With several
/// brokers (a cluster), theirs are summed.
struct Window {
    broker_pids: Vec<u32>,
    broker: ProcSample,
    client: ProcSample,
    started: Instant,
}

impl Window {
    fn open(broker_pid: u32) -> Result<Window, BenchError> {
        Window::open_all(vec![broker_pid])
    }

    fn open_all(broker_pids: Vec<u32>) -> Result<Window, BenchError> {
        let client = procstat::sample(std::process::id())?;
        let broker = sample_all(&broker_pids)?;
        Ok(Window { broker_pids, broker, client, started: Instant::now() })
    }

    fn close(self, cpus: &str) -> Result<BrokerUsage, BenchError> {
        let wall_secs = self.started.elapsed().as_secs_f64();
        let broker = sample_all(&self.broker_pids)?;
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

/// The counters of `pids`, summed (peak RSS too: what the brokers held together at most).
fn sample_all(pids: &[u32]) -> Result<ProcSample, BenchError> {
    let mut total = ProcSample::default();
    for pid in pids {
        let one = procstat::sample(*pid)?;
        total.cpu_secs += one.cpu_secs;
        total.write_bytes += one.write_bytes;
        total.rss_bytes += one.rss_bytes;
        total.rss_peak_bytes += one.rss_peak_bytes;
    }
    Ok(total)
}

/// One row of results: a produce workload, or one fetch path of W5.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: String,
    /// The broker the row ran on (`strata` or `kafka`).
    pub engine: &'static str,
    pub title: String,
    pub workload: Workload,
    pub load: LoadResult,
    pub catch_up: Option<Consumed>,
    pub usage: BrokerUsage,
    /// W8's own figures (CPU per request, RSS per connection); `None` for other workloads.
    pub many_clients: Option<ManyClients>,
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
    /// The brokers every workload runs on, one after the other.
    pub engines: Vec<Engine>,
    pub work_dir: PathBuf,
    pub broker_cpu: Option<usize>,
    pub duration: Duration,
}

/// Runs one workload on each broker of the run that can serve it, each on a fresh broker and data
/// directory; returns its rows (per broker one, or one per fetch path for a catch-up workload). A
/// broker the workload could not run on at all is an error in the list, beside the other broker's
/// rows. Cluster workloads run on Strata alone: the harness starts reference Kafka as one node, so
/// their Kafka-relative targets read "not measured" rather than failing the run.
pub fn run(workload: &Workload, ctx: &RunContext) -> Vec<Result<Vec<Outcome>, BenchError>> {
    ctx.engines.iter().filter(|engine| serves(engine, workload)).map(|engine| run_on(workload, ctx, engine)).collect()
}

/// Whether the harness can run `workload` on `engine`: everything on Strata, one-node workloads on Kafka.
fn serves(engine: &Engine, workload: &Workload) -> bool {
    workload.brokers <= 1 || matches!(engine, Engine::Strata(_))
}

fn run_on(workload: &Workload, ctx: &RunContext, engine: &Engine) -> Result<Vec<Outcome>, BenchError> {
    let data_dir = data_dir(&ctx.work_dir, &format!("{}-{}", workload.id, engine.name()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let spec = BrokerSpec {
        engine: engine.clone(),
        data_dir: data_dir.clone(),
        overrides: workload.overrides.clone(),
        cpu: ctx.broker_cpu,
    };
    let topic = format!("bench-{}", workload.id.to_lowercase());
    if workload.brokers > 1 {
        let outcome = run_on_cluster(workload, ctx, &spec, &topic);
        let _ = std::fs::remove_dir_all(&data_dir);
        return outcome.map(|row| vec![row]);
    }
    let broker = Broker::start(&spec)?;
    create_topic(&broker.address, &topic, workload.partitions)?;
    let outcomes = match &workload.kind {
        Kind::Produce => {
            let load_spec = load_spec(workload, &broker.address, &topic, ctx.duration, None, true);
            vec![measure_produce(workload, engine.name(), broker, true, || loadgen::run(&load_spec))?]
        }
        Kind::RawProduce { in_flight } => {
            wait_writable(&broker.address, &topic, workload.partitions)?;
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
            vec![measure_produce(workload, engine.name(), broker, false, || rawload::run(&raw_spec))?]
        }
        Kind::ManyClients { producers, consumers, interval, warm_up } => {
            let many_spec = ManySpec {
                bootstrap: broker.address.clone(),
                topic: topic.clone(),
                broker_pid: broker.pid,
                producers: *producers,
                consumers: *consumers,
                record_bytes: workload.record_bytes,
                interval: *interval,
                warm_up: *warm_up,
                duration: ctx.duration,
            };
            vec![measure_many_clients(workload, engine.name(), broker, &many_spec)?]
        }
        Kind::CatchUp { backlog_bytes, paths } => {
            backlog_rows(workload, ctx, broker, &topic, *backlog_bytes, |load| {
                paths.iter().map(|path| read_backlog(workload, ctx, &spec, path, &topic, load)).collect()
            })?
        }
        Kind::GroupCatchUp { backlog_bytes, consumers } => {
            backlog_rows(workload, ctx, broker, &topic, *backlog_bytes, |load| {
                [GroupReader::Classic, GroupReader::Share]
                    .into_iter()
                    .map(|reader| read_backlog_in_group(workload, ctx, &spec, reader, *consumers, &topic, load))
                    .collect()
            })?
        }
    };
    // A 4 GiB backlog should not outlive its workload; the broker's log file beside it stays.
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(outcomes)
}

/// Writes a backlog of `backlog_bytes` at the highest rate (with a generous time bound), stops the
/// broker, and makes the rows `read` gives from it; a backlog that failed marks every row.
fn backlog_rows(
    workload: &Workload,
    ctx: &RunContext,
    broker: Broker,
    topic: &str,
    backlog_bytes: u64,
    read: impl FnOnce(&LoadResult) -> Result<Vec<Outcome>, BenchError>,
) -> Result<Vec<Outcome>, BenchError> {
    let time_max = ctx.duration.max(Duration::from_secs(1)) * 20;
    let load = loadgen::run(&load_spec(workload, &broker.address, topic, time_max, Some(backlog_bytes), false))?;
    broker.stop()?;
    let mut rows = read(&load)?;
    if let Some(failure) = produce_failure(&load, false) {
        for row in &mut rows {
            row.failure.get_or_insert_with(|| format!("backlog: {failure}"));
        }
    }
    Ok(rows)
}

/// A produce workload on a cluster of `workload.brokers` brokers, its topic replicated on all.
fn run_on_cluster(
    workload: &Workload,
    ctx: &RunContext,
    spec: &BrokerSpec,
    topic: &str,
) -> Result<Outcome, BenchError> {
    if !matches!(workload.kind, Kind::Produce) {
        return Err(BenchError::Workload {
            workload: workload.id.into(),
            reason: "only produce loads run on a cluster".into(),
        });
    }
    let brokers = Broker::start_cluster(spec, workload.brokers)?;
    let bootstrap = brokers.iter().map(|b| b.address.as_str()).collect::<Vec<_>>().join(",");
    let replicas = i32::try_from(workload.brokers).unwrap_or(i32::MAX);
    create_replicated_topic(&bootstrap, topic, workload.partitions, replicas)?;
    wait_writable(&bootstrap, topic, workload.partitions)?;
    let load_spec = load_spec(workload, &bootstrap, topic, ctx.duration, None, true);
    let cpus = brokers.first().map(|b| b.cpus.clone()).unwrap_or_default();
    let window = Window::open_all(brokers.iter().map(|b| b.pid).collect())?;
    let load = loadgen::run(&load_spec)?;
    let usage = window.close(&cpus)?;
    for broker in brokers {
        broker.stop()?;
    }
    Ok(produce_outcome(workload, spec.engine.name(), load, usage, true))
}

/// Runs `load` inside a measured window of `broker`, stops the broker and makes the row;
/// `consumed` says whether the load read everything back (and must have).
fn measure_produce(
    workload: &Workload,
    engine: &'static str,
    broker: Broker,
    consumed: bool,
    load: impl FnOnce() -> Result<LoadResult, BenchError>,
) -> Result<Outcome, BenchError> {
    let window = Window::open(broker.pid)?;
    let load = load()?;
    let usage = window.close(&broker.cpus)?;
    broker.stop()?;
    Ok(produce_outcome(workload, engine, load, usage, consumed))
}

/// The row of a produce load measured with `usage`.
fn produce_outcome(
    workload: &Workload,
    engine: &'static str,
    load: LoadResult,
    usage: BrokerUsage,
    consumed: bool,
) -> Outcome {
    let failure = produce_failure(&load, consumed);
    Outcome {
        id: workload.id.into(),
        engine,
        title: workload.title.clone(),
        workload: workload.clone(),
        load,
        catch_up: None,
        usage,
        many_clients: None,
        failure,
    }
}

/// Runs W8 against `broker` and makes its row. W8 measures its own window (after connecting and
/// warming up 1,100 connections, which the per-request figures must not include), so the row's
/// usage is that window's, not one taken around the whole run.
fn measure_many_clients(
    workload: &Workload,
    engine: &'static str,
    broker: Broker,
    spec: &ManySpec,
) -> Result<Outcome, BenchError> {
    let run = manyclients::run(spec)?;
    let f = &run.figures;
    let usage = BrokerUsage {
        cpu_secs: f.broker_cpu_secs,
        write_bytes: f.broker_write_bytes,
        rss_peak_bytes: f.rss_peak_bytes,
        cpus: broker.cpus.clone(),
        wall_secs: f.wall_secs,
        client_cpu_secs: f.client_cpu_secs,
    };
    broker.stop()?;
    Ok(Outcome {
        id: workload.id.into(),
        engine,
        title: workload.title.clone(),
        workload: workload.clone(),
        load: run.load,
        catch_up: None,
        usage,
        many_clients: Some(run.figures),
        failure: run.failure,
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
    let consumed = loadgen::catch_up(
        &broker.address,
        topic,
        workload.partitions,
        backlog.delivered,
        time_max,
        path.read_committed,
    )?;
    let usage = window.close(&broker.cpus)?;
    broker.stop()?;
    let variant = (path.name.as_str(), format!("{} fetch path", path.name));
    Ok(catch_up_outcome(workload, spec.engine.name(), variant, backlog, consumed, usage))
}

/// The row of a read of `backlog`: `variant` is its id suffix and what its title adds.
fn catch_up_outcome(
    workload: &Workload,
    engine: &'static str,
    (suffix, what): (&str, String),
    backlog: &LoadResult,
    consumed: Consumed,
    usage: BrokerUsage,
) -> Outcome {
    let error = consumed.first_error.as_deref().unwrap_or("no error reported");
    let failure = if consumed.count == 0 {
        Some(format!("no message read back ({error})"))
    } else if consumed.count < backlog.delivered {
        Some(format!("read {} of {} messages ({error})", consumed.count, backlog.delivered))
    } else {
        None
    };
    Outcome {
        id: format!("{}-{suffix}", workload.id),
        engine,
        title: format!("{} ({what})", workload.title),
        workload: workload.clone(),
        load: backlog.clone(),
        catch_up: Some(consumed),
        usage,
        many_clients: None,
        failure,
    }
}

/// Which kind of group reads W9's backlog.
#[derive(Debug, Clone, Copy)]
enum GroupReader {
    Classic,
    Share,
}

impl GroupReader {
    fn name(self) -> &'static str {
        match self {
            GroupReader::Classic => "classic",
            GroupReader::Share => "share",
        }
    }
}

/// Restarts the broker on the backlog and reads it all with `consumers` members of one group.
fn read_backlog_in_group(
    workload: &Workload,
    ctx: &RunContext,
    spec: &BrokerSpec,
    reader: GroupReader,
    consumers: usize,
    topic: &str,
    backlog: &LoadResult,
) -> Result<Outcome, BenchError> {
    let broker = Broker::start(spec)?;
    let time_max = ctx.duration.max(Duration::from_secs(1)) * 20;
    let group = format!("bench-{}-{}", workload.id.to_lowercase(), reader.name());
    let window = Window::open(broker.pid)?;
    let read = ReadSpec {
        bootstrap: broker.address.clone(),
        topic: topic.to_string(),
        group,
        consumers,
        expected: backlog.delivered,
        record_bytes: workload.record_bytes,
        time_max,
    };
    let consumed = match reader {
        GroupReader::Classic => classic_group::run(&read)?,
        GroupReader::Share => shareload::run(&read)?,
    };
    let usage = window.close(&broker.cpus)?;
    broker.stop()?;
    let variant = (reader.name(), format!("{} group", reader.name()));
    Ok(catch_up_outcome(workload, spec.engine.name(), variant, backlog, consumed, usage))
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
        commit_interval: w.commit_interval,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::workloads::{Scale, ScaleName, standard};

    #[test]
    fn cluster_workloads_run_on_strata_alone_and_the_rest_on_both() {
        let (strata, kafka) = (Engine::Strata(PathBuf::from("strata")), Engine::Kafka(PathBuf::from("kafka.sh")));
        let workloads = standard(&Scale::new(ScaleName::Full), &[]);
        let by_id = |id: &str| workloads.iter().find(|w| w.id == id).unwrap();
        for id in ["W2x3", "W3x3"] {
            assert!(serves(&strata, by_id(id)) && !serves(&kafka, by_id(id)), "{id}");
        }
        for id in ["W1", "W2", "W8", "W9"] {
            assert!(serves(&strata, by_id(id)) && serves(&kafka, by_id(id)), "{id}");
        }
    }
}
