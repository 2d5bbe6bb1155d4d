//! Batch recordings and replays through the real daemon and CLI, against a
//! real InfluxDB 1.x (`influxd`, started here on loopback): the seed's
//! batcher flow, Kapacitor's batch conformance cases recorded from data
//! written into influxd, query recordings, live replays, and what a bad or
//! interrupted batch recording leaves.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::cli::{Daemon, http, recording_id};
use common::influxd::{create_database, influxd, query, write};
use kapacitor::replay::instance::Produced;
use pipeline::time::{format_rfc3339, parse_rfc3339};
use serde_json::{Value, json};

const S: i64 = 1_000_000_000;

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A kapacitord in `dir` whose default `influxdb` connection is `url`.
fn daemon_for(dir: &Path, url: &str) -> Daemon {
    std::fs::write(
        dir.join("kapacitor.yaml"),
        format!(
            "influxdb:\n  - name: local\n    urls: [\"{url}\"]\n    default: true\n    timeout: 5s\n"
        ),
    )
    .unwrap();
    Daemon::start_in(dir)
}

fn alerts(replay: &Value) -> Vec<(String, String)> {
    replay["result"]["alerts"]
        .as_array()
        .unwrap_or_else(|| panic!("no alerts in {replay}"))
        .iter()
        .map(|a| {
            let dc = a["data"]["series"][0]["tags"]["dc"].as_str().unwrap_or("");
            (
                a["level"].as_str().unwrap_or("").to_string(),
                dc.to_string(),
            )
        })
        .collect()
}

