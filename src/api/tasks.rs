//! `/kapacitor/v1/tasks`: define, update, enable, disable, delete and list
//! tasks, shaped like Kapacitor's API so its clients keep working.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ingest::http::json_error;
use pipeline::DbRp;
use serde::Deserialize;

use crate::server::ServerState;
use crate::tasks::{TaskDefinition, TaskError, TaskManager, valid_id};

/// The body of `POST /tasks` and `PATCH /tasks/ID`; in a PATCH every member
/// is optional and only what is given changes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub task_type: Option<String>,
    pub dbrps: Option<Vec<DbRp>>,
    pub script: Option<String>,
    /// `enabled` or `disabled`.
    pub status: Option<String>,
    /// Only points of this measurement reach the task.
    pub from: Option<String>,
    /// Only points matching this predicate reach the task, e.g.
    /// `cpu = 'cpu-total'`.
    #[serde(rename = "where")]
    pub where_: Option<String>,
    /// Batch tasks: the query and its schedule.
    pub query: Option<String>,
    pub period: Option<String>,
    pub cron: Option<String>,
    pub group_by: Option<String>,
    /// Values for the script's vars, as Kapacitor takes them:
    /// `{"name": {"type": "int", "value": 5}}`; `{}` clears them.
    pub vars: Option<serde_json::Value>,
}

fn task_error(e: TaskError) -> Response {
    match e {
        TaskError::NotFound(_) => json_error(StatusCode::NOT_FOUND, e.to_string()),
        // The daemon's fault, not the request's: the disk is full or the
        // data dir read-only. Nothing changed, in memory or on disk.
        TaskError::Store(_) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot save the change, so nothing changed: {e}"),
        ),
        _ => json_error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// Applies `body` on top of `base` (or makes a new definition) and sets the
/// status, all on a blocking thread since stopping a task waits for it.
async fn apply(tasks: Arc<TaskManager>, id: String, body: TaskBody, creating: bool) -> Response {
    let base = tasks.definition(&id);
    if base.is_none() && !creating {
        return json_error(StatusCode::NOT_FOUND, format!("task {id:?} does not exist"));
    }
    // Without a type, a new script says (`stream` or `batch`), as
    // Kapacitor sets it from the script on create and on update.
    let task_type = match (&body.task_type, body.script.as_deref(), &base) {
        (Some(t), _, _) => match t.parse() {
            Ok(t) => t,
            Err(e) => return json_error(StatusCode::BAD_REQUEST, e),
        },
        (None, Some(script), _) => dsl::detect_task_type(script),
        (None, None, Some(b)) => b.task_type,
        (None, None, None) => {
            return json_error(StatusCode::BAD_REQUEST, "a new task needs a script");
        }
    };
    let Some(script) = body
        .script
        .clone()
        .or_else(|| base.as_ref().map(|b| b.script.clone()))
    else {
        return json_error(StatusCode::BAD_REQUEST, "a new task needs a script");
    };
    let dbrps = body
        .dbrps
        .clone()
        .or_else(|| base.as_ref().map(|b| b.dbrps.clone()))
        .unwrap_or_default();
    let measurement = body
        .from
        .clone()
        .or_else(|| base.as_ref().and_then(|b| b.measurement.clone()));
    let status = body.status.clone();
    if let Some(s) = &status
        && s != "enabled"
        && s != "disabled"
    {
        return json_error(
            StatusCode::BAD_REQUEST,
            format!("invalid status {s:?}: use enabled or disabled"),
        );
    }
    let mut meta = base.as_ref().map(|b| b.meta.clone()).unwrap_or_default();
    let given = [
        ("where", &body.where_),
        ("query", &body.query),
        ("period", &body.period),
        ("cron", &body.cron),
        ("group_by", &body.group_by),
    ];
    for (key, value) in given {
        match value.as_deref() {
            // An empty value clears the key (a batcher moving from
            // `period` to `cron`).
            Some("") => {
                meta.remove(key);
            }
            Some(v) => {
                meta.insert(key.to_string(), v.to_string());
            }
            None => {}
        }
    }
    if task_type == dsl::TaskType::Batch
        && !meta.contains_key("query")
        && !script.contains("query(")
    {
        return json_error(
            StatusCode::BAD_REQUEST,
            "a batch task needs a query, in the script or as `query`",
        );
    }
    match &body.vars {
        Some(v) if v.as_object().is_some_and(|o| o.is_empty()) => {
            meta.remove("vars");
        }
        Some(v) => {
            if let Err(e) = crate::tasks::vars::from_json(v) {
                return json_error(StatusCode::BAD_REQUEST, e);
            }
            meta.insert("vars".to_string(), v.to_string());
        }
        None => {}
    }
    let def = TaskDefinition {
        id: id.clone(),
        task_type,
        dbrps,
        script,
        measurement,
        meta,
    };
    let result = tokio::task::spawn_blocking(move || {
        tasks.define(def)?;
        match status.as_deref() {
            Some("enabled") => tasks.enable(&id)?,
            Some("disabled") => tasks.disable(&id)?,
            _ => {}
        }
        Ok::<_, TaskError>(tasks.get(&id))
    })
    .await;
    match result {
        Ok(Ok(Some(info))) => Json(info).into_response(),
        Ok(Ok(None)) => json_error(StatusCode::NOT_FOUND, "task vanished"),
        Ok(Err(e)) => task_error(e),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `POST /kapacitor/v1/tasks`: defines a task (or redefines one with the same id).
pub async fn create(State(state): State<Arc<ServerState>>, Json(body): Json<TaskBody>) -> Response {
    let Some(id) = body.id.clone() else {
        return json_error(StatusCode::BAD_REQUEST, "a task needs an id");
    };
    if !valid_id(&id) {
        return json_error(
            StatusCode::BAD_REQUEST,
            format!("invalid task id {id:?}: use letters, digits, '-', '.' and '_'"),
        );
    }
    apply(state.tasks.clone(), id, body, true).await
}

/// `PATCH /kapacitor/v1/tasks/ID`: changes what the body gives.
pub async fn update(
    State(state): State<Arc<ServerState>>,
    Path(id): Path<String>,
    Json(body): Json<TaskBody>,
) -> Response {
    if body.id.as_ref().is_some_and(|new| *new != id) {
        return json_error(StatusCode::BAD_REQUEST, "renaming a task is not supported");
    }
    apply(state.tasks.clone(), id, body, false).await
}

/// `GET /kapacitor/v1/tasks/ID`.
pub async fn get(State(state): State<Arc<ServerState>>, Path(id): Path<String>) -> Response {
    match state.tasks.get(&id) {
        Some(info) => Json(info).into_response(),
        None => json_error(StatusCode::NOT_FOUND, format!("task {id:?} does not exist")),
    }
}

/// `GET /kapacitor/v1/tasks`.
pub async fn list(State(state): State<Arc<ServerState>>) -> Response {
    Json(serde_json::json!({ "tasks": state.tasks.list() })).into_response()
}

/// `DELETE /kapacitor/v1/tasks/ID`.
pub async fn delete(State(state): State<Arc<ServerState>>, Path(id): Path<String>) -> Response {
    let tasks = state.tasks.clone();
    match tokio::task::spawn_blocking(move || tasks.delete(&id)).await {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => task_error(e),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
