//! Recording and replay through the real daemon and the real CLI, over
//! loopback: the seed's iterate loop, Kapacitor's stream conformance cases
//! imported as recordings and replayed, and what a crash or a bad file
//! leaves.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::cli::{Daemon, http, recording_id};
use kapacitor::replay::instance::Produced;
use serde_json::{Value, json};

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `cpu` points of hosts a and b, one a second from `t0` (s), the value
/// climbing; and `mem` points, which a `cpu` recording leaves out.
fn cpu_points(t0: i64, n: i64) -> String {
    let mut lp = String::new();
    for i in 0..n {
        lp.push_str(&format!("cpu,host=a value={} {}\n", i * 10, t0 + i));
        lp.push_str(&format!("cpu,host=b value={} {}\n", i, t0 + i));
        lp.push_str(&format!("mem,host=a used={} {}\n", i, t0 + i));
    }
    lp
}

fn alert_script(crit: i64) -> String {
    format!(
        "stream\n    |from()\n        .measurement('cpu')\n        .groupBy('host')\n    |window()\n        .period(2s)\n        .every(2s)\n    |mean('value')\n    |httpOut('means')\n    |alert()\n        .id('cpu:{{{{index .Tags \"host\"}}}}')\n        .message('{{{{ .ID }}}} mean is {{{{ index .Fields \"mean\" }}}}')\n        .crit(lambda: \"mean\" > {crit})\n"
    )
}

#[test]
fn the_seed_iterate_loop_record_replay_redefine_replay_enable() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(dir.path());
    let rec = recording_id(&d.ok(&[
        "start-recording",
        "--db",
        "telegraf",
        "--rp",
        "autogen",
        "--measurement",
        "cpu",
        "--id",
        "loop",
    ]));
    assert_eq!(rec, "loop");
    let lp = dir.path().join("points.lp");
    std::fs::write(&lp, cpu_points(1_700_000_000, 10)).unwrap();
    d.ok(&[
        "write",
        "--db",
        "telegraf",
        "--precision",
        "s",
        lp.to_str().unwrap(),
    ]);
    // Acknowledged points are with the recorder: stopping writes them all.
    assert_eq!(recording_id(&d.ok(&["stop-recording"])), "loop");
    let (_, rec) = d.get("/kapacitor/v1/recordings/loop");
    assert_eq!(rec["status"], "finished", "{rec}");
    assert_eq!(rec["points"], 20, "only cpu points: {rec}");
    let listed = d.ok(&["list", "recordings"]);
    assert!(
        listed.contains("loop") && listed.contains("finished"),
        "{listed}"
    );

    let script = dir.path().join("cpu.tick");
    std::fs::write(&script, alert_script(60)).unwrap();
    let define = |d: &Daemon| {
        d.ok(&[
            "define",
            "streamer",
            "--name",
            "cpu_alert",
            "--from",
            "cpu",
            "--dbrp",
            "telegraf.autogen",
            "--script",
            script.to_str().unwrap(),
        ])
    };
    define(&d);
    let first = d.json(&["replay", "loop", "cpu_alert"]);
    assert_eq!(first["status"], "finished", "{first}");
    let crit = |r: &Value| {
        r["result"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["level"] == "CRITICAL")
            .count()
    };
    assert!(crit(&first) >= 1, "{first}");
    let means = &first["result"]["http_out"]["means"]["series"];
    assert_eq!(means.as_array().map(Vec::len), Some(2), "{first}");
    // The text output says what happened.
    let text = d.ok(&["replay", "-recording", "loop", "-task", "cpu_alert"]);
    assert!(
        text.contains("CRITICAL") && text.contains("cpu:a"),
        "{text}"
    );
    assert!(text.contains("httpOut \"means\""), "{text}");
    // The replay's results show at the disabled task's endpoint.
    let (code, shown) = d.get("/kapacitor/v1/tasks/cpu_alert/means");
    assert_eq!(code, 200);
    assert_eq!(shown["series"].as_array().map(Vec::len), Some(2), "{shown}");

    // Iterate: a lower threshold, replayed again, alerts more.
    std::fs::write(&script, alert_script(20)).unwrap();
    define(&d);
    let second = d.json(&["replay", "loop", "cpu_alert", "--replay-id", "second"]);
    assert!(crit(&second) > crit(&first), "{second}");
    let (_, by_id) = d.get("/kapacitor/v1/replays/second");
    assert_eq!(crit(&by_id), crit(&second));
    let listed = d.ok(&["list", "replays"]);
    assert!(
        listed.contains("second") && listed.contains("finished"),
        "{listed}"
    );

    // Enabled, it runs on live data; the replay's results give way.
    d.ok(&["enable", "cpu_alert"]);
    let (_, live) = d.get("/kapacitor/v1/tasks/cpu_alert/means");
    assert!(
        live["series"].as_array().is_none_or(Vec::is_empty),
        "{live}"
    );
    // A replay leaves the live task alone.
    d.ok(&["replay", "loop", "cpu_alert"]);
    let (_, task) = d.get("/kapacitor/v1/tasks/cpu_alert");
    assert_eq!(task["status"], "enabled");
    assert_eq!(task["points_received"], 0, "{task}");

    d.ok(&["delete", "replays", "second"]);
    assert_eq!(d.get("/kapacitor/v1/replays/second").0, 404);
    d.ok(&["delete", "recording", "loop"]);
    assert_eq!(d.get("/kapacitor/v1/recordings/loop").0, 404);
}

