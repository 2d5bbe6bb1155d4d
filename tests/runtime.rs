//! The daemon's task manager on the worker pool: batch tasks run through
//! the same runner as stream tasks, and a thousand tasks cost no thread
//! each.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kapacitor::tasks::{TaskDefinition, TaskManager};
use pipeline::{DbRp, FieldValue, Fields, Point, PointBatch, PointSink, Router, Series};

fn case_dir(case: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/conformance/kapacitor")
        .join(case)
}

fn definition(id: &str, task_type: dsl::TaskType, script: &str) -> TaskDefinition {
    TaskDefinition {
        id: id.into(),
        task_type,
        dbrps: vec![],
        script: script.into(),
        measurement: None,
        meta: Default::default(),
    }
}

/// Polls `check` until it holds, for at most 10 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_batch_task_defined_in_the_daemon_runs_on_the_pool() {
    let dir = case_dir("TestBatch_Derivative");
    let script = std::fs::read_to_string(dir.join("script.tick")).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let tasks = TaskManager::new(Arc::new(Router::new())).with_workers(2, 1000);
    let id = "TestBatch_Derivative";
    tasks
        .define(definition(id, dsl::TaskType::Batch, &script))
        .unwrap();
    tasks.enable(id).unwrap();
    let plan = dsl::compile(&script, dsl::TaskType::Batch).unwrap();
    let query = plan.nodes.iter().find(|n| n.kind == "query").unwrap().id;
    let text = std::fs::read_to_string(dir.join("input.0.brpl")).unwrap();
    let mut batches = kapacitor::replay::recording::read_brpl(&text).unwrap();
    // As `kapacitor test` does: the first point at 1971-01-01T00:00:00Z.
    let zero = 31_536_000 * 1_000_000_000;
    let shift = zero - batches[0].points[0].time;
    for b in &mut batches {
        b.tmax += shift;
        for p in &mut b.points {
            p.time += shift;
        }
    }
    let fed = batches.len() as u64;
    for batch in batches {
        tasks
            .feed(id, host::Input::Batch { node: query, batch })
            .unwrap();
    }
    let want = &expected["outputs"]["httpOut"]["result"];
    eventually("the batch task's httpOut shows the expected result", || {
        let actual = tasks
            .http_out()
            .get(id, "TestBatch_Derivative")
            .map(|e| serde_json::to_value(e.result()).unwrap())
            .unwrap_or_default();
        kapacitor::replay::testcase::compare_result(want, &actual, true).is_ok()
    });
    let info = tasks.get(id).unwrap();
    let derivative = info.nodes.iter().find(|n| n.kind == "derivative").unwrap();
    assert_eq!(derivative.messages_in, fed);
    tasks.stop_all();
}

/// Threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

#[test]
fn a_thousand_stream_tasks_run_on_the_pool_threads() {
    let router = Arc::new(Router::new());
    let before = threads();
    let tasks = TaskManager::new(router.clone()).with_workers(2, 10_000);
    for i in 0..1000 {
        // As in the tasks directory: `from: cpu`, `where: host = 'hostN'`.
        let id = format!("t{i}");
        let mut def = definition(&id, dsl::TaskType::Stream, "stream|from()|httpOut('out')");
        def.measurement = Some("cpu".into());
        def.meta.insert("where".into(), format!("host = 'host{i}'"));
        tasks.define(def).unwrap();
        tasks.enable(&id).unwrap();
    }
    let added = threads() - before;
    assert!(
        added <= 2 + 4,
        "1000 tasks added {added} threads (2 workers and a few of the manager's)"
    );
    let points = (0..1000)
        .map(|i| {
            let series = Series::new(
                "cpu".into(),
                vec![("host".into(), format!("host{i}").as_str().into())],
            )
            .unwrap();
            Point {
                series: Arc::new(series),
                fields: Fields::from_pairs([("v".into(), FieldValue::Float(i as f64))]),
                time: 1_000_000_000,
            }
        })
        .collect();
    router.write(PointBatch {
        dbrp: DbRp::new("telegraf", "autogen"),
        points,
    });
    eventually("every task served its own host's point", || {
        (0..1000).all(|i| {
            tasks
                .http_out()
                .get(&format!("t{i}"), "out")
                .is_some_and(|e| e.result().series.len() == 1)
        })
    });
    assert_eq!(router.routed_points(), 1000);
    tasks.stop_all();
}

#[test]
fn a_task_waiting_on_a_stuck_post_does_not_hold_up_the_others() {
    // An endpoint that accepts and never answers.
    let stuck = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", stuck.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for conn in stuck.incoming().take(4) {
            conns.push(conn);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let router = Arc::new(Router::new());
    // One worker: were the waiting task to hold it, nothing else would run.
    let tasks = TaskManager::new(router.clone()).with_workers(1, 1000);
    let mut waiting = definition(
        "waiting",
        dsl::TaskType::Stream,
        &format!("stream|from()|httpPost('{url}').codeField('code').timeout(10s)|httpOut('out')"),
    );
    waiting.measurement = Some("slow".into());
    tasks.define(waiting).unwrap();
    tasks.enable("waiting").unwrap();
    let mut other = definition(
        "other",
        dsl::TaskType::Stream,
        "stream|from()|httpOut('out')",
    );
    other.measurement = Some("cpu".into());
    tasks.define(other).unwrap();
    tasks.enable("other").unwrap();
    let point = |m: &str| Point {
        series: Arc::new(Series::new(m.into(), vec![]).unwrap()),
        fields: Fields::from_pairs([("v".into(), FieldValue::Float(1.0))]),
        time: 1_000_000_000,
    };
    let dbrp = DbRp::new("telegraf", "autogen");
    router.write(PointBatch {
        dbrp: dbrp.clone(),
        points: vec![point("slow")],
    });
    std::thread::sleep(Duration::from_millis(200));
    router.write(PointBatch {
        dbrp,
        points: vec![point("cpu")],
    });
    eventually("the other task ran while the first one waited", || {
        tasks
            .http_out()
            .get("other", "out")
            .is_some_and(|e| e.result().series.len() == 1)
    });
    assert!(
        tasks
            .http_out()
            .get("waiting", "out")
            .is_none_or(|e| e.result().series.is_empty()),
        "the post never answered, so the waiting task is still waiting"
    );
    drop(held);
}
