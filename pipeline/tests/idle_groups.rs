//! Idle-group expiry: under tag churn (hosts that send for a while and go
//! away for good) the groups a task holds stay bounded by the hosts active
//! within the timeout, in every stateful node, instead of growing with
//! every host ever seen. A standing alert survives its group's deletion, so
//! a host that comes back still gets its recovery.

use std::sync::{Arc, Mutex};

use pipeline::build::{TaskEnv, build_stream_task};
use pipeline::nodes::alert::{AlertEvent, AlertSink, Level};
use pipeline::nodes::http_out::HttpOutEndpoint;
use pipeline::spec::BuildError;
use pipeline::{DbRp, FieldValue, Fields, Name, Point, PointBatch, Series};

const S: i64 = 1_000_000_000;

#[derive(Default)]
struct Events(Mutex<Vec<AlertEvent>>);

impl AlertSink for Events {
    fn publish(&self, event: &AlertEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

struct Env {
    timeout: Option<i64>,
    alert_timeout: Option<i64>,
    events: Arc<Events>,
}

impl TaskEnv for Env {
    fn task_name(&self) -> &str {
        "churn"
    }
    fn http_out(&self, _name: &str) -> Arc<HttpOutEndpoint> {
        HttpOutEndpoint::new()
    }
    fn alert_sink(&self, _spec: &dsl::NodeSpec) -> Result<Arc<dyn AlertSink>, BuildError> {
        Ok(self.events.clone())
    }
    fn group_idle_timeout(&self) -> Option<i64> {
        self.timeout
    }
    fn alert_state_idle_timeout(&self) -> Option<i64> {
        self.alert_timeout
    }
}

const SCRIPT: &str = r#"
stream
    |from()
        .measurement('cpu')
        .groupBy('host')
    |window()
        .period(10s)
        .every(10s)
    |mean('v')
    |alert()
        .crit(lambda: "mean" > 50.0)
"#;

fn point(host: &str, v: f64, time: i64) -> Point {
    let series = Series::new(
        Name::from("cpu"),
        vec![(Name::from("host"), Name::from(host))],
    );
    Point {
        series: Arc::new(series.unwrap()),
        fields: Fields::from_pairs([(Name::from("v"), FieldValue::Float(v))]),
        time,
    }
}

/// Runs 30 minutes of churn: every minute 5 new hosts start and send one
/// point a second for two minutes, then stop for good. Returns the most
/// groups any node held at a minute's end, and the window's groups at the
/// end.
fn churn(timeout: Option<i64>) -> (u64, u64) {
    let env = Env {
        timeout,
        alert_timeout: None,
        events: Arc::default(),
    };
    let plan = dsl::compile(SCRIPT, dsl::TaskType::Stream).unwrap();
    let mut task = build_stream_task(&plan, &env).unwrap();
    task.dag.start(0);
    let dbrp = DbRp::new("db", "rp");
    let mut most = 0;
    for second in 0..30 * 60 {
        let now = second * S;
        while let Some(due) = task.dag.next_tick().filter(|&d| d <= now) {
            task.dag.tick(due);
        }
        task.dag.tick(now);
        let minute = second / 60;
        let points = ((minute - 1).max(0)..=minute)
            .flat_map(|m| (0..5).map(move |h| point(&format!("h{m}-{h}"), 10.0, now)))
            .collect();
        task.push_points(PointBatch {
            dbrp: dbrp.clone(),
            points,
        });
        if second % 60 == 59 {
            task.dag.refresh_gauges();
            let held = task.dag.stats().iter().map(|n| n.groups).max().unwrap_or(0);
            most = most.max(held);
        }
    }
    task.dag.refresh_gauges();
    let window = task
        .dag
        .stats()
        .iter()
        .find(|n| n.kind == "window")
        .unwrap()
        .groups;
    (most, window)
}

#[test]
fn groups_stay_bounded_under_tag_churn() {
    // A 2-minute timeout: live hosts (10) plus those idle for up to 1.5
    // timeouts (another 15).
    let (most, window) = churn(Some(120 * S));
    assert!(most <= 25, "at most 25 groups held, got {most}");
    assert!(window <= 25, "{window}");
    // Without expiry every host ever seen (150) stays.
    let (most, window) = churn(None);
    assert_eq!((most, window), (150, 150));
}

#[test]
fn a_standing_alert_survives_its_group_expiring_and_recovers() {
    let env = Env {
        timeout: Some(60 * S),
        alert_timeout: None,
        events: Arc::default(),
    };
    let plan = dsl::compile(SCRIPT, dsl::TaskType::Stream).unwrap();
    let mut task = build_stream_task(&plan, &env).unwrap();
    task.dag.start(0);
    let dbrp = DbRp::new("db", "rp");
    let send = |task: &mut pipeline::build::StreamTask, host: &str, v: f64, t: i64| {
        while let Some(due) = task.dag.next_tick().filter(|&d| d <= t) {
            task.dag.tick(due);
        }
        task.dag.tick(t);
        task.push_points(PointBatch {
            dbrp: dbrp.clone(),
            points: vec![point(host, v, t)],
        });
    };
    // Both hosts go critical, then stop sending.
    for t in 0..=10 {
        send(&mut task, "hot", 90.0, t * S);
        send(&mut task, "fine", 10.0, t * S);
    }
    // Ten minutes of silence from both: their groups expire.
    for t in (11..600).step_by(10) {
        send(&mut task, "other", 10.0, t * S);
    }
    task.dag.refresh_gauges();
    let alert_groups = task
        .dag
        .stats()
        .iter()
        .find(|n| n.kind == "alert")
        .unwrap()
        .groups;
    assert_eq!(alert_groups, 2, "the standing alert and the live host");
    // Back, and fine: the recovery comes.
    for t in 600..=620 {
        send(&mut task, "hot", 10.0, t * S);
    }
    let events = env.events.0.lock().unwrap();
    let hot: Vec<Level> = events
        .iter()
        .filter(|e| e.id.contains("host=hot"))
        .map(|e| e.level)
        .collect();
    assert_eq!(hot, [Level::Critical, Level::Ok]);
    task.dag.refresh_gauges();
    let stats = task.dag.stats();
    let alert = stats.iter().find(|n| n.kind == "alert").unwrap();
    let counts = alert
        .alerts
        .as_ref()
        .expect("an alert node counts its events");
    assert_eq!(
        (
            counts.alerts_triggered,
            counts.crits_triggered,
            counts.oks_triggered
        ),
        (2, 1, 1)
    );
    assert!(
        stats
            .iter()
            .filter(|n| n.kind != "alert")
            .all(|n| n.alerts.is_none())
    );
}

#[test]
fn a_standing_alert_is_forgotten_after_alert_state_idle_timeout_without_a_recovery() {
    let env = Env {
        timeout: Some(60 * S),
        alert_timeout: Some(600 * S),
        events: Arc::default(),
    };
    let plan = dsl::compile(SCRIPT, dsl::TaskType::Stream).unwrap();
    let mut task = build_stream_task(&plan, &env).unwrap();
    task.dag.start(0);
    let dbrp = DbRp::new("db", "rp");
    let send = |task: &mut pipeline::build::StreamTask, host: &str, v: f64, t: i64| {
        while let Some(due) = task.dag.next_tick().filter(|&d| d <= t) {
            task.dag.tick(due);
        }
        task.dag.tick(t);
        task.push_points(PointBatch {
            dbrp: dbrp.clone(),
            points: vec![point(host, v, t)],
        });
    };
    let alert_groups = |task: &mut pipeline::build::StreamTask| {
        task.dag.refresh_gauges();
        task.dag
            .stats()
            .iter()
            .find(|n| n.kind == "alert")
            .unwrap()
            .groups
    };
    for t in 0..=10 {
        send(&mut task, "hot", 90.0, t * S);
    }
    // Past the group idle timeout, short of the alert's: still kept.
    for t in (11..550).step_by(10) {
        send(&mut task, "other", 10.0, t * S);
    }
    assert_eq!(alert_groups(&mut task), 2, "the standing alert is kept");
    // Past 600 s (and the sweep's quarter) without a point: forgotten.
    for t in (550..800).step_by(10) {
        send(&mut task, "other", 10.0, t * S);
    }
    assert_eq!(alert_groups(&mut task), 1, "only the live host");
    // Back, and fine: it is a new group, with no recovery to send.
    for t in 800..=820 {
        send(&mut task, "hot", 10.0, t * S);
    }
    let events = env.events.0.lock().unwrap();
    let hot: Vec<Level> = events
        .iter()
        .filter(|e| e.id.contains("host=hot"))
        .map(|e| e.level)
        .collect();
    assert_eq!(hot, [Level::Critical]);
}
