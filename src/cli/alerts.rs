//! `kapacitor alerts [--task N] [--level L]`: recent alert events.

use std::process::ExitCode;

use hyper::Method;
use serde_json::Value;

use super::http::send;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this task's events.
    #[arg(long)]
    task: Option<String>,
    /// Only events of this level (OK, INFO, WARNING, CRITICAL).
    #[arg(long)]
    level: Option<String>,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let mut query = Vec::new();
    if let Some(t) = &args.task {
        query.push(("task", t.as_str()));
    }
    if let Some(l) = &args.level {
        query.push(("level", l.as_str()));
    }
    let path = format!(
        "/kapacitor/v1/alerts?{}",
        serde_urlencoded::to_string(&query)?
    );
    let reply = send(Method::GET, url, &path, Vec::new())?.ok()?;
    let body: Value = serde_json::from_slice(&reply.body)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print!("{}", render(&body));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(body: &Value) -> String {
    let mut out = format!(
        "{:<30} {:<24} {:<9} {:<28} {}\n",
        "TIME", "TASK", "LEVEL", "ID", "MESSAGE"
    );
    for a in body["alerts"].as_array().into_iter().flatten() {
        let s = |k: &str| a[k].as_str().unwrap_or("").to_string();
        out.push_str(&format!(
            "{:<30} {:<24} {:<9} {:<28} {}\n",
            s("time"),
            s("task"),
            s("level"),
            s("id"),
            s("message")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_line_per_event() {
        let body = serde_json::json!({"alerts": [{"time": "1971-01-01T00:00:10Z", "task": "cpu", "level": "CRITICAL",
            "id": "cpu:nil", "message": "cpu:nil is CRITICAL"}]});
        let text = super::render(&body);
        let line = text.lines().nth(1).unwrap();
        assert!(
            line.starts_with("1971-01-01T00:00:10Z") && line.ends_with("cpu:nil is CRITICAL"),
            "{text}"
        );
    }
}
