//! Writes a [`DaemonConfig`] as commented YAML: one comment line per key, so
//! the defaults rendered this way are the sample `kapacitor.yaml`.

use std::fmt::Write as _;
use std::path::Path;

use crate::daemon::{DaemonConfig, ENV_OVERRIDES};

pub(crate) fn render(c: &DaemonConfig) -> String {
    let mut out = Out(String::new());
    let variables: Vec<&str> = ENV_OVERRIDES.iter().map(|(v, _)| *v).collect();
    out.comment(
        0,
        "kapacitord configuration (kapacitor.yaml). Every key is optional; a missing key takes its built-in default.",
    );
    out.comment(
        0,
        &format!("Environment overrides: {}.", variables.join(", ")),
    );

    out.section(
        "HTTP API and InfluxDB-compatible writes (/write, /api/v2/write, /ping).",
        "http",
    );
    out.key(
        1,
        "Serve HTTP; false turns the listener off.",
        "enabled",
        c.http.enabled,
    );
    out.key(
        1,
        "Address to listen on, IP:port; 0.0.0.0:9092 listens on every interface (env KAPACITOR_HTTP_BIND).",
        "bind",
        quote(&c.http.bind.to_string()),
    );
    out.key(
        1,
        "Largest request body in bytes (a string such as \"25MB\" also works); a larger write gets 413.",
        "max_body_size",
        c.http.max_body_size,
    );
    out.comment(
        1,
        "With auth off, the dotted host names a request's Host header may carry, e.g. [\"kapacitor.example.com\"] (IP addresses, localhost and single-label names always may); others get 403 (DNS rebinding). \"*\" allows any.",
    );
    strings(&mut out, 1, "allowed_hosts", &c.http.allowed_hosts);
    out.key(
        1,
        "Most connections served at once; at the cap a new one closes the longest-idle connection, or gets 503 when all are busy.",
        "max_connections",
        c.http.max_connections,
    );
    out.key(
        1,
        "Time a client has to send a whole request head (and finish the TLS handshake), from connecting or starting a request; slower clients are disconnected.",
        "read_header_timeout",
        quote(&go_like_duration(c.http.read_header_timeout)),
    );
    out.key(
        1,
        "A keep-alive connection idle this long between requests is closed.",
        "idle_timeout",
        quote(&go_like_duration(c.http.idle_timeout)),
    );
    out.comment(
        1,
        "HTTPS: {cert: \"server.pem\", key: \"server.key\"} (PEM files; the API and /write are then served over TLS only); null serves plain HTTP.",
    );
    match &c.http.tls {
        None => out.line(1, "tls: null"),
        Some(tls) => {
            out.line(1, "tls:");
            out.key(
                2,
                "Certificate chain, leaf first (PEM).",
                "cert",
                quote_path(&tls.cert),
            );
            out.key(2, "Its private key (PEM).", "key", quote_path(&tls.key));
        }
    }

    out.section(
        "UDP line protocol (Telegraf socket_writer, InfluxDB [[udp]] clients).",
        "udp",
    );
    out.key(
        1,
        "Listen on UDP; false turns the listener off.",
        "enabled",
        c.udp.enabled,
    );
    out.key(
        1,
        "Address to listen on, IP:port (env KAPACITOR_UDP_BIND).",
        "bind",
        quote(&c.udp.bind.to_string()),
    );
    out.key(
        1,
        "Database every point received over UDP is written to.",
        "database",
        quote(&c.udp.database),
    );
    out.key(
        1,
        "Retention policy every point received over UDP is written to.",
        "retention_policy",
        quote(&c.udp.retention_policy),
    );
    out.key(
        1,
        "Socket receive buffer in bytes (SO_RCVBUF); 0 keeps the OS default.",
        "read_buffer",
        c.udp.read_buffer,
    );

    out.section(
        "TCP line protocol, newline-delimited, optionally gzip (Telegraf socket_writer).",
        "tcp",
    );
    out.key(
        1,
        "Listen on TCP; false turns the listener off.",
        "enabled",
        c.tcp.enabled,
    );
    out.key(
        1,
        "Address to listen on, IP:port (env KAPACITOR_TCP_BIND).",
        "bind",
        quote(&c.tcp.bind.to_string()),
    );
    out.key(
        1,
        "Database every point received over TCP is written to.",
        "database",
        quote(&c.tcp.database),
    );
    out.key(
        1,
        "Retention policy every point received over TCP is written to.",
        "retention_policy",
        quote(&c.tcp.retention_policy),
    );
    out.key(
        1,
        "Longest accepted line in bytes (a string such as \"1MiB\" also works).",
        "max_line_length",
        c.tcp.max_line_length,
    );
    out.key(
        1,
        "Most connections served at once.",
        "max_connections",
        c.tcp.max_connections,
    );
    out.key(
        1,
        "A connection that sends nothing for this long is closed (keep it above Telegraf's flush interval).",
        "idle_timeout",
        quote(&go_like_duration(c.tcp.idle_timeout)),
    );

    out.section(
        "Authentication for writes and the API: HTTP basic auth or `Authorization: Token <token>`.",
        "auth",
    );
    out.key(
        1,
        "Require credentials; needs at least one user or token.",
        "enabled",
        c.auth.enabled,
    );
    out.comment(
        1,
        "Basic-auth users, e.g. [{username: \"admin\", password: \"secret\"}].",
    );
    if c.auth.users.is_empty() {
        out.line(1, "users: []");
    } else {
        out.line(1, "users:");
        for user in &c.auth.users {
            out.line(2, &format!("- username: {}", quote(&user.username)));
            out.line(2, &format!("  password: {}", quote(&user.password)));
        }
    }
    out.comment(1, "Accepted API tokens, e.g. [\"s3cr3t\"].");
    strings(&mut out, 1, "tokens", &c.auth.tokens);

    out.section("How writes are interpreted.", "ingest");
    out.key(
        1,
        "Accept unsigned integer fields (`5u`); false rejects such lines as InfluxDB 1.x does.",
        "accept_unsigned",
        c.ingest.accept_unsigned,
    );
    out.key(
        1,
        "Retention policy used when a write names none.",
        "default_retention_policy",
        quote(&c.ingest.default_retention_policy),
    );
    out.key(
        1,
        "Longest line in bytes on every listener (a string such as \"1MiB\" also works); a longer line is a parse error.",
        "max_line_length",
        c.ingest.max_line_length,
    );
    out.key(
        1,
        "Most fields one point may have; a line with more is a parse error.",
        "max_fields",
        c.ingest.max_fields,
    );
    out.key(
        1,
        "Most tags one point may have; a line with more is a parse error.",
        "max_tags",
        c.ingest.max_tags,
    );
    out.key(
        1,
        "Parse errors reported per request (or UDP datagram, TCP batch); the rest are only counted.",
        "max_parse_errors",
        c.ingest.max_parse_errors,
    );
    out.key(
        1,
        "Largest gzip body once inflated, in bytes: over HTTP (413; http.max_body_size applies too) and per read over TCP (connection closed).",
        "max_inflated_size",
        c.ingest.max_inflated_size,
    );
    out.key(
        1,
        "How long an HTTP or TCP write waits for room in a full task inbox (tasks with overflow: drop never hold it up); then HTTP answers 503 with Retry-After and applies nothing, TCP drops and counts.",
        "backpressure_timeout",
        quote(&go_like_duration(c.ingest.backpressure_timeout)),
    );
    out.key(
        1,
        "A point stamped more than this ahead of the wall clock is a parse error for its line (one far-future point would move its group's windows to its time); \"0s\": no limit.",
        "max_future",
        quote(&go_like_duration(c.ingest.max_future)),
    );
    out.key(
        1,
        "A database/retention policy with no write for this long leaves the per-db/rp counters (its counts stay in the listener's totals); \"0s\": never.",
        "dbrp_idle_timeout",
        quote(&go_like_duration(c.ingest.dbrp_idle_timeout)),
    );
    out.key(
        1,
        "Most database/retention policies counted apart per listener; more are counted together as \"other\". 0: no limit.",
        "max_dbrps",
        c.ingest.max_dbrps,
    );

    out.0.push('\n');
    out.key(
        0,
        "The database file and recordings (env KAPACITOR_DATA_DIR).",
        "data_dir",
        quote_path(&c.data_dir),
    );
    out.key(
        0,
        "Task scripts, watched for changes (env KAPACITOR_TASKS_DIR).",
        "tasks_dir",
        quote_path(&c.tasks_dir),
    );

    out.section("Log output.", "logging");
    out.key(
        1,
        "trace, debug, info, warn, error or off; per-target directives such as \"info,ingest=debug\" also work.",
        "level",
        quote(&c.logging.level),
    );

    out.0.push('\n');
    out.comment(
        0,
        "InfluxDB 1.x servers: influxDBOut writes to them, batch queries read from them (.cluster(NAME) picks one, else the default), and kapacitord subscribes to their writes.",
    );
    if c.influxdb.is_empty() {
        out.line(0, "influxdb: []");
    } else {
        out.line(0, "influxdb:");
        for s in &c.influxdb {
            out.comment(1, "Name for .cluster(NAME).");
            out.line(1, &format!("- name: {}", quote(&s.name)));
            out.comment(2, "Base URLs, tried in turn when one fails.");
            let urls: Vec<String> = s.urls.iter().map(|u| quote(u)).collect();
            out.line(1, &format!("  urls: [{}]", urls.join(", ")));
            out.comment(2, "Basic-auth user; empty: none.");
            out.line(1, &format!("  username: {}", quote(&s.username)));
            out.comment(2, "Its password.");
            out.line(1, &format!("  password: {}", quote(&s.password)));
            out.comment(2, "Used when a node names no cluster.");
            out.line(1, &format!("  default: {}", s.default));
            out.comment(2, "Per request.");
            out.line(
                1,
                &format!("  timeout: {}", quote(&go_like_duration(s.timeout))),
            );
            out.comment(
                2,
                "Accept any certificate from an https:// URL (self-signed ones).",
            );
            out.line(
                1,
                &format!("  insecure_skip_verify: {}", s.insecure_skip_verify),
            );
            out.comment(
                2,
                "Manage no subscriptions on this server; true when you write to kapacitord yourself (Telegraf, influxdb-relay).",
            );
            out.line(
                1,
                &format!("  disable_subscriptions: {}", s.disable_subscriptions),
            );
            out.comment(
                2,
                "How the server pushes its writes here: http, https, or udp (a UDP socket per database/retention policy).",
            );
            out.line(
                1,
                &format!(
                    "  subscription_protocol: {}",
                    quote(s.subscription_protocol.as_str())
                ),
            );
            out.comment(
                2,
                "Subscribe only to these, e.g. {telegraf: [autogen], app: []} ([]: every retention policy); {}: every database.",
            );
            out.line(
                1,
                &format!("  subscriptions: {}", dbrp_map(&s.subscriptions)),
            );
            out.comment(
                2,
                "Never subscribe to these (same form), even when listed above.",
            );
            out.line(
                1,
                &format!(
                    "  excluded_subscriptions: {}",
                    dbrp_map(&s.excluded_subscriptions)
                ),
            );
            out.comment(
                2,
                "How often subscriptions are checked: new databases get one, stale ones (old address, dropped database) go.",
            );
            out.line(
                1,
                &format!(
                    "  subscriptions_sync_interval: {}",
                    quote(&go_like_duration(s.subscriptions_sync_interval))
                ),
            );
            out.comment(
                2,
                "Host name the server pushes to; empty: the HTTP (or UDP) bind address, localhost when it is 0.0.0.0.",
            );
            out.line(
                1,
                &format!("  kapacitor_hostname: {}", quote(&s.kapacitor_hostname)),
            );
            out.comment(2, "HTTP port the server pushes to; 0: the HTTP listener's.");
            out.line(1, &format!("  http_port: {}", s.http_port));
        }
    }

    out.0.push('\n');
    out.comment(
        0,
        "Named HTTP endpoints for httpPost().endpoint(NAME) and alert .post().endpoint(NAME).",
    );
    if c.httppost.is_empty() {
        out.line(0, "httppost: []");
    } else {
        out.line(0, "httppost:");
        for e in &c.httppost {
            out.comment(1, "Name for .endpoint(NAME).");
            out.line(1, &format!("- endpoint: {}", quote(&e.endpoint)));
            out.comment(2, "For httpPost it may be a template of .Name and .Tags.");
            out.line(1, &format!("  url: {}", quote(&e.url)));
            out.comment(2, "Sent with every request; a node's own .header()s win.");
            let headers: Vec<String> = e
                .headers
                .iter()
                .map(|(k, v)| format!("{}: {}", quote(k), quote(v)))
                .collect();
            out.line(1, &format!("  headers: {{{}}}", headers.join(", ")));
            out.comment(2, "Basic-auth user; empty: none.");
            out.line(1, &format!("  username: {}", quote(&e.username)));
            out.comment(2, "Its password.");
            out.line(1, &format!("  password: {}", quote(&e.password)));
        }
    }

    out.section(
        "Deadman switches: the defaults of every deadman() node (as Kapacitor's [deadman]).",
        "deadman",
    );
    out.key(
        1,
        "With global: how often each task's switch checks.",
        "interval",
        quote(&go_like_duration(c.deadman.interval)),
    );
    out.key(
        1,
        "With global: a task with this many points per interval or fewer is dead.",
        "threshold",
        c.deadman.threshold,
    );
    out.key(
        1,
        "Alert ID template; empty: Kapacitor's \"{{ .Group }}:NODE_NAME for task '{{ .TaskName }}'\" (NODE_NAME: the watched node).",
        "id",
        quote(&c.deadman.id),
    );
    out.key(
        1,
        "Message template; empty: Kapacitor's \"{{ .ID }} is alive|dead: N points/INTERVAL.\".",
        "message",
        quote(&c.deadman.message),
    );
    out.key(
        1,
        "Add a deadman switch to every stream task, on what the task receives.",
        "global",
        c.deadman.global,
    );

    out.section("How tasks run.", "pipeline");
    out.key(
        1,
        "A group (tag set) that gets no point for this long is dropped from its task's nodes, so memory stays bounded under tag churn; non-OK alert state is kept (see alert_state_idle_timeout). \"0s\" never drops.",
        "group_idle_timeout",
        quote(&go_like_duration(c.pipeline.group_idle_timeout)),
    );
    out.key(
        1,
        "An alert that is not OK and whose group got no point for this long is forgotten, its recovery never sent (logged); keep it generous. \"0s\": kept until it recovers.",
        "alert_state_idle_timeout",
        quote(&go_like_duration(c.pipeline.alert_state_idle_timeout)),
    );
    out.key(
        1,
        "Worker threads that run every task (a task never runs on two at once); 0: one per core.",
        "workers",
        c.pipeline.workers,
    );
    out.key(
        1,
        "Points a task may have waiting; past that the router drops the task's points and counts them.",
        "inbox_points",
        c.pipeline.inbox_points,
    );
    out.key(
        1,
        "A task that panics is rebuilt and restarted after a backoff (1s, doubling to 1m); after this many restarts in a row it stays errored until enabled again. 0: never restarted.",
        "restart_attempts",
        c.pipeline.restart_attempts,
    );

    out.section(
        "What one task may ask for; a script past a limit is refused at define time with its line:col.",
        "limits",
    );
    out.key(
        1,
        "Longest TICKscript in bytes.",
        "max_script_size",
        c.limits.max_script_size,
    );
    out.key(
        1,
        "Most nodes in one task.",
        "max_nodes",
        c.limits.max_nodes,
    );
    out.key(
        1,
        "Most nodes on one path from the task's root.",
        "max_chain_depth",
        c.limits.max_chain_depth,
    );
    out.key(
        1,
        "Deepest nesting of a where predicate or lambda (parentheses, operators); at most 1000.",
        "max_expression_depth",
        c.limits.max_expression_depth,
    );
    out.key(
        1,
        "Largest .parallelism(n).",
        "max_parallelism",
        c.limits.max_parallelism,
    );
    out.key(
        1,
        "Largest .history(n) of alert and deadman nodes.",
        "max_history",
        c.limits.max_history,
    );
    out.key(
        1,
        "Largest horizon h and season m of holtWinters(field, h, m, interval).",
        "max_forecast",
        c.limits.max_forecast,
    );

    out.section(
        "Recordings (files under data_dir/recordings) and replays.",
        "replay",
    );
    out.key(
        1,
        "A recording stops (keeping what it has, with an error saying why) when its file would grow past this.",
        "max_recording_bytes",
        c.replay.max_recording_bytes,
    );
    out.key(
        1,
        "The longest a live recording may run.",
        "max_recording_duration",
        quote(&go_like_duration(c.replay.max_recording_duration)),
    );
    out.key(
        1,
        "Live recordings, and replays, that may run at once (each).",
        "max_running",
        c.replay.max_running,
    );
    out.key(
        1,
        "Points a live recording may have waiting for its writer; past that it drops them and counts them.",
        "queue_points",
        c.replay.queue_points,
    );
    out.key(
        1,
        "Finished replays (with their results) kept for the API; the oldest goes first.",
        "keep_replays",
        c.replay.keep_replays,
    );

    out.section(
        "Files sideload() nodes read: bounds on one file:///dir source; past one, the define (or reload) is refused naming the file.",
        "sideload",
    );
    out.key(
        1,
        "Most values files (.yml, .yaml, .json) under one source directory, subdirectories included.",
        "max_files",
        c.sideload.max_files,
    );
    out.key(
        1,
        "Largest values file in bytes (a string such as \"1MiB\" also works).",
        "max_file_size",
        c.sideload.max_file_size,
    );
    out.key(
        1,
        "Most bytes of values files under one source directory.",
        "max_total_size",
        c.sideload.max_total_size,
    );

    out.section(
        "Alert topics: what .topic(NAME) publishes to and topic handlers subscribe to.",
        "topics",
    );
    out.key(
        1,
        "Save topic events in the store, so they survive restarts (Kapacitor's persist-topics).",
        "persist",
        c.topics.persist,
    );
    out.key(
        1,
        "Event ids a topic keeps; past that the oldest OK ones (else the oldest) are forgotten.",
        "max_events",
        c.topics.max_events,
    );
    out.key(
        1,
        "Earlier levels kept with each event id: when each began, and its last message.",
        "history",
        c.topics.history,
    );
    out.key(
        1,
        "Events a topic handler may have waiting; past that new ones are dropped and counted (Kapacitor's topic-buffer-length).",
        "handler_queue",
        c.topics.handler_queue,
    );
    out.0
}

