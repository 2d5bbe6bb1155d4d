//! A running task: its DAG built with its effects (alert handlers,
//! outputs), its place on the pool, and how it is stopped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pipeline::build::{build_dag, build_stream_task};
use pipeline::runtime::NodeStats;

use super::restart::Health;
use super::{Entry, Env, TaskError, TaskManager};
use crate::effects::handlers::HandlerRegistry;
use crate::effects::outputs::OutputRegistry;

/// How long stopping a task waits for it to process what it holds before
/// going on without it (it still ends on the pool when it can). With
/// [`EFFECTS_STOP_WAIT`], a disable, delete or shutdown answers within 5 s.
pub(super) const STOP_WAIT: Duration = Duration::from_secs(1);
/// How long a stopped task's handlers and outputs may go on delivering
/// what they hold before the rest is abandoned (counted as dropped): an
/// endpoint that never answers must not hold up a disable or a shutdown.
pub(super) const EFFECTS_STOP_WAIT: Duration = Duration::from_secs(2);

/// A running task: its place on the pool, its effects, handles to its
/// counters, and how it fared.
pub(super) struct Running {
    pub task: host::TaskHandle,
    pub handlers: Arc<HandlerRegistry>,
    pub outputs: Arc<OutputRegistry>,
    pub stats: Vec<(String, String, Arc<NodeStats>)>,
    /// A batch task's scheduled queries.
    pub batch: Option<crate::batch::BatchRun>,
    /// Its panics and restarts.
    pub health: Health,
}

/// A task's DAG, built with a fresh set of effects, not yet on the pool.
pub(super) struct Built {
    pub task: host::TaskKind,
    pub handlers: Arc<HandlerRegistry>,
    pub outputs: Arc<OutputRegistry>,
}

impl Built {
    /// The runner the pool runs, and handles to the DAG's counters.
    pub fn runner(task: host::TaskKind) -> (host::Runner, Vec<(String, String, Arc<NodeStats>)>) {
        let stats = task.dag().stats_handles();
        (host::Runner::new(task, host::ClockMode::Wall), stats)
    }
}

impl TaskManager {
    /// Builds task `id`'s DAG from its plan, with new handlers and outputs:
    /// to enable it, or to restart it after a panic.
    pub(super) fn build(&self, id: &str, entry: &Entry) -> Result<Built, TaskError> {
        let mut handlers =
            HandlerRegistry::new(self.history.clone()).with_endpoints(self.endpoints.clone());
        if let Some(topics) = &self.topics {
            handlers = handlers.with_topics(topics.clone());
        }
        let handlers = Arc::new(handlers);
        let outputs = Arc::new(OutputRegistry::new(self.influxdb.clone()));
        let env = Env {
            task: id,
            http_out: &self.http_out,
            handlers: &handlers,
            group_idle_timeout: self.group_idle_timeout,
            alert_state_idle_timeout: self.alert_state_idle_timeout,
            alert_states: Some(self.alert_states.for_task(id)),
            outputs: &outputs,
            loopback: Some(self.router.clone()),
            deadman: Some(&self.deadman),
            endpoints: &self.endpoints,
            sideloads: &self.sideloads,
            inhibitions: Some(self.inhibitions.clone()),
        };
        let built = match entry.def.task_type {
            dsl::TaskType::Stream => {
                build_stream_task(&entry.plan, &env).map(host::TaskKind::Stream)
            }
            // Fed by whoever runs its queries ([`TaskManager::feed`]).
            dsl::TaskType::Batch => build_dag(&entry.plan, &env).map(host::TaskKind::Batch),
        };
        match built {
            Ok(task) => Ok(Built {
                task,
                handlers,
                outputs,
            }),
            Err(e) => {
                // Nothing was offered to them yet.
                handlers.close_all(Instant::now());
                outputs.close_all(Instant::now());
                Err(e.into())
            }
        }
    }
}

/// Closes the task's inbox and waits (a while) for it to process what it
/// holds, then lets its handlers and outputs finish their queues (a while).
pub(super) fn join(running: Running) {
    if let Some(b) = &running.batch {
        b.stop();
    }
    running.task.close();
    wait_for_task(&running, Instant::now() + STOP_WAIT);
    let deadline = Instant::now() + EFFECTS_STOP_WAIT;
    running.handlers.close_all(deadline);
    running.outputs.close_all(deadline);
}

/// Waits until `deadline` for a closed task to process what it holds.
pub(super) fn wait_for_task(running: &Running, deadline: Instant) {
    if !running
        .task
        .wait(deadline.saturating_duration_since(Instant::now()))
    {
        tracing::warn!(
            task = running.task.name(),
            "task still busy {STOP_WAIT:?} after it was asked to stop; it ends on its own"
        );
    }
}
