//! Alert handlers: where an alert node's events go (`.post()`, `.tcp()`,
//! `.log()`, `.exec()`, and its `.topic()`), and the server's bounded
//! alert history.
//!
//! Publishing an event only renders its JSON once and offers it to each
//! handler's bounded queue, an [`EffectWorker`] on the shared effects
//! runtime that does the I/O. A slow or dead endpoint fills its own queue
//! and then loses events (counted), never holding up points or the other
//! handlers; every action has a timeout, and stopping a task abandons what
//! its handlers have not sent by the deadline it is given.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::effects::EffectWorker;
use crate::effects::action::Action;
use crate::effects::endpoints::HttpEndpoints;
use crate::effects::topics::{TopicSink, Topics};

use dsl::HandlerSpec;
use pipeline::nodes::alert::{AlertEvent, AlertSink};
use pipeline::spec::BuildError;
use serde::Serialize;

/// Events a handler may have waiting before new ones are dropped.
pub(crate) const QUEUE_EVENTS: usize = 1000;
/// Events the server remembers for `/kapacitor/v1/alerts`.
const HISTORY_EVENTS: usize = 1000;

/// One remembered event.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryEntry {
    pub task: String,
    pub id: String,
    pub level: String,
    pub message: String,
    pub time: String,
    /// The event as handlers received it, kept as rendered and parsed only
    /// when the history is read: publishing is on the data path.
    #[serde(serialize_with = "as_json")]
    pub event: Arc<str>,
    /// An alert inhibited it (`.inhibit()`): recorded, not handled.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub inhibited: bool,
}

fn as_json<S: serde::Serializer>(json: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    serde_json::from_str::<serde_json::Value>(json)
        .unwrap_or_default()
        .serialize(s)
}

/// The last events of every task, oldest first.
#[derive(Debug, Default)]
pub struct AlertHistory {
    events: Mutex<VecDeque<HistoryEntry>>,
    /// Events published since start, including those the bound pushed out.
    published: AtomicU64,
}

impl AlertHistory {
    fn push(&self, event: &AlertEvent, json: &Arc<str>) {
        let entry = HistoryEntry {
            task: event.task_name.clone(),
            id: event.id.clone(),
            level: event.level.as_str().to_string(),
            message: event.message.clone(),
            time: pipeline::time::format_rfc3339(event.time),
            event: json.clone(),
            inhibited: event.inhibited,
        };
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if events.len() == HISTORY_EVENTS {
            events.pop_front();
        }
        events.push_back(entry);
        self.published.fetch_add(1, Ordering::Release);
    }

    /// How many events were published since the server started.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Acquire)
    }

    /// Recent events, newest last, optionally of one task and one level.
    pub fn recent(&self, task: Option<&str>, level: Option<&str>) -> Vec<HistoryEntry> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events
            .iter()
            .filter(|e| task.is_none_or(|t| e.task == t))
            .filter(|e| level.is_none_or(|l| e.level.eq_ignore_ascii_case(l)))
            .cloned()
            .collect()
    }
}

/// Counters of one handler.
#[derive(Debug, Default)]
pub struct HandlerCounters {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    /// Refused by a full queue, or still queued when the task stopped
    /// and its deadline passed.
    pub dropped: AtomicU64,
}

struct Handler {
    kind: String,
    worker: EffectWorker<Arc<str>>,
    counters: Arc<HandlerCounters>,
}

/// An alert node's handlers, plus the server's history and the node's
/// topic: the node's sink.
pub struct HandlerSet {
    handlers: Vec<Handler>,
    history: Arc<AlertHistory>,
    topic: Option<TopicSink>,
}

impl HandlerSet {
    /// Starts a worker per handler of an alert node (on the effects
    /// runtime: no thread of its own).
    pub fn start(
        node: &str,
        specs: &[HandlerSpec],
        endpoints: &HttpEndpoints,
        history: Arc<AlertHistory>,
    ) -> Result<Self, BuildError> {
        let actions: Vec<(&HandlerSpec, Action)> = specs
            .iter()
            .map(|h| Action::from_spec(node, h, endpoints).map(|a| (h, a)))
            .collect::<Result<_, _>>()?;
        let handlers = actions
            .into_iter()
            .map(|(h, action)| {
                let counters = Arc::new(HandlerCounters::default());
                let worker = EffectWorker::each(QUEUE_EVENTS, |_| 1, {
                    let (action, counters) = (Arc::new(action), counters.clone());
                    move |json: Arc<str>| {
                        let (action, counters) = (action.clone(), counters.clone());
                        async move { handle(&action, &json, &counters).await }
                    }
                });
                Handler {
                    kind: h.kind.clone(),
                    worker,
                    counters,
                }
            })
            .collect();
        Ok(HandlerSet {
            handlers,
            history,
            topic: None,
        })
    }

