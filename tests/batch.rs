//! Batch tasks against a real InfluxDB 1.x (`influxd`, started here on
//! loopback): the scheduler runs each query on time, the results reach the
//! task as batches, and a dead, failing or slow InfluxDB or a bad query
//! shows as a clear error in the task's status while everything else runs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use config::{DaemonConfig, InfluxDbConfig};
use kapacitor::Server;
use kapacitor::tasks::TaskDefinition;

mod common;
use common::influxd::{create_database, free_port, influxd, write};

const S: i64 = 1_000_000_000;

fn connection(name: &str, url: &str, default: bool) -> InfluxDbConfig {
    InfluxDbConfig {
        name: name.into(),
        urls: vec![url.to_string()],
        default,
        timeout: Duration::from_secs(2),
        ..InfluxDbConfig::default()
    }
}

fn config(influxdb: Vec<InfluxDbConfig>) -> (DaemonConfig, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = DaemonConfig::default();
    let lo = "127.0.0.1:0".parse().unwrap();
    (c.http.bind, c.udp.bind, c.tcp.bind) = (lo, lo, lo);
    c.data_dir = dir.path().join("data");
    c.tasks_dir = dir.path().join("tasks");
    c.influxdb = influxdb;
    (c, dir)
}

fn batch(id: &str, script: &str) -> TaskDefinition {
    TaskDefinition {
        id: id.into(),
        task_type: dsl::TaskType::Batch,
        dbrps: vec![],
        script: script.into(),
        measurement: None,
        meta: BTreeMap::new(),
    }
}

/// Points of host a (20) and b (5) every 100 ms over the next `secs`
/// seconds: whatever the moment a run looks back from, it finds some.
async fn write_ahead(url: &str, secs: i64) {
    let now = host::wall_clock_ns();
    let mut lines = String::new();
    for i in -20..secs * 10 {
        let t = now + i * S / 10;
        lines.push_str(&format!(
            "cpu,host=a value=20 {t}\ncpu,host=b value=5 {t}\n"
        ));
    }
    write(url, "db", &lines).await;
}

