//! Which databases a stream task reads: its script's `dbrp` statements,
//! unless the API, the CLI or its YAML give dbrps (which win), as in
//! Kapacitor; a stream task that says nothing of what it reads is refused,
//! except in the seed's form (`from`/`where`).

use std::time::{Duration, Instant};

use kapacitor::Server;
use serde_json::{Value, json};

mod common;

use common::server_config;

/// One request to the server; its status and JSON body (or null).
fn call(server: &Server, method: &str, target: &str, body: &str) -> (u16, Value) {
    let addr = server.addrs().http.unwrap().to_string();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, body) = common::exchange(&addr, &request, Duration::from_secs(10));
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn write(server: &Server, db: &str, lines: &str) {
    let (status, body) = call(
        server,
        "POST",
        &format!("/write?db={db}&precision=s"),
        lines,
    );
    assert_eq!(status, 204, "{body}");
}

/// The hosts of the alerts task `task` raised.
fn alerted_hosts(server: &Server, task: &str) -> Vec<String> {
    let (_, body) = call(
        server,
        "GET",
        &format!("/kapacitor/v1/alerts?task={task}"),
        "",
    );
    body["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["event"]["data"]["series"][0]["tags"]["host"].as_str())
        .map(str::to_string)
        .collect()
}

/// Waits (a while) until `task` has raised alerts for `hosts`, and then a
/// little longer, to see that no other comes.
fn wait_for_hosts(server: &Server, task: &str, hosts: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alerted_hosts(server, task).len() < hosts.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        alerted_hosts(server, task),
        hosts,
        "{:?}",
        call(server, "GET", &format!("/kapacitor/v1/tasks/{task}"), "")
    );
}

