//! Task test cases in Kapacitor's conformance format, run offline: a
//! directory with `script.tick`, `input.srpl` or `input.N.brpl`, and
//! `expected.json`. This is what `kapacitor test` runs, and how users test
//! their own tasks before enabling them.
//!
//! Beyond Kapacitor's format (see the conformance README):
//!
//! - `task.yaml` beside the script: the same metadata as a tasks
//!   directory's `NAME.yaml` (`type`, `dbrp`, `from`, `where`, `vars`, ...).
//!   Points reach the task through the daemon's router with that `from` and
//!   `where`, and the script is compiled with those `vars`; `expected.json`
//!   may then leave out `task_type` and `dbrps`. Without it, points are
//!   routed by `expected.json`'s `dbrps`.
//! - `outputs.alerts: {events: [...], expected_request_count?}`: every
//!   event the task's alert nodes published, whatever their handlers (a
//!   bare `.alert()` included), compared as `alertPost` compares bodies,
//!   except that keys an expected event leaves out (`details`, say) are
//!   not compared.
//! - `outputs.influxdbOut: {lines: [...]}` and `outputs.loopback: {lines:
//!   [...]}`: what influxDBOut and kapacitorLoopback wrote, one
//!   `db.rp <line protocol>` per point, in order (nothing reaches a real
//!   InfluxDB or the router).
//! - `outputs.httpPost: {bodies: [...], paths: [...]}`: the bodies POSTed
//!   to the case's `{{POST_URL}}` sink, compared as `alertPost` compares
//!   events, and (if given) the path and query each went to, in order.
//!   Every `.endpoint(NAME)` (httpPost's, alert `.post()`'s) is that sink.
//! - `{{CASE_DIR}}` in the script is the case directory's absolute path
//!   (for `sideload().source('file://{{CASE_DIR}}/sideload')`).
//! - `outputs.httpOut` may be a list of endpoints, each `{name, compare,
//!   result}`.
//! - `note`: what the case covers, for people.
//!
//! Time: a stream case runs on the replay's clock, which starts at
//! `1971-01-01T00:00:00Z` (where the first point is shifted to) and reaches
//! each point's time before the point is delivered, then ends at
//! `zero + clock.advance_to`. Nodes that act on time rather than data
//! (`stats`, `deadman`, `barrier`) are ticked on that clock, each at the
//! very time it asked for, so a case gives the same result every run, one
//! by one or batched, whatever the parallelism.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ingest::lp::Precision;
use pipeline::time::parse_rfc3339;
use serde_json::Value;

use crate::replay::instance::{Effects, Instance, Produced, TaskFilter};
use crate::replay::recording::{read_brpl, read_srpl};

/// `1971-01-01T00:00:00Z`, where test cases start their clock.
pub const REPLAY_ZERO_NS: i64 = 31_536_000 * 1_000_000_000;

/// How to run a case; every way must give the same result.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Instances of every node (`.parallelism(n)` forced on each).
    pub parallelism: usize,
    /// Points handed to the task at a time (1 = one by one).
    pub delivery_batch: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            parallelism: 1,
            delivery_batch: 1,
        }
    }
}

/// Why a case failed, readably.
#[derive(Debug)]
pub struct Failure(pub String);

/// The outcome of one case.
#[derive(Debug)]
pub struct CaseResult {
    pub name: String,
    pub failure: Option<Failure>,
}

