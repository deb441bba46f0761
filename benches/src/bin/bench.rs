//! `bench`: the one command that runs the standard workloads W1-W9 against a freshly built `strata`,
//! measures this machine's ceilings in the same run, and writes RESULTS.md and PNG plots.
//!
//! `cargo run --release -p strata-benches --bin bench -- --all` (full scale), `--quick` (shorter),
//! `--smoke` (a few seconds, every path once, exits non-zero on any failure; for CI).

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use strata_benches::broker::{Engine, build_broker};
use strata_benches::ceilings::{self, CeilingSpec};
use strata_benches::error::BenchError;
use strata_benches::machine::{Machine, load_average};
use strata_benches::pinning::{Placement, pin_current_thread};
use strata_benches::report::Report;
use strata_benches::workloads::{self, FetchPath, RunContext, Scale, ScaleName};
use strata_benches::{plots, workloads::Outcome};

#[derive(Debug, Parser)]
#[command(about = "Run Strata's standard benchmark workloads and write RESULTS.md")]
struct Args {
    /// Run every workload at full scale (the default when neither --quick nor --smoke is given).
    #[arg(long)]
    all: bool,
    /// Shorter run: 10 s per workload, a 512 MiB W5 backlog.
    #[arg(long, conflicts_with = "smoke")]
    quick: bool,
    /// A few seconds, tiny sizes, every workload path once; non-zero exit on any failure.
    #[arg(long)]
    smoke: bool,
    /// Only these workloads (W1,W2,W2R,W2x3,W3,W3x3,W3L0,W4a,W4b,W5,W6,W7,W7C,W8,W9).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Broker binary to use instead of building strata-broker with this harness's profile.
    #[arg(long)]
    broker: Option<PathBuf>,
    /// Run every workload on reference Apache Kafka too, after Strata (compat/reference-kafka.sh:
    /// one KRaft node, Kafka's default 1 GiB heap, the workload's own settings); the default for
    /// full and quick runs.
    #[arg(long, conflicts_with = "no_kafka")]
    kafka: bool,
    /// Run Strata only (the default for --smoke).
    #[arg(long)]
    no_kafka: bool,
    /// Directory for RESULTS.md and plots/ (default: benches/ for full and quick runs, the work
    /// directory for --smoke so a smoke run never overwrites committed results).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Directory for the brokers' data directories and logs (default: a fresh temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Do not pin the broker and the client to CPUs 0 and 1.
    #[arg(long)]
    no_pin: bool,
    /// Seconds per workload.
    #[arg(long)]
    duration_secs: Option<u64>,
    /// W3 (and W4b) fixed rate, messages/s.
    #[arg(long)]
    w3_rate: Option<f64>,
    /// Requests W2R's raw-protocol producer keeps outstanding (default 8).
    #[arg(long)]
    raw_in_flight: Option<usize>,
    /// W5 backlog, MiB.
    #[arg(long)]
    w5_backlog_mib: Option<u64>,
    /// W6 partition count.
    #[arg(long)]
    w6_partitions: Option<i32>,
    /// W8's producer connections (default 1,000; 50 for --smoke).
    #[arg(long)]
    w8_producers: Option<usize>,
    /// W8's consumer connections, one per partition (default 100; 5 for --smoke).
    #[arg(long)]
    w8_consumers: Option<usize>,
    /// Bytes per ceiling measurement, MiB.
    #[arg(long)]
    ceiling_mib: Option<u64>,
    /// Skip the ceiling measurements (ratios are then not shown).
    #[arg(long)]
    skip_ceilings: bool,
    /// A W5 fetch path as NAME:KEY=VALUE[,KEY=VALUE] (broker overrides that select it); repeat for
    /// each path, e.g. --fetch-path sendfile:KEY=sendfile --fetch-path copy:KEY=copy.
    #[arg(long)]
    fetch_path: Vec<String>,
    /// A line added to RESULTS.md (for example that the machine was shared).
    #[arg(long)]
    note: Option<String>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs everything; `Ok(false)` when a workload failed.
fn run(args: &Args) -> Result<bool, BenchError> {
    let started = Instant::now();
    let scale = scale(args);
    let fetch_paths = args.fetch_path.iter().map(|s| parse_fetch_path(s)).collect::<Result<Vec<_>, _>>()?;
    // Before pinning: pinned, this process would see only its own CPU.
    let machine = Machine::read();
    let placement = Placement::default_for_machine(!args.no_pin);
    if let Some(cpu) = placement.client_cpu {
        // Before any client thread exists, so all of them inherit the CPU.
        pin_current_thread(cpu)?;
    }
    let broker_binary = match &args.broker {
        Some(path) => path.clone(),
        None => build_broker()?,
    };
    let temp = tempfile::Builder::new()
        .prefix("strata-bench-")
        .tempdir()
        .map_err(BenchError::io("creating a work directory"))?;
    let work_dir = args.work_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&work_dir).map_err(BenchError::io("creating the work directory"))?;
    let out_dir = match (&args.out, scale.name) {
        (Some(out), _) => out.clone(),
        (None, ScaleName::Smoke) => work_dir.clone(),
        (None, _) => PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    };

