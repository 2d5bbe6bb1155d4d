//! The `kapacitor` command line: one module per subcommand, each with its
//! clap `Args` and a `run` function. It talks to kapacitord over HTTP, except
//! `check`, which compiles scripts offline.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod alerts;
mod bench;
mod check;
mod define;
mod http;
mod list;
mod push;
mod show;
mod status;
mod task;
mod test;
mod write;

/// Command line client for kapacitord.
#[derive(Debug, Parser)]
#[command(name = "kapacitor", version, about)]
struct Cli {
    /// URL of the kapacitord HTTP API.
    #[arg(
        long,
        env = "KAPACITOR_URL",
        default_value = "http://127.0.0.1:9092",
        global = true
    )]
    url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send line protocol from a file or standard input.
    Write(write::Args),
    /// Show what the daemon is doing: listeners, counters, tasks.
    Status(status::Args),
    /// Compile TICKscripts offline and report every error.
    Check(check::Args),
    /// Generate load against kapacitord or any InfluxDB-compatible endpoint.
    Bench(bench::Args),
    /// Run task test cases (script, input, expected output) offline.
    Test(test::Args),
    /// Define or redefine a task.
    Define(define::Args),
    /// Start tasks.
    Enable(task::Args),
    /// Stop tasks, keeping their definitions.
    Disable(task::Args),
    /// Stop and forget tasks.
    Delete(task::Args),
    /// List tasks.
    List(list::Args),
    /// Show a task: metadata, script, and its DAG with counters.
    Show(show::Args),
    /// Copy a task to another kapacitord.
    Push(push::Args),
    /// Recent alert events.
    Alerts(alerts::Args),
}

/// Runs the CLI with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Write(args) => write::run(args, &cli.url),
        Command::Status(args) => status::run(args, &cli.url),
        Command::Check(args) => check::run(args),
        Command::Bench(args) => bench::run(args, &cli.url),
        Command::Test(args) => test::run(args),
        Command::Define(args) => define::run(args, &cli.url),
        Command::Enable(args) => task::run(args, &cli.url, task::Action::Enable),
        Command::Disable(args) => task::run(args, &cli.url, task::Action::Disable),
        Command::Delete(args) => task::run(args, &cli.url, task::Action::Delete),
        Command::List(args) => list::run(args, &cli.url),
        Command::Show(args) => show::run(args, &cli.url),
        Command::Push(args) => push::run(args, &cli.url),
        Command::Alerts(args) => alerts::run(args, &cli.url),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
