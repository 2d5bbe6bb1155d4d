//! kapacitor.yaml as a user meets it: defaults, full files, every mistake in
//! one run, environment overrides, printing and the sample file.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{ConfigError, ConfigErrors, DaemonConfig, HttpPostConfig, UserConfig};

fn parse(text: &str) -> Result<DaemonConfig, ConfigErrors> {
    DaemonConfig::from_yaml(text, Path::new("kapacitor.yaml"))
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse(text) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.0,
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// `(key, line, column)` of each error, in order.
fn located(errors: &[ConfigError]) -> Vec<(&str, usize, usize)> {
    errors
        .iter()
        .map(|e| (e.key.as_str(), e.line.unwrap_or(0), e.column.unwrap_or(0)))
        .collect()
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn defaults() {
    let c = DaemonConfig::default();
    assert!(c.http.enabled);
    assert_eq!(c.http.bind, addr("127.0.0.1:9092"));
    assert_eq!(c.http.max_body_size, 25_000_000);
    assert!(c.udp.enabled);
    assert_eq!(c.udp.bind, addr("127.0.0.1:8089"));
    assert_eq!(c.udp.database, "telegraf");
    assert_eq!(c.udp.retention_policy, "autogen");
    assert_eq!(c.udp.read_buffer, 0);
    assert!(c.tcp.enabled);
    assert_eq!(c.tcp.bind, addr("127.0.0.1:8094"));
    assert_eq!(c.tcp.database, "telegraf");
    assert_eq!(c.tcp.retention_policy, "autogen");
    assert_eq!(c.tcp.max_line_length, 1_048_576);
    assert_eq!(c.tcp.max_connections, 1024);
    assert!(!c.auth.enabled);
    assert!(c.auth.users.is_empty() && c.auth.tokens.is_empty());
    assert!(c.ingest.accept_unsigned);
    assert_eq!(c.ingest.default_retention_policy, "autogen");
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.tasks_dir, PathBuf::from("./tasks"));
    assert_eq!(c.logging.level, "info");
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn empty_and_partial_files_take_defaults() {
    assert_eq!(parse(""), Ok(DaemonConfig::default()));
    assert_eq!(parse("# only a comment\n"), Ok(DaemonConfig::default()));
    assert_eq!(parse("http:\n"), Ok(DaemonConfig::default()));
    let c = parse("udp:\n  enabled: false\n").expect("valid");
    assert!(!c.udp.enabled);
    assert_eq!(
        DaemonConfig {
            udp: config::UdpConfig {
                enabled: true,
                ..c.udp.clone()
            },
            ..c
        },
        DaemonConfig::default()
    );
}

#[test]
fn full_file() {
    let text = r#"
http:
  enabled: true
  bind: 0.0.0.0:19092
  max_body_size: 10MB
udp:
  enabled: false
  bind: "[::1]:18089"
  database: metrics
  retention_policy: one_week
  read_buffer: 8MiB
tcp:
  bind: 0.0.0.0:18094
  database: tcpdb
  retention_policy: rp2
  max_line_length: 65536
  max_connections: 16
auth:
  enabled: true
  users:
    - username: admin
      password: 12345
    - {username: "reader", password: "s3cret"}
  tokens: [tok-1, "tok 2"]
ingest:
  accept_unsigned: false
  default_retention_policy: default
data_dir: /var/lib/kapacitor
tasks_dir: 'tasks dir'
logging:
  level: info,ingest=debug
"#;
    let c = parse(text).expect("valid config");
    assert_eq!(c.http.bind, addr("0.0.0.0:19092"));
    assert_eq!(c.http.max_body_size, 10_000_000);
    assert!(!c.udp.enabled);
    assert_eq!(c.udp.bind, addr("[::1]:18089"));
    assert_eq!(c.udp.database, "metrics");
    assert_eq!(c.udp.retention_policy, "one_week");
    assert_eq!(c.udp.read_buffer, 8 << 20);
    assert!(c.tcp.enabled);
    assert_eq!(c.tcp.bind, addr("0.0.0.0:18094"));
    assert_eq!(c.tcp.database, "tcpdb");
    assert_eq!(c.tcp.retention_policy, "rp2");
    assert_eq!(c.tcp.max_line_length, 65536);
    assert_eq!(c.tcp.max_connections, 16);
    assert!(c.auth.enabled);
    assert_eq!(
        c.auth.users,
        vec![
            UserConfig {
                username: "admin".into(),
                password: "12345".into()
            },
            UserConfig {
                username: "reader".into(),
                password: "s3cret".into()
            },
        ]
    );
    assert_eq!(c.auth.tokens, vec!["tok-1", "tok 2"]);
    assert!(!c.ingest.accept_unsigned);
    assert_eq!(c.ingest.default_retention_policy, "default");
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/kapacitor"));
    assert_eq!(c.tasks_dir, PathBuf::from("tasks dir"));
    assert_eq!(c.logging.level, "info,ingest=debug");
    assert_eq!(parse(&c.to_yaml()), Ok(c));
}

#[test]
fn every_bad_key_is_reported_with_its_position() {
    let text = "\
http:
  enabled: yes
  bnd: 127.0.0.1:9092
  max_body_size: big
udp:
  bind: 8089
  database: \"\"
tcp:
  max_line_length: 0
  max_connections: -1
  bind: localhost:8094
auth:
  enabled: true
logging:
  level: verbose
data-dir: ./d
";
    let errs = errors(text);
    assert_eq!(
        located(&errs),
        vec![
            ("http.enabled", 2, 12),
            ("http.bnd", 3, 3),
            ("http.max_body_size", 4, 18),
            ("udp.bind", 6, 9),
            ("udp.database", 7, 13),
            ("tcp.max_line_length", 9, 20),
            ("tcp.max_connections", 10, 20),
            ("tcp.bind", 11, 9),
            ("auth.enabled", 13, 12),
            ("logging.level", 15, 10),
            ("data-dir", 16, 1),
        ],
        "{}",
        ConfigErrors(errs.clone())
    );
    let rendered = ConfigErrors(errs).to_string();
    let lines: Vec<&str> = rendered.lines().collect();
    assert_eq!(lines.len(), 11, "{rendered}");
    assert_eq!(
        lines[1],
        "kapacitor.yaml:3:3: http.bnd: unknown key (did you mean `bind`?)"
    );
    assert!(
        lines[0].contains("expected true or false, found string `yes`"),
        "{rendered}"
    );
    assert!(lines[3].contains("127.0.0.1:8089"), "{rendered}");
    assert!(lines[10].contains("did you mean `data_dir`?"), "{rendered}");
    for line in &lines {
        assert!(line.starts_with("kapacitor.yaml:"), "{line}");
    }
}

#[test]
fn wrong_types_are_named() {
    let errs = errors("http:\n  bind: 9092\n  max_body_size: [1]\n  enabled: \"true\"\n");
    let messages: Vec<&str> = errs.iter().map(|e| e.message.as_str()).collect();
    assert!(messages[0].contains("127.0.0.1:9092"), "{messages:?}");
    assert!(messages[1].contains("found a list"), "{messages:?}");
    assert!(messages[2].contains("found string `true`"), "{messages:?}");

    let errs = errors("http: 5\nudp: [a]\n");
    assert_eq!(located(&errs), vec![("http", 1, 7), ("udp", 2, 6)]);

    let errs = errors("- a\n- b\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].message.contains("mapping of sections"), "{errs:?}");
}

#[test]
fn duplicate_keys_are_errors() {
    let errs = errors("http:\n  bind: 127.0.0.1:1\n  bind: 127.0.0.1:2\nhttp: {}\n");
    assert_eq!(located(&errs), vec![("http.bind", 3, 3), ("http", 4, 1)]);
    assert!(errs[0].message.contains("first set on line 2"), "{errs:?}");
}

#[test]
fn auth_users_are_checked() {
    let text = "\
auth:
  enabled: true
  users:
    - username: a
      password: x
    - password: y
    - username: a
      password: \"\"
      role: admin
  tokens: [\"\"]
";
    let errs = errors(text);
    assert_eq!(
        located(&errs),
        vec![
            ("auth.users[1].username", 6, 7),
            ("auth.users[2].username", 7, 17),
            ("auth.users[2].password", 8, 17),
            ("auth.users[2].role", 9, 7),
            ("auth.tokens[0]", 10, 12),
        ],
        "{}",
        ConfigErrors(errs.clone())
    );
    assert!(errs[1].message.contains("listed twice"));
}

#[test]
fn syntax_errors_are_located() {
    let errs = errors("http:\n  bind: \"127.0.0.1:9092\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].message.starts_with("invalid YAML"), "{errs:?}");
    assert!(errs[0].line.is_some());
}

#[test]
fn same_http_and_tcp_address_is_an_error() {
    let errs = errors("http:\n  bind: 127.0.0.1:7000\ntcp:\n  bind: 127.0.0.1:7000\n");
    assert_eq!(located(&errs), vec![("tcp.bind", 4, 9)]);
    // Port 0 (tests) and a disabled listener are fine.
    assert!(parse("http:\n  bind: 127.0.0.1:0\ntcp:\n  bind: 127.0.0.1:0\n").is_ok());
    assert!(
        parse("http:\n  bind: 127.0.0.1:7000\ntcp:\n  enabled: false\n  bind: 127.0.0.1:7000\n")
            .is_ok()
    );
}

#[test]
fn env_overrides() {
    let mut c = DaemonConfig::default();
    let lookup = env(&[
        ("KAPACITOR_HTTP_BIND", "127.0.0.1:0"),
        ("KAPACITOR_UDP_BIND", "0.0.0.0:0"),
        ("KAPACITOR_TCP_BIND", "[::1]:0"),
        ("KAPACITOR_DATA_DIR", "/tmp/k/data"),
        ("KAPACITOR_TASKS_DIR", "/tmp/k/tasks"),
    ]);
    c.apply_env(lookup).expect("valid overrides");
    assert_eq!(c.http.bind, addr("127.0.0.1:0"));
    assert_eq!(c.udp.bind, addr("0.0.0.0:0"));
    assert_eq!(c.tcp.bind, addr("[::1]:0"));
    assert_eq!(c.data_dir, PathBuf::from("/tmp/k/data"));
    assert_eq!(c.tasks_dir, PathBuf::from("/tmp/k/tasks"));
}

#[test]
fn bad_env_values_name_the_variable() {
    let mut c = DaemonConfig::default();
    let lookup = env(&[
        ("KAPACITOR_HTTP_BIND", "nope"),
        ("KAPACITOR_TCP_BIND", ":8094"),
        ("KAPACITOR_DATA_DIR", ""),
    ]);
    let errs = c.apply_env(lookup).expect_err("bad overrides");
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "KAPACITOR_HTTP_BIND",
            "KAPACITOR_TCP_BIND",
            "KAPACITOR_DATA_DIR"
        ]
    );
    assert!(
        errs.iter()
            .all(|e| e.path == "environment" && e.line.is_none())
    );
    assert!(
        errs.to_string()
            .starts_with("environment: KAPACITOR_HTTP_BIND: `nope` is not a socket address"),
        "{errs}"
    );
    // Bad values leave the config as it was.
    assert_eq!(c, DaemonConfig::default());
}

#[test]
fn load_reads_the_file_then_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k.yaml");
    std::fs::write(
        &path,
        "http:\n  bind: 127.0.0.1:1234\ndata_dir: /from/file\n",
    )
    .expect("write");
    let c = DaemonConfig::load_with_env(Some(&path), env(&[("KAPACITOR_DATA_DIR", "/from/env")]))
        .expect("valid");
    assert_eq!(c.http.bind, addr("127.0.0.1:1234"));
    assert_eq!(c.data_dir, PathBuf::from("/from/env"));

    // File and environment problems come out together.
    std::fs::write(&path, "http:\n  bnd: x\n").expect("write");
    let errs = DaemonConfig::load_with_env(Some(&path), env(&[("KAPACITOR_UDP_BIND", "x")]))
        .expect_err("bad");
    assert_eq!(errs.len(), 2, "{errs}");
    assert_eq!(errs.0[0].path, path.display().to_string());
    assert_eq!(errs.0[1].path, "environment");

    // An explicit file must exist.
    let missing = dir.path().join("missing.yaml");
    let errs = DaemonConfig::load_with_env(Some(&missing), env(&[])).expect_err("missing");
    assert!(
        errs.to_string().contains("cannot read the config file"),
        "{errs}"
    );
}

#[test]
fn to_yaml_round_trips() {
    let mut c = DaemonConfig::default();
    assert_eq!(parse(&c.to_yaml()), Ok(c.clone()));
    c.http.enabled = false;
    c.http.bind = addr("[::]:0");
    c.udp.database = "true".into();
    c.tcp.database = "a: \"b\" # c\n\td".into();
    c.auth.enabled = true;
    c.auth.users.push(UserConfig {
        username: "ünï".into(),
        password: "123".into(),
    });
    c.auth.tokens.push("null".into());
    c.data_dir = PathBuf::from("C:\\data dir");
    c.logging.level = "debug".into();
    c.http.max_connections = 7;
    c.http.read_header_timeout = std::time::Duration::from_millis(250);
    c.http.idle_timeout = std::time::Duration::from_secs(90);
    c.http.tls = Some(config::TlsConfig {
        cert: PathBuf::from("/etc/k/server.pem"),
        key: PathBuf::from("key: file"),
    });
    c.tcp.idle_timeout = std::time::Duration::from_secs(3600);
    c.httppost.push(HttpPostConfig {
        endpoint: "hook".into(),
        url: "http://127.0.0.1:1/{{.Name}}?h={{index .Tags \"host\"}}".into(),
        headers: vec![
            ("X-Key".into(), "a: b".into()),
            ("Accept".into(), "*/*".into()),
        ],
        username: "u".into(),
        password: "p4ss".into(),
    });
    let text = c.to_yaml();
    assert_eq!(parse(&text), Ok(c.clone()), "{text}");

    c.http.allowed_hosts = vec!["kapacitor.example.com".into(), "*".into()];
    let text = c.to_yaml();
    assert_eq!(parse(&text), Ok(c.clone()), "{text}");

    let redacted = c.redacted();
    assert!(!redacted.to_yaml().contains("\"123\""));
    assert!(!redacted.to_yaml().contains("p4ss"));
    assert_eq!(redacted.auth.users[0].username, "ünï");
}

#[test]
fn redacted_hides_every_secret_and_keeps_the_rest() {
    let mut c = DaemonConfig::default();
    c.auth.users.push(UserConfig {
        username: "admin".into(),
        password: "user-secret-1".into(),
    });
    c.auth.tokens.push("token-secret-2".into());
    c.httppost.push(HttpPostConfig {
        endpoint: "hook".into(),
        url: "https://hook-user:url-secret-3@hooks.example.com/path?x=1".into(),
        headers: vec![
            ("Authorization".into(), "Bearer header-secret-4".into()),
            ("X-Api-Key".into(), "header-secret-5".into()),
            ("Accept".into(), "application/json".into()),
        ],
        username: "u".into(),
        password: "post-secret-6".into(),
    });
    c.influxdb[0].password = "influx-secret-7".into();
    c.influxdb[0].urls = vec!["http://reader:url-secret-8@10.0.0.1:8086".into()];
    let text = c.redacted().to_yaml();
    for n in 1..=8 {
        assert!(
            !text.contains(&format!("secret-{n}")),
            "secret {n} in:\n{text}"
        );
    }
    for kept in [
        "admin",
        "hooks.example.com/path?x=1",
        "application/json",
        "10.0.0.1:8086",
    ] {
        assert!(text.contains(kept), "{kept} missing from:\n{text}");
    }
}

fn sample_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kapacitor.yaml")
}

#[test]
fn sample_file_parses_to_the_defaults() {
    let path = sample_path();
    let text = std::fs::read_to_string(&path).expect("read the sample kapacitor.yaml");
    assert_eq!(
        DaemonConfig::from_yaml(&text, &path),
        Ok(DaemonConfig::default())
    );
}

/// The sample is the rendered defaults, so it shows every key with a comment
/// and cannot drift from the code. `UPDATE_SAMPLE=1 cargo test -p config`
/// rewrites it.
#[test]
fn sample_file_is_the_rendered_defaults() {
    let path = sample_path();
    let expected = DaemonConfig::default().to_yaml();
    if std::env::var_os("UPDATE_SAMPLE").is_some() {
        std::fs::write(&path, &expected).expect("write the sample kapacitor.yaml");
    }
    let text = std::fs::read_to_string(&path).expect("read the sample kapacitor.yaml");
    assert_eq!(
        text, expected,
        "kapacitor.yaml is out of date; regenerate it with `UPDATE_SAMPLE=1 cargo test -p config`"
    );
}

#[test]
fn group_idle_timeout_is_a_duration_and_zero_turns_it_off() {
    let c = parse("pipeline:\n  group_idle_timeout: 90m\n").expect("valid");
    assert_eq!(
        c.pipeline.group_idle_timeout,
        std::time::Duration::from_secs(5400)
    );
    assert_eq!(parse(&c.to_yaml()), Ok(c));
    let c = parse("pipeline:\n  group_idle_timeout: 0s\n").expect("valid");
    assert!(c.pipeline.group_idle_timeout.is_zero());
    let errs = errors("pipeline:\n  group_idle_timeout: soon\n");
    assert_eq!(located(&errs), vec![("pipeline.group_idle_timeout", 2, 23)]);
}

#[test]
fn influxdb_servers_are_a_list_checked_key_by_key() {
    let c = parse(
        "influxdb:\n  - name: a\n    urls: [\"http://h1:8086\", \"http://h2:8086/\"]\n    default: true\n    timeout: 2s\n  - name: b\n    urls: [\"http://h3:8086\"]\n",
    )
    .expect("valid");
    assert_eq!(c.influxdb.len(), 2);
    assert_eq!(c.influxdb[0].urls, ["http://h1:8086", "http://h2:8086"]);
    assert!(c.influxdb[0].default && !c.influxdb[1].default);
    assert_eq!(c.influxdb[0].timeout, std::time::Duration::from_secs(2));
    assert_eq!(parse(&c.to_yaml()), Ok(c));
    let errs = errors("influxdb:\n  - name: a\n    urls: [\"h1:8086\"]\n  - name: a\n");
    assert_eq!(
        located(&errs),
        vec![("influxdb[0].urls[0]", 3, 12), ("influxdb[1]", 4, 5)]
    );
}

#[test]
fn influxdb_subscription_keys_read_back_and_bad_ones_are_located() {
    let c = parse(
        "influxdb:\n  - name: a\n    urls: [\"http://h1:8086\"]\n    subscription_protocol: udp\n    subscriptions: {telegraf: [autogen, weekly], app: []}\n    excluded_subscriptions:\n      _internal: [monitor]\n    subscriptions_sync_interval: 10s\n    kapacitor_hostname: kapacitor.example.com\n    http_port: 19092\n",
    )
    .expect("valid");
    let s = &c.influxdb[0];
    assert_eq!(s.subscription_protocol, config::SubscriptionProtocol::Udp);
    assert_eq!(
        s.subscriptions,
        vec![
            ("telegraf".into(), vec!["autogen".into(), "weekly".into()]),
            ("app".into(), vec![])
        ]
    );
    assert_eq!(
        s.excluded_subscriptions,
        vec![("_internal".into(), vec!["monitor".into()])]
    );
    assert_eq!(
        s.subscriptions_sync_interval,
        std::time::Duration::from_secs(10)
    );
    assert_eq!(s.kapacitor_hostname, "kapacitor.example.com");
    assert_eq!(s.http_port, 19092);
    assert!(!s.disable_subscriptions);
    assert_eq!(parse(&c.to_yaml()), Ok(c.clone()), "{}", c.to_yaml());
    let errs = errors(
        "influxdb:\n  - name: a\n    subscription_protocol: tcp\n    subscriptions: [telegraf]\n    subscriptions_sync_interval: 0s\n    http_port: 70000\n    disable_subscriptions: maybe\n",
    );
    assert_eq!(
        located(&errs),
        vec![
            ("influxdb[0].subscription_protocol", 3, 28),
            ("influxdb[0].subscriptions", 4, 20),
            ("influxdb[0].subscriptions_sync_interval", 5, 34),
            ("influxdb[0].http_port", 6, 16),
            ("influxdb[0].disable_subscriptions", 7, 28),
        ]
    );
}

#[test]
fn deadman_section_sets_defaults_and_global() {
    let c = parse(
        "deadman:\n  interval: 30s\n  threshold: 2.5\n  id: \"{{ .TaskName }}\"\n  global: true\n",
    )
    .expect("valid");
    assert_eq!(c.deadman.interval, std::time::Duration::from_secs(30));
    assert_eq!(c.deadman.threshold, 2.5);
    assert!(c.deadman.global);
    assert_eq!(parse(&c.to_yaml()), Ok(c));
    let errs = errors("deadman:\n  interval: 0s\n  threshold: lots\n");
    assert_eq!(
        located(&errs),
        vec![("deadman.interval", 2, 13), ("deadman.threshold", 3, 14)]
    );
}

#[test]
fn httppost_endpoints_are_read_and_their_mistakes_located() {
    let text = "httppost:\n  - endpoint: hook\n    url: http://127.0.0.1:9/x/\n    headers: {X-A: b}\n    username: u\n    password: p\n";
    let c = parse(text).expect("valid");
    assert_eq!(
        c.httppost,
        [HttpPostConfig {
            endpoint: "hook".into(),
            // As written: a webhook's trailing slash is part of it.
            url: "http://127.0.0.1:9/x/".into(),
            headers: vec![("X-A".into(), "b".into())],
            username: "u".into(),
            password: "p".into(),
        }]
    );
    let bad = "httppost:\n  - endpoint: hook\n    url: ftp://x\n    headers: [a]\n  - endpoint: hook\n    url: http://x\n    username: u\n    rowtemplate: x\n";
    let errs = parse(bad).expect_err("invalid").to_string();
    for wanted in [
        "3:10: httppost[0].url: `ftp://x` is not an http:// or https:// URL",
        "4:14: httppost[0].headers: expected a mapping of names to strings",
        "5:15: httppost[1].endpoint: endpoint `hook` is listed twice",
        "httppost[1].password: basic auth needs both a username and a password",
        "8:5: httppost[1].rowtemplate: unknown key",
    ] {
        assert!(errs.contains(wanted), "missing {wanted:?} in\n{errs}");
    }
}

#[test]
fn pipeline_workers_and_inbox_points_are_counts() {
    let c = parse("pipeline:\n  workers: 3\n  inbox_points: 5000\n").expect("valid");
    assert_eq!((c.pipeline.workers, c.pipeline.inbox_points), (3, 5000));
    let errs = errors("pipeline:\n  workers: many\n  inbox_points: 0\n");
    assert_eq!(
        located(&errs),
        vec![
            ("pipeline.workers", 2, 12),
            ("pipeline.inbox_points", 3, 17)
        ]
    );
}

#[test]
fn connection_limits_and_tls_are_read_and_checked() {
    let c = parse(
        "http:\n  max_connections: 5\n  read_header_timeout: 2s\n  idle_timeout: 1m\n  tls: {cert: a.pem, key: a.key}\ntcp:\n  idle_timeout: 10m\n",
    )
    .unwrap();
    assert_eq!(c.http.max_connections, 5);
    assert_eq!(
        c.http.read_header_timeout,
        std::time::Duration::from_secs(2)
    );
    assert_eq!(c.http.idle_timeout, std::time::Duration::from_secs(60));
    let tls = c.http.tls.unwrap();
    assert_eq!(
        (tls.cert, tls.key),
        (PathBuf::from("a.pem"), PathBuf::from("a.key"))
    );
    assert_eq!(c.tcp.idle_timeout, std::time::Duration::from_secs(600));
    assert_eq!(DaemonConfig::default().http.tls, None);

    let errs = errors(
        "http:\n  max_connections: 0\n  read_header_timeout: 0s\n  idle_timeout: soon\n  tls: {cert: a.pem}\ntcp:\n  idle_timeout: 0s\n",
    );
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    for key in [
        "http.max_connections",
        "http.read_header_timeout",
        "http.idle_timeout",
        "http.tls.key",
        "tcp.idle_timeout",
    ] {
        assert!(keys.contains(&key), "{key} not in {keys:?}");
    }
}