/// Waits up to `secs` for the batch status of task `id` to satisfy `ok`.
async fn batch_status_once(
    server: &Server,
    id: &str,
    secs: u64,
    ok: impl Fn(&kapacitor::batch::BatchStatus) -> bool,
) -> kapacitor::tasks::TaskInfo {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let info = server.tasks().get(id).unwrap();
        if info.batch.as_ref().is_some_and(&ok) {
            return info;
        }
        assert!(
            Instant::now() < deadline,
            "task {id} never got there: {:?} (error {:?})",
            info.batch,
            info.error
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn get(server: &Server, path: &str) -> (u16, String) {
    let addr = server.addrs().http.unwrap().to_string();
    common::exchange(
        &addr,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
        Duration::from_secs(5),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_task_queries_influxdb_on_its_schedule_and_alerts() {
    let influx = influxd();
    create_database(&influx.url, "db").await;
    write_ahead(&influx.url, 30).await;
    let (config, _dir) = config(vec![connection("local", &influx.url, true)]);
    let server = Server::start(config).await.unwrap();
    server
        .tasks()
        .define(batch(
            "cpu_alert",
            "batch\n    |query('select mean(value) from \"db\".\"autogen\".cpu')\n        .period(2s)\n        .every(1s)\n        .groupBy('host')\n    |alert()\n        .crit(lambda: \"mean\" > 10)\n",
        ))
        .unwrap();
    server.tasks().enable("cpu_alert").unwrap();
    let info = batch_status_once(&server, "cpu_alert", 20, |b| {
        b.runs >= 2 && b.last_series == 2
    })
    .await;
    let b = info.batch.unwrap();
    assert_eq!(b.last_error, "", "{b:?}");
    assert_eq!(info.error, "");
    assert!(b.last_points >= 2, "{b:?}");
    assert!(
        b.last_query
            .starts_with("select mean(value) from \"db\".\"autogen\".cpu WHERE time >= '"),
        "{}",
        b.last_query
    );
    assert!(
        b.last_query.ends_with("GROUP BY \"host\""),
        "{}",
        b.last_query
    );
    // Host a's mean is critical; host b's never is.
    let deadline = Instant::now() + Duration::from_secs(10);
    let alerts = loop {
        let alerts = server
            .tasks()
            .alert_history()
            .recent(Some("cpu_alert"), None);
        if !alerts.is_empty() {
            break alerts;
        }
        assert!(Instant::now() < deadline, "no alert");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        alerts
            .iter()
            .all(|a| a.level == "CRITICAL" && a.id.contains("host=a")),
        "{alerts:?}"
    );
    // The alerts API shows them too, and /metrics counts the runs.
    let (status, body) = get(&server, "/kapacitor/v1/tasks/cpu_alert");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(json["batch"]["runs"].as_u64().unwrap() >= 2, "{json}");
    let (status, metrics) = get(&server, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("kapacitor_batch_runs_total{task=\"cpu_alert\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kapacitor_batch_last_failed{task=\"cpu_alert\"} 0"),
        "{metrics}"
    );
    // Disabled, it runs no more.
    server.tasks().disable("cpu_alert").unwrap();
    assert!(server.tasks().get("cpu_alert").unwrap().batch.is_none());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_schedules_and_the_seed_keys_run() {
    let influx = influxd();
    create_database(&influx.url, "db").await;
    write_ahead(&influx.url, 30).await;
    let (config, _dir) = config(vec![connection("local", &influx.url, true)]);
    let server = Server::start(config).await.unwrap();
    // Every second, by a cron with seconds.
    server
        .tasks()
        .define(batch(
            "every_second",
            "batch\n    |query('select count(value) from \"db\".\"autogen\".cpu')\n        .period(3s)\n        .cron('*/1 * * * * *')\n    |httpOut('out')\n",
        ))
        .unwrap();
    server.tasks().enable("every_second").unwrap();
    // The seed's form: the query, schedule and bucket beside a script
    // without a query node; names are looked up in the task's dbrp.
    let mut seed = batch(
        "seed",
        "batch\n    |alert()\n        .crit(lambda: \"mean\" > 10)\n",
    );
    seed.dbrps = vec!["db.autogen".parse().unwrap()];
    seed.meta = BTreeMap::from([
        (
            "query".into(),
            "select mean(value) from cpu group by host".into(),
        ),
        ("cron".into(), "*/1 * * * * *".into()),
        ("group_by".into(), "1s".into()),
    ]);
    server.tasks().define(seed).unwrap();
    server.tasks().enable("seed").unwrap();
    let info = batch_status_once(&server, "every_second", 20, |b| {
        b.runs >= 2 && b.last_points >= 1
    })
    .await;
    let b = info.batch.unwrap();
    assert!(b.last_run.unwrap().ends_with('Z'));
    // Runs fall on whole seconds.
    assert!(
        b.next_run.as_deref().is_some_and(|t| !t.contains('.')),
        "{:?}",
        b.next_run
    );
    let info = batch_status_once(&server, "seed", 20, |b| b.runs >= 2 && b.last_series == 2).await;
    let q = info.batch.unwrap().last_query;
    assert!(q.ends_with("GROUP BY time(1s), host"), "{q}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while server
        .tasks()
        .alert_history()
        .recent(Some("seed"), Some("CRITICAL"))
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the seed task never alerted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.shutdown().await;
}

/// An HTTP server answering every request 500 with an InfluxDB-style error.
async fn failing_influxdb() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                // The head, then as much body as it announced.
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= len {
                            break;
                        }
                    }
                }
                let body = r#"{"error":"boom: shard unavailable"}"#;
                let reply = format!(
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_failing_or_slow_influxdb_and_a_bad_query_are_clear_errors_while_stream_tasks_run() {
    let influx = influxd();
    create_database(&influx.url, "db").await;
    let (silent, _held) = common::silent_http();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (config, _dir) = config(vec![
        connection("dead", &dead, true),
        connection("e500", &failing_influxdb().await, false),
        connection("slow", &format!("http://{silent}"), false),
        connection("real", &influx.url, false),
    ]);
    let server = Server::start(config).await.unwrap();
    let query = |cluster: &str, q: &str| {
        format!(
            "batch\n    |query('{q}')\n        .period(1s)\n        .every(500ms){cluster}\n    |alert()\n        .crit(lambda: TRUE)\n"
        )
    };
    let cpu = "select mean(value) from \"db\".\"autogen\".cpu";
    let tasks = [
        ("dead", query("", cpu)),
        ("e500", query("\n        .cluster('e500')", cpu)),
        ("slow", query("\n        .cluster('slow')", cpu)),
        (
            "badq",
            query(
                "\n        .cluster('real')",
                "select mean(value) from \"db\".\"autogen\".cpu where host =",
            ),
        ),
        (
            "nodb",
            query(
                "\n        .cluster('real')",
                "select mean(value) from \"nope\".\"autogen\".cpu",
            ),
        ),
        ("nocluster", query("\n        .cluster('nope')", cpu)),
    ];
    for (id, script) in &tasks {
        server.tasks().define(batch(id, script)).unwrap();
        server.tasks().enable(id).unwrap();
    }
    // What is not a single SELECT is refused when defined, with where.
    let e = server
        .tasks()
        .define(batch("show", &query("", "SHOW DATABASES")))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "query1: query 1:1: a batch query must be a single SELECT statement, not `SHOW`"
    );
    // A stream task runs meanwhile.
    server
        .tasks()
        .define(TaskDefinition {
            task_type: dsl::TaskType::Stream,
            dbrps: vec![pipeline::DbRp::new("telegraf", "autogen")],
            ..batch("stream", "stream\n    |from()\n        .measurement('m')\n    |alert()\n        .crit(lambda: \"v\" > 0)\n")
        })
        .unwrap();
    server.tasks().enable("stream").unwrap();
    let addr = server.addrs().http.unwrap().to_string();
    let expect = [
        ("dead", "refused"),
        ("e500", "InfluxDB answered 500: boom: shard unavailable"),
        ("slow", "timed out after 2s"),
        ("badq", "error parsing query"),
        ("nodb", "InfluxDB: database not found: nope"),
        ("nocluster", "no InfluxDB server named \"nope\""),
    ];
    let mut written = 0;
    for (id, text) in expect {
        let runs = if id == "nocluster" { 0 } else { 2 };
        let deadline = Instant::now() + Duration::from_secs(25);
        loop {
            // Each wait writes a point for the stream task.
            written += 1;
            let line = format!("m v={written}");
            let (status, body) = common::exchange(
                &addr,
                &format!(
                    "POST /write?db=telegraf HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{line}",
                    line.len()
                ),
                Duration::from_secs(5),
            );
            assert_eq!(status, 204, "{body}");
            let info = server.tasks().get(id).unwrap();
            let b = info.batch.clone().unwrap();
            if b.errors >= runs.max(1) && b.last_error.contains(text) {
                assert!(info.error.starts_with("batch query: "), "{}", info.error);
                assert!(info.error.contains(text), "{}", info.error);
                assert_eq!(info.status, kapacitor::tasks::TaskStatus::Enabled);
                if id != "nocluster" {
                    assert_eq!(b.runs, b.errors, "{b:?}");
                }
                break;
            }
            assert!(Instant::now() < deadline, "{id}: {b:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let stream = server.tasks().get("stream").unwrap();
    assert_eq!(stream.points_received, written, "{stream:?}");
    assert!(
        !server
            .tasks()
            .alert_history()
            .recent(Some("stream"), Some("CRITICAL"))
            .is_empty()
    );
    let (_, metrics) = get(&server, "/metrics");
    assert!(
        metrics.contains("kapacitor_batch_last_failed{task=\"e500\"} 1"),
        "{metrics}"
    );
    // Stopping does not wait for the query that never gets an answer.
    let started = Instant::now();
    server.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(6));
}
