//! Alert topics through the real kapacitord: tasks publishing with
//! `.topic()`, topic handlers with match expressions, `aggregate` and
//! `publish`, `.inhibit()`, persistence across `kill -9`, and Kapacitor's
//! documented handler files through `kapacitor define-topic-handler`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::cli::{Daemon, cli, http};

/// What each wait may take on a busy machine.
const PATIENCE: Duration = Duration::from_secs(20);

/// `GET path`, answered 200: its JSON.
fn get(d: &Daemon, path: &str) -> Value {
    let (status, body) = d.get(path);
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn handler(d: &Daemon, topic: &str, spec: Value) {
    let path = format!("/kapacitor/v1/alerts/topics/{topic}/handlers");
    let (status, body) = http(&d.url, "POST", &path, Some(&spec));
    assert_eq!(status, 200, "{body}");
}

fn task(d: &Daemon, id: &str, script: &str) {
    let body = json!({
        "id": id,
        "type": "stream",
        "dbrps": [{"db": "db", "rp": "autogen"}],
        "script": script,
        "status": "enabled",
    });
    let (status, answer) = http(&d.url, "POST", "/kapacitor/v1/tasks", Some(&body));
    assert!((200..300).contains(&status), "define {id}: {answer}");
}

/// Writes line protocol (seconds) to db.autogen.
fn write(d: &Daemon, lines: &str) {
    use std::io::{Read as _, Write as _};
    let addr = d.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /write?db=db&rp=autogen&precision=s HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{lines}",
        lines.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 204"), "{reply}");
}

/// The events task `task` has sent, oldest first, as (id, level).
fn alerts(d: &Daemon, task: &str) -> Vec<(String, String)> {
    let v = get(d, &format!("/kapacitor/v1/alerts?task={task}"));
    v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (s(&a["id"]), s(&a["level"])))
        .collect()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(t) = check() {
            return t;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A local HTTP server that answers 200 to every POST and keeps the
/// bodies, with when they came.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/alert", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let keeping = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let keeping = keeping.clone();
                std::thread::spawn(move || serve(stream, &keeping));
            }
        });
        Receiver { url, bodies }
    }

    fn events(&self) -> Vec<Value> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }

    fn wait_for(&self, n: usize) -> Vec<Value> {
        eventually(&format!("{n} posts"), || {
            let e = self.events();
            (e.len() >= n).then_some(e)
        })
    }
}

/// Answers the requests of one (keep-alive) connection.
fn serve(stream: std::net::TcpStream, bodies: &Mutex<Vec<(Instant, Value)>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        bodies.lock().unwrap().push((Instant::now(), value));
        let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    }
}

/// A daemon in a directory of its own, and a receiver for its posts.
fn start() -> (tempfile::TempDir, Daemon, Receiver) {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_in(dir.path());
    (dir, d, Receiver::start())
}

