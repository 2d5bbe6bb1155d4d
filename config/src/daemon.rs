//! `kapacitor.yaml`: the daemon's settings, their defaults, loading,
//! environment overrides and printing.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{ConfigError, ConfigErrors};
use crate::values;
use crate::{render, walk, yaml};

/// Read from the working directory when no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "kapacitor.yaml";

/// Environment variables that override a key, and the key each overrides.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("KAPACITOR_HTTP_BIND", "http.bind"),
    ("KAPACITOR_UDP_BIND", "udp.bind"),
    ("KAPACITOR_TCP_BIND", "tcp.bind"),
    ("KAPACITOR_DATA_DIR", "data_dir"),
    ("KAPACITOR_TASKS_DIR", "tasks_dir"),
];

/// The daemon's configuration. `Default` is the built-in defaults: every
/// listener on loopback, no auth.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    pub http: HttpConfig,
    pub udp: UdpConfig,
    pub tcp: TcpConfig,
    pub auth: AuthConfig,
    pub ingest: IngestConfig,
    /// The redb file and recordings. Default `./data`.
    pub data_dir: PathBuf,
    /// Task scripts, watched for changes. Default `./tasks`.
    pub tasks_dir: PathBuf,
    pub logging: LoggingConfig,
    pub pipeline: PipelineConfig,
    /// InfluxDB 1.x servers that `influxDBOut` writes to (and, later, batch
    /// queries read from), like Kapacitor's `[[influxdb]]`.
    pub influxdb: Vec<InfluxDbConfig>,
    /// Named HTTP endpoints for `httpPost().endpoint(NAME)` and alert
    /// `.post().endpoint(NAME)`, like Kapacitor's `[[httppost]]`.
    pub httppost: Vec<HttpPostConfig>,
    pub deadman: DeadmanConfig,
    pub limits: LimitsConfig,
    pub replay: ReplayConfig,
    pub sideload: SideloadConfig,
    pub topics: TopicsConfig,
}

/// The HTTP API and the InfluxDB-compatible write endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    pub enabled: bool,
    /// Default `127.0.0.1:9092`.
    pub bind: SocketAddr,
    /// Largest request body in bytes (after gzip is undone it is still
    /// this body, compressed, that counts). Default 25 MB.
    pub max_body_size: u64,
    /// With auth off, the dotted host names a request's `Host` may carry
    /// (IP addresses, `localhost` and single-label names always may); any
    /// other is refused, so that a web page cannot reach the API through
    /// DNS rebinding. `*` allows every name. Default none.
    pub allowed_hosts: Vec<String>,
    /// Connections served at once. At the cap, a new connection closes the
    /// connection that has been idle longest, or, when every one is busy,
    /// gets a 503 and is closed. Default 10,000.
    pub max_connections: usize,
    /// Time a client has to send a whole request head (and, with TLS, to
    /// finish the handshake) from when it connects or starts a request.
    /// Default 10s.
    pub read_header_timeout: Duration,
    /// How long a keep-alive connection may wait between requests (and a
    /// response may wait for the client to read it) before it is closed.
    /// Default 2m.
    pub idle_timeout: Duration,
    /// Serve HTTPS instead of HTTP. Default off.
    pub tls: Option<TlsConfig>,
}

/// A certificate and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsConfig {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Line protocol over UDP.
#[derive(Debug, Clone, PartialEq)]
pub struct UdpConfig {
    pub enabled: bool,
    /// Default `127.0.0.1:8089`.
    pub bind: SocketAddr,
    /// Database every point received here is written to. Default `telegraf`.
    pub database: String,
    /// Default `autogen`.
    pub retention_policy: String,
    /// `SO_RCVBUF` in bytes; 0 keeps the OS default.
    pub read_buffer: usize,
}

/// Newline-delimited line protocol over TCP.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpConfig {
    pub enabled: bool,
    /// Default `127.0.0.1:8094`.
    pub bind: SocketAddr,
    /// Default `telegraf`.
    pub database: String,
    /// Default `autogen`.
    pub retention_policy: String,
    /// Longest accepted line in bytes. Default 1 MiB.
    pub max_line_length: usize,
    /// Connections served at once. Default 1024.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed. Default 5m
    /// (Telegraf's socket_writer writes every flush interval, 10s by default).
    pub idle_timeout: Duration,
}

