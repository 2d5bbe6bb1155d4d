//! The senders: HTTP POSTs on `writers` keep-alive connections (each waits
//! for its ack before the next POST, as Telegraf does), or raw UDP datagrams,
//! or raw TCP streams. Bodies are pre-built; writers take the next one from a
//! shared counter so the run stays roughly time ordered.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;

use super::workload::Body;

/// What one run did, as the client saw it.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Lines in every body handed to the socket.
    pub points_sent: u64,
    /// Lines in bodies the server acknowledged with 2xx (HTTP), or sent
    /// (UDP/TCP, which have no acknowledgement).
    pub points_ok: u64,
    pub requests: u64,
    pub non_2xx: u64,
    /// Requests that failed below HTTP (connection reset, refused, ...).
    pub transport_errors: u64,
    pub first_error: Option<String>,
    /// Bytes of bodies put on the wire (compressed when gzip).
    pub wire_bytes: u64,
    /// Uncompressed line-protocol bytes.
    pub raw_bytes: u64,
    pub elapsed: Duration,
    /// Time from sending a POST to reading its whole response, per POST.
    pub ack_ns: Vec<u64>,
    /// Stopped by the time bound before every body was sent.
    pub timed_out: bool,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.points_sent += other.points_sent;
        self.points_ok += other.points_ok;
        self.requests += other.requests;
        self.non_2xx += other.non_2xx;
        self.transport_errors += other.transport_errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.wire_bytes += other.wire_bytes;
        self.raw_bytes += other.raw_bytes;
        self.ack_ns.extend(other.ack_ns);
        self.timed_out |= other.timed_out;
    }
}

/// When to stop, and how fast to go.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Stop taking new bodies this long after the start.
    pub deadline: Duration,
    /// Points per second over all writers; `None` sends as fast as possible.
    pub rate: Option<f64>,
}

impl Limits {
    /// When body `index` may go: bodies are evenly spaced at the rate.
    fn due(&self, start: Instant, index: usize, lines_per_body: u64) -> Option<Instant> {
        let rate = self.rate.filter(|r| *r > 0.0)?;
        Some(start + Duration::from_secs_f64(index as f64 * lines_per_body as f64 / rate))
    }
}

/// Where and how to POST.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    pub addr: SocketAddr,
    /// Value of the Host header.
    pub host: String,
    /// Path and query of the write, e.g. `/write?db=bench`.
    pub path: String,
    pub authorization: Option<String>,
    pub gzip: bool,
}

/// Sends every body over HTTP on `writers` connections, within `limits`.
pub fn http(
    target: HttpTarget,
    bodies: Arc<Vec<Body>>,
    writers: usize,
    threads: usize,
    limits: Limits,
    on_start: impl FnOnce(),
) -> anyhow::Result<Outcome> {
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(async move {
        let uri: Uri = format!("http://{}{}", target.host, target.path)
            .parse()
            .context("cannot build the write URL")?;
        let mut senders = Vec::with_capacity(writers);
        for _ in 0..writers {
            senders.push(connect(target.addr).await?);
        }
        on_start();
        let start = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::with_capacity(writers);
        for sender in senders {
            let (target, bodies, next, uri) =
                (target.clone(), bodies.clone(), next.clone(), uri.clone());
            tasks.push(tokio::spawn(async move {
                http_writer(sender, target, uri, bodies, next, start, limits).await
            }));
        }
        let mut total = Outcome::default();
        for task in tasks {
            total.merge(task.await.context("writer task failed")?);
        }
        total.elapsed = start.elapsed();
        Ok(total)
    })
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // The connection ends when the writer drops its sender or the server
        // hangs up; the writer sees the latter as a failed request.
        let _ = conn.await;
    });
    Ok(sender)
}

