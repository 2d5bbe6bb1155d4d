//! Alert handlers: where an alert node's events go (`.post()`, `.tcp()`,
//! `.log()`, `.exec()`), and the server's bounded alert history.
//!
//! Publishing an event only renders its JSON once and offers it to each
//! handler's bounded queue, an [`EffectWorker`] on the shared effects
//! runtime that does the I/O. A slow or dead endpoint fills its own queue
//! and then loses events (counted), never holding up points or the other
//! handlers; every action has a timeout, and stopping a task abandons what
//! its handlers have not sent by the deadline it is given.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt as _;

use crate::effects::EffectWorker;
use crate::effects::endpoints::HttpEndpoints;
use crate::effects::http_client::{HttpClient, Tls};

use dsl::{HandlerSpec, Value};
use pipeline::nodes::alert::{AlertEvent, AlertSink};
use pipeline::spec::BuildError;
use serde::Serialize;

/// Events a handler may have waiting before new ones are dropped.
const QUEUE_EVENTS: usize = 1000;
/// Events the server remembers for `/kapacitor/v1/alerts`.
const HISTORY_EVENTS: usize = 1000;
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `.tcp()` may take to connect and write an event.
const TCP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an `.exec()` program may run before it is killed (Kapacitor
/// has no such property, and waits forever).
const EXEC_TIMEOUT: Duration = Duration::from_secs(10);

/// One remembered event.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryEntry {
    pub task: String,
    pub id: String,
    pub level: String,
    pub message: String,
    pub time: String,
    /// The event as handlers received it, kept as rendered and parsed only
    /// when the history is read: publishing is on the data path.
    #[serde(serialize_with = "as_json")]
    pub event: Arc<str>,
}

fn as_json<S: serde::Serializer>(json: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    serde_json::from_str::<serde_json::Value>(json)
        .unwrap_or_default()
        .serialize(s)
}

/// The last events of every task, oldest first.
#[derive(Debug, Default)]
pub struct AlertHistory {
    events: Mutex<VecDeque<HistoryEntry>>,
    /// Events published since start, including those the bound pushed out.
    published: AtomicU64,
}

impl AlertHistory {
    fn push(&self, event: &AlertEvent, json: &Arc<str>) {
        let entry = HistoryEntry {
            task: event.task_name.clone(),
            id: event.id.clone(),
            level: event.level.as_str().to_string(),
            message: event.message.clone(),
            time: pipeline::time::format_rfc3339(event.time),
            event: json.clone(),
        };
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if events.len() == HISTORY_EVENTS {
            events.pop_front();
        }
        events.push_back(entry);
        self.published.fetch_add(1, Ordering::Release);
    }

    /// How many events were published since the server started.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Acquire)
    }

    /// Recent events, newest last, optionally of one task and one level.
    pub fn recent(&self, task: Option<&str>, level: Option<&str>) -> Vec<HistoryEntry> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events
            .iter()
            .filter(|e| task.is_none_or(|t| e.task == t))
            .filter(|e| level.is_none_or(|l| e.level.eq_ignore_ascii_case(l)))
            .cloned()
            .collect()
    }
}

/// What a handler does with one event's JSON.
enum Action {
    Post {
        url: String,
        headers: Vec<(String, String)>,
        tls: Tls,
        timeout: Duration,
    },
    Tcp {
        addr: String,
    },
    Log {
        path: String,
        mode: Option<u32>,
    },
    Exec {
        program: String,
        args: Vec<String>,
    },
}

/// The (first) value of handler property `name`, if set.
fn setting<'a>(h: &'a HandlerSpec, name: &str) -> Option<&'a Value> {
    h.properties
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| p.args.first())
}

