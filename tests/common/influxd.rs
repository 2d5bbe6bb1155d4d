//! A real InfluxDB 1.x (`influxd` from the Debian package, installed by
//! `scripts/test.sh`) on free loopback ports, its data in a temp dir.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An `influxd` on free loopback ports, killed on drop.
pub struct Influxd {
    pub child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Influxd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn influxd() -> Influxd {
    influxd_with(free_port(), "")
}

/// An `influxd` whose HTTP API listens on `http` (a port that was free),
/// with `http_extra` added to its `[http]` section
/// (`auth-enabled = true`).
pub fn influxd_with(http: u16, http_extra: &str) -> Influxd {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let conf = format!(
        "reporting-disabled = true\nbind-address = \"127.0.0.1:{}\"\n[meta]\n  dir = \"{d}/meta\"\n[data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n[monitor]\n  store-enabled = false\n[http]\n  enabled = true\n  bind-address = \"127.0.0.1:{http}\"\n  log-enabled = false\n{http_extra}\n[logging]\n  level = \"warn\"\n[continuous_queries]\n  enabled = false\n",
        free_port()
    );
    let path = dir.path().join("influxdb.conf");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new("influxd")
        .arg("-config")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("influxd must be installed (scripts/test.sh installs the influxdb package)");
    let url = format!("http://127.0.0.1:{http}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(Instant::now() < deadline, "influxd never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    Influxd {
        child,
        url,
        _dir: dir,
    }
}

/// `q` against InfluxDB's `/query`, as JSON (`Null` when it does not answer).
pub async fn query(url: &str, db: &str, q: &str) -> Value {
    let body = serde_urlencoded::to_string([("db", db), ("q", q)]).unwrap();
    let addr = url.trim_start_matches("http://");
    let req = format!(
        "POST /query HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http_json(addr, &req).await
}

/// Sends `req` (a whole HTTP/1.1 request, `Connection: close`) to `addr`
/// and reads the answer's body as JSON (`Null` when there is none).
pub async fn http_json(addr: &str, req: &str) -> Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return Value::Null;
    };
    if stream.write_all(req.as_bytes()).await.is_err() {
        return Value::Null;
    }
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply).await;
    let reply = String::from_utf8_lossy(&reply);
    let Some((head, body)) = reply.split_once("\r\n\r\n") else {
        return Value::Null;
    };
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// The payload of a chunked body.
pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Writes line protocol `lines` (ns timestamps) into database `db`.
pub async fn write(url: &str, db: &str, lines: &str) {
    let addr = url.trim_start_matches("http://");
    let req = format!(
        "POST /write?db={db}&precision=ns HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{lines}",
        lines.len()
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 204"), "{reply}");
}

/// Creates database `db`, waiting for influxd to take queries.
pub async fn create_database(url: &str, db: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = query(url, "", &format!("CREATE DATABASE \"{db}\"")).await;
        if r["results"][0]["statement_id"] == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "influxd never took queries: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
