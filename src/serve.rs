//! Serving the HTTP API (and `/write`) on a bound listener, over plain HTTP
//! or HTTPS, so that slow, idle and numerous clients cannot starve the rest:
//!
//! - at most `http.max_connections` connections; at the cap a new
//!   connection closes the connection that has been quiet longest among
//!   those not running a request (so a client hoarding idle connections
//!   cannot lock out another client's `/ping`), and only when every
//!   connection is busy is the newcomer answered 503 and closed;
//! - `http.read_header_timeout` to send a whole request head (and finish the
//!   TLS handshake), counted from connecting or from a request's first
//!   byte: a client that stalls mid-header (slowloris) is disconnected;
//! - `http.idle_timeout` between requests on a keep-alive connection, and
//!   for a response the client does not read;
//! - on HTTPS, a plain-HTTP request gets a 400 saying so instead of a hang.
//!
//! hyper's own header timeout also runs while a keep-alive connection waits
//! for its next request, which would make it an idle timeout too, so the
//! timeouts are kept here, from what each connection reads and writes.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use model::Limit;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a connection being closed (shutdown or eviction while busy)
/// may go without any I/O once its requests are done before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The first byte of a TLS record carrying a handshake (a ClientHello).
const TLS_HANDSHAKE: u8 = 0x16;

/// The limits of [`HttpServer`], from `http.*`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub read_header_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Limits {
    pub fn from_config(c: &config::HttpConfig) -> Limits {
        Limits {
            max_connections: c.max_connections.max(1),
            read_header_timeout: c.read_header_timeout,
            idle_timeout: c.idle_timeout,
        }
    }
}

/// What happened to the HTTP listener's connections.
#[derive(Debug, Default)]
pub struct ConnCounters {
    accepted: AtomicU64,
    active: AtomicU64,
    refused: AtomicU64,
    evicted: AtomicU64,
    header_timeouts: AtomicU64,
    idle_timeouts: AtomicU64,
    tls_failures: AtomicU64,
    plain_http: AtomicU64,
}

/// [`ConnCounters`] read at once, as shown under the http listener in the
/// status and in `/metrics`.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct ConnSnapshot {
    /// Connections accepted.
    pub connections: u64,
    /// Connections open now.
    pub active_connections: u64,
    /// Refused at `http.max_connections` with every connection busy (503).
    pub refused_connections: u64,
    /// Idle connections closed to make room for a new one at the cap.
    pub evicted_connections: u64,
    /// Closed for not sending a request head (or TLS handshake) within
    /// `http.read_header_timeout`.
    pub header_timeouts: u64,
    /// Keep-alive connections closed after `http.idle_timeout`.
    pub idle_timeouts: u64,
    /// TLS handshakes that failed.
    pub tls_handshake_failures: u64,
    /// Plain-HTTP requests sent to the HTTPS port (answered 400).
    pub plain_http_refused: u64,
}

impl ConnCounters {
    pub fn snapshot(&self) -> ConnSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ConnSnapshot {
            connections: get(&self.accepted),
            active_connections: get(&self.active),
            refused_connections: get(&self.refused),
            evicted_connections: get(&self.evicted),
            header_timeouts: get(&self.header_timeouts),
            idle_timeouts: get(&self.idle_timeouts),
            tls_handshake_failures: get(&self.tls_failures),
            plain_http_refused: get(&self.plain_http),
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The HTTP listener: a bound socket, the app, its limits and, for HTTPS,
/// the TLS acceptor.
pub struct HttpServer {
    pub listener: TcpListener,
    pub app: axum::Router,
    pub limits: Limits,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub counters: Arc<ConnCounters>,
    /// Also counts refusals in the listener's `rejected`.
    pub listener_counters: Arc<ingest::stats::ListenerCounters>,
}

/// Loads `http.tls`: the error names the key at fault.
pub fn tls_acceptor(
    c: &config::TlsConfig,
) -> Result<tokio_rustls::TlsAcceptor, (&'static str, String)> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read = |key: &'static str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| (key, format!("cannot read {}: {e}", path.display())))
    };
    let cert_pem = read("http.tls.cert", &c.cert)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            let path = c.cert.display();
            (
                "http.tls.cert",
                format!("{path} is not a PEM certificate: {e}"),
            )
        })?;
    if certs.is_empty() {
        let message = format!("{} holds no PEM certificate", c.cert.display());
        return Err(("http.tls.cert", message));
    }
    let key_pem = read("http.tls.key", &c.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        let path = c.key.display();
        (
            "http.tls.key",
            format!("{path} holds no PEM private key: {e}"),
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ("http.tls", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            let message = format!("the key does not fit the certificate: {e}");
            ("http.tls.key", message)
        })?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}