/// A local HTTP endpoint standing in for `{{POST_URL}}`: records the JSON
/// bodies POSTed to it, and the path and query of each, in arrival order.
struct PostSink {
    url: String,
    posts: Arc<Mutex<Vec<(String, Value)>>>,
    stop: tokio_util::sync::CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for PostSink {
    /// Stops serving when the case is done, so running many cases does not
    /// leave a thread and a listening socket behind for each.
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl PostSink {
    fn start() -> Result<PostSink, Failure> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Failure(format!("cannot start the POST sink: {e}")))?;
        let addr = listener.local_addr().map_err(|e| Failure(e.to_string()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Failure(e.to_string()))?;
        let posts: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let store = posts.clone();
        let stop = tokio_util::sync::CancellationToken::new();
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let app = axum::Router::new().fallback(
                    move |uri: axum::http::Uri, body: axum::body::Bytes| {
                        let store = store.clone();
                        async move {
                            let value = serde_json::from_slice(&body).unwrap_or(Value::String(
                                String::from_utf8_lossy(&body).into_owned(),
                            ));
                            let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
                            store
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push((path, value));
                            axum::http::StatusCode::OK
                        }
                    },
                );
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(stopped.cancelled_owned())
                    .await;
            });
        });
        Ok(PostSink {
            url: format!("http://{addr}/"),
            posts,
            stop,
            thread: Some(thread),
        })
    }

    /// What was POSTed: (path and query, body), in arrival order.
    fn posts(&self) -> Vec<(String, Value)> {
        self.posts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs the case in `dir`.
pub fn run_case(dir: &Path, opts: RunOptions) -> CaseResult {
    let name = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let failure = run(dir, opts).err();
    CaseResult { name, failure }
}

fn read(dir: &Path, file: &str) -> Result<String, Failure> {
    let path = dir.join(file);
    std::fs::read_to_string(&path)
        .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))
}

fn run(dir: &Path, opts: RunOptions) -> Result<(), Failure> {
    let expected: Value = serde_json::from_str(&read(dir, "expected.json")?)
        .map_err(|e| Failure(format!("expected.json: {e}")))?;
    let sink = PostSink::start()?;
    let case_dir =
        std::path::absolute(dir).map_err(|e| Failure(format!("{}: {e}", dir.display())))?;
    let script = read(dir, "script.tick")?
        .replace("{{POST_URL}}", &sink.url)
        .replace("{{CASE_DIR}}", &case_dir.display().to_string());
    let meta = task_meta(dir)?;
    let task_type: dsl::TaskType = match (&meta, expected["task_type"].as_str()) {
        (Some(m), _) => m.task_type,
        (None, t) => t.unwrap_or("stream").parse().map_err(Failure)?,
    };
    let vars = meta
        .as_ref()
        .filter(|m| !m.vars.is_empty())
        .map(|m| crate::tasks::vars::yaml_to_json(&m.vars));
    let file = dir.join("script.tick").display().to_string();
    let mut plan = crate::tasks::vars::compile(
        &script,
        task_type,
        vars.as_ref(),
        &file,
        &dsl::Limits::default(),
    )
    .map_err(|e| Failure(e.replace("\nvars.", "\ntask.yaml: vars.")))?;
    if opts.parallelism > 1 {
        force_parallelism(&mut plan, opts.parallelism);
    }
    let task = expected["test"].as_str().unwrap_or("test").to_string();
    let sideloads = crate::tasks::sideload::Sideloads::default();
    let effects = Effects {
        // No config here: every `.endpoint(NAME)` posts to the case's sink.
        endpoints: crate::effects::endpoints::HttpEndpoints::any_name(&sink.url),
        fire_handlers: true,
        sideloads: &sideloads,
        deadman: None,
    };
    let start = |plan: &dsl::Plan| {
        Instance::start(
            pool(),
            &task,
            plan,
            task_type,
            &effects,
            REPLAY_ZERO_NS,
            opts.delivery_batch,
        )
        .map_err(Failure)
    };
    let outcome = match task_type {
        dsl::TaskType::Stream => {
            let input = std::fs::read(dir.join("input.srpl"))
                .map_err(|e| Failure(format!("cannot read input.srpl: {e}")))?;
            let filter = task_filter(&task, &expected, meta.as_ref(), &plan.dbrps)?;
            let mut running = start(&plan)?;
            feed_srpl(&mut running, &input, &filter).map_err(Failure)?;
            running
                .advance_to(REPLAY_ZERO_NS + advance_to(&expected)?)
                .map_err(Failure)?;
            running.finish(CASE_TIMEOUT).map_err(Failure)?
        }
        dsl::TaskType::Batch => {
            let query_nodes: Vec<usize> = plan
                .nodes
                .iter()
                .filter(|n| n.kind == "query")
                .map(|n| n.id)
                .collect();
            let inputs = expected["input"].as_array().cloned().unwrap_or_default();
            let mut feeds = Vec::new();
            for input in inputs {
                let file = input["file"].as_str().unwrap_or("");
                let node = input["feeds_query_node"].as_u64().unwrap_or(0) as usize;
                let text = read(dir, file)?;
                let mut batches = read_brpl(&text).map_err(|e| Failure(format!("{file}: {e}")))?;
                // Each file on its own clock: its first point maps to zero.
                shift_batches(&mut batches, REPLAY_ZERO_NS);
                // A seed-style batch task (`batch.filter(...)`, its query in
                // the metadata) has no query node: its batches feed the root.
                let id = *query_nodes
                    .get(node)
                    .or((query_nodes.is_empty() && node == 0).then_some(&0))
                    .ok_or_else(|| {
                        Failure(format!(
                            "{file} feeds query node {node}, which the script lacks"
                        ))
                    })?;
                feeds.push((id, batches));
            }
            // Interleave the files by batch time, as concurrent queries would.
            let mut all: Vec<(i64, usize, usize, pipeline::Batch)> = Vec::new();
            for (order, (id, batches)) in feeds.into_iter().enumerate() {
                for b in batches {
                    all.push((b.tmax, order, id, b));
                }
            }
            all.sort_by_key(|(t, order, _, _)| (*t, *order));
            let mut running = start(&plan)?;
            for (_, _, node, batch) in all {
                running.push_batch(node, batch).map_err(Failure)?;
            }
            running.finish(CASE_TIMEOUT).map_err(Failure)?
        }
    };
    compare_outputs(&expected["outputs"], &outcome.produced, &sink.posts())
}

