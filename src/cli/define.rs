//! `kapacitor define streamer|batcher`: the seed's way to define a task from
//! a script file and command-line metadata. Redefining a task updates it and
//! keeps it enabled if it was.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use hyper::Method;
use pipeline::DbRp;
use serde_json::{Value, json};

use super::http::{send, send_json};

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
    /// A stream task: points as they arrive.
    Streamer(Streamer),
    /// A batch task: the results of a scheduled query.
    Batcher(Batcher),
}

#[derive(Debug, clap::Args)]
struct Streamer {
    /// The task's name.
    #[arg(long)]
    name: String,
    /// Only points of this measurement reach the task.
    #[arg(long)]
    from: Option<String>,
    /// Only points matching this predicate reach the task, e.g. "cpu = 'cpu-total'".
    #[arg(long = "where")]
    where_: Option<String>,
    /// The TICKscript file.
    #[arg(long)]
    script: PathBuf,
    /// Database and retention policy the task reads (db.rp, or db for
    /// db.autogen); repeatable.
    #[arg(long, value_parser = parse_dbrp)]
    dbrp: Vec<DbRp>,
    /// A JSON file of values for the script's vars, as Kapacitor's
    /// `-vars`: {"crit": {"type": "float", "value": 90}}.
    #[arg(long)]
    vars: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct Batcher {
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
    #[arg(long)]
    script: PathBuf,
    #[arg(long, value_parser = parse_dbrp)]
    dbrp: Vec<DbRp>,
    /// A JSON file of values for the script's vars (see `define streamer`).
    #[arg(long)]
    vars: Option<PathBuf>,
}

/// `db.rp` as the daemon reads it (`"my.db".rp` for a name with a dot); a
/// bare `db` takes `autogen`.
fn parse_dbrp(s: &str) -> Result<DbRp, String> {
    s.parse()
        .or_else(|e| format!("{s}.autogen").parse().map_err(|_| e))
}

fn read_script(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_vars(path: &std::path::Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let vars: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    crate::tasks::vars::from_json(&vars).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(vars)
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let (name, body) = match args.kind {
        Kind::Streamer(s) => {
            let mut body = json!({ "id": s.name, "type": "stream", "script": read_script(&s.script)?, "dbrps": s.dbrp });
            if let Some(from) = s.from {
                body["from"] = json!(from);
            }
            if let Some(w) = s.where_ {
                body["where"] = json!(w);
            }
            if let Some(path) = &s.vars {
                body["vars"] = read_vars(path)?;
            }
            (s.name, body)
        }
        Kind::Batcher(b) => {
            if b.period.is_none() && b.cron.is_none() {
                bail!("a batcher needs --period or --cron");
            }
            // What is not given is cleared (""), so a redefinition can
            // move from --period to --cron and drop --group-by.
            let mut body = json!({
                "id": b.name, "type": "batch", "script": read_script(&b.script)?, "dbrps": b.dbrp,
                "query": b.query, "period": b.period.unwrap_or_default(),
                "cron": b.cron.unwrap_or_default(), "group_by": b.group_by.unwrap_or_default(),
            });
            if let Some(path) = &b.vars {
                body["vars"] = read_vars(path)?;
            }
            (b.name, body)
        }
    };
    let exists = send(
        Method::GET,
        url,
        &format!("/kapacitor/v1/tasks/{name}"),
        Vec::new(),
    )?
    .status
    .is_success();
    let reply = if exists {
        send_json(
            Method::PATCH,
            url,
            &format!("/kapacitor/v1/tasks/{name}"),
            &body,
        )?
    } else {
        send_json(Method::POST, url, "/kapacitor/v1/tasks", &body)?
    };
    if !reply.status.is_success() {
        return Ok(super::fail(args.json, &reply.error_text()));
    }
    Ok(super::done(
        args.json,
        json!({"ok": true, "task": name, "defined": if exists { "updated" } else { "created" }}),
    ))
}

#[cfg(test)]
mod tests {
    use pipeline::DbRp;

    use super::parse_dbrp;

    #[test]
    fn dbrp_forms() {
        assert_eq!(
            parse_dbrp("telegraf.autogen"),
            Ok(DbRp::new("telegraf", "autogen"))
        );
        assert_eq!(parse_dbrp("telegraf"), Ok(DbRp::new("telegraf", "autogen")));
        assert_eq!(parse_dbrp("\"my.db\""), Ok(DbRp::new("my.db", "autogen")));
        assert_eq!(
            parse_dbrp("a.b.c").unwrap_err(),
            "`a.b.c` is not a db.rp; expected database and retention policy such as \
             `telegraf.autogen`, quoting a name that holds a dot: `\"my.db\".\"autogen\"`"
        );
        assert!(parse_dbrp(".x").is_err());
    }
}
