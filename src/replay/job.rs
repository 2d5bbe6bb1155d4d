//! One replay, on a thread of its own: reads its data (a recording file,
//! or for a live replay the scratch file its queries were first recorded
//! into) and feeds it to a task instance of its own, then keeps what the
//! task produced with the replay.
//!
//! A stream recording's points reach the task through its own
//! dbrp/`from`/`where` routing; a batch recording's batches go to the query
//! node each was recorded for (the root of a seed-style task, which has
//! none). Times move as [`super::replays`] says, batches with their points.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pipeline::Batch;

use super::file::{BatchReader, StreamReader};
use super::instance::{Effects, Instance, Outcome, TaskFilter};
use super::queried::Writer;
use super::recording::RecordingError;
use super::replays::Entry;
use crate::tasks::TaskManager;

/// Points handed to the replayed task at a time: enough that what each
/// hand-off costs (a lock, maybe a wake-up) vanishes next to the points.
const DELIVERY_BATCH: usize = 4096;
/// How long a replayed task may take to process what it was handed after
/// the last point.
const FINISH_WAIT: Duration = Duration::from_secs(60);
const CUT_SHORT: &str =
    "the recording's last line was cut short (a crash while recording) and was skipped";

/// What a live replay queries before it replays.
pub enum LiveSource {
    Batch(super::queried::BatchQueries),
    Query(super::queried::RawQuery),
}

/// Where a replay's data comes from.
pub enum Source {
    /// A recording's file.
    Recording(String),
    /// Queries recorded into a scratch file first, removed afterwards.
    Live {
        source: Box<LiveSource>,
        scratch: std::path::PathBuf,
        max_bytes: u64,
    },
}

pub struct Job {
    pub tasks: Arc<TaskManager>,
    pub entry: Arc<Entry>,
    pub def: crate::tasks::TaskDefinition,
    pub plan: dsl::Plan,
    pub source: Source,
    pub real: bool,
    pub fire_handlers: bool,
    /// Where the first point goes; `None`: recorded times.
    pub zero: Option<i64>,
}