impl HttpServer {
    /// Accepts connections until `shutdown` is cancelled; connections are
    /// tracked by `tracker`, and finish their requests before they close.
    pub async fn run(self, shutdown: CancellationToken, tracker: TaskTracker) {
        let HttpServer {
            listener,
            app,
            limits,
            tls,
            counters,
            listener_counters,
        } = self;
        let shared = Arc::new(Shared {
            epoch: Instant::now(),
            limits,
            app,
            tls,
            counters,
            listener_counters,
            shutdown: shutdown.clone(),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let mut backoff = Duration::ZERO;
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = listener.accept() => match r {
                    Ok(accepted) => {
                        backoff = Duration::ZERO;
                        accepted
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off
                        // (5 ms doubling to 1 s, as Go does), don't spin.
                        backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                        tracing::warn!(listener = "http", "accept failed: {e}; retrying in {backoff:?}");
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(backoff) => continue,
                        }
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            bump(&shared.counters.accepted);
            match shared.admit() {
                Some(conn) => {
                    tracker.spawn(shared.clone().serve(stream, conn, peer));
                }
                None => {
                    bump(&shared.counters.refused);
                    shared.listener_counters.reject();
                    shared.breach(Limit::HttpMaxConnections);
                    tracing::warn!(listener = "http", %peer, "too many connections, all busy; refusing");
                    let plain = shared.tls.is_none();
                    tracker.spawn(async move {
                        if plain {
                            answer_and_close(stream, &refused()).await;
                        }
                    });
                }
            }
        }
    }
}

/// The 503 for a connection refused at the cap.
fn refused() -> String {
    canned(
        "503 Service Unavailable",
        "application/json",
        "{\"error\":\"too many connections (http.max_connections)\"}",
    )
}

/// The 400 for plain HTTP sent to the HTTPS port.
fn plain_on_tls() -> String {
    canned(
        "400 Bad Request",
        "text/plain; charset=utf-8",
        "this port speaks HTTPS: use an https:// URL\n",
    )
}

fn canned(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nConnection: close\r\nContent-Length: {}\r\nx-kapacitor-version: {}\r\n\r\n{body}",
        body.len(),
        crate::api::VERSION,
    )
}

/// Writes a whole canned response, then closes after reading what the
/// client sent (so that its request, unread, does not turn the close into
/// a reset that loses the response); bounded to a second.
async fn answer_and_close(mut stream: TcpStream, response: &str) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<_, io::Error>(())
    })
    .await;
}

/// What the accept loop and the connections share.
struct Shared {
    epoch: Instant,
    limits: Limits,
    app: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    counters: Arc<ConnCounters>,
    listener_counters: Arc<ingest::stats::ListenerCounters>,
    shutdown: CancellationToken,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
}

impl Shared {
    fn breach(&self, limit: Limit) {
        self.listener_counters.breaches().breach(limit);
    }

    /// A client that did not send a request head in time.
    fn header_timeout(&self) {
        bump(&self.counters.header_timeouts);
        self.breach(Limit::HttpReadHeaderTimeout);
    }

    fn now(&self) -> u64 {
        us(self.epoch.elapsed())
    }

