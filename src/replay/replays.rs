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
//! Results (alert events, httpOut results, what influxDBOut and
//! kapacitorLoopback would have written) are kept in memory with the replay
//! (the last `replay.keep_replays` of them). A finished replay's httpOut
//! results also show at the task's endpoints while the task is not
//! running, until it is replayed again or enabled.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::file::StreamReader;
use super::instance::{Effects, Instance, Outcome, Produced, TaskFilter};
use super::recordings::{RecordError, Recordings};
use crate::tasks::TaskManager;

/// Points handed to the replayed task at a time: enough that what each
/// hand-off costs (a lock, maybe a wake-up) vanishes next to the points.
const DELIVERY_BATCH: usize = 4096;
/// How long a replayed task may take to process what it was handed after
/// the last point.
const FINISH_WAIT: Duration = Duration::from_secs(60);

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

/// A replay as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayInfo {
    pub id: String,
    pub task: String,
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
    /// Points (or batches) handed to the task.
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

struct Entry {
    info: Mutex<ReplayInfo>,
    cancel: AtomicBool,
}

impl Entry {
    fn update(&self, f: impl FnOnce(&mut ReplayInfo)) {
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

    /// Starts a replay on a thread of its own; returns it as it starts.
    pub fn start(&self, req: ReplayRequest) -> Result<ReplayInfo, ReplayError> {
        let limits = self.recordings.limits().clone();
        let real = match req.clock.as_deref() {
            None | Some("fast") => false,
            Some("real") => true,
            Some(other) => {
                return Err(ReplayError::Invalid(format!(
                    "unknown clock {other:?}: use fast or real"
                )));
            }
        };
        let start = match &req.start {
            Some(_) if req.recording_time => {
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
            .compiled(&req.task)
            .ok_or_else(|| ReplayError::NoTask(req.task.clone()))?;
        let recording = self.recordings.get(&req.recording)?;
        if recording.status == super::recordings::STATUS_RECORDING {
            return Err(ReplayError::Invalid(format!(
                "recording {:?} is still recording; stop it first",
                recording.id
            )));
        }
        if recording.kind != def.task_type.as_str() {
            return Err(ReplayError::Invalid(format!(
                "recording {:?} is a {} recording and task {:?} a {} task",
                recording.id,
                recording.kind,
                def.id,
                def.task_type.as_str()
            )));
        }
        let id = req.id.clone().unwrap_or_else(super::recordings::new_id);
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
                    task: req.task.clone(),
                    recording: req.recording.clone(),
                    recording_time: req.recording_time,
                    clock: if real { "real" } else { "fast" },
                    status: "running",
                    progress: 0.0,
                    error: String::new(),
                    date: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                        .to_string(),
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
            path: recording.path.clone(),
            real,
            fire_handlers: req.fire_handlers,
            zero: if req.recording_time {
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

/// One replay, on its thread.
struct Job {
    tasks: Arc<TaskManager>,
    entry: Arc<Entry>,
    def: crate::tasks::TaskDefinition,
    plan: dsl::Plan,
    path: String,
    real: bool,
    fire_handlers: bool,
    /// Where the first point goes; `None`: recorded times.
    zero: Option<i64>,
}

impl Job {
    fn run(self) {
        let began = Instant::now();
        let result = self.replay();
        let seconds = began.elapsed().as_secs_f64();
        match result {
            Ok((outcome, warning)) => {
                if !self.tasks.is_running(&self.def.id) {
                    self.tasks
                        .http_out()
                        .show_replay(&self.def.id, outcome.endpoints);
                }
                self.entry.update(|i| {
                    i.status = "finished";
                    i.progress = 1.0;
                    i.warning = warning;
                    i.seconds = seconds;
                    i.result = Some(outcome.produced);
                });
            }
            Err(e) => self.entry.update(|i| {
                i.status = "failed";
                i.error = e;
                i.seconds = seconds;
            }),
        }
    }

    fn cancelled(&self) -> Result<(), String> {
        if self.entry.cancel.load(Ordering::Acquire) {
            Err("the replay was deleted".into())
        } else {
            Ok(())
        }
    }

    fn start_instance(&self, clock_start: i64) -> Result<Instance, String> {
        let effects = Effects {
            endpoints: self.tasks.http_endpoints().clone(),
            fire_handlers: self.fire_handlers,
            sideloads: self.tasks.sideloads(),
            deadman: Some(self.tasks.deadman()),
        };
        Instance::start(
            self.tasks.pool(),
            &self.def.id,
            &self.plan,
            self.def.task_type,
            &effects,
            clock_start,
            DELIVERY_BATCH,
        )
    }

    fn replay(&self) -> Result<(Outcome, String), String> {
        let bytes = std::fs::read(&self.path)
            .map_err(|e| format!("cannot read the recording {}: {e}", self.path))?;
        match self.def.task_type {
            dsl::TaskType::Stream => self.replay_stream(&bytes),
            dsl::TaskType::Batch => self.replay_batch(&bytes).map(|o| (o, String::new())),
        }
    }

    fn replay_stream(&self, bytes: &[u8]) -> Result<(Outcome, String), String> {
        let bad = |e: super::recording::RecordingError| format!("recording {}: {e}", self.path);
        let mut reader = StreamReader::new(bytes).map_err(bad)?;
        let filter = TaskFilter::new(
            &self.def.id,
            self.def.dbrps.clone(),
            self.def.measurement.as_deref(),
            self.tasks
                .where_filter(&self.def)
                .map_err(|e| e.to_string())?,
        );
        let mut chunk = Vec::new();
        let mut instance: Option<Instance> = None;
        let (mut shift, mut first, mut fed) = (0, 0, 0u64);
        let wall_start = Instant::now();
        while let Some(dbrp) = reader.next_chunk(&mut chunk).map_err(bad)? {
            self.cancelled()?;
            let running = match &mut instance {
                Some(i) => i,
                None => {
                    first = chunk[0].time;
                    shift = self.zero.map_or(0, |z| z - first);
                    instance.insert(self.start_instance(first + shift)?)
                }
            };
            for p in &mut chunk {
                p.time += shift;
            }
            filter.retain(&dbrp, &mut chunk);
            if self.real {
                for point in chunk.drain(..) {
                    let due = Duration::from_nanos((point.time - shift - first).max(0) as u64);
                    let now = wall_start.elapsed();
                    if due > now {
                        running.flush()?;
                        std::thread::sleep(due - now);
                        self.cancelled()?;
                    }
                    running.push(&dbrp, point)?;
                    fed += 1;
                }
            } else {
                // The whole chunk at once; its buffer is decoded into again.
                fed += chunk.len() as u64;
                running.push_all(&dbrp, &mut chunk)?;
            }
            let progress = reader.valid_len() as f64 / bytes.len().max(1) as f64;
            self.entry.update(|i| {
                i.points = fed;
                i.progress = progress.min(0.99);
            });
        }
        let warning = if reader.truncated() {
            "the recording's last line was cut short (a crash while recording) and was skipped"
                .to_string()
        } else {
            String::new()
        };
        let instance = match instance {
            Some(i) => i,
            // An empty recording: the task runs, and ends, on nothing.
            None => self.start_instance(self.zero.unwrap_or(0))?,
        };
        Ok((instance.finish(FINISH_WAIT)?, warning))
    }

    fn replay_batch(&self, bytes: &[u8]) -> Result<Outcome, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("{}: {e}", self.path))?;
        let mut batches = super::recording::read_brpl(text)
            .map_err(|e| format!("recording {}: {e}", self.path))?;
        let first = batches
            .iter()
            .flat_map(|b| b.points.first())
            .map(|p| p.time)
            .next();
        if let (Some(zero), Some(_)) = (self.zero, first) {
            super::testcase::shift_batches(&mut batches, zero);
        }
        // The batches feed the first query node (or, in a seed-style batch
        // task without one, the root).
        let node = self
            .plan
            .nodes
            .iter()
            .find(|n| n.kind == "query")
            .map_or(0, |n| n.id);
        let start = batches.first().map_or(0, |b| b.tmax);
        let mut instance = self.start_instance(start)?;
        let total = batches.len().max(1);
        for (n, batch) in batches.into_iter().enumerate() {
            self.cancelled()?;
            instance.push_batch(node, batch)?;
            self.entry.update(|i| {
                i.points = n as u64 + 1;
                i.progress = ((n + 1) as f64 / total as f64).min(0.99);
            });
        }
        instance.finish(FINISH_WAIT)
    }
}
