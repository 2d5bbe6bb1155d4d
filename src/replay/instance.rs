//! One task instance fed from recorded data, the way replays and `kapacitor
//! test` cases run a task: its own DAG on the daemon's runner
//! ([`host::Runner`]) with the data's clock, fed only what it is handed
//! (never the live stream), its effects kept to look at afterwards: every
//! alert event, its httpOut results, what influxDBOut and
//! kapacitorLoopback would have written. Alert handlers act only when asked
//! to ([`Effects::fire_handlers`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pipeline::build::{build_dag, build_stream_task};
use pipeline::{DbRp, Point, PointBatch};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::effects::endpoints::HttpEndpoints;
use crate::effects::handlers::{AlertHistory, HandlerRegistry};
use crate::effects::outputs::{Captured, OutputRegistry};
use crate::tasks::sideload::Sideloads;
use crate::tasks::{Env, HttpOutRegistry};

/// Points a replayed task may have waiting before the feeder waits for it:
/// several deliveries, so that the feeder (decoding the next ones) and the
/// task run side by side instead of in turn when either is descheduled
/// for a moment.
const INBOX_POINTS: usize = 32_768;
/// How long handlers that act may go on delivering after the task ended.
const EFFECTS_WAIT: Duration = Duration::from_secs(10);

/// What the instance's effects may do.
pub struct Effects<'a> {
    /// Where `.endpoint(NAME)` (httpPost's, alert `.post()`'s) goes.
    pub endpoints: HttpEndpoints,
    /// Whether alert handlers act (post, log, exec...); without, events are
    /// only kept.
    pub fire_handlers: bool,
    pub sideloads: &'a Sideloads,
    pub deadman: Option<&'a config::DeadmanConfig>,
}

/// A task instance being fed.
pub struct Instance {
    task: String,
    http_out: HttpOutRegistry,
    history: Arc<AlertHistory>,
    handlers: HandlerRegistry,
    outputs: OutputRegistry,
    captured: Arc<Captured>,
    looped: Arc<LoopbackCapture>,
    running: host::TaskHandle,
    pending: Option<PointBatch>,
    delivery_batch: usize,
    finished: bool,
}

/// What an instance produced, as JSON values: what a replay shows, and
/// what a test case's expectations are compared with.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Produced {
    /// The alert events it published (the last thousand), as handlers get
    /// them.
    pub alerts: Vec<Value>,
    /// Events published, kept or not.
    pub alerts_total: u64,
    /// httpOut results by endpoint name.
    pub http_out: BTreeMap<String, Value>,
    /// What influxDBOut would have written (the first 100,000 lines):
    /// `db.rp <line protocol>`.
    pub influxdb_out: Vec<String>,
    pub influxdb_out_total: u64,
    /// What kapacitorLoopback would have written, the same way.
    pub loopback: Vec<String>,
}

/// What an instance produced, and its httpOut endpoints themselves.
pub struct Outcome {
    pub produced: Produced,
    pub endpoints: Vec<(String, Arc<pipeline::nodes::http_out::HttpOutEndpoint>)>,
}

impl Instance {
    /// Builds `plan` as task `task` and starts it on `pool`, its clock at
    /// `clock_start` (ns). Points are handed over `delivery_batch` at a
    /// time.
    pub fn start(
        pool: &host::Pool,
        task: &str,
        plan: &dsl::Plan,
        task_type: dsl::TaskType,
        effects: &Effects<'_>,
        clock_start: i64,
        delivery_batch: usize,
    ) -> Result<Instance, String> {
        let http_out = HttpOutRegistry::default();
        let history: Arc<AlertHistory> = Arc::default();
        let handlers = if effects.fire_handlers {
            HandlerRegistry::new(history.clone()).with_endpoints(effects.endpoints.clone())
        } else {
            HandlerRegistry::capturing(history.clone())
        };
        let captured = Arc::new(Captured::default());
        let outputs = OutputRegistry::capturing(captured.clone());
        let looped = Arc::new(LoopbackCapture::default());
        let env = Env {
            task,
            http_out: &http_out,
            handlers: &handlers,
            // Replays run on data time; groups never expire in them.
            group_idle_timeout: None,
            alert_state_idle_timeout: None,
            // Nor do they touch the live task's alert state.
            alert_states: None,
            outputs: &outputs,
            loopback: Some(looped.clone()),
            deadman: effects.deadman,
            endpoints: &effects.endpoints,
            sideloads: effects.sideloads,
            // Nor take part in the live tasks' inhibitions.
            inhibitions: None,
        };
        let built = match task_type {
            dsl::TaskType::Stream => build_stream_task(plan, &env).map(host::TaskKind::Stream),
            dsl::TaskType::Batch => build_dag(plan, &env).map(host::TaskKind::Batch),
        };
        let kind = match built {
            Ok(kind) => kind,
            Err(e) => {
                handlers.close_all(Instant::now());
                outputs.close_all(Instant::now());
                return Err(e.to_string());
            }
        };
        let runner = host::Runner::new(kind, host::ClockMode::Data { start: clock_start });
        let running = pool.spawn(task, Box::new(runner), INBOX_POINTS);
        Ok(Instance {
            task: task.to_string(),
            http_out,
            history,
            handlers,
            outputs,
            captured,
            looped,
            running,
            pending: None,
            delivery_batch: delivery_batch.max(1),
            finished: false,
        })
    }

