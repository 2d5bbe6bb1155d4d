//! DAG throughput: the issue's reference task, `from → where → window(10s)
//! → mean → alert`, over 10,000 groups, on one core (the task's own thread
//! is single-threaded by design). Reports points per second.
//!
//! `cargo bench -p pipeline --bench dag`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use pipeline::build::{TaskEnv, build_stream_task};
use pipeline::nodes::alert::{AlertEvent, AlertSink};
use pipeline::nodes::http_out::HttpOutEndpoint;
use pipeline::spec::BuildError;
use pipeline::{DbRp, FieldValue, Fields, Name, Point, PointBatch, Series};

const HOSTS: usize = 1_000;
const CPUS: usize = 10;
const GROUPS: usize = HOSTS * CPUS;
/// Seconds of data per iteration: 10k points a second, so windows close.
const SECONDS: usize = 12;

struct Env;

struct CountingSink(std::sync::atomic::AtomicU64);

impl AlertSink for CountingSink {
    fn publish(&self, _event: &AlertEvent) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl TaskEnv for Env {
    fn task_name(&self) -> &str {
        "bench"
    }
    fn http_out(&self, _name: &str) -> Arc<HttpOutEndpoint> {
        HttpOutEndpoint::new()
    }
    fn alert_sink(&self, _spec: &dsl::NodeSpec) -> Result<Arc<dyn AlertSink>, BuildError> {
        Ok(Arc::new(CountingSink(Default::default())))
    }
}

const SCRIPT: &str = r#"
stream
    |from()
        .measurement('cpu')
        .groupBy('host', 'cpu')
    |where(lambda: "usage_idle" >= 0.0)
    |window()
        .period(10s)
        .every(10s)
    |mean('usage_idle')
    |alert()
        .crit(lambda: "mean" < 10.0)
        .stateChangesOnly()
"#;

/// The 10k series, made once: the decoder's cache hands every point of a
/// series the same `Series`, across writes.
fn series(groups: usize) -> Vec<Arc<Series>> {
    (0..groups)
        .map(|i| {
            let tags = vec![
                (Name::from("cpu"), Name::from(format!("cpu{}", i % CPUS))),
                (
                    Name::from("host"),
                    Name::from(format!("host-{:04}", i / CPUS)),
                ),
            ];
            Arc::new(Series::new(Name::from("cpu"), tags).unwrap())
        })
        .collect()
}

/// W1-shaped points of `series`, one write per second: `seconds` seconds
/// from second `start`.
fn points(series: &[Arc<Series>], start: usize, seconds: usize) -> Vec<PointBatch> {
    let keys: Arc<[Name]> = [
        "usage_user",
        "usage_system",
        "usage_idle",
        "usage_iowait",
        "usage_irq",
    ]
    .iter()
    .map(|k| Name::from(*k))
    .collect();
    let dbrp = DbRp::new("telegraf", "autogen");
    (start..start + seconds)
        .map(|s| {
            let points = series
                .iter()
                .enumerate()
                .map(|(i, series)| {
                    let idle = ((i * 7 + s * 13) % 100) as f64;
                    let values: Arc<[FieldValue]> = [1.0, 2.0, idle, 0.5, 0.0]
                        .iter()
                        .map(|v| FieldValue::Float(*v))
                        .collect();
                    Point {
                        series: series.clone(),
                        fields: Fields::new(keys.clone(), values),
                        time: s as i64 * 1_000_000_000,
                    }
                })
                .collect();
            PointBatch {
                dbrp: dbrp.clone(),
                points,
            }
        })
        .collect()
}

/// A long-running task over `series`, fed the next `SECONDS` of data each
/// iteration; only the feeding is timed.
fn steady(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    plan: &dsl::Plan,
    series: &[Arc<Series>],
) {
    group.bench_function(name, |b| {
        let mut task = build_stream_task(plan, &Env).expect("builds");
        let mut second = 0;
        b.iter_custom(|iters| {
            let mut elapsed = std::time::Duration::ZERO;
            for _ in 0..iters {
                // Each write is made just before it goes in, as the decoder
                // makes a write's points just before the router hands them
                // on; only the task's work is timed.
                for s in second..second + SECONDS {
                    let write = points(series, s, 1).pop().expect("one write");
                    let started = std::time::Instant::now();
                    task.push_points(write);
                    elapsed += started.elapsed();
                }
                second += SECONDS;
            }
            black_box(task.dag.stats());
            elapsed
        })
    });
}

fn bench(c: &mut Criterion) {
    let plan = dsl::compile(SCRIPT, dsl::TaskType::Stream).expect("the bench script compiles");
    let total = (GROUPS * SECONDS) as u64;
    let all = series(GROUPS);
    let mut group = c.benchmark_group("dag");
    group.throughput(Throughput::Elements(total));
    group.sample_size(10);
    // Steady state: one long-running task whose groups all exist, fed the
    // next 12 seconds of data each iteration (built before the clock starts).
    steady(
        &mut group,
        "where_window_mean_alert_10k_groups",
        &plan,
        &all,
    );
    // The same over 100 groups, whose state stays in the core's caches:
    // the difference is what memory latency costs at 10k groups.
    let small = series(100);
    group.throughput(Throughput::Elements((small.len() * SECONDS) as u64));
    steady(
        &mut group,
        "where_window_mean_alert_100_groups",
        &plan,
        &small,
    );
    group.throughput(Throughput::Elements(total));
    // A task's first 12 seconds: every group is new, so this adds building
    // 10k groups' state to the work.
    let input = points(&all, 0, SECONDS);
    group.bench_function("where_window_mean_alert_10k_new_groups", |b| {
        b.iter_batched(
            || {
                (
                    build_stream_task(&plan, &Env).expect("builds"),
                    input.clone(),
                )
            },
            |(mut task, batches)| {
                for batch in batches {
                    task.push_points(batch);
                }
                black_box(task.dag.stats());
                // Dropped after the clock stops: tearing a task down is
                // not part of its throughput.
                task
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
