//! A topic handler: its definition (Kapacitor's handler spec: `id`, `topic`,
//! `kind`, `match`, `options`), what its kind does, and the running handler,
//! an [`EffectWorker`] of its own on the shared effects runtime, so a slow
//! or failing handler fills and drops its own queue (counted) and never
//! holds up the topic or the other handlers.
//!
//! Kinds: `post`, `tcp`, `log` and `exec` run the same [`Action`] as a
//! script's handlers, each on a queue of its own; `aggregate` and `publish`
//! are Kapacitor's topic-only kinds ([`super::aggregate`],
//! [`super::publish`]), which only compute, so they run on their topic's
//! lane ([`super::lane`]) without a task (and a wake-up per event) each. The kinds of
//! Kapacitor's handler catalogue that this build lacks are accepted, as
//! Kapacitor accepts a handler whose service is disabled, and every event
//! they are given counts as failed with the reason logged.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use pipeline::nodes::alert::AlertEvent;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Topics;
use super::aggregate::Aggregate;
use super::matcher::Matcher;
use crate::effects::EffectWorker;
use crate::effects::action::{self, Action};
use crate::effects::delay::{DelayHistogram, DelaySnapshot};
use crate::effects::endpoints::HttpEndpoints;

/// Kapacitor's handler kinds this build does not have yet (the handler
/// catalogue).
const CATALOGUE: &[&str] = &[
    "alerta",
    "bigpanda",
    "discord",
    "email",
    "hipchat",
    "kafka",
    "mqtt",
    "opsgenie",
    "opsgenie2",
    "pagerduty",
    "pagerduty2",
    "pushover",
    "sensu",
    "servicenow",
    "slack",
    "smtp",
    "snmptrap",
    "talk",
    "teams",
    "telegram",
    "victorops",
    "zenoss",
];

/// A topic handler as defined: Kapacitor's handler spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopicHandlerSpec {
    pub id: String,
    #[serde(default)]
    pub topic: String,
    pub kind: String,
    #[serde(default, rename = "match")]
    pub match_expr: String,
    #[serde(default)]
    pub options: Map<String, Value>,
}

impl TopicHandlerSpec {
    /// What Kapacitor refuses of any handler: bad ids and topics, no kind.
    pub fn validate(&self) -> Result<(), String> {
        if !config::is_valid_topic(&self.topic) {
            return Err(format!(
                "handler topic must contain only letters, numbers, '-', ':', '.' and '_': {:?}",
                self.topic
            ));
        }
        if !config::is_valid_handler_id(&self.id) {
            return Err(format!(
                "handler ID must contain only letters, numbers, '-', '.' and '_': {:?}",
                self.id
            ));
        }
        if self.kind.is_empty() {
            return Err("handler kind must not be empty".into());
        }
        Ok(())
    }
}

/// What a handler's kind does with the events it is given.
pub(crate) enum Work {
    Action(Action),
    Aggregate(Aggregate),
    Publish(Vec<String>),
    /// A kind of Kapacitor's this build lacks; why.
    Unavailable(String),
}

impl Work {
    /// The work of `spec`'s kind and options, or why there is none.
    pub fn of(spec: &TopicHandlerSpec, endpoints: &HttpEndpoints) -> Result<Work, String> {
        let kind = spec.kind.as_str();
        if action::KINDS.contains(&kind) {
            return Action::from_options(kind, &spec.options, endpoints).map(Work::Action);
        }
        match kind {
            "aggregate" => Aggregate::from_options(spec).map(Work::Aggregate),
            "publish" => super::publish::topics_of(spec).map(Work::Publish),
            _ if CATALOGUE.contains(&kind) => Ok(Work::Unavailable(format!(
                "the {kind} handler is not available in this build yet (post, tcp, log, exec, \
                 aggregate and publish are); its events count as failed"
            ))),
            _ => Err(format!("unsupported handler kind {kind:?}")),
        }
    }
}

