//! `/kapacitor/v1/alerts/topics`: topics, their events and their handlers,
//! in Kapacitor's shapes (links, `events-link`, Go durations), so its
//! clients and CLI keep working. Beyond Kapacitor: each event carries
//! `inhibited` and its `history`, each handler its counters (`stats`) and,
//! when it cannot run, its `error`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ingest::http::json_error;
use model::IdPattern;
use pipeline::nodes::alert::{Level, go_duration};
use pipeline::time::format_rfc3339;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::effects::topics::{EventInfo, HandlerInfo, TopicError, TopicHandlerSpec, TopicInfo};
use crate::server::ServerState;

const BASE: &str = "/kapacitor/v1/alerts/topics";

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(rename = "min-level", default)]
    min_level: String,
    #[serde(default)]
    pattern: String,
}

fn bad_request(message: String) -> Response {
    json_error(StatusCode::BAD_REQUEST, message)
}

/// Kapacitor's `ParseLevel`: any case; empty is OK.
fn min_level(text: &str) -> Result<Level, String> {
    if text.is_empty() {
        return Ok(Level::Ok);
    }
    Level::parse(text).ok_or_else(|| format!("unknown alert level '{text}'"))
}

/// A `pattern` query parameter: empty means every id.
fn pattern(text: &str) -> Result<Option<IdPattern>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    IdPattern::new(text)
        .map(Some)
        .map_err(|e| format!("invalid pattern: {e}"))
}

fn link(rel: &str, href: String) -> Value {
    json!({"rel": rel, "href": href})
}

fn topic_json(t: &TopicInfo) -> Value {
    json!({
        "link": link("self", format!("{BASE}/{}", t.id)),
        "id": t.id,
        "level": t.level.as_str(),
        "collected": t.collected,
        "events-link": link("events", format!("{BASE}/{}/events", t.id)),
        "handlers-link": link("handlers", format!("{BASE}/{}/handlers", t.id)),
    })
}

fn event_json(topic: &str, e: &EventInfo) -> Value {
    let s = &e.state;
    json!({
        "link": link("self", format!("{BASE}/{topic}/events/{}", e.id)),
        "id": e.id,
        "state": {
            "message": s.message,
            "details": s.details,
            "time": format_rfc3339(s.time),
            "duration": go_duration(s.duration),
            "level": s.level.as_str(),
            "inhibited": s.inhibited,
            "task": s.task,
            "history": e.history.iter().map(|h| json!({
                "time": format_rfc3339(h.time),
                "level": h.level.as_str(),
                "message": h.message,
                "inhibited": h.inhibited,
            })).collect::<Vec<_>>(),
        },
    })
}

fn handler_json(h: &HandlerInfo) -> Value {
    let s = &h.spec;
    let mut v = json!({
        "link": link("self", format!("{BASE}/{}/handlers/{}", s.topic, s.id)),
        "id": s.id,
        "topic": s.topic,
        "kind": s.kind,
        "options": s.options,
        "match": s.match_expr,
        "stats": h.stats,
    });
    if let Some(e) = &h.error {
        v["error"] = Value::from(e.as_str());
    }
    if h.from_file {
        v["from_file"] = Value::Bool(true);
    }
    v
}