/// Basic and token auth for writes and the API. Off by default.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuthConfig {
    pub enabled: bool,
    pub users: Vec<UserConfig>,
    pub tokens: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserConfig {
    pub username: String,
    pub password: String,
}

/// How writes are interpreted.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestConfig {
    /// Accept unsigned integer fields (`5u`). Default true.
    pub accept_unsigned: bool,
    /// Retention policy used when a write names none. Default `autogen`.
    pub default_retention_policy: String,
    /// Longest line of line protocol in bytes, on every listener (TCP also
    /// keeps its own `tcp.max_line_length`; the smaller wins). Default 1 MiB.
    pub max_line_length: usize,
    /// Most fields one point may have. Default 10,000.
    pub max_fields: usize,
    /// Most tags one point may have. Default 1,000.
    pub max_tags: usize,
    /// Parse errors kept (with their line) per request, datagram or
    /// connection batch; the rest are only counted. Default 100.
    pub max_parse_errors: usize,
    /// Largest gzip body once inflated, in bytes: an HTTP body (which
    /// `http.max_body_size` also bounds) or what one TCP read inflates to.
    /// Default 100 MB.
    pub max_inflated_size: u64,
    /// How long an HTTP or TCP write waits for room when a task's inbox is
    /// full (tasks with `overflow: drop` never hold it up); past it, an
    /// HTTP write gets 503 with `Retry-After` and nothing of it is applied,
    /// a TCP write is dropped and counted. Below Telegraf's 5 s timeout, so
    /// it sees the 503. Default 2s.
    pub backpressure_timeout: std::time::Duration,
    /// A point stamped more than this ahead of the wall clock is a parse
    /// error for its line: one far-future point would move its group's
    /// windows to its time (up to the year 2262) and hold them there.
    /// Kapacitor and InfluxDB have no such limit. Zero: none. Default 1h,
    /// far above any clock skew between synced hosts, below the
    /// hours-ahead stamps of a wrong time zone or unit.
    pub max_future: std::time::Duration,
    /// A database/retention policy that got no write for this long is
    /// dropped from the per-db/rp ingest counters (what it counted stays in
    /// its listener's totals), so writes to ever-new databases do not grow
    /// memory. Zero: kept forever. Default 24h.
    pub dbrp_idle_timeout: std::time::Duration,
    /// Most database/retention policies counted apart per listener; writes
    /// to more are counted together under `other`. Zero: no limit.
    /// Default 1,000.
    pub max_dbrps: usize,
}

/// Kapacitor's `[deadman]`: the defaults of every `deadman()` node, and a
/// deadman switch on every stream task when `global`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadmanConfig {
    /// `global`: how often each task's switch checks. Default 10s.
    pub interval: std::time::Duration,
    /// `global`: at or below this many points per interval, the task is
    /// dead. Default 0.
    pub threshold: f64,
    /// The ID template of deadman alerts; empty: Kapacitor's default,
    /// `{{ .Group }}:NODE_NAME for task '{{ .TaskName }}'`.
    pub id: String,
    /// Their message template; empty: Kapacitor's default.
    pub message: String,
    /// Add a deadman switch to every stream task.
    pub global: bool,
}

impl Default for DeadmanConfig {
    fn default() -> Self {
        DeadmanConfig {
            interval: std::time::Duration::from_secs(10),
            threshold: 0.0,
            id: String::new(),
            message: String::new(),
            global: false,
        }
    }
}

/// A named HTTP endpoint: where `.endpoint(NAME)` posts, with what headers
/// and credentials.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpPostConfig {
    /// What `.endpoint(NAME)` names.
    pub endpoint: String,
    /// The URL; for httpPost it may be a template of `.Name` and `.Tags`.
    pub url: String,
    /// Sent with every request (a node's own `.header()`s win).
    pub headers: Vec<(String, String)>,
    /// Basic-auth credentials; empty: none.
    pub username: String,
    pub password: String,
}

