//! A write meets a task with no room: by default it waits, then is refused
//! whole with 503 and Retry-After (Telegraf keeps the batch and sends it
//! again), never acknowledged and then lost; a task with `overflow: drop`
//! never holds a write up and counts what it drops.

use std::time::{Duration, Instant};

use config::DaemonConfig;
use kapacitor::Server;
use kapacitor::tasks::TaskDefinition;

mod common;

fn config(dir: &std::path::Path) -> DaemonConfig {
    let mut c = common::server_config(dir);
    c.pipeline.inbox_points = 100;
    c.ingest.backpressure_timeout = Duration::from_millis(300);
    c
}

/// A task stuck on its first point: `codeField` waits for an answer the
/// silent endpoint never gives.
fn stuck(id: &str, silent: std::net::SocketAddr, overflow: Option<&str>) -> TaskDefinition {
    TaskDefinition {
        id: id.into(),
        task_type: dsl::TaskType::Stream,
        dbrps: vec![],
        script: format!(
            "dbrp \"telegraf\".\"autogen\"\nstream|from().measurement('cpu')|httpPost('http://{silent}/').codeField('code').timeout(60s)"
        ),
        measurement: None,
        meta: overflow
            .map(|o| [("overflow".to_string(), o.to_string())].into())
            .unwrap_or_default(),
    }
}

fn lines(n: usize, from: usize) -> String {
    (from..from + n)
        .map(|i| {
            format!(
                "cpu,host=h{i} v=1 {}\n",
                1_700_000_000_000_000_000i64 + i as i64
            )
        })
        .collect()
}

/// POST /write; the status, the Retry-After header and the body.
fn post(url: &str, body: &str) -> (u16, Option<String>, String) {
    let addr = url.trim_start_matches("http://");
    let request = format!(
        "POST /write?db=telegraf HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    use std::io::{Read, Write};
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let retry_after = reply.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("retry-after:")
            .map(|v| v.trim().to_string())
    });
    let body = reply
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, retry_after, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_a_full_task_cannot_take_is_refused_whole_with_503_not_lost() {
    let (silent, _held) = common::silent_http();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path())).await.unwrap();
    let url = server.http_url().unwrap();
    server.tasks().define(stuck("stuck", silent, None)).unwrap();
    server.tasks().enable("stuck").unwrap();

    // The inbox holds 100 points; the task takes the first write and hangs
    // on its first point, the next fills the inbox, and then no more fit.
    let u = url.clone();
    let answers = tokio::task::spawn_blocking(move || {
        let mut answers = Vec::new();
        for i in 0..4 {
            let started = Instant::now();
            let answer = post(&u, &lines(100, 100 * i));
            let refused = answer.0 == 503;
            answers.push((started.elapsed(), answer));
            if refused {
                break;
            }
        }
        answers
    })
    .await
    .unwrap();
    let accepted = answers.iter().filter(|(_, a)| a.0 == 204).count();
    assert!((1..=2).contains(&accepted), "{answers:?}");
    let (waited, (status, retry_after, body)) = answers.last().unwrap();
    assert_eq!(*status, 503, "{answers:?}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(
        body.contains("100 points") && body.contains("backpressure_timeout"),
        "{body}"
    );
    assert!(
        *waited >= Duration::from_millis(300),
        "answered after {waited:?}"
    );
    let router = &server.state().router;
    assert_eq!(router.refused_points(), 100);
    assert_eq!(router.dropped_points(), 0, "nothing acknowledged was lost");

    // The same task, opting into drops: the write is taken at once.
    server
        .tasks()
        .define(stuck("stuck", silent, Some("drop")))
        .unwrap();
    server.tasks().enable("stuck").unwrap();
    let u = url.clone();
    let writes = tokio::task::spawn_blocking(move || {
        (0..3)
            .map(|i| post(&u, &lines(100, 1000 + 100 * i)).0)
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(writes, [204, 204, 204]);
    assert!(
        router.dropped_points() >= 100,
        "counted: {}",
        router.dropped_points()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_overflow_setting_is_refused_at_define() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path())).await.unwrap();
    let err = server
        .tasks()
        .define(stuck("t", "127.0.0.1:9".parse().unwrap(), Some("maybe")))
        .unwrap_err();
    assert!(err.to_string().contains("block or drop"), "{err}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_writer_is_slowed_then_its_points_are_dropped_and_counted() {
    let (silent, _held) = common::silent_http();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path())).await.unwrap();
    server.tasks().define(stuck("stuck", silent, None)).unwrap();
    server.tasks().enable("stuck").unwrap();
    let tcp = server.addrs().tcp.unwrap();
    // Each line is its own read, so each is its own write into the router.
    let mut stream = tokio::net::TcpStream::connect(tcp).await.unwrap();
    use tokio::io::AsyncWriteExt;
    let started = Instant::now();
    for i in 0..4 {
        stream
            .write_all(lines(100, 100 * i).as_bytes())
            .await
            .unwrap();
        stream.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(stream);
    let router = &server.state().router;
    // Nothing a TCP writer could be told of: what waited too long is
    // dropped, counted, and the connection was held back meanwhile.
    let deadline = Instant::now() + Duration::from_secs(10);
    while router.dropped_points() < 100 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        router.dropped_points() >= 100,
        "dropped {}",
        router.dropped_points()
    );
    assert_eq!(router.dropped_points() % 100, 0, "whole writes only");
    assert_eq!(router.refused_points(), 0);
    assert!(started.elapsed() >= Duration::from_millis(300));
    server.shutdown().await;
}