#[test]
fn two_tasks_publish_to_one_topic_and_a_match_handler_gets_only_the_matching_events() {
    let (_dir, d, rx) = start();
    handler(
        &d,
        "hosts",
        json!({"id": "web", "kind": "post", "options": {"url": rx.url},
            "match": "\"host\" =~ /^web/ AND level() >= WARNING"}),
    );
    for (id, m) in [("cpu_alert", "cpu"), ("mem_alert", "mem")] {
        task(
            &d,
            id,
            &format!(
                "stream|from().measurement('{m}').groupBy('host')\
                 |alert().id('{m}:{{{{ index .Tags \"host\" }}}}')\
                 .warn(lambda: \"value\" > 70).crit(lambda: \"value\" > 90).topic('hosts')"
            ),
        );
    }
    write(
        &d,
        "cpu,host=web1 value=95 1\ncpu,host=db1 value=95 1\nmem,host=web2 value=75 1\nmem,host=web3 value=10 1\n",
    );
    let got = rx.wait_for(2);
    let topic = eventually("3 events in the topic", || {
        let t = get(&d, "/kapacitor/v1/alerts/topics/hosts");
        (t["collected"] == 3).then_some(t)
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut ids: Vec<String> = rx.events().iter().map(|e| s(&e["id"])).collect();
    ids.sort();
    assert_eq!(ids, ["cpu:web1", "mem:web2"], "{got:?}");
    assert_eq!(topic["level"], "CRITICAL");
    assert_eq!(
        topic["events-link"]["href"],
        "/kapacitor/v1/alerts/topics/hosts/events"
    );
    let events = get(&d, "/kapacitor/v1/alerts/topics/hosts/events");
    let listed: Vec<(String, String, String)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (s(&e["id"]), s(&e["state"]["level"]), s(&e["state"]["task"])))
        .collect();
    assert_eq!(
        listed,
        [
            ("cpu:db1".into(), "CRITICAL".into(), "cpu_alert".into()),
            ("cpu:web1".into(), "CRITICAL".into(), "cpu_alert".into()),
            ("mem:web2".into(), "WARNING".into(), "mem_alert".into()),
        ]
    );
    let warn = get(
        &d,
        "/kapacitor/v1/alerts/topics/hosts/events?min-level=critical",
    );
    assert_eq!(warn["events"].as_array().unwrap().len(), 2);
    let one = get(&d, "/kapacitor/v1/alerts/topics/hosts/events/mem:web2");
    assert_eq!(one["state"]["message"], "mem:web2 is WARNING");
    let h = get(&d, "/kapacitor/v1/alerts/topics/hosts/handlers/web");
    assert_eq!(
        (&h["stats"]["sent"], &h["stats"]["unmatched"]),
        (&json!(2), &json!(1))
    );
    // The existing alert history still has every event.
    assert_eq!(alerts(&d, "cpu_alert").len(), 2);
    let metrics = {
        let addr = d.url.trim_start_matches("http://");
        let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        common::exchange(addr, &req, PATIENCE).1
    };
    assert!(
        metrics.contains(
            "kapacitor_topic_handler_events_total{topic=\"hosts\",handler=\"web\",outcome=\"sent\"} 2"
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        "kapacitor_topic_handler_delay_seconds_count{topic=\"hosts\",handler=\"web\"} 2"
    ));
}

#[test]
fn an_aggregate_handler_sends_one_summary_per_interval() {
    let (_dir, d, rx) = start();
    handler(
        &d,
        "cpu",
        json!({"id": "agg", "kind": "aggregate", "options": {"interval": "1s",
            "topic": "cpu_summary", "message": "{{.Count}} events in {{.Interval}}"}}),
    );
    handler(
        &d,
        "cpu_summary",
        json!({"id": "post", "kind": "post", "options": {"url": rx.url}}),
    );
    task(
        &d,
        "hot",
        "stream|from().measurement('cpu').groupBy('host')\
         |alert().crit(lambda: \"value\" > 90).topic('cpu')",
    );
    write(
        &d,
        "cpu,host=a value=95 1\ncpu,host=b value=96 1\ncpu,host=c value=97 1\ncpu,host=a value=98 2\ncpu,host=b value=99 2\n",
    );
    // Five events, one summary (two if an interval ended mid-burst).
    let summaries = eventually("a summary of all five", || {
        let got = rx.events();
        let counted: u64 = got
            .iter()
            .map(|e| {
                s(&e["message"])
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .sum();
        (counted == 5).then_some(got)
    });
    assert!(summaries.len() <= 2, "{summaries:?}");
    let first = &summaries[0];
    assert_eq!(first["id"], "agg");
    assert_eq!(first["level"], "CRITICAL");
    assert!(s(&first["message"]).ends_with(" events in 1s"), "{first}");
    let series = first["data"]["series"].as_array().unwrap();
    assert!(!series.is_empty(), "{first}");
    // Quiet intervals send nothing.
    std::thread::sleep(Duration::from_millis(2500));
    let before = rx.events().len();
    assert_eq!(before, summaries.len());
    write(&d, "cpu,host=a value=95 3\ncpu,host=b value=95 3\n");
    let after = rx.wait_for(before + 1);
    let times: Vec<Instant> = rx.bodies.lock().unwrap().iter().map(|(t, _)| *t).collect();
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(900),
            "summaries closer than the interval: {after:?}"
        );
    }
    assert_eq!(s(&after[before]["message"]), "2 events in 1s");
}

#[test]
fn a_publish_handler_republishes_into_a_second_topic_whose_handler_fires() {
    let (_dir, d, rx) = start();
    handler(
        &d,
        "cpu",
        json!({"id": "to-ops", "kind": "publish", "options": {"topics": ["ops_team"]}}),
    );
    handler(
        &d,
        "ops_team",
        json!({"id": "page", "kind": "post", "match": "changed()", "options": {"url": rx.url}}),
    );
    task(
        &d,
        "hot",
        "stream|from().measurement('cpu')|alert().crit(lambda: \"value\" > 90).topic('cpu')",
    );
    write(
        &d,
        "cpu,host=a value=95 1\ncpu,host=a value=96 2\ncpu,host=a value=10 3\n",
    );
    let got = rx.wait_for(2);
    std::thread::sleep(Duration::from_millis(300));
    let levels: Vec<(String, String)> = rx
        .events()
        .iter()
        .map(|e| (s(&e["level"]), s(&e["previousLevel"])))
        .collect();
    // Only changes pass `changed()`: CRITICAL, then the recovery.
    assert_eq!(
        levels,
        [
            ("CRITICAL".into(), "OK".into()),
            ("OK".into(), "CRITICAL".into())
        ],
        "{got:?}"
    );
    let ops = get(&d, "/kapacitor/v1/alerts/topics/ops_team");
    assert_eq!(ops["collected"], 3);
    let topics = get(&d, "/kapacitor/v1/alerts/topics?pattern=ops*");
    assert_eq!(topics["topics"].as_array().unwrap().len(), 1);
}

#[test]
fn inhibit_suppresses_a_dependent_alert_while_its_parent_is_critical() {
    let (_dir, d, rx) = start();
    handler(
        &d,
        "system",
        json!({"id": "page", "kind": "post", "options": {"url": rx.url}}),
    );
    // A host that is down inhibits that host's system alerts.
    task(
        &d,
        "host_down",
        "stream|from().measurement('up').groupBy('host')\
         |alert().id('up:{{ index .Tags \"host\" }}').crit(lambda: \"value\" < 1)\
         .inhibit('system', 'host')",
    );
    task(
        &d,
        "cpu_alert",
        "stream|from().measurement('cpu').groupBy('host')\
         |alert().id('cpu:{{ index .Tags \"host\" }}').category('system')\
         .crit(lambda: \"value\" > 90).topic('system')",
    );
    write(&d, "up,host=a value=0 1\n");
    eventually("host a down", || {
        (alerts(&d, "host_down") == [("up:a".to_string(), "CRITICAL".to_string())]).then_some(())
    });
    write(&d, "cpu,host=a value=95 2\ncpu,host=b value=95 2\n");
    let got = rx.wait_for(1);
    eventually("both recorded", || {
        let t = get(&d, "/kapacitor/v1/alerts/topics/system");
        (t["collected"] == 2).then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.events().len(), 1, "{got:?}");
    assert_eq!(got[0]["id"], "cpu:b");
    let inhibited = get(&d, "/kapacitor/v1/alerts/topics/system/events/cpu:a");
    assert_eq!(inhibited["state"]["level"], "CRITICAL");
    assert_eq!(inhibited["state"]["inhibited"], true);
    let status = get(&d, "/kapacitor/v1/status");
    assert_eq!(status["topics"]["inhibitors_on"], 1);
    // Host a is back: its next CRITICAL goes out.
    write(&d, "up,host=a value=1 3\n");
    eventually("host a up", || {
        (alerts(&d, "host_down").len() == 2).then_some(())
    });
    write(&d, "cpu,host=a value=96 4\n");
    let got = rx.wait_for(2);
    assert_eq!(got[1]["id"], "cpu:a");
    assert_eq!(got[1]["level"], "CRITICAL");
    let released = get(&d, "/kapacitor/v1/alerts/topics/system/events/cpu:a");
    assert_eq!(released["state"]["inhibited"], false);
    assert_eq!(released["state"]["history"][0]["inhibited"], true);
}

#[test]
fn a_topics_events_and_handlers_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start();
    {
        let d = Daemon::start_in(dir.path());
        handler(
            &d,
            "cpu",
            json!({"id": "post", "kind": "post", "match": "level() == CRITICAL", "options": {"url": rx.url}}),
        );
        task(
            &d,
            "hot",
            "stream|from().measurement('cpu').groupBy('host')\
             |alert().crit(lambda: \"value\" > 90).warn(lambda: \"value\" > 70).topic('cpu')",
        );
        write(&d, "cpu,host=a value=95 1\ncpu,host=b value=75 1\n");
        rx.wait_for(1);
        // Wait until the store has them (every 100 ms), then SIGKILL: no
        // shutdown, no flush.
        eventually("the events saved", || {
            let st = get(&d, "/kapacitor/v1/status");
            (st["topics"]["store"]["saved"].as_u64() >= Some(2)).then_some(())
        });
        d.kill_9();
    }
    let d = Daemon::start_in(dir.path());
    let events = get(&d, "/kapacitor/v1/alerts/topics/cpu/events");
    let listed: Vec<(String, String)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (s(&e["id"]), s(&e["state"]["level"])))
        .collect();
    assert_eq!(
        listed,
        [
            ("cpu:host=a".into(), "CRITICAL".into()),
            ("cpu:host=b".into(), "WARNING".into())
        ]
    );
    assert_eq!(
        get(&d, "/kapacitor/v1/alerts/topics/cpu")["level"],
        "CRITICAL"
    );
    let h = get(&d, "/kapacitor/v1/alerts/topics/cpu/handlers/post");
    assert_eq!(h["match"], "level() == CRITICAL");
    // And the handler still works.
    write(&d, "cpu,host=c value=99 2\n");
    let got = rx.wait_for(2);
    assert_eq!(got[1]["id"], "cpu:host=c");
}