/// One InfluxDB 1.x server (or cluster of URLs tried in turn).
#[derive(Debug, Clone, PartialEq)]
pub struct InfluxDbConfig {
    /// What `influxDBOut().cluster(NAME)` names.
    pub name: String,
    /// Base URLs, e.g. `http://127.0.0.1:8086`; the next is tried when one fails.
    pub urls: Vec<String>,
    /// Basic-auth credentials; empty: none.
    pub username: String,
    pub password: String,
    /// The server used when a node names no cluster.
    pub default: bool,
    /// Per request. Default 10s.
    pub timeout: std::time::Duration,
    /// Accept any certificate from an `https://` URL (self-signed ones).
    pub insecure_skip_verify: bool,
    /// Do not manage subscriptions on this server (Kapacitor's
    /// `disable-subscriptions`). Default false.
    pub disable_subscriptions: bool,
    /// How the server pushes to kapacitord: `http`, `https`, or `udp` (a
    /// UDP socket per database/retention policy). Default `http`.
    pub subscription_protocol: SubscriptionProtocol,
    /// The databases, each with its retention policies (none: all of
    /// them), to subscribe to; empty: every one. Default empty.
    pub subscriptions: Vec<(String, Vec<String>)>,
    /// Databases (with their retention policies, none: all) never
    /// subscribed to, even when `subscriptions` lists them. Default empty.
    pub excluded_subscriptions: Vec<(String, Vec<String>)>,
    /// How often the subscriptions are checked and put right (new
    /// databases, dropped ones, a changed address). Default 1m.
    pub subscriptions_sync_interval: std::time::Duration,
    /// The host name the server is told to push to; empty: the HTTP
    /// (or UDP) bind address, `localhost` when that is unspecified
    /// (`0.0.0.0`). Kapacitor's `hostname`.
    pub kapacitor_hostname: String,
    /// The HTTP port the server is told to push to; 0: the HTTP
    /// listener's own (behind a proxy or NAT, the outside one).
    pub http_port: u16,
}

/// How an InfluxDB subscription delivers points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubscriptionProtocol {
    #[default]
    Http,
    Https,
    Udp,
}

impl SubscriptionProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionProtocol::Http => "http",
            SubscriptionProtocol::Https => "https",
            SubscriptionProtocol::Udp => "udp",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "http" => Ok(SubscriptionProtocol::Http),
            "https" => Ok(SubscriptionProtocol::Https),
            "udp" => Ok(SubscriptionProtocol::Udp),
            _ => Err(format!(
                "`{text}` is not a subscription protocol: http, https or udp"
            )),
        }
    }
}

impl std::fmt::Display for SubscriptionProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for InfluxDbConfig {
    fn default() -> Self {
        InfluxDbConfig {
            name: "default".into(),
            urls: vec!["http://127.0.0.1:8086".into()],
            username: String::new(),
            password: String::new(),
            default: true,
            timeout: std::time::Duration::from_secs(10),
            insecure_skip_verify: false,
            disable_subscriptions: false,
            subscription_protocol: SubscriptionProtocol::Http,
            subscriptions: Vec::new(),
            excluded_subscriptions: Vec::new(),
            subscriptions_sync_interval: std::time::Duration::from_secs(60),
            kapacitor_hostname: String::new(),
            http_port: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// A group (one tag set of a task) that received no point for this
    /// long, on the wall clock, is deleted from every node of the task, so
    /// memory stays bounded under tag churn; zero keeps groups forever.
    /// Alert state that is not OK survives, so a recovery is not lost,
    /// until `alert_state_idle_timeout`. Default 24h.
    pub group_idle_timeout: std::time::Duration,
    /// An alert that is not OK and whose group got no point for this long
    /// (counted from its last point, so at least `group_idle_timeout`) is
    /// forgotten, its recovery never sent (logged), so memory stays bounded
    /// under tag churn. Generous, so a standing alert on a host that went
    /// quiet is not silenced early; zero keeps such alerts until they
    /// recover. Default 7 days.
    pub alert_state_idle_timeout: std::time::Duration,
    /// Worker threads that run every task; 0: one per core. Default 0.
    pub workers: usize,
    /// Points a task may have waiting before the router drops for it
    /// (counted per task). Default 250,000.
    pub inbox_points: usize,
    /// A task that panics is built again and restarted after a backoff (1 s
    /// doubling to 1 min); after this many restarts in a row (a minute
    /// without a panic breaks the row) it is left errored until enabled
    /// again. 0: never restarted. Default 10.
    pub restart_attempts: u32,
}

/// The `limits:` section: what one task may ask for.
pub type LimitsConfig = model::Limits;

/// The highest `limits.max_expression_depth` accepted: deeper trees would
/// risk the stack of the threads that evaluate them.
pub const MAX_EXPRESSION_DEPTH_CEILING: usize = 1000;

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            group_idle_timeout: std::time::Duration::from_secs(24 * 3600),
            alert_state_idle_timeout: std::time::Duration::from_secs(7 * 24 * 3600),
            workers: 0,
            inbox_points: 250_000,
            restart_attempts: 10,
        }
    }
}

