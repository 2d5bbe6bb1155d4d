//! The tasks directory (issue 5): how long a daemon takes to load 100
//! `NAME.tick` + `NAME.yaml` pairs at start, and how long after a save the
//! edited task is running its new version.
//!
//! `cargo bench --bench tasks_dir`

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kapacitor::Server;

const TASKS: usize = 100;

fn script(threshold: usize) -> String {
    format!(
        "var window = stream.window().period(10s).every(5s)\nvar avg = window.map(mean, \"value\")\navg.filter(< , {threshold}).alert()\n"
    )
}

fn write_tasks(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..TASKS {
        std::fs::write(dir.join(format!("task{i:03}.tick")), script(30)).unwrap();
        std::fs::write(
            dir.join(format!("task{i:03}.yaml")),
            format!("from: m{i}\nwhere: cpu = 'cpu-total'\n"),
        )
        .unwrap();
    }
}

fn config(root: &Path) -> config::DaemonConfig {
    let mut c = config::DaemonConfig::default();
    let any = "127.0.0.1:0".parse().unwrap();
    c.http.bind = any;
    c.udp.bind = any;
    c.tcp.bind = any;
    c.data_dir = root.join("data");
    c.tasks_dir = root.join("tasks");
    c
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("tasks_dir");
    group.sample_size(10);

    // Start a daemon over a directory of 100 task pairs; time until it
    // listens with all of them enabled.
    group.bench_function("start_with_100_tasks", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let root = tempfile::tempdir().unwrap();
                write_tasks(&root.path().join("tasks"));
                let started = Instant::now();
                let server = runtime
                    .block_on(Server::start(config(root.path())))
                    .unwrap();
                total += started.elapsed();
                assert_eq!(server.tasks().list().len(), TASKS);
                runtime.block_on(server.shutdown());
            }
            total
        })
    });

    // Save one file of a running daemon; time until the new version runs.
    let root = tempfile::tempdir().unwrap();
    write_tasks(&root.path().join("tasks"));
    let server = runtime
        .block_on(Server::start(config(root.path())))
        .unwrap();
    let mut threshold = 30;
    group.bench_function("hot_reload_one_task", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                threshold += 1;
                let path = root.path().join("tasks/task042.tick");
                let started = Instant::now();
                std::fs::write(&path, script(threshold)).unwrap();
                let wanted = format!("< , {threshold}");
                while !server
                    .tasks()
                    .get("task042")
                    .is_some_and(|t| t.script.contains(&wanted))
                {
                    std::thread::sleep(Duration::from_micros(200));
                }
                total += started.elapsed();
            }
            total
        })
    });
    group.finish();
    runtime.block_on(server.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
