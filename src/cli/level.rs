//! `kapacitor level LEVEL`: the daemon's log level, changed while it runs.

use std::process::ExitCode;

use hyper::Method;
use serde_json::json;

use super::http::send_json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// debug, info, warn, error (or trace, off); any case.
    level: String,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    send_json(
        Method::POST,
        url,
        "/kapacitor/v1/loglevel",
        &json!({ "level": args.level }),
    )?
    .ok()?;
    Ok(super::done(
        args.json,
        json!({"ok": true, "level": args.level.to_ascii_lowercase()}),
    ))
}
