//! `kapacitor list topics [PATTERN...]` and `kapacitor list topic-handlers
//! [TOPIC-PATTERN] [PATTERN...]`: Kapacitor's columns, one line each.

use std::fmt::Write as _;
use std::process::ExitCode;

use hyper::Method;
use serde_json::Value;

use super::http::send;

/// The topics matching any of `patterns` (globs; none: all), in order and
/// without repeats.
pub fn topics(url: &str, patterns: &[String]) -> anyhow::Result<Vec<Value>> {
    listed(url, "/kapacitor/v1/alerts/topics", "topics", patterns)
}

/// The handlers of `topic` matching any of `patterns` (none: all).
pub fn handlers(url: &str, topic: &str, patterns: &[String]) -> anyhow::Result<Vec<Value>> {
    let path = format!("/kapacitor/v1/alerts/topics/{topic}/handlers");
    listed(url, &path, "handlers", patterns)
}

/// The `member` items of `path`'s list whose ids match any of `patterns`,
/// asking the API once per pattern (`?pattern=`), as Kapacitor's CLI does.
fn listed(url: &str, path: &str, member: &str, patterns: &[String]) -> anyhow::Result<Vec<Value>> {
    let all = [String::new()];
    let patterns = if patterns.is_empty() {
        &all[..]
    } else {
        patterns
    };
    let mut out: Vec<Value> = Vec::new();
    for p in patterns {
        let query = serde_urlencoded::to_string([("pattern", p.as_str())])?;
        let reply = send(Method::GET, url, &format!("{path}?{query}"), Vec::new())?.ok()?;
        let body: Value = serde_json::from_slice(&reply.body)?;
        for item in body[member].as_array().into_iter().flatten() {
            if !out.iter().any(|o| o["id"] == item["id"]) {
                out.push(item.clone());
            }
        }
    }
    Ok(out)
}

/// `list topics`.
pub fn run_topics(url: &str, patterns: &[String], json: bool) -> anyhow::Result<ExitCode> {
    let topics = topics(url, patterns)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "topics": topics }))?
        );
    } else {
        print!("{}", render_topics(&topics));
    }
    Ok(ExitCode::SUCCESS)
}

/// `list topic-handlers`: the first pattern picks topics, the rest ids.
pub fn run_handlers(url: &str, patterns: &[String], json: bool) -> anyhow::Result<ExitCode> {
    let (topic_pattern, id_patterns) = match patterns.split_first() {
        Some((t, rest)) => (std::slice::from_ref(t), rest),
        None => (&[][..], &[][..]),
    };
    let mut rows = Vec::new();
    for t in topics(url, topic_pattern)? {
        let topic = t["id"].as_str().unwrap_or("").to_owned();
        for h in handlers(url, &topic, id_patterns)? {
            rows.push(h);
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "handlers": rows }))?
        );
    } else {
        print!("{}", render_handlers(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

fn text(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or("").to_owned()
}

fn render_topics(topics: &[Value]) -> String {
    let id_w = topics
        .iter()
        .map(|t| text(t, "id").len())
        .max()
        .unwrap_or(0)
        .max(2)
        + 1;
    let level_w = topics
        .iter()
        .map(|t| text(t, "level").len())
        .max()
        .unwrap_or(0)
        .max(8)
        + 1;
    let mut out = format!("{:<id_w$}{:<level_w$}{:>10}\n", "ID", "Level", "Collected");
    for t in topics {
        let _ = writeln!(
            out,
            "{:<id_w$}{:<level_w$}{:>10}",
            text(t, "id"),
            text(t, "level"),
            t["collected"].to_string()
        );
    }
    out
}

fn render_handlers(handlers: &[Value]) -> String {
    let w = |k: &str| {
        handlers
            .iter()
            .map(|h| text(h, k).len())
            .max()
            .unwrap_or(0)
            .max(10)
            + 1
    };
    let (topic_w, id_w, kind_w) = (w("topic"), w("id"), w("kind"));
    let mut out = format!("{:<topic_w$}{:<id_w$}{:<kind_w$}\n", "Topic", "ID", "Kind");
    for h in handlers {
        let _ = writeln!(
            out,
            "{:<topic_w$}{:<id_w$}{:<kind_w$}",
            text(h, "topic"),
            text(h, "id"),
            text(h, "kind")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_as_kapacitors() {
        let topics = [serde_json::json!({"id": "cpu", "level": "CRITICAL", "collected": 12})];
        assert_eq!(
            render_topics(&topics),
            "ID  Level     Collected\ncpu CRITICAL         12\n"
        );
        let handlers = [serde_json::json!({"topic": "cpu", "id": "slack", "kind": "slack"})];
        assert_eq!(
            render_handlers(&handlers),
            "Topic      ID         Kind       \ncpu        slack      slack      \n"
        );
    }
}
