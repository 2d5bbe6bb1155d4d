//! `GET /metrics`: the status counters in Prometheus text format, for
//! scraping. Rendered from the same counters as `/kapacitor/v1/status`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::server::ServerState;

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One counter family: its name, help text, and how to read it.
type Metric<T> = (&'static str, &'static str, fn(&T) -> u64);
/// A batch run metric: (name, type, help, value).
type BatchMetric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&crate::batch::BatchStatus) -> f64,
);
/// A metric with its Prometheus type: (name, type, help, value).
type TypedMetric<T> = (&'static str, &'static str, &'static str, fn(&T) -> u64);

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

pub async fn metrics(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    let mut out = String::new();
    let listeners = state.stats.snapshot();
    let per_dbrp: [Metric<ingest::stats::DbRpSnapshot>; 4] = [
        ("kapacitor_ingest_points_total", "Points accepted.", |d| {
            d.points
        }),
        (
            "kapacitor_ingest_bytes_total",
            "Bytes of line protocol received.",
            |d| d.bytes,
        ),
        (
            "kapacitor_ingest_parse_errors_total",
            "Lines that failed to parse.",
            |d| d.parse_errors,
        ),
        (
            "kapacitor_ingest_dropped_total",
            "Points lost for reasons other than parsing.",
            |d| d.dropped,
        ),
    ];
    for (name, help, get) in per_dbrp {
        family(&mut out, name, "counter", help);
        for (listener, snapshot) in &listeners {
            for (dbrp, counters) in &snapshot.dbrps {
                let _ = writeln!(
                    out,
                    "{name}{{listener=\"{listener}\",dbrp=\"{}\"}} {}",
                    label(dbrp),
                    get(counters)
                );
            }
        }
    }
    family(
        &mut out,
        "kapacitor_ingest_rejected_total",
        "counter",
        "Requests, datagrams or connections refused.",
    );
    for (listener, snapshot) in &listeners {
        let _ = writeln!(
            out,
            "kapacitor_ingest_rejected_total{{listener=\"{listener}\"}} {}",
            snapshot.rejected
        );
    }
    let conns = state.http_connections.snapshot();
    let name = "kapacitor_http_connections_total";
    family(&mut out, name, "counter", "HTTP connections accepted.");
    let _ = writeln!(out, "{name} {}", conns.connections);
    let name = "kapacitor_listener_active_connections";
    family(&mut out, name, "gauge", "Connections open now.");
    let _ = writeln!(
        out,
        "{name}{{listener=\"http\"}} {}",
        conns.active_connections
    );
    if let Some(tcp) = listeners.get("tcp") {
        let active = tcp.active_connections.unwrap_or_default();
        let _ = writeln!(out, "{name}{{listener=\"tcp\"}} {active}");
    }
    let name = "kapacitor_connections_closed_total";
    family(
        &mut out,
        name,
        "counter",
        "Connections closed or refused by the server, by listener and reason.",
    );
    let tcp_idle = listeners
        .get("tcp")
        .and_then(|t| t.idle_timeouts)
        .unwrap_or_default();
    for (listener, reason, count) in [
        ("http", "refused", conns.refused_connections),
        ("http", "evicted", conns.evicted_connections),
        ("http", "header_timeout", conns.header_timeouts),
        ("http", "idle_timeout", conns.idle_timeouts),
        ("http", "tls_handshake", conns.tls_handshake_failures),
        ("http", "plain_http", conns.plain_http_refused),
        ("tcp", "idle_timeout", tcp_idle),
    ] {
        let _ = writeln!(
            out,
            "{name}{{listener=\"{listener}\",reason=\"{reason}\"}} {count}"
        );
    }
    let router = [
        (
            "kapacitor_router_unrouted_points_total",
            "Points no task wanted.",
            state.router.unrouted_points(),
        ),
        (
            "kapacitor_router_routed_points_total",
            "Points handed to tasks.",
            state.router.routed_points(),
        ),
        (
            "kapacitor_router_dropped_points_total",
            "Points lost to a full task queue: of tasks with overflow: drop, UDP, or TCP writes that waited past ingest.backpressure_timeout.",
            state.router.dropped_points(),
        ),
        (
            "kapacitor_router_refused_points_total",
            "Points of HTTP writes answered 503 because a task had no room in time (the writer keeps them).",
            state.router.refused_points(),
        ),
    ];
    for (name, help, value) in router {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    let states = state.tasks.alert_state_counts();
    let name = "kapacitor_alert_state_changes_total";
    family(
        &mut out,
        name,
        "counter",
        "Alert state changes sent to the store, by outcome.",
    );
    for (outcome, count) in [
        ("saved", states.saved),
        ("failed", states.failed),
        ("dropped", states.dropped),
    ] {
        let _ = writeln!(out, "{name}{{outcome=\"{outcome}\"}} {count}");
    }
    let name = "kapacitor_alert_state_changes_pending";
    family(
        &mut out,
        name,
        "gauge",
        "Alert state changes waiting to be committed.",
    );
    let _ = writeln!(out, "{name} {}", states.pending);
    let name = "kapacitor_http_refused_total";
    family(
        &mut out,
        name,
        "counter",
        "HTTP requests refused, by reason: missing or wrong credentials, or a Host name that is not served.",
    );
    for (reason, count) in [
        ("auth", state.auth.failures()),
        ("host", state.host_check.refused()),
    ] {
        let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {count}");
    }
    let name = "kapacitor_limit_breaches_total";
    family(
        &mut out,
        name,
        "counter",
        "Requests, lines, connections, files or definitions refused (or cut short) for a limit, by the config key that sets it.",
    );
    for (limit, count) in state.stats.breaches.snapshot() {
        let _ = writeln!(out, "{name}{{limit=\"{limit}\"}} {count}");
    }
    let pool = state.tasks.pool_status();
    for (name, help, value) in [
        (
            "kapacitor_task_workers",
            "Worker threads that run every task.",
            pool.workers,
        ),
        (
            "kapacitor_task_worker_threads",
            "Worker threads alive now, with stand-ins for tasks waiting on an answer.",
            pool.threads,
        ),
    ] {
        family(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    }
    let tasks = state.tasks.list();
    family(
        &mut out,
        "kapacitor_task_enabled",
        "gauge",
        "1 when the task is enabled.",
    );
    for t in &tasks {
        let enabled = u8::from(matches!(t.status, crate::tasks::TaskStatus::Enabled));
        let _ = writeln!(
            out,
            "kapacitor_task_enabled{{task=\"{}\"}} {enabled}",
            label(&t.id)
        );
    }
    let per_task: [Metric<crate::tasks::TaskInfo>; 2] = [
        (
            "kapacitor_task_panics_total",
            "Times a panic stopped the task since it was enabled.",
            |t| t.panics,
        ),
        (
            "kapacitor_task_restarts_total",
            "Times the task was restarted after a panic since it was enabled.",
            |t| t.restarts,
        ),
    ];
    for (name, help, get) in per_task {
        family(&mut out, name, "counter", help);
        for t in &tasks {
            let _ = writeln!(out, "{name}{{task=\"{}\"}} {}", label(&t.id), get(t));
        }
    }
    // (name, type, help, value) of each per-node series.
    let per_node: [TypedMetric<pipeline::runtime::NodeStatsSnapshot>; 4] = [
        (
            "kapacitor_node_messages_in_total",
            "counter",
            "Points or batches a node received.",
            |n| n.messages_in,
        ),
        (
            "kapacitor_node_messages_out_total",
            "counter",
            "Points or batches a node emitted.",
            |n| n.messages_out,
        ),
        (
            "kapacitor_node_errors_total",
            "counter",
            "Messages a node failed on.",
            |n| n.errors,
        ),
        (
            "kapacitor_node_groups",
            "gauge",
            "Groups a node holds state for (refreshed about once a second).",
            |n| n.groups,
        ),
    ];
    for (name, kind, help, get) in per_node {
        family(&mut out, name, kind, help);
        for t in &tasks {
            for n in &t.nodes {
                let _ = writeln!(
                    out,
                    "{name}{{task=\"{}\",node=\"{}\"}} {}",
                    label(&t.id),
                    label(&n.name),
                    get(n)
                );
            }
        }
    }
    let name = "kapacitor_node_alerts_total";
    family(
        &mut out,
        name,
        "counter",
        "Alert events an alert node sent, by level.",
    );
    for t in &tasks {
        for n in &t.nodes {
            let Some(a) = &n.alerts else {
                continue;
            };
            for (level, count) in [
                ("OK", a.oks_triggered),
                ("INFO", a.infos_triggered),
                ("WARNING", a.warns_triggered),
                ("CRITICAL", a.crits_triggered),
            ] {
                let _ = writeln!(
                    out,
                    "{name}{{task=\"{}\",node=\"{}\",level=\"{level}\"}} {count}",
                    label(&t.id),
                    label(&n.name),
                );
            }
        }
    }
    let batch: [BatchMetric; 7] = [
        (
            "kapacitor_batch_runs_total",
            "counter",
            "Batch query runs started.",
            |b| b.runs as f64,
        ),
        (
            "kapacitor_batch_errors_total",
            "counter",
            "Batch query runs that failed.",
            |b| b.errors as f64,
        ),
        (
            "kapacitor_batch_skipped_total",
            "counter",
            "Scheduled batch runs skipped because the previous one was still going.",
            |b| b.skipped as f64,
        ),
        (
            "kapacitor_batch_series_total",
            "counter",
            "Series batch queries returned.",
            |b| b.series_total as f64,
        ),
        (
            "kapacitor_batch_points_total",
            "counter",
            "Points batch queries returned.",
            |b| b.points_total as f64,
        ),
        (
            "kapacitor_batch_last_duration_seconds",
            "gauge",
            "How long the last batch run took, query and hand-off.",
            |b| b.last_duration_ms / 1e3,
        ),
        (
            "kapacitor_batch_last_failed",
            "gauge",
            "1 when the last batch run failed.",
            |b| f64::from(u8::from(!b.last_error.is_empty())),
        ),
    ];
    let batch_stats = state.tasks.batch_stats();
    for (name, kind, help, get) in batch {
        family(&mut out, name, kind, help);
        for (id, b) in &batch_stats {
            let _ = writeln!(out, "{name}{{task=\"{}\"}} {}", label(id), get(b));
        }
    }
    let subscriptions: [TypedMetric<crate::subscriptions::ConnectionStatus>; 4] = [
        (
            "kapacitor_subscriptions",
            "gauge",
            "InfluxDB subscriptions of ours the last sync left on the server.",
            |c| c.subscribed.len() as u64,
        ),
        (
            "kapacitor_subscription_syncs_total",
            "counter",
            "Subscription syncs tried.",
            |c| c.syncs,
        ),
        (
            "kapacitor_subscription_sync_failures_total",
            "counter",
            "Subscription syncs that failed.",
            |c| c.failed_syncs,
        ),
        (
            "kapacitor_subscription_last_sync_failed",
            "gauge",
            "1 when the last subscription sync failed.",
            |c| u64::from(!c.error.is_empty()),
        ),
    ];
    let connections = state.subscriptions.status().connections;
    for (name, kind, help, get) in subscriptions {
        family(&mut out, name, kind, help);
        for c in connections.iter().filter(|c| c.enabled) {
            let _ = writeln!(
                out,
                "{name}{{cluster=\"{}\"}} {}",
                label(&c.cluster),
                get(c)
            );
        }
    }
    topics(&mut out, &state);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// Topics: events collected, what each handler did with them and how long
/// they waited for it, the store's commits and the inhibitors on.
fn topics(out: &mut String, state: &ServerState) {
    let stats = state.topics.stats();
    let name = "kapacitor_topic_events_total";
    family(out, name, "counter", "Events published to a topic.");
    for (t, _) in &stats {
        let _ = writeln!(out, "{name}{{topic=\"{}\"}} {}", label(&t.id), t.collected);
    }
    let name = "kapacitor_topic_handler_events_total";
    family(
        out,
        name,
        "counter",
        "Events of a topic by what became of them at a handler: sent (handled), failed, dropped (full queue, or abandoned at a stop), unmatched or match_error (its match expression).",
    );
    for (t, handlers) in &stats {
        for h in handlers {
            let s = &h.stats;
            for (outcome, n) in [
                ("sent", s.sent),
                ("failed", s.failed),
                ("dropped", s.dropped),
                ("unmatched", s.unmatched),
                ("match_error", s.match_errors),
            ] {
                let _ = writeln!(
                    out,
                    "{name}{{topic=\"{}\",handler=\"{}\",outcome=\"{outcome}\"}} {n}",
                    label(&t.id),
                    label(&h.spec.id)
                );
            }
        }
    }
    let name = "kapacitor_topic_handler_delay_seconds";
    family(
        out,
        name,
        "histogram",
        "Time from an event's publication to its handler taking it.",
    );
    for (t, handlers) in &stats {
        for h in handlers {
            let labels = format!(
                "topic=\"{}\",handler=\"{}\"",
                label(&t.id),
                label(&h.spec.id)
            );
            let d = &h.stats.delay;
            for (bound, n) in crate::effects::delay::EXPORTED_BOUNDS
                .iter()
                .zip(d.cumulative())
            {
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", d.count());
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", d.sum().as_secs_f64());
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", d.count());
        }
    }
    if let Some(c) = state.topics.store_counts() {
        let name = "kapacitor_topic_store_changes_total";
        family(
            out,
            name,
            "counter",
            "Topic event changes sent to the store, by outcome.",
        );
        for (outcome, n) in [("saved", c.saved), ("failed", c.failed)] {
            let _ = writeln!(out, "{name}{{outcome=\"{outcome}\"}} {n}");
        }
    }
    let name = "kapacitor_inhibitors_active";
    family(
        out,
        name,
        "gauge",
        "Alert groups inhibiting a category now (.inhibit()).",
    );
    let _ = writeln!(out, "{name} {}", state.tasks.inhibitions().active());
}