/// What `kapacitor test` does with a stream case's `input.srpl`: decodes
/// it, moves its first point to [`REPLAY_ZERO_NS`] (where `running`'s clock
/// starts) and every point by as much, and hands `running` what `filter`
/// lets through. The clock reaches each point's time before the point is
/// delivered (the runner's data clock); points go in file order,
/// `delivery_batch` at a time, never mixing databases in one delivery.
/// Public for the replay benchmark, which compares replays with it.
pub fn feed_srpl(running: &mut Instance, input: &[u8], filter: &TaskFilter) -> Result<(), String> {
    let mut points = read_srpl(input, Precision::Second).map_err(|e| format!("input.srpl: {e}"))?;
    let shift = points.first().map_or(0, |(_, p)| REPLAY_ZERO_NS - p.time);
    for (_, p) in &mut points {
        p.time += shift;
    }
    for (dbrp, point) in points {
        for point in filter.apply(&dbrp, vec![point]) {
            running.push(&dbrp, point)?;
        }
    }
    Ok(())
}

/// Shifts batches so that their first point is at `zero`.
pub fn shift_batches(batches: &mut [pipeline::Batch], zero: i64) {
    let first = batches
        .iter()
        .flat_map(|b| b.points.first())
        .map(|p| p.time)
        .next();
    let shift = first.map_or(0, |t| zero - t);
    for b in batches {
        b.tmax += shift;
        for p in &mut b.points {
            p.time += shift;
        }
    }
}

/// The case's `task.yaml`, if it has one: the same metadata as a tasks
/// directory's `NAME.yaml`.
fn task_meta(dir: &Path) -> Result<Option<config::TaskMeta>, Failure> {
    let path = dir.join("task.yaml");
    if !path.exists() {
        return Ok(None);
    }
    let text = read(dir, "task.yaml")?;
    config::TaskMeta::from_yaml(&text, &path)
        .map(Some)
        .map_err(|e| Failure(e.to_string()))
}

