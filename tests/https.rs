//! The HTTP listener over HTTPS (`http.tls`), against the real kapacitord
//! with the test certificate in `tests/tls/`: Telegraf-style writes and the
//! API over TLS, the CLI trusting the test CA (`--ca` or `SSL_CERT_FILE`),
//! a plain-HTTP request answered with a clear 400 at once, and bad
//! certificate or key paths refused at start naming the key.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Daemon, exchange, kapacitord, status_and_body};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};

fn tls_file(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls")).join(name)
}

fn https_yaml(cert: &Path, key: &Path) -> String {
    format!(
        "http:\n  tls:\n    cert: {:?}\n    key: {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    )
}

impl Daemon {
    fn https() -> Daemon {
        Daemon::start(&https_yaml(
            &tls_file("server.pem"),
            &tls_file("server.key"),
        ))
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// One request over a TLS connection that trusts the test CA and checks
    /// the name (`127.0.0.1`): (status, body).
    fn tls_request(&self, method: &str, target: &str, body: &str) -> (u16, String) {
        let content_type = if body.starts_with('{') {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(tls_file("ca.pem")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let tcp = TcpStream::connect(&self.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Telegraf/1.30\r\nContent-Type: {content_type}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        tls.write_all(request.as_bytes()).unwrap();
        let mut reply = Vec::new();
        // A close without close_notify is an error to rustls; the reply is
        // whole by then.
        let _ = tls.read_to_end(&mut reply);
        let reply = String::from_utf8_lossy(&reply);
        let (status, body) = status_and_body(&reply);
        assert_ne!(status, 0, "no answer: {reply:?}");
        (status, body)
    }
}

fn cli(args: &[&str], envs: &[(&str, &Path)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kapacitor"));
    cmd.env_remove("KAPACITOR_URL")
        .env_remove("KAPACITOR_CA")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn writes_the_api_and_the_cli_work_over_https() {
    let daemon = Daemon::https();
    let lines = "cpu,host=a usage_idle=97.5 1700000000000000000\nmem,host=a used=1024i 1700000000000000000\n";
    let (code, body) = daemon.tls_request("POST", "/write?db=telegraf", lines);
    assert_eq!(code, 204, "{body}");
    let (code, body) = daemon.tls_request("GET", "/ping", "");
    assert_eq!(code, 204, "{body}");
    let task = r#"{"id":"cpu_tls","type":"stream","dbrps":[{"db":"telegraf","rp":"autogen"}],"script":"stream|from().measurement('cpu')","status":"enabled"}"#;
    let (code, body) = daemon.tls_request("POST", "/kapacitor/v1/tasks", task);
    assert_eq!(code, 200, "{body}");

    let url = daemon.url();
    let ca = tls_file("ca.pem");
    let (ok, out, err) = cli(
        &[
            "--url",
            &url,
            "--ca",
            ca.to_str().unwrap(),
            "--json",
            "status",
        ],
        &[],
    );
    assert!(ok, "{out}{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    let http = &status["listeners"]["http"];
    assert_eq!(http["tls"], true, "{http}");
    assert_eq!(http["points"], 2, "{http}");

    // The system roots replaced by the test CA, as for any rustls client.
    let (ok, out, err) = cli(&["--url", &url, "list", "tasks"], &[("SSL_CERT_FILE", &ca)]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("cpu_tls"), "{out}");

    // Without the CA the certificate is refused, and the error says why.
    let (ok, out, err) = cli(&["--url", &url, "status"], &[]);
    assert!(!ok, "{out}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
fn plain_http_to_the_https_port_is_told_so_at_once() {
    let daemon = Daemon::https();
    let started = Instant::now();
    let (code, body) = exchange(
        &daemon.addr,
        "GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        Duration::from_secs(1),
    );
    let took = started.elapsed();
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("HTTPS"), "{body}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    // The daemon still serves HTTPS, and counted the mistake.
    let (code, body) = daemon.tls_request("GET", "/kapacitor/v1/status", "");
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["listeners"]["http"]["plain_http_refused"], 1);
}

#[test]
fn bad_certificate_or_key_paths_stop_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    for (cert, key, named) in [
        (missing.clone(), tls_file("server.key"), "http.tls.cert"),
        (tls_file("server.pem"), missing.clone(), "http.tls.key"),
        // A certificate where the key should be.
        (tls_file("server.pem"), tls_file("ca.pem"), "http.tls.key"),
    ] {
        let config = dir.path().join("kapacitor.yaml");
        std::fs::write(&config, https_yaml(&cert, &key)).unwrap();
        let out = kapacitord()
            .current_dir(dir.path())
            .env("KAPACITOR_HTTP_BIND", "127.0.0.1:0")
            .env("KAPACITOR_UDP_BIND", "127.0.0.1:0")
            .env("KAPACITOR_TCP_BIND", "127.0.0.1:0")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("invalid configuration: {named}:")),
            "{named}: {stderr}"
        );
    }
}
