//! Black-box tests of `storage::Store` on real files.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use storage::{
    AlertStateRecord, FILE_NAME, META, RecordingRecord, SCHEMA_VERSION, SCHEMA_VERSION_KEY, Store,
    StoreError, TaskRecord,
};

fn task(id: &str) -> TaskRecord {
    let mut meta = BTreeMap::new();
    meta.insert("from".to_owned(), "cpu_idle".to_owned());
    meta.insert("where".to_owned(), "cpu = 'cpu-total'".to_owned());
    TaskRecord {
        id: id.to_owned(),
        task_type: "stream".to_owned(),
        dbrps: vec![("telegraf".to_owned(), "autogen".to_owned())],
        script: "stream\n    |from()\n        .measurement('cpu')\n    |alert()\n".to_owned(),
        meta,
        enabled: true,
        created: 1_700_000_000_000_000_000,
        modified: 1_700_000_001_000_000_000,
        last_enabled: Some(1_700_000_002_000_000_000),
        error: String::new(),
    }
}

fn alert(level: &str) -> AlertStateRecord {
    AlertStateRecord {
        level: level.to_owned(),
        since: 10,
        last_event: 20,
        previous_level: "OK".to_owned(),
    }
}

fn recording(id: &str) -> RecordingRecord {
    RecordingRecord {
        id: id.to_owned(),
        kind: "stream".to_owned(),
        path: format!("recordings/{id}.srpl"),
        size: 1234,
        created: 5,
        status: "finished".to_owned(),
        error: String::new(),
        ..RecordingRecord::default()
    }
}

#[test]
fn open_creates_dir_and_file_and_stamps_version() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a/b/data");
    let store = Store::open(&data).unwrap();
    assert!(data.join(FILE_NAME).is_file());
    assert_eq!(store.path(), data.join(FILE_NAME));
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(store.list_tasks().unwrap().is_empty());
    assert!(store.list_recordings().unwrap().is_empty());
    assert!(store.alert_states("nope").unwrap().is_empty());
}

#[test]
fn tasks_round_trip_sorted_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for id in ["b", "a", "c"] {
        store.put_task(&task(id)).unwrap();
    }
    assert_eq!(store.get_task("a").unwrap(), Some(task("a")));
    assert_eq!(store.get_task("zz").unwrap(), None);
    let ids: Vec<_> = store
        .list_tasks()
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);

    // put replaces
    let mut changed = task("b");
    changed.enabled = false;
    changed.last_enabled = None;
    changed.error = "boom".to_owned();
    changed.task_type = "batch".to_owned();
    changed
        .meta
        .insert("cron".to_owned(), "*/15 * * * *".to_owned());
    store.put_task(&changed).unwrap();
    assert_eq!(store.get_task("b").unwrap(), Some(changed));
    assert_eq!(store.list_tasks().unwrap().len(), 3);

    assert!(store.delete_task("b").unwrap());
    assert!(!store.delete_task("b").unwrap());
    assert_eq!(store.get_task("b").unwrap(), None);
    assert_eq!(store.list_tasks().unwrap().len(), 2);
}

#[test]
fn alert_states_round_trip_per_task() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Task ids that are prefixes of one another must not leak into each other.
    store
        .put_alert_state("t", "cpu:host=b", &alert("CRITICAL"))
        .unwrap();
    store
        .put_alert_state("t", "cpu:host=a", &alert("WARNING"))
        .unwrap();
    store.put_alert_state("t2", "x", &alert("INFO")).unwrap();
    store
        .put_alert_state("", "empty-task", &alert("OK"))
        .unwrap();
    store.put_alert_state("s", "y", &alert("OK")).unwrap();

    assert_eq!(
        store.alert_states("t").unwrap(),
        vec![
            ("cpu:host=a".to_owned(), alert("WARNING")),
            ("cpu:host=b".to_owned(), alert("CRITICAL")),
        ]
    );
    assert_eq!(
        store.alert_states("t2").unwrap(),
        vec![("x".to_owned(), alert("INFO"))]
    );
    assert_eq!(
        store.alert_states("").unwrap(),
        vec![("empty-task".to_owned(), alert("OK"))]
    );

    // put replaces
    let mut ok = alert("OK");
    ok.previous_level = "CRITICAL".to_owned();
    store.put_alert_state("t", "cpu:host=b", &ok).unwrap();
    assert_eq!(
        store.alert_states("t").unwrap()[1],
        ("cpu:host=b".to_owned(), ok)
    );

    store.delete_alert_states("t").unwrap();
    assert!(store.alert_states("t").unwrap().is_empty());
    assert_eq!(store.alert_states("t2").unwrap().len(), 1);
    assert_eq!(store.alert_states("s").unwrap().len(), 1);
    assert_eq!(store.alert_states("").unwrap().len(), 1);
    // deleting nothing is fine
    store.delete_alert_states("t").unwrap();
}

