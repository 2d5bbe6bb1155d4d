//! The destinations of a task's output nodes: `httpPost` bodies and
//! `influxDBOut` lines go into a bounded queue, and a worker per node (an
//! [`EffectWorker`] on the shared effects runtime) delivers them, so a slow
//! or dead destination never holds up the task.
//! What a full queue refuses is dropped and counted; `influxDBOut` writes
//! are buffered (`.buffer(n)` lines or `.flushInterval(d)`), retried with
//! backoff over the server's URLs, and flushed when the task stops: with one
//! more attempt, not the retries, so stopping or reloading a task whose
//! InfluxDB is down does not wait out the backoff. What is still undelivered
//! when the stop's deadline passes is abandoned and counted as dropped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use config::InfluxDbConfig;
use pipeline::output::{Output, OutputCounters, OutputCounts, OutputSpec, Payload};

use crate::effects::http_client::{HttpClient, Tls};
use crate::effects::{EffectWorker, Inbox};

/// Payloads queued per output node before new ones are dropped.
const QUEUE: usize = 1000;
/// Default `httpPost` timeout.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries of a failed write, after the first attempt, and the first pause.
const RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Lines a capture keeps; later ones are only counted.
pub const CAPTURED_LINES: usize = 100_000;

/// What `kapacitor test` and replays keep instead of writing to InfluxDB.
#[derive(Debug, Default)]
pub struct Captured {
    /// Lines `influxDBOut` would have written, as `db.rp <line>`: the first
    /// [`CAPTURED_LINES`] of them.
    pub influxdb: Mutex<Vec<String>>,
    /// Every line it would have written, kept or not.
    pub total: std::sync::atomic::AtomicU64,
}

/// One task's output workers.
pub struct OutputRegistry {
    influxdb: Arc<[InfluxDbConfig]>,
    capture: Option<Arc<Captured>>,
    workers: Mutex<Vec<Arc<Worker>>>,
}

impl OutputRegistry {
    /// Outputs that deliver, to the configured InfluxDB servers.
    pub fn new(influxdb: Arc<[InfluxDbConfig]>) -> Self {
        OutputRegistry {
            influxdb,
            capture: None,
            workers: Mutex::default(),
        }
    }

    /// Outputs for `kapacitor test`: influxDBOut lines are kept in
    /// `captured`; httpPost bodies are posted (to the case's local sink).
    pub fn capturing(captured: Arc<Captured>) -> Self {
        OutputRegistry {
            influxdb: Arc::from([]),
            capture: Some(captured),
            workers: Mutex::default(),
        }
    }

    /// Starts the worker of output node `node`.
    pub fn start(&self, node: &str, spec: OutputSpec) -> Result<Arc<dyn Output>, String> {
        let worker = match spec {
            OutputSpec::HttpPost {
                url,
                headers,
                timeout,
                skip_tls_verify,
                wait,
            } => {
                let tls = Tls::skipping_verification(skip_tls_verify);
                let timeout =
                    timeout.map_or(POST_TIMEOUT, |t| Duration::from_nanos(t.max(1) as u64));
                if wait {
                    // Nothing to stop later: the task's thread does the posting.
                    return Ok(Arc::new(WaitingPoster {
                        client: HttpClient::new(tls),
                        target: Arc::new(PostTarget {
                            url,
                            headers,
                            timeout,
                        }),
                        counters: Arc::default(),
                    }));
                }
                let target = PostTarget {
                    url,
                    headers,
                    timeout,
                };
                let target = Arc::new(target);
                let client = HttpClient::new(tls);
                Worker::start(node, false, move |mut inbox, counters| async move {
                    while let Some(payload) = inbox.recv().await {
                        target.post(&client, payload, &counters).await;
                        inbox.settled(1);
                    }
                })
            }
            OutputSpec::InfluxDb {
                cluster,
                database,
                retention_policy,
                precision,
                buffer,
                flush_interval,
                create,
            } => {
                if let Some(captured) = &self.capture {
                    Worker::capture(captured.clone(), format!("{database}.{retention_policy}"))
                } else {
                    let server = self.server(cluster.as_deref())?;
                    let target = Target {
                        server,
                        database,
                        retention_policy,
                        precision,
                        create,
                    };
                    let flush = Duration::from_nanos(flush_interval.max(1) as u64);
                    Worker::start(node, true, move |inbox, counters| async move {
                        write_lines(&target, buffer, flush, inbox, &counters).await;
                    })
                }
            }
        };
        let worker = Arc::new(worker);
        self.workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(worker.clone());
        Ok(worker)
    }

