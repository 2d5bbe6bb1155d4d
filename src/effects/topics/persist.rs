//! Topic events in the store, so a topic's events survive a restart and
//! `kill -9`. Collecting an event only marks its id dirty (under the lock
//! the topic already holds); every [`FLUSH_EVERY`] a writer on the effects
//! runtime reads the dirty ids' latest state and commits them in one
//! transaction, off the data path. An id that changes a thousand times
//! between two flushes is written once, so the store's cost follows the
//! number of distinct events, not the event rate; what a crash can lose is
//! the last flush interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use storage::{Store, TopicOp};
use tokio_util::sync::CancellationToken;

use super::Topics;

/// How often dirty events are committed.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// What became of the changes to topic events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TopicStoreCounts {
    /// Events (and removals) committed.
    pub saved: u64,
    /// Those whose commit failed (each failure is logged).
    pub failed: u64,
    /// Commits (each one transaction).
    pub commits: u64,
}

#[derive(Default)]
struct Counters {
    saved: AtomicU64,
    failed: AtomicU64,
    commits: AtomicU64,
}

/// The writer of one [`Topics`].
pub(crate) struct TopicWriter {
    store: Arc<Store>,
    counters: Arc<Counters>,
    stop: CancellationToken,
    /// Serialises commits: the loop's and the last one at close.
    committing: Arc<Mutex<()>>,
}

impl TopicWriter {
    /// Starts committing what `topics` marks dirty.
    pub fn start(store: Arc<Store>, topics: Weak<Topics>) -> TopicWriter {
        let writer = TopicWriter {
            store,
            counters: Arc::default(),
            stop: CancellationToken::new(),
            committing: Arc::default(),
        };
        let (store, counters, stop, committing) = (
            writer.store.clone(),
            writer.counters.clone(),
            writer.stop.clone(),
            writer.committing.clone(),
        );
        crate::effects::runtime().spawn(async move {
            let mut ticks = tokio::time::interval(FLUSH_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let Some(topics) = topics.upgrade() else {
                    return;
                };
                let (store, counters, committing) =
                    (store.clone(), counters.clone(), committing.clone());
                let _ = tokio::task::spawn_blocking(move || {
                    let _one = committing.lock().unwrap_or_else(|e| e.into_inner());
                    commit(&store, &counters, topics.take_dirty());
                })
                .await;
            }
        });
        writer
    }

    /// Stops the loop and commits what is dirty now, on this thread.
    pub fn close(&self, topics: &Topics) {
        self.stop.cancel();
        let _one = self.committing.lock().unwrap_or_else(|e| e.into_inner());
        commit(&self.store, &self.counters, topics.take_dirty());
    }

    pub fn counts(&self) -> TopicStoreCounts {
        let c = &self.counters;
        TopicStoreCounts {
            saved: c.saved.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            commits: c.commits.load(Ordering::Relaxed),
        }
    }
}

fn commit(store: &Store, counters: &Counters, ops: Vec<TopicOp>) {
    if ops.is_empty() {
        return;
    }
    let n = ops.len() as u64;
    match store.apply_topic_ops(&ops) {
        Ok(()) => {
            counters.saved.fetch_add(n, Ordering::Relaxed);
            counters.commits.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            counters.failed.fetch_add(n, Ordering::Relaxed);
            tracing::warn!("{n} topic event changes not saved: {e}");
        }
    }
}
