//! `kapacitor list tasks|recordings|replays [ID|PATTERN...]`: one line
//! each, tasks in Kapacitor's columns; only those the ids or globs name.
//! `list topics|topic-handlers` are [`super::list_topics`]'s.

use std::process::ExitCode;

use serde_json::{Value, json};

use super::select::{Collection, RECORDINGS, REPLAYS, TASKS, matches_any, patterns};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to list: tasks, recordings, replays, topics or topic-handlers.
    what: What,
    /// Only these ids, or those matching these patterns (`*`, `?`,
    /// `[a-z]`); for topic-handlers, a topic pattern first.
    #[arg(value_name = "ID|PATTERN")]
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

impl What {
    fn collection(self) -> Collection {
        match self {
            What::Tasks => TASKS,
            What::Recordings => RECORDINGS,
            What::Replays => REPLAYS,
            // Listed by `list_topics`.
            What::Topics | What::TopicHandlers => TASKS,
        }
    }
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Topics => return super::list_topics::run_topics(url, &args.patterns, args.json),
        What::TopicHandlers => {
            return super::list_topics::run_handlers(url, &args.patterns, args.json);
        }
        _ => {}
    }
    let patterns = patterns(&args.patterns)?;
    let collection = args.what.collection();
    let items: Vec<Value> = collection
        .list(url)?
        .into_iter()
        .filter(|item| matches_any(&patterns, item["id"].as_str().unwrap_or("")))
        .collect();
    let body = json!({ collection.name: items });
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

/// Kapacitor's layout: the id column as wide as the longest id (and a
/// space), then Type, Status and Executing ten wide, then the dbrps as Go
/// prints them, `["telegraf"."autogen"]`.
fn render(body: &Value) -> String {
    let tasks: Vec<&Value> = body["tasks"].as_array().into_iter().flatten().collect();
    let width = tasks
        .iter()
        .map(|t| t["id"].as_str().unwrap_or("").chars().count())
        .fold("ID".len(), usize::max)
        + 1;
    let mut out = format!(
        "{:<width$}{:<10}{:<10}{:<10}{}\n",
        "ID", "Type", "Status", "Executing", "Databases and Retention Policies"
    );
    for t in tasks {
        out.push_str(&format!(
            "{:<width$}{:<10}{:<10}{:<10}{}\n",
            t["id"].as_str().unwrap_or(""),
            t["type"].as_str().unwrap_or(""),
            t["status"].as_str().unwrap_or(""),
            t["executing"].as_bool().unwrap_or(false),
            dbrps(&t["dbrps"])
        ));
    }
    out
}

/// Dbrps as Kapacitor prints them: `["telegraf"."autogen" "other"."rp"]`.
pub(super) fn dbrps(value: &Value) -> String {
    let dbrps: Vec<String> = value
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
    format!("[{}]", dbrps.join(" "))
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
        let body = serde_json::json!({"tasks": [
            {"id": "cpu_alert", "type": "stream", "status": "enabled", "executing": true,
             "dbrps": [{"db": "telegraf", "rp": "autogen"}]},
            {"id": "mem", "type": "batch", "status": "disabled", "executing": false,
             "dbrps": [{"db": "a", "rp": "b"}, {"db": "c", "rp": "d"}]}]});
        // What Kapacitor 1.x prints for the same tasks.
        assert_eq!(
            super::render(&body),
            "ID        Type      Status    Executing Databases and Retention Policies\n\
             cpu_alert stream    enabled   true      [\"telegraf\".\"autogen\"]\n\
             mem       batch     disabled  false     [\"a\".\"b\" \"c\".\"d\"]\n"
        );
    }
}
