//! `kapacitor show NAME`: a task's metadata, script, last error, and its DAG
//! with live counters per node.

use std::fmt::Write as _;
use std::process::ExitCode;

use hyper::Method;
use serde_json::Value;

use super::http::send;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task's name.
    name: String,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let reply = send(
        Method::GET,
        url,
        &format!("/kapacitor/v1/tasks/{}", args.name),
        Vec::new(),
    )?
    .ok()?;
    let task: Value = serde_json::from_slice(&reply.body)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&task)?);
    } else {
        print!("{}", render(&task));
    }
    Ok(ExitCode::SUCCESS)
}

/// Kapacitor's layout (ID, Error, Template, Type, Status, Executing,
/// Created, Modified, LastEnabled, Databases Retention Policies,
/// TICKscript, Vars, DOT), with what only kapacitord has (the YAML's
/// `from` and settings, points received and dropped) before the script.
fn render(t: &Value) -> String {
    let s = |k: &str| t[k].as_str().unwrap_or("").to_string();
    let mut out = String::new();
    let _ = writeln!(out, "ID: {}", s("id"));
    let _ = writeln!(out, "Error: {}", s("error"));
    let _ = writeln!(out, "Template: {}", s("template-id"));
    let _ = writeln!(out, "Type: {}", s("type"));
    let _ = writeln!(out, "Status: {}", s("status"));
    let _ = writeln!(
        out,
        "Executing: {}",
        t["executing"].as_bool().unwrap_or(false)
    );
    for (label, key) in [
        ("Created", "created"),
        ("Modified", "modified"),
        ("LastEnabled", "last-enabled"),
    ] {
        let _ = writeln!(out, "{label}: {}", rfc822(t[key].as_str()));
    }
    let _ = writeln!(
        out,
        "Databases Retention Policies: {}",
        super::list::dbrps(&t["dbrps"])
    );
    if let Some(from) = t["from"].as_str() {
        let _ = writeln!(out, "From: {from}");
    }
    if let Some(meta) = t["meta"].as_object() {
        for (k, v) in meta {
            let _ = writeln!(out, "{k}: {}", v.as_str().unwrap_or(""));
        }
    }
    let _ = writeln!(
        out,
        "Points received: {}, dropped: {}",
        t["points_received"], t["points_dropped"]
    );
    if let Some(panics) = t["panics"].as_u64().filter(|&n| n > 0) {
        let _ = writeln!(
            out,
            "Panics: {panics}, restarts: {}",
            t["restarts"].as_u64().unwrap_or(0)
        );
    }
    let panic = &t["last_panic"];
    if panic.is_object() {
        let node = panic["node"].as_str().filter(|n| !n.is_empty());
        let _ = writeln!(
            out,
            "Last panic: {} at {}: {}",
            node.map_or_else(|| "task".to_string(), |n| format!("node {n}")),
            panic["time"].as_str().unwrap_or(""),
            panic["message"].as_str().unwrap_or("")
        );
    }
    let _ = writeln!(out, "TICKscript:\n{}", s("script").trim_end());
    if let Some(vars) = t["vars"].as_object().filter(|v| !v.is_empty()) {
        // Kapacitor's table: name, type and value columns.
        let _ = writeln!(out, "Vars:");
        let _ = writeln!(out, "{:<30}{:<10}{:<40}", "Name", "Type", "Value");
        for (name, var) in vars {
            let value = match &var["value"] {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(
                out,
                "{name:<30}{:<10}{value:<40}",
                var["type"].as_str().unwrap_or("")
            );
        }
    }
    let _ = writeln!(out, "DOT:\n{}", dot_with_counters(t).trim_end());
    out
}

/// An RFC 3339 time from the API as Kapacitor's `show` prints times (Go's
/// RFC 822, `02 Jan 06 15:04 UTC`); never: Go's zero time, as Kapacitor.
pub(super) fn rfc822(time: Option<&str>) -> String {
    let at = time
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    let Some(at) = at else {
        return "01 Jan 01 00:00 UTC".to_string();
    };
    let secs = i64::try_from(at.as_secs()).unwrap_or(i64::MAX);
    let (y, m, d) = model::civil::civil_from_days(secs.div_euclid(86_400));
    let minutes = secs.rem_euclid(86_400) / 60;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS[usize::try_from(m - 1).unwrap_or(0).min(11)];
    format!(
        "{d:02} {month} {:02} {:02}:{:02} UTC",
        y.rem_euclid(100),
        minutes / 60,
        minutes % 60
    )
}

/// The task's DOT with each node labelled by its counters, as `kapacitor
/// show` does in Kapacitor.
fn dot_with_counters(t: &Value) -> String {
    let dot = t["dot"].as_str().unwrap_or("");
    let nodes = t["nodes"].as_array().cloned().unwrap_or_default();
    if nodes.is_empty() {
        return dot.to_string();
    }
    let mut out = String::new();
    for line in dot.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with("digraph") {
            for n in &nodes {
                let _ = writeln!(
                    out,
                    "{} [avg_exec_time_ns=\"{}\" errors=\"{}\" in=\"{}\" out=\"{}\"];",
                    n["name"].as_str().unwrap_or(""),
                    n["avg_exec_ns"],
                    n["errors"],
                    n["messages_in"],
                    n["messages_out"]
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dot_carries_counters() {
        let t = serde_json::json!({"id": "t", "script": "stream|alert()", "dot": "digraph t {\nstream0 -> alert1;\n}\n",
            "nodes": [{"name": "stream0", "messages_in": 5, "messages_out": 5, "errors": 0, "avg_exec_ns": 10}]});
        let text = super::render(&t);
        assert!(
            text.contains("stream0 [avg_exec_time_ns=\"10\" errors=\"0\" in=\"5\" out=\"5\"];"),
            "{text}"
        );
        assert!(text.contains("stream0 -> alert1;"));
        assert!(!text.contains("Panics"), "{text}");
        let t = serde_json::json!({"id": "t", "panics": 2, "restarts": 1,
            "last_panic": {"node": "window2", "message": "boom", "time": "2024-01-01T00:00:00Z"}});
        let text = super::render(&t);
        assert!(text.contains("Panics: 2, restarts: 1\n"), "{text}");
        assert!(
            text.contains("Last panic: node window2 at 2024-01-01T00:00:00Z: boom\n"),
            "{text}"
        );
    }

    #[test]
    fn kapacitor_layout() {
        let t = serde_json::json!({"id": "cpu_alert", "type": "stream", "status": "enabled",
            "executing": true, "error": "", "created": "2026-03-04T17:05:09Z",
            "modified": "2026-03-04T17:05:09Z", "last-enabled": null,
            "dbrps": [{"db": "telegraf", "rp": "autogen"}], "script": "stream|from()\n",
            "vars": {"crit": {"type": "float", "value": 70}, "m": {"type": "string", "value": "cpu"}},
            "dot": "digraph cpu_alert {\n}\n", "points_received": 0, "points_dropped": 0});
        let text = super::render(&t);
        let keys: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once(':').map(|(k, _)| k))
            .collect();
        assert_eq!(
            keys[..10],
            [
                "ID",
                "Error",
                "Template",
                "Type",
                "Status",
                "Executing",
                "Created",
                "Modified",
                "LastEnabled",
                "Databases Retention Policies"
            ]
        );
        assert!(text.contains("Created: 04 Mar 26 17:05 UTC\n"), "{text}");
        assert!(
            text.contains("LastEnabled: 01 Jan 01 00:00 UTC\n"),
            "{text}"
        );
        assert!(
            text.contains("Databases Retention Policies: [\"telegraf\".\"autogen\"]\n"),
            "{text}"
        );
        assert!(
            text.contains("TICKscript:\nstream|from()\nVars:\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!("{:<30}{:<10}{:<40}\n", "crit", "float", "70")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{:<30}{:<10}{:<40}\n", "m", "string", "cpu")),
            "{text}"
        );
        assert!(text.ends_with("DOT:\ndigraph cpu_alert {\n}\n"), "{text}");
    }
}
