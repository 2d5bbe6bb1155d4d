//! One topic's state: per event id the latest event and the earlier runs
//! of a level it went through, how many events are at each level (so the topic knows its
//! highest level without a scan), and which ids changed since the store
//! last saw them. Bounded: past `max_events` ids the oldest OK ones (else
//! the oldest) are forgotten.

use std::collections::VecDeque;
use std::sync::Arc;

use pipeline::nodes::alert::{AlertEvent, Level};
use storage::{TopicEventRecord, TopicHistoryRecord};

use super::handler::Slot;

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// The latest event of one id.
#[derive(Clone, Debug, PartialEq)]
pub struct EventState {
    pub level: Level,
    pub message: String,
    pub details: String,
    /// ns since the epoch.
    pub time: i64,
    /// ns out of OK.
    pub duration: i64,
    /// The task that sent it; empty for an aggregate's summary.
    pub task: String,
    pub inhibited: bool,
}

/// An earlier run of one level of an id: when it began (`time`) and its
/// last message.
#[derive(Clone, Debug, PartialEq)]
pub struct PastEvent {
    pub time: i64,
    pub level: Level,
    pub message: String,
    pub inhibited: bool,
}

#[derive(Debug)]
pub(crate) struct EventEntry {
    pub latest: EventState,
    /// When the latest's level (and inhibition) began, ns.
    pub since: i64,
    /// The earlier runs of a level, oldest first: each with when it began
    /// and its last message.
    pub history: VecDeque<PastEvent>,
}

/// Everything about one topic that changes; guarded by the topic's lock.
#[derive(Default)]
pub(crate) struct TopicState {
    pub events: HashMap<Arc<str>, EventEntry>,
    /// Events at each level now, indexed by level.
    at_level: [usize; 4],
    /// Events collected since the start (or the topic's deletion).
    pub collected: u64,
    /// The running handlers, by id.
    pub handlers: Vec<Slot>,
    /// Ids changed since the store last saw them.
    pub dirty: HashSet<Arc<str>>,
    /// Ids forgotten since the store last saw them.
    pub removed: Vec<Arc<str>>,
}

fn level_index(l: Level) -> usize {
    Level::ALL.iter().position(|x| *x == l).unwrap_or(0)
}

impl TopicState {
    /// The highest level of any event (OK when none).
    pub fn level(&self) -> Level {
        (0..4)
            .rev()
            .find(|&i| self.at_level[i] > 0)
            .map_or(Level::Ok, |i| Level::ALL[i])
    }

    /// Records `event`; returns the level of the id's previous event, if
    /// any. Keeps at most `history` earlier events per id and `max_events`
    /// ids.
    pub fn record(
        &mut self,
        event: &AlertEvent,
        history: usize,
        max_events: usize,
    ) -> Option<Level> {
        self.collected += 1;
        let latest = EventState {
            level: event.level,
            message: event.message.clone(),
            details: event.details.clone(),
            time: event.time,
            duration: event.duration,
            task: event.task_name.clone(),
            inhibited: event.inhibited,
        };
        self.at_level[level_index(event.level)] += 1;
        let previous = match self.events.get_mut(event.id.as_str()) {
            Some(entry) => {
                let old = std::mem::replace(&mut entry.latest, latest);
                self.at_level[level_index(old.level)] -= 1;
                let level = old.level;
                // A new run of a level: the one that ended goes to history.
                if old.level != event.level || old.inhibited != event.inhibited {
                    if history > 0 {
                        if entry.history.len() >= history {
                            entry.history.pop_front();
                        }
                        entry.history.push_back(PastEvent {
                            time: entry.since,
                            level: old.level,
                            message: old.message,
                            inhibited: old.inhibited,
                        });
                    }
                    entry.since = event.time;
                }
                if !self.dirty.contains(event.id.as_str()) {
                    let key = self.key_of(&event.id);
                    self.dirty.insert(key);
                }
                Some(level)
            }
            None => {
                let id: Arc<str> = Arc::from(event.id.as_str());
                self.events.insert(
                    id.clone(),
                    EventEntry {
                        latest,
                        since: event.time,
                        history: VecDeque::new(),
                    },
                );
                self.dirty.insert(id);
                None
            }
        };
        if self.events.len() > max_events.max(1) {
            self.forget_oldest(max_events.max(1));
        }
        previous
    }

    /// The shared key of an id that is in the map.
    fn key_of(&self, id: &str) -> Arc<str> {
        self.events
            .get_key_value(id)
            .map_or_else(|| Arc::from(id), |(k, _)| k.clone())
    }

    /// Forgets ids down to 99% of `max`: OK ones first, oldest first (a
    /// batch at a time, so ids churning past the bound cost a sort per
    /// hundred events, not a scan per event).
    fn forget_oldest(&mut self, max: usize) {
        let keep = max - max / 100;
        let mut by_age: Vec<(bool, i64, Arc<str>)> = self
            .events
            .iter()
            .map(|(id, e)| (e.latest.level != Level::Ok, e.latest.time, id.clone()))
            .collect();
        by_age.sort();
        for (_, _, id) in by_age.into_iter().take(self.events.len() - keep) {
            if let Some(e) = self.events.remove(&id) {
                self.at_level[level_index(e.latest.level)] -= 1;
                self.dirty.remove(&id);
                self.removed.push(id);
            }
        }
    }

    /// Takes back an event read from the store.
    pub fn restore(&mut self, id: &str, entry: EventEntry) {
        self.at_level[level_index(entry.latest.level)] += 1;
        if let Some(old) = self.events.insert(Arc::from(id), entry) {
            self.at_level[level_index(old.latest.level)] -= 1;
        }
    }

    /// Forgets every event (the topic was deleted); handlers stay.
    pub fn clear(&mut self) {
        self.events.clear();
        self.at_level = [0; 4];
        self.collected = 0;
        self.dirty.clear();
        self.removed.clear();
    }
}

impl EventEntry {
    /// As the store keeps it.
    pub fn to_record(&self) -> TopicEventRecord {
        let e = &self.latest;
        TopicEventRecord {
            level: e.level.as_str().to_owned(),
            message: e.message.clone(),
            details: e.details.clone(),
            time: e.time,
            duration: e.duration,
            task: e.task.clone(),
            inhibited: e.inhibited,
            since: self.since,
            history: self
                .history
                .iter()
                .map(|h| TopicHistoryRecord {
                    time: h.time,
                    level: h.level.as_str().to_owned(),
                    message: h.message.clone(),
                    inhibited: h.inhibited,
                })
                .collect(),
        }
    }

    /// Read back from the store; `None` when its level is not one.
    pub fn from_record(r: TopicEventRecord) -> Option<EventEntry> {
        let level = Level::parse(&r.level)?;
        Some(EventEntry {
            latest: EventState {
                level,
                message: r.message,
                details: r.details,
                time: r.time,
                duration: r.duration,
                task: r.task,
                inhibited: r.inhibited,
            },
            since: if r.since == 0 { r.time } else { r.since },
            history: r
                .history
                .into_iter()
                .filter_map(|h| {
                    Some(PastEvent {
                        time: h.time,
                        level: Level::parse(&h.level)?,
                        message: h.message,
                        inhibited: h.inhibited,
                    })
                })
                .collect(),
        })
    }
}