#[test]
fn record_stream_for_a_task_records_what_it_would_receive() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(dir.path());
    let script = dir.path().join("cpu.tick");
    std::fs::write(&script, alert_script(60)).unwrap();
    d.ok(&[
        "define",
        "streamer",
        "--name",
        "t",
        "--dbrp",
        "telegraf.autogen",
        "--script",
        script.to_str().unwrap(),
    ]);
    let rec = recording_id(&d.ok(&[
        "record",
        "stream",
        "-task",
        "t",
        "-duration",
        "1s",
        "-no-wait",
        "-recording-id",
        "r1",
    ]));
    assert_eq!(rec, "r1");
    let lp = dir.path().join("points.lp");
    std::fs::write(&lp, cpu_points(1_700_000_000, 5)).unwrap();
    d.ok(&[
        "write",
        "--db",
        "telegraf",
        "--precision",
        "s",
        lp.to_str().unwrap(),
    ]);
    d.ok(&[
        "write",
        "--db",
        "other",
        "--precision",
        "s",
        lp.to_str().unwrap(),
    ]);
    eventually("the recording finishes on its own", || {
        d.get("/kapacitor/v1/recordings/r1").1["status"] == "finished"
    });
    // The script's from() measurement and the task's dbrp: 10 cpu points.
    assert_eq!(d.get("/kapacitor/v1/recordings/r1").1["points"], 10);
    // A stream task has no queries to record, and says so.
    let (ok, _, err) = d.cli(&["record", "batch", "-task", "t", "-past", "1h"]);
    assert!(!ok && err.contains("is a stream task"), "{err}");
}

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/conformance/kapacitor")
}

