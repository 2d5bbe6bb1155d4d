//! Alert states kept across restarts: every task's alert nodes read and
//! write them through [`AlertStates::for_task`], in memory (so a reloaded
//! task sees what the old version left a moment ago), while one writer (an
//! [`EffectWorker`] on the shared effects runtime) commits the changes to
//! the store in batches, off the data path.
//! Only alerts that are not OK are kept: an OK alert needs nothing restored.
//! If the writer falls behind, changes are dropped (and counted) rather than
//! slowing any task: memory stays right, only durability is lost for them.
//! [`AlertStates::counts`] says how many were saved, dropped, failed, and
//! are still waiting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pipeline::nodes::alert::{AlertStateStore, Level, SavedAlert};
use storage::{AlertStateOp, AlertStateRecord, Store};

use crate::effects::{EffectWorker, Inbox};

/// Changes waiting for the writer; beyond this they are dropped.
const QUEUE: usize = 16_384;
/// Most changes committed in one transaction.
const BATCH: usize = 4_096;
/// How long a deleted task's removal waits for room in a full queue.
const REMOVE_WAIT: Duration = Duration::from_secs(5);
/// How long closing waits for the writer to commit what is queued.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

type Writer = Arc<EffectWorker<AlertStateOp>>;

pub struct AlertStates {
    store: Option<Arc<Store>>,
    tasks: Mutex<HashMap<String, Arc<TaskAlertStates>>>,
    writer: Mutex<Option<Writer>>,
    counters: Arc<Counters>,
}

/// One task's alert states, what its alert nodes are given.
pub struct TaskAlertStates {
    task: String,
    states: Mutex<HashMap<String, SavedAlert>>,
    writer: Option<Writer>,
    counters: Arc<Counters>,
}

/// What became of the changes handed to the writer.
#[derive(Default)]
struct Counters {
    queued: AtomicU64,
    saved: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// A snapshot of [`AlertStates`]' counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AlertStateCounts {
    /// Changes committed to the store.
    pub saved: u64,
    /// Changes whose commit failed (each failure is logged).
    pub failed: u64,
    /// Changes dropped because the writer's queue was full, or still
    /// queued when the writer was closed and its deadline passed.
    pub dropped: u64,
    /// Changes queued and not yet committed or failed.
    pub pending: u64,
}

impl AlertStates {
    /// States kept in memory only (no store: tests, `kapacitor test`).
    pub fn in_memory() -> Self {
        AlertStates {
            store: None,
            tasks: Mutex::default(),
            writer: Mutex::new(None),
            counters: Arc::default(),
        }
    }

    /// States kept in `store` too, by a writer on the effects runtime.
    pub fn with_store(store: Arc<Store>) -> Self {
        let writing = store.clone();
        let counters = Arc::<Counters>::default();
        let counting = counters.clone();
        let writer = EffectWorker::start(QUEUE, |inbox| write(writing, inbox, counting));
        AlertStates {
            store: Some(store),
            tasks: Mutex::default(),
            writer: Mutex::new(Some(Arc::new(writer))),
            counters,
        }
    }

    /// The states of task `task`, loaded from the store the first time.
    pub fn for_task(&self, task: &str) -> Arc<TaskAlertStates> {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = tasks.get(task) {
            return t.clone();
        }
        let mut states = HashMap::new();
        if let Some(store) = &self.store {
            match store.alert_states(task) {
                Ok(saved) => {
                    for (id, record) in saved {
                        if let Some(s) = from_record(&record) {
                            states.insert(id, s);
                        }
                    }
                }
                Err(e) => tracing::warn!(task, "alert states not restored: {e}"),
            }
        }
        let t = Arc::new(TaskAlertStates {
            task: task.to_owned(),
            states: Mutex::new(states),
            writer: self.writer(),
            counters: self.counters.clone(),
        });
        tasks.insert(task.to_owned(), t.clone());
        t
    }

