//! `kapacitord`: loads the config, starts a [`kapacitor::Server`], and stops
//! it cleanly on SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use config::DaemonConfig;

/// Points are allocated by the listeners' threads and freed by the task
/// workers': glibc's allocator serialises such frees on the allocating
/// arena's lock, mimalloc hands them back without one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Kapacitor-compatible time-series processing and alerting daemon.
#[derive(Debug, Parser)]
#[command(name = "kapacitord", version, about)]
struct Args {
    /// Config file; without it ./kapacitor.yaml is read if present, else the
    /// built-in defaults.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the effective config (file, defaults and environment) as YAML,
    /// with passwords, tokens and other credentials shown as `<redacted>`.
    Config,
}

/// Exit status when a second signal cuts the graceful shutdown short.
const SECOND_SIGNAL_EXIT: i32 = 1;

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match DaemonConfig::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("kapacitord: invalid configuration:\n{errors}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Config) = args.command {
        print!("{}", config.redacted().to_yaml());
        return ExitCode::SUCCESS;
    }
    kapacitor::logging::init(&config.logging.level);
    #[cfg(debug_assertions)]
    set_failpoint();
    raise_open_files_limit(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kapacitord: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

/// Debug builds only: `KAPACITORD_FAILPOINT=panic_on_field:NAME` makes a
/// node (past a task's `from`) panic on a point that carries field NAME,
/// so tests can check how the daemon takes a task's panic. Release builds
/// have no failpoints and ignore the variable.
#[cfg(debug_assertions)]
fn set_failpoint() {
    let Ok(spec) = std::env::var("KAPACITORD_FAILPOINT") else {
        return;
    };
    match spec.strip_prefix("panic_on_field:") {
        Some(field) if !field.is_empty() => {
            pipeline::failpoint::panic_on_field(field);
            tracing::warn!("failpoint: a node panics on any point with field {field:?}");
        }
        _ => {
            tracing::warn!("KAPACITORD_FAILPOINT={spec:?} is not a failpoint (panic_on_field:NAME)")
        }
    }
}

async fn run(config: DaemonConfig) -> ExitCode {
    // Handlers go in before anything listens: a SIGTERM that arrives while
    // the server starts must still mean a clean stop, not the default death.
    let mut signals = match kapacitor::signals::Signals::install() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("kapacitord: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = match kapacitor::Server::start(config).await {
        Ok(server) => server,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("kapacitord: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "kapacitord started");
    signals.wait().await;
    tracing::info!("shutting down (a second SIGINT or SIGTERM stops at once)");
    tokio::select! {
        () = server.shutdown() => {}
        () = signals.wait() => {
            // The graceful stop waits for tasks to drain and handlers to
            // give up (seconds); an operator who asks twice wants out now.
            tracing::error!(
                "second signal during shutdown: exiting at once; queued alerts and \
                 unsaved alert state are lost"
            );
            std::process::exit(SECOND_SIGNAL_EXIT);
        }
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Soft RLIMIT_NOFILE up to the hard limit, logged, with a warning when it
/// cannot hold the connections the config allows.
fn raise_open_files_limit(config: &DaemonConfig) {
    match kapacitor::serve::raise_open_files_limit() {
        Ok(limit) => {
            tracing::info!(limit, "open files limit (RLIMIT_NOFILE)");
            let wanted = [
                (config.http.enabled, config.http.max_connections),
                (config.tcp.enabled, config.tcp.max_connections),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n as u64)
            .sum::<u64>()
                + 256;
            if limit < wanted {
                tracing::warn!(
                    limit,
                    wanted,
                    "the open files limit is below http.max_connections + tcp.max_connections; connections past it will fail to be accepted"
                );
            }
        }
        Err(e) => tracing::warn!("cannot raise the open files limit (RLIMIT_NOFILE): {e}"),
    }
}