/// What the daemon's router would hand the task: its dbrps (`task.yaml`'s,
/// else `expected.json`'s, else the script's), and `task.yaml`'s `from`
/// and `where`.
fn task_filter(
    task: &str,
    expected: &Value,
    meta: Option<&config::TaskMeta>,
    script_dbrps: &[pipeline::DbRp],
) -> Result<TaskFilter, Failure> {
    let dbrps: Vec<pipeline::DbRp> = match meta {
        Some(m) if m.dbrps.is_empty() => script_dbrps.to_vec(),
        Some(m) => m.dbrps.clone(),
        None if expected["dbrps"].is_null() => script_dbrps.to_vec(),
        None => serde_json::from_value(expected["dbrps"].clone())
            .map_err(|e| Failure(format!("expected.json: dbrps: {e}")))?,
    };
    let filter = match meta.and_then(|m| m.where_clause.as_ref()) {
        Some(w) => Some(
            crate::tasks::point_filter(w.source())
                .map_err(|e| Failure(format!("task.yaml: where: {e}")))?,
        ),
        None => None,
    };
    Ok(TaskFilter::new(
        task,
        dbrps,
        meta.and_then(|m| m.from.as_deref()),
        filter,
    ))
}

/// The pool that runs cases: the daemon's runner on a pool of its own, one
/// worker per core, shared by every case this process runs.
fn pool() -> &'static host::Pool {
    static POOL: std::sync::OnceLock<host::Pool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        host::Pool::new(workers).unwrap_or_else(|e| panic!("cannot start the test workers: {e}"))
    })
}

/// How long a case's task may take to process its replay.
const CASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// `clock.advance_to` of a case, in ns (0 when absent).
fn advance_to(expected: &Value) -> Result<i64, Failure> {
    match expected["clock"]["advance_to"].as_str() {
        None => Ok(0),
        Some(text) => config::parse_duration(text)
            .map(|d| d.as_nanos() as i64)
            .map_err(|e| Failure(format!("expected.json: clock.advance_to: {e}"))),
    }
}

fn force_parallelism(plan: &mut dsl::Plan, n: usize) {
    for node in &mut plan.nodes {
        node.properties.retain(|p| p.name != "parallelism");
        node.properties.push(dsl::Property {
            name: "parallelism".into(),
            args: vec![dsl::Value::Int(n as i64)],
            span: node.span,
        });
    }
}

