//! Secrets stay secret and a foreign web page cannot drive the API:
//! against the real kapacitord.

use std::process::Command;
use std::time::Duration;

mod common;

use common::{Spawned, exchange, kapacitord};

const WAIT: Duration = Duration::from_secs(5);

/// The secrets the config below holds; none may be printed or logged.
const SECRETS: [&str; 6] = [
    "user-secret-1",
    "token-secret-2",
    "url-secret-3",
    "header-secret-4",
    "post-secret-5",
    "influx-secret-6",
];

fn config_with_secrets(dir: &std::path::Path, auth: bool) -> std::path::PathBuf {
    let path = dir.join("kapacitor.yaml");
    let yaml = format!(
        r#"
data_dir: "{data}"
tasks_dir: "{tasks}"
auth:
  enabled: {auth}
  users:
    - username: admin
      password: user-secret-1
  tokens: [token-secret-2]
httppost:
  - endpoint: hook
    url: "https://hook:url-secret-3@hooks.example.com/in"
    headers:
      Authorization: "Bearer header-secret-4"
    username: poster
    password: post-secret-5
influxdb:
  - name: main
    urls: ["http://127.0.0.1:8086"]
    username: reader
    password: influx-secret-6
"#,
        data = dir.join("data").display(),
        tasks = dir.join("tasks").display(),
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

fn request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut text = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        text += &format!("Host: {addr}\r\n");
    }
    for (k, v) in headers {
        text += &format!("{k}: {v}\r\n");
    }
    text += &format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, &text, WAIT)
}

#[test]
fn kapacitord_config_prints_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_with_secrets(dir.path(), true);
    let out = Command::new(env!("CARGO_BIN_EXE_kapacitord"))
        .args(["--config", path.to_str().unwrap(), "config"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    assert!(text.contains("<redacted>"), "{text}");
    assert!(text.contains("username: \"admin\""), "{text}");
    assert!(text.contains("hooks.example.com/in"), "{text}");
}

#[test]
fn failed_logins_are_refused_counted_and_logged_without_what_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_with_secrets(dir.path(), true);
    let mut cmd = kapacitord();
    cmd.args(["--config", path.to_str().unwrap()]);
    let mut daemon = Spawned::start(cmd);
    let addr = daemon.url.trim_start_matches("http://").to_string();
    let line = "cpu,host=a value=1";
    // A wrong password by Basic, by query, and a wrong token.
    let basic = format!("Basic {}", base64_encode(b"admin:guess-secret-7"));
    let tries = [
        request(
            &addr,
            "POST",
            "/write?db=db",
            &[("Authorization", &basic)],
            line,
        ),
        request(
            &addr,
            "POST",
            "/write?db=db&u=admin&p=guess-secret-8",
            &[],
            line,
        ),
        request(
            &addr,
            "GET",
            "/kapacitor/v1/tasks",
            &[("Authorization", "Token guess-secret-9")],
            "",
        ),
    ];
    for (status, body) in &tries {
        assert_eq!(*status, 401, "{body}");
        assert!(body.contains("authorization failed"), "{body}");
    }
    // The right ones still work, in constant time or not.
    let (status, body) = request(
        &addr,
        "POST",
        "/write?db=db&u=admin&p=user-secret-1",
        &[],
        line,
    );
    assert_eq!(status, 204, "{body}");
    let (status, body) = request(
        &addr,
        "GET",
        "/kapacitor/v1/status",
        &[("Authorization", "Token token-secret-2")],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let status_json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status_json["http_refused"]["auth_failures"], 3, "{body}");
    let (_, metrics) = request(
        &addr,
        "GET",
        "/metrics",
        &[("Authorization", "Token token-secret-2")],
        "",
    );
    assert!(
        metrics.contains("kapacitor_http_refused_total{reason=\"auth\"} 3"),
        "{metrics}"
    );

    let _ = daemon.child.kill();
    let _ = daemon.child.wait();
    let log = daemon.log_after_exit();
    assert_eq!(log.matches("refused a request").count(), 3, "{log}");
    for secret in SECRETS
        .iter()
        .chain(&["guess-secret-7", "guess-secret-8", "guess-secret-9"])
    {
        assert!(!log.contains(secret), "{secret} logged:\n{log}");
    }
}

#[test]
fn with_auth_off_a_foreign_host_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = kapacitord();
    cmd.env("KAPACITOR_DATA_DIR", dir.path().join("data"))
        .env("KAPACITOR_TASKS_DIR", dir.path().join("tasks"))
        .current_dir(dir.path());
    let mut daemon = Spawned::start(cmd);
    let addr = daemon.url.trim_start_matches("http://").to_string();
    let task = r#"{"id":"x","type":"stream","dbrps":[{"db":"d","rp":"autogen"}],"script":"stream|from().measurement('m')|log()"}"#;
    // What a rebinding page's request looks like: its own name as Host.
    let (status, body) = request(
        &addr,
        "POST",
        "/kapacitor/v1/tasks",
        &[
            ("Host", "attacker.example:9092"),
            ("Content-Type", "application/json"),
        ],
        task,
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("http.allowed_hosts"), "{body}");
    let (status, body) = request(&addr, "GET", "/kapacitor/v1/tasks/x", &[], "");
    assert_eq!(status, 404, "nothing was defined: {body}");
    // localhost, the IP and no port at all are served.
    for host in ["localhost:9092", &addr, "127.0.0.1"] {
        let (status, body) = request(&addr, "GET", "/ping", &[("Host", host)], "");
        assert_eq!(status, 204, "{host}: {body}");
    }
    let (_, body) = request(&addr, "GET", "/kapacitor/v1/status", &[], "");
    let status_json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status_json["http_refused"]["unknown_host"], 1, "{body}");
    let _ = daemon.child.kill();
    let _ = daemon.child.wait();
    daemon.log_after_exit();
}

#[test]
fn a_name_in_allowed_hosts_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kapacitor.yaml");
    std::fs::write(
        &path,
        format!(
            "data_dir: \"{}\"\ntasks_dir: \"{}\"\nhttp:\n  allowed_hosts: [kapacitor.example.com]\n",
            dir.path().join("data").display(),
            dir.path().join("tasks").display()
        ),
    )
    .unwrap();
    let mut cmd = kapacitord();
    cmd.args(["--config", path.to_str().unwrap()]);
    let mut daemon = Spawned::start(cmd);
    let addr = daemon.url.trim_start_matches("http://").to_string();
    let (status, body) = request(
        &addr,
        "GET",
        "/ping",
        &[("Host", "Kapacitor.Example.com:9092")],
        "",
    );
    assert_eq!(status, 204, "{body}");
    let (status, body) = request(&addr, "GET", "/ping", &[("Host", "other.example.com")], "");
    assert_eq!(status, 403, "{body}");
    let _ = daemon.child.kill();
    let _ = daemon.child.wait();
    daemon.log_after_exit();
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