    /// Forgets task `task`'s states (the task was deleted).
    pub fn remove_task(&self, task: &str) {
        let removed = self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(task);
        if let Some(writer) = self.writer() {
            // Through the writer, so it lands after the task's last changes;
            // unlike a change, not dropped when the queue is full (a delete
            // is not on the data path): it waits a while for room.
            self.counters.queued.fetch_add(1, Ordering::Relaxed);
            let mut op = AlertStateOp::RemoveTask {
                task: task.to_owned(),
            };
            let until = Instant::now() + REMOVE_WAIT;
            loop {
                match writer.offer(op, 1) {
                    Ok(()) => break,
                    Err(refused) if Instant::now() < until && !writer.is_closed() => {
                        op = refused;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(_) => {
                        self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                        tracing::warn!(task, "alert states of a deleted task not removed");
                        break;
                    }
                }
            }
        }
        drop(removed);
    }

    /// The writer, while it runs.
    fn writer(&self) -> Option<Writer> {
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What became of the changes so far.
    pub fn counts(&self) -> AlertStateCounts {
        let c = &self.counters;
        // Outcomes before `queued`: a change is counted queued before its
        // outcome, so pending never goes below zero.
        let saved = c.saved.load(Ordering::Acquire);
        let failed = c.failed.load(Ordering::Acquire);
        let queued = c.queued.load(Ordering::Acquire);
        AlertStateCounts {
            saved,
            failed,
            dropped: c.dropped.load(Ordering::Relaxed),
            pending: queued.saturating_sub(saved + failed),
        }
    }

    /// Commits what is queued (for a while) and stops the writer.
    pub fn close(&self) {
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = writer {
            self.tasks.lock().unwrap_or_else(|e| e.into_inner()).clear();
            let abandoned = writer.close(Instant::now() + CLOSE_WAIT);
            if abandoned > 0 {
                let c = &self.counters;
                c.queued.fetch_sub(abandoned, Ordering::AcqRel);
                c.dropped.fetch_add(abandoned, Ordering::Relaxed);
                tracing::warn!("{abandoned} alert state changes not saved: stopped first");
            }
        }
    }
}

impl AlertStateStore for TaskAlertStates {
    fn load(&self, id: &str) -> Option<SavedAlert> {
        self.states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .copied()
    }

    fn save(&self, id: &str, state: SavedAlert) {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        let put = state.level != Level::Ok;
        if put {
            // An alert that stays up is saved on each event: no new key then.
            match states.get_mut(id) {
                Some(saved) => *saved = state,
                None => {
                    states.insert(id.to_owned(), state);
                }
            }
        } else if states.remove(id).is_none() {
            return;
        }
        drop(states);
        // The change for the store is only made when there is one.
        let Some(writer) = &self.writer else {
            return;
        };
        let (task, alert_id) = (self.task.clone(), id.to_owned());
        let op = if put {
            AlertStateOp::Put {
                task,
                alert_id,
                state: to_record(&state),
            }
        } else {
            AlertStateOp::Remove { task, alert_id }
        };
        let c = &self.counters;
        c.queued.fetch_add(1, Ordering::Release);
        if writer.offer(op, 1).is_err() {
            c.queued.fetch_sub(1, Ordering::Release);
            c.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The writer: takes what is queued, up to a batch, and commits it at once
/// (on a blocking thread: a commit waits for the disk).
async fn write(store: Arc<Store>, mut inbox: Inbox<AlertStateOp>, counters: Arc<Counters>) {
    while let Some(first) = inbox.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match inbox.try_recv() {
                Some(op) => batch.push(op),
                None => break,
            }
        }
        let n = batch.len() as u64;
        let committing = store.clone();
        let committed = tokio::task::spawn_blocking(move || committing.apply_alert_states(&batch))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        match committed {
            Ok(()) => counters.saved.fetch_add(n, Ordering::Release),
            Err(e) => {
                tracing::warn!("{n} alert state changes not saved: {e}");
                counters.failed.fetch_add(n, Ordering::Release)
            }
        };
        inbox.settled(n);
    }
}

fn to_record(s: &SavedAlert) -> AlertStateRecord {
    AlertStateRecord {
        level: s.level.as_str().to_owned(),
        since: s.since,
        last_event: s.last_event,
        previous_level: String::new(),
    }
}

fn from_record(r: &AlertStateRecord) -> Option<SavedAlert> {
    let level = Level::ALL.into_iter().find(|l| l.as_str() == r.level)?;
    Some(SavedAlert {
        level,
        since: r.since,
        last_event: r.last_event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crit(t: i64) -> SavedAlert {
        SavedAlert {
            level: Level::Critical,
            since: t,
            last_event: t,
        }
    }

    #[test]
    fn states_survive_a_new_store_handle_and_ok_ones_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let states = AlertStates::with_store(store.clone());
        let t = states.for_task("t");
        t.save("a", crit(1));
        t.save("b", crit(2));
        t.save(
            "b",
            SavedAlert {
                level: Level::Ok,
                since: 2,
                last_event: 3,
            },
        );
        assert_eq!(t.load("a"), Some(crit(1)));
        assert_eq!(t.load("b"), None);
        drop(t);
        states.close();
        let again = AlertStates::with_store(store.clone());
        assert_eq!(again.for_task("t").load("a"), Some(crit(1)));
        assert_eq!(again.for_task("t").load("b"), None);
        again.remove_task("t");
        again.close();
        assert!(store.alert_states("t").unwrap().is_empty());
        let counts = again.counts();
        assert_eq!(
            counts,
            AlertStateCounts {
                saved: 1,
                ..AlertStateCounts::default()
            }
        );
        assert_eq!(states.counts().saved, 3);
    }
}