const ALERT: &str = "stream\n    |from()\n        .measurement('cpu')\n    |alert()\n        .crit(lambda: \"usage_idle\" < 70)\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_script_dbrp_routes_and_given_dbrps_win() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(server_config(dir.path())).await.unwrap();
    let script = format!("dbrp \"telegraf\".\"autogen\"\n\n{ALERT}");
    let body = json!({"id": "cpu_alert", "type": "stream", "script": script, "status": "enabled"});
    let (status, task) = call(&server, "POST", "/kapacitor/v1/tasks", &body.to_string());
    assert_eq!(status, 200, "{task}");
    assert_eq!(task["dbrps"], json!([{"db": "telegraf", "rp": "autogen"}]));
    write(&server, "other", "cpu,host=other usage_idle=10 1\n");
    write(&server, "telegraf", "cpu,host=right usage_idle=10 2\n");
    wait_for_hosts(&server, "cpu_alert", &["right"]);

    // Dbrps given with the task replace the script's.
    let body = json!({"dbrps": [{"db": "other", "rp": "autogen"}]});
    let (status, task) = call(
        &server,
        "PATCH",
        "/kapacitor/v1/tasks/cpu_alert",
        &body.to_string(),
    );
    assert_eq!(status, 200, "{task}");
    assert_eq!(task["dbrps"], json!([{"db": "other", "rp": "autogen"}]));
    write(&server, "telegraf", "cpu,host=right usage_idle=10 3\n");
    write(&server, "other", "cpu,host=other usage_idle=10 4\n");
    wait_for_hosts(&server, "cpu_alert", &["right", "other"]);

    // Given none again: the script says.
    let body = json!({"dbrps": []});
    let (_, task) = call(
        &server,
        "PATCH",
        "/kapacitor/v1/tasks/cpu_alert",
        &body.to_string(),
    );
    assert_eq!(task["dbrps"], json!([{"db": "telegraf", "rp": "autogen"}]));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_task_that_names_no_database_is_refused_unless_in_the_seed_form() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(server_config(dir.path())).await.unwrap();
    let body = json!({"id": "t", "type": "stream", "script": ALERT});
    let (status, reply) = call(&server, "POST", "/kapacitor/v1/tasks", &body.to_string());
    assert_eq!(status, 400, "{reply}");
    let error = reply["error"].as_str().unwrap();
    assert!(
        error.starts_with("must specify dbrp: stream task \"t\""),
        "{error}"
    );
    assert!(error.contains("dbrp \"telegraf\".\"autogen\""), "{error}");
    assert!(server.tasks().get("t").is_none());

    // The seed's form says what it reads: a measurement, in every database.
    let body =
        json!({"id": "t", "type": "stream", "script": ALERT, "from": "cpu", "status": "enabled"});
    let (status, reply) = call(&server, "POST", "/kapacitor/v1/tasks", &body.to_string());
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["dbrps"], json!([]));
    write(&server, "a", "cpu,host=a usage_idle=10 1\n");
    write(&server, "b", "cpu,host=b usage_idle=10 2\n");
    wait_for_hosts(&server, "t", &["a", "b"]);
    let body = json!({"id": "w", "type": "stream", "script": ALERT, "where": "host = 'x'"});
    let (status, reply) = call(&server, "POST", "/kapacitor/v1/tasks", &body.to_string());
    assert_eq!(status, 200, "{reply}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tasks_directory_reads_the_script_dbrp_and_refuses_a_task_naming_none() {
    let dir = tempfile::tempdir().unwrap();
    let config = server_config(dir.path());
    let tasks = config.tasks_dir.clone();
    std::fs::create_dir_all(&tasks).unwrap();
    // A dbrp line in the script, none in the YAML.
    std::fs::write(
        tasks.join("scripted.tick"),
        format!("dbrp \"telegraf\".\"autogen\"\n{ALERT}"),
    )
    .unwrap();
    std::fs::write(tasks.join("scripted.yaml"), "type: stream\n").unwrap();
    // Nothing anywhere.
    std::fs::write(tasks.join("nowhere.tick"), ALERT).unwrap();
    std::fs::write(tasks.join("nowhere.yaml"), "type: stream\n").unwrap();
    // The seed's pair: `from` says.
    std::fs::write(tasks.join("seed.tick"), ALERT).unwrap();
    std::fs::write(tasks.join("seed.yaml"), "from: cpu\n").unwrap();
    let server = Server::start(config).await.unwrap();

    let (_, scripted) = call(&server, "GET", "/kapacitor/v1/tasks/scripted", "");
    assert_eq!(
        scripted["dbrps"],
        json!([{"db": "telegraf", "rp": "autogen"}])
    );
    assert_eq!(scripted["status"], "enabled", "{scripted}");
    let (status, _) = call(&server, "GET", "/kapacitor/v1/tasks/nowhere", "");
    assert_eq!(status, 404);
    let (_, status_body) = call(&server, "GET", "/kapacitor/v1/status", "");
    let error = status_body["task_dir"]["errors"]["nowhere"]
        .as_str()
        .unwrap();
    assert!(error.contains("must specify dbrp"), "{error}");

    write(&server, "other", "cpu,host=other usage_idle=10 1\n");
    write(&server, "telegraf", "cpu,host=right usage_idle=10 2\n");
    wait_for_hosts(&server, "scripted", &["right"]);
    wait_for_hosts(&server, "seed", &["other", "right"]);
    server.shutdown().await;
}

/// A task stored before dbrps were required keeps reading what it read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_task_naming_no_database_still_starts() {
    let dir = tempfile::tempdir().unwrap();
    let config = server_config(dir.path());
    let store = storage::Store::open(&config.data_dir).unwrap();
    store
        .put_task(&storage::TaskRecord {
            id: "old".into(),
            task_type: "stream".into(),
            dbrps: vec![],
            script: ALERT.into(),
            meta: Default::default(),
            enabled: true,
            created: 0,
            modified: 0,
            last_enabled: Some(0),
            error: String::new(),
        })
        .unwrap();
    drop(store);
    let server = Server::start(config).await.unwrap();
    assert_eq!(server.tasks().get("old").map(|t| t.executing), Some(true));
    write(&server, "any", "cpu,host=a usage_idle=10 1\n");
    wait_for_hosts(&server, "old", &["a"]);
    server.shutdown().await;
}
