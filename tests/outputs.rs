//! Output nodes against the real things: `influxDBOut` writing to a real
//! InfluxDB 1.x (`influxd` from the Debian package, started here on
//! loopback with its data in a temp dir), and `kapacitorLoopback` feeding
//! another task of the same daemon.

use std::time::{Duration, Instant};

use config::{DaemonConfig, InfluxDbConfig};
use kapacitor::Server;
use kapacitor::tasks::TaskDefinition;
use serde_json::Value;

mod common;
use common::influxd::{free_port, http_json, influxd, query};

fn config(influx: &str) -> (DaemonConfig, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = DaemonConfig::default();
    let lo = "127.0.0.1:0".parse().unwrap();
    (c.http.bind, c.udp.bind, c.tcp.bind) = (lo, lo, lo);
    c.data_dir = dir.path().join("data");
    c.tasks_dir = dir.path().join("tasks");
    c.influxdb = vec![InfluxDbConfig {
        urls: vec![influx.to_string()],
        timeout: Duration::from_secs(2),
        ..InfluxDbConfig::default()
    }];
    (c, dir)
}

fn task(id: &str, script: &str) -> TaskDefinition {
    TaskDefinition {
        id: id.into(),
        task_type: dsl::TaskType::Stream,
        dbrps: vec![pipeline::DbRp::new("telegraf", "autogen")],
        script: script.into(),
        measurement: None,
        meta: Default::default(),
    }
}

async fn write(server: &Server, lines: &str) {
    let addr = server.addrs().http.unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /write?db=telegraf&precision=s HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{lines}",
        lines.len()
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 204"), "{reply}");
}

/// The output counters of the task's influxDBOut node.
fn output_counts(server: &Server, id: &str) -> Value {
    let info = server.tasks().get(id).unwrap();
    let node = info.nodes.iter().find(|n| n.kind == "influxDBOut").unwrap();
    serde_json::to_value(node.output).unwrap()
}

