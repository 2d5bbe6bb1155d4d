//! What a recording made from InfluxDB runs, and how its results are
//! written: a batch task's queries over a range of time, as its scheduler
//! would run them (`record batch`, `replay-live batch`), or one query as
//! written (`record query`, `replay-live query`, the seed's `record stream
//! --host --query`).
//!
//! Queries run one at a time on the effects runtime, the calling thread
//! waiting for each; every result is appended to the recording file as it
//! comes, so a recording cut short keeps the runs before.

use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use config::InfluxDbConfig;
use pipeline::time::format_rfc3339;
use pipeline::{Batch, DbRp, Point, Series};
use storage::RecordingRecord;

use super::file::{BatchWriter, Stats, StreamWriter, WriteError};
use super::recordings::{
    RecordError, Recordings, STATUS_FAILED, STATUS_FINISHED, STATUS_RECORDING, apply_stats,
};
use crate::batch::client::{QueryClient, server_for};
use crate::batch::{QuerySpec, QueryTemplate};

/// How long a query may take, at most: the connection's timeout for each
/// of its URLs, and a second more.
fn query_wait(server: &InfluxDbConfig) -> Duration {
    let urls = u32::try_from(server.urls.len().max(1)).unwrap_or(u32::MAX);
    server.timeout.saturating_mul(urls) + Duration::from_secs(1)
}

/// Asked between queries, and while one is waited for, whether to go on:
/// `Err` says why not (the recording was stopped, the replay deleted).
pub type GoOn<'a> = &'a dyn Fn() -> Result<(), String>;

/// Runs one query on the effects runtime and waits for its batches, up to
/// the connection's timeouts, or until `go_on` says to stop.
fn run_blocking(
    client: &QueryClient,
    query: impl std::future::Future<Output = Result<Vec<Batch>, String>> + Send + 'static,
    go_on: GoOn<'_>,
) -> Result<Vec<Batch>, String> {
    let wait = query_wait(client.server());
    let deadline = Instant::now() + wait;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let task = crate::effects::runtime().spawn(async move {
        let _ = tx.send(query.await);
    });
    loop {
        let why = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(result) => return result,
            Err(RecvTimeoutError::Disconnected) => "the query was dropped".to_string(),
            Err(RecvTimeoutError::Timeout) => match go_on() {
                Err(why) => why,
                Ok(()) if Instant::now() >= deadline => {
                    format!("the query got no answer within {wait:?}")
                }
                Ok(()) => continue,
            },
        };
        task.abort();
        return Err(why);
    }
}

/// The file a recording from InfluxDB writes.
pub enum Writer {
    Stream(StreamWriter, DbRp),
    Batch(BatchWriter),
}

impl Writer {
    pub fn stats(&self) -> Stats {
        match self {
            Writer::Stream(w, _) => w.stats(),
            Writer::Batch(w) => w.stats(),
        }
    }

    /// Appends the results of one query, which feed the task's `query`-th
    /// query node (a stream file takes their points, in time order).
    fn write(&mut self, query: usize, batches: Vec<Batch>) -> Result<(), WriteError> {
        match self {
            Writer::Batch(w) => batches.iter().try_for_each(|b| w.write(query, b)),
            Writer::Stream(w, dbrp) => w.write(dbrp, &points_in_time_order(batches)),
        }?;
        match self {
            Writer::Stream(w, _) => w.flush()?,
            Writer::Batch(w) => w.flush()?,
        }
        Ok(())
    }

    /// Flushes and syncs the file.
    pub fn finish(self) -> std::io::Result<Stats> {
        match self {
            Writer::Stream(w, _) => w.finish(),
            Writer::Batch(w) => w.finish(),
        }
    }
}

/// The series of a query's answer as points, in time order across series
/// (series by series where times are equal), as Kapacitor's `record query
/// -type stream` writes them. A series' tags are those its `GROUP BY` gave.
pub fn points_in_time_order(batches: Vec<Batch>) -> Vec<Point> {
    let mut points = Vec::with_capacity(batches.iter().map(|b| b.points.len()).sum());
    for batch in batches {
        for p in batch.points {
            let Ok(series) = Series::with_sorted_tags(batch.name.clone(), p.tags) else {
                continue;
            };
            points.push(Point {
                series: std::sync::Arc::new(series),
                fields: p.fields,
                time: p.time,
            });
        }
    }
    points.sort_by_key(|p| p.time);
    points
}

/// A batch task's queries over `[start, stop]`.
pub struct BatchQueries {
    queries: Vec<(QuerySpec, QueryClient)>,
    start: i64,
    stop: i64,
}

