//! W8, "many clients": 1,000 producer and 100 consumer connections at a modest total rate, to
//! measure what connections cost a broker rather than what bytes do: its CPU time per request
//! answered, its resident memory per connection, and produce and end-to-end latency while it
//! juggles them.
//!
//! Why raw protocol and not rdkafka: 1,100 librdkafka instances would be 1,100 sets of threads and
//! buffers in the client, measuring the client. Here every connection is one task on one tokio
//! runtime thread (the client is pinned to one CPU), with requests encoded by `kafka-protocol`
//! and record batches by the testkit, as W2R's raw producer does. Each connection has one request
//! outstanding at a time.
//!
//! The run: open every connection (in batches), let each one's first request be answered (the
//! readiness step, not measured), start the staggered schedule ([`schedule`]), warm up, then
//! measure a window: broker CPU and counters are read at its start and end, produce latency is
//! taken for sends due inside it (from the write of the request to its answer), end-to-end latency
//! for the records those sends carry (from the same instant to the fetch answer that brings the
//! record back). Producers stop at the window's end; consumers then drain their partitions.
//! Latencies include the client's scheduling delay on its one thread, alike for both brokers.

mod conn;
mod consumer;
mod figures;
mod producer;
mod refusal;
mod schedule;
mod shared;

pub use figures::ManyClients;

use crate::error::BenchError;
use crate::loadgen::LoadResult;
use crate::procstat::{self, ProcSample};
use conn::Conn;
use consumer::Consumer;
use producer::Producer;
use schedule::Plan;
use shared::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// A request not answered within this long fails the run (long polls answer within 0.5 s).
const ANSWER_WAIT_MAX: Duration = Duration::from_secs(30);
/// How long a connection may take to have its first request answered without an error.
const READY_WAIT_MAX: Duration = Duration::from_secs(30);
/// Pause before retrying a request refused with a retriable error during readiness.
const READY_RETRY_PAUSE: Duration = Duration::from_millis(100);
/// How often the coordinator looks whether every connection is ready.
const READY_POLL: Duration = Duration::from_millis(10);
/// How long consumers may go on reading after the producers stopped.
const DRAIN_WAIT_MAX: Duration = Duration::from_secs(10);
/// The schedule starts this long after it is announced, so every task is waiting for it.
const PLAN_LEAD: Duration = Duration::from_millis(50);

/// One W8 run against a broker whose topic (one partition per consumer) already exists.
#[derive(Debug, Clone)]
pub struct ManySpec {
    pub bootstrap: String,
    pub topic: String,
    /// The broker's process, whose CPU time and memory are read.
    pub broker_pid: u32,
    pub producers: usize,
    /// Consumer `i` reads partition `i`, and the topic has this many partitions, so that every
    /// record is read back; producer `i` writes partition `i % consumers`.
    pub consumers: usize,
    pub record_bytes: usize,
    /// Each producer sends one record every `interval`.
    pub interval: Duration,
    pub warm_up: Duration,
    /// The measured window.
    pub duration: Duration,
}

/// What a run measured: the common figures, W8's own, and why it failed, if it did.
#[derive(Debug, Clone)]
pub struct ManyRun {
    pub load: LoadResult,
    pub figures: ManyClients,
    pub failure: Option<String>,
}

/// Runs W8 on a fresh single-threaded runtime. An error means the workload could not run at all
/// (a connection failed or never became ready); a failure found while it ran is in
/// [`ManyRun::failure`].
pub fn run(spec: &ManySpec) -> Result<ManyRun, BenchError> {
    conn::raise_fd_limit(spec.producers + spec.consumers)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BenchError::io("starting W8's tokio runtime"))?;
    runtime.block_on(run_async(spec))
}

fn failed(reason: String) -> BenchError {
    BenchError::Workload { workload: "W8".into(), reason }
}