#[test]
fn recordings_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.put_recording(&recording("r2")).unwrap();
    store.put_recording(&recording("r1")).unwrap();
    assert_eq!(store.get_recording("r1").unwrap(), Some(recording("r1")));
    assert_eq!(store.get_recording("r3").unwrap(), None);
    let ids: Vec<_> = store
        .list_recordings()
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["r1", "r2"]);
    assert!(store.delete_recording("r1").unwrap());
    assert!(!store.delete_recording("r1").unwrap());
    assert_eq!(store.list_recordings().unwrap(), vec![recording("r2")]);
}

#[test]
fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.put_task(&task("cpu_alert")).unwrap();
        store
            .put_alert_state("cpu_alert", "cpu:nil", &alert("CRITICAL"))
            .unwrap();
        store.put_recording(&recording("rec")).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.list_tasks().unwrap(), vec![task("cpu_alert")]);
    assert_eq!(
        store.alert_states("cpu_alert").unwrap(),
        vec![("cpu:nil".to_owned(), alert("CRITICAL"))]
    );
    assert_eq!(store.list_recordings().unwrap(), vec![recording("rec")]);
}

#[test]
fn a_server_id_is_made_once_and_kept_across_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let store = Store::open(dir.path()).unwrap();
        let id = store.server_id("cluster_id", || "id-1".into()).unwrap();
        assert_eq!(
            store
                .server_id("cluster_id", || unreachable!("already made"))
                .unwrap(),
            id
        );
        id
    };
    assert_eq!(first, "id-1");
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        store.server_id("cluster_id", || "id-2".into()).unwrap(),
        "id-1"
    );
    assert_eq!(
        store.server_id("server_id", || "id-3".into()).unwrap(),
        "id-3"
    );
}

#[test]
fn newer_schema_is_refused_with_a_clear_message_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    {
        let store = Store::open(dir.path()).unwrap();
        store.put_task(&task("keep")).unwrap();
    }
    // Stamp the file as written by a future build, with plain redb.
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(SCHEMA_VERSION_KEY, u64::from(SCHEMA_VERSION) + 1)
            .unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    match &err {
        StoreError::NewerSchema {
            path: p,
            found,
            supported,
        } => {
            assert_eq!(p, &path);
            assert_eq!(*found, SCHEMA_VERSION + 1);
            assert_eq!(*supported, SCHEMA_VERSION);
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
        "{msg}"
    );
    assert!(msg.contains("newer"), "{msg}");

    // Untouched: still stamped newer, data still there.
    let db = redb::Database::open(&path).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let meta = txn.open_table(META).unwrap();
    assert_eq!(
        meta.get(SCHEMA_VERSION_KEY).unwrap().unwrap().value(),
        u64::from(SCHEMA_VERSION) + 1
    );
    let tasks = txn.open_table(storage::TASKS).unwrap();
    assert!(tasks.get("keep").unwrap().is_some());
}

#[test]
fn second_open_in_the_same_process_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::InUse { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.path().join(FILE_NAME).display().to_string()),
        "{msg}"
    );
    // The refused open did not disturb the first handle.
    first.put_task(&task("still-works")).unwrap();
    drop(first);
    // And once closed, the file opens again.
    let again = Store::open(dir.path()).unwrap();
    assert_eq!(again.list_tasks().unwrap(), vec![task("still-works")]);
}

// ---- child processes -----------------------------------------------------

/// Selects the mode of a child run of this test binary.
const CHILD_MODE: &str = "STORAGE_TEST_CHILD";
/// The data dir of a child run.
const CHILD_DIR: &str = "STORAGE_TEST_DIR";
/// Tasks the writer child commits before it reports.
const N: usize = 200;