impl BatchQueries {
    /// The queries of a batch task's definition (`plan`, `meta`, `dbrps`),
    /// each on its `influxdb` connection.
    pub fn new(
        def: &crate::tasks::TaskDefinition,
        plan: &dsl::Plan,
        servers: &[InfluxDbConfig],
        start: i64,
        stop: i64,
    ) -> Result<Self, String> {
        if def.task_type != dsl::TaskType::Batch {
            return Err(format!(
                "task {:?} is a stream task: record what it receives with `record stream -task {}`",
                def.id, def.id
            ));
        }
        if start >= stop {
            return Err("start must be before stop".into());
        }
        let specs = crate::batch::specs(plan, &def.meta, &def.dbrps)?;
        let now = host::wall_clock_ns();
        if specs
            .iter()
            .all(|s| s.ticks(start, stop, now).next().is_none())
        {
            return Err(format!(
                "no run of task {:?}'s schedule falls between {} and {}: widen the range",
                def.id,
                format_rfc3339(start),
                format_rfc3339(stop)
            ));
        }
        let queries = specs
            .into_iter()
            .map(|spec| {
                let server = server_for(servers, spec.cluster.as_deref())
                    .map_err(|e| format!("{}: {e}", spec.name))?;
                Ok((spec, QueryClient::new(server)))
            })
            .collect::<Result<_, String>>()?;
        Ok(BatchQueries {
            queries,
            start,
            stop,
        })
    }

    /// Runs every run each query's schedule makes in the range, in time
    /// order (queries of one tick in script order), appending each result to
    /// `out` as it comes; `go_on` is asked before each run.
    pub fn record(&self, out: &mut Writer, go_on: GoOn<'_>) -> Result<(), String> {
        let now = host::wall_clock_ns();
        let mut ticks: Vec<_> = self
            .queries
            .iter()
            .map(|(spec, _)| spec.ticks(self.start, self.stop, now).peekable())
            .collect();
        loop {
            let next = ticks
                .iter_mut()
                .enumerate()
                .filter_map(|(i, t)| t.peek().map(|&tick| (tick, i)))
                .min();
            let Some((tick, i)) = next else {
                return Ok(());
            };
            ticks[i].next();
            go_on()?;
            let (spec, client) = &self.queries[i];
            let query = {
                let (spec, client) = (spec.clone(), client.clone());
                async move { spec.run_at(&client, tick).await }
            };
            let batches = run_blocking(client, query, go_on)?;
            out.write(i, batches).map_err(|e| e.to_string())?;
        }
    }
}

/// One InfluxQL query, run as written.
pub struct RawQuery {
    query: String,
    client: QueryClient,
    /// Where names the query does not qualify are looked up; none by
    /// default, as in Kapacitor.
    db: Option<String>,
    rp: Option<String>,
    /// Where a stream recording's points go: the query's `FROM "db"."rp"`.
    pub dbrp: Option<DbRp>,
}

impl RawQuery {
    /// Checks `query` (one `SELECT`) and picks its connection.
    pub fn new(
        query: &str,
        cluster: Option<&str>,
        servers: &[InfluxDbConfig],
    ) -> Result<Self, String> {
        let template = QueryTemplate::parse(query).map_err(|e| e.to_string())?;
        let server = server_for(servers, cluster)?;
        Ok(RawQuery {
            query: query.to_string(),
            client: QueryClient::new(server),
            db: None,
            rp: None,
            dbrp: template.source_dbrp(),
        })
    }

    /// Looks up names the query does not qualify in `db` (and `rp`, else
    /// its default retention policy).
    pub fn in_database(mut self, db: &str, rp: Option<&str>) -> Self {
        self.db = Some(db.to_string());
        self.rp = rp.map(str::to_string);
        self
    }

    /// A stream recording needs to know the points' database: the query
    /// must name it, as Kapacitor asks.
    pub fn stream_dbrp(&self) -> Result<DbRp, String> {
        self.dbrp.clone().ok_or_else(|| {
            "a stream recording needs the query's database and retention policy: \
             qualify its measurement, as in FROM \"telegraf\".\"autogen\".cpu"
                .to_string()
        })
    }

    /// Runs the query and waits for its series, as batches.
    pub fn run(&self, go_on: GoOn<'_>) -> Result<Vec<Batch>, String> {
        let (client, query) = (self.client.clone(), self.query.clone());
        let (db, rp) = (self.db.clone(), self.rp.clone());
        run_blocking(
            &self.client,
            async move {
                client
                    .query(&query, db.as_deref(), rp.as_deref(), false)
                    .await
            },
            go_on,
        )
    }

    /// Runs the query and writes what it gets to `out`.
    pub fn record(&self, out: &mut Writer, go_on: GoOn<'_>) -> Result<(), String> {
        let batches = self.run(go_on)?;
        out.write(0, batches).map_err(|e| e.to_string())
    }
}

/// What `POST /recordings/batch` asks for: the task's queries over
/// `[start, stop]` (ns).
#[derive(Clone, Debug)]
pub struct BatchRequest {
    pub id: Option<String>,
    pub task: String,
    pub start: i64,
    pub stop: i64,
}

