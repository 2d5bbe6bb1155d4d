//! InfluxDB subscriptions against a real InfluxDB 1.x (`influxd`, started
//! here on loopback): kapacitord subscribes itself to every database and
//! retention policy, what is written to InfluxDB then reaches its stream
//! tasks, a restart reuses its subscriptions, stale ones of its own go and
//! others' stay, and an InfluxDB that is down or refuses it is an error in
//! the status while everything else runs.

use std::time::Duration;

use config::{DaemonConfig, InfluxDbConfig, SubscriptionProtocol};
use kapacitor::Server;
use kapacitor::subscriptions::ConnectionStatus;
use kapacitor::tasks::TaskDefinition;
use serde_json::Value;

mod common;
use common::influxd::{Influxd, create_database, free_port, influxd, influxd_with, query, write};
use common::{eventually, get};

/// A connection to `url` that syncs every second.
fn connection(url: &str) -> InfluxDbConfig {
    InfluxDbConfig {
        urls: vec![url.to_string()],
        timeout: Duration::from_secs(2),
        subscriptions_sync_interval: Duration::from_secs(1),
        ..InfluxDbConfig::default()
    }
}

fn config(dir: &std::path::Path, server: InfluxDbConfig) -> DaemonConfig {
    let mut c = DaemonConfig::default();
    let lo = "127.0.0.1:0".parse().unwrap();
    (c.http.bind, c.udp.bind, c.tcp.bind) = (lo, lo, lo);
    c.data_dir = dir.join("data");
    c.tasks_dir = dir.join("tasks");
    c.influxdb = vec![server];
    c
}

/// A subscription as `SHOW SUBSCRIPTIONS` lists it: db, rp, name and
/// destinations.
#[derive(Debug, PartialEq)]
struct Sub {
    db: String,
    rp: String,
    name: String,
    destinations: Vec<String>,
}

async fn subscriptions(influx: &Influxd) -> Vec<Sub> {
    let answer = query(&influx.url, "", "SHOW SUBSCRIPTIONS").await;
    let mut out = Vec::new();
    for series in answer["results"][0]["series"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for row in series["values"].as_array().into_iter().flatten() {
            out.push(Sub {
                db: series["name"].as_str().unwrap_or_default().into(),
                rp: row[0].as_str().unwrap_or_default().into(),
                name: row[1].as_str().unwrap_or_default().into(),
                destinations: row[3]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.as_str().map(String::from))
                    .collect(),
            });
        }
    }
    out
}

/// Waits up to `secs` for InfluxDB's subscriptions to satisfy `ok`.
async fn subscriptions_once(influx: &Influxd, secs: u64, ok: impl Fn(&[Sub]) -> bool) -> Vec<Sub> {
    eventually(secs, async || {
        let subs = subscriptions(influx).await;
        if ok(&subs) {
            Ok(subs)
        } else {
            Err(format!("{subs:?}"))
        }
    })
    .await
}

fn status(server: &Server) -> ConnectionStatus {
    server.state().subscriptions.status().connections[0].clone()
}

/// Waits up to `secs` for the first connection's status to satisfy `ok`.
async fn status_once(
    server: &Server,
    secs: u64,
    ok: impl Fn(&ConnectionStatus) -> bool,
) -> ConnectionStatus {
    eventually(secs, async || {
        let s = status(server);
        if ok(&s) { Ok(s) } else { Err(format!("{s:?}")) }
    })
    .await
}

fn name(server: &Server) -> String {
    format!("kapacitor-{}", server.state().cluster_id)
}

fn stream_task(id: &str, dbrp: &str) -> TaskDefinition {
    TaskDefinition {
        id: id.into(),
        task_type: dsl::TaskType::Stream,
        dbrps: vec![dbrp.parse().unwrap()],
        script: "stream\n    |from()\n        .measurement('cpu')\n    |alert()\n        .crit(lambda: \"value\" > 10)\n".into(),
        measurement: None,
        meta: Default::default(),
    }
}

