//! Replays: a recording fed to a task's current definition, enabled or not,
//! as an instance of its own ([`super::instance`]) on the daemon's worker
//! pool. The live task, if any, is untouched and no live point reaches the
//! replay.
//!
//! Time: by default the recording's first point is moved to the moment the
//! replay starts and every point by the same amount, as Kapacitor does;
//! `recording-time` keeps the recorded times, and `start` (ours) moves the
//! first point to a given instant. The task's clock follows the data, as
//! fast as the machine goes, or (`clock: real`) at the pace the points were
//! recorded.
//!
//! A live replay (`POST /replays/batch`, `/replays/query`) runs a batch
//! task's queries over a range, or one query, and replays what they get,
//! keeping no recording.
//!
//! Results (alert events, httpOut results, what influxDBOut and
//! kapacitorLoopback would have written) are kept in memory with the replay
//! (the last `replay.keep_replays` of them). A finished replay's httpOut
//! results also show at the task's endpoints while the task is not
//! running, until it is replayed again or enabled.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::instance::Produced;
use super::job::{Job, LiveSource, Source};
use super::recordings::{RecordError, Recordings};
use crate::tasks::TaskManager;

/// `POST /kapacitor/v1/replays`, in Kapacitor's shape plus ours.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    pub id: Option<String>,
    pub task: String,
    pub recording: String,
    /// Keep the recorded times.
    #[serde(default, rename = "recording-time")]
    pub recording_time: bool,
    /// `fast` (default) or `real`.
    #[serde(default)]
    pub clock: Option<String>,
    /// Ours: let alert handlers act (post, log, exec, ...).
    #[serde(default, rename = "fire-handlers")]
    pub fire_handlers: bool,
    /// Ours: the first point is moved to this instant (RFC 3339).
    #[serde(default)]
    pub start: Option<String>,
}

/// How a replay runs, whatever its data.
#[derive(Clone, Debug, Default)]
pub struct How {
    pub id: Option<String>,
    pub task: String,
    pub recording_time: bool,
    pub clock: Option<String>,
    pub fire_handlers: bool,
    /// RFC 3339: where the first point goes.
    pub start: Option<String>,
}

/// A replay as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayInfo {
    pub id: String,
    pub task: String,
    /// Empty for a live replay.
    pub recording: String,
    #[serde(rename = "recording-time")]
    pub recording_time: bool,
    pub clock: &'static str,
    /// `running`, `finished` or `failed`.
    pub status: &'static str,
    /// From 0 to 1.
    pub progress: f64,
    pub error: String,
    pub date: String,
    /// The task's type: `stream` or `batch`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Points (or, for a batch task, batches) handed to the task.
    pub points: u64,
    /// Set when the recording's last line was cut short (a crash while
    /// recording) and skipped.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub warning: String,
    /// How long it ran.
    pub seconds: f64,
    /// What the task produced, once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Produced>,
}

/// Why a replay could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Invalid(String),
    #[error("task {0:?} does not exist")]
    NoTask(String),
    #[error("replay {0:?} does not exist")]
    NotFound(String),
    #[error("replay {0:?} already exists")]
    Exists(String),
    #[error("{0} replays are running, the most allowed (replay.max_running)")]
    Busy(usize),
    #[error("{0}")]
    Recording(#[from] RecordError),
}

/// A replay as it goes.
pub struct Entry {
    info: Mutex<ReplayInfo>,
    pub(super) cancel: AtomicBool,
}

