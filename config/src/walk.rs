//! Reads a [`DaemonConfig`] out of a positioned YAML tree, collecting every
//! shape and type problem (unknown or duplicate keys, wrong types, bad
//! addresses and sizes) instead of stopping at the first. A bad value keeps
//! its default so the walk can go on. Rules about values (zero sizes, empty
//! names, auth without credentials) live in `DaemonConfig::problems`, which
//! the caller runs afterwards and locates with the positions recorded here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::daemon::{
    AuthConfig, DaemonConfig, DeadmanConfig, HttpConfig, HttpPostConfig, InfluxDbConfig,
    IngestConfig, LimitsConfig, LoggingConfig, PipelineConfig, ReplayConfig, SideloadConfig,
    SubscriptionProtocol, TcpConfig, TlsConfig, TopicsConfig, UdpConfig, UserConfig,
};
use crate::error::ConfigError;
use crate::values;
use crate::yaml::{Kind, Node, Typed};

const TOP_KEYS: &[&str] = &[
    "http",
    "udp",
    "tcp",
    "auth",
    "ingest",
    "data_dir",
    "tasks_dir",
    "logging",
    "pipeline",
    "influxdb",
    "httppost",
    "deadman",
    "limits",
    "replay",
    "sideload",
    "topics",
];
const SIDELOAD_KEYS: &[&str] = &["max_files", "max_file_size", "max_total_size"];
const LIMITS_KEYS: &[&str] = &[
    "max_script_size",
    "max_nodes",
    "max_chain_depth",
    "max_expression_depth",
    "max_parallelism",
    "max_history",
    "max_forecast",
];
const REPLAY_KEYS: &[&str] = &[
    "max_recording_bytes",
    "max_recording_duration",
    "max_running",
    "queue_points",
    "keep_replays",
];
const TOPICS_KEYS: &[&str] = &["persist", "max_events", "history", "handler_queue"];
const DEADMAN_KEYS: &[&str] = &["interval", "threshold", "id", "message", "global"];
const INFLUXDB_KEYS: &[&str] = &[
    "name",
    "urls",
    "username",
    "password",
    "default",
    "timeout",
    "insecure_skip_verify",
    "disable_subscriptions",
    "subscription_protocol",
    "subscriptions",
    "excluded_subscriptions",
    "subscriptions_sync_interval",
    "kapacitor_hostname",
    "http_port",
];
const HTTPPOST_KEYS: &[&str] = &["endpoint", "url", "headers", "username", "password"];
const PIPELINE_KEYS: &[&str] = &[
    "group_idle_timeout",
    "alert_state_idle_timeout",
    "workers",
    "inbox_points",
    "restart_attempts",
];
const HTTP_KEYS: &[&str] = &[
    "enabled",
    "bind",
    "max_body_size",
    "allowed_hosts",
    "max_connections",
    "read_header_timeout",
    "idle_timeout",
    "tls",
];
const TLS_KEYS: &[&str] = &["cert", "key"];
const UDP_KEYS: &[&str] = &[
    "enabled",
    "bind",
    "database",
    "retention_policy",
    "read_buffer",
];
const TCP_KEYS: &[&str] = &[
    "enabled",
    "bind",
    "database",
    "retention_policy",
    "max_line_length",
    "max_connections",
    "idle_timeout",
];
const AUTH_KEYS: &[&str] = &["enabled", "users", "tokens"];
const USER_KEYS: &[&str] = &["username", "password"];
const INGEST_KEYS: &[&str] = &[
    "accept_unsigned",
    "default_retention_policy",
    "max_line_length",
    "max_fields",
    "max_tags",
    "max_parse_errors",
    "max_inflated_size",
    "max_future",
    "dbrp_idle_timeout",
    "max_dbrps",
    "backpressure_timeout",
];
const LOGGING_KEYS: &[&str] = &["level"];

/// Where each dotted key's value was written.
#[derive(Debug, Default)]
pub(crate) struct Positions(HashMap<String, (usize, usize)>);