impl Action {
    fn from_spec(
        node: &str,
        h: &HandlerSpec,
        endpoints: &HttpEndpoints,
    ) -> Result<Action, BuildError> {
        let invalid = |message: String| BuildError::at(node, h.span, message);
        let string = |v: Option<&Value>, what: &str| match v {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(invalid(format!(".{}() needs {what}", h.kind))),
        };
        Ok(match h.kind.as_str() {
            "post" => {
                let endpoint = match h.properties.iter().find(|p| p.name == "endpoint") {
                    Some(p) => {
                        let name = string(p.args.first(), "an endpoint name")?;
                        Some(endpoints.get(&name).ok_or_else(|| {
                            BuildError::at(
                                node,
                                p.span,
                                format!("no endpoint named `{name}` in the config's `httppost`"),
                            )
                        })?)
                    }
                    None => None,
                };
                // A URL or an endpoint, not both: `dsl::compile` checks.
                let (url, mut headers) = match endpoint {
                    Some(e) => (e.url, e.headers),
                    None => (string(h.args.first(), "a URL")?, Vec::new()),
                };
                for p in h.properties.iter().filter(|p| p.name == "header") {
                    match (p.args.first(), p.args.get(1)) {
                        (Some(Value::String(k)), Some(Value::String(v))) => {
                            headers.retain(|(old, _)| !old.eq_ignore_ascii_case(k));
                            headers.push((k.clone(), v.clone()))
                        }
                        _ => {
                            return Err(invalid(
                                ".post().header() takes a name and a value".into(),
                            ));
                        }
                    }
                }
                let tls = Tls::skipping_verification(
                    h.properties.iter().any(|p| p.name == "skipSSLVerification"),
                );
                // Positive: `dsl::compile` checks.
                let timeout = match setting(h, "timeout") {
                    Some(Value::Duration(ns)) => u64::try_from(*ns).ok(),
                    _ => None,
                }
                .map_or(POST_TIMEOUT, Duration::from_nanos);
                Action::Post {
                    url,
                    headers,
                    tls,
                    timeout,
                }
            }
            "tcp" => Action::Tcp {
                addr: string(h.args.first(), "an address host:port")?,
            },
            "log" => {
                let mode = match setting(h, "mode") {
                    Some(Value::Int(m)) => u32::try_from(*m).ok(),
                    _ => None,
                };
                Action::Log {
                    path: string(h.args.first(), "a file path")?,
                    mode,
                }
            }
            "exec" => {
                let program = string(h.args.first(), "a program")?;
                let args = h.args[1..]
                    .iter()
                    .map(|a| string(Some(a), "string arguments"))
                    .collect::<Result<_, _>>()?;
                Action::Exec { program, args }
            }
            other => {
                return Err(invalid(format!(
                    "the .{other}() alert handler is not supported yet (post, tcp, log and exec are)"
                )));
            }
        })
    }

    async fn run(&self, json: &str) -> Result<(), String> {
        match self {
            Action::Post {
                url,
                headers,
                tls,
                timeout,
            } => {
                let answer = HttpClient::new(*tls)
                    .post(
                        url,
                        headers,
                        "application/json",
                        json.as_bytes().to_vec(),
                        *timeout,
                    )
                    .await?;
                if (200..300).contains(&answer.status) {
                    Ok(())
                } else {
                    // The answer's body says why (`.captureResponse()` in
                    // Kapacitor; here always).
                    Err(format!(
                        "post {url}: {} {}",
                        answer.status,
                        answer.body.trim()
                    ))
                }
            }
            Action::Tcp { addr } => {
                let send = async {
                    let mut stream = tokio::net::TcpStream::connect(addr.as_str()).await?;
                    stream.write_all(json.as_bytes()).await?;
                    stream.write_all(b"\n").await?;
                    stream.shutdown().await
                };
                tokio::time::timeout(TCP_TIMEOUT, send)
                    .await
                    .map_err(|_| format!("tcp {addr}: timed out after {TCP_TIMEOUT:?}"))?
                    .map_err(|e| format!("tcp {addr}: {e}"))
            }
            Action::Log { path, mode } => {
                let mut options = tokio::fs::OpenOptions::new();
                options.create(true).append(true);
                #[cfg(unix)]
                options.mode(mode.unwrap_or(0o600));
                #[cfg(not(unix))]
                let _ = mode;
                let mut file = options
                    .open(path)
                    .await
                    .map_err(|e| format!("log {path}: {e}"))?;
                file.write_all(format!("{json}\n").as_bytes())
                    .await
                    .map_err(|e| format!("log {path}: {e}"))
            }
            Action::Exec { program, args } => {
                let mut child = tokio::process::Command::new(program)
                    .args(args)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    // Abandoned at a stop: the program goes too.
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| format!("exec {program}: {e}"))?;
                let run = async {
                    if let Some(mut stdin) = child.stdin.take() {
                        // A program that does not read its input is fine.
                        let _ = stdin.write_all(json.as_bytes()).await;
                    }
                    child.wait().await
                };
                let status = match tokio::time::timeout(EXEC_TIMEOUT, run).await {
                    Ok(status) => status.map_err(|e| format!("exec {program}: {e}"))?,
                    Err(_) => {
                        let _ = child.kill().await;
                        return Err(format!(
                            "exec {program}: killed, still running after {EXEC_TIMEOUT:?}"
                        ));
                    }
                };
                if status.success() {
                    Ok(())
                } else {
                    Err(format!("exec {program}: {status}"))
                }
            }
        }
    }
}

/// Counters of one handler.
#[derive(Debug, Default)]
pub struct HandlerCounters {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    /// Refused by a full queue, or still queued when the task stopped
    /// and its deadline passed.
    pub dropped: AtomicU64,
}

struct Handler {
    kind: String,
    worker: EffectWorker<Arc<str>>,
    counters: Arc<HandlerCounters>,
}

/// An alert node's handlers, plus the server's history: the node's sink.
pub struct HandlerSet {
    handlers: Vec<Handler>,
    history: Arc<AlertHistory>,
}

