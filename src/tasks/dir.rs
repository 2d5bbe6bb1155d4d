//! The watched tasks directory: keeps the task manager in step with the
//! `NAME.tick` + `NAME.yaml` pairs in it.
//!
//! A new or changed valid pair is (re)defined and enabled or disabled as its
//! YAML says; an unchanged one is left alone, so it keeps its window and
//! alert state. An invalid edit leaves the running version in place and
//! shows the file's error in the status. Removing the files deletes the
//! task. Tasks from the directory are rebuilt from it at every start and are
//! never written to the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use config::{TaskDir, TaskDirEvent, TaskDirWatcher, TaskFiles, WatchOptions};

use crate::tasks::{TaskDefinition, TaskManager};

/// A running watch of the tasks directory.
pub struct TaskDirSync {
    watcher: Option<TaskDirWatcher>,
    thread: Option<JoinHandle<()>>,
    pub dir: PathBuf,
}

impl TaskDirSync {
    /// Loads every task in `dir` (created if missing), then follows changes.
    pub fn start(dir: &Path, tasks: Arc<TaskManager>) -> Result<TaskDirSync, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("tasks dir {}: {e}", dir.display()))?;
        let options = WatchOptions {
            max_file_size: tasks.script_limits().max_script_size as u64,
            ..WatchOptions::default()
        };
        let watching = TaskDir::watch(dir, options)
            .map_err(|e| format!("cannot watch tasks dir {}: {e}", dir.display()))?;
        let initial = watching.initial.tasks;
        tasks.loading_many(|| {
            for files in initial {
                upsert(&tasks, files);
            }
        });
        for invalid in watching.initial.invalid {
            file_error(&tasks, &invalid.id, invalid.errors.to_string());
        }
        let events = watching.events;
        let thread = std::thread::Builder::new()
            .name("tasks dir".into())
            .spawn(move || {
                while let Ok(event) = events.recv() {
                    match event {
                        TaskDirEvent::Upsert(files) => upsert(&tasks, *files),
                        TaskDirEvent::Remove { id } => tasks.remove_dir_task(&id),
                        TaskDirEvent::Invalid { id, errors } => {
                            tracing::warn!(task = %id, "invalid task files, keeping the running version:\n{errors}");
                            file_error(&tasks, &id, errors.to_string());
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot start the tasks dir thread: {e}"))?;
        Ok(TaskDirSync {
            watcher: Some(watching.watcher),
            thread: Some(thread),
            dir: dir.to_owned(),
        })
    }

    /// A sync that watches nothing (what is left after [`TaskDirSync::stop`]).
    pub fn stopped() -> TaskDirSync {
        TaskDirSync {
            watcher: None,
            thread: None,
            dir: PathBuf::new(),
        }
    }

    /// Stops watching and waits for the last change to be applied.
    pub fn stop(&mut self) {
        if let Some(watcher) = self.watcher.take() {
            watcher.stop();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TaskDirSync {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Shows a problem with task `id`'s files, counting the limits it cites.
fn file_error(tasks: &TaskManager, id: &str, errors: String) {
    tasks.limit_breaches().cited_in(&errors);
    tasks.set_file_error(id, Some(errors));
}

fn upsert(tasks: &TaskManager, files: TaskFiles) {
    let meta = &files.meta;
    let mut extra = std::collections::BTreeMap::new();
    if let Some(w) = &meta.where_clause {
        extra.insert("where".to_string(), w.source().to_string());
    }
    if let Some(q) = &meta.query {
        extra.insert("query".to_string(), q.clone());
    }
    if meta.overflow != config::Overflow::Block {
        extra.insert("overflow".to_string(), meta.overflow.as_str().to_string());
    }
    if let Some(p) = meta.period {
        extra.insert(
            "period".to_string(),
            humantime::format_duration(p).to_string(),
        );
    }
    if let Some(c) = &meta.cron {
        extra.insert("cron".to_string(), c.clone());
    }
    if !meta.vars.is_empty() {
        extra.insert(
            "vars".to_string(),
            crate::tasks::vars::yaml_to_json(&meta.vars).to_string(),
        );
    }
    if let Some(g) = meta.group_by {
        extra.insert(
            "group_by".to_string(),
            humantime::format_duration(g).to_string(),
        );
    }
    let def = TaskDefinition {
        id: files.id.clone(),
        task_type: meta.task_type,
        dbrps: meta.dbrps.clone(),
        script: files.script.clone(),
        measurement: meta.from.clone(),
        meta: extra,
    };
    let script_path = files.script_path.display().to_string();
    match tasks.define_from_dir(def, meta.enabled) {
        Ok(()) => tracing::info!(task = %files.id, "task loaded from {script_path}"),
        Err(e) => {
            // The old version (if any) keeps running; the error says why not the new one.
            let message = e
                .to_string()
                .replace(&format!("{}.tick", files.id), &script_path);
            // A var's error belongs to the YAML, where the var is written.
            let message = message
                .lines()
                .map(|line| {
                    let var = line
                        .strip_prefix("vars.")
                        .and_then(|rest| rest.split_once(':'))
                        .and_then(|(name, _)| meta.vars.get(name));
                    match var {
                        Some(v) => format!(
                            "{}:{}:{}: {line}",
                            files.meta_path.display(),
                            v.line,
                            v.column
                        ),
                        None => line.to_string(),
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            tracing::warn!(task = %files.id, "task files not applied, keeping the running version:\n{message}");
            tasks.set_file_error(&files.id, Some(message));
        }
    }
}
