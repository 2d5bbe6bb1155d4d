//! Alert latency (issue 4): how long after a point is handed to the
//! router its threshold alert is published: in the alert history and on
//! every handler's queue (the same call does both). The task runs on the
//! worker pool, as in the daemon, so the time includes routing, the hand-off
//! to the task's inbox and waking a worker. Each point crosses the threshold one
//! way or the other, so each raises one event.
//!
//! Besides criterion's mean, the bench prints the median and 99th
//! percentile of the individual latencies.
//!
//! `cargo bench --bench alert_latency`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kapacitor::tasks::{TaskDefinition, TaskManager};
use pipeline::{DbRp, FieldValue, Fields, Name, Point, PointBatch, PointSink, Router, Series};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("alerts.log");
    let router = Arc::new(Router::new());
    let tasks = TaskManager::new(router.clone());
    let script = format!(
        "stream|from().measurement('cpu')|alert().crit(lambda: \"value\" > 90.0).log('{}')",
        log.display()
    );
    tasks
        .define(TaskDefinition {
            id: "latency".into(),
            task_type: dsl::TaskType::Stream,
            dbrps: vec![DbRp::new("telegraf", "autogen")],
            script,
            measurement: None,
            meta: Default::default(),
        })
        .expect("defines");
    tasks.enable("latency").expect("enables");
    let history = tasks.alert_history().clone();

    let series = Arc::new(
        Series::new(
            Name::from("cpu"),
            vec![(Name::from("host"), Name::from("a"))],
        )
        .expect("series"),
    );
    let keys: Arc<[Name]> = Arc::from([Name::from("value")]);
    let dbrp = DbRp::new("telegraf", "autogen");
    let mut n: i64 = 0;
    let mut one = || {
        n += 1;
        let value = if n % 2 == 0 { 10.0 } else { 95.0 };
        let batch = PointBatch {
            dbrp: dbrp.clone(),
            points: vec![Point {
                series: series.clone(),
                fields: Fields::new(keys.clone(), Arc::from([FieldValue::Float(value)])),
                time: n * 1_000_000_000,
            }],
        };
        let before = history.published();
        let started = Instant::now();
        router.write(batch);
        while history.published() == before {
            std::hint::spin_loop();
        }
        started.elapsed()
    };

    let mut samples: Vec<Duration> = Vec::new();
    let mut group = c.benchmark_group("alert");
    group.bench_function("point_to_handler_queue", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let d = one();
                samples.push(d);
                total += d;
            }
            total
        })
    });
    group.finish();
    samples.sort();
    if !samples.is_empty() {
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
        println!(
            "alert latency over {} events: median {:?}, p99 {:?}, max {:?}",
            samples.len(),
            at(0.5),
            at(0.99),
            samples[samples.len() - 1]
        );
    }
    tasks.stop_all();
}

criterion_group!(benches, bench);
criterion_main!(benches);
