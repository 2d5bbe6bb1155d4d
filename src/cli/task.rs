//! `kapacitor enable|disable|delete NAME...`: change tasks' state. `delete`
//! also takes Kapacitor's `delete tasks|recordings|replays ID...` (and the
//! seed's `delete recording ID`), and `delete topics|topic-handlers ...`
//! (in [`super::delete_topics`]).

use std::process::ExitCode;

use hyper::Method;

use super::http::{send, send_json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Task names.
    #[arg(required = true)]
    names: Vec<String>,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

/// What to do to each task.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    Enable,
    Disable,
    Delete,
}

/// What `delete KIND ID...` names with its first word, and where those live.
fn kind_of(word: &str) -> Option<(&'static str, &'static str)> {
    match word {
        "tasks" | "task" => Some(("tasks", "task")),
        "recordings" | "recording" => Some(("recordings", "recording")),
        "replays" | "replay" => Some(("replays", "replay")),
        _ => None,
    }
}

pub fn run(args: Args, url: &str, action: Action) -> anyhow::Result<ExitCode> {
    if let Action::Delete = action {
        match args.names.split_first() {
            Some((kind, rest)) if kind == "topics" || kind == "topic" => {
                return super::delete_topics::run_topics(url, rest, args.json);
            }
            Some((kind, rest)) if kind == "topic-handlers" || kind == "topic-handler" => {
                return super::delete_topics::run_handlers(url, rest, args.json);
            }
            _ => {}
        }
    }
    let mut failed = false;
    let mut report = Vec::new();
    let (collection, noun, names) = match (action, args.names.split_first()) {
        (Action::Delete, Some((first, rest))) if !rest.is_empty() && kind_of(first).is_some() => {
            let (collection, noun) = kind_of(first).unwrap_or(("tasks", "task"));
            (collection, noun, rest)
        }
        _ => ("tasks", "task", &args.names[..]),
    };
    for name in names {
        let path = format!("/kapacitor/v1/{collection}/{name}");
        let reply = match action {
            Action::Enable => send_json(
                Method::PATCH,
                url,
                &path,
                &serde_json::json!({"status": "enabled"}),
            )?,
            Action::Disable => send_json(
                Method::PATCH,
                url,
                &path,
                &serde_json::json!({"status": "disabled"}),
            )?,
            Action::Delete => send(Method::DELETE, url, &path, Vec::new())?,
        };
        if reply.status.is_success() {
            report.push(serde_json::json!({noun: name, "ok": true}));
        } else {
            if !args.json {
                eprintln!("error: {name}: {}", reply.error_text());
            }
            report.push(serde_json::json!({noun: name, "error": reply.error_text()}));
            failed = true;
        }
    }
    if args.json {
        println!("{}", serde_json::json!({"ok": !failed, collection: report}));
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
