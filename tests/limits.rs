//! Issue 12: no input crashes, hangs or exhausts the daemon. Each test runs
//! the real kapacitord over real sockets, sends what used to abort or
//! exhaust it, and checks the answer and that the daemon still serves.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::Daemon;

const SOME_POINTS: &str = "cpu value=1 1000000000\ncpu value=2 2000000000\ncpu value=2 2000000001\ncpu value=3 30000000000\ncpu value=4 60000000000\n";

#[test]
fn allocation_sizes_from_a_script_are_refused_at_define_time() {
    let mut d = Daemon::start("");
    for (id, script, says) in [
        (
            "par",
            "stream\n  |from()\n    .parallelism(1099511627776)\n  |log()",
            "3:6",
        ),
        (
            "hist",
            "stream|from()|alert().crit(lambda: TRUE).history(1099511627776)",
            "limits.max_history",
        ),
        (
            "hw",
            "stream|from()|window().period(10s).every(10s)|holtWinters('value', 1099511627776, 0, 1s)",
            "limits.max_forecast",
        ),
    ] {
        let (status, body) = d.define(id, script, "");
        assert_eq!(status, 400, "{id}: {body}");
        assert!(body.contains(says), "{id}: {body}");
        d.write(SOME_POINTS);
        d.assert_alive();
    }
    // Within the limits all of them run, on points that share time slots.
    for (id, script) in [
        ("par", "stream|from().parallelism(4)|log()"),
        (
            "hist",
            "stream|from()|alert().crit(lambda: TRUE).history(10000)",
        ),
        (
            "hw",
            "stream|from()|window().period(100s).every(100s)|holtWinters('value', 100, 4, 1s)",
        ),
    ] {
        let (status, body) = d.define(id, script, "");
        assert_eq!(status, 200, "{id}: {body}");
    }
    d.write(SOME_POINTS);
    d.write("cpu value=5 200000000000\n");
    d.assert_alive();
}