impl Job {
    pub fn run(self) {
        let began = Instant::now();
        let result = match &self.source {
            Source::Recording(path) => self.replay(path),
            Source::Live {
                source,
                scratch,
                max_bytes,
            } => {
                let result = self
                    .record_live(source, scratch, *max_bytes)
                    .and_then(|()| self.replay(&scratch.display().to_string()));
                let _ = std::fs::remove_file(scratch);
                result
            }
        };
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

    /// Runs a live replay's queries into its scratch file.
    fn record_live(
        &self,
        source: &LiveSource,
        scratch: &std::path::Path,
        max_bytes: u64,
    ) -> Result<(), String> {
        let io = |e: std::io::Error| format!("cannot write {}: {e}", scratch.display());
        let _ = std::fs::remove_file(scratch);
        let mut out = match (source, self.def.task_type) {
            (_, dsl::TaskType::Batch) => {
                Writer::Batch(super::file::BatchWriter::create(scratch, max_bytes).map_err(io)?)
            }
            (LiveSource::Query(q), dsl::TaskType::Stream) => Writer::Stream(
                super::file::StreamWriter::create(scratch, max_bytes).map_err(io)?,
                q.stream_dbrp()?,
            ),
            (LiveSource::Batch(_), dsl::TaskType::Stream) => {
                return Err(format!("task {:?} is a stream task", self.def.id));
            }
        };
        match source {
            LiveSource::Batch(queries) => queries.record(&mut out, &|| self.cancelled())?,
            LiveSource::Query(query) => query.record(&mut out, &|| self.cancelled())?,
        }
        out.finish().map(|_| ()).map_err(io)
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

    fn replay(&self, path: &str) -> Result<(Outcome, String), String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read the recording {path}: {e}"))?;
        let bad = |e: RecordingError| format!("recording {path}: {e}");
        match self.def.task_type {
            dsl::TaskType::Stream => self.replay_stream(&bytes, &bad),
            dsl::TaskType::Batch => self.replay_batch(path, &bytes, &bad),
        }
    }

    /// Waits, with `clock: real`, until `elapsed` (ns of data time since
    /// the first point) has passed since `began`.
    fn pace(&self, began: Instant, elapsed: i64) -> Result<(), String> {
        let due = Duration::from_nanos(elapsed.max(0) as u64);
        let now = began.elapsed();
        if self.real && due > now {
            std::thread::sleep(due - now);
            self.cancelled()?;
        }
        Ok(())
    }

    fn replay_stream(
        &self,
        bytes: &[u8],
        bad: &dyn Fn(RecordingError) -> String,
    ) -> Result<(Outcome, String), String> {
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
                    if point.time - shift - first > wall_start.elapsed().as_nanos() as i64 {
                        running.flush()?;
                    }
                    self.pace(wall_start, point.time - shift - first)?;
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
        self.finish(instance, reader.truncated())
    }

    /// Lets the task finish what it was handed (an empty recording: the
    /// task runs, and ends, on nothing), with a warning when the
    /// recording's tail was `truncated`.
    fn finish(
        &self,
        instance: Option<Instance>,
        truncated: bool,
    ) -> Result<(Outcome, String), String> {
        let instance = match instance {
            Some(i) => i,
            None => self.start_instance(self.zero.unwrap_or(0))?,
        };
        let warning = if truncated { CUT_SHORT } else { "" };
        Ok((instance.finish(FINISH_WAIT)?, warning.to_string()))
    }

    fn replay_batch(
        &self,
        path: &str,
        bytes: &[u8],
        bad: &dyn Fn(RecordingError) -> String,
    ) -> Result<(Outcome, String), String> {
        // The task's query nodes, in script order; a seed-style task has
        // none and its root takes the batches.
        let mut nodes: Vec<usize> = self
            .plan
            .nodes
            .iter()
            .filter(|n| n.kind == "query")
            .map(|n| n.id)
            .collect();
        if nodes.is_empty() {
            nodes.push(0);
        }
        let mut batches = Batches::new(bytes, path.ends_with(".brpl")).map_err(bad)?;
        let mut instance: Option<Instance> = None;
        let (mut shift, mut first, mut fed, mut clock) = (0, 0, 0u64, i64::MIN);
        let wall_start = Instant::now();
        while let Some((query, mut batch)) = batches.next().map_err(bad)? {
            self.cancelled()?;
            let node = *nodes.get(query).ok_or_else(|| {
                format!(
                    "the recording has batches for query node {query} (counting from 0), \
                     and task {:?} has {} query node(s)",
                    self.def.id,
                    nodes.len()
                )
            })?;
            let running = match &mut instance {
                Some(i) => i,
                None => {
                    first = batch.points.first().map_or(batch.tmax, |p| p.time);
                    shift = self.zero.map_or(0, |z| z - first);
                    instance.insert(self.start_instance(first + shift)?)
                }
            };
            shift_batch(&mut batch, shift);
            let last = batch
                .points
                .iter()
                .map(|p| p.time)
                .max()
                .unwrap_or(batch.tmax);
            self.pace(wall_start, last - shift - first)?;
            // The clock reaches the batch's last point first, as in
            // Kapacitor's replay; it never goes back.
            if last > clock {
                clock = last;
                running.advance_to(last)?;
            }
            running.push_batch(node, batch)?;
            fed += 1;
            let progress = batches.progress();
            self.entry.update(|i| {
                i.points = fed;
                i.progress = progress.min(0.99);
            });
        }
        self.finish(instance, batches.truncated())
    }
}

/// Moves a batch, its time and its points' times, by `shift` ns.
fn shift_batch(batch: &mut Batch, shift: i64) {
    batch.tmax += shift;
    for p in &mut batch.points {
        p.time += shift;
    }
}

/// The batches of a batch recording, with the query node each feeds: our
/// file, or (made by an import before there was one) a plain `.brpl`
/// whose batches all feed the first.
enum Batches<'a> {
    File(BatchReader<'a>, usize),
    Brpl(std::vec::IntoIter<Batch>, usize),
}

impl<'a> Batches<'a> {
    /// `brpl`: the file is an import's `.brpl`, from before there was ours.
    fn new(bytes: &'a [u8], brpl: bool) -> Result<Self, RecordingError> {
        if !brpl {
            return Ok(Batches::File(BatchReader::new(bytes)?, bytes.len().max(1)));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| RecordingError {
            line: 0,
            message: format!("not UTF-8: {e}"),
        })?;
        let batches = super::recording::read_brpl(text)?;
        let n = batches.len().max(1);
        Ok(Batches::Brpl(batches.into_iter(), n))
    }

    fn next(&mut self) -> Result<Option<(usize, Batch)>, RecordingError> {
        match self {
            Batches::File(r, _) => r.next_batch(),
            Batches::Brpl(it, _) => Ok(it.next().map(|b| (0, b))),
        }
    }

    fn progress(&self) -> f64 {
        match self {
            Batches::File(r, len) => r.valid_len() as f64 / *len as f64,
            Batches::Brpl(it, n) => 1.0 - it.len() as f64 / *n as f64,
        }
    }

    fn truncated(&self) -> bool {
        matches!(self, Batches::File(r, _) if r.truncated())
    }
}