    /// Registers a new connection, making room at the cap by evicting the
    /// connection quiet longest among those not running a request; `None`
    /// when every connection is busy.
    fn admit(&self) -> Option<Arc<Conn>> {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        if conns.len() >= self.limits.max_connections {
            let victim = conns
                .iter()
                .filter(|(_, c)| c.in_flight.load(Ordering::Acquire) == 0)
                .min_by_key(|(id, c)| (c.last_io.load(Ordering::Relaxed), **id))
                .map(|(id, _)| *id)?;
            if let Some(victim) = conns.remove(&victim) {
                bump(&self.counters.evicted);
                self.breach(Limit::HttpMaxConnections);
                victim.evict();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let now = self.now();
        let conn = Arc::new(Conn {
            id,
            born: now,
            in_flight: AtomicU64::new(0),
            served: AtomicU64::new(0),
            last_io: AtomicU64::new(now),
            head_started: AtomicU64::new(0),
            evicted: std::sync::atomic::AtomicBool::new(false),
            changed: Notify::new(),
        });
        conns.insert(id, conn.clone());
        self.counters
            .active
            .store(conns.len() as u64, Ordering::Relaxed);
        Some(conn)
    }

    fn forget(&self, conn: &Conn) {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns.remove(&conn.id);
        self.counters
            .active
            .store(conns.len() as u64, Ordering::Relaxed);
    }

    async fn serve(self: Arc<Self>, stream: TcpStream, conn: Arc<Conn>, peer: SocketAddr) {
        let _registered = Registered(self.clone(), conn.clone());
        let head_deadline =
            self.epoch + Duration::from_micros(conn.born) + self.limits.read_header_timeout;
        let Some(acceptor) = self.tls.clone() else {
            return self.http1(stream, conn, peer).await;
        };
        // A TLS client speaks first with a handshake record; anything else
        // is most likely plain HTTP sent to the HTTPS port.
        let mut first = [0u8; 1];
        match tokio::time::timeout_at(head_deadline, stream.peek(&mut first)).await {
            Err(_) => return self.header_timeout(),
            Ok(Err(_)) | Ok(Ok(0)) => return,
            Ok(Ok(_)) => {}
        }
        if first[0] != TLS_HANDSHAKE {
            bump(&self.counters.plain_http);
            tracing::debug!(listener = "http", %peer, "plain HTTP on the HTTPS port; answering 400");
            return answer_and_close(stream, &plain_on_tls()).await;
        }
        match tokio::time::timeout_at(head_deadline, acceptor.accept(stream)).await {
            Err(_) => self.header_timeout(),
            Ok(Err(e)) => {
                bump(&self.counters.tls_failures);
                tracing::debug!(listener = "http", %peer, "TLS handshake failed: {e}");
            }
            Ok(Ok(tls)) => self.http1(tls, conn, peer).await,
        }
    }

    /// Serves HTTP/1.1 on `io` until the client closes, a timeout or an
    /// eviction ends it, or shutdown has let its requests finish.
    async fn http1<IO>(self: Arc<Self>, io: IO, conn: Arc<Conn>, peer: SocketAddr)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let tracked = Tracked {
            inner: io,
            conn: conn.clone(),
            epoch: self.epoch,
        };
        let (app, busy_conn) = (self.app.clone(), conn.clone());
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let busy = Busy::start(busy_conn.clone());
                let mut app = app.clone();
                async move {
                    let response = tower::Service::call(&mut app, req).await?;
                    // Busy until the whole body is handed over.
                    Ok::<_, std::convert::Infallible>(
                        response.map(|body| axum::body::Body::new(Guarded { body, _busy: busy })),
                    )
                }
            });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // Ours instead (see the module's notes).
        builder.header_read_timeout(None);
        let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(tracked), service);
        tokio::pin!(connection);
        let mut closing = false;
        loop {
            let deadline = conn.deadline(&self.limits, closing);
            let changed = conn.changed.notified();
            tokio::select! {
                r = connection.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(listener = "http", %peer, "connection ended: {e}");
                    }
                    return;
                }
                _ = self.shutdown.cancelled(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                _ = changed => {
                    if conn.evicted.load(Ordering::Acquire) && !closing {
                        if conn.in_flight.load(Ordering::Acquire) == 0 {
                            tracing::debug!(listener = "http", %peer, "closing an idle connection to make room");
                            return;
                        }
                        // Became busy as it was picked: finish, then close.
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
                _ = sleep_until(self.epoch, deadline.map(|(at, _)| at)) => {
                    match deadline.map(|(_, why)| why) {
                        Some(Expiry::Header) => {
                            self.header_timeout();
                            tracing::debug!(listener = "http", %peer, "no request head within http.read_header_timeout; closing");
                        }
                        Some(Expiry::Idle) => {
                            bump(&self.counters.idle_timeouts);
                            self.breach(Limit::HttpIdleTimeout);
                        }
                        Some(Expiry::Grace) | None => {}
                    }
                    return;
                }
            }
        }
    }
}