#[test]
fn deep_where_and_long_chains_are_errors_not_stack_overflows() {
    let mut d = Daemon::start("");
    // The YAML/API `where`: 100,000 parentheses, and a 100,000-long chain.
    let parens = format!("{}\"x\" > 0{}", "(".repeat(100_000), ")".repeat(100_000));
    let extra = format!(r#","where":{}"#, serde_json::to_string(&parens).unwrap());
    let (status, body) = d.define("w1", "stream|from()|log()", &extra);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("column 101") && body.contains("limits.max_expression_depth"),
        "{body}"
    );
    d.assert_alive();
    let chain = vec!["\"x\" > 0"; 100_000].join(" AND ");
    let extra = format!(r#","where":{}"#, serde_json::to_string(&chain).unwrap());
    let (status, body) = d.define("w2", "stream|from()|log()", &extra);
    assert_eq!(status, 400, "{body}");
    d.assert_alive();

    // A TICKscript lambda: parentheses, and a lambda built from lambda vars.
    let lambda = format!("stream|from().where(lambda: {parens})|log()");
    let (status, body) = d.define("w3", &lambda, "");
    assert_eq!(status, 400, "{}", &body[..body.len().min(300)]);
    d.assert_alive();
    let mut vars = String::from("var l0 = lambda: \"x\" > 0\n");
    for i in 1..5000 {
        vars.push_str(&format!("var l{i} = lambda: l{} AND TRUE\n", i - 1));
    }
    vars.push_str("stream|from().where(l4999)|log()\n");
    let (status, body) = d.define("w4", &vars, "");
    assert_eq!(status, 400, "{}", &body[..body.len().min(300)]);
    assert!(body.contains("limits.max_expression_depth"));

    // 20,000 chained nodes, one per var: refused quickly at node 1000.
    let mut chain = String::from("var n0 = stream|from()\n");
    for i in 1..20_000 {
        chain.push_str(&format!("var n{i} = n{}|log()\n", i - 1));
    }
    let started = Instant::now();
    let (status, body) = d.define("chain", &chain, "");
    assert_eq!(status, 400, "{}", &body[..body.len().min(300)]);
    assert!(
        body.contains("limits.max_nodes"),
        "{}",
        &body[..body.len().min(300)]
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // The deepest allowed chain and predicate run on points.
    let chain: String = chain.lines().take(199).map(|l| format!("{l}\n")).collect();
    let (status, body) = d.define("chain", &chain, "");
    assert_eq!(status, 200, "{}", &body[..body.len().min(300)]);
    let deep = format!("{}\"value\" > 0{}", "(".repeat(99), ")".repeat(99));
    let extra = format!(r#","where":{}"#, serde_json::to_string(&deep).unwrap());
    let (status, body) = d.define("w1", "stream|from()|log()", &extra);
    assert_eq!(status, 200, "{body}");
    assert_eq!(d.write(SOME_POINTS).0, 204);
    d.assert_alive();
}

#[test]
fn configured_limits_apply() {
    let mut d = Daemon::start("limits:\n  max_parallelism: 2\n  max_expression_depth: 3\n");
    let (status, body) = d.define("p", "stream|from().parallelism(3)|log()", "");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("at most 2 (limits.max_parallelism)"),
        "{body}"
    );
    let extra = r#","where":"a = 1 and b = 2 and c = 3 and d = 4""#;
    let (status, body) = d.define("w", "stream|from()|log()", extra);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("more than 3 deep"), "{body}");
    d.assert_alive();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use flate2::write::GzEncoder;
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn a_flood_of_bad_lines_keeps_few_errors_and_says_how_many() {
    let mut d = Daemon::start("");
    // 24 MB of bad lines: every error used to be kept (1.4 GB peak).
    let body = "a\n".repeat(12_000_000);
    let (status, msg) = d.write(&format!("cpu value=1\n{body}"));
    assert_eq!(status, 400, "{msg}");
    assert!(msg.contains("unable to parse 'a'"), "{msg}");
    assert!(msg.contains("dropped=12000000"), "{msg}");
    assert!(msg.contains("more bad lines"), "{msg}");
    d.assert_alive();
}

#[test]
fn oversized_points_and_gzip_bombs_are_refused_by_name() {
    let mut d = Daemon::start(
        "ingest:\n  max_fields: 100\n  max_tags: 10\n  max_line_length: 10000\n  max_inflated_size: 1000000\n",
    );
    let fields: Vec<String> = (0..101).map(|i| format!("f{i}=1")).collect();
    let (status, msg) = d.write(&format!("m {}\nm f=1\n", fields.join(",")));
    assert_eq!(status, 400);
    assert!(
        msg.contains("too many fields: 101 > 100 (ingest.max_fields)") && msg.contains("dropped=1"),
        "{msg}"
    );
    let tags: String = (0..11).map(|i| format!(",t{i}=x")).collect();
    let (_, msg) = d.write(&format!("m{tags} f=1\n"));
    assert!(msg.contains("(ingest.max_tags)"), "{msg}");
    let (_, msg) = d.write(&format!("m f=\"{}\"\n", "x".repeat(20_000)));
    assert!(msg.contains("(ingest.max_line_length)"), "{msg}");
    // 10 MB of zeros gzip to about 10 KB.
    let bomb = gzip(&vec![b'0'; 10_000_000]);
    let (status, msg) = d.request(
        "POST",
        "/write?db=telegraf",
        &["Content-Encoding: gzip"],
        &bomb,
    );
    assert_eq!(status, 413, "{msg}");
    assert!(msg.contains("ingest.max_inflated_size"), "{msg}");
    d.assert_alive();
}

#[test]
fn fifty_thousand_distinct_fields_are_quick() {
    let mut d = Daemon::start("ingest:\n  max_fields: 100000\n");
    let fields: Vec<String> = (0..50_000).map(|i| format!("field_{i}={i}")).collect();
    let started = Instant::now();
    let (status, msg) = d.write(&format!("m {} 1\n", fields.join(",")));
    assert_eq!(status, 204, "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    d.assert_alive();
}

#[test]
fn ingest_max_future_is_read_from_the_config() {
    let mut d = Daemon::start("ingest:\n  max_future: 10m\n");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let ahead = (now + Duration::from_secs(1200)).as_nanos();
    let (status, msg) = d.write(&format!("m f=1\nm f=2 {ahead}\n"));
    assert_eq!(status, 400, "{msg}");
    assert!(
        msg.contains("1200s ahead of the clock, more than 600s (ingest.max_future)")
            || msg.contains("1199s ahead of the clock, more than 600s (ingest.max_future)"),
        "{msg}"
    );
    assert!(msg.contains("dropped=1"), "{msg}");
    d.assert_alive();
}

#[test]
fn a_standing_alert_of_a_silent_host_is_forgotten_after_alert_state_idle_timeout() {
    let mut d =
        Daemon::start("pipeline:\n  group_idle_timeout: 1s\n  alert_state_idle_timeout: 3s\n");
    let script =
        "stream|from().measurement('cpu').groupBy('host')|alert().crit(lambda: \"value\" > 90)";
    let (status, body) = d.define("a", script, "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(d.write("cpu,host=gone value=95\n").0, 204);
    // Past the group idle timeout, well short of the alert's: kept.
    std::thread::sleep(Duration::from_millis(2000));
    assert!(!d.spawned.log().contains("alert state forgotten"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.spawned.log().contains("alert state forgotten") {
        assert!(
            Instant::now() < deadline,
            "never forgotten: {}",
            d.spawned.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = d.spawned.log();
    assert!(
        log.contains("host=gone") && log.contains("recovery will not be sent"),
        "{log}"
    );
    d.assert_alive();
}

/// Waits up to 10 s for `limit_breaches[key]` of the status to reach `n`;
/// the status then.
fn wait_breaches(d: &Daemon, key: &str, n: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = d.status();
        if status["limit_breaches"][key].as_u64() >= Some(n) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{key}: {}",
            status["limit_breaches"]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_limit_breach_is_counted_by_its_key_in_status_and_metrics() {
    let mut d = Daemon::start(
        "ingest:\n  max_fields: 2\n  max_parse_errors: 1\nhttp:\n  max_body_size: 1000\n\
         tcp:\n  max_connections: 1\n  max_line_length: 100\nlimits:\n  max_parallelism: 2\n\
         replay:\n  max_recording_bytes: 1000\n",
    );
    let status = d.status();
    let breaches = status["limit_breaches"].as_object().unwrap();
    assert!(breaches.values().all(|n| n == 0), "{breaches:?}");
    for key in [
        "http.max_connections",
        "ingest.max_fields",
        "limits.max_nodes",
        "sideload.max_files",
    ] {
        assert!(breaches.contains_key(key), "{key}: {breaches:?}");
    }

    // HTTP: a line with too many fields (the good line is kept), too many
    // bad lines, a body over the limit; a script over a limit.
    let (status, msg) = d.write("m a=1,b=2,c=3\nm a=1\n");
    assert_eq!(status, 400);
    assert!(
        msg.contains("(ingest.max_fields)") && msg.contains("dropped=1"),
        "{msg}"
    );
    assert_eq!(d.write("x\ny\nz\n").0, 400);
    let (status, msg) = d.write(&"m a=1\n".repeat(200));
    assert_eq!(status, 413);
    assert!(msg.contains("(http.max_body_size)"), "{msg}");
    let (status, msg) = d.define("p", "stream|from().parallelism(3)|log()", "");
    assert_eq!(status, 400);
    assert!(msg.contains("(limits.max_parallelism)"), "{msg}");
    let data = "m a=1 1\n".repeat(200);
    let (status, msg) = d.request(
        "POST",
        "/kapacitor/v1/recordings/file",
        &[],
        data.as_bytes(),
    );
    assert_eq!(status, 413);
    assert!(
        msg.contains("more than 1000 bytes (replay.max_recording_bytes)"),
        "{msg}"
    );

    // UDP: too many fields again.
    let listeners = &d.status()["listeners"];
    let udp_addr = listeners["udp"]["bind"].as_str().unwrap().to_string();
    let tcp_addr = listeners["tcp"]["bind"].as_str().unwrap().to_string();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"m a=1,b=2,c=3\n", &udp_addr).unwrap();
    wait_breaches(&d, "ingest.max_fields", 2);

    // TCP: a line over tcp.max_line_length, and a second connection past
    // tcp.max_connections.
    let mut held = std::net::TcpStream::connect(&tcp_addr).unwrap();
    held.write_all(format!("m f=\"{}\"\nm f=1\n", "x".repeat(200)).as_bytes())
        .unwrap();
    wait_breaches(&d, "tcp.max_line_length", 1);
    let _refused = std::net::TcpStream::connect(&tcp_addr).unwrap();
    let status = wait_breaches(&d, "tcp.max_connections", 1);

    let breaches = &status["limit_breaches"];
    for (key, n) in [
        ("ingest.max_fields", 2),
        ("ingest.max_parse_errors", 1),
        ("http.max_body_size", 1),
        ("limits.max_parallelism", 1),
        ("replay.max_recording_bytes", 1),
        ("tcp.max_line_length", 1),
        ("tcp.max_connections", 1),
        ("ingest.max_tags", 0),
    ] {
        assert_eq!(breaches[key], n, "{key}: {breaches}");
    }
    let (_, metrics) = d.request("GET", "/metrics", &[], b"");
    for line in [
        "kapacitor_limit_breaches_total{limit=\"ingest.max_fields\"} 2",
        "kapacitor_limit_breaches_total{limit=\"tcp.max_connections\"} 1",
        "kapacitor_limit_breaches_total{limit=\"limits.max_nodes\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    // `kapacitor status` names the breached ones.
    let (_, text, _) = common::kapacitor(&d.spawned.url, &["status"]);
    assert!(
        text.contains("limits breached:") && text.contains("ingest.max_fields 2"),
        "{text}"
    );
    drop(held);
    d.assert_alive();
}
