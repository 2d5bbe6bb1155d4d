//! `kapacitor replay-live batch|query`: record and replay in one step, as
//! Kapacitor's: the daemon runs a batch task's queries over a range (or
//! one query) and replays what they get into the task's own instance,
//! keeping no recording; what the task produced is printed as `replay`
//! prints it.

use std::process::ExitCode;

use serde_json::json;

use super::record::Range;
use super::replay::{Flags, start_and_show};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    kind: Kind,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Kind {
    /// Run a batch task's queries over a range of time and replay them.
    Batch(Batch),
    /// Run one InfluxQL query and replay what it gets.
    Query(Query),
}

#[derive(Debug, clap::Args)]
struct Batch {
    /// The batch task to replay into.
    #[arg(long)]
    task: String,
    #[command(flatten)]
    range: Range,
    #[command(flatten)]
    flags: Flags,
}

#[derive(Debug, clap::Args)]
struct Query {
    /// The task to replay into.
    #[arg(long)]
    task: String,
    /// The InfluxQL query, run as written.
    #[arg(long)]
    query: String,
    /// The `influxdb` connection to query (default: the default one).
    #[arg(long)]
    cluster: Option<String>,
    #[command(flatten)]
    flags: Flags,
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let (path, body, done) = match args.kind {
        Kind::Batch(b) => {
            let mut body = b.flags.body(&b.task);
            b.range.add_to(&mut body);
            (
                "/kapacitor/v1/replays/batch",
                body,
                b.flags.done(args.json)?,
            )
        }
        Kind::Query(q) => {
            let mut body = q.flags.body(&q.task);
            body["query"] = json!(q.query);
            if let Some(c) = q.cluster {
                body["cluster"] = json!(c);
            }
            (
                "/kapacitor/v1/replays/query",
                body,
                q.flags.done(args.json)?,
            )
        }
    };
    start_and_show(url, path, &body, &done)
}
