//! Issue 12: the HTTP and TCP listeners of the real kapacitord survive
//! slow, idle and numerous clients: thousands of idle connections leave
//! `/ping` and writes from another client fast, a connection cap makes room
//! by closing the longest-idle connection, a stalled request head and idle
//! connections are closed after their timeouts, and all of it is counted.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Daemon, exchange};

impl Daemon {
    fn listener(&self, name: &str, counter: &str) -> u64 {
        self.status()["listeners"][name][counter]
            .as_u64()
            .unwrap_or_else(|| panic!("no listeners.{name}.{counter}"))
    }

    fn tcp_addr(&self) -> String {
        self.status()["listeners"]["tcp"]["bind"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits up to 10 s for `listeners.NAME.COUNTER` to reach `at_least`.
    fn wait_for(&self, name: &str, counter: &str, at_least: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let n = self.listener(name, counter);
            if n >= at_least || Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.spawned.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// `/ping` and a Telegraf-style write, each on a new connection from
    /// another client, each answered within a second.
    fn ping_and_write_promptly(&self) {
        let started = Instant::now();
        let (code, body) = exchange(
            &self.addr,
            "GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            Duration::from_secs(1),
        );
        assert_eq!(code, 204, "{body}");
        let ping = started.elapsed();
        let lines = "cpu,host=a usage_idle=97.5 1700000000000000000\nmem,host=a used=1024i 1700000000000000000\ndisk,host=a,path=/ free=5e9 1700000000000000000\n";
        let request = format!(
            "POST /write?db=telegraf HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Telegraf/1.30\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{lines}",
            lines.len()
        );
        let started = Instant::now();
        let (code, body) = exchange(&self.addr, &request, Duration::from_secs(1));
        assert_eq!(code, 204, "{body}");
        let write = started.elapsed();
        eprintln!("ping answered in {ping:?}, write in {write:?}");
        assert!(ping < Duration::from_secs(1) && write < Duration::from_secs(1));
    }
}

/// A keep-alive `GET /ping` on `stream`, read to the end of its (empty) answer.
fn ping_keep_alive(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    read_head(stream);
}

/// Reads one response head (204s have no body).
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "no answer: {other:?} after {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    String::from_utf8(head).unwrap()
}

/// How long until the server closes `stream` (EOF or reset), at most `limit`.
fn closed_after(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
}

#[test]
fn thousands_of_idle_connections_leave_ping_and_writes_fast() {
    const IDLE: usize = 2000;
    // This process holds 4,000 sockets too.
    let limit = kapacitor::serve::raise_open_files_limit().unwrap();
    assert!(limit > 2 * IDLE as u64 + 100, "open files limit {limit}");
    let daemon = Daemon::start("tcp:\n  max_connections: 4096\n");
    let tcp = daemon.tcp_addr();
    let rss_before = daemon.rss_kib();

    let started = Instant::now();
    let tcp_conns: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(&tcp).unwrap())
        .collect();
    eprintln!("{IDLE} TCP connections opened in {:?}", started.elapsed());
    // Idle keep-alive HTTP connections, as a pooling client leaves them:
    // each has been used once.
    let mut http_conns: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(&daemon.addr).unwrap())
        .collect();
    eprintln!(
        "{IDLE} HTTP connections opened after {:?}",
        started.elapsed()
    );
    for s in &mut http_conns {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
    }
    for s in &mut http_conns {
        read_head(s);
    }
    eprintln!("{} connections opened in {:?}", 2 * IDLE, started.elapsed());

    assert_eq!(
        daemon.wait_for("tcp", "active_connections", IDLE as u64),
        IDLE as u64
    );
    assert!(daemon.listener("http", "active_connections") >= IDLE as u64);
    let rss_after = daemon.rss_kib();
    eprintln!(
        "daemon RSS {rss_before} KiB -> {rss_after} KiB with {IDLE} idle TCP and {IDLE} idle HTTP connections"
    );

    daemon.ping_and_write_promptly();
    assert_eq!(daemon.listener("http", "refused_connections"), 0);
    assert_eq!(daemon.listener("http", "evicted_connections"), 0);

    // The idle connections still work.
    let mut first = &tcp_conns[0];
    first.write_all(b"cpu,host=idle v=1 1\n").unwrap();
    ping_keep_alive(&mut http_conns[IDLE - 1]);
    drop(tcp_conns);
    drop(http_conns);
}