impl HandlerSet {
    /// Starts a worker per handler of an alert node (on the effects
    /// runtime: no thread of its own).
    pub fn start(
        node: &str,
        specs: &[HandlerSpec],
        endpoints: &HttpEndpoints,
        history: Arc<AlertHistory>,
    ) -> Result<Self, BuildError> {
        let actions: Vec<(&HandlerSpec, Action)> = specs
            .iter()
            .map(|h| Action::from_spec(node, h, endpoints).map(|a| (h, a)))
            .collect::<Result<_, _>>()?;
        let handlers = actions
            .into_iter()
            .map(|(h, action)| {
                let counters = Arc::new(HandlerCounters::default());
                let worker = EffectWorker::each(QUEUE_EVENTS, |_| 1, {
                    let (action, counters) = (Arc::new(action), counters.clone());
                    move |json: Arc<str>| {
                        let (action, counters) = (action.clone(), counters.clone());
                        async move { handle(&action, &json, &counters).await }
                    }
                });
                Handler {
                    kind: h.kind.clone(),
                    worker,
                    counters,
                }
            })
            .collect();
        Ok(HandlerSet { handlers, history })
    }

    /// Whether `specs` would start: what [`HandlerSet::start`] refuses,
    /// without starting anything.
    pub fn check(
        node: &str,
        specs: &[HandlerSpec],
        endpoints: &HttpEndpoints,
    ) -> Result<(), BuildError> {
        for h in specs {
            Action::from_spec(node, h, endpoints)?;
        }
        Ok(())
    }

    /// Lets every handler send what is queued until `deadline`, then
    /// abandons the rest (counted as dropped).
    pub fn close(&self, node: &str, deadline: Instant) {
        for h in &self.handlers {
            let abandoned = h.worker.close(deadline);
            if abandoned > 0 {
                h.counters.dropped.fetch_add(abandoned, Ordering::Relaxed);
                tracing::warn!(
                    node,
                    "{abandoned} events not sent by .{}(): the task stopped",
                    h.kind
                );
            }
        }
    }

    /// (kind, counters) of each handler.
    pub fn counters(&self) -> Vec<(String, Arc<HandlerCounters>)> {
        self.handlers
            .iter()
            .map(|h| (h.kind.clone(), h.counters.clone()))
            .collect()
    }
}

impl AlertSink for HandlerSet {
    fn publish(&self, event: &AlertEvent) {
        let json: Arc<str> = Arc::from(event.to_json());
        self.history.push(event, &json);
        for h in &self.handlers {
            if h.worker.offer(json.clone(), 1).is_err() {
                h.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn handle(action: &Action, json: &str, counters: &HandlerCounters) {
    match action.run(json).await {
        Ok(()) => {
            counters.sent.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("alert handler failed: {e}");
        }
    }
}

/// The handler sets of one task's alert nodes: one set per node (shared by
/// its parallel instances), closed together when the task stops.
pub struct HandlerRegistry {
    history: Arc<AlertHistory>,
    endpoints: HttpEndpoints,
    sets: Mutex<Vec<(String, Arc<HandlerSet>)>>,
    /// Whether handlers act; without, events only reach the history.
    fire: bool,
}

impl HandlerRegistry {
    pub fn new(history: Arc<AlertHistory>) -> Self {
        HandlerRegistry {
            history,
            endpoints: HttpEndpoints::default(),
            sets: Mutex::default(),
            fire: true,
        }
    }

    /// Handlers that never act: events are kept in `history` only (a
    /// replay's alerts, shown rather than sent).
    pub fn capturing(history: Arc<AlertHistory>) -> Self {
        HandlerRegistry {
            fire: false,
            ..HandlerRegistry::new(history)
        }
    }

    /// Where `.post().endpoint(NAME)` finds its endpoint.
    pub fn with_endpoints(mut self, endpoints: HttpEndpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// The sink of alert node `spec`, started on first use.
    pub fn sink_for(&self, spec: &dsl::NodeSpec) -> Result<Arc<dyn AlertSink>, BuildError> {
        let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, set)) = sets.iter().find(|(name, _)| *name == spec.name) {
            return Ok(set.clone());
        }
        let handlers = if self.fire { &spec.handlers[..] } else { &[] };
        let set = Arc::new(HandlerSet::start(
            &spec.name,
            handlers,
            &self.endpoints,
            self.history.clone(),
        )?);
        sets.push((spec.name.clone(), set.clone()));
        Ok(set)
    }

    /// Lets every handler send what is queued until `deadline` (one for
    /// all of them: stopping never takes longer), then abandons the rest.
    pub fn close_all(&self, deadline: Instant) {
        let sets = std::mem::take(&mut *self.sets.lock().unwrap_or_else(|e| e.into_inner()));
        for (node, set) in sets {
            set.close(&node, deadline);
        }
    }
}