/// Compares what a task produced with a case's `outputs`, as `kapacitor
/// test` does: `posted` is what reached the case's `{{POST_URL}}` sink.
pub fn compare_outputs(
    outputs: &Value,
    outcome: &Produced,
    posted: &[(String, Value)],
) -> Result<(), Failure> {
    for (key, lines) in [
        ("influxdbOut", &outcome.influxdb_out),
        ("loopback", &outcome.loopback),
    ] {
        if let Some(expected) = outputs.get(key) {
            let expected: Vec<&str> = expected["lines"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if expected != *lines {
                return Err(Failure(format!(
                    "{key} lines differ\n  expected: {expected:?}\n  actual:   {lines:?}"
                )));
            }
        }
    }
    let posts: Vec<Value> = posted.iter().map(|(_, body)| body.clone()).collect();
    if let Some(expected) = outputs.get("httpPost") {
        let bodies = expected["bodies"].as_array().cloned().unwrap_or_default();
        if bodies.len() != posts.len() {
            return Err(Failure(format!(
                "httpPost: expected {} bodies, got {}: {}",
                bodies.len(),
                posts.len(),
                compact(&Value::Array(posts.to_vec()))
            )));
        }
        for (i, (e, a)) in bodies.iter().zip(&posts).enumerate() {
            same(e, a, &format!("httpPost body {}", i + 1)).map_err(|why| {
                Failure(format!(
                    "{why}\n  expected: {}\n  actual:   {}",
                    compact(e),
                    compact(a)
                ))
            })?;
        }
        if let Some(paths) = expected.get("paths") {
            let expected: Vec<&str> = paths
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let actual: Vec<&str> = posted.iter().map(|(path, _)| path.as_str()).collect();
            if expected != actual {
                return Err(Failure(format!(
                    "httpPost paths differ\n  expected: {expected:?}\n  actual:   {actual:?}"
                )));
            }
        }
    }
    // One endpoint, or (our extension) a list of them.
    let endpoints: Vec<&Value> = match outputs.get("httpOut") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    for http in endpoints {
        let name = http["name"].as_str().unwrap_or("");
        let Some(actual) = outcome.http_out.get(name).cloned() else {
            return Err(Failure(format!("the script has no httpOut('{name}')")));
        };
        let expected = &http["result"];
        let ordered = http["compare"].as_str() != Some("ignore_series_order");
        compare_result(expected, &actual, ordered).map_err(|why| {
            Failure(format!(
                "httpOut('{name}'): {why}\n  expected: {}\n  actual:   {}",
                compact(expected),
                compact(&actual)
            ))
        })?;
    }
    if let Some(alert) = outputs.get("alertPost") {
        compare_events("alert POSTs", alert, &posts, false)?;
    }
    if let Some(alerts) = outputs.get("alerts") {
        compare_events("alert events", alerts, &outcome.alerts, true)?;
    }
    Ok(())
}

/// Compares events (POSTed bodies, or every event the task published) with
/// `expected`: `expected_request_count` of them (default: as many as
/// `events`); event i against `events[i]`, the last standing for every
/// later one; a `null` `data` is not compared. With `partial`, neither is
/// any key an expected event leaves out (`details`, say).
fn compare_events(
    what: &str,
    expected: &Value,
    actual: &[Value],
    partial: bool,
) -> Result<(), Failure> {
    let events = expected["events"].as_array().filter(|e| !e.is_empty());
    let count = expected["expected_request_count"]
        .as_u64()
        .map(|n| n as usize)
        .or_else(|| events.map(Vec::len))
        .unwrap_or(0);
    if actual.len() != count {
        let got: Vec<String> = actual
            .iter()
            .map(|p| format!("{} {}", p["level"], p["time"]))
            .collect();
        return Err(Failure(format!(
            "{what}: expected {count}, got {}: {}",
            actual.len(),
            got.join(", ")
        )));
    }
    let Some(events) = events else {
        return Ok(());
    };
    for (i, event) in actual.iter().enumerate() {
        let mut expected = events[i.min(events.len() - 1)].clone();
        let mut actual = event.clone();
        if partial && let (Some(e), Some(a)) = (expected.as_object(), actual.as_object_mut()) {
            a.retain(|k, _| e.contains_key(k));
        }
        if expected["data"].is_null() {
            if let Some(o) = expected.as_object_mut() {
                o.remove("data");
            }
            if let Some(o) = actual.as_object_mut() {
                o.remove("data");
            }
        }
        same(&expected, &actual, &format!("{what} {}", i + 1)).map_err(|why| {
            Failure(format!(
                "{why}\n  expected: {}\n  actual:   {}",
                compact(&expected),
                compact(&actual)
            ))
        })?;
    }
    Ok(())
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Compares two results, series in order or matched by name and tags.
pub fn compare_result(expected: &Value, actual: &Value, ordered: bool) -> Result<(), String> {
    let empty = Vec::new();
    let exp = expected["series"].as_array().unwrap_or(&empty);
    let act = actual["series"].as_array().unwrap_or(&empty);
    if exp.len() != act.len() {
        return Err(format!(
            "{} series expected, {} produced",
            exp.len(),
            act.len()
        ));
    }
    if ordered {
        for (i, (e, a)) in exp.iter().zip(act).enumerate() {
            same(e, a, &format!("series[{i}]"))?;
        }
        return Ok(());
    }
    let key = |s: &Value| (s["name"].clone(), tags_of(s));
    for (i, e) in exp.iter().enumerate() {
        let Some(a) = act.iter().find(|a| key(a) == key(e)) else {
            return Err(format!(
                "series[{i}] {} {} was not produced",
                e["name"],
                compact(&tags_of(e))
            ));
        };
        same(e, a, &format!("series[{i}]"))?;
    }
    Ok(())
}

fn tags_of(series: &Value) -> Value {
    match series.get("tags") {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(t) => t.clone(),
    }
}

/// JSON equality as the Go tests see it: numbers by value, RFC 3339 strings
/// as instants, a missing `tags` the same as empty tags.
pub fn same(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Number(e), Value::Number(a)) => {
            let (e, a) = (
                e.as_f64().unwrap_or(f64::NAN),
                a.as_f64().unwrap_or(f64::NAN),
            );
            if e == a || (e - a).abs() <= 1e-9 * e.abs().max(a.abs()) {
                Ok(())
            } else {
                Err(format!("{path}: expected {e}, got {a}"))
            }
        }
        (Value::String(e), Value::String(a)) => match (parse_rfc3339(e), parse_rfc3339(a)) {
            (Ok(te), Ok(ta)) if te == ta => Ok(()),
            _ if e == a => Ok(()),
            _ => Err(format!("{path}: expected {e:?}, got {a:?}")),
        },
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{path}: expected {} items, got {}",
                    e.len(),
                    a.len()
                ));
            }
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                same(x, y, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a.get(k).unwrap_or(&Value::Null);
                if k == "tags" {
                    same(
                        &tags_of(expected),
                        &tags_of(actual),
                        &format!("{path}.tags"),
                    )?;
                } else {
                    same(ev, av, &format!("{path}.{k}"))?;
                }
            }
            for k in a.keys() {
                let empty_tags =
                    k == "tags" && tags_of(actual).as_object().is_some_and(|t| t.is_empty());
                if !e.contains_key(k) && !empty_tags {
                    return Err(format!("{path}: unexpected {k}"));
                }
            }
            Ok(())
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!(
            "{path}: expected {}, got {}",
            compact(e),
            compact(a)
        )),
    }
}

