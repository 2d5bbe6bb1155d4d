//! Replay rate: a `where → window → mean → alert` task replayed from a
//! recording file by the daemon's replay machinery (read, decode, route,
//! run), against two baselines on the same points:
//! * "test": `kapacitor test`'s own path ([`testcase::feed_srpl`]): the
//!   case's `input.srpl` read and decoded, filtered, fed to the task;
//! * "runner": the same task fed the points already decoded in memory (no
//!   file, no decoding): what the task alone costs.
//!
//! `cargo bench --bench replay [-- POINTS]` (default 2,000,000 points, 100
//! hosts, one point per host per second). Prints points/s of each and the
//! ratios; the best of 3 runs each. Built with the daemon's allocator.

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

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2_000_000);
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
    let mut replay_best = f64::MAX;
    for run in 0..3 {
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
        replay_best = replay_best.min(info.seconds);
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
    let mut test_best = f64::MAX;
    for _ in 0..3 {
        let began = Instant::now();
        let input = std::fs::read(&srpl_file).unwrap();
        let filter = TaskFilter::new("bench", vec![dbrp.clone()], None, None);
        let mut instance = start(REPLAY_ZERO_NS);
        testcase::feed_srpl(&mut instance, &input, &filter).unwrap();
        instance.finish(Duration::from_secs(600)).unwrap();
        test_best = test_best.min(began.elapsed().as_secs_f64());
    }

    // The runner alone, fed decoded points from memory.
    let (decoded, _) = read_stream(&bytes).unwrap();
    let mut runner_best = f64::MAX;
    for _ in 0..3 {
        let batch = decoded.clone();
        let began = Instant::now();
        let mut instance = start(batch[0].1.time);
        for (dbrp, p) in batch {
            instance.push(&dbrp, p).unwrap();
        }
        instance.finish(Duration::from_secs(600)).unwrap();
        runner_best = runner_best.min(began.elapsed().as_secs_f64());
    }
    let rate = |s: f64| n as f64 / s / 1e6;
    println!(
        "replay (file → decode → filter → task): {:.2} M points/s ({replay_best:.3} s)",
        rate(replay_best)
    );
    println!(
        "test (input.srpl → decode → task):      {:.2} M points/s ({test_best:.3} s)",
        rate(test_best)
    );
    println!(
        "runner (memory → task):                 {:.2} M points/s ({runner_best:.3} s)",
        rate(runner_best)
    );
    println!("replay / test:   {:.2}×", test_best / replay_best);
    println!("replay / runner: {:.2}×", runner_best / replay_best);
}
