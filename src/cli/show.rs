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

fn render(t: &Value) -> String {
    let s = |k: &str| t[k].as_str().unwrap_or("").to_string();
    let mut out = String::new();
    let _ = writeln!(out, "ID: {}", s("id"));
    let _ = writeln!(out, "Error: {}", s("error"));
    let _ = writeln!(out, "Type: {}", s("type"));
    let _ = writeln!(out, "Status: {}", s("status"));
    let _ = writeln!(
        out,
        "Executing: {}",
        t["executing"].as_bool().unwrap_or(false)
    );
    let _ = writeln!(out, "Created: {}", s("created"));
    let _ = writeln!(out, "Modified: {}", s("modified"));
    let _ = writeln!(
        out,
        "LastEnabled: {}",
        t["last-enabled"].as_str().unwrap_or("")
    );
    let dbrps: Vec<String> = t["dbrps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            format!(
                "{:?}.{:?}",
                d["db"].as_str().unwrap_or(""),
                d["rp"].as_str().unwrap_or("")
            )
        })
        .collect();
    let _ = writeln!(out, "Databases Retention Policies: [{}]", dbrps.join(" "));
    if let Some(from) = t["from"].as_str() {
        let _ = writeln!(out, "From: {from}");
    }
    if let Some(vars) = t["vars"].as_object().filter(|v| !v.is_empty()) {
        // Kapacitor's layout: one var per line, name, type, value.
        let _ = writeln!(out, "Vars:");
        for (name, var) in vars {
            let _ = writeln!(
                out,
                "  {name} {} {}",
                var["type"].as_str().unwrap_or(""),
                var["value"]
            );
        }
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
    let _ = writeln!(out, "\nDOT:\n{}", dot_with_counters(t).trim_end());
    out
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
}
