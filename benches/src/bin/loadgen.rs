//! `loadgen`: one rdkafka load against a broker that is already running (any Kafka-compatible one),
//! open loop with `--rate` or closed loop without; prints throughput and latency percentiles.
//!
//! `cargo run --release -p strata-benches --bin loadgen -- --bootstrap 127.0.0.1:9092 --topic t --create`

use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;
use strata_benches::admin::create_topic;
use strata_benches::error::BenchError;
use strata_benches::loadgen::{self, LoadSpec};
use strata_benches::pinning::pin_current_thread;

#[derive(Debug, Parser)]
#[command(about = "Produce (and consume) a fixed-rate or maximum-rate load and report latencies")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    #[arg(long, default_value = "loadgen")]
    topic: String,
    /// Create the topic first (with --partitions partitions).
    #[arg(long)]
    create: bool,
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    #[arg(long, default_value_t = 100)]
    record_bytes: usize,
    /// 1 or all.
    #[arg(long, default_value = "1")]
    acks: String,
    #[arg(long, default_value_t = 5)]
    linger_ms: u32,
    #[arg(long, default_value_t = 1 << 20)]
    batch_bytes: u32,
    /// Messages per second (open loop); without it, the maximum rate (closed loop).
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Stop after this many messages (or at --duration-secs, whichever comes first).
    #[arg(long)]
    messages: Option<u64>,
    /// Do not run a consumer (no end-to-end latency).
    #[arg(long)]
    no_consume: bool,
    /// Produce in transactions, committing every this many milliseconds (the consumer then reads
    /// committed records only).
    #[arg(long)]
    commit_interval_ms: Option<u64>,
    /// Pin this process (and the client library's threads) to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<bool, BenchError> {
    if let Some(cpu) = args.cpu {
        pin_current_thread(cpu)?;
    }
    if args.create {
        create_topic(&args.bootstrap, &args.topic, args.partitions)?;
    }
    let spec = LoadSpec {
        bootstrap: args.bootstrap.clone(),
        topic: args.topic.clone(),
        partitions: args.partitions,
        record_bytes: args.record_bytes,
        acks: args.acks.clone(),
        linger_ms: args.linger_ms,
        batch_bytes: args.batch_bytes,
        rate_msgs_per_sec: args.rate,
        duration: Duration::from_secs(args.duration_secs),
        bytes_max: args.messages.map(|n| n.saturating_mul(args.record_bytes as u64)),
        consume: !args.no_consume,
        drain_idle_max: Duration::from_secs(10),
        commit_interval: args.commit_interval_ms.map(Duration::from_millis),
    };
    let r = loadgen::run(&spec)?;
    let p = r.produce_latency.summary();
    let e = r.e2e_latency.summary();
    println!(
        "produced {} ({} send errors, {} delivery errors) at {:.0} msg/s, {:.1} MB/s",
        r.delivered,
        r.send_errors,
        r.delivery_errors,
        r.delivered_msgs_per_sec(),
        r.delivered_msgs_per_sec() * args.record_bytes as f64 / 1e6
    );
    println!("produce ms p50 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}", p.p50_ms, p.p99_ms, p.p999_ms, p.max_ms);
    if spec.consume {
        println!(
            "consumed {} at {:.0} msg/s, {:.1} MB/s",
            r.consumed,
            r.consumed_msgs_per_sec(),
            r.consumed_mb_per_sec()
        );
        println!("end-to-end ms p50 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}", e.p50_ms, e.p99_ms, e.p999_ms, e.max_ms);
    }
    if let Some(err) = &r.first_error {
        println!("first error: {err}");
    }
    let ok = r.delivered > 0 && r.send_errors + r.delivery_errors == 0 && (!spec.consume || r.consumed >= r.delivered);
    Ok(ok)
}
