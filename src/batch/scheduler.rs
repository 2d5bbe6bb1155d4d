//! Runs a batch task's queries on their schedules, on the effects runtime:
//! one small future per query, never a thread. A run looks at
//! `[tick - offset - period, tick - offset)`; runs of one query never
//! overlap (a tick that comes while the previous run is still going is
//! skipped and counted), and a slow or dead InfluxDB holds up only its own
//! query: stream tasks and the other batch tasks go on.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::batch::QuerySpec;
use crate::batch::client::{QueryClient, server_for};

/// What a batch task's runs did, for its status and `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BatchStatus {
    /// Runs started (each query's runs, added up).
    pub runs: u64,
    /// Runs that failed.
    pub errors: u64,
    /// Scheduled runs skipped because the one before was still going.
    pub skipped: u64,
    /// Series and points received, over all runs.
    pub series_total: u64,
    pub points_total: u64,
    /// The last run: when it started, how long it took, what it got.
    pub last_run: Option<String>,
    pub last_duration_ms: f64,
    pub last_series: u64,
    pub last_points: u64,
    /// The last run's error; empty when it succeeded.
    pub last_error: String,
    /// The last statement sent.
    pub last_query: String,
    /// When the next run is due.
    pub next_run: Option<String>,
}

/// A batch task's run counters, shared by its queries.
#[derive(Debug, Default)]
pub struct BatchStats(Mutex<BatchStatus>);

impl BatchStats {
    pub fn snapshot(&self) -> BatchStatus {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BatchStatus> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failed(&self, error: String) {
        let mut s = self.lock();
        s.errors += 1;
        s.last_error = error;
    }
}

/// A batch task's scheduled queries; they stop when this is stopped or
/// dropped.
#[derive(Debug)]
pub struct BatchRun {
    stop: CancellationToken,
    pub stats: Arc<BatchStats>,
}

impl BatchRun {
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for BatchRun {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts running `specs` of task `id`, feeding their results to `task`.
pub fn start(
    id: &str,
    specs: Vec<QuerySpec>,
    servers: &[config::InfluxDbConfig],
    task: host::TaskHandle,
) -> BatchRun {
    let stats = Arc::new(BatchStats::default());
    let stop = CancellationToken::new();
    for spec in specs {
        let client = match server_for(servers, spec.cluster.as_deref()) {
            Ok(server) => QueryClient::new(server),
            Err(e) => {
                let e = format!("{}: {e}", spec.name);
                tracing::error!(task = id, "batch query cannot run: {e}");
                stats.failed(e);
                continue;
            }
        };
        let run = Query {
            id: id.to_string(),
            spec,
            client,
            task: task.clone(),
            stats: stats.clone(),
            stop: stop.clone(),
        };
        crate::effects::runtime().spawn(run.schedule());
    }
    BatchRun { stop, stats }
}

struct Query {
    id: String,
    spec: QuerySpec,
    client: QueryClient,
    task: host::TaskHandle,
    stats: Arc<BatchStats>,
    stop: CancellationToken,
}

impl Query {
    async fn schedule(self) {
        let anchor = host::wall_clock_ns();
        let mut next = self.spec.schedule.next_after(anchor, anchor);
        while let Some(tick) = next {
            self.stats.lock().next_run = Some(pipeline::time::format_rfc3339(tick));
            let wait =
                Duration::from_nanos(u64::try_from(tick - host::wall_clock_ns()).unwrap_or(0));
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = self.run(tick) => {}
            }
            // Ticks that passed while this run went on are skipped.
            next = self.spec.schedule.next_after(tick, anchor);
            let now = host::wall_clock_ns();
            let mut skipped = 0;
            while let Some(t) = next.filter(|&t| t <= now) {
                skipped += 1;
                next = self.spec.schedule.next_after(t, anchor);
            }
            if skipped > 0 {
                tracing::warn!(
                    task = self.id,
                    query = self.spec.name,
                    "a batch query took longer than its schedule: {skipped} run(s) skipped"
                );
                self.stats.lock().skipped += skipped;
            }
        }
        self.stats.lock().next_run = None;
    }

    /// One run: query, then hand each series to the task as a batch.
    async fn run(&self, tick: i64) {
        let started = Instant::now();
        {
            let mut s = self.stats.lock();
            s.runs += 1;
            s.last_run = Some(pipeline::time::format_rfc3339(host::wall_clock_ns()));
            s.last_query = self.spec.render(tick);
        }
        let batches = match self.spec.run_at(&self.client, tick).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(task = self.id, "batch query failed: {e}");
                self.stats.failed(e);
                self.stats.lock().last_duration_ms = started.elapsed().as_secs_f64() * 1e3;
                return;
            }
        };
        let (series, points) = (
            batches.len() as u64,
            batches.iter().map(|b| b.points.len() as u64).sum::<u64>(),
        );
        let task = self.task.clone();
        let node = self.spec.node;
        // Waiting for room in the task's inbox blocks: off the runtime's
        // threads. A closed task gives its input back; that run ends.
        let fed = tokio::task::spawn_blocking(move || {
            for batch in batches {
                if task.send(host::Input::Batch { node, batch }).is_err() {
                    return false;
                }
            }
            true
        })
        .await
        .unwrap_or(false);
        let mut s = self.stats.lock();
        s.last_duration_ms = started.elapsed().as_secs_f64() * 1e3;
        s.last_series = series;
        s.last_points = points;
        s.series_total += series;
        s.points_total += points;
        s.last_error = if fed {
            String::new()
        } else {
            "the task stopped taking its batches".into()
        };
    }
}
