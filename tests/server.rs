//! Black-box tests of a real server on port 0: real sockets, the bytes real
//! clients send (Telegraf's chunked gzip, InfluxDB subscriptions, the influx
//! CLI handshake), and the counters a user reads from the status endpoint.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use config::{DaemonConfig, UserConfig};
use kapacitor::Server;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

mod common;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn test_config() -> (DaemonConfig, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DaemonConfig::default();
    config.http.bind = loopback();
    config.udp.bind = loopback();
    config.tcp.bind = loopback();
    config.data_dir = dir.path().join("data");
    config.tasks_dir = dir.path().join("tasks");
    config.influxdb[0].disable_subscriptions = true;
    (config, dir)
}

async fn start() -> (Server, tempfile::TempDir) {
    let (config, dir) = test_config();
    (Server::start(config).await.expect("server starts"), dir)
}

/// A response as a client sees it.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .expect("error is a string")
            .to_string()
    }
}

/// Sends raw request bytes over a fresh connection and reads the response
/// to EOF (requests say `Connection: close`).
async fn raw(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[&str],
    body: &[u8],
) -> Reply {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes).await
}

async fn post(addr: SocketAddr, target: &str, body: &str) -> Reply {
    request(addr, "POST", target, &[], body.as_bytes()).await
}

async fn status(addr: SocketAddr) -> Value {
    let reply = request(addr, "GET", "/kapacitor/v1/status", &[], b"").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

/// Counters of one db/rp on one listener, once they reach `points`
/// (UDP and TCP are asynchronous, so poll briefly).
async fn wait_for_points(addr: SocketAddr, listener: &str, dbrp: &str, points: u64) -> Value {
    for _ in 0..200 {
        let s = status(addr).await;
        let c = &s["listeners"][listener]["dbrps"][dbrp];
        if c["points"].as_u64() >= Some(points) {
            return c.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{listener} {dbrp} never reached {points} points: {}",
        status(addr).await
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[tokio::test]
async fn write_answers_204_and_counts_points_per_dbrp() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    let reply = post(
        addr,
        "/write?db=telegraf&rp=autogen",
        "cpu,host=a v=1 1\nmem,host=a used=3i 1\n",
    )
    .await;
    assert_eq!((reply.status, reply.body.as_str()), (204, ""));
    assert!(reply.header("x-kapacitor-version").is_some());
    // No rp: the configured default retention policy.
    let reply = post(addr, "/kapacitor/v1/write?db=telegraf", "cpu v=2 2").await;
    assert_eq!(reply.status, 204);
    let c = wait_for_points(addr, "http", "telegraf.autogen", 3).await;
    assert_eq!(c["points"], 3);
    assert_eq!(c["parse_errors"], 0);
    let s = status(addr).await;
    assert_eq!(s["listeners"]["http"]["requests"], 2);
    assert_eq!(s["router"]["unrouted_points"], 3);
    server.shutdown().await;
}

#[tokio::test]
async fn telegraf_chunked_gzip_write_is_accepted() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    let lines = "cpu,cpu=cpu0,host=h1 usage_idle=99.5,usage_user=0.5 1700000000000000000\n\
                 cpu,cpu=cpu1,host=h1 usage_idle=98,usage_user=2 1700000000000000000\n";
    let body = gzip(lines.as_bytes());
    // As Go's net/http streams a body without Content-Length: chunked,
    // split into two chunks.
    let (a, b) = body.split_at(body.len() / 2);
    let mut req = format!(
        "POST /write?db=telegraf HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: Telegraf/1.39.3 Go/1.25\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Encoding: gzip\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in [a, b] {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let reply = raw(addr, &req).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    let c = wait_for_points(addr, "http", "telegraf.autogen", 2).await;
    assert_eq!(c["points"], 2);
    server.shutdown().await;
}

#[tokio::test]
async fn gzip_header_with_plain_body_is_a_json_400() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    let reply = request(
        addr,
        "POST",
        "/write?db=x",
        &["Content-Encoding: gzip"],
        b"cpu v=1",
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "gzip: invalid header");
    server.shutdown().await;
}

#[tokio::test]
async fn query_handshake_of_telegraf_and_influx_cli() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    // Telegraf: form body.
    let reply = request(
        addr,
        "POST",
        "/query",
        &["Content-Type: application/x-www-form-urlencoded"],
        b"q=CREATE+DATABASE+%22telegraf%22",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        serde_json::json!({"results": [{"statement_id": 0}]})
    );
    // influx -import: query string, empty body.
    let reply = request(
        addr,
        "POST",
        "/query?db=&epoch=ns&q=CREATE+DATABASE+imp%0A",
        &[],
        b"",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Anything else is a JSON 400, never a non-JSON body.
    let reply = request(addr, "GET", "/query?q=SELECT+*+FROM+cpu", &[], b"").await;
    assert_eq!(reply.status, 400);
    assert!(reply.error().contains("CREATE DATABASE"));
    server.shutdown().await;
}

#[tokio::test]
async fn ping_answers_204_on_both_paths() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    for path in ["/ping", "/kapacitor/v1/ping"] {
        for method in ["GET", "HEAD"] {
            let reply = request(addr, method, path, &[], b"").await;
            assert_eq!(reply.status, 204, "{method} {path}");
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn partial_write_keeps_good_lines_and_names_bad_ones() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    let body = "cpu v=1 1\ngarbage\ncpu v=2 2\ncpu v=oops 3\ncpu v=4 4\n";
    let reply = post(addr, "/write?db=db&rp=rp", body).await;
    assert_eq!(reply.status, 400);
    let error = reply.error();
    assert!(error.starts_with("partial write: "), "{error}");
    assert!(
        error.contains("line 2: unable to parse 'garbage': missing fields"),
        "{error}"
    );
    assert!(
        error.contains("line 4: unable to parse 'cpu v=oops 3': invalid boolean"),
        "{error}"
    );
    assert!(error.ends_with("dropped=2"), "{error}");
    assert!(reply.header("x-influxdb-error").is_some());
    let c = wait_for_points(addr, "http", "db.rp", 3).await;
    assert_eq!(
        (c["points"].as_u64(), c["parse_errors"].as_u64()),
        (Some(3), Some(2))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn all_bad_write_is_400_without_partial_prefix() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    let reply = post(addr, "/write?db=db", "garbage\nmore garbage\n").await;
    assert_eq!(reply.status, 400);
    let error = reply.error();
    assert!(
        error.starts_with("line 1: unable to parse 'garbage'"),
        "{error}"
    );
    assert!(!error.contains("partial write"), "{error}");
    let s = status(addr).await;
    assert_eq!(
        s["listeners"]["http"]["dbrps"]["db.autogen"]["parse_errors"],
        2
    );
    server.shutdown().await;
}

#[tokio::test]
async fn missing_db_and_bad_precision_are_json_400s() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    let reply = post(addr, "/write", "cpu v=1").await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (400, "database is required")
    );
    let reply = post(addr, "/write?db=x&precision=fortnight", "cpu v=1").await;
    assert_eq!(reply.status, 400);
    assert!(reply.error().contains("invalid precision"));
    server.shutdown().await;
}

#[tokio::test]
async fn precision_scales_timestamps() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    for p in ["n", "ns", "u", "ms", "s", "m", "h"] {
        let reply = post(addr, &format!("/write?db=p&precision={p}"), "cpu v=1 1").await;
        assert_eq!(reply.status, 204, "precision {p}: {}", reply.body);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn body_over_the_limit_is_413_declared_or_chunked() {
    let (mut config, _dir) = test_config();
    config.http.max_body_size = 1000;
    let server = Server::start(config).await.unwrap();
    let addr = server.addrs().http.unwrap();
    let big = "cpu v=1 1\n".repeat(200);
    let reply = post(addr, "/write?db=x", &big).await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (
            413,
            "Request Entity Too Large: the body is over 1000 bytes (http.max_body_size)"
        )
    );
    // Chunked, so the size is only known while reading.
    let mut req = format!(
        "POST /write?db=x HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in big.as_bytes().chunks(300) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(raw(addr, &req).await.status, 413);
    let breaches = server
        .state()
        .stats
        .breaches
        .get(model::Limit::HttpMaxBodySize);
    assert_eq!(breaches, 2, "each refusal counted");
    // A gzip body that inflates past the limit.
    let reply = request(
        addr,
        "POST",
        "/write?db=x",
        &["Content-Encoding: gzip"],
        &gzip(big.as_bytes()),
    )
    .await;
    assert_eq!(reply.status, 413);
    // Just under the limit is fine.
    let reply = post(addr, "/write?db=x", &"cpu v=1 1\n".repeat(100)).await;
    assert_eq!(reply.status, 204);
    server.shutdown().await;
}

#[tokio::test]
async fn v2_write_maps_bucket_to_db_and_rp() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    let reply = request(
        addr,
        "POST",
        "/api/v2/write?org=my-org&bucket=telegraf%2Fweekly&precision=s",
        &["Authorization: Token my-token"],
        b"cpu,host=a v=1 1700000000",
    )
    .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    wait_for_points(addr, "http", "telegraf.weekly", 1).await;
    let reply = post(addr, "/api/v2/write?org=o&bucket=plain", "cpu v=1").await;
    assert_eq!(reply.status, 204);
    wait_for_points(addr, "http", "plain.autogen", 1).await;
    server.shutdown().await;
}

#[tokio::test]
async fn influxdb_subscription_push_is_a_write() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    // As captured from InfluxDB 1.6.7: empty Content-Type, precision=ns.
    let reply = request(
        addr,
        "POST",
        "/write?consistency=&db=telegraf&precision=ns&rp=autogen",
        &[
            "User-Agent: InfluxDBClient",
            "Content-Type:",
            "Accept-Encoding: gzip",
        ],
        b"cpu,cpu=cpu0,host=a usage_idle=99.5,usage_user=0.5 1700000000000000000\n\
          mem,host=a used=123i,avail=4.5 1700000000000000000",
    )
    .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    wait_for_points(addr, "http", "telegraf.autogen", 2).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_bad_byte_never_loses_good_lines_or_the_daemon() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    let mut body = b"cpu v=1 1\n".to_vec();
    body.extend_from_slice(b"cpu,host=\xff\xfe v=2 2\n\x01\x02\x03\ncpu v=1\xff 2\n");
    body.extend_from_slice(b"cpu v=3 3\n");
    // An unbalanced quote runs to the end of the body, as in InfluxDB 1.x:
    // a newline inside a quoted string does not end the line.
    body.extend_from_slice(b"cpu v=\"open 4\n");
    let reply = request(addr, "POST", "/write?db=bytes", &[], &body).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.error().starts_with("partial write"), "{}", reply.body);
    let c = wait_for_points(addr, "http", "bytes.autogen", 2).await;
    assert_eq!(c["points"], 2);
    // Still serving.
    assert_eq!(request(addr, "GET", "/ping", &[], b"").await.status, 204);
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_are_json_404() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    let reply = request(addr, "GET", "/nope", &[], b"").await;
    assert_eq!(reply.status, 404);
    assert!(reply.json()["error"].is_string());
    server.shutdown().await;
}