fn eventually(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `cpu_idle` of role `logs` in dc `nyc` (idle 10 to 20: busy) and `sfo`
/// (idle 80), and of role `web` in nyc (idle 5, which the query leaves
/// out), every 30s over the 10 minutes before now.
fn cpu_idle_lines() -> String {
    let now = host::wall_clock_ns();
    let mut lines = String::new();
    for i in 1..=20 {
        let t = now - i * 30 * S;
        lines.push_str(&format!(
            "cpu_idle,role=logs,dc=nyc value={} {t}\ncpu_idle,role=logs,dc=sfo value=80 {t}\ncpu_idle,role=web,dc=nyc value=5 {t}\n",
            10 + i % 10
        ));
    }
    lines
}

#[test]
fn the_seed_batcher_flow_define_record_replay_iterate_enable() {
    let influx = influxd();
    block(async {
        create_database(&influx.url, "telegraf").await;
        write(&influx.url, "telegraf", &cpu_idle_lines()).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let d = daemon_for(dir.path(), &influx.url);
    let script = dir.path().join("seed.tick");
    std::fs::write(&script, "batch.filter(<, 30).alert()\n").unwrap();
    let define = |select: &str, schedule: &[&str]| {
        let query = format!("select {select}(value) from cpu_idle where role = 'logs' group by dc");
        let mut args = vec![
            "define",
            "batcher",
            "--name",
            "alert_mean_cpu_idle_logs_by_dc",
            "--query",
            &query,
        ];
        args.extend_from_slice(schedule);
        args.extend_from_slice(&["--group-by", "1h", "--script", script.to_str().unwrap()]);
        d.ok(&args);
    };
    // The seed's commands, as written.
    define("mean", &["--period", "15m"]);
    let rec = recording_id(&d.ok(&["record", "batch", "alert_mean_cpu_idle_logs_by_dc"]));
    let (_, recording) = d.get(&format!("/kapacitor/v1/recordings/{rec}"));
    assert_eq!(recording["type"], "batch", "{recording}");
    assert_eq!(recording["status"], "finished", "{recording}");
    // One run of 15m, grouped by dc and hour: a batch per dc and hour.
    let batches = recording["points"].as_u64().unwrap();
    assert!((2..=4).contains(&batches), "{recording}");
    let replay = d.json(&["replay", &rec, "alert_mean_cpu_idle_logs_by_dc"]);
    assert_eq!(replay["status"], "finished", "{replay}");
    assert_eq!(replay["type"], "batch", "{replay}");
    assert_eq!(replay["points"].as_u64(), Some(batches), "{replay}");
    let got = alerts(&replay);
    assert!(!got.is_empty(), "{replay}");
    assert!(
        got.iter()
            .all(|(level, dc)| level == "CRITICAL" && dc == "nyc"),
        "only nyc's logs are busy: {got:?}"
    );
    let text = d.ok(&["replay", &rec, "alert_mean_cpu_idle_logs_by_dc"]);
    assert!(
        text.contains("batches of recording") && text.contains("CRITICAL"),
        "{text}"
    );

    // Iterate on the definition (the seed's max), replay the same data.
    define("max", &["--period", "15m"]);
    let (_, task) = d.get("/kapacitor/v1/tasks/alert_mean_cpu_idle_logs_by_dc");
    assert!(
        task["meta"]["query"]
            .as_str()
            .unwrap()
            .contains("max(value)"),
        "{task}"
    );
    let again = d.json(&[
        "replay",
        "-recording",
        &rec,
        "-task",
        "alert_mean_cpu_idle_logs_by_dc",
    ]);
    assert_eq!(alerts(&again), got);

    // Enabled, it waits for its schedule: the first run comes a period on.
    d.ok(&["enable", "alert_mean_cpu_idle_logs_by_dc"]);
    let mut task = Value::Null;
    eventually("the schedule says when it runs", 10, || {
        task = d
            .get("/kapacitor/v1/tasks/alert_mean_cpu_idle_logs_by_dc")
            .1;
        task["batch"]["next_run"].is_string()
    });
    assert_eq!(task["status"], "enabled", "{task}");
    let next = parse_rfc3339(task["batch"]["next_run"].as_str().unwrap()).unwrap();
    let ahead = next - host::wall_clock_ns();
    assert!(ahead > 14 * 60 * S && ahead <= 15 * 60 * S, "{task}");
    // A redefinition on a schedule of seconds (the seed's `--cron`, with
    // seconds) keeps it enabled, and its runs alert on what influxd gets.
    let now = host::wall_clock_ns();
    let ahead: String = (0..300)
        .map(|i| format!("cpu_idle,role=logs,dc=nyc value=12 {}\n", now + i * S / 10))
        .collect();
    block(write(&influx.url, "telegraf", &ahead));
    define("mean", &["--cron", "*/1 * * * * *"]);
    eventually("the enabled batcher alerts", 20, || {
        let (_, alerts) = d.get("/kapacitor/v1/alerts?task=alert_mean_cpu_idle_logs_by_dc");
        alerts.to_string().contains("CRITICAL")
    });
    let (_, task) = d.get("/kapacitor/v1/tasks/alert_mean_cpu_idle_logs_by_dc");
    assert_eq!(task["status"], "enabled", "{task}");
    assert!(task["meta"].get("period").is_none(), "{task}");
    assert!(task["batch"]["runs"].as_u64().unwrap() >= 1, "{task}");

    // The seed's `record stream --host --query`, and Kapacitor's `record
    // query`, stream and batch.
    let out = d.ok(&[
        "record",
        "stream",
        "--host",
        &influx.url,
        "--query",
        "select value from cpu_idle where role = 'web' group by *",
    ]);
    let (_, from_host) = d.get(&format!("/kapacitor/v1/recordings/{}", recording_id(&out)));
    assert_eq!(from_host["type"], "stream", "{from_host}");
    assert_eq!(from_host["points"], 20, "{from_host}");
    let out = d.ok(&[
        "record",
        "query",
        "-query",
        "select mean(value) from \"telegraf\".\"autogen\".cpu_idle where role = 'logs' group by dc",
        "-type",
        "batch",
    ]);
    let (_, queried) = d.get(&format!("/kapacitor/v1/recordings/{}", recording_id(&out)));
    assert_eq!(
        (queried["type"].as_str(), queried["points"].as_u64()),
        (Some("batch"), Some(2))
    );
    let (ok, _, err) = d.cli(&[
        "record",
        "query",
        "-query",
        "select value from cpu_idle",
        "-type",
        "stream",
    ]);
    assert!(!ok && err.contains("qualify its measurement"), "{err}");
    // Live: the task's queries over the last 15 minutes, replayed at once.
    define("mean", &["--period", "15m"]);
    let live = d.json(&[
        "replay-live",
        "batch",
        "-task",
        "alert_mean_cpu_idle_logs_by_dc",
        "-past",
        "15m",
    ]);
    assert_eq!(live["status"], "finished", "{live}");
    assert_eq!(live["recording"], "", "{live}");
    assert!(
        alerts(&live)
            .iter()
            .any(|(l, dc)| l == "CRITICAL" && dc == "nyc"),
        "{live}"
    );
    let (_, listed) = d.get("/kapacitor/v1/recordings");
    assert_eq!(
        listed["recordings"].as_array().unwrap().len(),
        3,
        "live keeps none: {listed}"
    );

    // The same batcher from the tasks directory, its query and schedule in
    // the YAML beside the script.
    let tasks = dir.path().join("tasks");
    std::fs::create_dir_all(&tasks).unwrap();
    std::fs::write(tasks.join("from_dir.tick"), "batch.filter(<, 30).alert()\n").unwrap();
    std::fs::write(
        tasks.join("from_dir.yaml"),
        "query: select mean(value) from cpu_idle where role = 'logs' group by dc\nperiod: 15m\ngroup_by: 1h\n",
    )
    .unwrap();
    eventually("the tasks directory's batcher is defined", 10, || {
        d.get("/kapacitor/v1/tasks/from_dir").0 == 200
    });
    let (_, task) = d.get("/kapacitor/v1/tasks/from_dir");
    assert_eq!(task["type"], "batch", "{task}");
    let rec = recording_id(&d.ok(&["record", "batch", "from_dir"]));
    let replay = d.json(&["replay", &rec, "from_dir"]);
    let got = alerts(&replay);
    assert!(!got.is_empty(), "{replay}");
    assert!(
        got.iter().all(|(l, dc)| l == "CRITICAL" && dc == "nyc"),
        "{replay}"
    );
}

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/conformance/kapacitor")
}

/// What the raw data behind a query node's results looks like: the
/// column its results have and the field it aggregates (`mean("value")`:
/// `mean` and `value`; `sum("value") as "value"`: `value` and `value`),
/// and the `"tag" = 'value'` it selects on, which the `.brpl` leaves out.
struct Raw {
    column: String,
    field: String,
    tag: Option<(String, String)>,
}

fn raw_of(script: &str) -> Vec<Raw> {
    let unquote = |s: &str| s.trim().trim_matches('"').trim_matches('\'').to_string();
    script
        .split("|query(")
        .skip(1)
        .map(|q| {
            let q = q.split("''')").next().unwrap_or("");
            let select = q.split("FROM").next().unwrap().replace("SELECT", "");
            let (func, rest) = select.split_once('(').unwrap();
            let (field, alias) = rest.split_once(')').unwrap();
            let column = match alias.split_once(" as ") {
                Some((_, a)) => unquote(a),
                None => func.split_whitespace().last().unwrap().to_string(),
            };
            let tag = q.split_once("WHERE").and_then(|(_, cond)| {
                let (tag, value) = cond.split_once('=')?;
                Some((unquote(tag), unquote(value)))
            });
            Raw {
                column,
                field: unquote(field),
                tag,
            }
        })
        .collect()
}

/// A case's `.brpl` batches as the line protocol its query makes them
/// from: a point per row, of the aggregated field, with the batch's tags
/// and the one the query selects on.
fn brpl_lines(text: &str, raw: &Raw) -> (String, i64, i64) {
    let (mut lines, mut first, mut last) = (String::new(), i64::MAX, i64::MIN);
    for batch in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let batch = batch.unwrap();
        let mut tags: Vec<(String, String)> = batch["tags"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        tags.extend(raw.tag.clone());
        tags.sort();
        let series: String = tags.iter().map(|(k, v)| format!(",{k}={v}")).collect();
        for p in batch["points"].as_array().unwrap() {
            let t = parse_rfc3339(p["time"].as_str().unwrap()).unwrap();
            (first, last) = (first.min(t), last.max(t));
            let fields: Vec<String> = p["fields"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    let k = if *k == raw.column { &raw.field } else { k };
                    format!("{k}={}", v.as_f64().unwrap())
                })
                .collect();
            lines.push_str(&format!(
                "{}{series} {} {t}\n",
                batch["name"].as_str().unwrap(),
                fields.join(",")
            ));
        }
    }
    (lines, first, last)
}

/// Writes a batch case's data into influxd (its own `telegraf` database
/// with the `default` retention policy its queries name), defines its task
/// and records the task's runs over the data; the recording's id and the
/// first point's time.
fn record_case(d: &Daemon, influx_url: &str, case: &Path) -> (String, i64) {
    let name = case.file_name().unwrap().to_string_lossy().to_string();
    let script = std::fs::read_to_string(case.join("script.tick")).unwrap();
    let (mut lines, mut first, mut last) = (String::new(), i64::MAX, i64::MIN);
    for (n, raw) in raw_of(&script).iter().enumerate() {
        let text = std::fs::read_to_string(case.join(format!("input.{n}.brpl"))).unwrap();
        let (l, f, t) = brpl_lines(&text, raw);
        lines.push_str(&l);
        (first, last) = (first.min(f), last.max(t));
    }
    block(async {
        query(influx_url, "", "DROP DATABASE telegraf").await;
        create_database(influx_url, "telegraf").await;
        let rp = query(
            influx_url,
            "telegraf",
            "CREATE RETENTION POLICY \"default\" ON telegraf DURATION INF REPLICATION 1",
        )
        .await;
        assert_eq!(rp["results"][0]["statement_id"], 0, "{rp}");
        // The helper's `db` goes into the query string as it is.
        write(influx_url, "telegraf&rp=default", &lines).await;
    });
    let (code, body) = http(
        &d.url,
        "POST",
        "/kapacitor/v1/tasks",
        Some(
            &json!({"id": name, "type": "batch", "dbrps": [{"db": "dbname", "rp": "rpname"}], "script": script}),
        ),
    );
    assert_eq!(code, 200, "{body}");
    // Every 10s, each run the 10s before: the runs that cover the data.
    let period = 10 * S;
    let stop = first + period * ((last - first) / period + 1);
    let out = d.ok(&[
        "record",
        "batch",
        "-task",
        &name,
        "-start",
        &format_rfc3339(first),
        "-stop",
        &format_rfc3339(stop),
        "-recording-id",
        &format!("rec-{name}"),
    ]);
    (recording_id(&out), first)
}

#[test]
fn kapacitor_batch_cases_pass_through_the_daemon_against_influxd() {
    let influx = influxd();
    let dir = tempfile::tempdir().unwrap();
    let d = daemon_for(dir.path(), &influx.url);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(conformance_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("input.0.brpl").is_file())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 3);
    let (mut failures, mut first) = (Vec::new(), 0);
    for case in &cases {
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap())
                .unwrap();
        let rec;
        (rec, first) = record_case(&d, &influx.url, case);
        let (_, recording) = d.get(&format!("/kapacitor/v1/recordings/{rec}"));
        let batches: usize = (0..2)
            .filter_map(|n| std::fs::read_to_string(case.join(format!("input.{n}.brpl"))).ok())
            .map(|t| kapacitor::replay::recording::read_brpl(&t).unwrap().len())
            .sum();
        assert_eq!(
            recording["points"].as_u64(),
            Some(batches as u64),
            "{recording}"
        );
        let task = case.file_name().unwrap().to_str().unwrap();
        let replay = d.json(&["replay", &rec, task, "--start", "1971-01-01T00:00:00Z"]);
        if replay["status"] != "finished" {
            failures.push(format!("{task}: {replay}"));
            continue;
        }
        let produced: Produced = serde_json::from_value(replay["result"].clone()).unwrap();
        if let Err(f) =
            kapacitor::replay::testcase::compare_outputs(&expected["outputs"], &produced, &[])
        {
            failures.push(format!("{task}: {}", f.0));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    // Live: the last case's runs (its data still in influxd) queried and
    // replayed at once, on their recorded times; the same values come out.
    let case = cases.last().unwrap();
    let task = case.file_name().unwrap().to_str().unwrap();
    let live = d.json(&[
        "replay-live",
        "batch",
        "-task",
        task,
        "-start",
        &format_rfc3339(first),
        "-stop",
        &format_rfc3339(first + 30 * S),
        "-rec-time",
    ]);
    assert_eq!(live["status"], "finished", "{live}");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap())
            .unwrap();
    let mut outputs = expected["outputs"].clone();
    let shift = first - parse_rfc3339("1971-01-01T00:00:00Z").unwrap();
    for series in outputs["httpOut"]["result"]["series"]
        .as_array_mut()
        .unwrap()
    {
        for row in series["values"].as_array_mut().unwrap() {
            let t = parse_rfc3339(row[0].as_str().unwrap()).unwrap();
            row[0] = json!(format_rfc3339(t + shift));
        }
    }
    let produced: Produced = serde_json::from_value(live["result"].clone()).unwrap();
    kapacitor::replay::testcase::compare_outputs(&outputs, &produced, &[])
        .unwrap_or_else(|f| panic!("{}", f.0));

    // A corrupt recording fails its replay with the line that is bad; a
    // cut tail is skipped with a warning; a file of something else says so.
    let file = dir.path().join(format!("data/recordings/rec-{task}.brec"));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let whole = lines.join("\n") + "\n";
    std::fs::write(&file, &whole[..whole.len() - 20]).unwrap();
    let cut = d.json(&["replay", &format!("rec-{task}"), task]);
    assert_eq!(cut["status"], "finished", "{cut}");
    assert!(
        cut["warning"].as_str().unwrap().contains("cut short"),
        "{cut}"
    );
    lines[3] = "{\"name\":\"cpu_usage_idle\",\"points\":[{\"fields\":{\"mean\":1},\"time\":\"yesterday\"}]}";
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let (ok, out, _) = d.cli(&["replay", &format!("rec-{task}"), task]);
    assert!(!ok, "{out}");
    assert!(out.contains("line 4") && out.contains("yesterday"), "{out}");
    std::fs::write(&file, "garbage\n").unwrap();
    let (ok, out, _) = d.cli(&["replay", &format!("rec-{task}"), task]);
    assert!(
        !ok && out.contains("not a kapacitord batch recording"),
        "{out}"
    );
    // Batches for a query node the task lacks.
    std::fs::write(&file, format!("{}\n# query 3\n{}\n", lines[0], lines[2])).unwrap();
    let (ok, out, _) = d.cli(&["replay", &format!("rec-{task}"), task]);
    assert!(!ok && out.contains("query node 3"), "{out}");
}

