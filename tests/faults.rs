//! Faults of the daemon's own files: a record in the store that cannot be
//! read is moved aside and reported, and every other task still starts; a
//! store that cannot write (disk full) refuses changes with a clear error
//! while ingest and the running tasks go on, and works again once it can.

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

/// Sets kapacitord's file size limit (RLIMIT_FSIZE, `ulimit -f`): with 0,
/// every write to a file fails (EFBIG) as on a full disk, also for root,
/// whom a read-only chmod would not stop.
/// `None`: back to the limit this test process has (the daemon's at start).
fn limit_file_size(d: &common::Daemon, bytes: Option<u64>) {
    use rustix::process::{Pid, Resource, Rlimit, getrlimit, prlimit};
    let pid = Pid::from_raw(d.spawned.child.id() as i32);
    let ours = getrlimit(Resource::Fsize);
    let new = Rlimit {
        current: bytes.or(ours.current),
        maximum: ours.maximum,
    };
    prlimit(pid, Resource::Fsize, new).expect("prlimit on our own child");
}

#[test]
fn a_store_that_cannot_write_is_a_clear_error_and_the_daemon_goes_on() {
    let mut d = common::Daemon::start("");
    let script = "stream|from().measurement('cpu')|httpOut('last')";
    let (status, body) = d.define("before", script, "");
    assert_eq!(status, 200, "{body}");

    limit_file_size(&d, Some(0));
    let (status, body) = d.define("during", script, "");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("cannot save the change, so nothing changed")
            && body.contains(storage::FILE_NAME)
            && body.contains("File too large"),
        "{body}"
    );
    // Nothing of it is in memory either, and deleting is refused whole.
    let (status, _) = d.request("GET", "/kapacitor/v1/tasks/during", &[], b"");
    assert_eq!(status, 404);
    let (status, body) = d.request("DELETE", "/kapacitor/v1/tasks/before", &[], b"");
    assert_eq!(status, 500, "{body}");
    // Ingest and the running task go on.
    assert_eq!(d.write("cpu value=42\n").0, 204);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = d.get_json("/kapacitor/v1/tasks/before/last");
        if out["series"][0]["values"][0][1] == 42.0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{out}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    d.assert_alive();

    // Space is back: the store works again, without a restart.
    limit_file_size(&d, None);
    let (status, body) = d.define("during", script, "");
    assert_eq!(status, 200, "{body}");
    let (status, body) = d.request("DELETE", "/kapacitor/v1/tasks/before", &[], b"");
    assert_eq!(status, 204, "{body}");
    let log = d.spawned.log();
    assert!(
        log.contains("file size limit"),
        "SIGXFSZ was taken, not fatal: {log}"
    );
}
