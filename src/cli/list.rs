//! `kapacitor list tasks|recordings|replays|topics|topic-handlers`: one
//! line each (topics in [`super::list_topics`]).

use std::process::ExitCode;

use hyper::Method;
use serde_json::Value;

use super::http::send;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to list: tasks, recordings, replays, topics or topic-handlers.
    what: What,
    /// topics: patterns of topic ids; topic-handlers: a topic pattern,
    /// then patterns of handler ids.
    patterns: Vec<String>,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum What {
    Tasks,
    Recordings,
    Replays,
    Topics,
    TopicHandlers,
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let path = match args.what {
        What::Tasks => "/kapacitor/v1/tasks",
        What::Recordings => "/kapacitor/v1/recordings",
        What::Replays => "/kapacitor/v1/replays",
        What::Topics => return super::list_topics::run_topics(url, &args.patterns, args.json),
        What::TopicHandlers => {
            return super::list_topics::run_handlers(url, &args.patterns, args.json);
        }
    };
    let reply = send(Method::GET, url, path, Vec::new())?.ok()?;
    let body: Value = serde_json::from_slice(&reply.body)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    match args.what {
        What::Tasks => print!("{}", render(&body)),
        What::Recordings => print!("{}", render_recordings(&body)),
        What::Replays => print!("{}", render_replays(&body)),
        What::Topics | What::TopicHandlers => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn render(body: &Value) -> String {
    let mut out = format!(
        "{:<30} {:<7} {:<9} {:<10} {}\n",
        "ID", "Type", "Status", "Executing", "Databases and Retention Policies"
    );
    for t in body["tasks"].as_array().into_iter().flatten() {
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
        out.push_str(&format!(
            "{:<30} {:<7} {:<9} {:<10} [{}]\n",
            t["id"].as_str().unwrap_or(""),
            t["type"].as_str().unwrap_or(""),
            t["status"].as_str().unwrap_or(""),
            t["executing"].as_bool().unwrap_or(false),
            dbrps.join(" ")
        ));
    }
    out
}

fn render_recordings(body: &Value) -> String {
    let mut out = format!(
        "{:<24} {:<7} {:<9} {:>10} {:>10} {:<20} {}\n",
        "ID", "Type", "Status", "Points", "Size", "Date", "Source"
    );
    for r in body["recordings"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<24} {:<7} {:<9} {:>10} {:>10} {:<20} {}\n",
            r["id"].as_str().unwrap_or(""),
            r["type"].as_str().unwrap_or(""),
            r["status"].as_str().unwrap_or(""),
            // As text: a JSON value ignores the column width.
            r["points"].to_string(),
            r["size"].to_string(),
            r["date"].as_str().unwrap_or("").get(..19).unwrap_or(""),
            r["source"].as_str().unwrap_or(""),
        ));
        if let Some(e) = r["error"].as_str().filter(|e| !e.is_empty()) {
            out.push_str(&format!("    error: {e}\n"));
        }
    }
    out
}

fn render_replays(body: &Value) -> String {
    let mut out = format!(
        "{:<24} {:<24} {:<24} {:<9} {:<5} {:>8} {}\n",
        "ID", "Task", "Recording", "Status", "Clock", "Progress", "Date"
    );
    for r in body["replays"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<24} {:<24} {:<24} {:<9} {:<5} {:>7.0}% {}\n",
            r["id"].as_str().unwrap_or(""),
            r["task"].as_str().unwrap_or(""),
            r["recording"].as_str().unwrap_or(""),
            r["status"].as_str().unwrap_or(""),
            r["clock"].as_str().unwrap_or(""),
            r["progress"].as_f64().unwrap_or(0.0) * 100.0,
            r["date"].as_str().unwrap_or(""),
        ));
        if let Some(e) = r["error"].as_str().filter(|e| !e.is_empty()) {
            out.push_str(&format!("    error: {e}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn recording_columns_line_up_under_their_headers() {
        let body = serde_json::json!({"recordings": [{"id": "18fe2df5b5f6cadf", "type": "stream",
            "status": "finished", "points": 4, "size": 237, "date": "2026-12-03T17:36:21.5Z", "source": "live"}]});
        let text = super::render_recordings(&body);
        let mut lines = text.lines();
        let (head, row) = (lines.next().unwrap(), lines.next().unwrap());
        // Right-aligned numbers end where their headers end.
        assert_eq!(
            row.find("4 ").unwrap() + 1,
            head.find("Points").unwrap() + "Points".len(),
            "{text}"
        );
        assert_eq!(
            row.find("237").unwrap() + 3,
            head.find("Size").unwrap() + "Size".len(),
            "{text}"
        );
    }

    #[test]
    fn one_line_per_task_like_kapacitor() {
        let body = serde_json::json!({"tasks": [{"id": "cpu", "type": "stream", "status": "enabled", "executing": true,
            "dbrps": [{"db": "telegraf", "rp": "autogen"}]}]});
        let text = super::render(&body);
        assert!(text.lines().nth(1).unwrap().starts_with("cpu "), "{text}");
        assert!(text.contains("[\"telegraf\".\"autogen\"]"), "{text}");
    }
}