#[test]
fn a_batch_recording_cut_by_kill_9_is_finished_at_the_next_start() {
    // An InfluxDB that never answers: the recording waits on its query.
    let (silent, _held) = common::silent_http();
    let dir = tempfile::tempdir().unwrap();
    let d = daemon_for(dir.path(), &format!("http://{silent}"));
    let script = dir.path().join("b.tick");
    std::fs::write(&script, "batch.filter(<, 30).alert()\n").unwrap();
    d.ok(&[
        "define",
        "batcher",
        "--name",
        "b",
        "--query",
        "select mean(value) from cpu",
        "--period",
        "1m",
        "--script",
        script.to_str().unwrap(),
    ]);
    // A range no run of the schedule falls in is refused at once.
    let (ok, _, err) = d.cli(&["record", "batch", "b", "-past", "30s"]);
    assert!(
        !ok && err.contains("no run of task \"b\"'s schedule"),
        "{err}"
    );
    // Stopped while it waits, it ends at once, keeping what it had.
    let stopped = recording_id(&d.ok(&["record", "batch", "b", "-past", "1h", "-no-wait"]));
    let asked = Instant::now();
    let out = d.json(&["stop-recording", &stopped]);
    assert!(asked.elapsed() < Duration::from_secs(3), "{out}");
    assert_eq!(out["status"], "finished", "{out}");
    assert!(out["error"].as_str().unwrap().contains("stopped"), "{out}");
    let rec = recording_id(&d.ok(&["record", "batch", "b", "-past", "1h", "-no-wait"]));
    let (_, recording) = d.get(&format!("/kapacitor/v1/recordings/{rec}"));
    assert_eq!(recording["status"], "recording", "{recording}");
    d.kill_9();
    let d = Daemon::start_in(dir.path());
    let (_, recording) = d.get(&format!("/kapacitor/v1/recordings/{rec}"));
    assert_eq!(recording["status"], "finished", "{recording}");
    assert!(
        recording["error"].as_str().unwrap().contains("interrupted"),
        "{recording}"
    );
    let replay = d.json(&["replay", &rec, "b"]);
    assert_eq!(replay["status"], "finished", "{replay}");
    assert_eq!(replay["points"], 0, "{replay}");
}