/// `{db: [rp, ...], ...}` in flow style.
fn dbrp_map(map: &[(String, Vec<String>)]) -> String {
    let entries: Vec<String> = map
        .iter()
        .map(|(db, rps)| {
            let rps: Vec<String> = rps.iter().map(|r| quote(r)).collect();
            format!("{}: [{}]", quote(db), rps.join(", "))
        })
        .collect();
    format!("{{{}}}", entries.join(", "))
}

/// A whole duration as the config accepts it back: `24h`, `90m`, `30s`, `0s`.
fn go_like_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s > 0 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s > 0 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else if d.subsec_nanos() == 0 {
        format!("{s}s")
    } else {
        format!("{}ms", d.as_millis())
    }
}

struct Out(String);

impl Out {
    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.0.push_str("  ");
        }
        self.0.push_str(text);
        self.0.push('\n');
    }

    fn comment(&mut self, indent: usize, text: &str) {
        self.line(indent, &format!("# {text}"));
    }

    fn section(&mut self, comment: &str, name: &str) {
        self.0.push('\n');
        self.comment(0, comment);
        self.line(0, &format!("{name}:"));
    }

    fn key(&mut self, indent: usize, comment: &str, key: &str, value: impl std::fmt::Display) {
        self.comment(indent, comment);
        self.line(indent, &format!("{key}: {value}"));
    }
}

