//! The `publish` handler kind: hands each event on to other topics
//! (`options: {topics: [system, ops_team]}`), whose own handlers then see
//! it. A chain of topics that publishes back into itself would pass an
//! event around for ever, so an event is republished at most [`MAX_HOPS`]
//! times; past that it is dropped and counted as failed.

use std::sync::atomic::Ordering;

use serde_json::Value;

use super::Topics;
use super::handler::{Delivered, TopicHandlerCounters, TopicHandlerSpec};

/// How many times one event may be republished (by `publish` or
/// `aggregate`) before it is dropped.
pub(crate) const MAX_HOPS: u8 = 8;

/// The topics of a publish handler's options.
pub(crate) fn topics_of(spec: &TopicHandlerSpec) -> Result<Vec<String>, String> {
    if let Some(k) = spec.options.keys().find(|k| *k != "topics") {
        return Err(format!(
            "publish handler: unknown option {k:?} (it has topics)"
        ));
    }
    let topics = match spec.options.get("topics") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(t) if config::is_valid_topic(t) => Ok(t.clone()),
                other => Err(format!("publish handler: {other} is not a topic name")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    if topics.is_empty() {
        return Err("publish handler: option \"topics\" must list at least one topic".into());
    }
    Ok(topics)
}

/// Publishes `d`'s event to each of `targets`.
pub(crate) fn publish(
    topics: &Topics,
    targets: &[String],
    d: &Delivered,
    counters: &TopicHandlerCounters,
) {
    if d.hops >= MAX_HOPS {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            topic = %d.topic,
            event = %d.event.id,
            "event dropped: republished {MAX_HOPS} times already (do topics publish in a loop?)"
        );
        return;
    }
    for target in targets {
        topics.collect_hop(target, &d.event, d.hops + 1);
    }
    counters.sent.fetch_add(1, Ordering::Relaxed);
}
