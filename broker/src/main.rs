//! `strata`: parses the command line, sets up logging, starts the broker (or, with
//! `process.roles=controller`, the controller) and runs it until SIGINT or SIGTERM, then shuts
//! down cleanly; or runs one of the storage commands
//! (`format`, `random-uuid`) and exits.

use std::process::ExitCode;

use clap::Parser;
use strata_broker::config::{BrokerConfig, Cli, Command};
use strata_broker::meta_properties;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let arenas = strata_broker::malloc_arenas::cap_per_cpu();
    tracing_subscriber::fmt()
        // openraft reports every unreachable peer as an error; the cluster logs what matters
        // (leadership, fencing) itself. `RUST_LOG=openraft=info` shows openraft's own lines.
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,openraft=off")))
        .with_writer(std::io::stderr)
        .init();
    tracing::debug!(?arenas, "malloc arenas capped");
    let mut cli = Cli::parse();
    let command = cli.command.take();
    if let Some(Command::RandomUuid) = command {
        println!("{}", meta_properties::random_uuid());
        return ExitCode::SUCCESS;
    }
    let config = match BrokerConfig::from_cli(cli) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("strata: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Format { cluster_id, ignore_formatted, standalone: _ }) = command {
        return format(&config, &cluster_id, ignore_formatted);
    }
    match strata_broker::fd_limit::raise_to_hard_limit() {
        Ok(limit) if limit < strata_broker::fd_limit::needed_for(&config.settings) => tracing::warn!(
            limit,
            max_connections = config.settings.max_connections,
            "the open file limit is below max.connections and the broker's own files; accepting fails past it"
        ),
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open file limit"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("strata: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("strata: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `strata format`: writes meta.properties, or says why not (exit code 1).
fn format(config: &BrokerConfig, cluster_id: &str, ignore_formatted: bool) -> ExitCode {
    let dir = config.data_dir.display();
    match meta_properties::format(&config.data_dir, cluster_id, config.settings.node_id, ignore_formatted) {
        Ok(Some(meta)) => {
            println!("Formatted data directory {dir} for cluster {} as node {}.", meta.cluster_id, meta.node_id);
            ExitCode::SUCCESS
        }
        Ok(None) => {
            println!("All of the log directories are already formatted.");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("strata: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: BrokerConfig) -> Result<(), strata_broker::RunError> {
    if config.cluster.as_ref().is_some_and(|c| c.roles.controller_only()) {
        let controller = strata_broker::controller_node::start(config).await?;
        // Tests and scripts wait for exactly this line (here the controller listener's address).
        println!("strata listening on {}", controller.address);
        tracing::info!(address = %controller.address, data_dir = %controller.data_dir.display(), "strata controller started");
        return controller.serve(shutdown_signal()).await;
    }
    let started = strata_broker::start(config).await?;
    let address = started
        .listener
        .local_addr()
        .map_err(|source| strata_broker::RunError::Listen { address: "listener".into(), source })?;
    // Tests and scripts wait for exactly this line.
    println!("strata listening on {address}");
    tracing::info!(%address, data_dir = %started.broker.config.data_dir.display(), "strata started");
    strata_broker::serve(started, shutdown_signal()).await
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(term), Ok(int)) => (term, int),
        _ => {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}