/// What `POST /recordings/query` asks for.
#[derive(Clone, Debug)]
pub struct QueryRequest {
    pub id: Option<String>,
    pub query: String,
    /// Stream: the points, in time order; batch: the series.
    pub kind: dsl::TaskType,
    pub cluster: Option<String>,
}

impl Recordings {
    /// Starts recording what batch task `def` (compiled as `plan`) would
    /// get from its queries over the range; returns the recording as it
    /// starts.
    pub fn start_batch(
        &self,
        req: BatchRequest,
        def: &crate::tasks::TaskDefinition,
        plan: &dsl::Plan,
    ) -> Result<RecordingRecord, RecordError> {
        let queries = BatchQueries::new(def, plan, self.influxdb(), req.start, req.stop)
            .map_err(RecordError::Invalid)?;
        let source = format!(
            "batch task {} from {} to {}",
            req.task,
            format_rfc3339(req.start),
            format_rfc3339(req.stop)
        );
        self.start_queried(
            req.id,
            dsl::TaskType::Batch,
            None,
            source,
            move |out, go_on| queries.record(out, go_on),
        )
    }

    /// Starts recording the result of one query.
    pub fn start_query(&self, req: QueryRequest) -> Result<RecordingRecord, RecordError> {
        let query = RawQuery::new(&req.query, req.cluster.as_deref(), self.influxdb())
            .map_err(RecordError::Invalid)?;
        let dbrp = match req.kind {
            dsl::TaskType::Stream => Some(query.stream_dbrp().map_err(RecordError::Invalid)?),
            dsl::TaskType::Batch => None,
        };
        let source = format!("query {}", req.query.trim());
        self.start_queried(req.id, req.kind, dbrp, source, move |out, go_on| {
            query.record(out, go_on)
        })
    }

    fn start_queried(
        &self,
        id: Option<String>,
        kind: dsl::TaskType,
        dbrp: Option<DbRp>,
        source: String,
        work: impl FnOnce(&mut Writer, GoOn<'_>) -> Result<(), String> + Send + 'static,
    ) -> Result<RecordingRecord, RecordError> {
        self.check_room()?;
        let id = self.claim_id(id)?;
        let path = self.path_of(&id, kind);
        let max = self.limits().max_recording_bytes;
        let io =
            |e: std::io::Error| RecordError::Io(format!("cannot create {}: {e}", path.display()));
        let writer = match dbrp {
            Some(dbrp) => Writer::Stream(StreamWriter::create(&path, max).map_err(io)?, dbrp),
            None => Writer::Batch(BatchWriter::create(&path, max).map_err(io)?),
        };
        let rec = RecordingRecord {
            id: id.clone(),
            kind: kind.as_str().into(),
            path: path.display().to_string(),
            size: writer.stats().bytes,
            created: host::wall_clock_ns(),
            status: STATUS_RECORDING.into(),
            source,
            ..RecordingRecord::default()
        };
        self.store().put_recording(&rec)?;
        let store = self.store().clone();
        let deadline = Instant::now() + self.limits().max_recording_duration;
        let mut done = rec.clone();
        let spawned = self.spawn(&id, move |stop| {
            let mut writer = writer;
            let go_on = || {
                if stop.load(Ordering::Acquire) {
                    Err("stopped before every query ran; it keeps what they got".to_string())
                } else if Instant::now() >= deadline {
                    Err("the recording reached replay.max_recording_duration; it keeps what the queries before got".to_string())
                } else {
                    Ok(())
                }
            };
            let result = work(&mut writer, &go_on);
            // Stopped, or out of time or room: it keeps what came before.
            let cut_short = |e: &str| go_on().is_err() || e.contains("replay.max_recording");
            apply_stats(&mut done, &writer.stats());
            let finished = writer.finish();
            if let Ok(stats) = &finished {
                apply_stats(&mut done, stats);
            }
            // Failed when the queries did (a file that cannot be written
            // included); a limit or a stop keeps what came before.
            (done.status, done.error) = match (result, finished) {
                (Err(e), _) if cut_short(&e) => (STATUS_FINISHED.into(), e),
                (Err(e), _) => (STATUS_FAILED.into(), e),
                (Ok(()), Err(e)) => (STATUS_FAILED.into(), format!("cannot write the recording: {e}")),
                (Ok(()), Ok(_)) => (STATUS_FINISHED.into(), String::new()),
            };
            if done.status == STATUS_FAILED {
                tracing::warn!(recording = %done.id, "recording failed: {}", done.error);
            }
            done.finished = Some(host::wall_clock_ns());
            if let Err(e) = store.put_recording(&done) {
                tracing::error!(recording = %done.id, "cannot save the finished recording: {e}");
            }
        });
        if let Err(e) = spawned {
            let mut failed = rec;
            (failed.status, failed.error) = (STATUS_FAILED.into(), e.to_string());
            self.store().put_recording(&failed)?;
            return Err(e);
        }
        Ok(rec)
    }
}
