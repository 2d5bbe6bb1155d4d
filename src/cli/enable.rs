//! `kapacitor enable|disable|reload ID|PATTERN...`: start or stop tasks,
//! named by id or by Kapacitor's glob (`enable '*_alert'`). `reload`
//! disables then enables every task named, as Kapacitor's does (a disabled
//! one ends enabled).

use std::process::ExitCode;

use hyper::Method;
use serde_json::{Value, json};

use super::http::send_json;
use super::select::{Collection, TASKS, select};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Task ids or patterns (`*`, `?`, `[a-z]`).
    #[arg(required = true, value_name = "ID|PATTERN")]
    ids: Vec<String>,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

/// What to do to each task.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    Enable,
    Disable,
    Reload,
}

pub fn run(args: Args, url: &str, action: Action) -> anyhow::Result<ExitCode> {
    let ids = select(url, TASKS, &args.ids)?;
    let steps: &[&str] = match action {
        Action::Enable => &["enabled"],
        Action::Disable => &["disabled"],
        Action::Reload => &["disabled", "enabled"],
    };
    let mut failed: Vec<(String, String)> = Vec::new();
    for status in steps {
        for id in &ids {
            if failed.iter().any(|(f, _)| f == id) {
                continue;
            }
            let reply = send_json(
                Method::PATCH,
                url,
                &format!("{}/{id}", TASKS.path()),
                &json!({ "status": status }),
            )?;
            if !reply.status.is_success() {
                failed.push(failure(args.json, id, reply.error_text()));
            }
        }
    }
    Ok(finish(args.json, TASKS, &ids, &failed))
}

/// Says what failed as it happens, one line each (with `--json`, at the
/// end, per item).
pub(super) fn failure(json: bool, id: &str, error: String) -> (String, String) {
    if !json {
        eprintln!("error: {id}: {error}");
    }
    (id.to_string(), error)
}

/// The outcome over every item: with `--json`, `{"ok", NAME: [{NOUN: id,
/// "ok": true} or {NOUN: id, "error": ...}]}`; a non-zero exit when any
/// failed.
pub(super) fn finish(
    json: bool,
    collection: Collection,
    ids: &[String],
    failed: &[(String, String)],
) -> ExitCode {
    if json {
        let items: Vec<Value> = ids
            .iter()
            .map(|id| match failed.iter().find(|(f, _)| f == id) {
                Some((_, error)) => json!({collection.noun: id, "error": error}),
                None => json!({collection.noun: id, "ok": true}),
            })
            .collect();
        println!(
            "{}",
            json!({"ok": failed.is_empty(), collection.name: items})
        );
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