fn topic_error(e: TopicError) -> Response {
    let status = match e {
        TopicError::Invalid(_) => StatusCode::BAD_REQUEST,
        TopicError::Exists { .. } => StatusCode::CONFLICT,
        TopicError::NotFound { .. } => StatusCode::NOT_FOUND,
        TopicError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    json_error(status, e.to_string())
}

/// `GET /alerts/topics[?min-level=&pattern=]`.
pub async fn list(State(state): State<Arc<ServerState>>, Query(q): Query<ListQuery>) -> Response {
    let level = match min_level(&q.min_level) {
        Ok(l) => l,
        Err(e) => return bad_request(e),
    };
    let pattern = match pattern(&q.pattern) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let topics: Vec<Value> = state
        .topics
        .list(pattern.as_ref(), level)
        .iter()
        .map(topic_json)
        .collect();
    Json(json!({"link": link("self", BASE.to_owned()), "topics": topics})).into_response()
}

fn unknown_topic(id: &str) -> Response {
    json_error(StatusCode::NOT_FOUND, format!("unknown topic: {id:?}"))
}

/// `GET /alerts/topics/ID`.
pub async fn get(State(state): State<Arc<ServerState>>, Path(id): Path<String>) -> Response {
    match state.topics.get(&id) {
        Some(t) => Json(topic_json(&t)).into_response(),
        None => unknown_topic(&id),
    }
}

/// `DELETE /alerts/topics/ID`: its events go; its handlers stay.
pub async fn delete(State(state): State<Arc<ServerState>>, Path(id): Path<String>) -> Response {
    if state.topics.delete_topic(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        unknown_topic(&id)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    #[serde(rename = "min-level", default)]
    min_level: String,
}

/// `GET /alerts/topics/ID/events[?min-level=]`: highest level first.
pub async fn events(
    State(state): State<Arc<ServerState>>,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
) -> Response {
    let level = match min_level(&q.min_level) {
        Ok(l) => l,
        Err(e) => return bad_request(e),
    };
    let Some(events) = state.topics.events(&id, level) else {
        return unknown_topic(&id);
    };
    let events: Vec<Value> = events.iter().map(|e| event_json(&id, e)).collect();
    Json(json!({
        "link": link("self", format!("{BASE}/{id}/events")),
        "topic": id,
        "events": events,
    }))
    .into_response()
}

/// `GET /alerts/topics/ID/events/EVENT` (an event id may hold `/`).
pub async fn event(
    State(state): State<Arc<ServerState>>,
    Path((id, event)): Path<(String, String)>,
) -> Response {
    match state.topics.event(&id, &event) {
        Some(e) => Json(event_json(&id, &e)).into_response(),
        None => json_error(
            StatusCode::NOT_FOUND,
            format!("unknown event {event:?} in topic {id:?}"),
        ),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct HandlersQuery {
    #[serde(default)]
    pattern: String,
}

/// `GET /alerts/topics/ID/handlers[?pattern=]`, by id.
pub async fn handlers(
    State(state): State<Arc<ServerState>>,
    Path(id): Path<String>,
    Query(q): Query<HandlersQuery>,
) -> Response {
    let pattern = match pattern(&q.pattern) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let handlers: Vec<Value> = state
        .topics
        .handlers(&id, pattern.as_ref())
        .iter()
        .map(handler_json)
        .collect();
    Json(json!({
        "link": link("self", format!("{BASE}/{id}/handlers")),
        "topic": id,
        "handlers": handlers,
    }))
    .into_response()
}

/// A handler as a request body gives it: Kapacitor's handler spec, its
/// topic taken from the path.
#[derive(Debug, Deserialize)]
pub struct HandlerBody {
    #[serde(default)]
    id: String,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    kind: String,
    #[serde(default, rename = "match")]
    match_expr: Option<String>,
    #[serde(default)]
    options: Option<serde_json::Map<String, Value>>,
}

impl HandlerBody {
    fn spec(self, topic: &str) -> TopicHandlerSpec {
        // As Kapacitor: the path names the topic.
        let _ = self.topic;
        TopicHandlerSpec {
            id: self.id,
            topic: topic.to_owned(),
            kind: self.kind,
            match_expr: self.match_expr.unwrap_or_default(),
            options: self.options.unwrap_or_default(),
        }
    }
}

fn body(bytes: &[u8]) -> Result<HandlerBody, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("invalid handler json: {e}"))
}

/// Runs `f` (which may commit to the store) on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TopicError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(topic_error),
        Err(e) => Err(json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

/// `POST /alerts/topics/ID/handlers`: a new handler.
pub async fn create_handler(
    State(state): State<Arc<ServerState>>,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> Response {
    let spec = match body(&bytes) {
        Ok(b) => b.spec(&id),
        Err(e) => return bad_request(e),
    };
    let topics = state.topics.clone();
    match blocking(move || topics.create_handler(spec)).await {
        Ok(h) => Json(handler_json(&h)).into_response(),
        Err(r) => r,
    }
}

/// `GET /alerts/topics/ID/handlers/HANDLER`.
pub async fn get_handler(
    State(state): State<Arc<ServerState>>,
    Path((topic, id)): Path<(String, String)>,
) -> Response {
    match state.topics.handler(&topic, &id) {
        Some(h) => Json(handler_json(&h)).into_response(),
        None => topic_error(TopicError::NotFound { topic, id }),
    }
}

/// `PUT /alerts/topics/ID/handlers/HANDLER`: replaces it.
pub async fn put_handler(
    State(state): State<Arc<ServerState>>,
    Path((topic, id)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> Response {
    let spec = match body(&bytes) {
        Ok(b) => b.spec(&topic),
        Err(e) => return bad_request(e),
    };
    let topics = state.topics.clone();
    match blocking(move || topics.replace_handler(&topic, &id, spec)).await {
        Ok(h) => Json(handler_json(&h)).into_response(),
        Err(r) => r,
    }
}

/// `PATCH /alerts/topics/ID/handlers/HANDLER`: a JSON Patch (RFC 6902, as
/// Kapacitor takes) or a merge patch (an object: RFC 7396) applied to the
/// handler's spec.
pub async fn patch_handler(
    State(state): State<Arc<ServerState>>,
    Path((topic, id)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> Response {
    let Some(current) = state.topics.handler(&topic, &id) else {
        return topic_error(TopicError::NotFound { topic, id });
    };
    let patch: Value = match serde_json::from_slice(&bytes) {
        Ok(p) => p,
        Err(e) => {
            return json_error(StatusCode::BAD_REQUEST, format!("invalid patch json: {e}"));
        }
    };
    let mut doc = match serde_json::to_value(&current.spec) {
        Ok(d) => d,
        Err(e) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    if let Err(e) = super::patch::apply(&mut doc, &patch) {
        return json_error(
            StatusCode::BAD_REQUEST,
            format!("failed to apply patch: {e}"),
        );
    }
    let spec = match serde_json::from_value::<HandlerBody>(doc) {
        Ok(b) => b.spec(&topic),
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!("invalid handler spec: {e}"),
            );
        }
    };
    let topics = state.topics.clone();
    match blocking(move || topics.replace_handler(&topic, &id, spec)).await {
        Ok(h) => Json(handler_json(&h)).into_response(),
        Err(r) => r,
    }
}

/// `DELETE /alerts/topics/ID/handlers/HANDLER`: 204, as Kapacitor answers
/// even when there was none.
pub async fn delete_handler(
    State(state): State<Arc<ServerState>>,
    Path((topic, id)): Path<(String, String)>,
) -> Response {
    let topics = state.topics.clone();
    match blocking(move || topics.delete_handler(&topic, &id)).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

/// The `topics` member of `/kapacitor/v1/status`: each topic with its
/// handlers' counters, what the store took, and the inhibitors on.
pub fn status(state: &ServerState) -> Value {
    let topics: Vec<Value> = state
        .topics
        .stats()
        .iter()
        .map(|(t, handlers)| {
            json!({
                "id": t.id,
                "level": t.level.as_str(),
                "collected": t.collected,
                "events": t.events,
                "handlers": handlers.iter().map(|h| {
                    let mut v = json!({"id": h.spec.id, "kind": h.spec.kind, "stats": h.stats});
                    if let Some(e) = &h.error {
                        v["error"] = Value::from(e.as_str());
                    }
                    v
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "topics": topics,
        "store": state.topics.store_counts(),
        "inhibitors_on": state.tasks.inhibitions().active(),
        "file_errors": state.topics.file_errors(),
    })
}