impl Entry {
    pub(super) fn update(&self, f: impl FnOnce(&mut ReplayInfo)) {
        f(&mut self.info.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn info(&self) -> ReplayInfo {
        self.info.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Every replay the server remembers.
pub struct Replays {
    tasks: Arc<TaskManager>,
    recordings: Arc<Recordings>,
    entries: Mutex<VecDeque<(String, Arc<Entry>)>>,
}

impl Replays {
    pub fn new(tasks: Arc<TaskManager>, recordings: Arc<Recordings>) -> Self {
        Replays {
            tasks,
            recordings,
            entries: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, Arc<Entry>)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a replay of a recording on a thread of its own; returns it
    /// as it starts.
    pub fn start(&self, req: ReplayRequest) -> Result<ReplayInfo, ReplayError> {
        let recording = self.recordings.get(&req.recording)?;
        if recording.status == super::recordings::STATUS_RECORDING {
            return Err(ReplayError::Invalid(format!(
                "recording {:?} is still recording; stop it first",
                recording.id
            )));
        }
        let how = How {
            id: req.id,
            task: req.task,
            recording_time: req.recording_time,
            clock: req.clock,
            fire_handlers: req.fire_handlers,
            start: req.start,
        };
        self.launch(how, &req.recording, |def, _| {
            if recording.kind != def.task_type.as_str() {
                return Err(ReplayError::Invalid(format!(
                    "recording {:?} is a {} recording and task {:?} a {} task",
                    recording.id,
                    recording.kind,
                    def.id,
                    def.task_type.as_str()
                )));
            }
            Ok(Source::Recording(recording.path.clone()))
        })
    }

    /// Starts a live replay: `source` queried (for the task `how` names),
    /// then replayed, nothing kept but the replay.
    pub fn start_live(
        &self,
        how: How,
        source: impl FnOnce(
            &crate::tasks::TaskDefinition,
            &dsl::Plan,
            &[config::InfluxDbConfig],
        ) -> Result<LiveSource, String>,
    ) -> Result<ReplayInfo, ReplayError> {
        let recordings = self.recordings.clone();
        self.launch(how, "", |def, plan| {
            let live = source(def, plan, recordings.influxdb()).map_err(ReplayError::Invalid)?;
            Ok(Source::Live {
                source: Box::new(live),
                scratch: recordings.scratch_path(&super::recordings::new_id()),
                max_bytes: recordings.limits().max_recording_bytes,
            })
        })
    }

    /// Checks what every replay needs, asks `source` (given the task) for
    /// the data, and starts the replay's thread.
    fn launch(
        &self,
        how: How,
        recording: &str,
        source: impl FnOnce(&crate::tasks::TaskDefinition, &dsl::Plan) -> Result<Source, ReplayError>,
    ) -> Result<ReplayInfo, ReplayError> {
        let limits = self.recordings.limits().clone();
        let real = match how.clock.as_deref() {
            None | Some("fast") => false,
            Some("real") => true,
            Some(other) => {
                return Err(ReplayError::Invalid(format!(
                    "unknown clock {other:?}: use fast or real"
                )));
            }
        };
        let start = match &how.start {
            Some(_) if how.recording_time => {
                return Err(ReplayError::Invalid(
                    "start and recording-time exclude each other".into(),
                ));
            }
            Some(t) => Some(
                pipeline::time::parse_rfc3339(t)
                    .map_err(|e| ReplayError::Invalid(format!("start: {e}")))?,
            ),
            None => None,
        };
        let (def, plan) = self
            .tasks
            .compiled(&how.task)
            .ok_or_else(|| ReplayError::NoTask(how.task.clone()))?;
        let source = source(&def, &plan)?;
        let id = how.id.clone().unwrap_or_else(super::recordings::new_id);
        if !crate::tasks::valid_id(&id) {
            return Err(ReplayError::Invalid(format!(
                "invalid replay id {id:?}: use letters, digits, '-', '.' and '_'"
            )));
        }
        let entry = {
            let mut entries = self.lock();
            if entries.iter().any(|(i, _)| *i == id) {
                return Err(ReplayError::Exists(id));
            }
            let running = entries
                .iter()
                .filter(|(_, e)| e.info().status == "running")
                .count();
            if running >= limits.max_running {
                self.tasks
                    .limit_breaches()
                    .breach(model::Limit::ReplayMaxRunning);
                return Err(ReplayError::Busy(running));
            }
            while entries.len() >= limits.keep_replays {
                match entries
                    .iter()
                    .position(|(_, e)| e.info().status != "running")
                {
                    Some(i) => {
                        entries.remove(i);
                    }
                    None => break,
                }
            }
            let entry = Arc::new(Entry {
                info: Mutex::new(ReplayInfo {
                    id: id.clone(),
                    task: how.task.clone(),
                    recording: recording.to_string(),
                    recording_time: how.recording_time,
                    clock: if real { "real" } else { "fast" },
                    status: "running",
                    progress: 0.0,
                    error: String::new(),
                    date: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                        .to_string(),
                    kind: def.task_type.as_str(),
                    points: 0,
                    warning: String::new(),
                    seconds: 0.0,
                    result: None,
                }),
                cancel: AtomicBool::new(false),
            });
            entries.push_back((id.clone(), entry.clone()));
            entry
        };
        let info = entry.info();
        let job = Job {
            tasks: self.tasks.clone(),
            entry: entry.clone(),
            def,
            plan,
            source,
            real,
            fire_handlers: how.fire_handlers,
            zero: if how.recording_time {
                None
            } else {
                Some(start.unwrap_or_else(host::wall_clock_ns))
            },
        };
        let spawned = std::thread::Builder::new()
            .name(format!("replay-{id}"))
            .spawn(move || job.run());
        if let Err(e) = spawned {
            entry.update(|i| {
                i.status = "failed";
                i.error = format!("cannot start the replay: {e}");
            });
        }
        Ok(info)
    }

    pub fn get(&self, id: &str) -> Option<ReplayInfo> {
        self.lock()
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, e)| e.info())
    }

    /// Every replay remembered, oldest first, without their results.
    pub fn list(&self) -> Vec<ReplayInfo> {
        self.lock()
            .iter()
            .map(|(_, e)| {
                let mut info = e.info();
                info.result = None;
                info
            })
            .collect()
    }

    /// Stops a running replay and forgets it.
    pub fn delete(&self, id: &str) -> Result<(), ReplayError> {
        let mut entries = self.lock();
        let i = entries
            .iter()
            .position(|(i, _)| i == id)
            .ok_or_else(|| ReplayError::NotFound(id.into()))?;
        if let Some((_, e)) = entries.remove(i) {
            e.cancel.store(true, Ordering::Release);
        }
        Ok(())
    }
}
