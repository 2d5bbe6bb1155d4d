//! `kapacitor push --remote URL NAME`: copies a task (script, metadata and
//! enabled state) to another kapacitord.

use std::process::ExitCode;

use anyhow::bail;
use hyper::Method;
use serde_json::{Value, json};

use super::http::send;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// URL of the kapacitord to copy the task to.
    #[arg(long)]
    remote: String,
    /// The task's name.
    name: String,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let path = format!("/kapacitor/v1/tasks/{}", args.name);
    let reply = send(Method::GET, url, &path, Vec::new())?.ok()?;
    let task: Value = serde_json::from_slice(&reply.body)?;
    let mut body = json!({
        "id": task["id"], "type": task["type"], "dbrps": task["dbrps"],
        "script": task["script"], "status": task["status"],
    });
    if task["status"] == "errored" {
        body["status"] = json!("enabled");
    }
    if !task["from"].is_null() {
        body["from"] = task["from"].clone();
    }
    if !task["vars"].is_null() {
        body["vars"] = task["vars"].clone();
    }
    if let Some(meta) = task["meta"].as_object() {
        for (k, v) in meta {
            body[k] = v.clone();
        }
    }
    let (_, reply) = super::define::upsert_task(&args.remote, &args.name, &body)?;
    if !reply.status.is_success() {
        bail!("{}: {}", args.remote, reply.error_text());
    }
    Ok(super::done(
        args.json,
        json!({"ok": true, "task": args.name, "remote": args.remote}),
    ))
}