async fn http_writer(
    mut sender: SendRequest<Full<Bytes>>,
    target: HttpTarget,
    uri: Uri,
    bodies: Arc<Vec<Body>>,
    next: Arc<AtomicUsize>,
    start: Instant,
    limits: Limits,
) -> Outcome {
    let mut out = Outcome::default();
    let deadline = start + limits.deadline;
    let per_body = bodies.first().map_or(0, |b| b.lines);
    loop {
        if Instant::now() >= deadline {
            out.timed_out = next.load(Ordering::Relaxed) < bodies.len();
            break;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(body) = bodies.get(i) else { break };
        if let Some(due) = limits.due(start, i, per_body) {
            tokio::time::sleep_until(due.into()).await;
        }
        if sender.ready().await.is_err() {
            match connect(target.addr).await {
                Ok(s) => sender = s,
                Err(err) => {
                    out.transport_errors += 1;
                    out.first_error.get_or_insert_with(|| format!("{err:#}"));
                    break;
                }
            }
        }
        let mut request = Request::post(uri.clone())
            .header(hyper::header::HOST, &target.host)
            .header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(hyper::header::USER_AGENT, "kapacitor-bench");
        if target.gzip {
            request = request.header(hyper::header::CONTENT_ENCODING, "gzip");
        }
        if let Some(auth) = &target.authorization {
            request = request.header(hyper::header::AUTHORIZATION, auth);
        }
        let request = match request.body(Full::new(body.data.clone())) {
            Ok(r) => r,
            Err(err) => {
                out.first_error.get_or_insert_with(|| err.to_string());
                break;
            }
        };
        out.points_sent += body.lines;
        out.wire_bytes += body.data.len() as u64;
        out.raw_bytes += body.raw_len;
        out.requests += 1;
        let sent = Instant::now();
        let reply = async {
            let response = sender.send_request(request).await?;
            let status = response.status();
            let text = response.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, text))
        }
        .await;
        match reply {
            Ok((status, text)) => {
                out.ack_ns.push(sent.elapsed().as_nanos() as u64);
                if status.is_success() {
                    out.points_ok += body.lines;
                } else {
                    out.non_2xx += 1;
                    out.first_error.get_or_insert_with(|| {
                        format!("{status}: {}", String::from_utf8_lossy(&text).trim())
                    });
                }
            }
            Err(err) => {
                out.transport_errors += 1;
                out.first_error
                    .get_or_insert_with(|| format!("request failed: {err}"));
            }
        }
    }
    out
}

/// Resolves `host:port` to the first address.
pub fn resolve(addr: &str) -> anyhow::Result<SocketAddr> {
    addr.to_socket_addrs()
        .with_context(|| format!("cannot resolve {addr:?}"))?
        .next()
        .with_context(|| format!("{addr:?} resolves to no address"))
}

/// Sends every datagram from `writers` sockets. UDP has no acknowledgement:
/// what the server kept is in its own counters.
pub fn udp(
    addr: SocketAddr,
    grams: Arc<Vec<Body>>,
    writers: usize,
    limits: Limits,
    on_start: impl FnOnce(),
) -> anyhow::Result<Outcome> {
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()?;
    let sockets = (0..writers)
        .map(|_| {
            let s = UdpSocket::bind(bind)?;
            s.connect(addr)?;
            Ok(s)
        })
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("cannot open a UDP socket to {addr}"))?;
    raw_senders(sockets, grams, limits, on_start, |socket, data| {
        socket.send(data).map(|_| ())
    })
}

/// Writes every body as a plain newline-delimited stream on `writers` TCP
/// connections (Telegraf's socket_writer; with gzip, one member per body).
pub fn tcp(
    addr: SocketAddr,
    bodies: Arc<Vec<Body>>,
    writers: usize,
    limits: Limits,
    on_start: impl FnOnce(),
) -> anyhow::Result<Outcome> {
    let streams = (0..writers)
        .map(|_| TcpStream::connect(addr))
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("cannot connect to {addr}"))?;
    let out = raw_senders(streams, bodies, limits, on_start, |stream, data| {
        stream.write_all(data)
    })?;
    Ok(out)
}

fn raw_senders<S: Send>(
    sockets: Vec<S>,
    bodies: Arc<Vec<Body>>,
    limits: Limits,
    on_start: impl FnOnce(),
    send: impl Fn(&mut S, &[u8]) -> std::io::Result<()> + Sync,
) -> anyhow::Result<Outcome> {
    if sockets.is_empty() {
        bail!("--writers must be at least 1");
    }
    let next = AtomicUsize::new(0);
    let per_body = bodies.first().map_or(0, |b| b.lines);
    on_start();
    let start = Instant::now();
    let mut total = Outcome::default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = sockets
            .into_iter()
            .map(|mut socket| {
                let (bodies, next, send) = (&bodies, &next, &send);
                scope.spawn(move || {
                    let mut out = Outcome::default();
                    loop {
                        if start.elapsed() >= limits.deadline {
                            out.timed_out = next.load(Ordering::Relaxed) < bodies.len();
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(body) = bodies.get(i) else { break };
                        if let Some(due) = limits.due(start, i, per_body) {
                            std::thread::sleep(due.saturating_duration_since(Instant::now()));
                        }
                        match send(&mut socket, &body.data) {
                            Ok(()) => {
                                out.requests += 1;
                                out.points_sent += body.lines;
                                out.points_ok += body.lines;
                                out.wire_bytes += body.data.len() as u64;
                                out.raw_bytes += body.raw_len;
                            }
                            Err(err) => {
                                out.transport_errors += 1;
                                out.first_error.get_or_insert_with(|| err.to_string());
                                break;
                            }
                        }
                    }
                    // Dropping the socket closes a TCP stream cleanly.
                    drop(socket);
                    out
                })
            })
            .collect();
        for handle in handles {
            total.merge(handle.join().expect("sender thread panicked"));
        }
    });
    total.elapsed = start.elapsed();
    Ok(total)
}
