//! The `kapacitor` command line: one module per subcommand, each with its
//! clap `Args` and a `run` function. It talks to kapacitord over HTTP, except
//! `check`, which compiles scripts offline. Kapacitor 1.x's verbs and
//! single-dash flags (`define ID -tick F -dbrp db.rp`, `delete tasks
//! 'cpu*'`) work beside the seed's (`define streamer --name N`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod alerts;
mod backup;
mod bench;
mod check;
mod define;
mod define_topic_handler;
mod delete;
mod delete_topics;
mod enable;
mod http;
mod level;
mod list;
mod list_topics;
mod push;
mod record;
mod replay;
mod replay_live;
mod select;
mod show;
mod show_topic;
mod show_topic_handler;
mod stats;
mod status;
mod test;
mod vars;
mod version;
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
    /// For an https:// --url: trust the CA certificates (PEM) in this file
    /// instead of the system's (which SSL_CERT_FILE also replaces).
    #[arg(long, env = "KAPACITOR_CA", global = true, value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
    /// Machine-readable output: the API's JSON where there is one,
    /// `{"ok": true, ...}` for actions, and on failure `{"error": "..."}`
    /// on standard output with a non-zero exit status.
    #[arg(long, global = true)]
    json: bool,
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
    /// Define or redefine a task: `define ID -tick F [-dbrp db.rp]...`, or
    /// the seed's `define streamer|batcher --name N ...`.
    Define(define::Args),
    /// Start tasks, by id or pattern.
    Enable(enable::Args),
    /// Stop tasks, keeping their definitions.
    Disable(enable::Args),
    /// Disable then enable tasks, by id or pattern.
    Reload(enable::Args),
    /// Stop and forget tasks, recordings or replays: `delete
    /// tasks|recordings|replays ID|PATTERN...`; `delete topics PATTERN...`
    /// drops topics' events, `delete topic-handlers TOPIC PATTERN...`
    /// topic handlers.
    Delete(delete::Args),
    /// List tasks, recordings, replays, topics or topic handlers, all or
    /// those named.
    List(list::Args),
    /// Show a task: metadata, script, and its DAG with counters.
    Show(show::Args),
    /// Copy a task to another kapacitord.
    Push(push::Args),
    /// Recent alert events.
    Alerts(alerts::Args),
    /// Make a recording: of the live stream, of InfluxDB queries, or from a
    /// file.
    Record(record::Args),
    /// Record the live stream until `stop-recording`.
    StartRecording(record::StartArgs),
    /// Stop a live recording.
    StopRecording(record::StopArgs),
    /// Replay a recording into a task and show what it produced.
    Replay(replay::Args),
    /// The daemon's summary (general) or points received (ingress).
    Stats(stats::Args),
    /// The daemon's debug vars, as JSON.
    Vars(vars::Args),
    /// Set the daemon's log level while it runs.
    Level(level::Args),
    /// Copy the daemon's store to a file.
    Backup(backup::Args),
    /// This client's version.
    Version(version::Args),
    /// Query InfluxDB (a batch task's queries, or one query) and replay
    /// what it gets into a task, keeping no recording.
    ReplayLive(replay_live::Args),
    /// Create or replace a topic handler from a Kapacitor handler file.
    DefineTopicHandler(define_topic_handler::Args),
    /// Show a topic: its level, handlers and events.
    ShowTopic(show_topic::Args),
    /// Show a topic handler.
    ShowTopicHandler(show_topic_handler::Args),
}

