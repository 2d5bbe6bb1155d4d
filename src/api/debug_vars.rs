//! `GET /kapacitor/v1/debug/vars`: the summary `kapacitor stats` and
//! `kapacitor vars` read, in the shape of Kapacitor's expvar JSON: the
//! server's counts at the top, and under `kapacitor` one stat per database
//! and retention policy received (`ingress`). Cluster and server ids, per
//! task and per node stats are not there yet; `/kapacitor/v1/status` and
//! `/metrics` have the node counters.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::server::ServerState;
use crate::tasks::TaskStatus;

pub async fn debug_vars(State(state): State<Arc<ServerState>>) -> Json<Value> {
    let tasks = state.tasks.list();
    let enabled = tasks
        .iter()
        .filter(|t| t.status != TaskStatus::Disabled)
        .count();
    Json(json!({
        "cluster_id": "",
        "server_id": "",
        "host": host_name(),
        "product": "kapacitord",
        "platform": "OSS",
        "version": super::VERSION,
        "num_tasks": tasks.len(),
        "num_enabled_tasks": enabled,
        "num_subscriptions": 0,
        "kapacitor": ingress(&state),
    }))
}

/// Points received per db/rp, over every listener, as Kapacitor's
/// `ingress` stats (which it also splits by measurement; we do not count
/// by measurement).
fn ingress(state: &ServerState) -> serde_json::Map<String, Value> {
    let mut points: BTreeMap<String, u64> = BTreeMap::new();
    for listener in state.stats.snapshot().values() {
        for (dbrp, counters) in &listener.dbrps {
            *points.entry(dbrp.clone()).or_default() += counters.points;
        }
    }
    points
        .into_iter()
        .map(|(key, n)| {
            let (db, rp) = match key.parse::<pipeline::DbRp>() {
                Ok(d) => (d.db.to_string(), d.rp.to_string()),
                // The bucket of db/rps past `ingest.max_dbrps`.
                Err(_) => (key.clone(), String::new()),
            };
            let stat = json!({
                "name": "ingress",
                "tags": {"task_master": "main", "database": db, "retention_policy": rp},
                "values": {"points_received": n},
            });
            (format!("ingress:{key}"), stat)
        })
        .collect()
}

/// The machine's name, as Kapacitor's `host`.
fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}