/// Spawns this test binary running only `child_entry`, in `mode`.
fn spawn_child(mode: &str, dir: &std::path::Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD_MODE, mode)
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Reads the child's stdout until a line containing `marker` (libtest prints
/// `test child_entry ... ` before it); returns the line from `marker` on.
fn wait_for_line(child: &mut std::process::Child, marker: &str) -> String {
    let stdout = child.stdout.as_mut().unwrap();
    let mut reader = BufReader::new(stdout);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut line = String::new();
    loop {
        assert!(Instant::now() < deadline, "child never printed {marker}");
        line.clear();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "child exited before printing {marker}");
        if let Some(at) = line.find(marker) {
            return line[at..].trim_end().to_owned();
        }
    }
}

/// Entry point of child runs; a no-op in a normal test run.
#[test]
fn child_entry() {
    let Ok(mode) = std::env::var(CHILD_MODE) else {
        return;
    };
    let dir = std::path::PathBuf::from(std::env::var(CHILD_DIR).unwrap());
    let store = Store::open(&dir).unwrap();
    let mut out = std::io::stdout();
    match mode.as_str() {
        "writer" => {
            for i in 0..N {
                store.put_task(&task(&format!("task-{i:04}"))).unwrap();
            }
            writeln!(out, "CHILD written {N}").unwrap();
            out.flush().unwrap();
            // Keep committing until killed, so the kill lands mid-write; give
            // up after a minute should the parent have died.
            let deadline = Instant::now() + Duration::from_secs(60);
            for i in N.. {
                if Instant::now() > deadline {
                    break;
                }
                store.put_task(&task(&format!("task-{i:04}"))).unwrap();
                store
                    .put_alert_state("t", &format!("a{i}"), &alert("CRITICAL"))
                    .unwrap();
            }
        }
        "holder" => {
            writeln!(out, "CHILD open").unwrap();
            out.flush().unwrap();
            std::thread::sleep(Duration::from_secs(60));
        }
        other => panic!("unknown child mode {other}"),
    }
}

#[test]
fn kill_9_keeps_every_committed_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("writer", dir.path());
    let line = wait_for_line(&mut child, "CHILD written");
    assert_eq!(line, format!("CHILD written {N}"));
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();

    let store = Store::open(dir.path()).unwrap();
    let tasks = store.list_tasks().unwrap();
    assert!(
        tasks.len() >= N,
        "only {} of {N} tasks survived",
        tasks.len()
    );
    for i in 0..N {
        let id = format!("task-{i:04}");
        assert_eq!(store.get_task(&id).unwrap(), Some(task(&id)), "{id}");
    }
    // Whatever was committed after the report is whole too.
    for t in &tasks {
        assert_eq!(t, &task(&t.id));
    }
    for (_, state) in store.alert_states("t").unwrap() {
        assert_eq!(state, alert("CRITICAL"));
    }
}

#[test]
fn second_process_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("holder", dir.path());
    wait_for_line(&mut child, "CHILD open");
    let err = Store::open(dir.path()).unwrap_err();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(matches!(err, StoreError::InUse { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&dir.path().join(FILE_NAME).display().to_string()),
        "{err}"
    );
    // The lock dies with the process.
    Store::open(dir.path()).unwrap();
}

#[test]
fn alert_state_changes_apply_in_order_in_one_transaction() {
    use storage::AlertStateOp;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let put = |task: &str, id: &str, level: &str| AlertStateOp::Put {
        task: task.into(),
        alert_id: id.into(),
        state: alert(level),
    };
    store
        .apply_alert_states(&[
            put("t", "a", "WARNING"),
            put("t", "b", "CRITICAL"),
            put("t", "a", "CRITICAL"),
            put("t2", "c", "INFO"),
            AlertStateOp::Remove {
                task: "t".into(),
                alert_id: "b".into(),
            },
        ])
        .unwrap();
    assert_eq!(
        store.alert_states("t").unwrap(),
        vec![("a".to_owned(), alert("CRITICAL"))]
    );
    store
        .apply_alert_states(&[AlertStateOp::RemoveTask { task: "t".into() }])
        .unwrap();
    assert!(store.alert_states("t").unwrap().is_empty());
    assert_eq!(store.alert_states("t2").unwrap().len(), 1);
}
