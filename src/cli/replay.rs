//! `kapacitor replay RECORDING TASK` (the seed's) or `kapacitor replay
//! -recording ID -task T` (Kapacitor's): replays a recording into a task's
//! own instance and prints what the task produced.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;
use hyper::Method;
use serde_json::{Value, json};

use super::http::{send, send_json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The recording (or --recording).
    recording_pos: Option<String>,
    /// The task (or --task).
    task_pos: Option<String>,
    #[arg(long, conflicts_with = "recording_pos")]
    recording: Option<String>,
    #[arg(long, conflicts_with = "task_pos")]
    task: Option<String>,
    /// Move the first point to this time (RFC 3339) instead of now.
    #[arg(long, conflicts_with = "rec_time")]
    start: Option<String>,
    #[command(flatten)]
    flags: Flags,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

/// How a replay runs, and what the command waits for: the flags of
/// `replay` and `replay-live`.
#[derive(Debug, clap::Args)]
pub(super) struct Flags {
    /// Keep the pace of the data's times.
    #[arg(long)]
    real_clock: bool,
    /// Keep the data's times (default: the first point at now).
    #[arg(long)]
    rec_time: bool,
    /// Let alert handlers act (post, log, exec...); by default their events
    /// are only shown.
    #[arg(long)]
    fire_handlers: bool,
    /// Print the id at once instead of the results when done.
    #[arg(long)]
    no_wait: bool,
    #[arg(long)]
    replay_id: Option<String>,
    /// Give up waiting after this long.
    #[arg(long, default_value = "10m")]
    timeout: String,
}

impl Flags {
    /// The body of a replay of `task`, as the API takes it.
    pub(super) fn body(&self, task: &str) -> Value {
        let mut body = json!({
            "task": task,
            "recording-time": self.rec_time,
            "clock": if self.real_clock { "real" } else { "fast" },
            "fire-handlers": self.fire_handlers,
        });
        if let Some(id) = &self.replay_id {
            body["id"] = json!(id);
        }
        body
    }

    pub(super) fn done(&self, json: bool) -> anyhow::Result<Done> {
        let timeout = config::parse_duration(&self.timeout)
            .map_err(|e| anyhow::anyhow!("--timeout {:?}: {e}", self.timeout))?;
        Ok(Done {
            no_wait: self.no_wait,
            json,
            timeout,
        })
    }
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let (Some(recording), Some(task)) = (
        args.recording.clone().or(args.recording_pos.clone()),
        args.task.clone().or(args.task_pos.clone()),
    ) else {
        bail!("replay needs a recording and a task: `kapacitor replay RECORDING TASK`");
    };
    let mut body = args.flags.body(&task);
    body["recording"] = json!(recording);
    if let Some(start) = &args.start {
        body["start"] = json!(start);
    }
    let done = args.flags.done(args.json)?;
    start_and_show(url, "/kapacitor/v1/replays", &body, &done)
}

/// What to do once a replay is started.
pub(super) struct Done {
    no_wait: bool,
    json: bool,
    timeout: Duration,
}

/// Starts a replay (`body` posted to `path`), then prints its id at once
/// or, once it is done, what the task produced.
pub(super) fn start_and_show(
    url: &str,
    path: &str,
    body: &Value,
    done: &Done,
) -> anyhow::Result<ExitCode> {
    let reply = send_json(Method::POST, url, path, body)?.ok()?;
    let replay: Value = serde_json::from_slice(&reply.body)?;
    let id = replay["id"].as_str().unwrap_or_default().to_string();
    if done.no_wait {
        if done.json {
            println!("{replay}");
        } else {
            println!("ReplayID={id}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let replay = wait(url, &id, Instant::now() + done.timeout)?;
    if done.json {
        println!("{}", serde_json::to_string_pretty(&replay)?);
    } else {
        print!("{}", render(&replay));
    }
    Ok(if replay["status"] == "finished" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Polls a replay until it is no longer running.
fn wait(url: &str, id: &str, deadline: Instant) -> anyhow::Result<Value> {
    let mut pause = Duration::from_millis(5);
    loop {
        let reply = send(
            Method::GET,
            url,
            &format!("/kapacitor/v1/replays/{id}"),
            Vec::new(),
        )?
        .ok()?;
        let replay: Value = serde_json::from_slice(&reply.body)?;
        if replay["status"] != "running" {
            return Ok(replay);
        }
        if Instant::now() > deadline {
            bail!(
                "replay {id} still running ({:.0}% done); see `kapacitor list replays`",
                replay["progress"].as_f64().unwrap_or(0.0) * 100.0
            );
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// What the task produced, for people.
fn render(r: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut out = format!("ReplayID={}\n", s(&r["id"]));
    if r["status"] != "finished" {
        let _ = writeln!(out, "error: {}", s(&r["error"]));
        return out;
    }
    let result = &r["result"];
    let what = match s(&r["recording"]) {
        rec if rec.is_empty() => "what the queries got".to_string(),
        rec => format!("recording {rec}"),
    };
    let _ = writeln!(
        out,
        "Replayed {} {} of {what} into task {} in {:.3}s",
        r["points"],
        if r["type"] == "batch" {
            "batches"
        } else {
            "points"
        },
        s(&r["task"]),
        r["seconds"].as_f64().unwrap_or(0.0)
    );
    if let Some(w) = r["warning"].as_str() {
        let _ = writeln!(out, "warning: {w}");
    }
    let alerts = result["alerts"].as_array().map_or(&[][..], Vec::as_slice);
    let _ = writeln!(out, "\nAlerts: {}", result["alerts_total"]);
    for a in alerts {
        let tags = a["data"]["series"][0]["tags"]
            .as_object()
            .map(|t| {
                t.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} {:<8} {} {:?} {}",
            s(&a["time"]),
            s(&a["level"]),
            s(&a["id"]),
            s(&a["message"]),
            tags
        );
    }
    if let Some(endpoints) = result["http_out"].as_object() {
        for (name, value) in endpoints {
            let _ = writeln!(out, "\nhttpOut {name:?}:");
            for series in value["series"].as_array().into_iter().flatten() {
                let tags = series["tags"]
                    .as_object()
                    .map(|t| {
                        t.iter()
                            .map(|(k, v)| format!(",{k}={}", v.as_str().unwrap_or("")))
                            .collect::<String>()
                    })
                    .unwrap_or_default();
                let _ = writeln!(out, "  {}{tags} {}", s(&series["name"]), series["columns"]);
                for row in series["values"].as_array().into_iter().flatten() {
                    let _ = writeln!(out, "    {row}");
                }
            }
        }
    }
    let lines = result["influxdb_out"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    if !lines.is_empty() {
        let _ = writeln!(
            out,
            "\ninfluxDBOut would write {} points:",
            result["influxdb_out_total"]
        );
        for l in lines {
            let _ = writeln!(out, "  {}", s(l));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn shows_alerts_http_out_and_writes() {
        let r = serde_json::json!({"id": "r1", "status": "finished", "points": 3, "recording": "rec", "task": "cpu", "seconds": 0.01,
            "result": {"alerts_total": 1, "influxdb_out_total": 1,
                "alerts": [{"id": "cpu:host=a", "level": "CRITICAL", "message": "hot", "time": "2024-01-01T00:00:00Z",
                    "data": {"series": [{"name": "cpu", "tags": {"host": "a"}}]}}],
                "http_out": {"out": {"series": [{"name": "cpu", "columns": ["time", "mean"], "values": [["2024-01-01T00:00:00Z", 1.5]]}]}},
                "influxdb_out": ["db.rp cpu mean=1.5 1"]}});
        let text = super::render(&r);
        assert!(
            text.contains("CRITICAL cpu:host=a \"hot\" host=a"),
            "{text}"
        );
        assert!(
            text.contains("httpOut \"out\":\n  cpu [\"time\",\"mean\"]"),
            "{text}"
        );
        assert!(text.contains("db.rp cpu mean=1.5 1"), "{text}");
    }
}
