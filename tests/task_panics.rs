//! Issue 12: a task that panics stops alone, says which node panicked and
//! why, and is restarted after a backoff; one that panics too often in a
//! row is left errored until enabled again. The real kapacitord, with the
//! debug-only failpoint `KAPACITORD_FAILPOINT=panic_on_field:poison`,
//! which makes a node past a task's `from` panic on a point carrying field
//! `poison`.

mod common;

use std::time::{Duration, Instant};

use common::Daemon;
use serde_json::Value;

fn poisonable(yaml: &str) -> Daemon {
    Daemon::start_with(yaml, |cmd, _| {
        cmd.env("KAPACITORD_FAILPOINT", "panic_on_field:poison");
    })
}

impl Daemon {
    fn task(&self, id: &str) -> Value {
        self.get_json(&format!("/kapacitor/v1/tasks/{id}"))
    }

    /// Waits up to `within` for task `id` to satisfy `ok`; its JSON.
    fn wait_task(&self, id: &str, within: Duration, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let t = self.task(id);
            if ok(&t) {
                return t;
            }
            assert!(Instant::now() < deadline, "task {id}: {t:#}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for httpOut `last` of task `id` to show `field` = `value`.
    fn wait_out(&self, id: &str, field: &str, value: f64) {
        let target = format!("/kapacitor/v1/tasks/{id}/last");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.get_json(&target);
            let series = &out["series"][0];
            let column = series["columns"]
                .as_array()
                .and_then(|c| c.iter().position(|c| c == field));
            if column.is_some_and(|i| series["values"][0][i] == value) {
                return;
            }
            assert!(Instant::now() < deadline, "{id}: {out}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn metrics(&self) -> String {
        let (status, body) = self.request("GET", "/metrics", &[], b"");
        assert_eq!(status, 200);
        body
    }
}

#[test]
fn a_task_that_panics_is_reported_with_its_node_and_restarts_while_the_rest_goes_on() {
    let mut d = poisonable("");
    for (id, measurement) in [("victim", "cpu"), ("bystander", "mem")] {
        let script = format!("stream|from().measurement('{measurement}')|httpOut('last')");
        let (status, body) = d.define(id, &script, "");
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(d.write("cpu value=1\n").0, 204);
    d.wait_out("victim", "value", 1.0);

    // Acknowledged: the panic comes later, in the task.
    assert_eq!(d.write("cpu poison=1\n").0, 204);
    let t = d.wait_task("victim", Duration::from_secs(10), |t| t["panics"] == 1);
    let node = t["last_panic"]["node"].as_str().unwrap().to_string();
    assert_eq!(node, "httpOut2", "{t:#}");
    let message = t["last_panic"]["message"].as_str().unwrap();
    assert!(message.contains("field \"poison\""), "{t:#}");
    assert!(t["last_panic"]["time"].is_string(), "{t:#}");

    // While it waits to restart (1 s): writes are neither held up nor
    // refused, the other task works, the daemon answers.
    if t["executing"] == false {
        let error = t["error"].as_str().unwrap();
        assert!(
            error.contains(&format!("node {node} panicked")) && error.contains("restarting at"),
            "{t:#}"
        );
    }
    let started = Instant::now();
    assert_eq!(d.write("cpu value=2\nmem value=5\n").0, 204);
    assert!(started.elapsed() < Duration::from_secs(1));
    d.wait_out("bystander", "value", 5.0);
    d.assert_alive();

    // Running again after the backoff, and processing what comes.
    let t = d.wait_task("victim", Duration::from_secs(10), |t| {
        t["executing"] == true && t["restarts"] == 1
    });
    assert_eq!(t["status"], "enabled", "{t:#}");
    assert_eq!(t["error"], "", "{t:#}");
    assert_eq!(
        t["last_panic"]["node"],
        node.as_str(),
        "the last panic stays shown"
    );
    assert_eq!(d.write("cpu value=7\n").0, 204);
    d.wait_out("victim", "value", 7.0);
    assert_eq!(d.task("bystander")["panics"], 0);

    let metrics = d.metrics();
    for line in [
        "kapacitor_task_panics_total{task=\"victim\"} 1",
        "kapacitor_task_restarts_total{task=\"victim\"} 1",
        "kapacitor_task_restarts_total{task=\"bystander\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    let log = d.spawned.log();
    assert!(
        log.contains("task stopped by a panic") && log.contains(&format!("node=\"{node}\"")),
        "{log}"
    );
    assert!(log.contains("task restarted after a panic"), "{log}");

    // `kapacitor show` names the node and the message.
    let (ok, text, err) = common::kapacitor(&d.spawned.url, &["show", "victim"]);
    assert!(ok, "{err}");
    assert!(text.contains("Panics: 1, restarts: 1"), "{text}");
    assert!(
        text.contains(&format!("Last panic: node {node} at ")) && text.contains("\"poison\""),
        "{text}"
    );
}

#[test]
fn a_task_that_keeps_panicking_is_left_errored_until_enabled_again() {
    let mut d = poisonable("pipeline:\n  restart_attempts: 1\n");
    let script = "stream|from().measurement('cpu')|httpOut('last')";
    let (status, body) = d.define("flaky", script, "");
    assert_eq!(status, 200, "{body}");

    assert_eq!(d.write("cpu poison=1\n").0, 204);
    d.wait_task("flaky", Duration::from_secs(10), |t| {
        t["restarts"] == 1 && t["executing"] == true
    });
    assert_eq!(d.write("cpu poison=2\n").0, 204);
    let t = d.wait_task("flaky", Duration::from_secs(10), |t| {
        t["status"] == "errored"
    });
    let error = t["error"].as_str().unwrap();
    assert!(
        error.contains("panicked")
            && error.contains("not restarted after 2 panics in a row (pipeline.restart_attempts)"),
        "{t:#}"
    );
    assert_eq!(t["executing"], false);
    // It stays down: no restart comes after the backoff would have passed.
    std::thread::sleep(Duration::from_millis(2500));
    let t = d.task("flaky");
    assert_eq!(
        (t["status"].as_str(), t["restarts"].as_u64()),
        (Some("errored"), Some(1))
    );
    // Its points are dropped and counted, never holding a writer up.
    let dropped = t["points_dropped"].as_u64().unwrap();
    assert_eq!(d.write("cpu value=3\n").0, 204);
    let t = d.task("flaky");
    assert_eq!(t["points_dropped"].as_u64().unwrap(), dropped + 1, "{t:#}");
    let breaches = &d.status()["limit_breaches"];
    assert_eq!(breaches["pipeline.restart_attempts"], 1, "{breaches}");
    d.assert_alive();

    // Enabled again, it starts anew.
    let (status, body) = d.request(
        "PATCH",
        "/kapacitor/v1/tasks/flaky",
        &["Content-Type: application/json"],
        br#"{"status":"enabled"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let t = d.task("flaky");
    assert_eq!(
        (t["status"].as_str(), t["executing"].as_bool()),
        (Some("enabled"), Some(true)),
        "{t:#}"
    );
    assert_eq!(t["panics"], 0, "{t:#}");
    assert_eq!(d.write("cpu value=9\n").0, 204);
    d.wait_out("flaky", "value", 9.0);
}
