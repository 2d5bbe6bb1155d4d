//! `kapacitor show-topic TOPIC`: a topic's level, how many events it has
//! collected, its handlers, and its events, oldest first.

use std::fmt::Write as _;
use std::process::ExitCode;

use hyper::Method;
use serde_json::Value;

use super::http::send;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topic.
    topic: String,
    /// Set by the global `--json`.
    #[arg(skip)]
    pub json: bool,
}

pub fn run(args: Args, url: &str) -> anyhow::Result<ExitCode> {
    let base = format!("/kapacitor/v1/alerts/topics/{}", args.topic);
    let get = |path: &str| -> anyhow::Result<Value> {
        let reply = send(Method::GET, url, path, Vec::new())?.ok()?;
        Ok(serde_json::from_slice(&reply.body)?)
    };
    let topic = get(&base)?;
    let events = get(&format!("{base}/events"))?;
    let handlers = get(&format!("{base}/handlers"))?;
    if args.json {
        let all = serde_json::json!({"topic": topic, "events": events["events"], "handlers": handlers["handlers"]});
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        print!("{}", render(&topic, &events, &handlers));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(topic: &Value, events: &Value, handlers: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "ID: {}", topic["id"].as_str().unwrap_or(""));
    let _ = writeln!(out, "Level: {}", topic["level"].as_str().unwrap_or(""));
    let _ = writeln!(out, "Collected: {}", topic["collected"]);
    let ids: Vec<&str> = handlers["handlers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["id"].as_str())
        .collect();
    let _ = writeln!(out, "Handlers: [{}]", ids.join(", "));
    let _ = writeln!(out, "Events:");
    let mut events: Vec<&Value> = events["events"].as_array().into_iter().flatten().collect();
    // Oldest first, as Kapacitor prints them (RFC 3339 sorts as time).
    events.sort_by(|a, b| {
        let t = |e: &Value| e["state"]["time"].as_str().unwrap_or("").to_owned();
        t(a).cmp(&t(b))
    });
    let text = |e: &Value, k: &str| e["state"][k].as_str().unwrap_or("").to_owned();
    let id_w = events
        .iter()
        .map(|e| e["id"].as_str().unwrap_or("").chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let msg_w = events
        .iter()
        .map(|e| text(e, "message").chars().count())
        .max()
        .unwrap_or(0)
        .max(7);
    // Kapacitor's columns: `%-{E+1}s%-9s%-{M+1}s%-23s`.
    let _ = writeln!(
        out,
        "{:<id$} {:<8} {:<msg$} {:<23}",
        "Event",
        "Level",
        "Message",
        "Date",
        id = id_w,
        msg = msg_w
    );
    for e in events {
        let mut level = text(e, "level");
        if e["state"]["inhibited"].as_bool() == Some(true) {
            level.push('*');
        }
        let _ = writeln!(
            out,
            "{:<id$} {:<8} {:<msg$} {:<23}",
            e["id"].as_str().unwrap_or(""),
            level,
            text(e, "message"),
            super::show::rfc822(e["state"]["time"].as_str()),
            id = id_w,
            msg = msg_w
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_print_oldest_first_and_inhibited_ones_marked() {
        let topic = serde_json::json!({"id": "cpu", "level": "CRITICAL", "collected": 3});
        let events = serde_json::json!({"events": [
            {"id": "b", "state": {"level": "CRITICAL", "message": "b down", "time": "2024-01-01T00:00:02Z", "inhibited": true}},
            {"id": "a", "state": {"level": "OK", "message": "a ok", "time": "2024-01-01T00:00:01Z", "inhibited": false}},
        ]});
        let handlers = serde_json::json!({"handlers": [{"id": "h1"}, {"id": "h2"}]});
        let text = render(&topic, &events, &handlers);
        assert_eq!(
            text,
            "ID: cpu\nLevel: CRITICAL\nCollected: 3\nHandlers: [h1, h2]\nEvents:\n\
             Event Level    Message Date                   \n\
             a     OK       a ok    01 Jan 24 00:00 UTC    \n\
             b     CRITICAL* b down  01 Jan 24 00:00 UTC    \n"
        );
    }
}