/// The files `sideload()` nodes read: bounds on one `file:///dir` source,
/// so a directory of millions of files, or one huge file, cannot exhaust
/// memory. A source past one is refused (at define, or at a reload, which
/// keeps what was read before) with an error naming the file and the key.
#[derive(Debug, Clone, PartialEq)]
pub struct SideloadConfig {
    /// Most values files (`.yml`, `.yaml`, `.json`) under one source
    /// directory, subdirectories included. Default 10,000.
    pub max_files: usize,
    /// Largest values file in bytes. Default 1 MiB.
    pub max_file_size: u64,
    /// Most bytes of values files under one source directory. Default
    /// 64 MiB.
    pub max_total_size: u64,
}

impl Default for SideloadConfig {
    fn default() -> Self {
        SideloadConfig {
            max_files: 10_000,
            max_file_size: 1 << 20,
            max_total_size: 64 << 20,
        }
    }
}

/// Recordings (`<data_dir>/recordings/`) and replays.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayConfig {
    /// A recording stops when its file would grow past this many bytes;
    /// the recording keeps what it has and says why it stopped. Default
    /// 512 MiB.
    pub max_recording_bytes: u64,
    /// The longest a live recording may run. Default 24h.
    pub max_recording_duration: std::time::Duration,
    /// Live recordings and replays that may run at once (each). Default 8.
    pub max_running: usize,
    /// Points a live recording may have waiting for its writer; past that
    /// it drops (counted in the recording). Default 100,000.
    pub queue_points: usize,
    /// Finished replays (and their results) kept for the API; the oldest
    /// is forgotten first. Default 100.
    pub keep_replays: usize,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            max_recording_bytes: 512 << 20,
            max_recording_duration: std::time::Duration::from_secs(24 * 3600),
            max_running: 8,
            queue_points: 100_000,
            keep_replays: 100,
        }
    }
}

/// Alert topics (`.topic(NAME)` and topic handlers): Kapacitor's
/// `[alert]` `persist-topics` and `topic-buffer-length`, and bounds of
/// ours.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicsConfig {
    /// Save topic events in the store, so they survive restarts. Default
    /// true.
    pub persist: bool,
    /// Event ids a topic keeps; past that the oldest OK ones (else the
    /// oldest) are forgotten. Default 10,000.
    pub max_events: usize,
    /// Earlier levels kept with each event id (when each began, its last
    /// message). Default 10.
    pub history: usize,
    /// Events a topic handler may have waiting before new ones are dropped
    /// (counted). Default 5,000.
    pub handler_queue: usize,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            persist: true,
            max_events: 10_000,
            history: 10,
            handler_queue: 5_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoggingConfig {
    /// A level (`info`) or directives (`info,ingest=debug`); see [`crate::LOG_LEVELS`].
    pub level: String,
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            http: HttpConfig::default(),
            udp: UdpConfig::default(),
            tcp: TcpConfig::default(),
            auth: AuthConfig::default(),
            ingest: IngestConfig::default(),
            data_dir: PathBuf::from("./data"),
            tasks_dir: PathBuf::from("./tasks"),
            logging: LoggingConfig::default(),
            pipeline: PipelineConfig::default(),
            influxdb: vec![InfluxDbConfig::default()],
            httppost: Vec::new(),
            deadman: DeadmanConfig::default(),
            limits: LimitsConfig::default(),
            replay: ReplayConfig::default(),
            sideload: SideloadConfig::default(),
            topics: TopicsConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            bind: loopback(9092),
            max_body_size: 25_000_000,
            allowed_hosts: Vec::new(),
            max_connections: 10_000,
            read_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            tls: None,
        }
    }
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            enabled: true,
            bind: loopback(8089),
            database: "telegraf".to_owned(),
            retention_policy: "autogen".to_owned(),
            read_buffer: 0,
        }
    }
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            enabled: true,
            bind: loopback(8094),
            database: "telegraf".to_owned(),
            retention_policy: "autogen".to_owned(),
            max_line_length: 1_048_576,
            max_connections: 1024,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            accept_unsigned: true,
            default_retention_policy: "autogen".to_owned(),
            max_line_length: 1_048_576,
            max_fields: 10_000,
            max_tags: 1000,
            max_parse_errors: 100,
            max_inflated_size: 100_000_000,
            backpressure_timeout: std::time::Duration::from_secs(2),
            max_future: std::time::Duration::from_secs(3600),
            dbrp_idle_timeout: std::time::Duration::from_secs(24 * 3600),
            max_dbrps: 1000,
        }
    }
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: "info".to_owned(),
        }
    }
}