#[test]
fn kapacitor_stream_cases_pass_through_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(dir.path());
    let mut cases: Vec<PathBuf> = std::fs::read_dir(conformance_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("input.srpl").is_file())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 40);
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(why) = replay_case(&d, case) {
            failures.push(format!("{}: {why}", case.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn replay_case(d: &Daemon, case: &Path) -> Result<(), String> {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap())
            .unwrap();
    let name = case.file_name().unwrap().to_string_lossy().to_string();
    let rec = recording_id(&d.ok(&[
        "record",
        "file",
        case.join("input.srpl").to_str().unwrap(),
        "--recording-id",
        &format!("rec-{name}"),
    ]));
    // Handlers are not fired in a replay: the URL is never called.
    let script = std::fs::read_to_string(case.join("script.tick"))
        .unwrap()
        .replace("{{POST_URL}}", "http://127.0.0.1:9/");
    let task = expected["test"].as_str().unwrap_or("test");
    let (code, body) = http(
        &d.url,
        "POST",
        "/kapacitor/v1/tasks",
        Some(&json!({"id": task, "type": "stream", "dbrps": expected["dbrps"], "script": script})),
    );
    if code != 200 {
        return Err(format!("define: {body}"));
    }
    let replay = d.json(&[
        "replay",
        &rec,
        task,
        "--start",
        expected["clock"]["zero"]
            .as_str()
            .unwrap_or("1971-01-01T00:00:00Z"),
    ]);
    if replay["status"] != "finished" {
        return Err(format!("replay: {replay}"));
    }
    let produced: Produced = serde_json::from_value(replay["result"].clone()).unwrap();
    // What handlers would have POSTed is what the task published.
    let posted: Vec<(String, Value)> = produced
        .alerts
        .iter()
        .map(|a| ("/".to_string(), a.clone()))
        .collect();
    kapacitor::replay::testcase::compare_outputs(&expected["outputs"], &produced, &posted)
        .map_err(|f| f.0)
}

/// Imports a small stream recording and gives its file.
fn import_window_case(d: &Daemon, id: &str) -> PathBuf {
    let input = conformance_dir().join("TestStream_Window/input.srpl");
    d.ok(&[
        "record",
        "file",
        input.to_str().unwrap(),
        "--recording-id",
        id,
    ]);
    d.dir.join(format!("data/recordings/{id}.rec"))
}

#[test]
fn a_corrupt_recording_fails_its_replay_clearly_and_metadata_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(dir.path());
    let file = import_window_case(&d, "bad");
    let script = dir.path().join("w.tick");
    std::fs::write(
        &script,
        "stream\n    |from()\n        .measurement('cpu')\n    |window()\n        .period(10s)\n        .every(10s)\n    |count('value')\n    |httpOut('c')\n",
    )
    .unwrap();
    d.ok(&[
        "define",
        "streamer",
        "--name",
        "w",
        "--dbrp",
        "dbname.rpname",
        "--script",
        script.to_str().unwrap(),
    ]);
    // A line in the middle goes bad.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[20] = "cpu,host=a value=oops 1";
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let (ok, out, _) = d.cli(&["replay", "bad", "w"]);
    assert!(!ok, "{out}");
    assert!(out.contains("line 21") && out.contains("invalid"), "{out}");
    // Not a recording at all.
    std::fs::write(&file, "garbage\n").unwrap();
    let (ok, out, _) = d.cli(&["replay", "bad", "w"]);
    assert!(
        !ok && out.contains("not a kapacitord stream recording"),
        "{out}"
    );
    // Bad input to import names the line, and makes no recording.
    let bad_lp = dir.path().join("bad.lp");
    std::fs::write(&bad_lp, "cpu value=1 1\ncpu value= 2\n").unwrap();
    let (ok, _, err) = d.cli(&[
        "record",
        "file",
        bad_lp.to_str().unwrap(),
        "--recording-id",
        "x",
    ]);
    assert!(!ok && err.contains("line 2"), "{err}");
    assert_eq!(d.get("/kapacitor/v1/recordings/x").0, 404);
    // The daemon is fine, and after a restart the recordings are listed.
    let good = import_window_case(&d, "good");
    assert!(good.is_file());
    d.kill_9();
    let d = Daemon::start_in(dir.path());
    let (_, list) = d.get("/kapacitor/v1/recordings");
    let ids: Vec<&str> = list["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, ["bad", "good"]);
    let replay = d.json(&["replay", "good", "w"]);
    assert_eq!(replay["status"], "finished", "{replay}");
}

#[test]
fn a_recording_interrupted_by_kill_9_keeps_what_it_had() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(dir.path());
    d.ok(&["start-recording", "--id", "cut"]);
    let lp = dir.path().join("points.lp");
    std::fs::write(&lp, cpu_points(1_700_000_000, 50)).unwrap();
    d.ok(&[
        "write",
        "--db",
        "telegraf",
        "--precision",
        "s",
        lp.to_str().unwrap(),
    ]);
    // The writer flushes every 100 ms; its progress is saved every second.
    let file = dir.path().join("data/recordings/cut.rec");
    eventually("the points reach the file", || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.lines().count() >= 151)
    });
    d.kill_9();
    // A write cut short leaves half a line.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("cpu,host=a val");
    std::fs::write(&file, text).unwrap();
    let d = Daemon::start_in(dir.path());
    let (_, rec) = d.get("/kapacitor/v1/recordings/cut");
    assert_eq!(rec["status"], "finished", "{rec}");
    assert_eq!(rec["points"], 150, "{rec}");
    assert!(
        rec["error"].as_str().unwrap().contains("interrupted"),
        "{rec}"
    );
    let script = dir.path().join("cpu.tick");
    std::fs::write(&script, alert_script(60)).unwrap();
    d.ok(&[
        "define",
        "streamer",
        "--name",
        "t",
        "--dbrp",
        "telegraf.autogen",
        "--script",
        script.to_str().unwrap(),
    ]);
    let replay = d.json(&["replay", "cut", "t"]);
    assert_eq!(replay["status"], "finished", "{replay}");
    assert_eq!(replay["points"], 150, "{replay}");
}