impl Positions {
    /// The key's own position, else its nearest written ancestor's
    /// (`auth.users[0].username` missing → the `auth.users[0]` item).
    pub fn locate(&self, key: &str) -> (Option<usize>, Option<usize>) {
        let mut key = key;
        loop {
            if let Some(&(line, column)) = self.0.get(key) {
                return (Some(line), Some(column));
            }
            match key.rfind(['.', '[']) {
                Some(i) => key = &key[..i],
                None => return (None, None),
            }
        }
    }
}

pub(crate) struct Walked {
    pub config: DaemonConfig,
    pub errors: Vec<ConfigError>,
    pub positions: Positions,
}

pub(crate) fn walk(root: &Node, file: &str) -> Walked {
    let mut w = Walker::new(file);
    let mut config = DaemonConfig::default();
    if !root.is_null() && !matches!(root.kind, Kind::Map(_)) {
        w.error(
            "",
            root,
            format!(
                "the config must be a mapping of sections ({}), found {}",
                TOP_KEYS.join(", "),
                root.describe()
            ),
        );
    }
    for (key, value) in w.mapping("", root, TOP_KEYS) {
        match key {
            "http" => w.http(value, &mut config.http),
            "udp" => w.udp(value, &mut config.udp),
            "tcp" => w.tcp(value, &mut config.tcp),
            "auth" => w.auth(value, &mut config.auth),
            "ingest" => w.ingest(value, &mut config.ingest),
            "logging" => w.logging(value, &mut config.logging),
            "pipeline" => w.pipeline(value, &mut config.pipeline),
            "influxdb" => set(&mut config.influxdb, w.influxdb("influxdb", value)),
            "httppost" => set(&mut config.httppost, w.httppost("httppost", value)),
            "deadman" => w.deadman(value, &mut config.deadman),
            "limits" => w.limits(value, &mut config.limits),
            "replay" => w.replay(value, &mut config.replay),
            "sideload" => w.sideload(value, &mut config.sideload),
            "topics" => w.topics(value, &mut config.topics),
            "data_dir" => set(&mut config.data_dir, w.dir("data_dir", value)),
            "tasks_dir" => set(&mut config.tasks_dir, w.dir("tasks_dir", value)),
            _ => {}
        }
    }
    Walked {
        config,
        errors: w.errors,
        positions: w.positions,
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

pub(crate) fn dotted(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Reads typed values out of a positioned tree, collecting errors; shared
/// by the daemon config and the task metadata.
pub(crate) struct Walker<'f> {
    pub(crate) file: &'f str,
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) positions: Positions,
}

impl<'f> Walker<'f> {
    pub(crate) fn new(file: &'f str) -> Self {
        Walker {
            file,
            errors: Vec::new(),
            positions: Positions::default(),
        }
    }

    pub(crate) fn error(&mut self, key: &str, node: &Node, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: self.file.to_owned(),
            key: key.to_owned(),
            line: Some(node.line),
            column: Some(node.column),
            message: message.into(),
        });
    }

    /// The known entries of a mapping at `path`, reporting unknown and
    /// duplicate keys. A null (`http:` with nothing under it) is an empty
    /// mapping, so every key keeps its default.
    pub(crate) fn mapping<'n>(
        &mut self,
        path: &str,
        node: &'n Node,
        known: &[&str],
    ) -> Vec<(&'n str, &'n Node)> {
        let entries = match &node.kind {
            Kind::Map(entries) => entries,
            _ if node.is_null() => return Vec::new(),
            _ => {
                // The root's shape is reported by the caller with a better message.
                if !path.is_empty() {
                    self.error(
                        path,
                        node,
                        format!(
                            "expected a mapping with keys {}, found {}",
                            known.join(", "),
                            node.describe()
                        ),
                    );
                }
                return Vec::new();
            }
        };
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::new();
        for entry in entries {
            let key = match &entry.key.kind {
                Kind::Scalar(s) => s.text.as_str(),
                _ => {
                    let message = format!("keys must be names, found {}", entry.key.describe());
                    self.error(path, &entry.key, message);
                    continue;
                }
            };
            let full = dotted(path, key);
            if let Some(first) = seen.insert(key, entry.key.line) {
                self.error(
                    &full,
                    &entry.key,
                    format!("duplicate key (first set on line {first})"),
                );
                continue;
            }
            if !known.contains(&key) {
                let message = match values::did_you_mean(key, known) {
                    Some(s) => format!("unknown key (did you mean `{s}`?)"),
                    None => format!("unknown key (expected one of {})", known.join(", ")),
                };
                self.error(&full, &entry.key, message);
                continue;
            }
            self.positions
                .0
                .insert(full, (entry.value.line, entry.value.column));
            out.push((key, &entry.value));
        }
        out
    }

    pub(crate) fn scalar<'n>(
        &mut self,
        key: &str,
        node: &'n Node,
        expected: &str,
    ) -> Option<Typed<'n>> {
        match &node.kind {
            Kind::Scalar(s) if s.typed() != Typed::Null => Some(s.typed()),
            _ => {
                let message = format!("expected {expected}, found {}", node.describe());
                self.error(key, node, message);
                None
            }
        }
    }

    pub(crate) fn bool(&mut self, key: &str, node: &Node) -> Option<bool> {
        match self.scalar(key, node, "true or false")? {
            Typed::Bool(b) => Some(b),
            _ => {
                let message = format!("expected true or false, found {}", node.describe());
                self.error(key, node, message);
                None
            }
        }
    }

    /// Any scalar's text: `password: 12345` means the string "12345".
    pub(crate) fn string(&mut self, key: &str, node: &Node) -> Option<String> {
        self.scalar(key, node, "a string")?;
        match &node.kind {
            Kind::Scalar(s) => Some(s.text.clone()),
            _ => None,
        }
    }

    fn addr(&mut self, key: &str, node: &Node) -> Option<SocketAddr> {
        self.scalar(key, node, "an address such as \"127.0.0.1:9092\"")?;
        let Kind::Scalar(s) = &node.kind else {
            return None;
        };
        values::parse_addr(&s.text)
            .map_err(|message| self.error(key, node, message))
            .ok()
    }

    fn whole_number(&mut self, key: &str, node: &Node, i: i128) -> Option<u64> {
        if i < 0 {
            self.error(key, node, format!("must not be negative, found {i}"));
            return None;
        }
        u64::try_from(i)
            .map_err(|_| self.error(key, node, format!("`{i}` is too large")))
            .ok()
    }

    /// Bytes: an integer, or a string with a unit such as "25MB".
    fn size(&mut self, key: &str, node: &Node) -> Option<u64> {
        let expected = "a size in bytes such as 25000000 or \"25MB\"";
        match self.scalar(key, node, expected)? {
            Typed::Int(i) => self.whole_number(key, node, i),
            Typed::Str(text) => values::parse_size(text)
                .map_err(|message| self.error(key, node, message))
                .ok(),
            _ => {
                let message = format!("expected {expected}, found {}", node.describe());
                self.error(key, node, message);
                None
            }
        }
    }

    fn size_usize(&mut self, key: &str, node: &Node) -> Option<usize> {
        let bytes = self.size(key, node)?;
        usize::try_from(bytes)
            .map_err(|_| self.error(key, node, format!("{bytes} bytes is too large")))
            .ok()
    }

    fn count(&mut self, key: &str, node: &Node) -> Option<usize> {
        match self.scalar(key, node, "a whole number")? {
            Typed::Int(i) => {
                let n = self.whole_number(key, node, i)?;
                usize::try_from(n)
                    .map_err(|_| self.error(key, node, format!("`{n}` is too large")))
                    .ok()
            }
            _ => {
                let message = format!("expected a whole number, found {}", node.describe());
                self.error(key, node, message);
                None
            }
        }
    }

    fn dir(&mut self, key: &str, node: &Node) -> Option<PathBuf> {
        let text = self.string(key, node)?;
        values::parse_dir(&text)
            .map_err(|message| self.error(key, node, message))
            .ok()
    }

    /// A list; null means empty.
    pub(crate) fn list<'n>(&mut self, key: &str, node: &'n Node) -> Option<&'n [Node]> {
        match &node.kind {
            Kind::Seq(items) => Some(items),
            _ if node.is_null() => Some(&[]),
            _ => {
                let message = format!("expected a list, found {}", node.describe());
                self.error(key, node, message);
                None
            }
        }
    }

    /// The items of the list at `key`, each with its path (`key[i]`), whose
    /// position is recorded so later problems can be located.
    fn items<'n>(&mut self, key: &str, node: &'n Node) -> Option<Vec<(String, &'n Node)>> {
        let items = self.list(key, node)?;
        Some(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let path = format!("{key}[{i}]");
                    self.positions
                        .0
                        .insert(path.clone(), (item.line, item.column));
                    (path, item)
                })
                .collect(),
        )
    }

    fn http(&mut self, node: &Node, c: &mut HttpConfig) {
        for (key, value) in self.mapping("http", node, HTTP_KEYS) {
            let full = dotted("http", key);
            match key {
                "enabled" => set(&mut c.enabled, self.bool(&full, value)),
                "bind" => set(&mut c.bind, self.addr(&full, value)),
                "max_body_size" => set(&mut c.max_body_size, self.size(&full, value)),
                "allowed_hosts" => set(&mut c.allowed_hosts, self.strings(&full, value)),
                "max_connections" => set(&mut c.max_connections, self.count(&full, value)),
                "read_header_timeout" => {
                    set(&mut c.read_header_timeout, self.timeout(&full, value))
                }
                "idle_timeout" => set(&mut c.idle_timeout, self.timeout(&full, value)),
                "tls" => c.tls = self.tls(&full, value),
                _ => {}
            }
        }
    }

    fn udp(&mut self, node: &Node, c: &mut UdpConfig) {
        for (key, value) in self.mapping("udp", node, UDP_KEYS) {
            let full = dotted("udp", key);
            match key {
                "enabled" => set(&mut c.enabled, self.bool(&full, value)),
                "bind" => set(&mut c.bind, self.addr(&full, value)),
                "database" => set(&mut c.database, self.string(&full, value)),
                "retention_policy" => set(&mut c.retention_policy, self.string(&full, value)),
                "read_buffer" => set(&mut c.read_buffer, self.size_usize(&full, value)),
                _ => {}
            }
        }
    }

    fn tcp(&mut self, node: &Node, c: &mut TcpConfig) {
        for (key, value) in self.mapping("tcp", node, TCP_KEYS) {
            let full = dotted("tcp", key);
            match key {
                "enabled" => set(&mut c.enabled, self.bool(&full, value)),
                "bind" => set(&mut c.bind, self.addr(&full, value)),
                "database" => set(&mut c.database, self.string(&full, value)),
                "retention_policy" => set(&mut c.retention_policy, self.string(&full, value)),
                "max_line_length" => set(&mut c.max_line_length, self.size_usize(&full, value)),
                "max_connections" => set(&mut c.max_connections, self.count(&full, value)),
                "idle_timeout" => set(&mut c.idle_timeout, self.timeout(&full, value)),
                _ => {}
            }
        }
    }

    /// A positive duration such as `10s` or `2m`.
    fn timeout(&mut self, key: &str, node: &Node) -> Option<std::time::Duration> {
        let text = self.string(key, node)?;
        crate::task::parse_duration(&text)
            .ok()
            .filter(|d| !d.is_zero())
            .or_else(|| {
                let message = format!("`{text}` is not a positive duration such as \"10s\"");
                self.error(key, node, message);
                None
            })
    }

    /// `http.tls`: null (plain HTTP) or `{cert: PATH, key: PATH}`.
    fn tls(&mut self, key: &str, node: &Node) -> Option<TlsConfig> {
        if node.is_null() {
            return None;
        }
        let mut cert = None;
        let mut key_path = None;
        for (k, value) in self.mapping(key, node, TLS_KEYS) {
            let full = dotted(key, k);
            let path = self.string(&full, value).map(PathBuf::from);
            match k {
                "cert" => cert = path,
                "key" => key_path = path,
                _ => {}
            }
        }
        if !matches!(node.kind, Kind::Map(_)) {
            return None;
        }
        for (name, missing) in [("cert", cert.is_none()), ("key", key_path.is_none())] {
            if missing {
                self.error(
                    &dotted(key, name),
                    node,
                    "HTTPS needs both `cert` and `key` (PEM files)",
                );
            }
        }
        Some(TlsConfig {
            cert: cert?,
            key: key_path?,
        })
    }

    fn limits(&mut self, node: &Node, c: &mut LimitsConfig) {
        for (key, value) in self.mapping("limits", node, LIMITS_KEYS) {
            let full = dotted("limits", key);
            let count = |w: &mut Self| w.count(&full, value);
            match key {
                "max_script_size" => set(&mut c.max_script_size, self.size_usize(&full, value)),
                "max_nodes" => set(&mut c.max_nodes, count(self)),
                "max_chain_depth" => set(&mut c.max_chain_depth, count(self)),
                "max_expression_depth" => set(&mut c.max_expression_depth, count(self)),
                "max_parallelism" => set(&mut c.max_parallelism, count(self).map(|n| n as u64)),
                "max_history" => set(&mut c.max_history, count(self).map(|n| n as u64)),
                "max_forecast" => set(&mut c.max_forecast, count(self).map(|n| n as u64)),
                _ => {}
            }
        }
    }

    fn auth(&mut self, node: &Node, c: &mut AuthConfig) {
        for (key, value) in self.mapping("auth", node, AUTH_KEYS) {
            let full = dotted("auth", key);
            match key {
                "enabled" => set(&mut c.enabled, self.bool(&full, value)),
                "users" => set(&mut c.users, self.users(&full, value)),
                "tokens" => set(&mut c.tokens, self.strings(&full, value)),
                _ => {}
            }
        }
    }

    fn users(&mut self, key: &str, node: &Node) -> Option<Vec<UserConfig>> {
        let items = self.items(key, node)?;
        let mut users = Vec::with_capacity(items.len());
        for (path, item) in items {
            if item.is_null() {
                self.error(
                    &path,
                    item,
                    "expected a mapping with keys username, password, found nothing (null)",
                );
                continue;
            }
            let mut user = UserConfig {
                username: String::new(),
                password: String::new(),
            };
            for (field, value) in self.mapping(&path, item, USER_KEYS) {
                let full = dotted(&path, field);
                match field {
                    "username" => set(&mut user.username, self.string(&full, value)),
                    "password" => set(&mut user.password, self.string(&full, value)),
                    _ => {}
                }
            }
            users.push(user);
        }
        Some(users)
    }

    fn strings(&mut self, key: &str, node: &Node) -> Option<Vec<String>> {
        let items = self.items(key, node)?;
        let mut tokens = Vec::with_capacity(items.len());
        for (path, item) in items {
            if let Some(token) = self.string(&path, item) {
                tokens.push(token);
            }
        }
        Some(tokens)
    }

    fn ingest(&mut self, node: &Node, c: &mut IngestConfig) {
        for (key, value) in self.mapping("ingest", node, INGEST_KEYS) {
            let full = dotted("ingest", key);
            match key {
                "accept_unsigned" => set(&mut c.accept_unsigned, self.bool(&full, value)),
                "default_retention_policy" => {
                    set(&mut c.default_retention_policy, self.string(&full, value));
                }
                "max_line_length" => set(&mut c.max_line_length, self.size_usize(&full, value)),
                "max_fields" => set(&mut c.max_fields, self.count(&full, value)),
                "max_tags" => set(&mut c.max_tags, self.count(&full, value)),
                "max_parse_errors" => set(&mut c.max_parse_errors, self.count(&full, value)),
                "max_inflated_size" => set(&mut c.max_inflated_size, self.size(&full, value)),
                "backpressure_timeout" => {
                    let timeout = self.duration(&full, value);
                    set(&mut c.backpressure_timeout, timeout);
                }
                "max_future" => {
                    let max = self.duration(&full, value);
                    set(&mut c.max_future, max);
                }
                "dbrp_idle_timeout" => {
                    let timeout = self.duration(&full, value);
                    set(&mut c.dbrp_idle_timeout, timeout);
                }
                "max_dbrps" => set(&mut c.max_dbrps, self.count(&full, value)),
                _ => {}
            }
        }
    }

    fn influxdb(&mut self, key: &str, node: &Node) -> Option<Vec<InfluxDbConfig>> {
        let items = self.items(key, node)?;
        let mut servers: Vec<InfluxDbConfig> = Vec::with_capacity(items.len());
        for (path, item) in items {
            let mut server = InfluxDbConfig {
                default: false,
                ..InfluxDbConfig::default()
            };
            for (field, value) in self.mapping(&path, item, INFLUXDB_KEYS) {
                let full = dotted(&path, field);
                match field {
                    "name" => set(&mut server.name, self.string(&full, value)),
                    "urls" => {
                        let urls = self.list(&full, value).map(|urls| {
                            urls.iter()
                                .enumerate()
                                .filter_map(|(j, u)| self.url(&format!("{full}[{j}]"), u))
                                // A base URL: paths are appended to it.
                                .map(|u| u.trim_end_matches('/').to_string())
                                .collect::<Vec<_>>()
                        });
                        set(&mut server.urls, urls);
                    }
                    "username" => set(&mut server.username, self.string(&full, value)),
                    "password" => set(&mut server.password, self.string(&full, value)),
                    "default" => set(&mut server.default, self.bool(&full, value)),
                    "insecure_skip_verify" => {
                        set(&mut server.insecure_skip_verify, self.bool(&full, value));
                    }
                    "timeout" => {
                        let timeout = self.string(&full, value).and_then(|text| {
                            crate::task::parse_duration(&text)
                                .map_err(|message| self.error(&full, value, message))
                                .ok()
                        });
                        set(&mut server.timeout, timeout);
                    }
                    "disable_subscriptions" => {
                        set(&mut server.disable_subscriptions, self.bool(&full, value));
                    }
                    "subscription_protocol" => {
                        let protocol = self.string(&full, value).and_then(|text| {
                            SubscriptionProtocol::parse(&text)
                                .map_err(|message| self.error(&full, value, message))
                                .ok()
                        });
                        set(&mut server.subscription_protocol, protocol);
                    }
                    "subscriptions" => {
                        set(&mut server.subscriptions, self.dbrp_map(&full, value));
                    }
                    "excluded_subscriptions" => {
                        let excluded = self.dbrp_map(&full, value);
                        set(&mut server.excluded_subscriptions, excluded);
                    }
                    "subscriptions_sync_interval" => {
                        let every = self.duration(&full, value);
                        set(&mut server.subscriptions_sync_interval, every);
                    }
                    "kapacitor_hostname" => {
                        set(&mut server.kapacitor_hostname, self.string(&full, value));
                    }
                    "http_port" => {
                        let port = self.count(&full, value).and_then(|n| {
                            u16::try_from(n)
                                .map_err(|_| self.error(&full, value, "must be a port, 0 to 65535"))
                                .ok()
                        });
                        set(&mut server.http_port, port);
                    }
                    _ => {}
                }
            }
            if servers.iter().any(|s| s.name == server.name) {
                let message = format!("a second server named `{}`", server.name);
                self.error(&path, item, message);
                continue;
            }
            servers.push(server);
        }
        if servers.iter().filter(|s| s.default).count() > 1 {
            self.error(key, node, "more than one server has `default: true`");
        }
        Some(servers)
    }

    fn httppost(&mut self, key: &str, node: &Node) -> Option<Vec<HttpPostConfig>> {
        let items = self.items(key, node)?;
        let mut endpoints = Vec::with_capacity(items.len());
        for (path, item) in items {
            let mut endpoint = HttpPostConfig::default();
            for (field, value) in self.mapping(&path, item, HTTPPOST_KEYS) {
                let full = dotted(&path, field);
                match field {
                    "endpoint" => set(&mut endpoint.endpoint, self.string(&full, value)),
                    "url" => set(&mut endpoint.url, self.url(&full, value)),
                    "headers" => set(&mut endpoint.headers, self.string_map(&full, value)),
                    "username" => set(&mut endpoint.username, self.string(&full, value)),
                    "password" => set(&mut endpoint.password, self.string(&full, value)),
                    _ => {}
                }
            }
            endpoints.push(endpoint);
        }
        Some(endpoints)
    }

    /// A mapping of database names to lists of retention policy names
    /// (`{telegraf: [autogen], db: []}`), in the order written.
    fn dbrp_map(&mut self, key: &str, node: &Node) -> Option<Vec<(String, Vec<String>)>> {
        self.name_map(
            key,
            node,
            "databases to lists of retention policies",
            Self::strings,
        )
    }

    /// A mapping of names to strings (HTTP headers), in the order written.
    fn string_map(&mut self, key: &str, node: &Node) -> Option<Vec<(String, String)>> {
        self.name_map(key, node, "names to strings", Self::string)
    }

    /// A mapping of names to what `value` reads (`what` says what it maps,
    /// for the error), in the order written; null is empty.
    fn name_map<T>(
        &mut self,
        key: &str,
        node: &Node,
        what: &str,
        mut value: impl FnMut(&mut Self, &str, &Node) -> Option<T>,
    ) -> Option<Vec<(String, T)>> {
        let entries = match &node.kind {
            Kind::Map(entries) => entries,
            _ if node.is_null() => return Some(Vec::new()),
            _ => {
                let message = format!("expected a mapping of {what}, found {}", node.describe());
                self.error(key, node, message);
                return None;
            }
        };
        let mut out: Vec<(String, T)> = Vec::with_capacity(entries.len());
        for entry in entries {
            let Kind::Scalar(name) = &entry.key.kind else {
                let message = format!("keys must be names, found {}", entry.key.describe());
                self.error(key, &entry.key, message);
                continue;
            };
            let full = dotted(key, &name.text);
            if out.iter().any(|(k, _)| *k == name.text) {
                self.error(&full, &entry.key, "duplicate key");
                continue;
            }
            if let Some(v) = value(self, &full, &entry.value) {
                out.push((name.text.clone(), v));
            }
        }
        Some(out)
    }

    /// An `http://` or `https://` URL, as written.
    fn url(&mut self, key: &str, node: &Node) -> Option<String> {
        let url = self.string(key, node)?;
        if url.starts_with("http://") || url.starts_with("https://") {
            Some(url)
        } else {
            let message = format!("`{url}` is not an http:// or https:// URL");
            self.error(key, node, message);
            None
        }
    }

    fn deadman(&mut self, node: &Node, c: &mut DeadmanConfig) {
        for (key, value) in self.mapping("deadman", node, DEADMAN_KEYS) {
            let full = dotted("deadman", key);
            match key {
                "interval" => {
                    let interval = self.string(&full, value).and_then(|text| {
                        crate::task::parse_duration(&text)
                            .ok()
                            .filter(|d| !d.is_zero())
                            .or_else(|| {
                                self.error(
                                    &full,
                                    value,
                                    format!("`{text}` is not a positive duration"),
                                );
                                None
                            })
                    });
                    set(&mut c.interval, interval);
                }
                "threshold" => {
                    let number = match (&value.kind, self.scalar(&full, value, "a number")) {
                        (crate::yaml::Kind::Scalar(s), Some(Typed::Int(_) | Typed::Float)) => s
                            .text
                            .parse::<f64>()
                            .ok()
                            .filter(|f| f.is_finite() && *f >= 0.0),
                        _ => None,
                    };
                    if number.is_none() {
                        let message = format!(
                            "expected a number of points, 0 or more, found {}",
                            value.describe()
                        );
                        self.error(&full, value, message);
                    }
                    set(&mut c.threshold, number);
                }
                "id" => set(&mut c.id, self.string(&full, value)),
                "message" => set(&mut c.message, self.string(&full, value)),
                "global" => set(&mut c.global, self.bool(&full, value)),
                _ => {}
            }
        }
    }

    /// A duration such as `10s` or `1h30m`.
    fn duration(&mut self, key: &str, value: &Node) -> Option<std::time::Duration> {
        self.string(key, value).and_then(|text| {
            crate::task::parse_duration(&text)
                .map_err(|message| self.error(key, value, message))
                .ok()
        })
    }

    fn pipeline(&mut self, node: &Node, c: &mut PipelineConfig) {
        for (key, value) in self.mapping("pipeline", node, PIPELINE_KEYS) {
            let full = dotted("pipeline", key);
            match key {
                "group_idle_timeout" => {
                    let timeout = self.duration(&full, value);
                    set(&mut c.group_idle_timeout, timeout);
                }
                "alert_state_idle_timeout" => {
                    let timeout = self.duration(&full, value);
                    set(&mut c.alert_state_idle_timeout, timeout);
                }
                "workers" => set(&mut c.workers, self.count(&full, value)),
                "inbox_points" => {
                    let n = self.count(&full, value);
                    if n == Some(0) {
                        self.error(&full, value, "a task's inbox must hold at least one point");
                    }
                    set(&mut c.inbox_points, n.filter(|&n| n > 0));
                }
                "restart_attempts" => {
                    let n = self
                        .count(&full, value)
                        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
                    set(&mut c.restart_attempts, n);
                }
                _ => {}
            }
        }
    }

    fn replay(&mut self, node: &Node, c: &mut ReplayConfig) {
        for (key, value) in self.mapping("replay", node, REPLAY_KEYS) {
            let full = dotted("replay", key);
            match key {
                "max_recording_bytes" => {
                    let n = self.size(&full, value);
                    if n == Some(0) {
                        self.error(&full, value, "a recording must be allowed some bytes");
                    }
                    set(&mut c.max_recording_bytes, n.filter(|&n| n > 0));
                }
                "max_recording_duration" => {
                    let d = self.string(&full, value).and_then(|text| {
                        crate::task::parse_duration(&text)
                            .map_err(|message| self.error(&full, value, message))
                            .ok()
                    });
                    set(&mut c.max_recording_duration, d);
                }
                "max_running" | "queue_points" | "keep_replays" => {
                    let n = self.count(&full, value);
                    if n == Some(0) {
                        self.error(&full, value, "must be at least 1");
                    }
                    let n = n.filter(|&n| n > 0);
                    match key {
                        "max_running" => set(&mut c.max_running, n),
                        "queue_points" => set(&mut c.queue_points, n),
                        _ => set(&mut c.keep_replays, n),
                    }
                }
                _ => {}
            }
        }
    }

    fn sideload(&mut self, node: &Node, c: &mut SideloadConfig) {
        for (key, value) in self.mapping("sideload", node, SIDELOAD_KEYS) {
            let full = dotted("sideload", key);
            match key {
                "max_files" => set(&mut c.max_files, self.count(&full, value)),
                "max_file_size" => set(&mut c.max_file_size, self.size(&full, value)),
                "max_total_size" => set(&mut c.max_total_size, self.size(&full, value)),
                _ => {}
            }
        }
    }

    fn topics(&mut self, node: &Node, c: &mut TopicsConfig) {
        for (key, value) in self.mapping("topics", node, TOPICS_KEYS) {
            let full = dotted("topics", key);
            match key {
                "persist" => set(&mut c.persist, self.bool(&full, value)),
                "history" => set(&mut c.history, self.count(&full, value)),
                "max_events" | "handler_queue" => {
                    let n = self.count(&full, value);
                    if n == Some(0) {
                        self.error(&full, value, "must be at least 1");
                    }
                    let n = n.filter(|&n| n > 0);
                    match key {
                        "max_events" => set(&mut c.max_events, n),
                        _ => set(&mut c.handler_queue, n),
                    }
                }
                _ => {}
            }
        }
    }

    fn logging(&mut self, node: &Node, c: &mut LoggingConfig) {
        for (key, value) in self.mapping("logging", node, LOGGING_KEYS) {
            let full = dotted("logging", key);
            if key == "level" {
                set(&mut c.level, self.string(&full, value));
            }
        }
    }
}