    fn server(&self, cluster: Option<&str>) -> Result<InfluxDbConfig, String> {
        let found = match cluster {
            Some(name) => self.influxdb.iter().find(|s| s.name == name),
            None => self
                .influxdb
                .iter()
                .find(|s| s.default)
                .or_else(|| self.influxdb.first()),
        };
        found.cloned().ok_or_else(|| match cluster {
            Some(name) => format!("no InfluxDB server named {name:?} in the config's `influxdb`"),
            None => "no InfluxDB server in the config's `influxdb`".to_string(),
        })
    }

    /// Lets every worker deliver what it holds until `deadline` (one for
    /// all of them), then abandons the rest.
    pub fn close_all(&self, deadline: Instant) {
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in workers {
            w.close(deadline);
        }
    }
}

/// A bounded queue and the loop that empties it (or, when capturing, a
/// list that keeps what is offered).
struct Worker {
    node: String,
    queue: Option<EffectWorker<Payload>>,
    counters: Arc<OutputCounters>,
    /// Count dropped payloads in lines (influxDBOut), not in bodies.
    lines: bool,
    capture: Option<(Arc<Captured>, String)>,
}

impl Worker {
    fn start<F>(
        node: &str,
        lines: bool,
        run: impl FnOnce(Inbox<Payload>, Arc<OutputCounters>) -> F,
    ) -> Worker
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let counters = Arc::new(OutputCounters::default());
        let queue = EffectWorker::start(QUEUE, |inbox| run(inbox, counters.clone()));
        Worker {
            node: node.to_owned(),
            queue: Some(queue),
            counters,
            lines,
            capture: None,
        }
    }

    fn capture(captured: Arc<Captured>, dbrp: String) -> Worker {
        Worker {
            node: String::new(),
            queue: None,
            counters: Arc::default(),
            lines: true,
            capture: Some((captured, dbrp)),
        }
    }

    /// Stops the worker once it has had one attempt at what it holds, or
    /// at `deadline`, whichever comes first.
    fn close(&self, deadline: Instant) {
        let Some(queue) = &self.queue else { return };
        let abandoned = queue.close(deadline);
        if abandoned > 0 {
            OutputCounters::add(&self.counters.dropped, abandoned);
            let what = if self.lines { "lines" } else { "bodies" };
            tracing::warn!(
                node = self.node,
                "{abandoned} {what} not delivered: the task stopped"
            );
        }
    }

    /// What a payload counts for: its lines, or one body.
    fn weight(&self, payload: &Payload) -> u64 {
        if self.lines {
            line_count(&payload.body)
        } else {
            1
        }
    }
}

fn line_count(payload: &[u8]) -> u64 {
    payload.iter().filter(|&&b| b == b'\n').count() as u64
}

impl Output for Worker {
    fn offer(&self, payload: Payload) {
        if let Some((captured, dbrp)) = &self.capture {
            let text = String::from_utf8_lossy(&payload.body);
            let mut kept = captured.influxdb.lock().unwrap_or_else(|e| e.into_inner());
            for line in text.lines() {
                captured
                    .total
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if kept.len() < CAPTURED_LINES {
                    kept.push(format!("{dbrp} {line}"));
                }
            }
            OutputCounters::add(&self.counters.written, line_count(&payload.body));
            return;
        }
        let n = self.weight(&payload);
        let refused = self
            .queue
            .as_ref()
            .is_none_or(|q| q.offer(payload, n).is_err());
        if refused {
            tracing::debug!("output queue full or closed: payload dropped");
            OutputCounters::add(&self.counters.dropped, n);
        }
    }

    fn counts(&self) -> OutputCounts {
        self.counters.snapshot()
    }
}

/// Where httpPost posts.
struct PostTarget {
    url: String,
    headers: Vec<(String, String)>,
    timeout: Duration,
}

impl PostTarget {
    /// Posts `payload` (to its own URL, if it has one) and counts how it
    /// went; the answer's status, 0 when none came.
    async fn post(&self, client: &HttpClient, payload: Payload, counters: &OutputCounters) -> u16 {
        let url = payload.url.as_deref().unwrap_or(&self.url);
        match client
            .post(
                url,
                &self.headers,
                "application/json",
                payload.body,
                self.timeout,
            )
            .await
        {
            Ok(a) if (200..300).contains(&a.status) => {
                OutputCounters::add(&counters.written, 1);
                a.status
            }
            Ok(a) => {
                OutputCounters::add(&counters.failed, 1);
                tracing::warn!("httpPost {url}: {} {}", a.status, a.body.trim());
                a.status
            }
            Err(e) => {
                OutputCounters::add(&counters.failed, 1);
                tracing::warn!("httpPost: {e}");
                0
            }
        }
    }
}