/// What became of the events a handler was given.
#[derive(Debug, Default)]
pub struct TopicHandlerCounters {
    /// Events its match expression let through (all, without one).
    pub matched: AtomicU64,
    /// Events its match expression refused.
    pub unmatched: AtomicU64,
    /// Events whose match expression failed (a tag it reads is missing).
    pub match_errors: AtomicU64,
    /// Events handled: sent, written, run, aggregated or published.
    pub sent: AtomicU64,
    /// Events whose handling failed (each failure is logged).
    pub failed: AtomicU64,
    /// Events refused by a full queue, or still queued at a stop.
    pub dropped: AtomicU64,
    /// From publication to the handler taking the event.
    pub delay: DelayHistogram,
}

/// A snapshot of [`TopicHandlerCounters`], as the API shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TopicHandlerStats {
    pub matched: u64,
    pub unmatched: u64,
    pub match_errors: u64,
    pub sent: u64,
    pub failed: u64,
    pub dropped: u64,
    /// Delays from publication to the handler, in milliseconds.
    pub delay_ms_p50: Option<f64>,
    pub delay_ms_p99: Option<f64>,
    #[serde(skip)]
    pub delay: DelaySnapshot,
}

impl TopicHandlerCounters {
    pub fn snapshot(&self) -> TopicHandlerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let delay = self.delay.snapshot();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        TopicHandlerStats {
            matched: get(&self.matched),
            unmatched: get(&self.unmatched),
            match_errors: get(&self.match_errors),
            sent: get(&self.sent),
            failed: get(&self.failed),
            dropped: get(&self.dropped),
            delay_ms_p50: delay.quantile(0.5).map(ms),
            delay_ms_p99: delay.quantile(0.99).map(ms),
            delay,
        }
    }
}

/// One event of a topic as its handlers get it: shared by all of them,
/// its JSON rendered once, by the first handler that needs it (off the
/// data path).
pub(crate) struct Delivered {
    pub topic: Arc<str>,
    /// With `previous_level` from the topic.
    pub event: AlertEvent,
    /// When it was published.
    pub at: Instant,
    /// Times it was republished (`publish`, `aggregate`) to get here.
    pub hops: u8,
    json: OnceLock<Arc<str>>,
}

impl Delivered {
    pub fn new(topic: Arc<str>, event: AlertEvent, at: Instant, hops: u8) -> Self {
        Delivered {
            topic,
            event,
            at,
            hops,
            json: OnceLock::new(),
        }
    }

    /// Kapacitor's `alert.Data` JSON of the event.
    pub fn json(&self) -> &Arc<str> {
        self.json.get_or_init(|| Arc::from(self.event.to_json()))
    }
}

/// How a handler runs.
enum Runner {
    /// Its own bounded queue and loop: kinds that wait on I/O.
    Queued(EffectWorker<Arc<Delivered>>),
    /// On its topic's lane ([`super::lane`]): kinds that only compute.
    Inline(Inline),
    /// A kind this build lacks; why its events fail.
    Unavailable(String),
}

/// What an inline kind does.
pub(crate) enum Inline {
    Publish(Vec<String>),
    Aggregate(super::aggregate::Gathering),
}

/// A handler running on the effects runtime.
pub(crate) struct RunningHandler {
    pub spec: TopicHandlerSpec,
    pub counters: Arc<TopicHandlerCounters>,
    runner: Runner,
    /// The first failure is logged as a warning, the rest at debug level.
    warned: Arc<AtomicBool>,
    /// Defined by a file of the tasks directory.
    pub from_file: bool,
}

