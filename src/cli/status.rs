//! `kapacitor status`: what the daemon is doing, readably (or `--json`).

use std::fmt::Write as _;
use std::process::ExitCode;

use hyper::Method;
use serde_json::Value;

use super::http::send;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let reply = send(Method::GET, url, "/kapacitor/v1/status", Vec::new())?.ok()?;
    let status: Value = serde_json::from_slice(&reply.body)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", render(&status));
    }
    Ok(ExitCode::SUCCESS)
}

/// The status as a few aligned tables.
fn render(s: &Value) -> String {
    let mut out = String::new();
    let uptime = s["uptime_seconds"].as_f64().unwrap_or(0.0) as u64;
    let _ = writeln!(
        out,
        "kapacitord {} up {} (since {})",
        s["version"].as_str().unwrap_or("?"),
        humantime::format_duration(std::time::Duration::from_secs(uptime)),
        s["started"].as_str().unwrap_or("?"),
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<22} {:<22} {:>12} {:>12} {:>14} {:>12} {:>8} {:>9}",
        "LISTENER / DB.RP",
        "BIND",
        "RECEIVED",
        "POINTS",
        "BYTES",
        "PARSE ERRORS",
        "DROPPED",
        "REJECTED"
    );
    if let Some(listeners) = s["listeners"].as_object() {
        for (name, l) in listeners {
            let received = ["requests", "datagrams", "connections"]
                .iter()
                .find_map(|k| l[*k].as_u64().map(|n| format!("{n} {}", short(k))))
                .unwrap_or_default();
            let bind = if l["enabled"].as_bool() == Some(false) {
                "disabled".to_string()
            } else {
                l["bind"].as_str().unwrap_or("").to_string()
            };
            let _ = writeln!(
                out,
                "{:<22} {:<22} {:>12} {:>12} {:>14} {:>12} {:>8} {:>9}",
                name,
                bind,
                received,
                num(&l["points"]),
                num(&l["bytes"]),
                num(&l["parse_errors"]),
                num(&l["dropped"]),
                num(&l["rejected"]),
            );
            if let Some(dbrps) = l["dbrps"].as_object() {
                for (dbrp, c) in dbrps {
                    let _ = writeln!(
                        out,
                        "  {:<20} {:<22} {:>12} {:>12} {:>14} {:>12} {:>8}",
                        dbrp,
                        "",
                        "",
                        num(&c["points"]),
                        num(&c["bytes"]),
                        num(&c["parse_errors"]),
                        num(&c["dropped"]),
                    );
                }
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "points no task wanted: {}",
        num(&s["router"]["unrouted_points"])
    );
    let _ = writeln!(
        out,
        "points refused with 503 (tasks behind; writers retry): {}",
        num(&s["router"]["refused_points"])
    );
    let states = &s["alert_states"];
    if states.is_object() {
        let _ = writeln!(
            out,
            "alert states: {} saved, {} pending, {} dropped, {} failed",
            num(&states["saved"]),
            num(&states["pending"]),
            num(&states["dropped"]),
            num(&states["failed"]),
        );
    }
    let dropped: u64 = s["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["points_dropped"].as_u64())
        .sum();
    match s["tasks"].as_array() {
        Some(tasks) if !tasks.is_empty() => {
            let _ = writeln!(
                out,
                "tasks: {}, {dropped} points dropped by full inboxes",
                tasks.len()
            );
        }
        _ => {
            let _ = writeln!(out, "tasks: none");
        }
    }
    let breached: Vec<String> = s["limit_breaches"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, n)| n.as_u64().is_some_and(|n| n > 0))
        .map(|(key, n)| format!("{key} {n}"))
        .collect();
    if !breached.is_empty() {
        let _ = writeln!(out, "limits breached: {}", breached.join(", "));
    }
    let pool = &s["task_pool"];
    if pool.is_object() {
        let _ = writeln!(
            out,
            "task workers: {} ({} threads now), inboxes of {} points",
            num(&pool["workers"]),
            num(&pool["threads"]),
            num(&pool["inbox_points"]),
        );
    }
    out
}

fn short(key: &str) -> &str {
    match key {
        "requests" => "req",
        "datagrams" => "dgram",
        _ => "conn",
    }
}

fn num(v: &Value) -> String {
    v.as_u64()
        .map(|n| n.to_string())
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_listeners_and_dbrps() {
        let status = serde_json::json!({
            "version": "0.1.0", "uptime_seconds": 61.5, "started": "2026-11-23T22:00:00Z",
            "listeners": {
                "http": {"enabled": true, "bind": "127.0.0.1:9092", "requests": 2, "points": 3,
                          "bytes": 40, "parse_errors": 1, "dropped": 0, "rejected": 0,
                          "dbrps": {"telegraf.autogen": {"points": 3, "bytes": 40, "parse_errors": 1, "dropped": 0}}},
                "udp": {"enabled": false, "bind": null, "datagrams": 0, "points": 0, "bytes": 0,
                         "parse_errors": 0, "dropped": 0, "rejected": 0, "dbrps": {}}
            },
            "router": {"unrouted_points": 3},
            "tasks": [{"id": "a", "points_dropped": 5}, {"id": "b", "points_dropped": 2}],
            "task_pool": {"workers": 2, "threads": 3, "inbox_points": 250000},
            "alert_states": {"saved": 4, "failed": 0, "dropped": 1, "pending": 0}
        });
        let text = super::render(&status);
        assert!(text.starts_with("kapacitord 0.1.0 up 1m 1s"), "{text}");
        assert!(text.contains("127.0.0.1:9092"), "{text}");
        assert!(text.contains("  telegraf.autogen"), "{text}");
        assert!(text.contains("disabled"), "{text}");
        assert!(text.contains("points no task wanted: 3"), "{text}");
        assert!(
            text.contains("alert states: 4 saved, 0 pending, 1 dropped, 0 failed"),
            "{text}"
        );
        assert!(
            text.contains("tasks: 2, 7 points dropped by full inboxes"),
            "{text}"
        );
        assert!(
            text.contains("task workers: 2 (3 threads now), inboxes of 250000 points"),
            "{text}"
        );
    }
}
