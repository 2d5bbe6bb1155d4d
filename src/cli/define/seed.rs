//! The seed's `define streamer|batcher --name N ...`: a task from a script
//! file and command-line metadata, defined whole each time.

use std::path::PathBuf;

use anyhow::bail;
use pipeline::DbRp;
use serde_json::{Value, json};

use super::{parse_dbrp, read_script, read_vars};

#[derive(Debug, clap::Subcommand)]
pub enum Kind {
    /// A stream task: points as they arrive.
    Streamer(Streamer),
    /// A batch task: the results of a scheduled query.
    Batcher(Batcher),
}

#[derive(Debug, clap::Args)]
pub struct Streamer {
    /// The task's name.
    #[arg(long)]
    name: String,
    /// Only points of this measurement reach the task.
    #[arg(long)]
    from: Option<String>,
    /// Only points matching this predicate reach the task, e.g. "cpu = 'cpu-total'".
    #[arg(long = "where")]
    where_: Option<String>,
    #[command(flatten)]
    task: ScriptArgs,
}

#[derive(Debug, clap::Args)]
pub struct Batcher {
    #[arg(long)]
    name: String,
    /// The InfluxQL query to run.
    #[arg(long)]
    query: String,
    /// How far back each run queries, and how often it runs.
    #[arg(long, conflicts_with = "cron")]
    period: Option<String>,
    /// A cron schedule instead of --period.
    #[arg(long)]
    cron: Option<String>,
    /// The group by time() interval.
    #[arg(long = "group-by")]
    group_by: Option<String>,
    #[command(flatten)]
    task: ScriptArgs,
}

/// What both kinds take: the script, what it reads, its vars.
#[derive(Debug, clap::Args)]
pub struct ScriptArgs {
    /// The TICKscript file.
    #[arg(long)]
    script: PathBuf,
    /// Database and retention policy the task reads (db.rp, or db for
    /// db.autogen); repeatable. Without it, the script's `dbrp` lines say;
    /// with neither, a streamer's --from or --where must say what it reads,
    /// and it reads every database.
    #[arg(long, value_parser = parse_dbrp)]
    dbrp: Vec<DbRp>,
    /// A JSON or YAML file of values for the script's vars, as
    /// Kapacitor's `-vars`: {"crit": {"type": "float", "value": 90}}.
    #[arg(long)]
    vars: Option<PathBuf>,
}

impl ScriptArgs {
    /// The members of the API's body these give.
    fn body(&self, id: &str, task_type: &str) -> anyhow::Result<Value> {
        let mut body = json!({
            "id": id, "type": task_type, "script": read_script(&self.script)?, "dbrps": self.dbrp,
        });
        if let Some(path) = &self.vars {
            body["vars"] = read_vars(path)?;
        }
        Ok(body)
    }
}

/// The task's name and the whole definition the API is sent.
pub fn body(kind: Kind) -> anyhow::Result<(String, Value)> {
    Ok(match kind {
        Kind::Streamer(s) => {
            let mut body = s.task.body(&s.name, "stream")?;
            if let Some(from) = s.from {
                body["from"] = json!(from);
            }
            if let Some(w) = s.where_ {
                body["where"] = json!(w);
            }
            (s.name, body)
        }
        Kind::Batcher(b) => {
            if b.period.is_none() && b.cron.is_none() {
                bail!("a batcher needs --period or --cron");
            }
            // What is not given is cleared (""), so a redefinition can
            // move from --period to --cron and drop --group-by.
            let mut body = b.task.body(&b.name, "batch")?;
            body["query"] = json!(b.query);
            for (key, value) in [
                ("period", b.period),
                ("cron", b.cron),
                ("group_by", b.group_by),
            ] {
                body[key] = json!(value.unwrap_or_default());
            }
            (b.name, body)
        }
    })
}
