//! Alert topics, Kapacitor's way of routing alerts: alert nodes with
//! `.topic(NAME)` publish their events to a topic; topic handlers, defined
//! through the API, `kapacitor define-topic-handler` or files in the tasks
//! directory, subscribe to a topic with an optional `match` expression.
//!
//! A topic keeps, per event id, the latest event and the earlier levels it
//! went through, and knows its highest level ([`topic`]); it is saved to the store off
//! the data path ([`persist`]). Publishing an event records it and offers
//! it to each handler whose match expression it passes, all under the
//! topic's lock, so every handler sees a topic's events in the order they
//! were recorded. Each handler is a bounded queue on the shared effects
//! runtime ([`handler`]): a slow one drops its own events (counted), never
//! anyone else's. Inhibited events are recorded, marked, and given to no
//! handler.
//!
//! Not here: deciding what is an event (the alert node, in `pipeline`),
//! inhibitors (`pipeline::nodes::alert::inhibit`), the HTTP API
//! (`api::topics`).

mod aggregate;
pub mod handler;
mod lane;
mod matcher;
mod persist;
mod publish;
pub mod topic;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Instant;

use model::IdPattern;
use pipeline::nodes::alert::{AlertEvent, Level};
use storage::{Store, TopicHandlerRecord, TopicOp};

pub use handler::{TopicHandlerSpec, TopicHandlerStats};
pub use persist::TopicStoreCounts;
pub use topic::{EventState, PastEvent};

use handler::{Delivered, RunningHandler, Slot, Work};
use lane::{Lane, LaneItem};
use matcher::Matcher;
use persist::TopicWriter;
use topic::{EventEntry, TopicState};

use crate::effects::endpoints::HttpEndpoints;

/// How topics behave: the config's `topics` section, with what handlers
/// need from the rest of the config.
#[derive(Debug, Clone)]
pub struct TopicSettings {
    /// Event ids a topic keeps at most.
    pub max_events: usize,
    /// Earlier levels kept per event id.
    pub history: usize,
    /// Events a handler may have waiting before new ones are dropped.
    pub handler_queue: usize,
    /// Whether topic events are saved to the store.
    pub persist: bool,
    /// What a match expression may cost.
    pub limits: dsl::Limits,
    /// The config's named endpoints, for `post` handlers' `endpoint`.
    pub endpoints: HttpEndpoints,
}

impl Default for TopicSettings {
    fn default() -> Self {
        let c = config::TopicsConfig::default();
        TopicSettings {
            max_events: c.max_events,
            history: c.history,
            handler_queue: c.handler_queue,
            persist: c.persist,
            limits: dsl::Limits::default(),
            endpoints: HttpEndpoints::default(),
        }
    }
}

/// Why a handler or topic request failed.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("{0}")]
    Invalid(String),
    #[error("handler {id:?} already exists in topic {topic:?}")]
    Exists { topic: String, id: String },
    #[error("unknown handler {id:?} in topic {topic:?}")]
    NotFound { topic: String, id: String },
    #[error("{0}")]
    Store(#[from] storage::StoreError),
}

/// Lanes for the inline handler kinds: one per effects thread.
const LANES: usize = 2;

/// One topic: its name, its state, and the lane its inline handlers run on.
pub(crate) struct Topic {
    id: Arc<str>,
    state: Mutex<TopicState>,
    lane: usize,
}

