//! The HTTP write surface InfluxDB 1.x clients, Telegraf and InfluxDB
//! subscriptions expect: `/write`, `/kapacitor/v1/write`, `/api/v2/write`,
//! `/ping` and the `/query` handshake.
//!
//! Every error answers JSON `{"error": …}`: Telegraf treats a non-JSON 4xx as
//! retryable and would re-send a rejected batch forever (wire.md §1.1).
//! Authentication is not checked here; the server wraps these routes (and the
//! API) in one auth layer.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use model::{Limit, LimitBreaches};
use pipeline::{DbRp, PointSink};

use crate::lp::Precision;
use crate::stats::IngestStats;
use crate::write::{LineSettings, decode_and_route, wait_for_room};

/// What the HTTP write routes need.
pub struct HttpIngest {
    pub sink: Arc<dyn PointSink>,
    pub stats: Arc<IngestStats>,
    /// Largest body accepted (as sent, gzip or not).
    pub max_body_size: u64,
    /// Largest gzip body once inflated.
    pub max_inflated_size: u64,
    pub settings: LineSettings,
    /// Retention policy for writes that name none.
    pub default_retention_policy: String,
}

/// The write, ping and query routes.
pub fn routes(state: Arc<HttpIngest>) -> Router {
    Router::new()
        .route("/write", post(write_v1))
        .route("/kapacitor/v1/write", post(write_v1))
        .route("/api/v2/write", post(write_v2))
        .route("/ping", get(ping).head(ping))
        .route("/kapacitor/v1/ping", get(ping).head(ping))
        .route("/query", get(query).post(query))
        .with_state(state)
}

/// A JSON error response as InfluxDB sends it, with the message also in the
/// `X-Influxdb-Error` header (first 1024 bytes, newlines as spaces).
pub fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    let mut header_text: String = message.chars().take(1024).collect();
    header_text = header_text.replace(['\n', '\r'], " ");
    let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
    if let Ok(v) = HeaderValue::from_str(&header_text) {
        response.headers_mut().insert("x-influxdb-error", v);
    }
    response
}

async fn ping() -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn write_v1(
    State(state): State<Arc<HttpIngest>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let counters = &state.stats.http;
    counters.accept();
    let Some(db) = params.get("db").filter(|db| !db.is_empty()) else {
        counters.reject();
        return json_error(StatusCode::BAD_REQUEST, "database is required");
    };
    let rp = params.get("rp").map(String::as_str).unwrap_or("");
    let precision = params.get("precision").map(String::as_str).unwrap_or("");
    let Some(precision) = Precision::parse(precision) else {
        counters.reject();
        return json_error(
            StatusCode::BAD_REQUEST,
            format!("invalid precision {precision:?} (use n, u, ms, s, m or h)"),
        );
    };
    write(&state, db, rp, precision, &headers, body).await
}

async fn write_v2(
    State(state): State<Arc<HttpIngest>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let counters = &state.stats.http;
    counters.accept();
    let Some(bucket) = params.get("bucket").filter(|b| !b.is_empty()) else {
        counters.reject();
        return json_error(StatusCode::BAD_REQUEST, "bucket is required");
    };
    // InfluxDB 1.8's compatibility API: bucket is "db" or "db/rp".
    let (db, rp) = bucket.split_once('/').unwrap_or((bucket, ""));
    let precision = params.get("precision").map(String::as_str).unwrap_or("ns");
    let precision = match precision {
        "ns" | "" => Precision::Nanosecond,
        "us" => Precision::Microsecond,
        "ms" => Precision::Millisecond,
        "s" => Precision::Second,
        other => {
            counters.reject();
            return json_error(
                StatusCode::BAD_REQUEST,
                format!("invalid precision {other:?} (use ns, us, ms or s)"),
            );
        }
    };
    write(&state, db, rp, precision, &headers, body).await
}

async fn write(
    state: &HttpIngest,
    db: &str,
    rp: &str,
    precision: Precision,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let counters = &state.stats.http;
    let breaches = counters.breaches();
    let limits = (state.max_body_size, state.max_inflated_size);
    let body = match read_body(limits, breaches, headers, body).await {
        Ok(body) => body,
        Err(response) => {
            counters.reject();
            return response;
        }
    };
    let rp = if rp.is_empty() {
        state.default_retention_policy.as_str()
    } else {
        rp
    };
    let dbrp = DbRp::new(db, rp);
    let mut outcome = decode_and_route(
        &state.sink,
        &counters.dbrp(&dbrp),
        breaches,
        &dbrp,
        &body,
        precision,
        state.settings,
    );
    if let Some(held) = outcome.held.take() {
        let timeout = state.settings.backpressure_timeout;
        if let Err(points) = wait_for_room(&state.sink, held, timeout, true).await {
            counters.reject();
            breaches.breach(Limit::IngestBackpressureTimeout);
            return backpressure(points, timeout);
        }
    }
    match outcome.error_message() {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(msg) => json_error(StatusCode::BAD_REQUEST, msg),
    }
}