/// The case directories under `paths` (a path that holds `expected.json` is
/// a case; otherwise its subdirectories are searched).
pub fn find_cases(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut cases = Vec::new();
    for path in paths {
        if path.join("expected.json").is_file() {
            cases.push(path.clone());
        } else if let Ok(entries) = std::fs::read_dir(path) {
            let mut dirs: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("expected.json").is_file())
                .collect();
            dirs.sort();
            cases.extend(dirs);
        }
    }
    cases
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn numbers_by_value_times_as_instants_tags_missing_or_empty() {
        let e = json!({"series": [{"name": "cpu", "columns": ["time", "count"], "values": [["1971-01-01T00:00:10Z", 10.0]]}]});
        let a = json!({"series": [{"name": "cpu", "tags": {}, "columns": ["time", "count"], "values": [["1971-01-01T00:00:10.000Z", 10]]}]});
        assert_eq!(compare_result(&e, &a, true), Ok(()));
        let wrong = json!({"series": [{"name": "cpu", "columns": ["time", "count"], "values": [["1971-01-01T00:00:10Z", 11]]}]});
        assert!(
            compare_result(&e, &wrong, true)
                .unwrap_err()
                .contains("expected 10, got 11")
        );
    }

    #[test]
    fn unordered_matches_series_by_name_and_tags() {
        let s = |h: &str, v: f64| json!({"name": "m", "tags": {"host": h}, "columns": ["time", "v"], "values": [["1971-01-01T00:00:00Z", v]]});
        let e = json!({"series": [s("a", 1.0), s("b", 2.0)]});
        let a = json!({"series": [s("b", 2.0), s("a", 1.0)]});
        assert_eq!(compare_result(&e, &a, false), Ok(()));
        assert!(compare_result(&e, &a, true).is_err());
    }
}
