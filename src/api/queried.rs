//! What the API records or replays by querying InfluxDB, in Kapacitor's
//! shapes: `POST /kapacitor/v1/recordings/batch` (a batch task's queries
//! over a range) and `/recordings/query` (one query), and the live replays
//! `POST /kapacitor/v1/replays/batch` and `/replays/query`, which replay
//! what the queries get without keeping a recording.
//!
//! A range is Kapacitor's `start` (RFC 3339) and `stop` (default now), or
//! ours: `past` (a duration back from `stop`), or neither, for one period
//! of the task's longest query (what one run looks at).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ingest::http::json_error;
use serde::Deserialize;

use super::recordings::{blocking, recording_json};
use super::replays::replay_error;
use crate::replay::job::LiveSource;
use crate::replay::queried::{BatchQueries, BatchRequest, QueryRequest, RawQuery};
use crate::replay::replays::{How, ReplayError};
use crate::server::ServerState;

/// A range of time as a body gives it.
#[derive(Debug, Default)]
struct Range {
    start: Option<String>,
    stop: Option<String>,
    past: Option<String>,
}

impl Range {
    /// `[start, stop]` in ns; without `start` or `past`, `default_past`
    /// (of the task) back from `stop`.
    fn resolve(
        &self,
        default_past: impl FnOnce() -> Result<i64, String>,
    ) -> Result<(i64, i64), String> {
        let time = |key: &str, t: &str| {
            pipeline::time::parse_rfc3339(t).map_err(|e| format!("{key}: {e}"))
        };
        let stop = match &self.stop {
            Some(t) => time("stop", t)?,
            None => host::wall_clock_ns(),
        };
        let start = match (&self.start, &self.past) {
            (Some(_), Some(_)) => return Err("give start or past, not both".into()),
            (Some(t), None) => time("start", t)?,
            (None, Some(p)) => {
                let past = config::parse_duration(p).map_err(|e| format!("past: {e}"))?;
                stop.saturating_sub(i64::try_from(past.as_nanos()).unwrap_or(i64::MAX))
            }
            (None, None) => stop.saturating_sub(default_past()?),
        };
        if start >= stop {
            return Err("start must be before stop".into());
        }
        Ok((start, stop))
    }
}

/// The longest period of a batch task's queries: how far back one run of
/// each looks.
fn longest_period(def: &crate::tasks::TaskDefinition, plan: &dsl::Plan) -> Result<i64, String> {
    let specs = crate::batch::specs(plan, &def.meta, &def.dbrps)?;
    Ok(specs.iter().map(|s| s.period).max().unwrap_or(0))
}

/// `POST /kapacitor/v1/recordings/batch` `{id?, task, start?, stop?,
/// past?}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    id: Option<String>,
    task: String,
    start: Option<String>,
    stop: Option<String>,
    past: Option<String>,
}

/// Starts recording; 201 with the recording, which finishes once every
/// query ran.
pub async fn record_batch(
    State(state): State<Arc<ServerState>>,
    Json(body): Json<BatchBody>,
) -> Response {
    let Some((def, plan)) = state.tasks.compiled(&body.task) else {
        let e = ReplayError::NoTask(body.task);
        return replay_error(e);
    };
    let range = Range {
        start: body.start,
        stop: body.stop,
        past: body.past,
    };
    let (start, stop) = match range.resolve(|| longest_period(&def, &plan)) {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e),
    };
    let req = BatchRequest {
        id: body.id,
        task: body.task,
        start,
        stop,
    };
    let recordings = state.recordings.clone();
    created(blocking(move || recordings.start_batch(req, &def, &plan)).await)
}

/// `POST /kapacitor/v1/recordings/query` `{id?, query, type, cluster?}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    id: Option<String>,
    query: String,
    /// `stream` or `batch`.
    #[serde(rename = "type")]
    kind: String,
    cluster: Option<String>,
}

