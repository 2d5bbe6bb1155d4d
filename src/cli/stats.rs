//! `kapacitor stats general|ingress`: the daemon's summary, and the points
//! it received per database and retention policy, in Kapacitor's layout,
//! from `/kapacitor/v1/debug/vars`.

use std::fmt::Write as _;
use std::process::ExitCode;

use hyper::Method;
use serde_json::Value;

use super::http::send;

#[derive(Debug, clap::Args)]
pub struct Args {
    what: What,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum What {
    /// Tasks, enabled tasks, subscriptions, host and version.
    General,
    /// Points received per database and retention policy.
    Ingress,
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let vars = vars(url)?;
    let text = match args.what {
        What::General => general(&vars),
        What::Ingress => ingress(&vars),
    };
    if args.json {
        let value = match args.what {
            What::General => {
                let mut v = vars.clone();
                if let Some(o) = v.as_object_mut() {
                    o.remove("kapacitor");
                }
                v
            }
            What::Ingress => Value::Array(ingress_rows(&vars).into_iter().map(|r| {
                serde_json::json!({"database": r.0, "retention_policy": r.1, "measurement": r.2, "points_received": r.3})
            }).collect()),
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `/kapacitor/v1/debug/vars`.
pub(super) fn vars(url: &str) -> anyhow::Result<Value> {
    let reply = send(Method::GET, url, "/kapacitor/v1/debug/vars", Vec::new())?.ok()?;
    Ok(serde_json::from_slice(&reply.body)?)
}

fn general(v: &Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    let n = |k: &str| v[k].as_u64().unwrap_or(0).to_string();
    let mut out = String::new();
    for (label, value) in [
        ("ClusterID:", s("cluster_id")),
        ("ServerID:", s("server_id")),
        ("Host:", s("host")),
        ("Tasks:", n("num_tasks")),
        ("Enabled Tasks:", n("num_enabled_tasks")),
        ("Subscriptions:", n("num_subscriptions")),
        ("Platform:", s("platform")),
        ("Version:", s("version")),
    ] {
        let _ = writeln!(out, "{label:<30}{value:<30}");
    }
    out
}

/// (database, retention policy, measurement, points received), sorted;
/// a stat without a measurement (we count per db/rp) shows `*`.
fn ingress_rows(v: &Value) -> Vec<(String, String, String, u64)> {
    let mut rows: Vec<_> = v["kapacitor"]
        .as_object()
        .into_iter()
        .flat_map(|stats| stats.values())
        .filter(|stat| stat["name"] == "ingress" && stat["tags"]["task_master"] == "main")
        .map(|stat| {
            let tag = |k: &str| stat["tags"][k].as_str().map(str::to_string);
            (
                tag("database").unwrap_or_default(),
                tag("retention_policy").unwrap_or_default(),
                tag("measurement").unwrap_or_else(|| "*".to_string()),
                stat["values"]["points_received"].as_f64().unwrap_or(0.0) as u64,
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Kapacitor's columns, each as wide as its longest value and a space.
fn ingress(v: &Value) -> String {
    let rows = ingress_rows(v);
    let width = |header: &str, get: fn(&(String, String, String, u64)) -> &String| {
        rows.iter()
            .map(|r| get(r).chars().count())
            .fold(header.len(), usize::max)
            + 1
    };
    let db = width("Database", |r| &r.0);
    let rp = width("Retention Policy", |r| &r.1);
    let m = width("Measurement", |r| &r.2);
    let mut out = format!(
        "{:<db$}{:<rp$}{:<m$}{}\n",
        "Database", "Retention Policy", "Measurement", "Points Received"
    );
    for (d, r, meas, points) in &rows {
        let _ = writeln!(out, "{d:<db$}{r:<rp$}{meas:<m$}{points:>15}");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn kapacitor_layouts() {
        let v = serde_json::json!({"cluster_id": "", "server_id": "", "host": "h", "num_tasks": 2,
            "num_enabled_tasks": 1, "num_subscriptions": 0, "platform": "OSS", "version": "0.1.0",
            "kapacitor": {
                "ingress:telegraf.autogen": {"name": "ingress", "tags": {"task_master": "main",
                    "database": "telegraf", "retention_policy": "autogen"}, "values": {"points_received": 12}},
                "ingress:a.b": {"name": "ingress", "tags": {"task_master": "main",
                    "database": "a", "retention_policy": "b", "measurement": "cpu"}, "values": {"points_received": 3}}}});
        let general = super::general(&v);
        assert!(
            general.starts_with(&format!("{:<30}{:<30}\n", "ClusterID:", "")),
            "{general}"
        );
        assert!(
            general.contains(&format!("{:<30}{:<30}\n", "Tasks:", "2")),
            "{general}"
        );
        assert!(
            general.contains(&format!("{:<30}{:<30}\n", "Enabled Tasks:", "1")),
            "{general}"
        );
        assert_eq!(
            super::ingress(&v),
            "Database Retention Policy Measurement Points Received\n\
             a        b                cpu                       3\n\
             telegraf autogen          *                        12\n"
        );
    }
}