fn handler_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/topic_handlers/kapacitor");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn define_topic_handler_accepts_kapacitors_documented_handler_files_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    // The post examples name the config endpoint `example`.
    std::fs::write(
        dir.path().join("kapacitor.yaml"),
        "httppost:\n  - endpoint: example\n    url: http://127.0.0.1:9/path\n",
    )
    .unwrap();
    let d = Daemon::start_in(dir.path());
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let files = handler_files();
    assert!(files.len() >= 60, "{files:?}");
    let mut failures = Vec::new();
    for file in &files {
        let (ok, _, err) = cli(&d.url, &["define-topic-handler", file.to_str().unwrap()]);
        if !ok {
            failures.push(format!("{}: {err}", file.display()));
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let h = config::TopicHandlerFile::read(&text, file, None).unwrap();
        let (ok, shown, err) = cli(&d.url, &["show-topic-handler", &h.topic, &h.id]);
        assert!(ok, "{err}");
        let golden = file.with_extension("show");
        if update {
            std::fs::write(&golden, &shown).unwrap();
        } else {
            let want = std::fs::read_to_string(&golden).unwrap_or_else(|e| {
                panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", golden.display())
            });
            if shown != want {
                failures.push(format!("{}:\n{shown}\nwanted\n{want}", file.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // What the files defined, through the other verbs.
    let (ok, out, err) = cli(&d.url, &["list", "topics"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("ID "), "{out}");
    assert!(out.lines().any(|l| l.starts_with("cpu ")), "{out}");
    let (ok, out, _) = cli(&d.url, &["list", "topic-handlers", "cpu"]);
    assert!(ok);
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["cpu", "exec-cpu-alert", "exec"]),
        "{out}"
    );
    let (ok, out, _) = cli(&d.url, &["list", "topic-handlers", "cpu", "slack*"]);
    assert!(ok);
    assert_eq!(
        out.lines().count(),
        3,
        "header, slack, slack-cpu-alert: {out}"
    );
    let (ok, out, err) = cli(&d.url, &["show-topic", "cpu"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("ID: cpu\nLevel: OK\nCollected: 0\nHandlers: ["),
        "{out}"
    );
    let (ok, _, err) = cli(&d.url, &["delete", "topic-handlers", "cpu", "slack*"]);
    assert!(ok, "{err}");
    let (_, out, _) = cli(&d.url, &["list", "topic-handlers", "cpu", "slack*"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    let (ok, _, err) = cli(&d.url, &["delete", "topics", "500-*"]);
    assert!(ok, "{err}");
    // A topic's events go; its handlers (definitions) stay.
    let (_, out, _) = cli(&d.url, &["list", "topic-handlers", "500-errors"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    // A file with a mistake is refused, located.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "topic: cpu\nid: x\nkind: log\nmatch: level( >= 1\noptions:\n  path: /tmp/x.log\n",
    )
    .unwrap();
    let (ok, _, err) = cli(&d.url, &["define-topic-handler", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("match:1:"), "{err}");
}

#[test]
fn handler_files_in_the_tasks_directory_define_handlers_and_follow_their_edits() {
    let dir = tempfile::tempdir().unwrap();
    let handlers = dir.path().join("tasks/handlers");
    std::fs::create_dir_all(&handlers).unwrap();
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/topic_handlers/kapacitor");
    std::fs::copy(
        docs.join("examples-load-example.yaml"),
        handlers.join("example.yaml"),
    )
    .unwrap();
    std::fs::write(
        handlers.join("tolog.yaml"),
        "topic: cpu\nkind: log\noptions:\n  path: /tmp/kapacitord-topics-test.log\n",
    )
    .unwrap();
    let gone_while_down = handlers.join("gone.json");
    std::fs::write(
        &gone_while_down,
        r#"{"topic": "cpu", "id": "gone", "kind": "publish", "options": {"topics": ["x"]}}"#,
    )
    .unwrap();
    let path = |id: &str| format!("/kapacitor/v1/alerts/topics/cpu/handlers/{id}");
    {
        let d = Daemon::start_in(dir.path());
        let example = get(&d, &path("example"));
        assert_eq!(example["match"], "changed() == TRUE");
        assert_eq!(example["from_file"], true);
        // The id defaults to the file's name.
        assert_eq!(get(&d, &path("tolog"))["kind"], "log");
        assert_eq!(get(&d, &path("gone"))["kind"], "publish");
        // An edit redefines it; a broken edit keeps it and says why.
        std::fs::write(
            handlers.join("tolog.yaml"),
            "topic: cpu\nkind: log\nmatch: level() == CRITICAL\noptions:\n  path: /tmp/kapacitord-topics-test.log\n",
        )
        .unwrap();
        eventually("the edit", || {
            (get(&d, &path("tolog"))["match"] == "level() == CRITICAL").then_some(())
        });
        std::fs::write(handlers.join("broken.yaml"), "topic: cpu\nkind: [\n").unwrap();
        let errors = eventually("the error shown", || {
            let st = get(&d, "/kapacitor/v1/status");
            let e = st["topics"]["file_errors"].clone();
            (e.as_object().is_some_and(|m| !m.is_empty())).then_some(e)
        });
        assert!(errors.to_string().contains("broken.yaml"), "{errors}");
        std::fs::remove_file(handlers.join("example.yaml")).unwrap();
        eventually("the handler of a removed file gone", || {
            (d.get(&path("example")).0 == 404).then_some(())
        });
        // A handler defined through the API is not the directory's.
        handler(
            &d,
            "cpu",
            json!({"id": "api", "kind": "publish", "options": {"topics": ["y"]}}),
        );
    }
    std::fs::remove_file(&gone_while_down).unwrap();
    let d = Daemon::start_in(dir.path());
    assert_eq!(d.get(&path("gone")).0, 404, "removed while down");
    assert_eq!(get(&d, &path("api"))["kind"], "publish");
    assert_eq!(get(&d, &path("tolog"))["match"], "level() == CRITICAL");
}
