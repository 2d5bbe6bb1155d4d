//! `kapacitor delete topics PATTERN...` (a topic's events; its handlers
//! stay) and `kapacitor delete topic-handlers TOPIC PATTERN...`, patterns
//! being globs as in Kapacitor.

use std::process::ExitCode;

use hyper::Method;

use super::http::send;
use super::list_topics;

/// Deletes the topics matching `patterns`.
pub fn run_topics(url: &str, patterns: &[String], json: bool) -> anyhow::Result<ExitCode> {
    if patterns.is_empty() {
        anyhow::bail!("name the topics to delete: delete topics ID-or-pattern...");
    }
    let mut deleted = Vec::new();
    for t in list_topics::topics(url, patterns)? {
        let id = t["id"].as_str().unwrap_or("").to_owned();
        let path = format!("/kapacitor/v1/alerts/topics/{id}");
        send(Method::DELETE, url, &path, Vec::new())?.ok()?;
        deleted.push(id);
    }
    Ok(super::done(
        json,
        serde_json::json!({"ok": true, "topics": deleted}),
    ))
}

/// Deletes the handlers of `args[0]` matching the other args.
pub fn run_handlers(url: &str, args: &[String], json: bool) -> anyhow::Result<ExitCode> {
    let Some((topic, patterns)) = args.split_first() else {
        anyhow::bail!("name the topic, then the handlers: delete topic-handlers TOPIC ID...");
    };
    if patterns.is_empty() {
        anyhow::bail!("name the handlers to delete: delete topic-handlers {topic} ID...");
    }
    let mut deleted = Vec::new();
    for h in list_topics::handlers(url, topic, patterns)? {
        let id = h["id"].as_str().unwrap_or("").to_owned();
        let path = format!("/kapacitor/v1/alerts/topics/{topic}/handlers/{id}");
        send(Method::DELETE, url, &path, Vec::new())?.ok()?;
        deleted.push(id);
    }
    Ok(super::done(
        json,
        serde_json::json!({"ok": true, "topic": topic, "handlers": deleted}),
    ))
}