    /// Hands the task a point, in order; points of one database go
    /// together, `delivery_batch` at a time.
    pub fn push(&mut self, dbrp: &DbRp, point: Point) -> Result<(), String> {
        if let Some(batch) = &mut self.pending {
            if batch.dbrp == *dbrp && batch.points.len() < self.delivery_batch {
                batch.points.push(point);
                return Ok(());
            }
            self.flush()?;
        }
        let mut points = Vec::with_capacity(self.delivery_batch.min(4096));
        points.push(point);
        self.pending = Some(PointBatch {
            dbrp: dbrp.clone(),
            points,
        });
        Ok(())
    }

    /// Hands the task `points` (all of `dbrp`), in order, as
    /// [`Instance::push`] would one by one; `points` is left empty, its
    /// buffer kept for the caller to fill again.
    pub fn push_all(&mut self, dbrp: &DbRp, points: &mut Vec<Point>) -> Result<(), String> {
        let mut rest = points.drain(..);
        while rest.len() > 0 {
            let batch = match &mut self.pending {
                Some(b) if b.dbrp == *dbrp && b.points.len() < self.delivery_batch => b,
                _ => {
                    self.flush()?;
                    let capacity = self.delivery_batch.min(rest.len().max(4096));
                    self.pending.insert(PointBatch {
                        dbrp: dbrp.clone(),
                        points: Vec::with_capacity(capacity),
                    })
                }
            };
            let room = self.delivery_batch - batch.points.len();
            batch.points.extend(rest.by_ref().take(room));
            if batch.points.len() >= self.delivery_batch {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Hands the task about `points` points that its own worker makes
    /// (decodes) when it gets to them, after what was handed before.
    pub fn push_deferred(
        &mut self,
        points: usize,
        make: impl FnOnce() -> PointBatch + Send + 'static,
    ) -> Result<(), String> {
        self.flush()?;
        self.send(host::Input::Deferred(host::Deferred::new(points, make)))
    }

    /// Hands the task what [`Instance::push`] holds back.
    pub fn flush(&mut self) -> Result<(), String> {
        match self.pending.take() {
            Some(batch) => self.send(host::Input::Points(batch)),
            None => Ok(()),
        }
    }

    /// Hands batch `batch` to query node `node`.
    pub fn push_batch(&mut self, node: usize, batch: pipeline::Batch) -> Result<(), String> {
        self.flush()?;
        self.send(host::Input::Batch { node, batch })
    }

    /// Moves the task's clock to `time` (ns).
    pub fn advance_to(&mut self, time: i64) -> Result<(), String> {
        self.flush()?;
        self.send(host::Input::AdvanceTo(time))
    }

    fn send(&self, input: host::Input) -> Result<(), String> {
        self.running.send(input).map_err(|_| {
            self.running
                .failure()
                .map_or_else(|| "the task stopped taking input".into(), |f| f.to_string())
        })
    }

    /// Ends the input, waits (up to `timeout`) for the task to process it,
    /// lets handlers that act deliver, and gives what the task produced.
    pub fn finish(mut self, timeout: Duration) -> Result<Outcome, String> {
        self.flush()?;
        self.finished = true;
        self.running.close();
        let done = self.running.wait(timeout);
        let deadline = Instant::now() + EFFECTS_WAIT;
        self.handlers.close_all(deadline);
        self.outputs.close_all(deadline);
        if !done {
            return Err(format!(
                "the task did not finish its replay within {timeout:?}"
            ));
        }
        if let Some(why) = self.running.failure() {
            return Err(why.to_string());
        }
        let alerts = self
            .history
            .recent(Some(&self.task), None)
            .iter()
            .map(|e| serde_json::from_str(&e.event).unwrap_or_default())
            .collect();
        let lock = |m: &Mutex<Vec<String>>| {
            std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner()))
        };
        let endpoints = self.http_out.of_task(&self.task);
        Ok(Outcome {
            produced: Produced {
                alerts,
                alerts_total: self.history.published(),
                http_out: endpoints
                    .iter()
                    .map(|(n, e)| {
                        (
                            n.clone(),
                            serde_json::to_value(e.result()).unwrap_or_default(),
                        )
                    })
                    .collect(),
                influxdb_out: lock(&self.captured.influxdb),
                influxdb_out_total: self
                    .captured
                    .total
                    .load(std::sync::atomic::Ordering::Relaxed),
                loopback: lock(&self.looped.0),
            },
            endpoints,
        })
    }
}

impl Drop for Instance {
    /// An instance given up on (a replay cancelled, a case that failed)
    /// stops at once: its task ends on the pool, its handlers send nothing
    /// more.
    fn drop(&mut self) {
        if !self.finished {
            self.running.close();
            self.handlers.close_all(Instant::now());
            self.outputs.close_all(Instant::now());
        }
    }
}

/// Keeps what kapacitorLoopback writes instead of routing it.
#[derive(Default)]
struct LoopbackCapture(Mutex<Vec<String>>);

impl pipeline::PointSink for LoopbackCapture {
    fn write(&self, batch: PointBatch) {
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for p in &batch.points {
            if lines.len() < crate::effects::outputs::CAPTURED_LINES {
                lines.push(format!("{}.{} {p}", batch.dbrp.db, batch.dbrp.rp));
            }
        }
    }
}

/// What the daemon's router would hand a task: its dbrps, its `from`
/// measurement and its `where`. A `where` goes through the real router;
/// dbrps and measurement alone are checked here, at a fraction of its cost.
pub struct TaskFilter {
    dbrps: Vec<DbRp>,
    measurement: Option<pipeline::Name>,
    routed: Option<(pipeline::Router, Arc<Collect>)>,
}

impl TaskFilter {
    pub fn new(
        task: &str,
        dbrps: Vec<DbRp>,
        measurement: Option<&str>,
        filter: Option<pipeline::PointFilter>,
    ) -> Self {
        let routed = filter.map(|filter| {
            let inbox = Arc::new(Collect::default());
            let router = pipeline::Router::new();
            router.upsert(pipeline::Route {
                task: task.into(),
                dbrps: dbrps.clone(),
                measurement: measurement.map(Into::into),
                filter: Some(filter),
                inbox: inbox.clone(),
                block_when_full: false,
            });
            (router, inbox)
        });
        TaskFilter {
            dbrps,
            measurement: measurement.map(Into::into),
            routed,
        }
    }

