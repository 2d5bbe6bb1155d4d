//! Alert states kept across restarts: every task's alert nodes read and
//! write them through [`AlertStates::for_task`], in memory (so a reloaded
//! task sees what the old version left a moment ago), while one writer
//! thread commits the changes to the store in batches, off the data path.
//! Only alerts that are not OK are kept: an OK alert needs nothing restored.
//! If the writer falls behind, changes are dropped (and counted) rather than
//! slowing any task: memory stays right, only durability is lost for them.
//! [`AlertStates::counts`] says how many were saved, dropped, failed, and
//! are still waiting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use pipeline::nodes::alert::{AlertStateStore, Level, SavedAlert};
use storage::{AlertStateOp, AlertStateRecord, Store};

/// Changes waiting for the writer; beyond this they are dropped.
const QUEUE: usize = 16_384;
/// Most changes committed in one transaction.
const BATCH: usize = 4_096;

pub struct AlertStates {
    store: Option<Arc<Store>>,
    tasks: Mutex<HashMap<String, Arc<TaskAlertStates>>>,
    writer: Mutex<Option<(SyncSender<AlertStateOp>, JoinHandle<()>)>>,
    counters: Arc<Counters>,
}

/// One task's alert states, what its alert nodes are given.
pub struct TaskAlertStates {
    task: String,
    states: Mutex<HashMap<String, SavedAlert>>,
    sender: Option<SyncSender<AlertStateOp>>,
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
    /// Changes dropped because the writer's queue was full.
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

    /// States kept in `store` too, by a writer thread.
    pub fn with_store(store: Arc<Store>) -> std::io::Result<Self> {
        let (sender, receiver) = sync_channel(QUEUE);
        let writing = store.clone();
        let counters = Arc::<Counters>::default();
        let counting = counters.clone();
        let thread = std::thread::Builder::new()
            .name("alert states".into())
            .spawn(move || write(&writing, &receiver, &counting))?;
        Ok(AlertStates {
            store: Some(store),
            tasks: Mutex::default(),
            writer: Mutex::new(Some((sender, thread))),
            counters,
        })
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
        let sender = self.sender();
        let t = Arc::new(TaskAlertStates {
            task: task.to_owned(),
            states: Mutex::new(states),
            sender,
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
        if let Some(sender) = self.sender() {
            // Through the writer, so it lands after the task's last changes.
            self.counters.queued.fetch_add(1, Ordering::Relaxed);
            if sender
                .send(AlertStateOp::RemoveTask {
                    task: task.to_owned(),
                })
                .is_err()
            {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                tracing::warn!(task, "alert states of a deleted task not removed");
            }
        }
        drop(removed);
    }

    /// A handle on the writer's queue, while it runs.
    fn sender(&self) -> Option<SyncSender<AlertStateOp>> {
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(s, _)| s.clone())
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

    /// Commits what is queued and stops the writer.
    pub fn close(&self) {
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((sender, thread)) = writer {
            drop(sender);
            // Tasks' handles hold senders too; they were stopped first.
            self.tasks.lock().unwrap_or_else(|e| e.into_inner()).clear();
            let _ = thread.join();
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
        let Some(sender) = &self.sender else {
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
        match sender.try_send(op) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                c.queued.fetch_sub(1, Ordering::Release);
                c.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The writer: takes what is queued, up to a batch, and commits it at once.
fn write(store: &Store, receiver: &Receiver<AlertStateOp>, counters: &Counters) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        match store.apply_alert_states(&batch) {
            Ok(()) => counters.saved.fetch_add(n, Ordering::Release),
            Err(e) => {
                tracing::warn!("{n} alert state changes not saved: {e}");
                counters.failed.fetch_add(n, Ordering::Release)
            }
        };
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
        let states = AlertStates::with_store(store.clone()).unwrap();
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
        let again = AlertStates::with_store(store.clone()).unwrap();
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
