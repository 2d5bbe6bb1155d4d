//! Replay rate: a `where → window → mean → alert` task replayed from a
//! recording file by the daemon's replay machinery (read, decode, route,
//! run), against two baselines on the same points:
//! * "test": `kapacitor test`'s own path ([`testcase::feed_srpl`]): the
//!   case's `input.srpl` read and decoded, filtered, fed to the task;
//! * "runner": the same task fed the points already decoded in memory (no
//!   file, no decoding): what the task alone costs.
//!
//! `cargo bench --bench replay [-- POINTS] [replay|test|runner]` (default
//! 2,000,000 points, 100 hosts, one point per host per second; all three).
//! Prints points/s of each and the ratios; the best of 3 runs each. Built
//! with the daemon's allocator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kapacitor::replay::file::{StreamWriter, read_stream};
use kapacitor::replay::instance::{Effects, Instance, TaskFilter};
use kapacitor::replay::recordings::{ImportFormat, ImportRequest, Recordings};
use kapacitor::replay::replays::{ReplayRequest, Replays};
use kapacitor::replay::testcase::{self, REPLAY_ZERO_NS};
use kapacitor::tasks::{TaskDefinition, TaskManager};
use pipeline::{DbRp, FieldValue, Fields, Name, Point, Router, Series};

/// The daemon's (`kapacitord`'s) allocator: points are decoded on one
/// thread and freed on a task worker, which glibc's allocator serialises.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Points handed to the task at a time, as replays do.
const DELIVERY_BATCH: usize = 4096;

const SCRIPT: &str = "stream
    |from()
        .measurement('cpu')
        .groupBy('host')
    |where(lambda: \"value\" >= 0.0)
    |window()
        .period(10s)
        .every(10s)
    |mean('value')
    |alert()
        .crit(lambda: \"mean\" > 90.0)
";

fn points(n: usize) -> Vec<Point> {
    let hosts: Vec<Arc<Series>> = (0..100)
        .map(|h| {
            Arc::new(
                Series::new(
                    Name::from("cpu"),
                    vec![(Name::from("host"), Name::from(format!("h{h}").as_str()))],
                )
                .unwrap(),
            )
        })
        .collect();
    let keys: Arc<[Name]> = Arc::from([Name::from("value")]);
    (0..n)
        .map(|i| Point {
            series: hosts[i % 100].clone(),
            fields: Fields::new(
                keys.clone(),
                Arc::from([FieldValue::Float(((i * 7) % 100) as f64)]),
            ),
            time: 1_700_000_000_000_000_000 + (i / 100) as i64 * 1_000_000_000,
        })
        .collect()
}

/// CPU time of this process so far (every thread, living or not), s:
/// utime + stime from `/proc/self/stat`, at the clock's tick.
fn cpu_s() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let ticks = *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    });
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // utime and stime are fields 14 and 15; the first after ')' is 3.
    (fields.get(11).unwrap_or(&0.0) + fields.get(12).unwrap_or(&0.0)) / ticks
}

/// The fastest of a phase's runs, and the CPU it took in all.
#[derive(Clone, Copy)]
struct Best {
    wall_s: f64,
    cpu_s: f64,
}

impl Best {
    fn new() -> Self {
        Best {
            wall_s: f64::MAX,
            cpu_s: f64::MAX,
        }
    }

