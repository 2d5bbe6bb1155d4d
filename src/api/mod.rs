//! The HTTP API: the ingest routes from `ingest`, `/kapacitor/v1/status`,
//! one authentication layer over all of it, and JSON errors everywhere.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use ingest::http::{HttpIngest, json_error};

use crate::server::ServerState;

mod auth;
mod debug_vars;
mod host_check;
mod loglevel;
mod metrics;
mod patch;
mod queried;
mod recordings;
mod replays;
mod storage;
mod tasks;
mod topics;

pub use auth::Auth;
pub use host_check::HostCheck;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The whole HTTP surface of a server.
pub fn app(state: Arc<ServerState>, ingest: Arc<HttpIngest>) -> Router {
    let api = Router::new()
        .route("/kapacitor/v1/status", get(status))
        .route("/kapacitor/v1/tasks", get(tasks::list).post(tasks::create))
        .route(
            "/kapacitor/v1/tasks/{id}",
            get(tasks::get).patch(tasks::update).delete(tasks::delete),
        )
        .route("/kapacitor/v1/tasks/{id}/{endpoint}", get(http_out))
        .route("/kapacitor/v1/recordings", get(recordings::list))
        .route("/kapacitor/v1/recordings/stream", post(recordings::stream))
        .route(
            "/kapacitor/v1/recordings/batch",
            post(queried::record_batch),
        )
        .route(
            "/kapacitor/v1/recordings/query",
            post(queried::record_query),
        )
        .route(
            "/kapacitor/v1/recordings/file",
            post(recordings::import).layer(DefaultBodyLimit::max(
                usize::try_from(state.config.replay.max_recording_bytes).unwrap_or(usize::MAX),
            )),
        )
        .route(
            "/kapacitor/v1/recordings/{id}",
            get(recordings::get).delete(recordings::delete),
        )
        .route("/kapacitor/v1/recordings/{id}/stop", post(recordings::stop))
        .route(
            "/kapacitor/v1/replays",
            get(replays::list).post(replays::create),
        )
        .route("/kapacitor/v1/replays/batch", post(queried::replay_batch))
        .route("/kapacitor/v1/replays/query", post(queried::replay_query))
        .route(
            "/kapacitor/v1/replays/{id}",
            get(replays::get).delete(replays::delete),
        )
        .route("/kapacitor/v1/alerts", get(alerts))
        .route("/kapacitor/v1/alerts/topics", get(topics::list))
        .route(
            "/kapacitor/v1/alerts/topics/{topic}",
            get(topics::get).delete(topics::delete),
        )
        .route(
            "/kapacitor/v1/alerts/topics/{topic}/events",
            get(topics::events),
        )
        .route(
            "/kapacitor/v1/alerts/topics/{topic}/events/{*event}",
            get(topics::event),
        )
        .route(
            "/kapacitor/v1/alerts/topics/{topic}/handlers",
            get(topics::handlers).post(topics::create_handler),
        )
        .route(
            "/kapacitor/v1/alerts/topics/{topic}/handlers/{handler}",
            get(topics::get_handler)
                .put(topics::put_handler)
                .patch(topics::patch_handler)
                .delete(topics::delete_handler),
        )
        .route("/kapacitor/v1/sideload/reload", post(sideload_reload))
        .route("/kapacitor/v1/loglevel", post(loglevel::set))
        .route("/kapacitor/v1/storage/backup", get(storage::backup))
        .route("/kapacitor/v1/debug/vars", get(debug_vars::debug_vars))
        .route("/metrics", get(metrics::metrics))
        .with_state(state.clone());
    Router::new()
        .merge(ingest::http::routes(ingest))
        .merge(api)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.auth.clone(),
            auth::require,
        ))
        .layer(middleware::from_fn_with_state(
            state.host_check.clone(),
            host_check::require,
        ))
        .layer(middleware::map_response(version_header))
}

async fn version_header(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("x-kapacitor-version", HeaderValue::from_static(VERSION));
    response
}