impl Topic {
    fn new(id: &str) -> Arc<Topic> {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let hash = BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one(id);
        Arc::new(Topic {
            id: Arc::from(id),
            state: Mutex::default(),
            lane: (hash % LANES as u64) as usize,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TopicState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A topic as the API lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicInfo {
    pub id: String,
    /// The highest level of its events.
    pub level: Level,
    pub collected: u64,
    pub events: usize,
    pub handlers: Vec<String>,
}

/// One event id of a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct EventInfo {
    pub id: String,
    pub state: EventState,
    /// Oldest first.
    pub history: Vec<PastEvent>,
}

/// A handler as the API shows it.
#[derive(Debug, Clone)]
pub struct HandlerInfo {
    pub spec: TopicHandlerSpec,
    pub stats: TopicHandlerStats,
    /// Why its events fail, when its kind or options cannot run here.
    pub error: Option<String>,
    pub from_file: bool,
}

/// Every topic of a server.
/// Topics by name (foldhash: looked up on every event).
type TopicMap = HashMap<Arc<str>, Arc<Topic>, foldhash::fast::RandomState>;

pub struct Topics {
    topics: RwLock<TopicMap>,
    settings: TopicSettings,
    store: Option<Arc<Store>>,
    writer: Option<TopicWriter>,
    /// Topics with events the store has not seen.
    dirty: Mutex<HashSet<Arc<str>>>,
    /// Removals to commit before the dirty events.
    removals: Mutex<Vec<TopicOp>>,
    lanes: Vec<Lane>,
    me: Weak<Topics>,
    /// Events published while the topics were closing.
    late: AtomicU64,
    closed: std::sync::atomic::AtomicBool,
    /// Handler files of the tasks directory that do not read, by path.
    file_errors: Mutex<BTreeMap<String, String>>,
}

impl Topics {
    /// Topics kept in memory only (tests, replays).
    pub fn in_memory(settings: TopicSettings) -> Arc<Topics> {
        Topics::build(settings, None)
    }

    /// Topics whose handlers are kept in `store`, and their events too
    /// when `settings.persist`.
    pub fn with_store(settings: TopicSettings, store: Arc<Store>) -> Arc<Topics> {
        Topics::build(settings, Some(store))
    }

    fn build(settings: TopicSettings, store: Option<Arc<Store>>) -> Arc<Topics> {
        Arc::new_cyclic(|me: &Weak<Topics>| Topics {
            topics: RwLock::default(),
            writer: store
                .as_ref()
                .filter(|_| settings.persist)
                .map(|s| TopicWriter::start(s.clone(), me.clone())),
            settings,
            store,
            dirty: Mutex::default(),
            removals: Mutex::default(),
            lanes: (0..LANES).map(|_| Lane::start(me.clone())).collect(),
            me: me.clone(),
            late: AtomicU64::new(0),
            closed: std::sync::atomic::AtomicBool::new(false),
            file_errors: Mutex::default(),
        })
    }

    /// Takes back the topics' events and handlers from the store. A stored
    /// handler that no longer starts (its config endpoint is gone, say) is
    /// kept, its events failing with the reason, rather than lost.
    pub fn restore(&self) -> Result<(usize, usize), storage::StoreError> {
        let Some(store) = &self.store else {
            return Ok((0, 0));
        };
        let mut events = 0;
        if self.settings.persist {
            for (topic, id, record) in store.topic_events()? {
                let Some(entry) = EventEntry::from_record(record) else {
                    continue;
                };
                self.topic_or_new(&topic).lock().restore(&id, entry);
                events += 1;
            }
        } else {
            // Kept from a run that saved them: stale now.
            let stale: HashSet<String> = store.topic_events()?.into_iter().map(|r| r.0).collect();
            let ops: Vec<TopicOp> = stale
                .into_iter()
                .map(|topic| TopicOp::RemoveTopic { topic })
                .collect();
            store.apply_topic_ops(&ops)?;
        }
        let records = store.topic_handlers()?;
        let handlers = records.len();
        for r in records {
            let spec = TopicHandlerSpec {
                id: r.id,
                topic: r.topic,
                kind: r.kind,
                match_expr: r.match_expr,
                options: r.options,
            };
            let slot = self.start(spec.clone(), r.from_file).unwrap_or_else(|e| {
                tracing::error!(
                    topic = %spec.topic,
                    handler = %spec.id,
                    "stored topic handler cannot run: {e}; its events will fail until it is redefined"
                );
                self.unavailable(spec, e, r.from_file)
            });
            self.install(slot);
        }
        Ok((events, handlers))
    }

    fn topic(&self, id: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    fn topic_or_new(&self, id: &str) -> Arc<Topic> {
        if let Some(t) = self.topic(id) {
            return t;
        }
        self.topics
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(Arc::from(id))
            .or_insert_with(|| Topic::new(id))
            .clone()
    }

    /// Records `event` in `topic` and hands it to the handlers it matches.
    /// Called on the data path: it never waits for a handler.
    pub fn collect(&self, topic: &str, event: &AlertEvent) {
        self.collect_hop(topic, event, 0);
    }

    /// [`Topics::collect`] of an event republished `hops` times.
    pub(crate) fn collect_hop(&self, topic: &str, event: &AlertEvent, hops: u8) {
        if self.closed.load(Ordering::Relaxed) {
            self.late.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let topic = self.topic_or_new(topic);
        let mut st = topic.lock();
        let was_clean = st.dirty.is_empty() && st.removed.is_empty();
        let previous = st.record(event, self.settings.history, self.settings.max_events);
        if was_clean && self.writer.is_some() {
            self.dirty
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(topic.id.clone());
        }
        if event.inhibited || st.handlers.is_empty() {
            return;
        }
        let previous = previous.unwrap_or_default();
        let changed = previous != event.level;
        let mut delivered: Option<Arc<Delivered>> = None;
        let mut inline = Vec::new();
        for slot in st.handlers.iter_mut() {
            if !slot.wants(event, changed) {
                continue;
            }
            let d = delivered.get_or_insert_with(|| {
                let mut e = event.clone();
                e.previous_level = previous;
                Arc::new(Delivered::new(topic.id.clone(), e, Instant::now(), hops))
            });
            if slot.handler.is_inline() {
                inline.push(slot.handler.clone());
            } else {
                slot.handler.offer(d);
            }
        }
        // Still under the topic's lock: the lane gets its events in order.
        if let (Some(delivered), false) = (delivered, inline.is_empty()) {
            self.lanes[topic.lane].offer(LaneItem {
                delivered,
                handlers: inline,
            });
        }
    }

    /// What the store has not seen: removals first, then the latest state
    /// of each dirty event.
    pub(crate) fn take_dirty(&self) -> Vec<TopicOp> {
        let mut ops = std::mem::take(&mut *self.removals.lock().unwrap_or_else(|e| e.into_inner()));
        let names = std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|e| e.into_inner()));
        for name in names {
            let Some(topic) = self.topic(&name) else {
                continue;
            };
            let mut st = topic.lock();
            for id in std::mem::take(&mut st.removed) {
                ops.push(TopicOp::Remove {
                    topic: name.to_string(),
                    id: id.to_string(),
                });
            }
            for id in std::mem::take(&mut st.dirty) {
                if let Some(e) = st.events.get(&id) {
                    ops.push(TopicOp::Put {
                        topic: name.to_string(),
                        id: id.to_string(),
                        record: e.to_record(),
                    });
                }
            }
        }
        ops
    }

    // ---- handlers ----------------------------------------------------------

    /// Builds and starts `spec`'s handler, or says why it cannot run.
    fn start(&self, spec: TopicHandlerSpec, from_file: bool) -> Result<Slot, String> {
        spec.validate()?;
        let matcher = match spec.match_expr.trim() {
            "" => None,
            m => Some(Matcher::new(m, &self.settings.limits)?),
        };
        let work = Work::of(&spec, &self.settings.endpoints)?;
        let handler = RunningHandler::start(
            spec,
            work,
            self.settings.handler_queue,
            self.me.clone(),
            from_file,
        );
        Ok(Slot {
            handler: Arc::new(handler),
            matcher,
        })
    }

    /// A stored handler that cannot run: its events fail with `why`.
    fn unavailable(&self, spec: TopicHandlerSpec, why: String, from_file: bool) -> Slot {
        let handler = RunningHandler::start(
            spec,
            Work::Unavailable(why),
            self.settings.handler_queue,
            self.me.clone(),
            from_file,
        );
        Slot {
            handler: Arc::new(handler),
            matcher: None,
        }
    }

    /// Puts `slot` in its topic, replacing the handler of the same id;
    /// returns the one replaced.
    fn install(&self, slot: Slot) -> Option<Arc<RunningHandler>> {
        let topic = self.topic_or_new(&slot.handler.spec.topic);
        let mut st = topic.lock();
        let id = slot.handler.spec.id.clone();
        match st.handlers.binary_search_by(|s| s.handler.spec.id.cmp(&id)) {
            Ok(at) => Some(std::mem::replace(&mut st.handlers[at], slot).handler),
            Err(at) => {
                st.handlers.insert(at, slot);
                None
            }
        }
    }

    fn uninstall(&self, topic: &str, id: &str) -> Option<Arc<RunningHandler>> {
        let t = self.topic(topic)?;
        let mut st = t.lock();
        let at = st
            .handlers
            .binary_search_by(|s| s.handler.spec.id.as_str().cmp(id))
            .ok()?;
        Some(st.handlers.remove(at).handler)
    }

    fn running(&self, topic: &str, id: &str) -> Option<Arc<RunningHandler>> {
        let t = self.topic(topic)?;
        let st = t.lock();
        st.handlers
            .iter()
            .find(|s| s.handler.spec.id == id)
            .map(|s| s.handler.clone())
    }

    fn save(&self, spec: &TopicHandlerSpec, from_file: bool) -> Result<(), TopicError> {
        if let Some(store) = &self.store {
            store.put_topic_handler(&TopicHandlerRecord {
                id: spec.id.clone(),
                topic: spec.topic.clone(),
                kind: spec.kind.clone(),
                match_expr: spec.match_expr.clone(),
                options: spec.options.clone(),
                from_file,
            })?;
        }
        Ok(())
    }

    /// Defines a new handler (`POST .../handlers`); refuses an id in use.
    pub fn create_handler(&self, spec: TopicHandlerSpec) -> Result<HandlerInfo, TopicError> {
        if self.running(&spec.topic, &spec.id).is_some() {
            return Err(TopicError::Exists {
                topic: spec.topic,
                id: spec.id,
            });
        }
        self.put_handler(spec, false)
    }

    /// Replaces handler `id` of `topic` with `spec` (`PUT`, `PATCH`), which
    /// may rename it but not move it to another topic.
    pub fn replace_handler(
        &self,
        topic: &str,
        id: &str,
        spec: TopicHandlerSpec,
    ) -> Result<HandlerInfo, TopicError> {
        let Some(old) = self.running(topic, id) else {
            return Err(TopicError::NotFound {
                topic: topic.to_owned(),
                id: id.to_owned(),
            });
        };
        if spec.topic != topic {
            return Err(TopicError::Invalid("cannot change topic in update".into()));
        }
        if spec.id != id && self.running(topic, &spec.id).is_some() {
            return Err(TopicError::Exists {
                topic: spec.topic,
                id: spec.id,
            });
        }
        let info = self.put_handler(spec.clone(), old.from_file)?;
        if spec.id != id {
            self.delete_handler(topic, id)?;
        }
        Ok(info)
    }

    /// Creates or replaces `spec`'s handler: what `kapacitor
    /// define-topic-handler` and the tasks directory do.
    pub fn put_handler(
        &self,
        spec: TopicHandlerSpec,
        from_file: bool,
    ) -> Result<HandlerInfo, TopicError> {
        let slot = self
            .start(spec.clone(), from_file)
            .map_err(TopicError::Invalid)?;
        if let Err(e) = self.save(&spec, from_file) {
            slot.handler.close(Instant::now());
            return Err(e);
        }
        let info = info_of(&slot.handler);
        if let Some(old) = self.install(slot) {
            close_soon(old);
        }
        Ok(info)
    }

    /// Deletes a handler; `false` when there was none.
    pub fn delete_handler(&self, topic: &str, id: &str) -> Result<bool, TopicError> {
        if let Some(store) = &self.store {
            store.delete_topic_handler(topic, id)?;
        }
        let Some(old) = self.uninstall(topic, id) else {
            return Ok(false);
        };
        // A topic kept only for this handler goes with it.
        if let Some(t) = self.topic(topic) {
            let st = t.lock();
            if st.handlers.is_empty() && st.events.is_empty() && st.collected == 0 {
                drop(st);
                self.topics
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(topic);
            }
        }
        close_soon(old);
        Ok(true)
    }

    /// A handler, if defined.
    pub fn handler(&self, topic: &str, id: &str) -> Option<HandlerInfo> {
        self.running(topic, id).map(|h| info_of(&h))
    }

    /// The handlers of `topic` whose ids match `pattern` (none: all), by
    /// id.
    pub fn handlers(&self, topic: &str, pattern: Option<&IdPattern>) -> Vec<HandlerInfo> {
        let Some(t) = self.topic(topic) else {
            return Vec::new();
        };
        let st = t.lock();
        st.handlers
            .iter()
            .filter(|s| pattern.is_none_or(|p| p.matches(&s.handler.spec.id)))
            .map(|s| info_of(&s.handler))
            .collect()
    }

    /// Handlers defined by files of the tasks directory, as (topic, id).
    pub fn file_handlers(&self) -> Vec<(String, String)> {
        self.all_handlers()
            .into_iter()
            .filter(|h| h.from_file)
            .map(|h| (h.spec.topic.clone(), h.spec.id.clone()))
            .collect()
    }

    /// Every topic, by id.
    fn all_topics(&self) -> Vec<Arc<Topic>> {
        let mut topics: Vec<Arc<Topic>> = self
            .topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        topics.sort_by(|a, b| a.id.cmp(&b.id));
        topics
    }

    fn all_handlers(&self) -> Vec<Arc<RunningHandler>> {
        self.all_topics()
            .iter()
            .flat_map(|t| {
                t.lock()
                    .handlers
                    .iter()
                    .map(|s| s.handler.clone())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    // ---- topics and events ---------------------------------------------------

    /// The topics whose ids match `pattern` (none: all) and whose level is
    /// at least `min_level`, by id.
    pub fn list(&self, pattern: Option<&IdPattern>, min_level: Level) -> Vec<TopicInfo> {
        self.all_topics()
            .iter()
            .filter(|t| pattern.is_none_or(|p| p.matches(&t.id)))
            .map(|t| info(t))
            .filter(|i| i.level >= min_level)
            .collect()
    }

    /// One topic.
    pub fn get(&self, id: &str) -> Option<TopicInfo> {
        self.topic(id).map(|t| info(&t))
    }

    /// The events of `topic` at `min_level` or above, highest level first,
    /// then by id; `None` when there is no such topic.
    pub fn events(&self, topic: &str, min_level: Level) -> Option<Vec<EventInfo>> {
        let t = self.topic(topic)?;
        let st = t.lock();
        let mut out: Vec<EventInfo> = st
            .events
            .iter()
            .filter(|(_, e)| e.latest.level >= min_level)
            .map(|(id, e)| event_info(id, e))
            .collect();
        drop(st);
        out.sort_by(|a, b| b.state.level.cmp(&a.state.level).then(a.id.cmp(&b.id)));
        Some(out)
    }

    /// One event of a topic.
    pub fn event(&self, topic: &str, event: &str) -> Option<EventInfo> {
        let t = self.topic(topic)?;
        let st = t.lock();
        st.events.get(event).map(|e| event_info(event, e))
    }

    /// Deletes a topic's events (`DELETE /topics/ID`); its handlers stay,
    /// as definitions do until deleted themselves. `false`: no such topic.
    pub fn delete_topic(&self, id: &str) -> bool {
        let Some(t) = self.topic(id) else {
            return false;
        };
        let mut st = t.lock();
        st.clear();
        if self.writer.is_some() {
            self.removals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(TopicOp::RemoveTopic {
                    topic: id.to_owned(),
                });
        }
        if st.handlers.is_empty() {
            drop(st);
            self.topics
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id);
        }
        true
    }

    /// Counters of every handler, by topic then id, with each topic's
    /// collected count: for the status and `/metrics`.
    pub fn stats(&self) -> Vec<(TopicInfo, Vec<HandlerInfo>)> {
        self.all_topics()
            .iter()
            .map(|t| {
                let handlers = t
                    .lock()
                    .handlers
                    .iter()
                    .map(|s| info_of(&s.handler))
                    .collect();
                (info(t), handlers)
            })
            .collect()
    }

    /// Records (or clears) the problem with handler file `path`.
    pub fn set_file_error(&self, path: &str, error: Option<String>) {
        let mut errors = self.file_errors.lock().unwrap_or_else(|e| e.into_inner());
        match error {
            Some(e) => errors.insert(path.to_owned(), e),
            None => errors.remove(path),
        };
    }

    /// Handler files that do not read, by path.
    pub fn file_errors(&self) -> BTreeMap<String, String> {
        self.file_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What became of topic events sent to the store; `None` without one.
    pub fn store_counts(&self) -> Option<TopicStoreCounts> {
        self.writer.as_ref().map(TopicWriter::counts)
    }

    /// Lets every handler finish what it holds until `deadline`, then
    /// commits the events the store has not seen. Events published after
    /// this are counted, not recorded.
    pub fn close(&self, deadline: Instant) {
        // Lanes and handlers first: what they republish is still recorded.
        for lane in &self.lanes {
            let abandoned = lane.close(deadline);
            if abandoned > 0 {
                tracing::warn!("{abandoned} topic events not handled: the topics stopped");
            }
        }
        for h in self.all_handlers() {
            h.close(deadline);
        }
        self.closed.store(true, Ordering::Relaxed);
        if let Some(w) = &self.writer {
            w.close(self);
        }
    }
}

/// Closes a replaced or deleted handler without holding anyone up: what it
/// holds gets a moment to finish.
fn close_soon(handler: Arc<RunningHandler>) {
    let deadline = Instant::now() + std::time::Duration::from_secs(2);
    crate::effects::runtime().spawn_blocking(move || handler.close(deadline));
}

fn info(t: &Topic) -> TopicInfo {
    let st = t.lock();
    TopicInfo {
        id: t.id.to_string(),
        level: st.level(),
        collected: st.collected,
        events: st.events.len(),
        handlers: st
            .handlers
            .iter()
            .map(|s| s.handler.spec.id.clone())
            .collect(),
    }
}

fn info_of(h: &RunningHandler) -> HandlerInfo {
    HandlerInfo {
        spec: h.spec.clone(),
        stats: h.counters.snapshot(),
        error: h.unavailable().map(str::to_owned),
        from_file: h.from_file,
    }
}

fn event_info(id: &str, e: &EventEntry) -> EventInfo {
    EventInfo {
        id: id.to_owned(),
        state: e.latest.clone(),
        history: e.history.iter().cloned().collect(),
    }
}

/// Where an alert node with `.topic(NAME)` publishes: the node's sink
/// hands each event here too.
pub struct TopicSink {
    topics: Arc<Topics>,
    name: Arc<str>,
}

impl TopicSink {
    pub fn new(topics: Arc<Topics>, name: &str) -> TopicSink {
        TopicSink {
            topics,
            name: Arc::from(name),
        }
    }

    pub fn publish(&self, event: &AlertEvent) {
        self.topics.collect(&self.name, event);
    }
}

#[cfg(test)]
mod tests;
