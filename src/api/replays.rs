//! `/kapacitor/v1/replays`: replay a recording into a task (Kapacitor's
//! `POST /replays`), follow it, read its results, forget it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ingest::http::json_error;
use serde_json::json;

use crate::replay::recordings::RecordError;
use crate::replay::replays::{ReplayError, ReplayRequest};
use crate::server::ServerState;

pub(super) fn replay_error(e: ReplayError) -> Response {
    let status = match &e {
        ReplayError::NoTask(_) | ReplayError::NotFound(_) => StatusCode::NOT_FOUND,
        ReplayError::Recording(RecordError::NotFound(_)) => StatusCode::NOT_FOUND,
        ReplayError::Exists(_) => StatusCode::CONFLICT,
        ReplayError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
        ReplayError::Recording(RecordError::Store(_) | RecordError::Io(_)) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    };
    json_error(status, e.to_string())
}

/// `POST /kapacitor/v1/replays`: starts a replay; 201 with it, running.
pub async fn create(
    State(state): State<Arc<ServerState>>,
    Json(req): Json<ReplayRequest>,
) -> Response {
    let replays = state.replays.clone();
    match tokio::task::spawn_blocking(move || replays.start(req)).await {
        Ok(Ok(info)) => (StatusCode::CREATED, Json(info)).into_response(),
        Ok(Err(e)) => replay_error(e),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `GET /kapacitor/v1/replays`: every replay remembered, without results.
pub async fn list(State(state): State<Arc<ServerState>>) -> Response {
    Json(json!({ "replays": state.replays.list() })).into_response()
}

/// `GET /kapacitor/v1/replays/ID`: status, progress and, once finished,
/// what the task produced.
pub async fn get(State(state): State<Arc<ServerState>>, Path(id): Path<String>) -> Response {
    match state.replays.get(&id) {
        Some(info) => Json(info).into_response(),
        None => replay_error(ReplayError::NotFound(id)),
    }
}

/// `DELETE /kapacitor/v1/replays/ID`: stops it if running, forgets it; 204.
pub async fn delete(State(state): State<Arc<ServerState>>, Path(id): Path<String>) -> Response {
    match state.replays.delete(&id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => replay_error(e),
    }
}