/// Writes a critical point into InfluxDB every 200 ms until the task has
/// alerted on it, for up to `secs`: InfluxDB starts pushing to a new
/// subscription on its own time.
async fn alerts_through_influxdb(
    server: &Server,
    influx: &Influxd,
    db: &str,
    task: &str,
    secs: u64,
) {
    eventually(secs, async || {
        let now = host::wall_clock_ns();
        write(&influx.url, db, &format!("cpu,host=a value=20 {now}\n")).await;
        let alerts = server
            .tasks()
            .alert_history()
            .recent(Some(task), Some("CRITICAL"));
        match alerts.is_empty() {
            false => Ok(()),
            true => Err(format!(
                "no alert from points written to InfluxDB: {:?} {:?}",
                server.tasks().get(task).map(|t| t.points_received),
                status(server)
            )),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_writes_reach_a_stream_task_through_a_subscription_made_for_every_database() {
    let influx = influxd();
    create_database(&influx.url, "db").await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path(), connection(&influx.url)))
        .await
        .unwrap();
    let ours = name(&server);
    let url = server.http_url().unwrap();
    server
        .tasks()
        .define(stream_task("cpu", "db.autogen"))
        .unwrap();
    server.tasks().enable("cpu").unwrap();
    let subs = subscriptions_once(&influx, 20, |s| !s.is_empty()).await;
    assert_eq!(
        subs,
        vec![Sub {
            db: "db".into(),
            rp: "autogen".into(),
            name: ours.clone(),
            destinations: vec![url.clone()],
        }]
    );
    alerts_through_influxdb(&server, &influx, "db", "cpu", 20).await;

    // A database made later, and a retention policy, get theirs at the
    // next sync.
    create_database(&influx.url, "later").await;
    query(
        &influx.url,
        "",
        "CREATE RETENTION POLICY \"week\" ON \"db\" DURATION 7d REPLICATION 1",
    )
    .await;
    let subs = subscriptions_once(&influx, 20, |s| s.len() == 3).await;
    assert!(
        subs.iter()
            .all(|s| s.name == ours && s.destinations == [url.clone()]),
        "{subs:?}"
    );
    let s = status_once(&server, 10, |s| s.subscribed.len() == 3).await;
    assert_eq!(s.error, "");
    assert_eq!(s.destination, url);
    assert_eq!(s.created, 3);
    assert!(s.last_success.is_some());

    // The status and /metrics show it.
    let (code, body) = get(&server, "/kapacitor/v1/status");
    assert_eq!(code, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["subscriptions"]["name"], ours.as_str());
    assert_eq!(
        json["cluster_id"].as_str(),
        Some(server.state().cluster_id.as_str())
    );
    let c = &json["subscriptions"]["connections"][0];
    assert_eq!(c["cluster"], "default");
    assert_eq!(c["error"], "");
    assert!(
        c["subscribed"]
            .as_array()
            .unwrap()
            .contains(&Value::from("\"later\".\"autogen\"")),
        "{c}"
    );
    let (_, metrics) = get(&server, "/metrics");
    assert!(
        metrics.contains("kapacitor_subscriptions{cluster=\"default\"} 3"),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reuses_its_subscriptions_drops_stale_ones_of_its_own_and_leaves_the_rest() {
    let influx = influxd();
    for db in ["db", "other", "skipped"] {
        create_database(&influx.url, db).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), connection(&influx.url));
    c.influxdb[0].excluded_subscriptions = vec![("skipped".into(), vec![])];
    let server = Server::start(c.clone()).await.unwrap();
    let ours = name(&server);
    let first_url = server.http_url().unwrap();
    subscriptions_once(&influx, 20, |s| s.len() == 2).await;
    let s = status_once(&server, 10, |s| s.subscribed.len() == 2).await;
    assert_eq!(
        s.subscribed,
        ["\"db\".\"autogen\"", "\"other\".\"autogen\""]
    );
    server.shutdown().await;

    // Meanwhile: someone else's subscription, one of ours on the excluded
    // database, and one of ours sending elsewhere.
    for q in [
        "CREATE SUBSCRIPTION \"someone\" ON \"db\".\"autogen\" DESTINATIONS ANY 'http://127.0.0.1:1'".to_string(),
        format!(
            "CREATE SUBSCRIPTION \"{ours}\" ON \"skipped\".\"autogen\" DESTINATIONS ANY '{first_url}'"
        ),
        format!("DROP SUBSCRIPTION \"{ours}\" ON \"other\".\"autogen\""),
        format!(
            "CREATE SUBSCRIPTION \"{ours}\" ON \"other\".\"autogen\" DESTINATIONS ANY 'http://127.0.0.1:1'"
        ),
    ] {
        let r = query(&influx.url, "", &q).await;
        assert!(r["results"][0]["error"].is_null(), "{q}: {r}");
    }

    // The same data dir and address: the same name, nothing new for
    // "db", the stale one made again, the excluded one gone.
    c.http.bind = server_addr(&first_url);
    let server = Server::start(c).await.unwrap();
    assert_eq!(name(&server), ours);
    let s = status_once(&server, 20, |s| s.syncs >= 1 && s.error.is_empty()).await;
    assert_eq!(
        (s.created, s.dropped),
        (1, 2),
        "only the stale one is made again: {s:?}"
    );
    let mut subs = subscriptions(&influx).await;
    subs.sort_by(|a, b| (&a.db, &a.name).cmp(&(&b.db, &b.name)));
    let sub = |db: &str, name: &str, to: &str| Sub {
        db: db.into(),
        rp: "autogen".into(),
        name: name.into(),
        destinations: vec![to.into()],
    };
    assert_eq!(
        subs,
        vec![
            sub("db", &ours, &first_url),
            sub("db", "someone", "http://127.0.0.1:1"),
            sub("other", &ours, &first_url),
        ]
    );
    server.shutdown().await;
}

fn server_addr(url: &str) -> std::net::SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_subscriptions_makes_none() {
    let influx = influxd();
    create_database(&influx.url, "db").await;
    let off_dir = tempfile::tempdir().unwrap();
    let mut off = connection(&influx.url);
    off.disable_subscriptions = true;
    let off = Server::start(config(off_dir.path(), off)).await.unwrap();
    // A second daemon that does subscribe: once its subscription is
    // there, the first, started before it, would have made its own.
    let on_dir = tempfile::tempdir().unwrap();
    let on = Server::start(config(on_dir.path(), connection(&influx.url)))
        .await
        .unwrap();
    let subs = subscriptions_once(&influx, 20, |s| !s.is_empty()).await;
    status_once(&on, 10, |s| s.syncs >= 2).await;
    let subs_later = subscriptions(&influx).await;
    assert_eq!(subs, subs_later);
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0].name, name(&on));
    assert_ne!(name(&on), name(&off));
    let s = status(&off);
    assert!(!s.enabled);
    assert_eq!(s.syncs, 0);
    off.shutdown().await;
    on.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_down_is_an_error_in_the_status_stream_tasks_run_and_it_subscribes_once_up() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path(), connection(&url)))
        .await
        .unwrap();
    server
        .tasks()
        .define(stream_task("cpu", "db.autogen"))
        .unwrap();
    server.tasks().enable("cpu").unwrap();
    let s = status_once(&server, 10, |s| s.failed_syncs >= 1).await;
    assert!(s.error.contains("refused"), "{s:?}");
    assert!(s.last_success.is_none());
    assert!(s.next_sync.is_some());
    // Writes straight to kapacitord still reach the task.
    let addr = server.addrs().http.unwrap().to_string();
    let line = "cpu,host=a value=20";
    let (code, body) = common::exchange(
        &addr,
        &format!(
            "POST /write?db=db HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{line}",
            line.len()
        ),
        Duration::from_secs(5),
    );
    assert_eq!(code, 204, "{body}");
    eventually(10, async || {
        let alerts = server.tasks().alert_history().recent(Some("cpu"), None);
        if alerts.is_empty() {
            Err("the stream task never alerted".into())
        } else {
            Ok(())
        }
    })
    .await;
    let (_, metrics) = get(&server, "/metrics");
    assert!(
        metrics.contains("kapacitor_subscription_last_sync_failed{cluster=\"default\"} 1"),
        "{metrics}"
    );

    // InfluxDB comes up: the next try subscribes.
    let influx = influxd_with(port, "");
    create_database(&influx.url, "db").await;
    subscriptions_once(&influx, 20, |s| s.len() == 1).await;
    let s = status_once(&server, 10, |s| s.error.is_empty()).await;
    assert!(s.failed_syncs >= 1 && s.last_success.is_some(), "{s:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_an_error_and_good_ones_subscribe() {
    let influx = influxd_with(free_port(), "  auth-enabled = true");
    // The first admin may be made without credentials.
    eventually(30, async || {
        let q = "CREATE USER \"admin\" WITH PASSWORD 'secret' WITH ALL PRIVILEGES";
        let r = query(&influx.url, "", q).await;
        if r["results"][0]["statement_id"] == 0 {
            Ok(())
        } else {
            Err(format!("{r}"))
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path(), connection(&influx.url)))
        .await
        .unwrap();
    let s = status_once(&server, 10, |s| s.failed_syncs >= 1).await;
    assert!(s.error.contains("InfluxDB answered 401"), "{s:?}");
    server.shutdown().await;

    let mut good = connection(&influx.url);
    good.username = "admin".into();
    good.password = "secret".into();
    let server = Server::start(config(dir.path(), good)).await.unwrap();
    let s = status_once(&server, 10, |s| s.syncs >= 1).await;
    assert_eq!(s.error, "", "{s:?}");
    // No database yet: nothing to subscribe to, and nothing failed.
    assert!(s.subscribed.is_empty());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_subscriptions_get_a_socket_each_and_keep_its_port_across_a_restart() {
    let influx = influxd();
    create_database(&influx.url, "db").await;
    let dir = tempfile::tempdir().unwrap();
    let mut udp = connection(&influx.url);
    udp.subscription_protocol = SubscriptionProtocol::Udp;
    let c = config(dir.path(), udp);
    let server = Server::start(c.clone()).await.unwrap();
    server
        .tasks()
        .define(stream_task("cpu", "db.autogen"))
        .unwrap();
    server.tasks().enable("cpu").unwrap();
    let subs = subscriptions_once(&influx, 20, |s| s.len() == 1).await;
    let to = subs[0].destinations[0].clone();
    assert!(to.starts_with("udp://127.0.0.1:"), "{to}");
    // Not the UDP listener's port: that one is telegraf.autogen's.
    assert_ne!(
        to,
        format!("udp://{}", server.addrs().udp.unwrap()),
        "a socket of its own"
    );
    alerts_through_influxdb(&server, &influx, "db", "cpu", 20).await;
    server.shutdown().await;

    let server = Server::start(c).await.unwrap();
    let s = status_once(&server, 20, |s| s.syncs >= 1).await;
    assert_eq!(
        (s.error.as_str(), s.created, s.dropped),
        ("", 0, 0),
        "{s:?}"
    );
    assert_eq!(subscriptions(&influx).await[0].destinations, [to]);
    server.shutdown().await;
}
