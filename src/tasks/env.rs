//! What a running task's nodes are given: its httpOut endpoints, alert
//! handlers, outputs, loopback, sideload files and the config's defaults.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pipeline::build::TaskEnv;
use pipeline::nodes::alert::AlertSink;
use pipeline::nodes::http_out::HttpOutEndpoint;
use pipeline::nodes::sideload::SideloadSource;
use pipeline::spec::BuildError;

use crate::effects::endpoints::HttpEndpoints;
use crate::effects::handlers::HandlerRegistry;
use crate::effects::outputs::OutputRegistry;
use crate::tasks::sideload::Sideloads;

/// The `httpOut` endpoints of every task, for the API to read.
#[derive(Default)]
pub struct HttpOutRegistry {
    endpoints: Mutex<HashMap<(String, String), Arc<HttpOutEndpoint>>>,
    /// Tasks whose endpoints hold a replay's results, not a run's.
    replayed: Mutex<std::collections::HashSet<String>>,
}

impl HttpOutRegistry {
    pub fn get(&self, task: &str, name: &str) -> Option<Arc<HttpOutEndpoint>> {
        self.lock()
            .get(&(task.to_string(), name.to_string()))
            .cloned()
    }

    /// The endpoint, created on first use.
    pub fn endpoint(&self, task: &str, name: &str) -> Arc<HttpOutEndpoint> {
        self.lock()
            .entry((task.to_string(), name.to_string()))
            .or_default()
            .clone()
    }

    pub(crate) fn remove_task(&self, task: &str) {
        self.lock().retain(|(t, _), _| t != task);
    }

    /// The endpoints of `task`, by name.
    pub fn of_task(&self, task: &str) -> Vec<(String, Arc<HttpOutEndpoint>)> {
        let mut out: Vec<_> = self
            .lock()
            .iter()
            .filter(|((t, _), _)| t == task)
            .map(|((_, name), e)| (name.clone(), e.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Shows a replay's results at `task`'s endpoints, replacing what they
    /// held, until the task runs or is replayed again.
    pub fn show_replay(&self, task: &str, endpoints: Vec<(String, Arc<HttpOutEndpoint>)>) {
        let mut all = self.lock();
        all.retain(|(t, _), _| t != task);
        for (name, e) in endpoints {
            all.insert((task.to_string(), name), e);
        }
        self.replayed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(task.to_string());
    }

    /// The task starts: a replay's results give way to its own.
    pub(crate) fn forget_replay(&self, task: &str) {
        let removed = self
            .replayed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(task);
        if removed {
            self.remove_task(task);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<HttpOutEndpoint>>> {
        self.endpoints.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a task's nodes are given: its httpOut endpoints and alert handlers.
pub struct Env<'a> {
    pub task: &'a str,
    pub http_out: &'a HttpOutRegistry,
    pub handlers: &'a HandlerRegistry,
    /// `pipeline.group_idle_timeout` in ns; `None`: groups never expire.
    pub group_idle_timeout: Option<i64>,
    /// `pipeline.alert_state_idle_timeout` in ns; `None`: alerts that are
    /// not OK are kept until they recover.
    pub alert_state_idle_timeout: Option<i64>,
    /// Where alert states outlive the task; `None`: they do not.
    pub alert_states: Option<Arc<dyn pipeline::nodes::alert::AlertStateStore>>,
    /// The task's output workers (httpPost, influxDBOut).
    pub outputs: &'a OutputRegistry,
    /// Where kapacitorLoopback writes; `None`: it is not available.
    pub loopback: Option<Arc<dyn pipeline::PointSink>>,
    /// The `deadman` section: default templates of deadman alerts.
    pub deadman: Option<&'a config::DeadmanConfig>,
    /// The config's named HTTP endpoints.
    pub endpoints: &'a HttpEndpoints,
    /// The files sideload nodes read.
    pub sideloads: &'a Sideloads,
    /// The server's inhibitors; `None`: `.inhibit()` and `.category()` do
    /// nothing (replays).
    pub inhibitions: Option<Arc<pipeline::nodes::alert::Inhibitions>>,
}

impl TaskEnv for Env<'_> {
    fn task_name(&self) -> &str {
        self.task
    }

    fn group_idle_timeout(&self) -> Option<i64> {
        self.group_idle_timeout
    }

    fn alert_state_idle_timeout(&self) -> Option<i64> {
        self.alert_state_idle_timeout
    }

    fn alert_states(&self) -> Option<Arc<dyn pipeline::nodes::alert::AlertStateStore>> {
        self.alert_states.clone()
    }

    fn inhibitions(&self) -> Option<Arc<pipeline::nodes::alert::Inhibitions>> {
        self.inhibitions.clone()
    }

    fn output(
        &self,
        spec: &dsl::NodeSpec,
        output: pipeline::output::OutputSpec,
    ) -> Result<Arc<dyn pipeline::output::Output>, BuildError> {
        self.outputs
            .start(&spec.name, output)
            .map_err(|e| BuildError::invalid(spec, e))
    }

    fn deadman_templates(&self) -> (Option<String>, Option<String>) {
        deadman_templates(self.deadman)
    }

    fn loopback(&self, spec: &dsl::NodeSpec) -> Result<Arc<dyn pipeline::PointSink>, BuildError> {
        self.loopback
            .clone()
            .ok_or_else(|| BuildError::invalid(spec, "kapacitorLoopback is not available here"))
    }

    fn http_out(&self, name: &str) -> Arc<HttpOutEndpoint> {
        self.http_out.endpoint(self.task, name)
    }

    fn alert_sink(&self, spec: &dsl::NodeSpec) -> Result<Arc<dyn AlertSink>, BuildError> {
        self.handlers.sink_for(spec)
    }

    fn http_endpoint(&self, name: &str) -> Option<pipeline::build::HttpEndpoint> {
        self.endpoints.get(name)
    }

    fn sideload(
        &self,
        spec: &dsl::NodeSpec,
        source: &str,
    ) -> Result<Arc<dyn SideloadSource>, BuildError> {
        sideload_source(self.sideloads, spec, source)
    }
}

/// The sideload source `source` of node `spec`.
pub(crate) fn sideload_source(
    sideloads: &Sideloads,
    spec: &dsl::NodeSpec,
    source: &str,
) -> Result<Arc<dyn SideloadSource>, BuildError> {
    let source = sideloads
        .source(source)
        .map_err(|e| BuildError::invalid(spec, e))?;
    Ok(source)
}

/// The `deadman` section's templates; `None` where it sets none.
pub(crate) fn deadman_templates(
    deadman: Option<&config::DeadmanConfig>,
) -> (Option<String>, Option<String>) {
    let given = |s: &str| (!s.is_empty()).then(|| s.to_string());
    deadman.map_or((None, None), |d| (given(&d.id), given(&d.message)))
}