    eprintln!("bench: warming {} MiB of memory", scale.warm_bytes >> 20);
    ceilings::warm_memory(scale.warm_bytes);
    let ceilings = if args.skip_ceilings {
        None
    } else {
        eprintln!("bench: measuring ceilings ({} MiB each)", scale.ceiling_bytes >> 20);
        let spec = CeilingSpec {
            bytes: scale.ceiling_bytes,
            chunk_sizes: vec![128 << 10, 1 << 20],
            time_max: scale.duration.max(Duration::from_secs(2)),
            placement,
            spread_files: 16,
        };
        Some(ceilings::measure(&work_dir, &spec)?)
    };

    let mut engines = vec![Engine::Strata(broker_binary)];
    if args.kafka || (!args.no_kafka && scale.name != ScaleName::Smoke) {
        engines.push(Engine::reference_kafka());
    }
    let ctx =
        RunContext { engines, work_dir: work_dir.clone(), broker_cpu: placement.broker_cpu, duration: scale.duration };
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut failures = Vec::new();
    for workload in workloads::standard(&scale, &fetch_paths) {
        if !args.only.is_empty() && !args.only.iter().any(|w| w.eq_ignore_ascii_case(workload.id)) {
            continue;
        }
        eprintln!("bench: {} {}", workload.id, workload.title);
        for result in workloads::run(&workload, &ctx) {
            match result {
                Ok(rows) => {
                    for row in rows {
                        if let Some(f) = &row.failure {
                            failures.push(format!("{} on {}: {f}", row.id, row.engine));
                        }
                        eprintln!(
                            "bench:   {} on {}: {:.0} msg/s {:.1} MB/s {}",
                            row.id,
                            row.engine,
                            row.msgs_per_sec(),
                            row.mb_per_sec(),
                            row.failure.as_deref().unwrap_or("ok")
                        );
                        outcomes.push(row);
                    }
                }
                Err(e) => failures.push(format!("{}: {e}", workload.id)),
            }
        }
    }

    let plot_dir = out_dir.join("plots");
    std::fs::create_dir_all(&plot_dir).map_err(BenchError::io("creating the plot directory"))?;
    let mut plot_files = Vec::new();
    for outcome in &outcomes {
        match plots::plot_outcome(&plot_dir, outcome) {
            Ok(name) => plot_files.push(format!("plots/{name}")),
            Err(e) => eprintln!("bench: warning: {e}"),
        }
    }
    let report = Report {
        machine: &machine,
        scale: &scale,
        command: command_line(),
        broker_cpu: placement.broker_cpu,
        client_cpu: placement.client_cpu,
        ceilings: ceilings.as_ref(),
        outcomes: &outcomes,
        failures: &failures,
        load_at_end: load_average(),
        note: args.note.clone(),
        plots: &plot_files,
    };
    let text = report.render();
    let results = out_dir.join("RESULTS.md");
    std::fs::write(&results, &text).map_err(BenchError::io(format!("writing {}", results.display())))?;
    println!("{text}");
    eprintln!("bench: wrote {} in {:.0} s", results.display(), started.elapsed().as_secs_f64());
    let expected_rows = !outcomes.is_empty();
    if !failures.is_empty() || !expected_rows {
        eprintln!("bench: {} failure(s)", failures.len().max(1));
        return Ok(false);
    }
    Ok(true)
}

fn scale(args: &Args) -> Scale {
    let name = if args.smoke {
        ScaleName::Smoke
    } else if args.quick {
        ScaleName::Quick
    } else {
        ScaleName::Full
    };
    let mut scale = Scale::new(name);
    if let Some(s) = args.duration_secs {
        scale.duration = Duration::from_secs(s);
    }
    if let Some(r) = args.w3_rate {
        scale.w3_rate_msgs_per_sec = r;
    }
    if let Some(n) = args.raw_in_flight {
        scale.raw_in_flight = n.max(1);
    }
    if let Some(m) = args.w5_backlog_mib {
        scale.w5_backlog_bytes = m << 20;
    }
    if let Some(p) = args.w6_partitions {
        scale.w6_partitions = p;
    }
    if let Some(n) = args.w8_producers {
        scale.w8_producers = n.max(1);
    }
    if let Some(n) = args.w8_consumers {
        scale.w8_consumers = n.max(1);
    }
    if let Some(m) = args.ceiling_mib {
        scale.ceiling_bytes = m << 20;
    }
    scale
}

/// `NAME:KEY=VALUE[,KEY=VALUE]`.
fn parse_fetch_path(text: &str) -> Result<FetchPath, BenchError> {
    let bad = || BenchError::Workload {
        workload: "W5".into(),
        reason: format!("--fetch-path '{text}' is not NAME:KEY=VALUE[,KEY=VALUE]"),
    };
    let (name, rest) = text.split_once(':').ok_or_else(bad)?;
    let overrides = rest
        .split(',')
        .map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(bad))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FetchPath { name: name.to_string(), overrides, read_committed: false })
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("bench {}", args.join(" "))
}