/// `GET /kapacitor/v1/tasks/ID/NAME`: the latest results of the task's
/// `httpOut('NAME')`.
async fn http_out(
    State(state): State<Arc<ServerState>>,
    Path((id, endpoint)): Path<(String, String)>,
) -> Response {
    match state.tasks.http_out().get(&id, &endpoint) {
        Some(e) => Json(e.result()).into_response(),
        None => json_error(
            StatusCode::NOT_FOUND,
            format!("no httpOut endpoint {endpoint:?} on task {id:?}"),
        ),
    }
}

#[derive(serde::Deserialize)]
struct AlertsQuery {
    task: Option<String>,
    level: Option<String>,
}

/// `GET /kapacitor/v1/alerts[?task=&level=]`: recent alert events, oldest
/// first.
async fn alerts(State(state): State<Arc<ServerState>>, Query(q): Query<AlertsQuery>) -> Response {
    let events = state
        .tasks
        .alert_history()
        .recent(q.task.as_deref(), q.level.as_deref());
    Json(serde_json::json!({ "alerts": events })).into_response()
}

/// `POST /kapacitor/v1/sideload/reload`: reads every sideload directory in
/// use again. 204; a 500 naming each file that failed, which keeps what was
/// read before.
async fn sideload_reload(State(state): State<Arc<ServerState>>) -> Response {
    let tasks = state.tasks.clone();
    match tokio::task::spawn_blocking(move || tasks.sideloads().reload()).await {
        Ok(Ok(_)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "not found")
}

/// `GET /kapacitor/v1/status`: version, uptime, what every listener has
/// received, per database/retention policy, and the InfluxDB
/// subscriptions' last sync.
async fn status(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    let addrs = state.addrs;
    let mut listeners = serde_json::Map::new();
    for (name, snapshot) in state.stats.snapshot() {
        let (enabled, bind) = match name {
            "http" => (state.config.http.enabled, addrs.http),
            "udp" => (state.config.udp.enabled, addrs.udp),
            _ => (state.config.tcp.enabled, addrs.tcp),
        };
        let mut value = serde_json::to_value(&snapshot).unwrap_or_default();
        if let Some(obj) = value.as_object_mut() {
            obj.insert("enabled".into(), enabled.into());
            obj.insert("bind".into(), bind.map(|a| a.to_string()).into());
            if name == "http" {
                obj.insert(
                    "tls".into(),
                    (enabled && state.config.http.tls.is_some()).into(),
                );
                if let Ok(serde_json::Value::Object(conns)) =
                    serde_json::to_value(state.http_connections.snapshot())
                {
                    obj.extend(conns);
                }
            }
        }
        listeners.insert(name.to_string(), value);
    }
    Json(serde_json::json!({
        "version": VERSION,
        "cluster_id": state.cluster_id,
        "started": humantime::format_rfc3339_seconds(state.started).to_string(),
        "uptime_seconds": state.started_at.elapsed().as_secs_f64(),
        "listeners": listeners,
        "router": {
            "unrouted_points": state.router.unrouted_points(),
            "routed_points": state.router.routed_points(),
            "dropped_points": state.router.dropped_points(),
            "refused_points": state.router.refused_points(),
        },
        "http_refused": {
            "auth_failures": state.auth.failures(),
            "unknown_host": state.host_check.refused(),
        },
        // Every limit, by the config key that sets it: how often a request,
        // line, connection, file or definition was refused (or cut short)
        // for it.
        "limit_breaches": state
            .stats
            .breaches
            .snapshot()
            .into_iter()
            .map(|(key, n)| (key.to_string(), n.into()))
            .collect::<serde_json::Map<String, serde_json::Value>>(),
        "store": {
            // What was moved aside at start because it could not be read;
            // the stored text stays in the store, out of the status.
            "quarantined": state.tasks.quarantined().iter().map(|q| serde_json::json!({
                "table": q.table,
                "key": q.key,
                "error": q.error,
            })).collect::<Vec<_>>(),
        },
        "subscriptions": state.subscriptions.status(),
        "task_pool": state.tasks.pool_status(),
        "tasks": state.tasks.list(),
        "alert_states": state.tasks.alert_state_counts(),
        "topics": topics::status(&state),
        "task_dir": {
            "path": state.config.tasks_dir.display().to_string(),
            "errors": state.tasks.file_errors(),
        },
    }))
}