    /// Times one run of `f`.
    fn run(&mut self, f: impl FnOnce() -> Option<f64>) {
        let (began, cpu) = (Instant::now(), cpu_s());
        let inner = f();
        let wall = inner.unwrap_or_else(|| began.elapsed().as_secs_f64());
        self.wall_s = self.wall_s.min(wall);
        self.cpu_s = self.cpu_s.min(cpu_s() - cpu);
    }
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    // `replay`, `test` or `runner` alone (to profile one), else all three.
    let only = std::env::args()
        .skip(1)
        .find(|a| ["replay", "test", "runner"].contains(&a.as_str()));
    let runs = |phase: &str| {
        if only.as_deref().is_none_or(|o| o == phase) {
            3
        } else {
            0
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let dbrp = DbRp::new("telegraf", "autogen");
    let data = points(n);
    let file = dir.path().join("bench.rec");
    let mut writer = StreamWriter::create(&file, u64::MAX).unwrap();
    writer.write(&dbrp, &data).unwrap();
    writer.finish().unwrap();
    // The same points as a `kapacitor test` case's input.srpl: database,
    // retention policy and line (second precision), three lines a point.
    let mut srpl = String::new();
    for p in &data {
        let line = p.to_string();
        let (body, _) = line.rsplit_once(' ').unwrap();
        let secs = p.time / 1_000_000_000;
        srpl.push_str(&format!("{}\n{}\n{body} {secs}\n", dbrp.db, dbrp.rp));
    }
    let srpl_file = dir.path().join("input.srpl");
    std::fs::write(&srpl_file, srpl).unwrap();
    drop(data);
    let bytes = std::fs::read(&file).unwrap();
    println!("{n} points, recording of {} MB", bytes.len() / 1_000_000);

    // The daemon's way: the recording imported, replayed by id.
    let router = Arc::new(Router::new());
    let tasks = Arc::new(TaskManager::new(router.clone()));
    tasks
        .define(TaskDefinition {
            id: "bench".into(),
            task_type: dsl::TaskType::Stream,
            dbrps: vec![dbrp.clone()],
            script: SCRIPT.into(),
            measurement: None,
            meta: Default::default(),
        })
        .unwrap();
    let store = Arc::new(storage::Store::open(&dir.path().join("data")).unwrap());
    let limits = config::ReplayConfig {
        max_recording_bytes: u64::MAX,
        ..config::ReplayConfig::default()
    };
    let recordings =
        Arc::new(Recordings::open(&dir.path().join("data"), store, router, limits).unwrap());
    // Imported from line protocol, as `kapacitor record file` does.
    let lp: Vec<u8> = read_stream(&bytes)
        .unwrap()
        .0
        .iter()
        .flat_map(|(_, p)| format!("{p}\n").into_bytes())
        .collect();
    recordings
        .import(
            ImportRequest {
                id: Some("bench".into()),
                format: ImportFormat::LineProtocol,
                dbrp: dbrp.clone(),
                precision: ingest::lp::Precision::Nanosecond,
                source: "bench".into(),
            },
            &lp,
        )
        .unwrap();
    let replays = Replays::new(tasks.clone(), recordings);
    let mut replay_best = Best::new();
    for run in 0..runs("replay") {
        replay_best.run(|| {
            let info = replays
                .start(ReplayRequest {
                    id: Some(format!("r{run}")),
                    task: "bench".into(),
                    recording: "bench".into(),
                    ..ReplayRequest::default()
                })
                .unwrap();
            let info = loop {
                let i = replays.get(&info.id).unwrap();
                if i.status != "running" {
                    break i;
                }
                std::thread::sleep(Duration::from_millis(2));
            };
            assert_eq!(info.status, "finished", "{}", info.error);
            assert_eq!(info.points, n as u64);
            Some(info.seconds)
        });
    }

    let plan = tasks.compiled("bench").unwrap().1;
    let sideloads = kapacitor::tasks::sideload::Sideloads::default();
    let effects = Effects {
        endpoints: Default::default(),
        fire_handlers: false,
        sideloads: &sideloads,
        deadman: None,
    };
    let start = |clock: i64| {
        Instance::start(
            tasks.pool(),
            "bench",
            &plan,
            dsl::TaskType::Stream,
            &effects,
            clock,
            DELIVERY_BATCH,
        )
        .unwrap()
    };

    // `kapacitor test`'s way: input.srpl read, decoded, filtered, fed.
    let mut test_best = Best::new();
    for _ in 0..runs("test") {
        test_best.run(|| {
            let input = std::fs::read(&srpl_file).unwrap();
            let filter = TaskFilter::new("bench", vec![dbrp.clone()], None, None);
            let mut instance = start(REPLAY_ZERO_NS);
            testcase::feed_srpl(&mut instance, &input, &filter).unwrap();
            instance.finish(Duration::from_secs(600)).unwrap();
            None
        });
    }

    // The runner alone, fed decoded points from memory.
    let (decoded, _) = read_stream(&bytes).unwrap();
    let mut runner_best = Best::new();
    for _ in 0..runs("runner") {
        let batch = decoded.clone();
        runner_best.run(|| {
            let mut instance = start(batch[0].1.time);
            for (dbrp, p) in batch {
                instance.push(&dbrp, p).unwrap();
            }
            instance.finish(Duration::from_secs(600)).unwrap();
            None
        });
    }
    let rate = |s: f64| n as f64 / s / 1e6;
    println!("best of 3 runs; CPU: the least any run took, over all threads, per point");
    for (what, best) in [
        ("replay (file → decode → filter → task)", replay_best),
        ("test (input.srpl → decode → task)     ", test_best),
        ("runner (memory → task)                ", runner_best),
    ] {
        if best.wall_s < f64::MAX {
            println!(
                "{what}: {:.2} M points/s ({:.3} s), {:.0} CPU-ns/point",
                rate(best.wall_s),
                best.wall_s,
                best.cpu_s * 1e9 / n as f64
            );
        }
    }
    if only.is_none() {
        println!(
            "replay / test:   {:.2}×",
            test_best.wall_s / replay_best.wall_s
        );
        println!(
            "replay / runner: {:.2}×",
            runner_best.wall_s / replay_best.wall_s
        );
    }
}
