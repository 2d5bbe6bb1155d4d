//! `kapacitor define-topic-handler FILE`: creates or replaces the topic
//! handler a Kapacitor handler file (YAML or JSON: `topic`, `id`, `kind`,
//! `match`, `options`) defines. YAML is read as Kapacitor reads it
//! (`mode: 0644` is octal), so its files work unchanged.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use hyper::Method;

use super::http::{send, send_json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The handler file: YAML (.yaml, .yml) or JSON (.json).
    file: PathBuf,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("failed to read handler file {}", args.file.display()))?;
    let h = config::TopicHandlerFile::read(&text, &args.file, None).map_err(|e| anyhow!("{e}"))?;
    for ignored in &h.ignored {
        eprintln!("warning: {ignored}");
    }
    let body = serde_json::json!({
        "id": h.id,
        "kind": h.kind,
        "match": h.match_expr,
        "options": h.options,
    });
    let handlers = format!("/kapacitor/v1/alerts/topics/{}/handlers", h.topic);
    let one = format!("{handlers}/{}", h.id);
    // As Kapacitor's CLI: replace it when it exists, else create it.
    let exists = send(Method::GET, url, &one, Vec::new())?
        .status
        .is_success();
    let reply = if exists {
        send_json(Method::PUT, url, &one, &body)?
    } else {
        send_json(Method::POST, url, &handlers, &body)?
    }
    .ok()?;
    let defined: serde_json::Value = serde_json::from_slice(&reply.body)?;
    if let Some(e) = defined["error"].as_str() {
        // Defined, but its events will fail: say so.
        eprintln!("warning: {}/{}: {e}", h.topic, h.id);
    }
    Ok(super::done(args.json, defined))
}
