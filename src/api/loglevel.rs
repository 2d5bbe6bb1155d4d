//! `POST /kapacitor/v1/loglevel` `{"level": "debug"}`: the daemon's log
//! level, changed while it runs, as Kapacitor's.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ingest::http::json_error;

use crate::logging::{LevelError, set_level};

#[derive(serde::Deserialize)]
struct Body {
    level: String,
}

pub async fn set(body: Bytes) -> Response {
    let body: Body = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, format!("invalid json: {e}")),
    };
    match set_level(&body.level) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e @ LevelError::Invalid(_)) => json_error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e @ LevelError::NotSetUp) => json_error(StatusCode::NOT_IMPLEMENTED, e.to_string()),
    }
}