    /// Whether `specs` would start: what [`HandlerSet::start`] refuses,
    /// without starting anything.
    pub fn check(
        node: &str,
        specs: &[HandlerSpec],
        endpoints: &HttpEndpoints,
    ) -> Result<(), BuildError> {
        for h in specs {
            Action::from_spec(node, h, endpoints)?;
        }
        Ok(())
    }

    /// Lets every handler send what is queued until `deadline`, then
    /// abandons the rest (counted as dropped).
    pub fn close(&self, node: &str, deadline: Instant) {
        for h in &self.handlers {
            let abandoned = h.worker.close(deadline);
            if abandoned > 0 {
                h.counters.dropped.fetch_add(abandoned, Ordering::Relaxed);
                tracing::warn!(
                    node,
                    "{abandoned} events not sent by .{}(): the task stopped",
                    h.kind
                );
            }
        }
    }

    /// (kind, counters) of each handler.
    pub fn counters(&self) -> Vec<(String, Arc<HandlerCounters>)> {
        self.handlers
            .iter()
            .map(|h| (h.kind.clone(), h.counters.clone()))
            .collect()
    }
}

impl AlertSink for HandlerSet {
    fn publish(&self, event: &AlertEvent) {
        let json: Arc<str> = Arc::from(event.to_json());
        self.history.push(event, &json);
        if let Some(topic) = &self.topic {
            topic.publish(event);
        }
        if event.inhibited {
            return;
        }
        for h in &self.handlers {
            if h.worker.offer(json.clone(), 1).is_err() {
                h.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn handle(action: &Action, json: &str, counters: &HandlerCounters) {
    match action.run(json).await {
        Ok(()) => {
            counters.sent.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("alert handler failed: {e}");
        }
    }
}

/// The handler sets of one task's alert nodes: one set per node (shared by
/// its parallel instances), closed together when the task stops.
pub struct HandlerRegistry {
    history: Arc<AlertHistory>,
    endpoints: HttpEndpoints,
    sets: Mutex<Vec<(String, Arc<HandlerSet>)>>,
    /// Whether handlers act; without, events only reach the history.
    fire: bool,
    /// Where `.topic()` publishes; `None`: nowhere.
    topics: Option<Arc<Topics>>,
}

impl HandlerRegistry {
    pub fn new(history: Arc<AlertHistory>) -> Self {
        HandlerRegistry {
            history,
            endpoints: HttpEndpoints::default(),
            sets: Mutex::default(),
            fire: true,
            topics: None,
        }
    }

    /// Alert nodes with a `.topic()` publish to `topics` (when they fire).
    pub fn with_topics(mut self, topics: Arc<Topics>) -> Self {
        self.topics = Some(topics);
        self
    }

    /// Handlers that never act: events are kept in `history` only (a
    /// replay's alerts, shown rather than sent).
    pub fn capturing(history: Arc<AlertHistory>) -> Self {
        HandlerRegistry {
            fire: false,
            ..HandlerRegistry::new(history)
        }
    }

    /// Where `.post().endpoint(NAME)` finds its endpoint.
    pub fn with_endpoints(mut self, endpoints: HttpEndpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// The sink of alert node `spec`, started on first use.
    pub fn sink_for(&self, spec: &dsl::NodeSpec) -> Result<Arc<dyn AlertSink>, BuildError> {
        let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, set)) = sets.iter().find(|(name, _)| *name == spec.name) {
            return Ok(set.clone());
        }
        let handlers = if self.fire { &spec.handlers[..] } else { &[] };
        let topic = match (&self.topics, self.fire) {
            (Some(topics), true) => pipeline::nodes::alert::topic_of(spec)?
                .map(|name| TopicSink::new(topics.clone(), &name)),
            _ => None,
        };
        let mut set =
            HandlerSet::start(&spec.name, handlers, &self.endpoints, self.history.clone())?;
        set.topic = topic;
        let set = Arc::new(set);
        sets.push((spec.name.clone(), set.clone()));
        Ok(set)
    }

    /// Lets every handler send what is queued until `deadline` (one for
    /// all of them: stopping never takes longer), then abandons the rest.
    pub fn close_all(&self, deadline: Instant) {
        let sets = std::mem::take(&mut *self.sets.lock().unwrap_or_else(|e| e.into_inner()));
        for (node, set) in sets {
            set.close(&node, deadline);
        }
    }
}
