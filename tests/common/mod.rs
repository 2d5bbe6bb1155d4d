//! Helpers shared by the test binaries: the real kapacitord, started on
//! free ports.
// Each test binary uses some of these.
#![allow(dead_code)]

pub mod cli;
pub mod influxd;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn kapacitord() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kapacitord"));
    cmd.env_remove("KAPACITOR_HTTP_BIND")
        .env_remove("KAPACITOR_UDP_BIND")
        .env_remove("KAPACITOR_TCP_BIND")
        .env_remove("RUST_LOG");
    cmd
}

/// A kapacitord started on port 0 for HTTP, UDP and TCP, with the HTTP
/// address it bound, read from its log (a port picked by the test and
/// then bound by the daemon could be taken by a parallel test first).
pub struct Spawned {
    pub child: std::process::Child,
    pub url: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Spawned {
    pub fn start(mut cmd: Command) -> Spawned {
        let mut child = cmd
            .env("KAPACITOR_HTTP_BIND", "127.0.0.1:0")
            .env("KAPACITOR_UDP_BIND", "127.0.0.1:0")
            .env("KAPACITOR_TCP_BIND", "127.0.0.1:0")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the log to its end, so the daemon never blocks on a
        // full pipe.
        let reader = std::thread::spawn({
            let log = log.clone();
            move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some((_, addr)) = line.split_once("listener=\"http\" addr=") {
                        let _ = tx.send(addr.trim().to_string());
                    }
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("kapacitord never listened: {}", log.lock().unwrap())
            });
        Spawned {
            child,
            url: format!("http://{addr}"),
            log,
            reader: Some(reader),
        }
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Everything it logged, once it has exited.
    pub fn log_after_exit(&mut self) -> String {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.log.lock().unwrap().clone()
    }
}

/// Runs the `kapacitor` CLI with `args` against the daemon at `url`:
/// whether it succeeded, its standard output and standard error.
pub fn kapacitor(url: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kapacitor"))
        .env("KAPACITOR_URL", url)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Sends one raw HTTP/1.1 `request` (which should say `Connection:
/// close`) to `addr` and reads the answer: its status and body. Panics
/// when none comes within `wait`.
pub fn exchange(addr: &str, request: &str, wait: Duration) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    let first_line = request.lines().next().unwrap_or_default();
    stream
        .read_to_string(&mut reply)
        .unwrap_or_else(|e| panic!("{first_line}: no answer: {e}"));
    status_and_body(&reply)
}

/// The status and body of a raw HTTP/1.1 reply; status 0 when it has none.
pub fn status_and_body(reply: &str) -> (u16, String) {
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// An HTTP server that accepts connections, reads nothing and never
/// answers; and the connections it accepted.
pub fn silent_http() -> (SocketAddr, Arc<Mutex<Vec<TcpStream>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    let holding = held.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            holding.lock().unwrap().push(stream);
        }
    });
    (addr, held)
}

/// A kapacitord in a fresh directory of its own, started from a
/// kapacitor.yaml there.
pub struct Daemon {
    pub spawned: Spawned,
    /// `host:port` of its HTTP listener.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// kapacitord in a fresh directory, with `yaml` as its kapacitor.yaml.
    pub fn start(yaml: &str) -> Daemon {
        Daemon::start_with(yaml, |_, _| {})
    }

    /// Like [`Daemon::start`]; `setup` may add to the command (its
    /// environment) and to the directory (`./tasks`, `./data`) first.
    pub fn start_with(yaml: &str, setup: impl FnOnce(&mut Command, &std::path::Path)) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kapacitor.yaml"), yaml).unwrap();
        let mut cmd = kapacitord();
        cmd.current_dir(dir.path());
        setup(&mut cmd, dir.path());
        let spawned = Spawned::start(cmd);
        let addr = spawned.url.trim_start_matches("http://").to_string();
        Daemon {
            spawned,
            addr,
            _dir: dir,
        }
    }
}

impl Daemon {
    /// The directory it runs in.
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// One request over a fresh connection: (status, body).
    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[&str],
        body: &[u8],
    ) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let mut req = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        // The daemon may answer before reading a large body.
        let _ = s.write_all(body);
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        let (status, body) = status_and_body(&text);
        assert_ne!(status, 0, "no response: {text:?}");
        (status, body)
    }

    /// Defines stream task `id` on telegraf.autogen, enabled, with `extra`
    /// members of the JSON body (`,"where":"..."`).
    pub fn define(&self, id: &str, script: &str, extra: &str) -> (u16, String) {
        let body = format!(
            r#"{{"id":{},"type":"stream","dbrps":[{{"db":"telegraf","rp":"autogen"}}],"script":{},"status":"enabled"{extra}}}"#,
            serde_json::to_string(id).unwrap(),
            serde_json::to_string(script).unwrap(),
        );
        self.request(
            "POST",
            "/kapacitor/v1/tasks",
            &["Content-Type: application/json"],
            body.as_bytes(),
        )
    }

    /// Writes `lines` to telegraf (autogen).
    pub fn write(&self, lines: &str) -> (u16, String) {
        self.request("POST", "/write?db=telegraf", &[], lines.as_bytes())
    }

    /// GET `target`, answered 200 with JSON.
    pub fn get_json(&self, target: &str) -> serde_json::Value {
        let (status, body) = self.request("GET", target, &[], b"");
        assert_eq!(status, 200, "{target}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{target}: {e}: {body}"))
    }

    /// `GET /kapacitor/v1/status`.
    pub fn status(&self) -> serde_json::Value {
        self.get_json("/kapacitor/v1/status")
    }

    /// The daemon still answers, and has not exited.
    pub fn assert_alive(&mut self) {
        // Points are run after the write is answered.
        std::thread::sleep(Duration::from_millis(300));
        let (status, _) = self.request("GET", "/ping", &[], b"");
        assert_eq!(status, 204);
        assert!(
            self.spawned.child.try_wait().unwrap().is_none(),
            "kapacitord exited"
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.spawned.child.kill();
        let _ = self.spawned.child.wait();
    }
}

/// The in-process server's config for a test: every listener on port 0,
/// data and tasks under `dir`.
pub fn server_config(dir: &std::path::Path) -> config::DaemonConfig {
    let mut c = config::DaemonConfig::default();
    let lo = "127.0.0.1:0".parse().unwrap();
    (c.http.bind, c.udp.bind, c.tcp.bind) = (lo, lo, lo);
    c.data_dir = dir.join("data");
    c.tasks_dir = dir.join("tasks");
    c
}