/// Runs the CLI with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse_from(go_style_flags(std::env::args()));
    let (url, json) = (cli.url.as_str(), cli.json);
    if let Some(ca) = cli.ca.clone() {
        http::trust_ca(ca);
    }
    let result = match cli.command {
        Command::Write(mut a) => {
            a.json = json;
            write::run(a, url)
        }
        Command::Status(mut a) => {
            a.json = json;
            status::run(a, url)
        }
        Command::Check(mut a) => {
            a.json = json;
            check::run(a)
        }
        Command::Bench(mut a) => {
            a.json = json;
            bench::run(a, url)
        }
        Command::Test(mut a) => {
            a.json = json;
            test::run(a)
        }
        Command::Define(mut a) => {
            a.json = json;
            define::run(a, url)
        }
        Command::Enable(mut a) => {
            a.json = json;
            enable::run(a, url, enable::Action::Enable)
        }
        Command::Disable(mut a) => {
            a.json = json;
            enable::run(a, url, enable::Action::Disable)
        }
        Command::Reload(mut a) => {
            a.json = json;
            enable::run(a, url, enable::Action::Reload)
        }
        Command::Delete(mut a) => {
            a.json = json;
            delete::run(a, url)
        }
        Command::List(mut a) => {
            a.json = json;
            list::run(a, url)
        }
        Command::Show(mut a) => {
            a.json = json;
            show::run(a, url)
        }
        Command::Push(mut a) => {
            a.json = json;
            push::run(a, url)
        }
        Command::Alerts(mut a) => {
            a.json = json;
            alerts::run(a, url)
        }
        Command::Record(mut a) => {
            a.json = json;
            record::run(a, url)
        }
        Command::StartRecording(mut a) => {
            a.json = json;
            record::start(a, url)
        }
        Command::StopRecording(mut a) => {
            a.json = json;
            record::stop(a, url)
        }
        Command::Replay(mut a) => {
            a.json = json;
            replay::run(a, url)
        }
        Command::Stats(mut a) => {
            a.json = json;
            stats::run(a, url)
        }
        Command::Vars(mut a) => {
            a.json = json;
            vars::run(a, url)
        }
        Command::Level(mut a) => {
            a.json = json;
            level::run(a, url)
        }
        Command::Backup(mut a) => {
            a.json = json;
            backup::run(a, url)
        }
        Command::Version(mut a) => {
            a.json = json;
            version::run(a)
        }
        Command::ReplayLive(mut a) => {
            a.json = json;
            replay_live::run(a, url)
        }
        Command::DefineTopicHandler(mut a) => {
            a.json = json;
            define_topic_handler::run(a, url)
        }
        Command::ShowTopic(mut a) => {
            a.json = json;
            show_topic::run(a, url)
        }
        Command::ShowTopicHandler(mut a) => {
            a.json = json;
            show_topic_handler::run(a, url)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => fail(json, &format!("{err:#}")),
    }
}

/// Kapacitor 1.x's flags take one dash (`-task T`): those of its define,
/// record and replay commands are read as ours (`--task T`), so its
/// runbooks work.
const GO_STYLE_FLAGS: &[&str] = &[
    "tick",
    "dbrp",
    "vars",
    "file",
    "no-reload",
    "task",
    "duration",
    "no-wait",
    "recording-id",
    "recording",
    "real-clock",
    "rec-time",
    "replay-id",
    "url",
    "type",
    "precision",
    "past",
    "start",
    "stop",
    "query",
    "cluster",
];

fn go_style_flags(args: impl Iterator<Item = String>) -> Vec<String> {
    args.map(|a| {
        let name = a.strip_prefix('-').filter(|n| !n.starts_with('-'));
        match name {
            Some(n) if GO_STYLE_FLAGS.contains(&n.split('=').next().unwrap_or(n)) => {
                format!("-{a}")
            }
            _ => a,
        }
    })
    .collect()
}

/// Reports a failure as one line (`error: ...` on standard error, or
/// `{"error": ...}` on standard output with `--json`) and exits non-zero.
pub(crate) fn fail(json: bool, message: &str) -> ExitCode {
    if json {
        println!("{}", serde_json::json!({ "error": message }));
    } else {
        eprintln!("error: {message}");
    }
    ExitCode::FAILURE
}

/// Reports an action's success: nothing, or its JSON with `--json`.
pub(crate) fn done(json: bool, what: serde_json::Value) -> ExitCode {
    if json {
        println!("{what}");
    }
    ExitCode::SUCCESS
}