impl RunningHandler {
    /// Starts `spec`'s `work` with a queue of `queue` events.
    pub fn start(
        spec: TopicHandlerSpec,
        work: Work,
        queue: usize,
        topics: Weak<Topics>,
        from_file: bool,
    ) -> RunningHandler {
        let counters = Arc::new(TopicHandlerCounters::default());
        let warned = Arc::new(AtomicBool::new(false));
        let who = Arc::<str>::from(format!("{}/{}", spec.topic, spec.id));
        let runner = match work {
            Work::Unavailable(why) => Runner::Unavailable(why),
            Work::Action(action) => {
                let (action, counters, warned) =
                    (Arc::new(action), counters.clone(), warned.clone());
                Runner::Queued(EffectWorker::each(
                    queue,
                    |_| 1,
                    move |d: Arc<Delivered>| {
                        let (action, counters, warned, who) = (
                            action.clone(),
                            counters.clone(),
                            warned.clone(),
                            who.clone(),
                        );
                        async move {
                            counters.delay.record(d.at.elapsed());
                            match action.run(d.json()).await {
                                Ok(()) => {
                                    counters.sent.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => {
                                    counters.failed.fetch_add(1, Ordering::Relaxed);
                                    warn_once(&warned, &who, &e);
                                }
                            }
                        }
                    },
                ))
            }
            Work::Publish(targets) => Runner::Inline(Inline::Publish(targets)),
            Work::Aggregate(aggregate) => {
                Runner::Inline(Inline::Aggregate(aggregate.start(topics, counters.clone())))
            }
        };
        RunningHandler {
            spec,
            counters,
            runner,
            warned,
            from_file,
        }
    }

    /// Whether it runs on its topic's lane rather than a queue of its own.
    pub fn is_inline(&self) -> bool {
        matches!(self.runner, Runner::Inline(_))
    }

    /// Why its events fail, when its kind is missing.
    pub fn unavailable(&self) -> Option<&str> {
        match &self.runner {
            Runner::Unavailable(why) => Some(why),
            _ => None,
        }
    }

    /// Queues `event` without waiting; a full queue drops it (counted).
    /// Inline kinds get their events from the lane instead.
    pub fn offer(&self, event: &Arc<Delivered>) {
        self.counters.matched.fetch_add(1, Ordering::Relaxed);
        match &self.runner {
            Runner::Queued(worker) => {
                if worker.offer(event.clone(), 1).is_err() {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Runner::Unavailable(why) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                let who = format!("{}/{}", self.spec.topic, self.spec.id);
                warn_once(&self.warned, &who, why);
            }
            Runner::Inline(_) => {}
        }
    }

    /// Handles `event` now, on the lane: an inline kind's work.
    pub fn run_inline(&self, event: &Delivered, topics: &Topics) {
        self.counters.delay.record(event.at.elapsed());
        match &self.runner {
            Runner::Inline(Inline::Publish(targets)) => {
                super::publish::publish(topics, targets, event, &self.counters);
            }
            Runner::Inline(Inline::Aggregate(gathering)) => {
                gathering.add(event);
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            Runner::Queued(_) | Runner::Unavailable(_) => {}
        }
    }

    /// Lets the handler finish what is queued until `deadline`, then
    /// abandons the rest (counted as dropped).
    pub fn close(&self, deadline: Instant) {
        let worker = match &self.runner {
            Runner::Queued(worker) => worker,
            Runner::Inline(Inline::Aggregate(g)) => return g.stop(),
            _ => return,
        };
        let abandoned = worker.close(deadline);
        if abandoned > 0 {
            self.counters
                .dropped
                .fetch_add(abandoned, Ordering::Relaxed);
            tracing::warn!(
                topic = %self.spec.topic,
                handler = %self.spec.id,
                "{abandoned} events not handled: the handler stopped"
            );
        }
    }
}

/// Logs a handler's failure: the first as a warning, later ones at debug
/// level (a dead endpoint would otherwise log every event).
fn warn_once(warned: &AtomicBool, who: &str, error: &str) {
    if warned.swap(true, Ordering::Relaxed) {
        tracing::debug!(handler = who, "topic handler failed: {error}");
    } else {
        tracing::warn!(
            handler = who,
            "topic handler failed: {error} (further failures are counted, and logged at debug level)"
        );
    }
}

/// A running handler in its topic, with its match expression (evaluated
/// under the topic's lock, so its state needs no lock of its own).
pub(crate) struct Slot {
    pub handler: Arc<RunningHandler>,
    pub matcher: Option<Matcher>,
}

impl Slot {
    /// Whether `event` goes to this handler, counting the refusals.
    pub fn wants(&mut self, event: &AlertEvent, changed: bool) -> bool {
        let Some(m) = &mut self.matcher else {
            return true;
        };
        let counters = &self.handler.counters;
        match m.matches(event, changed) {
            Ok(true) => true,
            Ok(false) => {
                counters.unmatched.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(e) => {
                counters.match_errors.fetch_add(1, Ordering::Relaxed);
                let who = format!("{}/{}", self.handler.spec.topic, self.handler.spec.id);
                warn_once(
                    &self.handler.warned,
                    &who,
                    &format!("match expression: {e}"),
                );
                false
            }
        }
    }
}