async fn sleep_until(epoch: Instant, at: Option<u64>) {
    match at {
        Some(at) => tokio::time::sleep_until(epoch + Duration::from_micros(at)).await,
        None => std::future::pending().await,
    }
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Removes a connection from the registry when its task ends.
struct Registered(Arc<Shared>, Arc<Conn>);

impl Drop for Registered {
    fn drop(&mut self) {
        self.0.forget(&self.1);
    }
}

/// Why a connection's deadline closes it.
#[derive(Clone, Copy, Debug)]
enum Expiry {
    Header,
    Idle,
    Grace,
}

/// One connection's activity, in microseconds since the server's epoch.
struct Conn {
    id: u64,
    born: u64,
    /// Requests whose response has not been handed over entirely.
    in_flight: AtomicU64,
    /// Requests answered.
    served: AtomicU64,
    /// Last read or write that moved bytes.
    last_io: AtomicU64,
    /// When the pending request head's first byte arrived, plus 1; 0: none.
    head_started: AtomicU64,
    evicted: std::sync::atomic::AtomicBool,
    /// Wakes the connection's task to look at its deadline again.
    changed: Notify,
}

impl Conn {
    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.changed.notify_one();
    }

    /// When, and why, the connection is to be closed if nothing changes.
    fn deadline(&self, limits: &Limits, closing: bool) -> Option<(u64, Expiry)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last_io = self.last_io.load(Ordering::Relaxed);
        let (header, idle) = (us(limits.read_header_timeout), us(limits.idle_timeout));
        if closing {
            return Some((last_io.saturating_add(us(CLOSE_GRACE)), Expiry::Grace));
        }
        match self.head_started.load(Ordering::Acquire) {
            0 if self.served.load(Ordering::Relaxed) == 0 => {
                Some((self.born.saturating_add(header), Expiry::Header))
            }
            0 => Some((last_io.saturating_add(idle), Expiry::Idle)),
            started => Some(((started - 1).saturating_add(header), Expiry::Header)),
        }
    }

    fn read(&self, now: u64) {
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0
            && self
                .head_started
                .compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }
}

/// A request being answered: from its head parsed to its response body
/// handed over.
struct Busy {
    conn: Arc<Conn>,
}

impl Busy {
    fn start(conn: Arc<Conn>) -> Busy {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        conn.head_started.store(0, Ordering::Release);
        conn.changed.notify_one();
        Busy { conn }
    }
}

impl Drop for Busy {
    // Not a moment of I/O: `last_io` stays the response's last write, which
    // the client saw, so eviction order follows what clients did.
    fn drop(&mut self) {
        self.conn.served.fetch_add(1, Ordering::Relaxed);
        self.conn.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.conn.changed.notify_one();
    }
}

/// A response body that keeps its request [`Busy`] until it is dropped.
struct Guarded {
    body: axum::body::Body,
    _busy: Busy,
}

impl hyper::body::Body for Guarded {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection's stream, noting when bytes move.
struct Tracked<IO> {
    inner: IO,
    conn: Arc<Conn>,
    epoch: Instant,
}

impl<IO> Tracked<IO> {
    fn now(&self) -> u64 {
        us(self.epoch.elapsed())
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.conn.read(this.now());
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // Read before the bytes leave: the client cannot act on them
        // (connect again, say) before this moment.
        let now = this.now();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.conn.last_io.store(now, Ordering::Relaxed);
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let now = this.now();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.conn.last_io.store(now, Ordering::Relaxed);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Raises this process's soft limit on open files to its hard limit, as Go
/// programs do at start, so thousands of connections do not fail with
/// EMFILE. Returns the limit now in force.
pub fn raise_open_files_limit() -> io::Result<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // "Unlimited" hard limits (macOS) are capped by the kernel elsewhere.
    let target = limit.maximum.unwrap_or(1 << 20);
    match limit.current {
        Some(current) if current >= target => return Ok(current),
        None => return Ok(u64::MAX),
        Some(_) => {}
    }
    let mut raised = limit;
    raised.current = Some(target);
    setrlimit(Resource::Nofile, raised)?;
    Ok(target)
}
