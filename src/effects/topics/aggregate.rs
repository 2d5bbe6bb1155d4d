//! The `aggregate` handler kind: gathers a topic's events and, every
//! `interval` that had any, publishes one summary event to `topic`: its
//! level, time and duration the highest of the events', its message the
//! `message` template (`{{.Count}}`, `{{.Interval}}`), its details the
//! events' messages one per line, its data all their series (Kapacitor's
//! `aggregateHandler`). A summary keeps the messages and data of its first
//! [`KEEP`] events and counts the rest, so a flood cannot grow it without
//! bound.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use pipeline::nodes::alert::{
    AlertEvent, EventData, Level, Template, TemplateData, TemplateKind, go_duration,
};
use pipeline::{Fields, Name, Tags};

use super::Topics;
use super::handler::{Delivered, TopicHandlerCounters, TopicHandlerSpec};
use crate::effects::action::duration_option;

/// Kapacitor's default message.
const DEFAULT_MESSAGE: &str = "Received {{ .Count }} events in the last {{.Interval}}.";
/// Events of one interval whose message and data a summary keeps (the
/// rest are counted): Kapacitor keeps them all, which a flood turns into
/// unbounded memory and a summary too large to post.
const KEEP: usize = 100;
const KEYS: &[&str] = &["id", "interval", "topic", "message"];

/// An aggregate handler's options.
pub(crate) struct Aggregate {
    /// The summaries' event id.
    id: String,
    interval: Duration,
    /// Where summaries go.
    topic: String,
    message: Template,
}

/// One interval's events so far.
#[derive(Default)]
struct Gathered {
    count: i64,
    level: Level,
    time: i64,
    duration: i64,
    details: Vec<String>,
    data: Vec<EventData>,
    hops: u8,
}

impl Aggregate {
    pub fn from_options(spec: &TopicHandlerSpec) -> Result<Aggregate, String> {
        let o = &spec.options;
        if let Some(k) = o.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!(
                "aggregate handler: unknown option {k:?} (it has {})",
                KEYS.join(", ")
            ));
        }
        let text = |key: &str| match o.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!(
                "aggregate handler: option {key:?} must be a string, not {other}"
            )),
        };
        let interval = duration_option("aggregate", "interval", o.get("interval"))?
            .ok_or("aggregate handler: option \"interval\" is required")?;
        let topic = text("topic")?
            .filter(|t| !t.is_empty())
            .ok_or("aggregate handler: option \"topic\" (where summaries go) is required")?;
        if !config::is_valid_topic(&topic) {
            return Err(format!("aggregate handler: {topic:?} is not a topic name"));
        }
        let message = text("message")?.unwrap_or_else(|| DEFAULT_MESSAGE.to_owned());
        let message = Template::parse(TemplateKind::Aggregate, &message)
            .map_err(|e| format!("aggregate handler: {e}"))?;
        Ok(Aggregate {
            id: text("id")?.unwrap_or_else(|| spec.id.clone()),
            interval,
            topic,
            message,
        })
    }

    /// Starts publishing a summary of what [`Gathering::add`] is given,
    /// every interval that had any, until [`Gathering::stop`].
    pub fn start(self, topics: Weak<Topics>, counters: Arc<TopicHandlerCounters>) -> Gathering {
        let gathering = Gathering {
            gathered: Arc::default(),
            stop: CancellationToken::new(),
        };
        let (gathered, stop) = (gathering.gathered.clone(), gathering.stop.clone());
        crate::effects::runtime().spawn(async move {
            let start = tokio::time::Instant::now() + self.interval;
            let mut ticks = tokio::time::interval_at(start, self.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let g = std::mem::take(&mut *gathered.lock().unwrap_or_else(|e| e.into_inner()));
                if g.count == 0 {
                    continue;
                }
                let Some(topics) = topics.upgrade() else {
                    return;
                };
                let hops = g.hops;
                if hops >= super::publish::MAX_HOPS {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                topics.collect_hop(&self.topic, &self.summary(g), hops + 1);
            }
        });
        gathering
    }

    fn summary(&self, g: Gathered) -> AlertEvent {
        let interval = i64::try_from(self.interval.as_nanos()).unwrap_or(i64::MAX);
        let message = self
            .message
            .render(&TemplateData::of_aggregate(g.count, interval))
            .unwrap_or_else(|e| {
                tracing::warn!("aggregate message: {e}");
                format!(
                    "Received {} events in the last {}.",
                    g.count,
                    go_duration(interval)
                )
            });
        let mut details = g.details.join("\n");
        let kept = g.details.len() as i64;
        if g.count > kept {
            details.push_str(&format!("\n… and {} more", g.count - kept));
        }
        AlertEvent {
            id: self.id.clone(),
            message,
            details,
            time: g.time,
            duration: g.duration,
            level: g.level,
            previous_level: Level::Ok,
            recoverable: true,
            data: EventData::Many(g.data.into()),
            name: Name::from(""),
            task_name: String::new(),
            group: String::new(),
            tags: Tags::from([]),
            fields: Fields::from_pairs([]),
            inhibited: false,
        }
    }
}

/// A running aggregate: what its current interval gathered so far.
pub(crate) struct Gathering {
    gathered: Arc<Mutex<Gathered>>,
    stop: CancellationToken,
}

impl Gathering {
    /// Counts `d` in the current interval.
    pub fn add(&self, d: &Delivered) {
        self.gathered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(d);
    }

    /// Stops publishing summaries (what is gathered is dropped, as
    /// Kapacitor does).
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Gathered {
    fn add(&mut self, d: &Delivered) {
        let e = &d.event;
        self.count += 1;
        self.level = self.level.max(e.level);
        self.time = self.time.max(e.time);
        self.duration = self.duration.max(e.duration);
        self.hops = self.hops.max(d.hops);
        if self.details.len() < KEEP {
            self.details.push(e.message.clone());
            self.data.push(e.data.clone());
        }
    }
}
