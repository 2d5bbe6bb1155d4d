//! Alert handlers and outputs are effects off the data path, on one shared
//! runtime: handlers stuck on peers that never answer hold up nothing a
//! user does (status, metrics, disable, delete, SIGTERM), and tasks with
//! handlers do not cost a thread each. Against the real kapacitord.

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{Spawned, kapacitord, silent_http};

/// What each call a user makes must answer within.
const PROMPT: Duration = Duration::from_secs(5);

/// One HTTP/1.1 exchange with the daemon: the status and the body. Panics
/// when no answer comes within [`PROMPT`].
fn call(url: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let addr = url.trim_start_matches("http://");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    common::exchange(addr, &request, PROMPT)
}

/// `call`, timed: asserts it answered with `expected` within [`PROMPT`].
fn prompt(url: &str, method: &str, path: &str, body: &str, expected: u16) -> Duration {
    let start = Instant::now();
    let (status, answer) = call(url, method, path, body);
    let took = start.elapsed();
    assert_eq!(status, expected, "{method} {path}: {answer}");
    assert!(took < PROMPT, "{method} {path} took {took:?}");
    took
}

/// Defines and enables stream task `id` on db.autogen.
fn define(url: &str, id: &str, script: &str) {
    let body = serde_json::json!({
        "id": id,
        "type": "stream",
        "dbrps": [{"db": "db", "rp": "autogen"}],
        "script": script,
        "status": "enabled",
    });
    let (status, answer) = call(url, "POST", "/kapacitor/v1/tasks", &body.to_string());
    assert!((200..300).contains(&status), "define {id}: {answer}");
}

fn write(url: &str, lines: &str) {
    let (status, answer) = call(url, "POST", "/write?db=db&rp=autogen", lines);
    assert_eq!(status, 204, "{answer}");
}

/// A TCP listener that never accepts, its backlog full: a connect to it
/// hangs (the kernel drops the SYN). Kept alive with the connections that
/// filled it.
fn full_backlog() -> (SocketAddr, socket2::Socket, Vec<TcpStream>) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut filling = Vec::new();
    for _ in 0..64 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => filling.push(s),
            Err(_) => return (addr, socket, filling),
        }
    }
    panic!("the backlog of {addr} never filled");
}

/// The programs running as children of `pid`, by name.
fn children(pid: u32) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (name) state ppid …; the name may hold spaces.
        let Some((name, rest)) = stat.split_once(" (").and_then(|(_, r)| r.rsplit_once(") "))
        else {
            continue;
        };
        // A killed child the runtime has not reaped yet is a zombie (Z):
        // it no longer runs.
        let mut fields = rest.split(' ');
        let (state, ppid) = (fields.next(), fields.next());
        if ppid == Some(&pid.to_string()) && state != Some("Z") {
            names.push(name.to_string());
        }
    }
    names
}

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count()
}

fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Killed on drop, whatever the test's outcome.
struct Daemon {
    spawned: Spawned,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = kapacitord();
        cmd.current_dir(dir.path());
        Daemon {
            spawned: Spawned::start(cmd),
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        self.spawned.url.clone()
    }

    fn pid(&self) -> u32 {
        self.spawned.child.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.spawned.child.kill();
        let _ = self.spawned.child.wait();
    }
}

#[test]
fn handlers_stuck_on_silent_peers_hold_up_no_call_no_stop_and_no_shutdown() {
    let (http, accepted) = silent_http();
    let (tcp, _listener, _filling) = full_backlog();
    let script = format!(
        "stream|from().measurement('cpu')|alert().crit(lambda: \"value\" > 90).post('http://{http}/').tcp('{tcp}').exec('sleep', '1000')\n"
    );
    let mut daemon = Daemon::start();
    let url = daemon.url();
    let pid = daemon.pid();
    let stuck = |url: &str, id: &str| {
        define(url, id, &script);
        // Several events: one in each handler, the rest queued behind it.
        write(url, "cpu value=95 1\ncpu value=96 2\ncpu value=97 3\n");
    };
    stuck(&url, "hung");
    eventually("the post reached the silent server", || {
        !accepted.lock().unwrap().is_empty()
    });
    eventually("the exec'd program ran", || {
        children(pid).iter().any(|c| c == "sleep")
    });
    prompt(&url, "GET", "/kapacitor/v1/status", "", 200);
    prompt(&url, "GET", "/metrics", "", 200);
    let disabled = r#"{"status":"disabled"}"#;
    prompt(&url, "PATCH", "/kapacitor/v1/tasks/hung", disabled, 200);
    // What was abandoned went with the task: the program too.
    eventually("the exec'd program was killed", || {
        !children(pid).iter().any(|c| c == "sleep")
    });
    let enabled = r#"{"status":"enabled"}"#;
    prompt(&url, "PATCH", "/kapacitor/v1/tasks/hung", enabled, 200);
    write(&url, "cpu value=98 4\n");
    prompt(&url, "DELETE", "/kapacitor/v1/tasks/hung", "", 204);
    stuck(&url, "hung-again");
    eventually("the exec'd program ran again", || {
        children(pid).iter().any(|c| c == "sleep")
    });
    let start = Instant::now();
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    loop {
        if let Some(status) = daemon.spawned.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            start.elapsed() < PROMPT,
            "still running {PROMPT:?} after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = daemon.spawned.log_after_exit();
    assert!(
        log.contains("not sent"),
        "abandoned events are logged: {log}"
    );
}

#[test]
fn tasks_with_handlers_do_not_cost_a_thread_each() {
    let (http, accepted) = silent_http();
    let daemon = Daemon::start();
    let url = daemon.url();
    let pid = daemon.pid();
    let before = threads(pid);
    const TASKS: usize = 50;
    for i in 0..TASKS {
        define(
            &url,
            &format!("t{i}"),
            &format!(
                "stream|from().measurement('cpu')|alert().crit(lambda: \"value\" > 90).post('http://{http}/')\n"
            ),
        );
    }
    // Every handler at work (and stuck) at once.
    write(&url, "cpu value=95 1\n");
    eventually("every task posted", || {
        accepted.lock().unwrap().len() >= TASKS
    });
    let after = threads(pid);
    eprintln!("threads: {before} before, {after} with {TASKS} tasks posting");
    assert!(
        after <= before + 6,
        "{before} threads before, {after} with {TASKS} tasks"
    );
}

fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn a_second_signal_during_shutdown_exits_at_once_with_a_failure_status() {
    let (http, accepted) = silent_http();
    // The graceful stop waits seconds for this handler to give up.
    let script = format!(
        "stream|from().measurement('cpu')|alert().crit(lambda: \"value\" > 90).post('http://{http}/')\n"
    );
    let mut daemon = Daemon::start();
    let url = daemon.url();
    let pid = daemon.pid();
    define(&url, "hung", &script);
    write(&url, "cpu value=95 1\ncpu value=96 2\n");
    eventually("the post reached the silent server", || {
        !accepted.lock().unwrap().is_empty()
    });
    signal(pid, "TERM");
    eventually("the graceful shutdown began", || {
        daemon.spawned.log().contains("shutting down")
    });
    let second = Instant::now();
    signal(pid, "INT");
    let status = loop {
        if let Some(status) = daemon.spawned.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            second.elapsed() < Duration::from_secs(1),
            "still running a second after the second signal"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(!status.success(), "exit status {status}");
    let log = daemon.spawned.log_after_exit();
    assert!(
        log.contains("second signal during shutdown: exiting at once"),
        "{log}"
    );
    assert!(
        !log.contains("stopped"),
        "the graceful stop finished first: {log}"
    );
}