/// httpPost with `.codeField()`: the caller's thread waits for the answer
/// (posted on the effects runtime, at most the post's timeout).
struct WaitingPoster {
    client: HttpClient,
    target: Arc<PostTarget>,
    counters: Arc<OutputCounters>,
}

impl Output for WaitingPoster {
    fn offer(&self, payload: Payload) {
        self.offer_and_wait(payload);
    }

    fn offer_and_wait(&self, payload: Payload) -> u16 {
        let (client, target, counters) = (self.client, self.target.clone(), self.counters.clone());
        // The post's own timeout ends it first; this is a backstop.
        let timeout = target.timeout + Duration::from_secs(1);
        // The task waits for the answer, but its worker is not lost to the
        // other tasks meanwhile.
        host::blocking(|| {
            crate::effects::wait_for(timeout, async move {
                target.post(&client, payload, &counters).await
            })
        })
        .unwrap_or_else(|| {
            OutputCounters::add(&self.counters.failed, 1);
            0
        })
    }

    fn counts(&self) -> OutputCounts {
        self.counters.snapshot()
    }
}

/// Where influxDBOut writes.
struct Target {
    server: InfluxDbConfig,
    database: String,
    retention_policy: String,
    precision: String,
    create: bool,
}

impl Target {
    fn auth(&self) -> Vec<(String, String)> {
        if self.server.username.is_empty() {
            return Vec::new();
        }
        vec![(
            "authorization".into(),
            crate::effects::endpoints::basic_auth(&self.server.username, &self.server.password),
        )]
    }

