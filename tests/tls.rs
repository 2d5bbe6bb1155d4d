//! Posting to `https://` URLs against a real local TLS server (its
//! certificate in `tests/tls/`, signed by a test CA): a certificate the
//! system does not trust is refused and counted, `.skipSSLVerification()`
//! accepts it, and a daemon told to trust the CA (`SSL_CERT_FILE`) posts to
//! it with the certificate checked, host name included.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use config::DaemonConfig;
use http_body_util::BodyExt as _;
use kapacitor::Server;
use kapacitor::tasks::TaskDefinition;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn tls_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls"))
}

/// Paths POSTed to, with their bodies.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// An HTTPS server on a free loopback port, on its own thread; returns the
/// port and what it receives.
fn https_receiver() -> (u16, Received) {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(tls_dir().join("server.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(tls_dir().join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let received: Received = Arc::default();
    let store = received.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let store = store.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends here.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let store = store.clone();
                            async move {
                                let path = req.uri().path().to_owned();
                                let body = req.into_body().collect().await?.to_bytes();
                                let body = String::from_utf8_lossy(&body).into_owned();
                                store.lock().unwrap().push((path, body));
                                Ok::<_, hyper::Error>(hyper::Response::new(
                                    http_body_util::Empty::<bytes::Bytes>::new(),
                                ))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    });
    (port, received)
}

fn wait_for(received: &Received, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some((_, body)) = received.lock().unwrap().iter().find(|(p, _)| p == path) {
            return body.clone();
        }
        assert!(
            Instant::now() < deadline,
            "nothing posted to {path}: {:?}",
            received.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn task(id: &str, script: String) -> TaskDefinition {
    TaskDefinition {
        id: id.into(),
        task_type: dsl::TaskType::Stream,
        dbrps: vec![pipeline::DbRp::new("telegraf", "autogen")],
        script,
        measurement: None,
        meta: Default::default(),
    }
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_unless_verification_is_skipped() {
    let (port, received) = https_receiver();
    let dir = tempfile::tempdir().unwrap();
    let mut config = DaemonConfig::default();
    let lo = "127.0.0.1:0".parse().unwrap();
    (config.http.bind, config.udp.bind, config.tcp.bind) = (lo, lo, lo);
    config.data_dir = dir.path().join("data");
    config.tasks_dir = dir.path().join("tasks");
    let server = Server::start(config).await.unwrap();
    let url = |path: &str| format!("https://127.0.0.1:{port}/{path}");
    let scripts = [
        (
            "checked",
            format!(
                "stream|from().measurement('cpu')|httpPost('{}')",
                url("checked")
            ),
        ),
        (
            "skipped",
            format!(
                "stream|from().measurement('cpu')|httpPost('{}').skipSSLVerification()",
                url("skipped")
            ),
        ),
    ];
    for (id, script) in scripts {
        server.tasks().define(task(id, script)).unwrap();
        server.tasks().enable(id).unwrap();
    }
    let addr = server.addrs().http.unwrap();
    let lines = "cpu,host=a value=1 1\n";
    let write = format!(
        "POST /write?db=telegraf&precision=s HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{lines}",
        lines.len()
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(write.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 204"), "{reply}");
    let body = tokio::task::spawn_blocking({
        let received = received.clone();
        move || wait_for(&received, "/skipped")
    })
    .await
    .unwrap();
    assert!(body.contains("\"host\":\"a\""), "{body}");
    // The checked post failed on the certificate and was counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = server.tasks().get("checked").unwrap();
        let node = info.nodes.iter().find(|n| n.kind == "httpPost").unwrap();
        let counts = serde_json::to_value(node.output).unwrap();
        if counts["failed"] == 1 {
            assert_eq!(counts["written"], 0, "{counts}");
            break;
        }
        assert!(Instant::now() < deadline, "{counts}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !received
            .lock()
            .unwrap()
            .iter()
            .any(|(p, _)| p == "/checked")
    );
    server.shutdown().await;
}

/// A deadman with no data fires on its own, so the daemon needs no input:
/// its alert posts to `https://localhost` with the certificate checked
/// against the CA that `SSL_CERT_FILE` names.
#[test]
fn a_daemon_trusting_the_ca_posts_with_the_certificate_checked() {
    let (port, received) = https_receiver();
    let dir = tempfile::tempdir().unwrap();
    let tasks = dir.path().join("tasks");
    std::fs::create_dir_all(&tasks).unwrap();
    std::fs::write(
        tasks.join("trusted.tick"),
        format!(
            "stream|from().measurement('cpu')|deadman(0.0, 100ms).post('https://localhost:{port}/trusted')\n"
        ),
    )
    .unwrap();
    std::fs::write(
        tasks.join("trusted.yaml"),
        "type: stream\ndbrp: [telegraf.autogen]\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kapacitord"))
        .current_dir(dir.path())
        .env("KAPACITOR_HTTP_BIND", "127.0.0.1:0")
        .env("KAPACITOR_UDP_BIND", "127.0.0.1:0")
        .env("KAPACITOR_TCP_BIND", "127.0.0.1:0")
        .env("SSL_CERT_FILE", tls_dir().join("ca.pem"))
        .env_remove("SSL_CERT_DIR")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let posted = std::panic::catch_unwind(|| wait_for(&received, "/trusted"));
    let _ = child.kill();
    let _ = child.wait();
    let body = posted.unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert!(body.contains("\"level\":\"CRITICAL\""), "{body}");
}
