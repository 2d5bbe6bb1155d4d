//! Routing (issue 4): a hundred tasks that each want 1% of the stream
//! against one task that wants all of it. Both see the same 120,000 points
//! (10,000 series, 12 seconds) and run the same pipeline
//! (`window(10s) → mean → alert`) over them; only the routing differs.
//!
//! Tasks run inline here (the router hands each task's share straight to
//! its DAG), so this is the CPU cost of routing plus processing, without
//! thread wake-ups.
//!
//! `cargo bench --bench routing`

use std::hint::black_box;
use std::sync::{Arc, Mutex};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kapacitor::effects::handlers::{AlertHistory, HandlerRegistry};
use kapacitor::tasks::{Env, HttpOutRegistry, point_filter};
use pipeline::build::{StreamTask, build_stream_task};
use pipeline::{DbRp, FieldValue, Fields, Name, Point, PointBatch, Series};
use pipeline::{PointSink, Route, Router, TaskInbox};

const TASKS: usize = 100;
const SERIES_PER_TASK: usize = 100;
const SECONDS: usize = 12;
/// Points per write, as Telegraf batches them.
const WRITE: usize = 5_000;

/// Runs the task's DAG on the caller's thread.
struct Inline(Mutex<StreamTask>);

impl TaskInbox for Inline {
    fn offer(&self, batch: PointBatch) -> usize {
        let n = batch.points.len();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_points(batch);
        n
    }
}

fn script(measurement: Option<&str>) -> String {
    let from = measurement.map_or(String::new(), |m| format!(".measurement('{m}')"));
    format!(
        "stream|from(){from}.groupBy('host')|window().period(10s).every(10s)|mean('value')|alert().crit(lambda: \"mean\" < 10.0)"
    )
}

fn task(name: &str, script: &str) -> Arc<Inline> {
    let plan = dsl::compile(script, dsl::TaskType::Stream).expect("compiles");
    let http_out = HttpOutRegistry::default();
    let handlers = HandlerRegistry::new(Arc::new(AlertHistory::default()));
    let outputs = kapacitor::effects::outputs::OutputRegistry::new(Arc::from([]));
    let env = Env {
        task: name,
        http_out: &http_out,
        handlers: &handlers,
        group_idle_timeout: None,
        alert_state_idle_timeout: None,
        alert_states: None,
        outputs: &outputs,
        loopback: None,
        deadman: None,
        endpoints: &Default::default(),
        sideloads: &Default::default(),
        inhibitions: None,
    };
    Arc::new(Inline(Mutex::new(
        build_stream_task(&plan, &env).expect("builds"),
    )))
}

/// 10,000 series: `measurement(i)` names series i's measurement, hosts are
/// unique. Made once, as the decoder's cache shares them across writes.
fn series(measurement: impl Fn(usize) -> String) -> Vec<Arc<Series>> {
    (0..TASKS * SERIES_PER_TASK)
        .map(|i| {
            let tags = vec![(Name::from("host"), Name::from(format!("host-{i:05}")))];
            Arc::new(Series::new(Name::from(measurement(i)), tags).unwrap())
        })
        .collect()
}

/// `SECONDS` seconds of one point per series a second, from `start`, in
/// writes of `WRITE` points.
fn writes(series: &[Arc<Series>], start: usize) -> Vec<PointBatch> {
    let keys: Arc<[Name]> = Arc::from([Name::from("value")]);
    let dbrp = DbRp::new("telegraf", "autogen");
    let mut points = Vec::with_capacity(series.len() * SECONDS);
    for s in start..start + SECONDS {
        for (i, series) in series.iter().enumerate() {
            points.push(Point {
                series: series.clone(),
                fields: Fields::new(
                    keys.clone(),
                    Arc::from([FieldValue::Float(((i * 7 + s * 13) % 100) as f64)]),
                ),
                time: s as i64 * 1_000_000_000,
            });
        }
    }
    points
        .chunks(WRITE)
        .map(|c| PointBatch {
            dbrp: dbrp.clone(),
            points: c.to_vec(),
        })
        .collect()
}

fn route(task: &str, measurement: Option<&str>, filter: Option<&str>, inbox: Arc<Inline>) -> Route {
    Route {
        task: Name::from(task),
        dbrps: Vec::new(),
        measurement: measurement.map(Name::from),
        filter: filter.map(|f| point_filter(f).expect("where parses")),
        inbox,
        block_when_full: false,
    }
}

fn run(c: &mut Criterion, name: &str, router: &Router, series: &[Arc<Series>]) {
    let mut group = c.benchmark_group("routing");
    group.throughput(Throughput::Elements((series.len() * SECONDS) as u64));
    group.sample_size(10);
    let mut second = 0;
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut elapsed = std::time::Duration::ZERO;
            for _ in 0..iters {
                let input = writes(series, second);
                second += SECONDS;
                let started = std::time::Instant::now();
                for w in input {
                    router.write(w);
                }
                elapsed += started.elapsed();
            }
            black_box(router.routed_points());
            elapsed
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    // One task, every point.
    let one = Router::new();
    one.set_routes(vec![route("all", None, None, task("all", &script(None)))]);
    let spread = series(|i| format!("m{:02}", i / SERIES_PER_TASK));
    run(c, "one_task_all_points", &one, &spread);

    // A hundred tasks, each on its own measurement (from the YAML `from`).
    let by_measurement = Router::new();
    by_measurement.set_routes(
        (0..TASKS)
            .map(|t| {
                let m = format!("m{t:02}");
                route(&m, Some(&m), None, task(&m, &script(Some(&m))))
            })
            .collect(),
    );
    run(c, "hundred_tasks_by_measurement", &by_measurement, &spread);

    // A hundred tasks on one measurement, each picking its hosts with a
    // YAML `where` on a tag.
    let same = series(|i| format!("cpu{}", i / (TASKS * SERIES_PER_TASK)));
    let by_where = Router::new();
    by_where.set_routes(
        (0..TASKS)
            .map(|t| {
                let name = format!("t{t:02}");
                let filter = format!("host =~ /^host-{t:03}/");
                route(
                    &name,
                    Some("cpu0"),
                    Some(&filter),
                    task(&name, &script(Some("cpu0"))),
                )
            })
            .collect(),
    );
    run(c, "hundred_tasks_by_where", &by_where, &same);
}

criterion_group!(benches, bench);
criterion_main!(benches);