    /// POSTs to `path` of each URL in turn until one answers.
    async fn post(
        &self,
        client: &HttpClient,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<crate::effects::http_client::Answer, String> {
        let mut last = String::from("no URLs");
        for base in &self.server.urls {
            let url = format!("{base}{path}");
            match client
                .post(
                    &url,
                    &self.auth(),
                    content_type,
                    body.to_vec(),
                    self.server.timeout,
                )
                .await
            {
                Ok(answer) => return Ok(answer),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn create(&self, client: &HttpClient) -> Result<(), String> {
        let mut statements = vec![format!("CREATE DATABASE {}", quote_ident(&self.database))];
        if !self.retention_policy.is_empty() && self.retention_policy != "autogen" {
            statements.push(format!(
                "CREATE RETENTION POLICY {} ON {} DURATION INF REPLICATION 1",
                quote_ident(&self.retention_policy),
                quote_ident(&self.database)
            ));
        }
        for q in statements {
            let body = serde_urlencoded::to_string([("q", q.as_str())]).unwrap_or_default();
            let answer = self
                .post(
                    client,
                    "/query",
                    "application/x-www-form-urlencoded",
                    body.as_bytes(),
                )
                .await?;
            if !(200..300).contains(&answer.status) {
                return Err(format!("{q}: {} {}", answer.status, answer.body.trim()));
            }
        }
        Ok(())
    }

    /// Writes `lines`, retrying what may succeed later (no answer, 5xx)
    /// with a growing pause, until the worker is asked to stop.
    async fn write(
        &self,
        client: &HttpClient,
        lines: &[u8],
        counters: &OutputCounters,
        inbox: &Inbox<Payload>,
    ) -> Written {
        let mut query = vec![("db", self.database.as_str())];
        if !self.retention_policy.is_empty() {
            query.push(("rp", self.retention_policy.as_str()));
        }
        if !self.precision.is_empty() {
            query.push(("precision", self.precision.as_str()));
        }
        let path = format!(
            "/write?{}",
            serde_urlencoded::to_string(&query).unwrap_or_default()
        );
        let mut pause = FIRST_BACKOFF;
        for attempt in 0..=RETRIES {
            if attempt > 0 {
                if !inbox.sleep(pause).await {
                    return Written::None;
                }
                OutputCounters::add(&counters.retried, 1);
                pause *= 4;
            }
            match self
                .post(client, &path, "text/plain; charset=utf-8", lines)
                .await
            {
                Ok(a) if (200..300).contains(&a.status) => return Written::All,
                Ok(a) if a.status < 500 => {
                    // The server refused the data, or some of it; sending it
                    // again won't help.
                    tracing::warn!(
                        "influxDBOut {}: {} {}",
                        self.database,
                        a.status,
                        a.body.trim()
                    );
                    return match partial_write_refused(&a.body) {
                        Some(refused) => Written::AllBut(refused),
                        None => Written::None,
                    };
                }
                Ok(a) => tracing::warn!("influxDBOut {}: {} (will retry)", self.database, a.status),
                Err(e) => tracing::warn!("influxDBOut: {e} (will retry)"),
            }
        }
        Written::None
    }
}

/// What came of writing a buffer of lines.
#[derive(Debug, PartialEq)]
enum Written {
    All,
    /// A partial write: the server kept all lines but this many.
    AllBut(u64),
    None,
}

/// How many lines an InfluxDB 1.x partial-write answer says it refused:
/// `{"error":"partial write: field type conflict: … dropped=2"}`. A line it
/// could not parse is not in `dropped=` (InfluxDB 1.6 answers `unable to
/// parse '…': … dropped=0` and keeps the rest), so each such message counts
/// one more. `None`: not a partial write, nothing was kept.
fn partial_write_refused(body: &str) -> Option<u64> {
    if !body.contains("partial write") {
        return None;
    }
    let dropped = body.rfind("dropped=").map_or(0, |i| {
        let digits: String = body[i + "dropped=".len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap_or(0)
    });
    Some(dropped + body.matches("unable to parse").count() as u64)
}

/// An InfluxQL identifier, double-quoted.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

async fn write_lines(
    target: &Target,
    buffer: usize,
    flush_every: Duration,
    mut inbox: Inbox<Payload>,
    counters: &OutputCounters,
) {
    let client = HttpClient::new(Tls::skipping_verification(
        target.server.insecure_skip_verify,
    ));
    if target.create
        && let Err(e) = target.create(&client).await
    {
        tracing::warn!("influxDBOut .create(): {e}");
    }
    let mut pending = Pending::default();
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        let next = match due {
            Some(due) => tokio::time::timeout_at(due, inbox.recv()).await,
            None => Ok(inbox.recv().await),
        };
        match next {
            Ok(Some(payload)) => {
                pending.lines += line_count(&payload.body);
                pending.body.extend_from_slice(&payload.body);
                due.get_or_insert_with(|| tokio::time::Instant::now() + flush_every);
                if pending.lines as usize >= buffer {
                    pending.flush(target, &client, counters, &inbox).await;
                    due = None;
                }
            }
            Err(_elapsed) => {
                pending.flush(target, &client, counters, &inbox).await;
                due = None;
            }
            Ok(None) => {
                pending.flush(target, &client, counters, &inbox).await;
                return;
            }
        }
    }
}

/// Lines buffered by influxDBOut, not yet written.
#[derive(Default)]
struct Pending {
    body: Vec<u8>,
    lines: u64,
}

impl Pending {
    async fn flush(
        &mut self,
        target: &Target,
        client: &HttpClient,
        counters: &OutputCounters,
        inbox: &Inbox<Payload>,
    ) {
        if self.lines == 0 {
            return;
        }
        let failed = match target.write(client, &self.body, counters, inbox).await {
            Written::All => 0,
            Written::AllBut(refused) => refused.min(self.lines),
            Written::None => self.lines,
        };
        OutputCounters::add(&counters.written, self.lines - failed);
        OutputCounters::add(&counters.failed, failed);
        inbox.settled(self.lines);
        self.body.clear();
        self.lines = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback port nothing listens on: connections are refused.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    }

    /// Answers a real InfluxDB 1.6.7 gave.
    #[test]
    fn partial_writes_say_how_many_lines_were_refused() {
        let conflict = r#"{"error":"partial write: field type conflict: input field \"f\" on measurement \"m\" is type string, already exists as type integer dropped=2"}"#;
        assert_eq!(partial_write_refused(conflict), Some(2));
        let unparsable = r#"{"error":"partial write: unable to parse 'bad line here': invalid field format dropped=0"}"#;
        assert_eq!(partial_write_refused(unparsable), Some(1));
        assert_eq!(
            partial_write_refused(r#"{"error":"database not found: \"nope\""}"#),
            None
        );
    }

    #[test]
    fn a_stopping_influxdb_out_tries_what_it_holds_once_and_counts_it() {
        let server = InfluxDbConfig {
            urls: vec![format!("http://127.0.0.1:{}", closed_port())],
            ..InfluxDbConfig::default()
        };
        let outputs = OutputRegistry::new(Arc::from([server]));
        let output = outputs
            .start(
                "influxdb_out1",
                OutputSpec::InfluxDb {
                    cluster: None,
                    database: "db".into(),
                    retention_policy: "autogen".into(),
                    precision: String::new(),
                    buffer: 1000,
                    flush_interval: 3_600_000_000_000,
                    create: false,
                },
            )
            .expect("starts");
        output.offer(b"cpu value=1 1\ncpu value=2 2\n".to_vec().into());
        // Buffered (an hour's flush interval): the stop is what sends it,
        // once, with no retries to wait out.
        outputs.close_all(Instant::now() + Duration::from_secs(5));
        let counts = output.counts();
        assert_eq!(
            (counts.written, counts.failed, counts.retried),
            (0, 2, 0),
            "{counts:?}"
        );
    }
}
