//! `kapacitor show-topic-handler TOPIC HANDLER`: a topic handler as
//! defined, and what it has done.

use std::fmt::Write as _;
use std::process::ExitCode;

use hyper::Method;
use serde_json::Value;

use super::http::send;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topic.
    topic: String,
    /// The handler's id.
    handler: String,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let path = format!(
        "/kapacitor/v1/alerts/topics/{}/handlers/{}",
        args.topic, args.handler
    );
    let reply = send(Method::GET, url, &path, Vec::new())?.ok()?;
    let h: Value = serde_json::from_slice(&reply.body)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&h)?);
    } else {
        print!("{}", render(&args.topic, &h));
    }
    Ok(ExitCode::SUCCESS)
}

/// Kapacitor's lines, then the counters.
fn render(topic: &str, h: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "ID: {}", h["id"].as_str().unwrap_or(""));
    let _ = writeln!(out, "Topic: {topic}");
    let _ = writeln!(out, "Kind: {}", h["kind"].as_str().unwrap_or(""));
    let _ = writeln!(out, "Match: {}", h["match"].as_str().unwrap_or(""));
    let _ = writeln!(out, "Options: {}", h["options"]);
    if let Some(e) = h["error"].as_str() {
        let _ = writeln!(out, "Error: {e}");
    }
    let s = &h["stats"];
    let _ = writeln!(
        out,
        "Events: {} matched, {} sent, {} failed, {} dropped, {} unmatched, {} match errors",
        s["matched"], s["sent"], s["failed"], s["dropped"], s["unmatched"], s["match_errors"]
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_as_kapacitor_then_the_counters() {
        let h = serde_json::json!({"id": "slack", "kind": "slack", "match": "",
            "options": {"channel": "#kapacitor"},
            "stats": {"matched": 1, "sent": 0, "failed": 1, "dropped": 0, "unmatched": 0, "match_errors": 0}});
        assert_eq!(
            render("cpu", &h),
            "ID: slack\nTopic: cpu\nKind: slack\nMatch: \nOptions: {\"channel\":\"#kapacitor\"}\n\
             Events: 1 matched, 0 sent, 1 failed, 0 dropped, 0 unmatched, 0 match errors\n"
        );
    }
}