#[test]
fn at_the_cap_the_longest_idle_connection_makes_room() {
    let daemon = Daemon::start("http:\n  max_connections: 20\n");
    let mut idle: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(&daemon.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            ping_keep_alive(&mut s);
            s
        })
        .collect();
    // Another client is still served promptly, at the price of the oldest
    // idle connection.
    daemon.ping_and_write_promptly();
    assert!(
        closed_after(&mut idle[0], Duration::from_secs(2)).is_some(),
        "the longest-idle connection was not closed"
    );
    assert!(daemon.listener("http", "evicted_connections") >= 1);
    assert_eq!(daemon.listener("http", "refused_connections"), 0);
    // The most recent ones were kept.
    ping_keep_alive(&mut idle[19]);
}

#[test]
fn a_stalled_request_head_and_idle_connections_are_closed_after_their_timeouts() {
    let daemon = Daemon::start(
        "http:\n  read_header_timeout: 500ms\n  idle_timeout: 1500ms\ntcp:\n  idle_timeout: 1s\n",
    );

    // Slowloris: part of a request head, then nothing.
    let mut slow = TcpStream::connect(&daemon.addr).unwrap();
    slow.write_all(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .unwrap();
    // Connected, never sent a byte.
    let mut silent = TcpStream::connect(&daemon.addr).unwrap();
    // Used once, then idle between requests: the idle timeout, not the
    // header timeout, applies.
    let mut kept = TcpStream::connect(&daemon.addr).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    ping_keep_alive(&mut kept);
    let kept_since = Instant::now();

    let slow_closed = closed_after(&mut slow, Duration::from_secs(5)).expect("slowloris kept");
    assert!(
        slow_closed >= Duration::from_millis(400) && slow_closed < Duration::from_secs(3),
        "{slow_closed:?}"
    );
    assert!(closed_after(&mut silent, Duration::from_secs(5)).is_some());
    closed_after(&mut kept, Duration::from_secs(5)).expect("idle connection kept");
    let kept_for = kept_since.elapsed();
    assert!(
        kept_for >= Duration::from_millis(1400) && kept_for < Duration::from_secs(4),
        "{kept_for:?}"
    );
    assert!(daemon.listener("http", "header_timeouts") >= 2);
    assert!(daemon.listener("http", "idle_timeouts") >= 1);

    // TCP: a connection that writes more often than the idle timeout stays;
    // one that goes quiet is closed.
    let tcp = daemon.tcp_addr();
    let mut quiet = TcpStream::connect(&tcp).unwrap();
    let mut chatty = TcpStream::connect(&tcp).unwrap();
    let started = Instant::now();
    for i in 0..8 {
        chatty
            .write_all(format!("cpu,host=chatty v={i} {i}\n").as_bytes())
            .unwrap();
        std::thread::sleep(Duration::from_millis(250));
    }
    let quiet_closed = closed_after(&mut quiet, Duration::from_secs(5)).expect("quiet kept");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        quiet_closed < Duration::from_secs(1),
        "closed only after {quiet_closed:?}"
    );
    chatty.write_all(b"cpu,host=chatty v=9 9\n").unwrap();
    assert_eq!(daemon.listener("tcp", "idle_timeouts"), 1);
    assert!(daemon.wait_for("tcp", "points", 9) >= 9);

    let (code, metrics) = exchange(
        &daemon.addr,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(code, 200);
    for line in [
        "kapacitor_connections_closed_total{listener=\"tcp\",reason=\"idle_timeout\"} 1",
        "kapacitor_connections_closed_total{listener=\"http\",reason=\"idle_timeout\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
}

#[test]
fn at_the_cap_with_every_connection_busy_a_newcomer_gets_503_at_once() {
    let daemon = Daemon::start("http:\n  max_connections: 1\n");
    // A write whose body is still coming: its request is being handled.
    let mut busy = TcpStream::connect(&daemon.addr).unwrap();
    busy.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let rest = "mem v=2 2\n";
    let first = "cpu v=1 1\n";
    busy.write_all(
        format!(
            "POST /write?db=telegraf HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{first}",
            first.len() + rest.len()
        )
        .as_bytes(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let (code, body) = exchange(
        &daemon.addr,
        "GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        Duration::from_secs(1),
    );
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("http.max_connections"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(1));
    // The busy request is unharmed.
    busy.write_all(rest.as_bytes()).unwrap();
    let head = read_head(&mut busy);
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");
    drop(busy);
    std::thread::sleep(Duration::from_millis(100));
    let status = daemon.status();
    assert_eq!(status["listeners"]["http"]["refused_connections"], 1);
    assert_eq!(status["listeners"]["http"]["rejected"], 1);
}