type EnvSetter = fn(&mut DaemonConfig, &str) -> Result<(), String>;

const ENV_SETTERS: &[(&str, EnvSetter)] = &[
    ("KAPACITOR_HTTP_BIND", |c, v| {
        c.http.bind = values::parse_addr(v)?;
        Ok(())
    }),
    ("KAPACITOR_UDP_BIND", |c, v| {
        c.udp.bind = values::parse_addr(v)?;
        Ok(())
    }),
    ("KAPACITOR_TCP_BIND", |c, v| {
        c.tcp.bind = values::parse_addr(v)?;
        Ok(())
    }),
    ("KAPACITOR_DATA_DIR", |c, v| {
        c.data_dir = values::parse_dir(v)?;
        Ok(())
    }),
    ("KAPACITOR_TASKS_DIR", |c, v| {
        c.tasks_dir = values::parse_dir(v)?;
        Ok(())
    }),
];

impl DaemonConfig {
    /// `Some(path)`: read that file (error if missing). `None`: read
    /// `./kapacitor.yaml` if present, else defaults. Then apply environment
    /// overrides from the real environment. File and environment problems
    /// are reported together.
    pub fn load(path: Option<&Path>) -> Result<DaemonConfig, ConfigErrors> {
        Self::load_with_env(path, |name| {
            // A non-UTF-8 value is passed on lossily so it fails loudly
            // instead of being ignored.
            std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
        })
    }