    /// The points of `points` (all of `dbrp`) the task would get, in order.
    pub fn apply(&self, dbrp: &DbRp, mut points: Vec<Point>) -> Vec<Point> {
        self.retain(dbrp, &mut points);
        points
    }

    /// Keeps the points of `points` (all of `dbrp`) the task would get, in
    /// order, in the same buffer when no `where` routes them.
    pub fn retain(&self, dbrp: &DbRp, points: &mut Vec<Point>) {
        use pipeline::PointSink as _;
        if let Some((router, inbox)) = &self.routed {
            router.write(PointBatch {
                dbrp: dbrp.clone(),
                points: std::mem::take(points),
            });
            *points = std::mem::take(&mut *inbox.0.lock().unwrap_or_else(|e| e.into_inner()));
            return;
        }
        if !self.dbrps.is_empty() && !self.dbrps.contains(dbrp) {
            points.clear();
            return;
        }
        if let Some(m) = &self.measurement {
            points.retain(|p| p.measurement() == m);
        }
    }
}

/// A task inbox that keeps what the router hands it, in order.
#[derive(Default)]
struct Collect(Mutex<Vec<Point>>);

impl pipeline::TaskInbox for Collect {
    fn offer(&self, batch: PointBatch) -> usize {
        let n = batch.points.len();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(batch.points);
        n
    }
}
