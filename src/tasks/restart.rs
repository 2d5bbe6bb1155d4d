//! Restarting a task after a panic.
//!
//! A panic in a node ends that task's run only (the pool catches it,
//! empties the task's inbox and refuses its input, counted as dropped,
//! so no writer waits for it). The pool tells the supervisor, a thread of
//! the task manager's, which logs the node and the message, keeps them
//! for the status, and after a backoff (1 s, doubling to 1 min) builds
//! the task's DAG again from its definition and runs it on the same inbox
//! and route. A task that panics `pipeline.restart_attempts` times in a
//! row (a run of a minute without a panic breaks the row) is left errored
//! until it is enabled again.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use super::TaskManager;
use super::run::{Built, EFFECTS_STOP_WAIT};

/// The first wait before a restart; it doubles with each panic in a row.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait before a restart.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A task that ran this long since its last restart without a panic is
/// healthy again: its next panic is the first of a new row.
const HEALTHY_AFTER: Duration = MAX_BACKOFF;

/// How a running task fared: its panics and restarts since it was enabled.
#[derive(Clone, Debug, Default)]
pub(super) struct Health {
    pub panics: u64,
    pub restarts: u64,
    /// Panics since it last ran [`HEALTHY_AFTER`] without one.
    pub in_a_row: u32,
    pub last_panic: Option<host::Failure>,
    pub restarted_at: Option<Instant>,
    /// While waiting to restart: when it will.
    pub restart_at: Option<SystemTime>,
    /// Why it is not restarted again, when it is not.
    pub gave_up: Option<String>,
}

/// The wait before the restart that follows the `in_a_row`-th panic.
fn backoff(in_a_row: u32) -> Duration {
    let doublings = in_a_row.saturating_sub(1).min(16);
    (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

/// Starts the thread that restarts the tasks of `tasks` that panic. It
/// ends once the task manager is gone.
pub fn supervise(tasks: &Arc<TaskManager>) {
    let (tx, rx) = mpsc::channel::<host::TaskHandle>();
    let tx = Mutex::new(tx);
    tasks.pool.on_failure(move |task| {
        let _ = tx.lock().unwrap_or_else(|e| e.into_inner()).send(task);
    });
    let weak: Weak<TaskManager> = Arc::downgrade(tasks);
    let started = std::thread::Builder::new()
        .name("task restarts".into())
        .spawn(move || {
            let mut due: Vec<(Instant, host::TaskHandle)> = Vec::new();
            loop {
                let now = Instant::now();
                let wait = due
                    .iter()
                    .map(|(at, _)| at.saturating_duration_since(now))
                    .min()
                    .unwrap_or(Duration::from_secs(1))
                    .min(Duration::from_secs(1));
                let failed = match rx.recv_timeout(wait) {
                    Ok(task) => Some(task),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                };
                let Some(tasks) = weak.upgrade() else {
                    return;
                };
                if let Some(task) = failed
                    && let Some(wait) = tasks.panicked(&task)
                {
                    due.push((Instant::now() + wait, task));
                }
                let now = Instant::now();
                let (ready, later): (Vec<_>, Vec<_>) =
                    due.into_iter().partition(|(at, _)| *at <= now);
                due = later;
                for (_, task) in ready {
                    tasks.restart(&task);
                }
            }
        });
    if let Err(e) = started {
        tracing::error!(
            "cannot start the task restart thread; a task that panics stays errored: {e}"
        );
    }
}

impl TaskManager {
    /// Records that `task` panicked; how long to wait before restarting
    /// it, or `None` when it is not to be restarted.
    fn panicked(&self, task: &host::TaskHandle) -> Option<Duration> {
        let mut tasks = self.lock();
        let id = task.name();
        let running = tasks.get_mut(id)?.running.as_mut()?;
        if !running.task.same_task(task) {
            return None;
        }
        let failure = task.failure()?;
        let health = &mut running.health;
        if health
            .restarted_at
            .is_some_and(|at| at.elapsed() >= HEALTHY_AFTER)
        {
            health.in_a_row = 0;
        }
        health.panics += 1;
        health.in_a_row += 1;
        health.last_panic = Some(failure.clone());
        if health.in_a_row > self.restart_attempts {
            let why = format!(
                "{failure}; not restarted after {} panics in a row (pipeline.restart_attempts)",
                health.in_a_row
            );
            tracing::error!(task = id, "{why}");
            self.breaches.cited_in(&why);
            health.gave_up = Some(why);
            return None;
        }
        let wait = backoff(health.in_a_row);
        health.restart_at = Some(SystemTime::now() + wait);
        tracing::warn!(
            task = id,
            node = failure.node.as_deref().unwrap_or(""),
            "{failure}; restarting in {wait:?} ({} of {} restarts in a row)",
            health.in_a_row,
            self.restart_attempts
        );
        Some(wait)
    }

    /// Builds `task` again from its definition and runs it on its inbox,
    /// if it is still the task that panicked and still enabled.
    fn restart(&self, task: &host::TaskHandle) {
        let mut tasks = self.lock();
        let id = task.name();
        let Some(entry) = tasks.get(id) else {
            return;
        };
        let current = entry.running.as_ref().map(|r| &r.task);
        if !entry.enabled || !current.is_some_and(|t| t.same_task(task)) {
            return;
        }
        let built = self.build(id, entry);
        let Some(running) = tasks.get_mut(id).and_then(|e| e.running.as_mut()) else {
            return;
        };
        let Built {
            task: dag,
            handlers,
            outputs,
        } = match built {
            Ok(built) => built,
            Err(e) => {
                let why = format!("cannot be built again after a panic: {e}");
                tracing::error!(task = id, "{why}");
                running.health.gave_up = Some(why);
                return;
            }
        };
        let (runner, stats) = Built::runner(dag);
        if !task.restart(Box::new(runner)) {
            // Closed meanwhile: it is being stopped.
            drop(tasks);
            handlers.close_all(Instant::now());
            outputs.close_all(Instant::now());
            return;
        }
        let old_handlers = std::mem::replace(&mut running.handlers, handlers);
        let old_outputs = std::mem::replace(&mut running.outputs, outputs);
        running.stats = stats;
        let health = &mut running.health;
        health.restarts += 1;
        health.restarted_at = Some(Instant::now());
        health.restart_at = None;
        let restarts = health.restarts;
        drop(tasks);
        tracing::info!(task = id, restarts, "task restarted after a panic");
        // What the run that panicked handed its effects may still go out.
        let deadline = Instant::now() + EFFECTS_STOP_WAIT;
        old_handlers.close_all(deadline);
        old_outputs.close_all(deadline);
    }

    /// Whether task `id` panicked too often in a row to be restarted.
    pub(super) fn gave_up(&self, id: &str) -> bool {
        self.lock()
            .get(id)
            .and_then(|e| e.running.as_ref())
            .is_some_and(|r| r.health.gave_up.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_second_to_a_minute() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