#[tokio::test]
async fn udp_single_and_multi_line_datagrams() {
    let (server, _dir) = start().await;
    let http = server.addrs().http.unwrap();
    let udp = server.addrs().udp.unwrap();
    let client = UdpSocket::bind(loopback()).await.unwrap();
    // Telegraf: one line per datagram with a newline; InfluxDB subscriptions: without.
    client.send_to(b"cpu,host=a v=1 1\n", udp).await.unwrap();
    client.send_to(b"cpu,host=a v=2 2", udp).await.unwrap();
    // python influxdb: many lines in one datagram, one of them bad: the good ones stay.
    client
        .send_to(b"cpu,host=b v=1.0\nbad\nmem used=5i\n", udp)
        .await
        .unwrap();
    let c = wait_for_points(http, "udp", "telegraf.autogen", 4).await;
    assert_eq!(c["points"], 4);
    assert_eq!(c["parse_errors"], 1);
    let s = status(http).await;
    assert_eq!(s["listeners"]["udp"]["datagrams"], 3);
    server.shutdown().await;
}

#[tokio::test]
async fn tcp_lines_split_across_writes_and_final_line_without_newline() {
    let (server, _dir) = start().await;
    let http = server.addrs().http.unwrap();
    let tcp = server.addrs().tcp.unwrap();
    let input = b"cpu,host=a v=1 1\nmem,host=a used=2i 2\ndisk free=3 3";
    let mut stream = TcpStream::connect(tcp).await.unwrap();
    stream.set_nodelay(true).unwrap();
    // One byte per write: every boundary is a possible read boundary.
    for byte in input.iter() {
        stream.write_all(&[*byte]).await.unwrap();
        stream.flush().await.unwrap();
    }
    drop(stream);
    let c = wait_for_points(http, "tcp", "telegraf.autogen", 3).await;
    assert_eq!(
        (c["points"].as_u64(), c["parse_errors"].as_u64()),
        (Some(3), Some(0))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn tcp_many_connections_at_once() {
    let (server, _dir) = start().await;
    let http = server.addrs().http.unwrap();
    let tcp = server.addrs().tcp.unwrap();
    let mut clients = Vec::new();
    for c in 0..20 {
        clients.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(tcp).await.unwrap();
            for i in 0..50 {
                s.write_all(format!("cpu,conn={c} v={i} {i}\n").as_bytes())
                    .await
                    .unwrap();
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let c = wait_for_points(http, "tcp", "telegraf.autogen", 1000).await;
    assert_eq!(c["points"], 1000);
    assert_eq!(status(http).await["listeners"]["tcp"]["connections"], 20);
    server.shutdown().await;
}

#[tokio::test]
async fn tcp_gzip_members_back_to_back_as_socket_writer_sends() {
    let (server, _dir) = start().await;
    let http = server.addrs().http.unwrap();
    let tcp = server.addrs().tcp.unwrap();
    let mut stream = TcpStream::connect(tcp).await.unwrap();
    let mut all = Vec::new();
    for i in 0..10 {
        all.extend_from_slice(&gzip(format!("cpu,host=z v={i} {i}\n").as_bytes()));
    }
    // Cut the member stream at odd places, as TCP may.
    for chunk in all.chunks(7) {
        stream.write_all(chunk).await.unwrap();
    }
    drop(stream);
    let c = wait_for_points(http, "tcp", "telegraf.autogen", 10).await;
    assert_eq!(c["points"], 10);
    server.shutdown().await;
}

#[tokio::test]
async fn tcp_over_long_line_is_dropped_and_counted() {
    let (mut config, _dir) = test_config();
    config.tcp.max_line_length = 64;
    let server = Server::start(config).await.unwrap();
    let http = server.addrs().http.unwrap();
    let tcp = server.addrs().tcp.unwrap();
    let mut stream = TcpStream::connect(tcp).await.unwrap();
    let long = format!("cpu,host={} v=1 1\n", "x".repeat(500));
    stream
        .write_all(format!("cpu v=1 1\n{long}cpu v=2 2\n").as_bytes())
        .await
        .unwrap();
    drop(stream);
    let c = wait_for_points(http, "tcp", "telegraf.autogen", 2).await;
    assert_eq!(
        (c["points"].as_u64(), c["dropped"].as_u64()),
        (Some(2), Some(1))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn auth_covers_write_and_api_but_not_ping() {
    let (mut config, _dir) = test_config();
    config.auth.enabled = true;
    config.auth.users = vec![UserConfig {
        username: "ann".into(),
        password: "secret".into(),
    }];
    config.auth.tokens = vec!["tok-123".into()];
    let server = Server::start(config).await.unwrap();
    let addr = server.addrs().http.unwrap();
    let body = b"cpu v=1 1";
    let denied = request(addr, "POST", "/write?db=a", &[], body).await;
    assert_eq!(denied.status, 401);
    assert_eq!(denied.error(), "unable to parse authentication credentials");
    assert!(denied.header("www-authenticate").is_some());
    let wrong = request(
        addr,
        "POST",
        "/write?db=a",
        &["Authorization: Basic YW5uOm5vcGU="],
        body,
    )
    .await;
    assert_eq!(wrong.status, 401);
    // ann:secret
    let basic = request(
        addr,
        "POST",
        "/write?db=a",
        &["Authorization: Basic YW5uOnNlY3JldA=="],
        body,
    )
    .await;
    assert_eq!(basic.status, 204);
    let query = request(addr, "POST", "/write?db=a&u=ann&p=secret", &[], body).await;
    assert_eq!(query.status, 204);
    let token = request(
        addr,
        "POST",
        "/api/v2/write?bucket=a",
        &["Authorization: Token tok-123"],
        body,
    )
    .await;
    assert_eq!(token.status, 204);
    let v2_user = request(
        addr,
        "POST",
        "/api/v2/write?bucket=a",
        &["Authorization: Token ann:secret"],
        body,
    )
    .await;
    assert_eq!(v2_user.status, 204);
    assert_eq!(
        request(addr, "GET", "/kapacitor/v1/status", &[], b"")
            .await
            .status,
        401
    );
    assert_eq!(
        request(
            addr,
            "GET",
            "/kapacitor/v1/status",
            &["Authorization: Bearer tok-123"],
            b""
        )
        .await
        .status,
        200
    );
    assert_eq!(request(addr, "GET", "/ping", &[], b"").await.status, 204);
    server.shutdown().await;
}

#[tokio::test]
async fn auth_off_by_default() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    assert_eq!(post(addr, "/write?db=a", "cpu v=1").await.status, 204);
    assert_eq!(
        request(addr, "GET", "/kapacitor/v1/status", &[], b"")
            .await
            .status,
        200
    );
    server.shutdown().await;
}

#[tokio::test]
async fn disabled_listeners_do_not_bind() {
    let (mut config, _dir) = test_config();
    config.udp.enabled = false;
    config.tcp.enabled = false;
    let server = Server::start(config).await.unwrap();
    assert!(server.addrs().udp.is_none() && server.addrs().tcp.is_none());
    let s = status(server.addrs().http.unwrap()).await;
    assert_eq!(s["listeners"]["udp"]["enabled"], false);
    server.shutdown().await;
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_start_error() {
    let taken = std::net::TcpListener::bind(loopback()).unwrap();
    let (mut config, _dir) = test_config();
    config.http.bind = taken.local_addr().unwrap();
    let err = Server::start(config).await.err().expect("bind fails");
    let msg = err.to_string();
    assert!(
        msg.contains("http") && msg.contains(&taken.local_addr().unwrap().to_string()),
        "{msg}"
    );
}

// ---- The real binaries, as a user runs them. ----

mod binaries {
    use std::process::Command;
    use std::time::{Duration, Instant};

    use crate::common::{Spawned, kapacitord};

    #[test]
    fn config_errors_list_every_bad_key_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kapacitor.yaml");
        std::fs::write(
            &file,
            "http:\n  bnd: 127.0.0.1:1\n  max_body_size: big\nudp:\n  bind: nowhere\nfrobnicate: 1\n",
        )
        .unwrap();
        let out = kapacitord()
            .arg("--config")
            .arg(&file)
            .arg("config")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        for (line, key) in [
            (2, "http.bnd"),
            (3, "http.max_body_size"),
            (5, "udp.bind"),
            (6, "frobnicate"),
        ] {
            assert!(
                err.contains(&format!("kapacitor.yaml:{line}:")) && err.contains(key),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn config_prints_the_effective_config_with_env_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let out = kapacitord()
            .current_dir(dir.path())
            .env("KAPACITOR_HTTP_BIND", "127.0.0.1:19999")
            .arg("config")
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("bind: \"127.0.0.1:19999\""), "{text}");
        assert!(text.contains("bind: \"127.0.0.1:8089\""), "{text}");
    }

    /// A kapacitord on free ports in a temp dir, killed on drop.
    struct Daemon {
        child: std::process::Child,
        url: String,
        _dir: tempfile::TempDir,
    }

    impl Drop for Daemon {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn daemon() -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let (child, url) = start_in(dir.path());
        Daemon {
            child,
            url,
            _dir: dir,
        }
    }

    /// Starts kapacitord in `dir` and waits until it listens; the caller
    /// owns (and kills) it.
    fn start_in(dir: &std::path::Path) -> (std::process::Child, String) {
        let mut cmd = kapacitord();
        cmd.current_dir(dir);
        let spawned = Spawned::start(cmd);
        (spawned.child, spawned.url)
    }

    use crate::common::cli::cli;

    #[test]
    fn the_seed_streamer_flow_from_the_cli_including_push() {
        let (local, remote) = (daemon(), daemon());
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("cpu_idle.tick");
        std::fs::write(
            &script,
            "var window = stream.window().period(10s).every(5s)\nvar avg = window.map(mean, \"value\")\navg.filter(< , 30).alert()\n",
        )
        .unwrap();
        let script = script.to_str().unwrap();
        let define = [
            "define",
            "streamer",
            "--name",
            "alert_cpu_idle_any_host",
            "--from",
            "cpu_idle",
            "--script",
            script,
            "--dbrp",
            "telegraf.autogen",
        ];
        let (ok, _, err) = cli(&local.url, &define);
        assert!(ok, "{err}");
        // Redefining updates the task.
        let (ok, _, err) = cli(&local.url, &define);
        assert!(ok, "{err}");
        let (ok, _, err) = cli(&local.url, &["enable", "alert_cpu_idle_any_host"]);
        assert!(ok, "{err}");
        let (ok, out, _) = cli(&local.url, &["list", "tasks"]);
        assert!(ok);
        let line = out
            .lines()
            .find(|l| l.starts_with("alert_cpu_idle_any_host"))
            .expect("listed");
        assert!(
            line.contains("stream")
                && line.contains("enabled")
                && line.contains("\"telegraf\".\"autogen\""),
            "{out}"
        );
        let (ok, out, _) = cli(&local.url, &["show", "alert_cpu_idle_any_host"]);
        assert!(ok);
        assert!(
            out.contains("From: cpu_idle")
                && out.contains("mean2 -> filter3;")
                && out.contains("window.map(mean"),
            "{out}"
        );
        let (ok, _, err) = cli(
            &local.url,
            &["push", "--remote", &remote.url, "alert_cpu_idle_any_host"],
        );
        assert!(ok, "{err}");
        // The task runs on the remote: points there raise an alert there.
        let mut body = String::new();
        for s in 0..=20 {
            body.push_str(&format!(
                "cpu_idle,cpu=cpu-total value={} {s}\n",
                if s < 10 { 50 } else { 10 }
            ));
        }
        let file = dir.path().join("points.lp");
        std::fs::write(&file, body).unwrap();
        let (ok, _, err) = cli(
            &remote.url,
            &[
                "write",
                "--db",
                "telegraf",
                "--precision",
                "s",
                file.to_str().unwrap(),
            ],
        );
        assert!(ok, "{err}");
        let (ok, out, _) = cli(&remote.url, &["show", "alert_cpu_idle_any_host"]);
        assert!(ok && out.contains("Status: enabled"), "{out}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, out, _) = cli(&remote.url, &["status", "--json"]);
            let status: serde_json::Value = serde_json::from_str(&out).unwrap();
            let alert = status["tasks"][0]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["kind"] == "alert")
                .cloned();
            if alert.is_some_and(|n| n["messages_in"].as_u64() > Some(0)) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no alert on the remote: {status}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (ok, out, _) = cli(
                &remote.url,
                &["alerts", "--task", "alert_cpu_idle_any_host"],
            );
            if ok
                && out
                    .lines()
                    .any(|l| l.contains("CRITICAL") && l.contains("cpu_idle:nil"))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no CRITICAL in kapacitor alerts: {out}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let (ok, _, err) = cli(&local.url, &["delete", "alert_cpu_idle_any_host"]);
        assert!(ok, "{err}");
        let (ok, _, err) = cli(&local.url, &["show", "alert_cpu_idle_any_host"]);
        assert!(!ok && err.contains("does not exist"), "{err}");
    }

    /// `--json` on every command: the API's JSON, `{"ok": true, ...}` for
    /// actions, `{"error": ...}` on standard output when something fails.
    #[test]
    fn every_command_speaks_json() {
        let d = daemon();
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("t.tick");
        std::fs::write(&script, "stream|from().measurement('cpu')|httpOut('out')\n").unwrap();
        let json = |args: &[&str]| {
            let mut all = vec!["--json"];
            all.extend_from_slice(args);
            let (ok, out, err) = cli(&d.url, &all);
            let value: serde_json::Value = serde_json::from_str(out.trim())
                .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out} {err}"));
            (ok, value)
        };
        let define = [
            "define",
            "streamer",
            "--name",
            "t",
            "--script",
            script.to_str().unwrap(),
            "--dbrp",
            "telegraf.autogen",
        ];
        let (ok, v) = json(&define);
        assert!(ok);
        assert_eq!(
            v,
            serde_json::json!({"ok": true, "task": "t", "defined": "created"})
        );
        let (ok, v) = json(&["enable", "t", "nope"]);
        assert!(!ok, "one of the two failed");
        assert_eq!(v["ok"], false);
        assert_eq!(v["tasks"][0], serde_json::json!({"task": "t", "ok": true}));
        assert!(
            v["tasks"][1]["error"]
                .as_str()
                .unwrap()
                .contains("does not exist"),
            "{v}"
        );
        let (ok, v) = json(&["list", "tasks"]);
        assert!(ok && v["tasks"][0]["id"] == "t", "{v}");
        let (ok, v) = json(&["show", "t"]);
        assert!(ok && v["status"] == "enabled", "{v}");
        let lines = dir.path().join("p.lp");
        std::fs::write(&lines, "cpu v=1\n").unwrap();
        let (ok, v) = json(&["write", lines.to_str().unwrap()]);
        assert!(ok && v["ok"] == true && v["bytes"] == 8, "{v}");
        let (ok, v) = json(&["alerts"]);
        assert!(ok && v["alerts"].is_array(), "{v}");
        let (ok, v) = json(&["status"]);
        assert!(ok && v["tasks"].is_array(), "{v}");
        let bad = dir.path().join("bad.tick");
        std::fs::write(&bad, "stream|windw()\n").unwrap();
        let (ok, v) = json(&["check", bad.to_str().unwrap()]);
        assert!(!ok);
        assert_eq!(v["files"][0]["errors"][0]["line"], 1, "{v}");
        assert_eq!(v["files"][0]["errors"][0]["column"], 8, "{v}");
        // --vars FILE, as Kapacitor's define -vars.
        let templ = dir.path().join("v.tick");
        std::fs::write(
            &templ,
            "dbrp \"telegraf\".\"autogen\"\nvar crit = 1.0\nstream|from()|alert().crit(lambda: \"value\" > crit)\n",
        )
        .unwrap();
        let vars = dir.path().join("vars.json");
        std::fs::write(&vars, r#"{"crit": {"type": "float", "value": 5}}"#).unwrap();
        let (ok, v) = json(&[
            "define",
            "streamer",
            "--name",
            "v",
            "--script",
            templ.to_str().unwrap(),
            "--vars",
            vars.to_str().unwrap(),
        ]);
        assert!(ok, "{v}");
        let (_, v) = json(&["show", "v"]);
        assert_eq!(v["vars"]["crit"]["value"], 5, "{v}");
        std::fs::write(&vars, r#"{"crit": {"type": "int", "value": 5}}"#).unwrap();
        let (ok, v) = json(&[
            "define",
            "streamer",
            "--name",
            "v",
            "--script",
            templ.to_str().unwrap(),
            "--vars",
            vars.to_str().unwrap(),
        ]);
        assert!(!ok);
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("vars.crit: the script's var `crit` is a float, not int"),
            "{v}"
        );
        let (ok, v) = json(&["delete", "t"]);
        assert!(ok && v["ok"] == true, "{v}");
        let (ok, v) = json(&["show", "t"]);
        assert!(
            !ok && v["error"].as_str().unwrap().contains("does not exist"),
            "{v}"
        );
        let (ok, out, _) = cli("http://127.0.0.1:1", &["--json", "status"]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert!(!ok && v["error"].is_string(), "{v}");
    }

    #[test]
    fn cli_defined_tasks_and_their_state_survive_kill_9() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("t.tick");
        std::fs::write(&script, "stream|from().measurement('cpu')|httpOut('out')\n").unwrap();
        let (mut child, url) = start_in(dir.path());
        for name in ["kept_on", "kept_off"] {
            let (ok, _, err) = cli(
                &url,
                &[
                    "define",
                    "streamer",
                    "--name",
                    name,
                    "--script",
                    script.to_str().unwrap(),
                    "--dbrp",
                    "telegraf.autogen",
                ],
            );
            assert!(ok, "{err}");
        }
        let (ok, _, err) = cli(&url, &["enable", "kept_on"]);
        assert!(ok, "{err}");
        child.kill().unwrap(); // SIGKILL: no shutdown, no flush.
        child.wait().unwrap();
        let (mut child, url) = start_in(dir.path());
        let (ok, out, _) = cli(&url, &["list", "tasks"]);
        let _ = child.kill();
        let _ = child.wait();
        assert!(ok, "{out}");
        let line = |id: &str| {
            out.lines()
                .find(|l| l.starts_with(id))
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            line("kept_on ").contains("enabled") && line("kept_on ").contains("true"),
            "{out}"
        );
        assert!(line("kept_off").contains("disabled"), "{out}");
    }

    /// Alert state survives a restart and a `kill -9`: an alert that is
    /// still CRITICAL is not sent again (`stateChangesOnly`), and its
    /// recovery comes with `previousLevel` CRITICAL.
    #[test]
    fn alert_state_survives_restart_and_kill_9() {
        let dir = tempfile::tempdir().unwrap();
        let write = |url: &str, value: u32| {
            let file = dir.path().join("p.lp");
            std::fs::write(&file, format!("cpu,host=a value={value}\n")).unwrap();
            let (ok, _, err) = cli(url, &["write", file.to_str().unwrap()]);
            assert!(ok, "{err}");
        };
        // The events this daemon has sent, oldest first, as (level, previous).
        let events = |url: &str| -> Vec<(String, String)> {
            let (ok, out, err) = cli(url, &["--json", "alerts", "--task", "hot"]);
            assert!(ok, "{err}");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            let list: Vec<(String, String)> = v["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    (
                        a["level"].as_str().unwrap().to_string(),
                        a["event"]["previousLevel"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            list
        };
        let wait_for = |url: &str, n: usize| {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let e = events(url);
                if e.len() >= n {
                    return e;
                }
                assert!(Instant::now() < deadline, "{n} events expected: {e:?}");
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        let script = dir.path().join("hot.tick");
        std::fs::write(
            &script,
            "stream|from().measurement('cpu').groupBy('host')|alert().crit(lambda: \"value\" > 90).stateChangesOnly()\n",
        )
        .unwrap();
        let (mut a, url) = start_in(dir.path());
        let define = [
            "define",
            "streamer",
            "--name",
            "hot",
            "--script",
            script.to_str().unwrap(),
            "--dbrp",
            "telegraf.autogen",
        ];
        assert!(cli(&url, &define).0);
        assert!(cli(&url, &["enable", "hot"]).0);
        write(&url, 95);
        assert_eq!(wait_for(&url, 1), [("CRITICAL".into(), "OK".into())]);
        // A clean restart.
        let killed = Command::new("kill")
            .arg("-TERM")
            .arg(a.id().to_string())
            .status();
        assert!(killed.unwrap().success());
        a.wait().unwrap();
        let (mut b, url) = start_in(dir.path());
        write(&url, 96);
        // Still CRITICAL: nothing to send. Then the recovery, then CRITICAL.
        write(&url, 50);
        assert_eq!(wait_for(&url, 1), [("OK".into(), "CRITICAL".into())]);
        write(&url, 97);
        assert_eq!(wait_for(&url, 2)[1], ("CRITICAL".into(), "OK".into()));
        // Wait until both changes this daemon made (the recovery and the
        // CRITICAL) are committed, then SIGKILL: no shutdown, no flush.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (ok, out, err) = cli(&url, &["--json", "status"]);
            assert!(ok, "{err}");
            let status: serde_json::Value = serde_json::from_str(&out).unwrap();
            let states = &status["alert_states"];
            if states["saved"] == 2 {
                assert_eq!(states["pending"], 0, "{states}");
                break;
            }
            assert!(Instant::now() < deadline, "still pending: {states}");
            std::thread::sleep(Duration::from_millis(10));
        }
        b.kill().unwrap();
        b.wait().unwrap();
        let (mut c, url) = start_in(dir.path());
        write(&url, 98);
        write(&url, 10);
        let after = wait_for(&url, 1);
        let _ = c.kill();
        let _ = c.wait();
        assert_eq!(after, [("OK".into(), "CRITICAL".into())]);
    }

    #[test]
    fn sigterm_shuts_down_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = kapacitord();
        cmd.current_dir(dir.path());
        let mut spawned = Spawned::start(cmd);
        let killed = Command::new("kill")
            .arg("-TERM")
            .arg(spawned.child.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        let status = spawned.child.wait().unwrap();
        assert!(status.success(), "exit status {status}");
        let log = spawned.log_after_exit();
        assert!(
            log.contains("shutting down") && log.contains("stopped"),
            "{log}"
        );
    }
}

#[tokio::test]
async fn a_stream_task_windows_points_written_over_http() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    let script = "stream\n  |from().measurement('cpu').groupBy('host')\n  |window().period(10s).every(10s)\n  |httpOut('out')\n";
    let def = kapacitor::tasks::TaskDefinition {
        id: "win".into(),
        task_type: dsl::TaskType::Stream,
        dbrps: vec![pipeline::DbRp::new("telegraf", "autogen")],
        script: script.into(),
        measurement: None,
        meta: Default::default(),
    };
    server.tasks().define(def).unwrap();
    server.tasks().enable("win").unwrap();
    // Seconds 0..=10 for two hosts, plus one for another db (ignored).
    let mut body = String::new();
    for s in 0..=10 {
        body.push_str(&format!(
            "cpu,host=a v={s} {s}\ncpu,host=b v={} {s}\nmem v=1 {s}\n",
            s * 10
        ));
    }
    assert_eq!(
        post(addr, "/write?db=telegraf&precision=s", &body)
            .await
            .status,
        204
    );
    assert_eq!(
        post(addr, "/write?db=other&precision=s", "cpu,host=c v=1 11")
            .await
            .status,
        204
    );
    let mut result = Value::Null;
    for _ in 0..200 {
        let reply = request(addr, "GET", "/kapacitor/v1/tasks/win/out", &[], b"").await;
        result = reply.json();
        if result["series"].as_array().is_some_and(|s| s.len() == 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let series = result["series"].as_array().expect("two series");
    assert_eq!(series[0]["tags"]["host"], "a");
    let values = series[0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 10, "{result}");
    assert_eq!(values[0], serde_json::json!(["1970-01-01T00:00:00Z", 0.0]));
    assert_eq!(series[1]["values"][9][1], 90.0);
    let s = status(addr).await;
    let task = &s["tasks"][0];
    assert_eq!(
        (task["id"].as_str(), task["status"].as_str()),
        (Some("win"), Some("enabled"))
    );
    // cpu and mem of telegraf.autogen reach the task; from() keeps cpu.
    assert_eq!(task["points_received"], 33);
    assert_eq!(
        request(addr, "GET", "/kapacitor/v1/tasks/win/nope", &[], b"")
            .await
            .status,
        404
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_seed_script_alerts_when_mean_idle_drops_below_30() {
    let (server, dir) = start().await;
    let addr = server.addrs().http.unwrap();
    let log = dir.path().join("alerts.log");
    let script = format!(
        "var window = stream.window().period(10s).every(5s)\nvar avg = window.map(mean, \"value\")\navg.filter(< , 30).alert().log('{}')\n",
        log.display()
    );
    let def = kapacitor::tasks::TaskDefinition {
        id: "alert_cpu_idle_any_host".into(),
        task_type: dsl::TaskType::Stream,
        dbrps: vec![],
        script,
        measurement: Some("cpu_idle".into()),
        meta: Default::default(),
    };
    server.tasks().define(def).unwrap();
    server.tasks().enable("alert_cpu_idle_any_host").unwrap();
    // Idle is 50 for ten seconds, then 10: the mean of the second window is below 30.
    let mut body = String::new();
    for s in 0..=20 {
        let v = if s < 10 { 50 } else { 10 };
        body.push_str(&format!(
            "cpu_idle,cpu=cpu-total,host=a value={v} {s}\nmem v=1 {s}\n"
        ));
    }
    assert_eq!(
        post(addr, "/write?db=telegraf&precision=s", &body)
            .await
            .status,
        204
    );
    let mut alerts = Value::Null;
    for _ in 0..200 {
        alerts = request(
            addr,
            "GET",
            "/kapacitor/v1/alerts?task=alert_cpu_idle_any_host",
            &[],
            b"",
        )
        .await
        .json();
        if alerts["alerts"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first = &alerts["alerts"][0];
    assert_eq!(first["level"], "CRITICAL", "{alerts}");
    assert_eq!(first["id"], "cpu_idle:nil");
    assert_eq!(
        first["event"]["data"]["series"][0]["columns"],
        serde_json::json!(["time", "mean"])
    );
    assert!(
        first["event"]["data"]["series"][0]["values"][0][1]
            .as_f64()
            .unwrap()
            < 30.0
    );
    // The .log() handler wrote the same event as a JSON line.
    let mut logged = String::new();
    for _ in 0..200 {
        logged = std::fs::read_to_string(&log).unwrap_or_default();
        if !logged.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let line: Value = serde_json::from_str(logged.lines().next().unwrap()).unwrap();
    assert_eq!(line["level"], "CRITICAL");
    let none = request(addr, "GET", "/kapacitor/v1/alerts?level=warning", &[], b"")
        .await
        .json();
    assert_eq!(none["alerts"], serde_json::json!([]));
    server.shutdown().await;
}

/// Runs every case under `dir` as `kapacitor test` runs them, at
/// parallelism 1 and 4 and with points delivered one by one and in
/// batches; returns how many cases there are. All must pass, every way.
fn cases_pass_every_way(dir: &std::path::Path) -> usize {
    use kapacitor::replay::testcase::{RunOptions, find_cases, run_case};
    let cases = find_cases(&[dir.to_path_buf()]);
    let modes = [(1, 1), (4, 1), (1, 50), (4, 7)].map(|(parallelism, delivery_batch)| RunOptions {
        parallelism,
        delivery_batch,
    });
    let mut failures = Vec::new();
    for opts in modes {
        for case in &cases {
            let result = run_case(case, opts);
            if let Some(why) = result.failure {
                failures.push(format!("{} {opts:?}:\n{}", result.name, why.0));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    cases.len()
}

/// Every case of Kapacitor's own integration tests.
#[test]
fn kapacitor_conformance_cases_pass_every_way() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/conformance/kapacitor");
    assert_eq!(
        cases_pass_every_way(&dir),
        43,
        "cases under {}",
        dir.display()
    );
}

/// Our own golden cases (`testdata/tasks/`): every node and function the
/// conformance set does not cover, and the seed's scripts as written.
#[test]
fn golden_task_cases_pass_every_way() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tasks");
    assert!(
        cases_pass_every_way(&dir) > 0,
        "no cases under {}",
        dir.display()
    );
}

#[tokio::test]
async fn tasks_defined_through_the_api_survive_a_restart() {
    let (config, _dir) = test_config();
    let server = Server::start(config.clone()).await.unwrap();
    let def = |id: &str| kapacitor::tasks::TaskDefinition {
        id: id.into(),
        task_type: dsl::TaskType::Stream,
        dbrps: vec![pipeline::DbRp::new("telegraf", "autogen")],
        script: "stream|from().measurement('cpu')|httpOut('out')".into(),
        measurement: Some("cpu".into()),
        meta: Default::default(),
    };
    server.tasks().define(def("on")).unwrap();
    server.tasks().enable("on").unwrap();
    server.tasks().define(def("off")).unwrap();
    server.tasks().define(def("gone")).unwrap();
    server.tasks().delete("gone").unwrap();
    server.shutdown().await;

    let server = Server::start(config).await.unwrap();
    let addr = server.addrs().http.unwrap();
    let tasks = request(addr, "GET", "/kapacitor/v1/tasks", &[], b"")
        .await
        .json();
    let ids: Vec<&str> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["off", "on"]);
    let on = &tasks["tasks"][1];
    assert_eq!(
        (on["status"].as_str(), on["executing"].as_bool()),
        (Some("enabled"), Some(true))
    );
    assert_eq!(on["from"], "cpu");
    assert_eq!(tasks["tasks"][0]["status"], "disabled");
    // The restored task runs.
    assert_eq!(
        post(addr, "/write?db=telegraf", "cpu v=1 1").await.status,
        204
    );
    let mut result = Value::Null;
    for _ in 0..200 {
        result = request(addr, "GET", "/kapacitor/v1/tasks/on/out", &[], b"")
            .await
            .json();
        if result["series"].as_array().is_some_and(|s| !s.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(result["series"][0]["values"][0][1], 1.0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_task_where_predicate_filters_in_the_router() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    let body = serde_json::json!({
        "id": "total", "type": "stream", "status": "enabled", "from": "cpu_idle",
        "where": "cpu = 'cpu-total'",
        "script": "stream|window().period(1h).every(1h)|httpOut('out')",
    });
    let reply = request(
        addr,
        "POST",
        "/kapacitor/v1/tasks",
        &["Content-Type: application/json"],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let lines = "cpu_idle,cpu=cpu0 value=1 1\ncpu_idle,cpu=cpu-total value=2 2\ncpu_idle,cpu=cpu1 value=3 3\n";
    assert_eq!(
        post(addr, "/write?db=telegraf&precision=s", lines)
            .await
            .status,
        204
    );
    let mut task = Value::Null;
    for _ in 0..200 {
        task = request(addr, "GET", "/kapacitor/v1/tasks/total", &[], b"")
            .await
            .json();
        if task["points_received"].as_u64() == Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(task["points_received"], 1, "{task}");
    let bad = serde_json::json!({"id": "bad", "type": "stream", "where": "cpu = = 'x'", "script": "stream|httpOut('o')"});
    let reply = request(
        addr,
        "POST",
        "/kapacitor/v1/tasks",
        &["Content-Type: application/json"],
        bad.to_string().as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.error().starts_with("where column"),
        "{}",
        reply.error()
    );
    server.shutdown().await;
}

/// What only building a task's nodes can find (a property refused, a URL
/// template reading what a post lacks, an alert template naming no field) is a
/// 400 at define, at its line and column (the node named beside the caret), and
/// the running version keeps running.
#[tokio::test]
async fn node_build_errors_are_refused_at_define_and_the_running_version_stays() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    let define = |script: &str| {
        serde_json::json!({
            "id": "hook", "type": "stream", "status": "enabled",
            "dbrps": [{"db": "telegraf", "rp": "autogen"}], "script": script,
        })
        .to_string()
    };
    let json = ["Content-Type: application/json"];
    let good = define("stream|from().measurement('cpu')|httpOut('out')");
    let reply = request(addr, "POST", "/kapacitor/v1/tasks", &json, good.as_bytes()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    for (script, wanted) in [
        (
            "stream|from().measurement('cpu')|alert().crit(lambda: TRUE).topic('a/b')",
            "hook.tick:1:61: error: \"a/b\": a topic has only letters, digits",
        ),
        (
            "stream|from().measurement('cpu')|httpPost('http://127.0.0.1:1/{{.Level}}')|httpOut('out')",
            "hook.tick:1:34: error: httpPost: url template 1:22: can't evaluate field Level",
        ),
        (
            "stream|from().measurement('cpu')|alert().crit(lambda: TRUE).message('{{.Nope}}')",
            "hook.tick:1:61: error: alert: message template 1:3: can't evaluate field Nope",
        ),
    ] {
        let path = "/kapacitor/v1/tasks/hook";
        let reply = request(addr, "PATCH", path, &json, define(script).as_bytes()).await;
        assert_eq!(reply.status, 400, "{script}: {}", reply.body);
        assert!(
            reply.error().contains(wanted),
            "{script}: {}",
            reply.error()
        );
    }
    // The first version still runs.
    assert_eq!(
        post(addr, "/write?db=telegraf", "cpu v=1 1").await.status,
        204
    );
    assert!(
        eventually(async || {
            let out = request(addr, "GET", "/kapacitor/v1/tasks/hook/out", &[], b"").await;
            out.status == 200 && out.body.contains("\"v\"")
        })
        .await
    );
    server.shutdown().await;
}

/// sideload() reads its files when the task starts and again on
/// `POST /kapacitor/v1/sideload/reload`; a reload that fails says which
/// file and keeps the values read before.
#[tokio::test]
async fn sideload_files_are_read_at_start_and_on_reload() {
    let (server, dir) = start().await;
    let addr = server.addrs().http.unwrap();
    let files = dir.path().join("sideload");
    std::fs::create_dir_all(files.join("host")).unwrap();
    let limit = |text: &str| std::fs::write(files.join("host/a.yml"), text).unwrap();
    limit("limit: 50\n");
    let define = |source: String| {
        serde_json::json!({
            "id": "side", "type": "stream", "status": "enabled",
            "dbrps": [{"db": "telegraf", "rp": "autogen"}],
            "script": format!("stream|from().measurement('cpu')|sideload().source('{source}').order('host/{{{{.host}}}}.yml').field('limit', 90.0)|httpOut('out')"),
        })
        .to_string()
    };
    let json = ["Content-Type: application/json"];
    let relative = define("file://sideload".into());
    let reply = request(
        addr,
        "POST",
        "/kapacitor/v1/tasks",
        &json,
        relative.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.error().contains("must be absolute"),
        "{}",
        reply.error()
    );
    let good = define(format!("file://{}", files.display()));
    let reply = request(addr, "POST", "/kapacitor/v1/tasks", &json, good.as_bytes()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Writes a point at `t` and waits for httpOut to show its limit.
    let limit_at = async |t: u32| {
        let line = format!("cpu,host=a value=1 {t}");
        assert_eq!(
            post(addr, "/write?db=telegraf&precision=s", &line)
                .await
                .status,
            204
        );
        let mut out = Value::Null;
        for _ in 0..200 {
            out = request(addr, "GET", "/kapacitor/v1/tasks/side/out", &[], b"")
                .await
                .json();
            if out["series"][0]["values"][0][0] == format!("1970-01-01T00:00:{t:02}Z") {
                let columns = out["series"][0]["columns"].as_array().unwrap().clone();
                let i = columns.iter().position(|c| c == "limit").unwrap();
                return out["series"][0]["values"][0][i].clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no point at {t}s: {out}");
    };
    assert_eq!(limit_at(1).await, 50.0);
    limit("limit: 70\n");
    let reload = async || request(addr, "POST", "/kapacitor/v1/sideload/reload", &[], b"").await;
    assert_eq!(reload().await.status, 204);
    assert_eq!(limit_at(2).await, 70.0);
    limit("limit: [\n");
    let failed = reload().await;
    assert_eq!(failed.status, 500);
    assert!(failed.error().contains("host/a.yml"), "{}", failed.error());
    assert_eq!(limit_at(3).await, 70.0);
    server.shutdown().await;
}

/// Polls `f` until it is true or two seconds pass.
async fn eventually(mut f: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..200 {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn the_seed_task_dropped_into_the_tasks_dir_runs_reloads_and_goes() {
    let (config, dir) = test_config();
    let tasks_dir = config.tasks_dir.clone();
    std::fs::create_dir_all(&tasks_dir).unwrap();
    let log = dir.path().join("alerts.log");
    let script = |threshold: u32| {
        format!(
            "var window = stream.window().period(10s).every(5s)\nvar avg = window.map(mean, \"value\")\navg.filter(< , {threshold}).alert().log('{}')\n",
            log.display()
        )
    };
    std::fs::write(tasks_dir.join("cpu_idle.tick"), script(30)).unwrap();
    std::fs::write(
        tasks_dir.join("cpu_idle.yaml"),
        "from: cpu_idle\nwhere: cpu = 'cpu-total'\n",
    )
    .unwrap();
    // A sibling whose window must survive the other task's reloads.
    std::fs::write(
        tasks_dir.join("sibling.tick"),
        "stream|window().period(1h).every(1h)|httpOut('w')\n",
    )
    .unwrap();
    std::fs::write(tasks_dir.join("sibling.yaml"), "from: cpu_idle\n").unwrap();
    let server = Server::start(config).await.unwrap();
    let addr = server.addrs().http.unwrap();
    let udp = server.addrs().udp.unwrap();
    let task = async || {
        request(addr, "GET", "/kapacitor/v1/tasks/cpu_idle", &[], b"")
            .await
            .json()
    };
    assert_eq!(task().await["status"], "enabled");

    // Idle 20 (below 30) over UDP and HTTP; cpu0 points are filtered out by `where`.
    let client = UdpSocket::bind(loopback()).await.unwrap();
    for s in 0..5 {
        client
            .send_to(
                format!("cpu_idle,cpu=cpu-total value=20 {s}000000000\n").as_bytes(),
                udp,
            )
            .await
            .unwrap();
    }
    let mut body = String::new();
    for s in 5..=12 {
        body.push_str(&format!(
            "cpu_idle,cpu=cpu-total value=20 {s}\ncpu_idle,cpu=cpu0 value=99 {s}\n"
        ));
    }
    assert!(
        eventually(async || task().await["points_received"] == 5).await,
        "UDP points reach the task"
    );
    assert_eq!(
        post(addr, "/write?db=telegraf&precision=s", &body)
            .await
            .status,
        204
    );
    let alerts = async || {
        request(addr, "GET", "/kapacitor/v1/alerts?task=cpu_idle", &[], b"")
            .await
            .json()
    };
    assert!(
        eventually(async || alerts().await["alerts"]
            .as_array()
            .is_some_and(|a| !a.is_empty()))
        .await
    );
    assert!(
        eventually(async || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("CRITICAL")))
            .await
    );

    let sibling_window_in = async || {
        let s = request(addr, "GET", "/kapacitor/v1/tasks/sibling", &[], b"")
            .await
            .json();
        s["nodes"][1]["messages_in"].as_u64().unwrap_or(0)
    };
    assert!(
        eventually(async || sibling_window_in().await == 21).await,
        "sibling saw every point"
    );

    // Edit the threshold: the new version acts (nothing is below 10).
    std::fs::write(tasks_dir.join("cpu_idle.tick"), script(10)).unwrap();
    assert!(
        eventually(async || task().await["script"]
            .as_str()
            .is_some_and(|s| s.contains("< , 10")))
        .await
    );
    // The unchanged sibling kept running with its window: one more point
    // adds to its counters instead of starting them again.
    assert_eq!(
        post(
            addr,
            "/write?db=telegraf&precision=s",
            "cpu_idle,cpu=cpu-total value=20 13"
        )
        .await
        .status,
        204
    );
    assert!(
        eventually(async || sibling_window_in().await == 22).await,
        "sibling restarted"
    );

    // A syntax error: the old version keeps running, the status says where.
    std::fs::write(
        tasks_dir.join("cpu_idle.tick"),
        "var window = stream.window(.period(10s)\n",
    )
    .unwrap();
    assert!(
        eventually(async || task().await["error"]
            .as_str()
            .is_some_and(|e| e.contains("cpu_idle.tick:1:")))
        .await,
        "{}",
        task().await
    );
    let t = task().await;
    assert_eq!(t["status"], "enabled");
    assert!(t["script"].as_str().unwrap().contains("< , 10"));
    let status = request(addr, "GET", "/kapacitor/v1/status", &[], b"")
        .await
        .json();
    assert!(
        status["task_dir"]["errors"]["cpu_idle"]
            .as_str()
            .is_some_and(|e| e.contains(":1:")),
        "{status}"
    );

    // Save as editors do: write a temp file, rename it over the script.
    let tmp = tasks_dir.join(".cpu_idle.tick.swp");
    std::fs::write(&tmp, script(25)).unwrap();
    std::fs::rename(&tmp, tasks_dir.join("cpu_idle.tick")).unwrap();
    assert!(
        eventually(async || task().await["script"]
            .as_str()
            .is_some_and(|s| s.contains("< , 25")))
        .await
    );
    assert!(
        eventually(async || task().await["error"] == "").await,
        "{}",
        task().await
    );

    // Delete: the task goes.
    std::fs::remove_file(tasks_dir.join("cpu_idle.tick")).unwrap();
    std::fs::remove_file(tasks_dir.join("cpu_idle.yaml")).unwrap();
    assert!(
        eventually(
            async || request(addr, "GET", "/kapacitor/v1/tasks/cpu_idle", &[], b"")
                .await
                .status
                == 404
        )
        .await
    );
    server.shutdown().await;
}

#[tokio::test]
async fn metrics_in_prometheus_text_format() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    assert_eq!(
        post(addr, "/write?db=telegraf", "cpu v=1 1\nbad\n")
            .await
            .status,
        400
    );
    let reply = request(addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    for line in [
        "# TYPE kapacitor_ingest_points_total counter",
        "kapacitor_ingest_points_total{listener=\"http\",dbrp=\"telegraf.autogen\"} 1",
        "kapacitor_ingest_parse_errors_total{listener=\"http\",dbrp=\"telegraf.autogen\"} 1",
        "kapacitor_router_unrouted_points_total 1",
        "# TYPE kapacitor_task_enabled gauge",
        "# TYPE kapacitor_node_groups gauge",
        "# TYPE kapacitor_ingest_rejected_total counter",
        "kapacitor_alert_state_changes_total{outcome=\"dropped\"} 0",
        "kapacitor_alert_state_changes_pending 0",
        "# TYPE kapacitor_task_workers gauge",
        "# TYPE kapacitor_task_worker_threads gauge",
    ] {
        assert!(
            reply.body.lines().any(|l| l == line),
            "missing {line:?} in\n{}",
            reply.body
        );
    }
    // Every family has a type Prometheus knows and its own HELP line.
    for line in reply.body.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut words = line.split(' ').skip(2);
        let (name, kind) = (words.next().unwrap(), words.next().unwrap());
        assert!(matches!(kind, "counter" | "gauge" | "histogram"), "{line}");
        assert_eq!(words.next(), None, "{line}");
        assert!(
            reply.body.contains(&format!("# HELP {name} ")),
            "{name} has no HELP"
        );
    }
    server.shutdown().await;
}

/// `pipeline.workers` sizes the pool every task runs on; the status and
/// /metrics show it.
#[tokio::test]
async fn the_task_pool_is_sized_by_the_config_and_shown() {
    let (mut config, _dir) = test_config();
    config.pipeline.workers = 3;
    config.pipeline.inbox_points = 1234;
    let server = Server::start(config).await.expect("server starts");
    let addr = server.addrs().http.unwrap();
    let s = status(addr).await;
    assert_eq!(
        s["task_pool"],
        serde_json::json!({"workers": 3, "threads": 3, "inbox_points": 1234})
    );
    let reply = request(addr, "GET", "/metrics", &[], b"").await;
    assert!(
        reply.body.lines().any(|l| l == "kapacitor_task_workers 3"),
        "{}",
        reply.body
    );
    server.shutdown().await;
}

/// A deadman on the wall clock: while points come, nothing; when writes
/// stop, a CRITICAL alert within a couple of intervals; when they resume,
/// the recovery.
#[tokio::test]
async fn deadman_alerts_when_writes_stop_and_recovers_when_they_resume() {
    let (server, _dir) = start().await;
    let addr = server.addrs().http.unwrap();
    let def = kapacitor::tasks::TaskDefinition {
        id: "watch_cpu".into(),
        task_type: dsl::TaskType::Stream,
        dbrps: vec![pipeline::DbRp::new("telegraf", "autogen")],
        script: "stream\n    |from()\n        .measurement('cpu')\n    |deadman(0.0, 500ms)\n        .stateChangesOnly()\n".into(),
        measurement: None,
        meta: Default::default(),
    };
    server.tasks().define(def).unwrap();
    server.tasks().enable("watch_cpu").unwrap();
    let alerts = |level: &'static str| async move {
        let reply = request(
            addr,
            "GET",
            &format!("/kapacitor/v1/alerts?task=watch_cpu&level={level}"),
            &[],
            b"",
        )
        .await;
        reply.json()["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let write = || async move {
        assert_eq!(
            post(addr, "/write?db=telegraf", "cpu value=1\n")
                .await
                .status,
            204
        );
    };
    // Points every 50 ms for two seconds: alive.
    for _ in 0..40 {
        write().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Writes stop: dead within a few intervals.
    let mut dead = Vec::new();
    for _ in 0..100 {
        dead = alerts("critical").await;
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1, "one CRITICAL after writes stopped: {dead:?}");
    assert_eq!(dead[0]["id"], "nil:from1 for task 'watch_cpu'");
    assert_eq!(
        dead[0]["event"]["message"],
        "nil:from1 for task 'watch_cpu' is dead: 0.000 points/500ms."
    );
    // Writes resume: the recovery.
    let mut alive = Vec::new();
    for _ in 0..100 {
        write().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        alive = alerts("ok").await;
        if !alive.is_empty() {
            break;
        }
    }
    assert_eq!(alive.len(), 1, "{alive:?}");
    assert_eq!(alive[0]["event"]["previousLevel"], "CRITICAL");
    // The node's counters (refreshed about once a second) show both, while
    // writes go on (when they stop, the deadman fires again).
    let wanted = [
        "kapacitor_node_alerts_total{task=\"watch_cpu\",node=\"deadman2\",level=\"CRITICAL\"} 1",
        "kapacitor_node_alerts_total{task=\"watch_cpu\",node=\"deadman2\",level=\"OK\"} 1",
    ];
    let mut metrics = String::new();
    for _ in 0..100 {
        write().await;
        metrics = request(addr, "GET", "/metrics", &[], b"").await.body;
        if wanted.iter().all(|w| metrics.lines().any(|l| l == *w)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for w in wanted {
        assert!(metrics.lines().any(|l| l == w), "missing {w} in\n{metrics}");
    }
    server.shutdown().await;
}

/// A task's YAML `vars` set its script's vars: changing one in the YAML
/// changes what the task does; a wrong type is refused with the YAML's
/// file, line and column, and the running version stays.
#[tokio::test]
async fn yaml_vars_set_the_threshold_and_a_wrong_type_names_the_yaml_line() {
    let (config, _dir) = test_config();
    let tasks_dir = config.tasks_dir.clone();
    std::fs::create_dir_all(&tasks_dir).unwrap();
    std::fs::write(
        tasks_dir.join("hot.tick"),
        "dbrp \"telegraf\".\"autogen\"\nvar crit = 90.0\nstream\n    |from()\n        .measurement('cpu')\n    |alert()\n        .crit(lambda: \"value\" > crit)\n",
    )
    .unwrap();
    let yaml = |crit: &str| format!("vars:\n  crit:\n    type: float\n    value: {crit}\n");
    std::fs::write(tasks_dir.join("hot.yaml"), yaml("50")).unwrap();
    let server = Server::start(config).await.unwrap();
    let addr = server.addrs().http.unwrap();
    let task = async || {
        request(addr, "GET", "/kapacitor/v1/tasks/hot", &[], b"")
            .await
            .json()
    };
    assert_eq!(task().await["vars"]["crit"]["value"], 50.0);
    let crits = async || {
        request(
            addr,
            "GET",
            "/kapacitor/v1/alerts?task=hot&level=critical",
            &[],
            b"",
        )
        .await
        .json()["alerts"]
            .as_array()
            .map_or(0, Vec::len)
    };
    // 60 is over the YAML's 50 (the script says 90).
    post(addr, "/write?db=telegraf", "cpu value=60\n").await;
    assert!(eventually(async || crits().await == 1).await);
    // Now the YAML says 70: 60 is fine, 80 is not.
    std::fs::write(tasks_dir.join("hot.yaml"), yaml("70")).unwrap();
    assert!(eventually(async || task().await["vars"]["crit"]["value"] == 70.0).await);
    post(addr, "/write?db=telegraf", "cpu value=60\ncpu value=80\n").await;
    assert!(eventually(async || crits().await == 2).await);
    // An int where the script has a float: refused, at the YAML's line.
    std::fs::write(
        tasks_dir.join("hot.yaml"),
        "vars:\n  crit:\n    type: int\n    value: 10\n",
    )
    .unwrap();
    assert!(
        eventually(async || task().await["error"]
            .as_str()
            .is_some_and(|e| e
                .contains("hot.yaml:2:3: vars.crit: the script's var `crit` is a float, not int")))
        .await,
        "{}",
        task().await
    );
    assert_eq!(
        task().await["vars"]["crit"]["value"],
        70.0,
        "the old version runs on"
    );
    server.shutdown().await;
}

/// `deadman.global`: every stream task gets a switch on what it receives,
/// with the section's templates, as Kapacitor's `[deadman] global = true`.
#[tokio::test]
async fn a_global_deadman_watches_every_stream_task() {
    let (mut config, _dir) = test_config();
    config.deadman.global = true;
    config.deadman.interval = Duration::from_millis(300);
    config.deadman.id = "{{ .TaskName }}/NODE_NAME".into();
    let server = Server::start(config).await.unwrap();
    let addr = server.addrs().http.unwrap();
    let def = kapacitor::tasks::TaskDefinition {
        id: "plain".into(),
        task_type: dsl::TaskType::Stream,
        dbrps: vec![pipeline::DbRp::new("telegraf", "autogen")],
        script: "stream|from().measurement('cpu')|httpOut('x')\n".into(),
        measurement: None,
        meta: Default::default(),
    };
    server.tasks().define(def).unwrap();
    server.tasks().enable("plain").unwrap();
    let info = server.tasks().get("plain").unwrap();
    assert!(info.dot.contains("stream0 -> deadman3"), "{}", info.dot);
    // No data at all: the switch reports the task dead.
    let mut dead = Value::Null;
    for _ in 0..100 {
        dead = request(addr, "GET", "/kapacitor/v1/alerts?task=plain", &[], b"")
            .await
            .json();
        if dead["alerts"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = &dead["alerts"][0];
    assert_eq!(first["id"], "plain/stream0", "{dead}");
    assert_eq!(first["level"], "CRITICAL");
    assert_eq!(
        first["event"]["message"],
        "plain/stream0 is dead: 0.000 points/300ms."
    );
    server.shutdown().await;
}

/// Lines stamped `ahead` of now (ns since the epoch).
fn stamped_ahead(ahead: Duration) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (now + ahead).as_nanos() as i64
}

#[tokio::test]
async fn far_future_points_are_parse_errors_on_every_listener() {
    let (server, _dir) = start().await;
    let http = server.addrs().http.unwrap();
    let far = stamped_ahead(Duration::from_secs(2 * 3600));
    let near = stamped_ahead(Duration::from_secs(60));
    // Default ingest.max_future is 1h: a minute ahead is clock skew, two
    // hours ahead is refused, and the year 2262 too.
    let body = format!("cpu v=1 {near}\ncpu v=2 {far}\ncpu v=3 9223372036854775806\ncpu v=4\n");
    let reply = post(http, "/write?db=telegraf", &body).await;
    assert_eq!(reply.status, 400);
    let error = reply.error();
    assert!(
        error.starts_with("partial write:")
            && error.contains("line 2:")
            && error.contains("line 3:")
            && error.contains("(ingest.max_future)")
            && error.ends_with("dropped=2"),
        "{error}"
    );
    let c = wait_for_points(http, "http", "telegraf.autogen", 2).await;
    assert_eq!(
        (c["points"].as_u64(), c["parse_errors"].as_u64()),
        (Some(2), Some(2))
    );

    let udp = server.addrs().udp.unwrap();
    let client = UdpSocket::bind(loopback()).await.unwrap();
    client.send_to(body.as_bytes(), udp).await.unwrap();
    let c = wait_for_points(http, "udp", "telegraf.autogen", 2).await;
    assert_eq!(
        (c["points"].as_u64(), c["parse_errors"].as_u64()),
        (Some(2), Some(2))
    );

    let mut stream = TcpStream::connect(server.addrs().tcp.unwrap())
        .await
        .unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    drop(stream);
    let c = wait_for_points(http, "tcp", "telegraf.autogen", 2).await;
    assert_eq!(
        (c["points"].as_u64(), c["parse_errors"].as_u64()),
        (Some(2), Some(2))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn max_future_zero_accepts_any_time() {
    let (mut config, _dir) = test_config();
    config.ingest.max_future = Duration::ZERO;
    let server = Server::start(config).await.unwrap();
    let http = server.addrs().http.unwrap();
    let reply = post(http, "/write?db=telegraf", "cpu v=3 9223372036854775806\n").await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    server.shutdown().await;
}

#[tokio::test]
async fn per_dbrp_counters_expire_and_are_capped_with_totals_kept() {
    let (mut config, _dir) = test_config();
    config.ingest.dbrp_idle_timeout = Duration::from_millis(300);
    config.ingest.max_dbrps = 2;
    let server = Server::start(config).await.unwrap();
    let http = server.addrs().http.unwrap();
    for db in ["a", "b", "c", "d"] {
        let reply = post(http, &format!("/write?db={db}"), "cpu v=1\n").await;
        assert_eq!(reply.status, 204);
    }
    let s = status(http).await;
    let listener = &s["listeners"]["http"];
    let keys: Vec<&String> = listener["dbrps"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["a.autogen", "b.autogen", "other"]);
    assert_eq!(listener["dbrps"]["other"]["points"], 2);
    assert_eq!(listener["points"], 4);
    // Idle past the timeout: gone, the totals unchanged.
    let mut left = serde_json::Map::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let s = status(http).await;
        left = s["listeners"]["http"]["dbrps"].as_object().unwrap().clone();
        if !left.contains_key("a.autogen") {
            assert_eq!(s["listeners"]["http"]["points"], 4);
            break;
        }
    }
    assert!(!left.contains_key("a.autogen"), "{left:?}");
    // Room again for a new database apart.
    post(http, "/write?db=e", "cpu v=1\n").await;
    let s = status(http).await;
    assert_eq!(s["listeners"]["http"]["dbrps"]["e.autogen"]["points"], 1);
    assert_eq!(s["listeners"]["http"]["points"], 5);
    server.shutdown().await;
}
