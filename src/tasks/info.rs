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
            let failure = r.task.failure();
            let nodes = r
                .stats
                .iter()
                .map(|(name, kind, s)| s.snapshot(name, kind))
                .collect();
            let counts = r.task.counts();
            let (received, dropped) = (counts.received, counts.dropped);
            match failure {
                Some(e) => (
                    TaskStatus::Errored,
                    false,
                    e.to_string(),
                    nodes,
                    received,
                    dropped,
                ),
                None => (
                    TaskStatus::Enabled,
                    true,
                    String::new(),
                    nodes,
                    received,
                    dropped,
                ),
            }
        }
        None if entry.enabled => (TaskStatus::Enabled, false, String::new(), Vec::new(), 0, 0),
        None => (TaskStatus::Disabled, false, String::new(), Vec::new(), 0, 0),
    };
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
        dbrps: entry.def.dbrps.clone(),
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
        nodes,
        batch,
        dot: entry.plan.to_dot(&entry.def.id),
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}
