//! Issue 12: files the user points at (a task's script and YAML in the
//! tasks directory, a sideload source) are read only when regular and
//! bounded; a FIFO, a device or an oversized file is an error naming the
//! file, never a hang. The real kapacitord.

mod common;

use std::time::{Duration, Instant};

use common::Daemon;

/// mkfifo at `path`; false when the system has no mkfifo.
fn mkfifo(path: &std::path::Path) -> bool {
    std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn task_files_that_are_fifos_devices_or_too_large_are_errors_not_hangs() {
    let mut fifo_made = false;
    let mut d = Daemon::start_with("limits:\n  max_script_size: 1000\n", |_, dir| {
        let tasks = dir.join("tasks");
        std::fs::create_dir_all(&tasks).unwrap();
        let yaml = "type: stream\ndbrp: telegraf.autogen\n";
        std::fs::write(
            tasks.join("ok.tick"),
            "stream|from().measurement('cpu')|log()",
        )
        .unwrap();
        std::fs::write(tasks.join("ok.yaml"), yaml).unwrap();
        let big = format!("stream|from()|log()\n//{}\n", "x".repeat(2000));
        std::fs::write(tasks.join("big.tick"), big).unwrap();
        std::fs::write(tasks.join("big.yaml"), yaml).unwrap();
        // A writerless FIFO would block a plain read forever; /dev/zero
        // never ends.
        fifo_made = mkfifo(&tasks.join("pipe")) && mkfifo(&tasks.join("fifo.tick"));
        std::fs::write(tasks.join("fifo.yaml"), yaml).unwrap();
        std::fs::write(tasks.join("piped.yaml"), format!("{yaml}script: pipe\n")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", tasks.join("zero")).unwrap();
        std::fs::write(tasks.join("zeroed.yaml"), format!("{yaml}script: zero\n")).unwrap();
    });
    let status = d.status();
    let errors = &status["task_dir"]["errors"];
    let error = |id: &str| errors[id].as_str().unwrap_or_default().to_string();
    assert!(
        error("big").contains("big.tick: 2")
            && error("big").contains("bytes, more than the 1000 allowed (limits.max_script_size)"),
        "{errors}"
    );
    assert!(
        error("zeroed").contains("zero: a device, not a regular file"),
        "{errors}"
    );
    if fifo_made {
        assert!(
            error("piped").contains("pipe: a FIFO, not a regular file"),
            "{errors}"
        );
        assert!(
            error("fifo").contains("fifo.tick: a FIFO, not a regular file"),
            "{errors}"
        );
    }
    let tasks = status["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["id"], "ok");
    assert_eq!(status["limit_breaches"]["limits.max_script_size"], 1);

    // Dropped in while it runs: the watcher is not held up either.
    let dir = d.dir().join("tasks");
    if mkfifo(&dir.join("pipe2")) {
        std::fs::write(dir.join("late.yaml"), "type: stream\nscript: pipe2\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let errors = d.status()["task_dir"]["errors"].clone();
            if errors["late"]
                .as_str()
                .is_some_and(|e| e.contains("a FIFO"))
            {
                break;
            }
            assert!(Instant::now() < deadline, "{errors}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    std::fs::write(
        dir.join("ok.tick"),
        "stream|from().measurement('mem')|log()",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let task = d.get_json("/kapacitor/v1/tasks/ok");
        if task["script"].as_str().is_some_and(|s| s.contains("'mem'")) {
            break;
        }
        assert!(Instant::now() < deadline, "the edit was never applied");
        std::thread::sleep(Duration::from_millis(50));
    }
    d.assert_alive();
}

#[test]
fn sideload_sources_past_their_limits_are_refused_by_name() {
    let mut d = Daemon::start("sideload:\n  max_files: 2\n  max_file_size: 100\n");
    let files = d.dir().join("sideload");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("a.yml"), "limit: 50\n").unwrap();
    std::fs::write(files.join("b.yml"), "limit: 60\n").unwrap();
    let script = |dir: &std::path::Path| {
        format!(
            "stream|from().measurement('cpu')|sideload().source('file://{}').order('a.yml').field('limit', 90.0)|log()",
            dir.display()
        )
    };
    let (status, body) = d.define("side", &script(&files), "");
    assert_eq!(status, 200, "{body}");

    let reload = |d: &Daemon| d.request("POST", "/kapacitor/v1/sideload/reload", &[], b"");
    std::fs::write(files.join("c.json"), "{}").unwrap();
    let (status, body) = reload(&d);
    assert_eq!(status, 500);
    assert!(
        body.contains("more than 2 values files (sideload.max_files)"),
        "{body}"
    );
    std::fs::remove_file(files.join("c.json")).unwrap();
    if mkfifo(&files.join("c.yml")) {
        let started = Instant::now();
        let (status, body) = reload(&d);
        assert_eq!(status, 500);
        assert!(body.contains("c.yml: a FIFO, not a regular file"), "{body}");
        assert!(started.elapsed() < Duration::from_secs(5));
        std::fs::remove_file(files.join("c.yml")).unwrap();
    }
    assert_eq!(reload(&d).0, 204);

    let big = d.dir().join("big");
    std::fs::create_dir_all(&big).unwrap();
    std::fs::write(
        big.join("a.yml"),
        format!("limit: 1\nnote: \"{}\"\n", "x".repeat(200)),
    )
    .unwrap();
    let (status, body) = d.define("big", &script(&big), "");
    assert_eq!(status, 400);
    assert!(
        body.contains("a.yml: 2") && body.contains("(sideload.max_file_size)"),
        "{body}"
    );
    let breaches = &d.status()["limit_breaches"];
    assert_eq!(breaches["sideload.max_files"], 1, "{breaches}");
    assert_eq!(breaches["sideload.max_file_size"], 1, "{breaches}");
    d.assert_alive();
}
