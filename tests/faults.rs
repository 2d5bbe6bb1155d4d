//! Faults of the daemon's own files: a record in the store that cannot be
//! read is moved aside and reported, and every other task still starts.

use kapacitor::Server;
use kapacitor::tasks::TaskDefinition;

mod common;

use common::server_config as config;

fn task(id: &str) -> TaskDefinition {
    TaskDefinition {
        id: id.into(),
        task_type: dsl::TaskType::Stream,
        dbrps: vec![pipeline::DbRp::new("telegraf", "autogen")],
        script: "stream|from().measurement('cpu')|log()".into(),
        measurement: None,
        meta: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_stored_task_is_quarantined_and_the_others_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path())).await.unwrap();
    for id in ["good", "broken"] {
        server.tasks().define(task(id)).unwrap();
        server.tasks().enable(id).unwrap();
    }
    server.shutdown().await;

    // What a bad disk or a hand edit may leave behind.
    {
        let db = redb::Database::open(dir.path().join("data").join(storage::FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(storage::TASKS)
            .unwrap()
            .insert("broken", "{\"id\": \"broken\", \"scr")
            .unwrap();
        txn.commit().unwrap();
    }

    let server = Server::start(config(dir.path()))
        .await
        .expect("starts anyway");
    let url = server.http_url().unwrap();
    let status: serde_json::Value = get_json(&format!("{url}/kapacitor/v1/status")).await;
    let tasks = status["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{status}");
    assert_eq!(tasks[0]["id"], "good");
    assert_eq!(tasks[0]["status"], "enabled", "{status}");
    let quarantined = &status["store"]["quarantined"];
    assert_eq!(quarantined[0]["key"], "broken", "{status}");
    assert_eq!(quarantined[0]["table"], "tasks_v1", "{status}");
    assert!(
        quarantined[0]["error"]
            .as_str()
            .unwrap()
            .contains("bad record"),
        "{status}"
    );
    // The name is free again.
    server.tasks().define(task("broken")).unwrap();
    server.shutdown().await;
}

/// GET `url` and parse the JSON answer.
async fn get_json(url: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {reply}"))
}