/// A YAML double-quoted scalar, so any string (`true`, `123`, `a: b`,
/// `#`) reads back as that string.
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                // `is_control` covers C0, DEL and C1 (including NEL).
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Paths that are not UTF-8 are written lossily; they cannot appear in a
/// YAML file anyway.
fn quote_path(path: &Path) -> String {
    quote(&path.to_string_lossy())
}

/// `key: []` or `key:` with one `- "item"` line each.
fn strings(out: &mut Out, depth: usize, key: &str, items: &[String]) {
    if items.is_empty() {
        out.line(depth, &format!("{key}: []"));
    } else {
        out.line(depth, &format!("{key}:"));
        for item in items {
            out.line(depth + 1, &format!("- {}", quote(item)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips_awkward_strings() {
        for s in [
            "",
            "true",
            "123",
            "a: b",
            "#x",
            "\"q\"",
            "back\\slash",
            "tab\tnew\nline",
            "\u{7f}\u{85}\u{2028}",
            "émoji 🚀",
            "~",
            "null",
        ] {
            let text = format!("k: {}\n", quote(s));
            let Ok(Some(node)) = crate::yaml::parse(&text) else {
                panic!("did not parse: {text}")
            };
            let crate::yaml::Kind::Map(entries) = &node.kind else {
                panic!("not a map")
            };
            let crate::yaml::Kind::Scalar(v) = &entries[0].value.kind else {
                panic!("not a scalar")
            };
            assert_eq!(v.text, s);
            assert!(!v.plain);
        }
    }

    #[test]
    fn every_key_has_a_comment_line_above_it() {
        let text = render(&DaemonConfig::default());
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            let is_key = !t.is_empty() && !t.starts_with('#') && !t.ends_with(':');
            if is_key {
                assert!(
                    i > 0 && lines[i - 1].trim_start().starts_with('#'),
                    "no comment above `{line}`"
                );
            }
        }
    }
}