    /// [`load`](Self::load) with an explicit environment, for tests.
    pub fn load_with_env(
        path: Option<&Path>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<DaemonConfig, ConfigErrors> {
        let (path, required) = match path {
            Some(path) => (path, true),
            None => (Path::new(DEFAULT_CONFIG_FILE), false),
        };
        let (mut config, mut errors) = match std::fs::read_to_string(path) {
            Ok(text) => match Self::from_yaml(&text, path) {
                Ok(config) => (config, Vec::new()),
                Err(errors) => (DaemonConfig::default(), errors.0),
            },
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                (DaemonConfig::default(), Vec::new())
            }
            Err(e) => (
                DaemonConfig::default(),
                vec![ConfigError {
                    path: path.display().to_string(),
                    key: String::new(),
                    line: None,
                    column: None,
                    message: format!("cannot read the config file: {e}"),
                }],
            ),
        };
        if let Err(env_errors) = config.apply_env(lookup) {
            errors.extend(env_errors.0);
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors::sorted(errors))
        }
    }

    /// Parses YAML text; `path` is only used in error messages. Missing keys
    /// take defaults. Every problem in the text is reported, each with its
    /// dotted key, line and column.
    pub fn from_yaml(text: &str, path: &Path) -> Result<DaemonConfig, ConfigErrors> {
        let file = path.display().to_string();
        let root = match yaml::parse(text) {
            Ok(Some(root)) => root,
            Ok(None) => return Ok(DaemonConfig::default()),
            Err(e) => {
                return Err(ConfigError {
                    path: file,
                    key: String::new(),
                    line: Some(e.line),
                    column: Some(e.column),
                    message: format!("invalid YAML: {}", e.message),
                }
                .into());
            }
        };
        let walked = walk::walk(&root, &file);
        let mut errors = walked.errors;
        for (key, message) in walked.config.problems() {
            let (line, column) = walked.positions.locate(&key);
            errors.push(ConfigError {
                path: file.clone(),
                key,
                line,
                column,
                message,
            });
        }
        if errors.is_empty() {
            Ok(walked.config)
        } else {
            Err(ConfigErrors::sorted(errors))
        }
    }

    /// Applies `KAPACITOR_HTTP_BIND`, `KAPACITOR_UDP_BIND`,
    /// `KAPACITOR_TCP_BIND`, `KAPACITOR_DATA_DIR` and `KAPACITOR_TASKS_DIR`
    /// (see [`ENV_OVERRIDES`]). A bad value is an error naming the variable
    /// and leaves that key unchanged; an empty value is an error too.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        for (variable, set) in ENV_SETTERS {
            let Some(value) = lookup(variable) else {
                continue;
            };
            if let Err(message) = set(self, &value) {
                let key = ENV_OVERRIDES
                    .iter()
                    .find(|(v, _)| v == variable)
                    .map_or("", |(_, k)| k);
                errors.push(ConfigError::environment(
                    variable,
                    format!("{message} (overrides `{key}`)"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The effective config as commented YAML (what `kapacitord config`
    /// prints, and, for the defaults, the sample `kapacitor.yaml`).
    /// `from_yaml(to_yaml(c)) == c`. Includes passwords and tokens; see
    /// [`redacted`](Self::redacted).
    pub fn to_yaml(&self) -> String {
        render::render(self)
    }

    /// A copy with every secret replaced by `<redacted>`: passwords,
    /// tokens, credential headers of endpoints and credentials written
    /// into URLs. What `kapacitord config` prints.
    pub fn redacted(&self) -> DaemonConfig {
        const REDACTED: &str = "<redacted>";
        let mut copy = self.clone();
        for user in &mut copy.auth.users {
            user.password = REDACTED.to_owned();
        }
        for token in &mut copy.auth.tokens {
            *token = REDACTED.to_owned();
        }
        let hide = |s: &mut String| {
            if !s.is_empty() {
                *s = REDACTED.to_owned();
            }
        };
        for e in &mut copy.httppost {
            hide(&mut e.password);
            e.url = redact_url(&e.url);
            for (name, value) in &mut e.headers {
                if is_secret_header(name) {
                    hide(value);
                }
            }
        }
        for i in &mut copy.influxdb {
            hide(&mut i.password);
            for url in &mut i.urls {
                *url = redact_url(url);
            }
        }
        copy
    }

    /// Checks a config built in code (e.g. by tests) with the rules the
    /// file is checked with; errors carry `path` `"config"` and no position.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let errors: Vec<ConfigError> = self
            .problems()
            .into_iter()
            .map(|(key, message)| ConfigError {
                path: "config".to_owned(),
                key,
                line: None,
                column: None,
                message,
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Rules about values (as opposed to YAML shapes and types), as
    /// `(dotted key, message)`.
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut problem = |key: &str, message: &str| out.push((key.to_owned(), message.to_owned()));
        let positive = "must be greater than 0";
        let nonempty = "must not be empty";

        if self.http.max_body_size == 0 {
            problem("http.max_body_size", positive);
        }
        for (section, database, rp) in [
            ("udp", &self.udp.database, &self.udp.retention_policy),
            ("tcp", &self.tcp.database, &self.tcp.retention_policy),
        ] {
            if database.is_empty() {
                problem(&format!("{section}.database"), nonempty);
            }
            if rp.is_empty() {
                problem(&format!("{section}.retention_policy"), nonempty);
            }
        }
        if self.tcp.max_line_length == 0 {
            problem("tcp.max_line_length", positive);
        }
        if self.tcp.max_connections == 0 {
            problem("tcp.max_connections", positive);
        }
        if self.http.max_connections == 0 {
            problem("http.max_connections", positive);
        }
        for (key, value) in [
            ("http.read_header_timeout", self.http.read_header_timeout),
            ("http.idle_timeout", self.http.idle_timeout),
            ("tcp.idle_timeout", self.tcp.idle_timeout),
        ] {
            if value.is_zero() {
                problem(key, positive);
            }
        }
        if let Some(tls) = &self.http.tls {
            if tls.cert.as_os_str().is_empty() {
                problem("http.tls.cert", nonempty);
            }
            if tls.key.as_os_str().is_empty() {
                problem("http.tls.key", nonempty);
            }
        }
        if self.http.enabled
            && self.tcp.enabled
            && self.http.bind == self.tcp.bind
            && self.http.bind.port() != 0
        {
            problem(
                "tcp.bind",
                "is the same TCP address as http.bind; give each listener its own port",
            );
        }

        let auth = &self.auth;
        if auth.enabled && auth.users.is_empty() && auth.tokens.is_empty() {
            problem(
                "auth.enabled",
                "auth is enabled but no users or tokens are configured, so every request would be refused",
            );
        }
        for (i, user) in auth.users.iter().enumerate() {
            if user.username.is_empty() {
                problem(
                    &format!("auth.users[{i}].username"),
                    "a user needs a non-empty username",
                );
            } else if auth.users[..i].iter().any(|u| u.username == user.username) {
                problem(
                    &format!("auth.users[{i}].username"),
                    &format!("user `{}` is listed twice", user.username),
                );
            }
            if user.password.is_empty() {
                problem(
                    &format!("auth.users[{i}].password"),
                    "a user needs a non-empty password",
                );
            }
        }
        for (i, token) in auth.tokens.iter().enumerate() {
            if token.is_empty() {
                problem(&format!("auth.tokens[{i}]"), nonempty);
            }
        }

        for (i, e) in self.httppost.iter().enumerate() {
            if e.endpoint.is_empty() {
                problem(&format!("httppost[{i}].endpoint"), nonempty);
            } else if self.httppost[..i].iter().any(|o| o.endpoint == e.endpoint) {
                problem(
                    &format!("httppost[{i}].endpoint"),
                    &format!("endpoint `{}` is listed twice", e.endpoint),
                );
            }
            if e.url.is_empty() {
                problem(&format!("httppost[{i}].url"), nonempty);
            }
            if e.username.is_empty() != e.password.is_empty() {
                problem(
                    &format!("httppost[{i}].password"),
                    "basic auth needs both a username and a password",
                );
            }
        }

        for (key, value) in [
            ("ingest.max_line_length", self.ingest.max_line_length as u64),
            ("ingest.max_fields", self.ingest.max_fields as u64),
            ("ingest.max_tags", self.ingest.max_tags as u64),
            ("ingest.max_inflated_size", self.ingest.max_inflated_size),
            ("limits.max_script_size", self.limits.max_script_size as u64),
            ("limits.max_nodes", self.limits.max_nodes as u64),
            ("limits.max_chain_depth", self.limits.max_chain_depth as u64),
            (
                "limits.max_expression_depth",
                self.limits.max_expression_depth as u64,
            ),
            ("limits.max_parallelism", self.limits.max_parallelism),
            ("limits.max_history", self.limits.max_history),
            ("limits.max_forecast", self.limits.max_forecast),
            ("sideload.max_files", self.sideload.max_files as u64),
            ("sideload.max_file_size", self.sideload.max_file_size),
            ("sideload.max_total_size", self.sideload.max_total_size),
        ] {
            if value == 0 {
                problem(key, positive);
            }
        }
        if self.limits.max_expression_depth > MAX_EXPRESSION_DEPTH_CEILING {
            problem(
                "limits.max_expression_depth",
                &format!("must be at most {MAX_EXPRESSION_DEPTH_CEILING}"),
            );
        }
        for (i, s) in self.influxdb.iter().enumerate() {
            if s.subscriptions_sync_interval.is_zero() {
                problem(
                    &format!("influxdb[{i}].subscriptions_sync_interval"),
                    positive,
                );
            }
            for (key, list) in [
                ("subscriptions", &s.subscriptions),
                ("excluded_subscriptions", &s.excluded_subscriptions),
            ] {
                for (db, rps) in list {
                    if db.is_empty() || rps.iter().any(String::is_empty) {
                        problem(
                            &format!("influxdb[{i}].{key}"),
                            "database and retention policy names must not be empty",
                        );
                    }
                }
            }
        }
        if self.ingest.default_retention_policy.is_empty() {
            problem("ingest.default_retention_policy", nonempty);
        }
        if self.data_dir.as_os_str().is_empty() {
            problem("data_dir", nonempty);
        }
        if self.tasks_dir.as_os_str().is_empty() {
            problem("tasks_dir", nonempty);
        }
        if let Err(message) = values::check_log_level(&self.logging.level) {
            problem("logging.level", &message);
        }
        out
    }
}

/// Headers that carry credentials: their values are secrets.
fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "authorization"
        || name == "proxy-authorization"
        || name == "cookie"
        || ["token", "secret", "key", "password", "auth"]
            .iter()
            .any(|w| name.contains(w))
}

/// `scheme://user:password@host/…` with the user information redacted;
/// other URLs as they are.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://<redacted>@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}