async fn run_async(spec: &ManySpec) -> Result<ManyRun, BenchError> {
    let address: SocketAddr =
        spec.bootstrap.parse().map_err(|e| failed(format!("broker address {}: {e}", spec.bootstrap)))?;
    let rss_before_bytes = procstat::sample(spec.broker_pid)?.rss_bytes;
    let connections = spec.producers + spec.consumers;
    let streams = conn::connect_all(address, connections).await.map_err(failed)?;
    let shared = Arc::new(Shared::new(spec.consumers));
    let (plan_tx, plan_rx) = watch::channel(None::<Plan>);
    let topic: Arc<str> = Arc::from(spec.topic.as_str());
    let mut streams = streams.into_iter().map(Conn::new);
    let mut producers = JoinSet::new();
    let mut consumers = JoinSet::new();
    let partitions = spec.consumers.max(1);
    for (index, conn) in streams.by_ref().take(spec.producers).enumerate() {
        let producer = Producer {
            index,
            producers: spec.producers,
            partition: i32::try_from(index % partitions).unwrap_or(0),
            topic: Arc::clone(&topic),
            record_bytes: spec.record_bytes,
            interval: spec.interval,
            conn,
        };
        producers.spawn(producer.run(Arc::clone(&shared), plan_rx.clone()));
    }
    for (index, conn) in streams.enumerate() {
        let consumer = Consumer { partition: i32::try_from(index).unwrap_or(0), topic: Arc::clone(&topic), conn };
        consumers.spawn(consumer.run(Arc::clone(&shared), plan_rx.clone()));
    }

    wait_until_ready(&shared, connections).await?;
    let plan = Plan::new(Instant::now() + PLAN_LEAD, spec.warm_up, spec.duration);
    // Every task holds a receiver, so the send cannot fail while they run.
    let _ = plan_tx.send(Some(plan));
    tokio::time::sleep_until(plan.measure_from.into()).await;
    let before = Reading::take(spec.broker_pid, &shared)?;
    tokio::time::sleep_until(plan.measure_until.into()).await;
    let after = Reading::take(spec.broker_pid, &shared)?;

    let mut panicked = None;
    while let Some(joined) = producers.join_next().await {
        if let Err(e) = joined {
            panicked.get_or_insert(format!("a producer task failed: {e}"));
        }
    }
    shared.start_drain(Instant::now() + DRAIN_WAIT_MAX);
    while let Some(joined) = consumers.join_next().await {
        if let Err(e) = joined {
            panicked.get_or_insert(format!("a consumer task failed: {e}"));
        }
    }

    let figures = ManyClients {
        producers: spec.producers,
        consumers: spec.consumers,
        produce_requests: after.produce_answers - before.produce_answers,
        fetch_requests: after.fetch_answers - before.fetch_answers,
        wall_secs: after.at.duration_since(before.at).as_secs_f64(),
        broker_cpu_secs: after.broker.cpu_secs - before.broker.cpu_secs,
        broker_write_bytes: after.broker.write_bytes.saturating_sub(before.broker.write_bytes),
        client_cpu_secs: after.client.cpu_secs - before.client.cpu_secs,
        rss_before_bytes,
        rss_peak_bytes: after.broker.rss_peak_bytes,
    };
    let tally = shared.take_tally();
    let failure = panicked.or_else(|| shared.first_failure()).or_else(|| missing(&tally));
    let produce_secs = tally.last_ack.map_or(0.0, |last| last.duration_since(plan.measure_from).as_secs_f64());
    let load = LoadResult {
        sent: tally.sent,
        delivered: tally.delivered,
        delivery_errors: tally.sent.saturating_sub(tally.delivered),
        first_error: failure.clone(),
        // From the window's start to the last acknowledgement of a record due inside it: a broker
        // that fell behind shows a rate below the offered one.
        produce_secs: produce_secs.max(spec.duration.as_secs_f64()),
        produce_latency: tally.produce_latency,
        consumed: tally.consumed,
        consumed_bytes: tally.consumed_bytes,
        consume_secs: spec.duration.as_secs_f64(),
        e2e_latency: tally.e2e_latency,
        delivered_per_tick: tally.delivered_per_tick,
        consumed_per_tick: tally.consumed_per_tick,
        ..LoadResult::default()
    };
    Ok(ManyRun { load, figures, failure })
}

/// Waits until every connection has had a request answered without an error; fails when a task
/// failed first or [`READY_WAIT_MAX`] (and a little) passed.
async fn wait_until_ready(shared: &Shared, connections: usize) -> Result<(), BenchError> {
    let give_up_at = Instant::now() + READY_WAIT_MAX + ANSWER_WAIT_MAX;
    loop {
        let ready = shared.ready.load(Ordering::Acquire);
        if let Some(reason) = shared.first_failure() {
            return Err(failed(format!("{ready} of {connections} connections ready, then {reason}")));
        }
        if ready >= connections {
            return Ok(());
        }
        if Instant::now() >= give_up_at {
            return Err(failed(format!("{ready} of {connections} connections answered a first request in time")));
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

/// Why the tally shows a failed run even though no task failed: nothing was acknowledged, or
/// not every acknowledged record was read back.
fn missing(tally: &shared::Tally) -> Option<String> {
    if tally.delivered == 0 {
        return Some("no measured record was acknowledged".into());
    }
    if tally.delivered < tally.sent {
        return Some(format!("{} of {} measured records acknowledged", tally.delivered, tally.sent));
    }
    if tally.consumed != tally.delivered {
        return Some(format!("read back {} of {} acknowledged measured records", tally.consumed, tally.delivered));
    }
    None
}

/// The broker's and this process's counters and the answer counts at one instant.
struct Reading {
    at: Instant,
    broker: ProcSample,
    client: ProcSample,
    produce_answers: u64,
    fetch_answers: u64,
}

impl Reading {
    fn take(broker_pid: u32, shared: &Shared) -> Result<Reading, BenchError> {
        Ok(Reading {
            at: Instant::now(),
            broker: procstat::sample(broker_pid)?,
            client: procstat::sample(std::process::id())?,
            produce_answers: shared.produce_answers.load(Ordering::Acquire),
            fetch_answers: shared.fetch_answers.load(Ordering::Acquire),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_fails_unless_every_acknowledged_record_came_back() {
        let tally = |sent, delivered, consumed| shared::Tally { sent, delivered, consumed, ..shared::Tally::default() };
        assert_eq!(missing(&tally(10, 10, 10)), None);
        assert!(missing(&tally(0, 0, 0)).is_some_and(|m| m.contains("no measured record")));
        assert!(missing(&tally(10, 9, 9)).is_some_and(|m| m.contains("9 of 10 measured records acknowledged")));
        assert!(missing(&tally(10, 10, 7)).is_some_and(|m| m.contains("read back 7 of 10")));
    }
}