/// 503 for a write no task had room for in time: Telegraf keeps the batch
/// and sends it again, so nothing is lost and nothing was applied.
fn backpressure(points: usize, waited: std::time::Duration) -> Response {
    let mut response = json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "tasks are behind: the {points} points of this write were not taken within \
             {waited:?} (ingest.backpressure_timeout) and nothing of it was applied; retry later"
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Reads the whole body within the size limit (`http.max_body_size`) and,
/// gunzipping it when the client says it is gzip, the inflated one
/// (`ingest.max_inflated_size`), counting a breach of either. Errors come
/// back as the response to send.
async fn read_body(
    (limit, inflated_limit): (u64, u64),
    breaches: &LimitBreaches,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, Response> {
    let too_large = || {
        breaches.breach(Limit::HttpMaxBodySize);
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Request Entity Too Large: the body is over {limit} bytes (http.max_body_size)"
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    let bytes = match Limited::new(body, limit_usize).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Err(err) => {
            return Err(json_error(
                StatusCode::BAD_REQUEST,
                format!("error reading body: {err}"),
            ));
        }
    };
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    if !gzip {
        return Ok(bytes);
    }
    // Inflated, the body is held to the smaller limit: max_body_size as
    // before, or max_inflated_size when that is set lower.
    let by_inflated = inflated_limit < limit;
    let inflated_limit = inflated_limit.min(limit);
    let inflated_usize = usize::try_from(inflated_limit).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4).min(inflated_usize));
    // Read one byte past the limit to tell "exactly at the limit" from "over".
    let mut decoder =
        flate2::read::MultiGzDecoder::new(&bytes[..]).take(inflated_limit.saturating_add(1));
    match decoder.read_to_end(&mut out) {
        Ok(n) if n as u64 > inflated_limit && !by_inflated => Err(too_large()),
        Ok(n) if n as u64 > inflated_limit => {
            breaches.breach(Limit::IngestMaxInflatedSize);
            Err(json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "gzip body inflates past {inflated_limit} bytes (ingest.max_inflated_size)"
                ),
            ))
        }
        Ok(_) => Ok(Bytes::from(out)),
        Err(err) => {
            let msg = if bytes.len() < 2 || bytes[..2] != [0x1f, 0x8b] {
                "gzip: invalid header".to_string()
            } else {
                format!("gzip: {err}")
            };
            Err(json_error(StatusCode::BAD_REQUEST, msg))
        }
    }
}

/// Answers the `CREATE DATABASE` Telegraf and the influx CLI send at start
/// so they stay quiet; kapacitord stores nothing, so there is nothing to
/// create. Every other query is refused with a JSON 400.
async fn query(Query(params): Query<HashMap<String, String>>, body: Bytes) -> Response {
    let mut q = params.get("q").cloned().unwrap_or_default();
    if q.is_empty() {
        // Form-encoded POST body: q=CREATE+DATABASE+%22telegraf%22
        if let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&body) {
            q = form.get("q").cloned().unwrap_or_default();
        }
    }
    let statements: Vec<&str> = q
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if statements.is_empty() {
        return json_error(StatusCode::BAD_REQUEST, "missing required parameter \"q\"");
    }
    if statements.iter().all(|s| is_create_database(s)) {
        let results: Vec<_> = (0..statements.len())
            .map(|i| serde_json::json!({ "statement_id": i }))
            .collect();
        return (
            StatusCode::OK,
            Json(serde_json::json!({ "results": results })),
        )
            .into_response();
    }
    json_error(
        StatusCode::BAD_REQUEST,
        "kapacitord answers only CREATE DATABASE on /query; query InfluxDB for data",
    )
}

fn is_create_database(statement: &str) -> bool {
    let mut words = statement.split_whitespace();
    matches!(
        (words.next(), words.next()),
        (Some(a), Some(b)) if a.eq_ignore_ascii_case("create") && b.eq_ignore_ascii_case("database")
    )
}
