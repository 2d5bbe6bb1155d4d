//! Tasks kept in the store, so they survive restarts: saving one as it
//! changes and defining them all again at start.

use std::sync::Arc;
use std::time::SystemTime;

use pipeline::{DbRp, Router};

use super::{Entry, TaskDefinition, TaskError, TaskManager};
use crate::effects::alert_states::AlertStates;

/// A stored task's times, kept across restarts.
#[derive(Clone, Copy)]
pub(super) struct Times {
    pub(super) created: SystemTime,
    pub(super) modified: SystemTime,
    pub(super) last_enabled: Option<SystemTime>,
}

pub(super) fn to_ns(t: SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn from_ns(ns: i64) -> SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns.max(0) as u64)
}

impl TaskManager {
    /// A manager that keeps task definitions and their enabled state in
    /// `store`, so they survive restarts.
    pub fn with_store(router: Arc<Router>, store: Arc<storage::Store>) -> Self {
        let alert_states = AlertStates::with_store(store.clone());
        TaskManager {
            store: Some(store),
            alert_states,
            ..TaskManager::new(router)
        }
    }

    /// Defines (and enables, as they were) the tasks kept in the store.
    /// A task that no longer compiles is kept, disabled, with its error
    /// logged, rather than stopping the server. Returns how many started.
    pub fn restore(&self) -> Result<usize, TaskError> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let mut started = 0;
        let records = store.list_tasks()?;
        for q in self.quarantined() {
            tracing::error!(
                table = %q.table,
                key = %q.key,
                "a stored record cannot be read and was moved to the quarantine table \
                 (the daemon goes on without it): {}",
                q.error
            );
        }
        for record in records {
            let id = record.id.clone();
            let Ok(task_type) = record.task_type.parse::<dsl::TaskType>() else {
                tracing::error!(task = %id, "stored task has unknown type {:?}", record.task_type);
                continue;
            };
            let mut meta = record.meta.clone();
            let measurement = meta.remove("from");
            let def = TaskDefinition {
                id: id.clone(),
                task_type,
                dbrps: record
                    .dbrps
                    .iter()
                    .map(|(db, rp)| DbRp::new(db.as_str(), rp.as_str()))
                    .collect(),
                script: record.script.clone(),
                measurement,
                meta,
            };
            let times = Times {
                created: from_ns(record.created),
                modified: from_ns(record.modified),
                last_enabled: record.last_enabled.map(from_ns),
            };
            if let Err(e) = self.define_inner(def, Some(times)) {
                tracing::error!(task = %id, "stored task no longer compiles: {e}");
                continue;
            }
            if record.enabled {
                match self.enable_inner(&id, false) {
                    Ok(()) => started += 1,
                    Err(e) => tracing::error!(task = %id, "stored task cannot start: {e}"),
                }
            }
        }
        Ok(started)
    }

    /// Records of the store that could not be read, moved aside at start.
    pub fn quarantined(&self) -> Vec<storage::Quarantined> {
        let Some(store) = &self.store else {
            return Vec::new();
        };
        store.quarantined().unwrap_or_else(|e| {
            tracing::error!("reading the store's quarantine: {e}");
            Vec::new()
        })
    }

    /// Writes a task's current definition and state to the store.
    pub(super) fn persist(&self, entry: &Entry) -> Result<(), TaskError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        if self.is_dir_task(&entry.def.id) {
            return Ok(());
        }
        let mut meta = entry.def.meta.clone();
        if let Some(from) = &entry.def.measurement {
            meta.insert("from".into(), from.clone());
        }
        let record = storage::TaskRecord {
            id: entry.def.id.clone(),
            task_type: entry.def.task_type.as_str().into(),
            dbrps: entry
                .def
                .dbrps
                .iter()
                .map(|d| (d.db.to_string(), d.rp.to_string()))
                .collect(),
            script: entry.def.script.clone(),
            meta,
            enabled: entry.enabled,
            created: to_ns(entry.created),
            modified: to_ns(entry.modified),
            last_enabled: entry.last_enabled.map(to_ns),
            error: String::new(),
        };
        store.put_task(&record)?;
        Ok(())
    }
}
