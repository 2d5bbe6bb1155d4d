//! `/kapacitor/v1/recordings`: record the live stream (Kapacitor's
//! `POST /recordings/stream`, plus ours: without a stop time it runs until
//! `POST /recordings/ID/stop`), import a file (ours: `POST
//! /recordings/file`), list, show and delete recordings. Recordings from
//! InfluxDB queries are in [`super::queried`].

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ingest::http::json_error;
use pipeline::DbRp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::replay::recordings::{ImportFormat, ImportRequest, RecordError, StreamRequest};
use crate::server::ServerState;

/// A recording in Kapacitor's shape (`id, type, size, date, error, status,
/// progress`) plus what we know besides.
pub fn recording_json(rec: &storage::RecordingRecord) -> Value {
    let time = |ns: Option<i64>| ns.map(pipeline::time::format_rfc3339);
    json!({
        "id": rec.id,
        "type": rec.kind,
        "size": rec.size,
        "date": pipeline::time::format_rfc3339(rec.created),
        "error": rec.error,
        "status": rec.status,
        "progress": if rec.status == "recording" { 0.0 } else { 1.0 },
        "source": rec.source,
        "points": rec.points,
        "dropped": rec.dropped,
        "first": time(rec.first),
        "last": time(rec.last),
        "finished": time(rec.finished),
        "link": {"rel": "self", "href": format!("/kapacitor/v1/recordings/{}", rec.id)},
    })
}

fn record_error(e: RecordError) -> Response {
    let status = match e {
        RecordError::NotFound(_) => StatusCode::NOT_FOUND,
        RecordError::Exists(_) => StatusCode::CONFLICT,
        RecordError::Invalid(_) => StatusCode::BAD_REQUEST,
        RecordError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
        RecordError::Store(_) | RecordError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    json_error(status, e.to_string())
}

/// Runs `f` on a blocking thread (the store and the files are synchronous).
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RecordError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(record_error),
        Err(e) => Err(json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

/// The body of `POST /recordings/stream`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamBody {
    id: Option<String>,
    /// Record what this task would receive: its dbrps, `from` and `where`.
    task: Option<String>,
    /// Kapacitor's: stop at this time (RFC 3339).
    stop: Option<String>,
    /// Ours: stop after this long (`60s`).
    duration: Option<String>,
    /// Ours, without a task: what to record.
    #[serde(default)]
    dbrps: Vec<DbRp>,
    measurement: Option<String>,
    #[serde(rename = "where")]
    where_: Option<String>,
}

/// `POST /kapacitor/v1/recordings/stream`: starts recording; 201 with the
/// recording.
pub async fn stream(
    State(state): State<Arc<ServerState>>,
    Json(body): Json<StreamBody>,
) -> Response {
    let req = match stream_request(&state, body) {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e),
    };
    let recordings = state.recordings.clone();
    match blocking(move || {
        let id = recordings.start_stream(req)?;
        recordings.get(&id)
    })
    .await
    {
        Ok(rec) => (StatusCode::CREATED, Json(recording_json(&rec))).into_response(),
        Err(r) => r,
    }
}

fn stream_request(state: &ServerState, body: StreamBody) -> Result<StreamRequest, String> {
    let duration = match (&body.stop, &body.duration) {
        (Some(_), Some(_)) => return Err("give stop or duration, not both".into()),
        (Some(stop), None) => {
            let stop = pipeline::time::parse_rfc3339(stop).map_err(|e| format!("stop: {e}"))?;
            let left = stop.saturating_sub(host::wall_clock_ns());
            if left <= 0 {
                return Err("stop is in the past".into());
            }
            Some(std::time::Duration::from_nanos(left as u64))
        }
        (None, Some(d)) => Some(config::parse_duration(d).map_err(|e| format!("duration: {e}"))?),
        (None, None) => None,
    };
    let mut req = StreamRequest {
        id: body.id,
        duration,
        ..StreamRequest::default()
    };
    match &body.task {
        Some(task) => {
            if !body.dbrps.is_empty() || body.measurement.is_some() || body.where_.is_some() {
                return Err("give a task, or dbrps/measurement/where, not both".into());
            }
            let (def, plan) = state
                .tasks
                .compiled(task)
                .ok_or_else(|| format!("task {task:?} does not exist"))?;
            if def.task_type != dsl::TaskType::Stream {
                return Err(format!(
                    "task {task:?} is a batch task: record its queries with `record batch -task {task}`"
                ));
            }
            req.dbrps = def.dbrps.clone();
            req.measurement = def.measurement.clone().or_else(|| simple_from(&plan));
            req.where_clause = def.meta.get("where").cloned();
            req.source = format!("task {task}");
        }
        None => {
            req.dbrps = body.dbrps;
            req.measurement = body.measurement;
            req.where_clause = body.where_;
            let mut parts = vec!["live stream".to_string()];
            if !req.dbrps.is_empty() {
                let dbrps: Vec<String> = req.dbrps.iter().map(ToString::to_string).collect();
                parts.push(format!("dbrp={}", dbrps.join(",")));
            }
            if let Some(m) = &req.measurement {
                parts.push(format!("measurement={m}"));
            }
            if let Some(w) = &req.where_clause {
                parts.push(format!("where={w}"));
            }
            req.source = parts.join(" ");
        }
    }
    Ok(req)
}

