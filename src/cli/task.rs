//! `kapacitor enable|disable|delete NAME...`: change tasks' state.

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

pub fn run(args: Args, url: &str, action: Action) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let mut report = Vec::new();
    for name in &args.names {
        let path = format!("/kapacitor/v1/tasks/{name}");
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
            report.push(serde_json::json!({"task": name, "ok": true}));
        } else {
            if !args.json {
                eprintln!("error: {name}: {}", reply.error_text());
            }
            report.push(serde_json::json!({"task": name, "error": reply.error_text()}));
            failed = true;
        }
    }
    if args.json {
        println!("{}", serde_json::json!({"ok": !failed, "tasks": report}));
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