/// The influxDBOut counters of task `id` once `failed` reaches `failed`
/// (waiting up to `secs` seconds for them).
async fn counts_once_failed(server: &Server, id: &str, failed: u64, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let counts = output_counts(server, id);
        if counts["failed"].as_u64() == Some(failed) {
            return counts;
        }
        assert!(
            Instant::now() < deadline,
            "{failed} failed lines were never counted: {counts}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn influxdb_out_writes_to_a_real_influxdb_and_counts_what_it_cannot() {
    let mut influx = influxd();
    let (config, _dir) = config(&influx.url);
    let server = Server::start(config).await.unwrap();
    server
        .tasks()
        .define(task(
            "copy",
            "stream\n    |from()\n        .measurement('cpu')\n    |influxDBOut()\n        .create()\n        .database('copies')\n        .retentionPolicy('autogen')\n        .measurement('cpu_copy')\n        .tag('via', 'kapacitor')\n        .buffer(2)\n        .flushInterval(100ms)\n",
        ))
        .unwrap();
    server.tasks().enable("copy").unwrap();
    write(&server, "cpu,host=a value=1 1700000000\ncpu,host=b value=2 1700000001\ncpu,host=a value=3 1700000002\n").await;
    // The first two fill the buffer; the third goes at the flush interval.
    let deadline = Instant::now() + Duration::from_secs(15);
    let rows = loop {
        let r = query(
            &influx.url,
            "copies",
            "SELECT value, host, via FROM cpu_copy",
        )
        .await;
        let values = r["results"][0]["series"][0]["values"].clone();
        if values.as_array().is_some_and(|v| v.len() == 3) {
            break values;
        }
        assert!(Instant::now() < deadline, "points never landed: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        rows,
        serde_json::json!([
            ["2023-11-14T22:13:20Z", 1, "a", "kapacitor"],
            ["2023-11-14T22:13:21Z", 2, "b", "kapacitor"],
            ["2023-11-14T22:13:22Z", 3, "a", "kapacitor"]
        ])
    );
    // A partial write: InfluxDB keeps the float and refuses the string
    // (the field is a float there); one line counts as written, one failed.
    write(
        &server,
        "cpu,host=c value=\"oops\" 1700000010\ncpu,host=c value=7 1700000011\n",
    )
    .await;
    let counts = counts_once_failed(&server, "copy", 1, 15).await;
    assert_eq!(counts["written"], 4, "{counts}");
    // InfluxDB goes away: writes fail after their retries, are counted, and
    // the daemon and the task go on.
    let _ = influx.child.kill();
    let _ = influx.child.wait();
    write(
        &server,
        "cpu,host=a value=4 1700000003\ncpu,host=a value=5 1700000004\n",
    )
    .await;
    let counts = counts_once_failed(&server, "copy", 3, 30).await;
    assert_eq!(counts["written"], 4, "{counts}");
    assert!(counts["retried"].as_u64().unwrap() >= 3, "{counts}");
    assert!(server.tasks().get("copy").unwrap().error.is_empty());
    write(&server, "cpu,host=a value=6 1700000005\n").await;
    server.shutdown().await;
}

#[tokio::test]
async fn loopback_feeds_another_task() {
    let (config, _dir) = config("http://127.0.0.1:1");
    let server = Server::start(config).await.unwrap();
    // A reads cpu and writes its doubled value back as cpu2; B alerts on cpu2.
    server
        .tasks()
        .define(task(
            "a",
            "stream\n    |from()\n        .measurement('cpu')\n    |eval(lambda: \"value\" * 2.0)\n        .as('double')\n    |kapacitorLoopback()\n        .database('telegraf')\n        .retentionPolicy('autogen')\n        .measurement('cpu2')\n",
        ))
        .unwrap();
    server
        .tasks()
        .define(task(
            "b",
            "stream\n    |from()\n        .measurement('cpu2')\n    |alert()\n        .crit(lambda: \"double\" > 100.0)\n",
        ))
        .unwrap();
    server.tasks().enable("a").unwrap();
    server.tasks().enable("b").unwrap();
    write(
        &server,
        "cpu value=20 1700000000\ncpu value=60 1700000001\n",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alerts = server.tasks().alert_history().recent(Some("b"), None);
        if let Some(a) = alerts.first() {
            assert_eq!(a.level, "CRITICAL");
            assert_eq!(a.id, "cpu2:nil");
            break;
        }
        assert!(Instant::now() < deadline, "task b never saw cpu2");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A task looping into itself neither blocks nor recurses.
    server
        .tasks()
        .define(task(
            "self",
            "stream\n    |from()\n        .measurement('loop')\n    |kapacitorLoopback()\n        .database('telegraf')\n        .retentionPolicy('autogen')\n        .measurement('loop')\n",
        ))
        .unwrap();
    server.tasks().enable("self").unwrap();
    write(&server, "loop value=1 1700000000\n").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let info = server.tasks().get("self").unwrap();
    assert!(
        info.points_received > 10,
        "it keeps looping: {}",
        info.points_received
    );
    write(&server, "cpu value=1 1700000002\n").await;
    server.shutdown().await;
}

/// What a local HTTP endpoint received: path and query, the headers asked
/// for, and the JSON body.
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<Option<String>>, Value)>>>;

/// Serves on a free loopback port, recording every request's `headers`;
/// answers 200, or NNN to `/status/NNN`.
async fn receiver(headers: &'static [&'static str]) -> (String, Received) {
    let received: Received = Default::default();
    let store = received.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, h: axum::http::HeaderMap, body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                let wanted = headers
                    .iter()
                    .map(|k| h.get(*k).and_then(|v| v.to_str().ok()).map(str::to_owned))
                    .collect();
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
                // `/status/503` answers 503.
                let status = path
                    .strip_prefix("/status/")
                    .and_then(|s| s.parse().ok())
                    .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                    .unwrap_or(axum::http::StatusCode::OK);
                store.lock().unwrap().push((path, wanted, body));
                status
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// httpPost().endpoint(NAME) and alert .post().endpoint(NAME) send to the
/// config's endpoint, with its headers and basic-auth credentials (a
/// node's own header wins), to a real local HTTP server.
#[tokio::test]
async fn named_http_endpoints_carry_their_url_headers_and_credentials() {
    let (url, received) = receiver(&["authorization", "x-team", "x-node"]).await;
    let (mut config, _dir) = config("http://127.0.0.1:1");
    let endpoint = |name: &str, url: String| config::HttpPostConfig {
        endpoint: name.into(),
        url,
        headers: vec![("X-Team".into(), "ops".into())],
        username: "u".into(),
        password: "p".into(),
    };
    config.httppost = vec![
        endpoint("hook", format!("{url}/{{{{.Name}}}}")),
        endpoint("alerts", format!("{url}/alerts")),
    ];
    let server = Server::start(config).await.unwrap();
    let script = "stream|from().measurement('cpu')|httpPost().endpoint('hook').header('X-Node', 'n')|alert().crit(lambda: TRUE).post().endpoint('alerts')";
    server.tasks().define(task("hooked", script)).unwrap();
    server.tasks().enable("hooked").unwrap();
    write(&server, "cpu,host=a value=1 1\n").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "{:?}", received.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut got = received.lock().unwrap().clone();
    got.sort_by_key(|(_, _, body)| body.get("series").is_none());
    let basic = Some("Basic dTpw".to_string());
    let (path, headers, body) = &got[0];
    assert_eq!(path, "/cpu", "httpPost's URL template, from the endpoint");
    assert_eq!(
        headers,
        &[basic.clone(), Some("ops".into()), Some("n".into())]
    );
    assert_eq!(body["series"][0]["tags"]["host"], "a");
    let (path, headers, body) = &got[1];
    assert_eq!(path, "/alerts");
    assert_eq!(headers, &[basic, Some("ops".into()), None]);
    assert_eq!(body["level"], "CRITICAL");
    // An endpoint the config lacks is refused at define, naming it.
    let err = server
        .tasks()
        .define(task("nope", "stream|from()|httpPost().endpoint('nope')"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no endpoint named `nope`"), "{err}");
    server.shutdown().await;
}

/// httpPost().codeField() waits for each answer and adds its status to the
/// point: what a real server answered, or 0 when nothing answered.
#[tokio::test]
async fn code_field_carries_the_real_answer_or_zero() {
    let (url, received) = receiver(&[]).await;
    let (config, _dir) = config("http://127.0.0.1:1");
    let server = Server::start(config).await.unwrap();
    let closed = format!("http://127.0.0.1:{}/", free_port());
    for (id, target) in [
        ("created", format!("{url}/status/201")),
        ("down", format!("{url}/status/503")),
        ("closed", closed),
    ] {
        let script = format!(
            "stream|from().measurement('cpu')|httpPost('{target}').codeField('code').timeout(2s)|httpOut('out')"
        );
        server.tasks().define(task(id, &script)).unwrap();
        server.tasks().enable(id).unwrap();
    }
    write(&server, "cpu,host=a value=1 1\n").await;
    let addr = server.addrs().http.unwrap();
    for (id, code) in [("created", 201), ("down", 503), ("closed", 0)] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = kapacitor_get(addr, &format!("/kapacitor/v1/tasks/{id}/out")).await;
            let columns = out["series"][0]["columns"].clone();
            if let Some(i) = columns
                .as_array()
                .and_then(|c| c.iter().position(|c| c == "code"))
            {
                assert_eq!(out["series"][0]["values"][0][i], code, "{id}: {out}");
                break;
            }
            assert!(Instant::now() < deadline, "{id}: {out}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(received.lock().unwrap().len(), 2);
    server.shutdown().await;
}

/// GETs `path` from the daemon at `addr` as JSON.
async fn kapacitor_get(addr: std::net::SocketAddr, path: &str) -> Value {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    http_json(&addr.to_string(), &req).await
}