/// The measurement of a script's only `from()`, when it names one: what
/// the task could use, so the recording keeps no more.
fn simple_from(plan: &dsl::Plan) -> Option<String> {
    let mut froms = plan.nodes.iter().filter(|n| n.kind == "from");
    let from = froms.next()?;
    if froms.next().is_some() {
        return None;
    }
    match from.property("measurement")?.args.first()? {
        dsl::Value::String(m) => Some(m.clone()),
        _ => None,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    id: Option<String>,
    /// `lp` (default), `srpl` or `brpl`.
    format: Option<String>,
    db: Option<String>,
    rp: Option<String>,
    /// Of the timestamps: n (default; s for srpl), u, ms, s, m, h.
    precision: Option<String>,
    /// For the listing: the file's name.
    name: Option<String>,
    /// For the listing: where the data came from, when not a file.
    source: Option<String>,
}

/// `POST /kapacitor/v1/recordings/file?format=&db=&rp=&precision=&id=`
/// (ours): the body becomes a finished recording; 201 with it.
pub async fn import(
    State(state): State<Arc<ServerState>>,
    Query(q): Query<ImportQuery>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        // The route's body limit is replay.max_recording_bytes.
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let max = state.recordings.limits().max_recording_bytes;
            state
                .stats
                .breaches
                .breach(model::Limit::ReplayMaxRecordingBytes);
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the data is more than {max} bytes (replay.max_recording_bytes)"),
            );
        }
        Err(e) => return json_error(e.status(), e.body_text()),
    };
    let format: ImportFormat = match q.format.as_deref().unwrap_or("lp").parse() {
        Ok(f) => f,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e),
    };
    let default_precision = if format == ImportFormat::Srpl {
        "s"
    } else {
        "n"
    };
    let precision_text = q.precision.as_deref().unwrap_or(default_precision);
    let Some(precision) = ingest::lp::Precision::parse(precision_text) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            format!("invalid precision {precision_text:?}: use n, u, ms, s, m or h"),
        );
    };
    let dbrp = DbRp::new(
        q.db.as_deref().unwrap_or("telegraf"),
        q.rp.as_deref().unwrap_or("autogen"),
    );
    let req = ImportRequest {
        id: q.id,
        format,
        dbrp,
        precision,
        source: q
            .source
            .unwrap_or_else(|| format!("file {}", q.name.as_deref().unwrap_or("(upload)"))),
    };
    let recordings = state.recordings.clone();
    match blocking(move || recordings.import(req, &body)).await {
        Ok(rec) => (StatusCode::CREATED, Json(recording_json(&rec))).into_response(),
        Err(r) => r,
    }
}

/// `POST /kapacitor/v1/recordings/ID/stop` (ours): stops a live recording
/// and answers with it once its file is complete.
pub async fn stop(State(state): State<Arc<ServerState>>, Path(id): Path<String>) -> Response {
    let recordings = state.recordings.clone();
    match blocking(move || recordings.stop(&id)).await {
        Ok(rec) => Json(recording_json(&rec)).into_response(),
        Err(r) => r,
    }
}

/// `GET /kapacitor/v1/recordings`.
pub async fn list(State(state): State<Arc<ServerState>>) -> Response {
    let recordings = state.recordings.clone();
    match blocking(move || recordings.list()).await {
        Ok(list) => {
            let list: Vec<Value> = list.iter().map(recording_json).collect();
            Json(json!({ "recordings": list })).into_response()
        }
        Err(r) => r,
    }
}

/// `GET /kapacitor/v1/recordings/ID`.
pub async fn get(State(state): State<Arc<ServerState>>, Path(id): Path<String>) -> Response {
    let recordings = state.recordings.clone();
    match blocking(move || recordings.get(&id)).await {
        Ok(rec) => Json(recording_json(&rec)).into_response(),
        Err(r) => r,
    }
}

/// `DELETE /kapacitor/v1/recordings/ID`: stops it if live; 204.
pub async fn delete(State(state): State<Arc<ServerState>>, Path(id): Path<String>) -> Response {
    let recordings = state.recordings.clone();
    match blocking(move || recordings.delete(&id)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}
