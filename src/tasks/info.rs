//! A task as the API and the status show it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use pipeline::DbRp;
use pipeline::runtime::NodeStatsSnapshot;
use serde::Serialize;

use super::Entry;

/// A task's state as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Enabled,
    Disabled,
    Errored,
}

/// A task as the API and status endpoint show it.
#[derive(Clone, Debug, Serialize)]
pub struct TaskInfo {
    pub id: String,
    #[serde(rename = "type")]
    pub task_type: dsl::TaskType,
    pub dbrps: Vec<DbRp>,
    pub script: String,
    /// The YAML `from`: only this measurement reaches the task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    /// Values given for the script's vars, in Kapacitor's shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vars: Option<serde_json::Value>,
    pub status: TaskStatus,
    pub executing: bool,
    pub error: String,
    pub points_received: u64,
    pub points_dropped: u64,
    /// Times a panic stopped the task since it was enabled, and times it
    /// was restarted after one.
    pub panics: u64,
    pub restarts: u64,
    /// The last panic: which node, what it said, when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_panic: Option<PanicInfo>,
    pub nodes: Vec<NodeStatsSnapshot>,
    /// A batch task's query runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<crate::batch::BatchStatus>,
    pub dot: String,
    pub created: String,
    pub modified: String,
    #[serde(rename = "last-enabled")]
    pub last_enabled: Option<String>,
}

/// A panic that stopped a task.
#[derive(Clone, Debug, Serialize)]
pub struct PanicInfo {
    /// The node that panicked; empty when not known.
    pub node: String,
    pub message: String,
    pub time: String,
}

impl PanicInfo {
    fn of(failure: &host::Failure) -> Self {
        let at = std::time::UNIX_EPOCH
            + std::time::Duration::from_nanos(u64::try_from(failure.at).unwrap_or(0));
        PanicInfo {
            node: failure.node.clone().unwrap_or_default(),
            message: failure.message.clone(),
            time: rfc3339(at),
        }
    }
}

/// What a running task's health makes of its state: an error while it
/// waits to restart or has been given up on.
fn health_status(
    health: &super::restart::Health,
    failed: Option<host::Failure>,
) -> (TaskStatus, bool, String) {
    if let Some(why) = &health.gave_up {
        return (TaskStatus::Errored, false, why.clone());
    }
    match failed {
        None => (TaskStatus::Enabled, true, String::new()),
        Some(f) => {
            let when = health
                .restart_at
                .map(|at| format!("; restarting at {}", rfc3339(at)))
                .unwrap_or_default();
            (TaskStatus::Enabled, false, format!("{f}{when}"))
        }
    }
}

/// A running task's own failure wins; otherwise a problem with its files.
pub(super) fn with_file_error(mut info: TaskInfo, errors: &BTreeMap<String, String>) -> TaskInfo {
    if info.error.is_empty()
        && let Some(e) = errors.get(&info.id)
    {
        info.error = e.clone();
    }
    info
}

pub(super) fn info(entry: &Entry) -> TaskInfo {
    let batch = entry
        .running
        .as_ref()
        .and_then(|r| r.batch.as_ref())
        .map(|b| b.stats.snapshot());
    let (status, executing, mut error, nodes, received, dropped) = match &entry.running {
        Some(r) => {
            let nodes = r
                .stats
                .iter()
                .map(|(name, kind, s)| s.snapshot(name, kind))
                .collect();
            let counts = r.task.counts();
            let (status, executing, error) = health_status(&r.health, r.task.failure());
            (
                status,
                executing,
                error,
                nodes,
                counts.received,
                counts.dropped,
            )
        }
        None if entry.enabled => (TaskStatus::Enabled, false, String::new(), Vec::new(), 0, 0),
        None => (TaskStatus::Disabled, false, String::new(), Vec::new(), 0, 0),
    };
    let health = entry.running.as_ref().map(|r| &r.health);
    // A failing query is the task's error until a run succeeds.
    if let Some(b) = &batch
        && error.is_empty()
        && !b.last_error.is_empty()
    {
        error = format!("batch query: {}", b.last_error);
    }
    TaskInfo {
        id: entry.def.id.clone(),
        task_type: entry.def.task_type,
        dbrps: entry.dbrps.clone(),
        script: entry.def.script.clone(),
        from: entry.def.measurement.clone(),
        meta: entry
            .def
            .meta
            .iter()
            .filter(|(k, _)| *k != "vars")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        vars: entry
            .def
            .meta
            .get("vars")
            .and_then(|v| serde_json::from_str(v).ok()),
        created: rfc3339(entry.created),
        modified: rfc3339(entry.modified),
        last_enabled: entry.last_enabled.map(rfc3339),
        status,
        executing,
        error,
        points_received: received,
        points_dropped: dropped,
        panics: health.map_or(0, |h| h.panics),
        restarts: health.map_or(0, |h| h.restarts),
        last_panic: health
            .and_then(|h| h.last_panic.as_ref())
            .map(PanicInfo::of),
        nodes,
        batch,
        dot: entry.plan.to_dot(&entry.def.id),
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}