pub async fn record_query(
    State(state): State<Arc<ServerState>>,
    Json(body): Json<QueryBody>,
) -> Response {
    let kind = match body.kind.parse() {
        Ok(k) => k,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e),
    };
    let req = QueryRequest {
        id: body.id,
        query: body.query,
        kind,
        cluster: body.cluster.filter(|c| !c.is_empty()),
    };
    let recordings = state.recordings.clone();
    created(blocking(move || recordings.start_query(req)).await)
}

fn created(started: Result<storage::RecordingRecord, Response>) -> Response {
    match started {
        Ok(rec) => (StatusCode::CREATED, Json(recording_json(&rec))).into_response(),
        Err(r) => r,
    }
}

/// The body of a live replay: `POST /kapacitor/v1/replays/batch` `{id?,
/// task, start?, stop?, past?, recording-time?, clock?, fire-handlers?}`
/// or `/replays/query` `{id?, task, query, cluster?, recording-time?,
/// clock?, fire-handlers?}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveBody {
    id: Option<String>,
    task: String,
    start: Option<String>,
    stop: Option<String>,
    past: Option<String>,
    query: Option<String>,
    cluster: Option<String>,
    #[serde(default, rename = "recording-time")]
    recording_time: bool,
    clock: Option<String>,
    #[serde(default, rename = "fire-handlers")]
    fire_handlers: bool,
}

impl LiveBody {
    fn how(&self) -> How {
        How {
            id: self.id.clone(),
            task: self.task.clone(),
            recording_time: self.recording_time,
            clock: self.clock.clone(),
            fire_handlers: self.fire_handlers,
            start: None,
        }
    }
}

/// `POST /kapacitor/v1/replays/batch`: the task's queries over the range,
/// replayed; 201 with the replay.
pub async fn replay_batch(
    State(state): State<Arc<ServerState>>,
    Json(body): Json<LiveBody>,
) -> Response {
    if body.query.is_some() || body.cluster.is_some() {
        let e = "a batch replay runs the task's own queries; POST /kapacitor/v1/replays/query runs one of yours";
        return json_error(StatusCode::BAD_REQUEST, e);
    }
    let how = body.how();
    let range = Range {
        start: body.start,
        stop: body.stop,
        past: body.past,
    };
    start_live(state, how, move |def, plan, servers| {
        let (start, stop) = range.resolve(|| longest_period(def, plan))?;
        BatchQueries::new(def, plan, servers, start, stop).map(LiveSource::Batch)
    })
    .await
}

/// `POST /kapacitor/v1/replays/query`: one query's result, replayed; 201
/// with the replay.
pub async fn replay_query(
    State(state): State<Arc<ServerState>>,
    Json(body): Json<LiveBody>,
) -> Response {
    let Some(query) = body.query.clone() else {
        return json_error(StatusCode::BAD_REQUEST, "a query replay needs `query`");
    };
    if body.start.is_some() || body.stop.is_some() || body.past.is_some() {
        let e = "a query replay runs the query as written: give its time range in its WHERE";
        return json_error(StatusCode::BAD_REQUEST, e);
    }
    let how = body.how();
    let cluster = body.cluster.filter(|c| !c.is_empty());
    start_live(state, how, move |def, _, servers| {
        let q = RawQuery::new(&query, cluster.as_deref(), servers)?;
        if def.task_type == dsl::TaskType::Stream {
            q.stream_dbrp()?;
        }
        Ok(LiveSource::Query(q))
    })
    .await
}

async fn start_live(
    state: Arc<ServerState>,
    how: How,
    source: impl FnOnce(
        &crate::tasks::TaskDefinition,
        &dsl::Plan,
        &[config::InfluxDbConfig],
    ) -> Result<LiveSource, String>
    + Send
    + 'static,
) -> Response {
    let replays = state.replays.clone();
    let started = tokio::task::spawn_blocking(move || replays.start_live(how, source)).await;
    match started {
        Ok(Ok(info)) => (StatusCode::CREATED, Json(info)).into_response(),
        Ok(Err(e)) => replay_error(e),
        Err(e) => replay_error(ReplayError::Invalid(e.to_string())),
    }
}
