//! Kapacitor 1.x's command line, through the real `kapacitor` binary
//! against a real kapacitord: its getting-started guide's tasks defined as
//! the guide defines them (a `dbrp` line in the script, no flag), its
//! verbs and glob patterns, and `level`, `backup`, `stats`, `vars`.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use common::Daemon;

/// Runs `kapacitor ARGS` against `d`: whether it succeeded, its standard
/// output and standard error.
fn kapacitor(d: &Daemon, args: &[&str]) -> (bool, String, String) {
    common::kapacitor(&d.spawned.url, args)
}

/// Runs `kapacitor ARGS`, which must succeed; its standard output.
fn ok(d: &Daemon, args: &[&str]) -> String {
    let (ok, out, err) = kapacitor(d, args);
    assert!(ok, "kapacitor {args:?} failed: {err}{out}");
    out
}

/// Sends line protocol to database `db` (seconds).
fn write(d: &Daemon, dir: &Path, db: &str, lines: &str) {
    let file = dir.join("points.lp");
    std::fs::write(&file, lines).unwrap();
    ok(
        d,
        &[
            "write",
            "--db",
            db,
            "--precision",
            "s",
            file.to_str().unwrap(),
        ],
    );
}

/// The rows of `kapacitor list tasks [PATTERN]`, each split at its blanks:
/// ID, Type, Status, Executing, dbrps. Checks Kapacitor's header.
fn list_tasks(d: &Daemon, pattern: Option<&str>) -> Vec<Vec<String>> {
    let mut args = vec!["list", "tasks"];
    args.extend(pattern);
    let out = ok(d, &args);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "ID",
            "Type",
            "Status",
            "Executing",
            "Databases",
            "and",
            "Retention",
            "Policies"
        ]
    );
    lines
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn ids(rows: &[Vec<String>]) -> Vec<&str> {
    rows.iter().map(|r| r[0].as_str()).collect()
}

/// The hosts of the alerts written to a `.log()` file so far.
fn logged_hosts(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let event: serde_json::Value = serde_json::from_str(l).unwrap();
            event["data"]["series"][0]["tags"]["host"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Waits (a while) for `n` alerts in `log`, and a little longer to see no
/// other comes; their hosts.
fn wait_for_alerts(log: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while logged_hosts(log).len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    logged_hosts(log)
}

/// Kapacitor's getting-started guide's stream task, as the guide writes it.
fn cpu_alert(log: &Path) -> String {
    format!(
        r#"dbrp "telegraf"."autogen"

stream
    // Select just the cpu measurement from our example database.
    |from()
        .measurement('cpu')
    |alert()
        .crit(lambda: int("usage_idle") <  70)
        // Whenever we get an alert write it to a file.
        .log('{}')
"#,
        log.display()
    )
}

/// The guide's batch task.
const BATCH_CPU_ALERT: &str = r#"dbrp "telegraf"."autogen"

batch
    |query('''
        SELECT mean(usage_idle) as usage_idle
        FROM "telegraf"."autogen"."cpu"
    ''')
        .period(5m)
        .every(5m)
        .groupBy(time(1m), 'cpu')
    |alert()
        .crit(lambda: "usage_idle" < 70)
        .log('/dev/null')
"#;

#[test]
fn the_getting_started_tasks_from_kapacitors_cli_syntax() {
    let d = Daemon::start("");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("alerts.log");
    let tick = dir.path().join("cpu_alert.tick");
    std::fs::write(&tick, cpu_alert(&log)).unwrap();
    let batch = dir.path().join("batch_cpu_alert.tick");
    std::fs::write(&batch, BATCH_CPU_ALERT).unwrap();
    let tick = tick.to_str().unwrap();

    // As the guide: no -dbrp, no -type; the script says both.
    ok(&d, &["define", "cpu_alert", "-tick", tick]);
    ok(
        &d,
        &[
            "define",
            "batch_cpu_alert",
            "-tick",
            batch.to_str().unwrap(),
        ],
    );
    // And as older runbooks write it, every flag given.
    ok(
        &d,
        &[
            "define",
            "cpu_alert_2",
            "-type",
            "stream",
            "-tick",
            tick,
            "-dbrp",
            "telegraf.autogen",
        ],
    );
    assert_eq!(
        list_tasks(&d, None),
        [
            [
                "batch_cpu_alert",
                "batch",
                "disabled",
                "false",
                r#"["telegraf"."autogen"]"#
            ],
            [
                "cpu_alert",
                "stream",
                "disabled",
                "false",
                r#"["telegraf"."autogen"]"#
            ],
            [
                "cpu_alert_2",
                "stream",
                "disabled",
                "false",
                r#"["telegraf"."autogen"]"#
            ],
        ]
    );
    assert_eq!(
        ids(&list_tasks(&d, Some("cpu*"))),
        ["cpu_alert", "cpu_alert_2"]
    );
    assert_eq!(ids(&list_tasks(&d, Some("cpu_alert"))), ["cpu_alert"]);
    assert!(list_tasks(&d, Some("nothing*")).is_empty());

    ok(&d, &["enable", "cpu_alert"]);
    let rows = list_tasks(&d, Some("cpu_alert"));
    assert_eq!(rows[0][2..4], ["enabled", "true"]);

    // Points to the task's database alert; the same points to another
    // database do not.
    write(&d, dir.path(), "other", "cpu,host=other usage_idle=10 1\n");
    write(
        &d,
        dir.path(),
        "telegraf",
        "cpu,host=idle usage_idle=95 2\ncpu,host=busy usage_idle=10 3\n",
    );
    assert_eq!(wait_for_alerts(&log, 1), ["busy"]);

    let show = ok(&d, &["show", "cpu_alert"]);
    let field = |key: &str| {
        show.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("no {key} in:\n{show}"))
            .to_string()
    };
    assert_eq!(field("ID"), "cpu_alert");
    assert_eq!(field("Type"), "stream");
    assert_eq!(field("Status"), "enabled");
    assert_eq!(field("Executing"), "true");
    assert_eq!(
        field("Databases Retention Policies"),
        r#"["telegraf"."autogen"]"#
    );
    assert!(field("Created").ends_with(" UTC"), "{show}");
    assert!(
        show.contains(&format!("TICKscript:\n{}", cpu_alert(&log).trim_end())),
        "{show}"
    );
    assert!(show.contains("DOT:\ndigraph cpu_alert {"), "{show}");

    // Disabled by pattern: both stream tasks stop, and a point alerts no more.
    ok(&d, &["enable", "cpu_alert_2"]);
    ok(&d, &["disable", "cpu*"]);
    let rows = list_tasks(&d, None);
    assert!(
        rows.iter().all(|r| r[2] == "disabled" && r[3] == "false"),
        "{rows:?}"
    );
    write(
        &d,
        dir.path(),
        "telegraf",
        "cpu,host=late usage_idle=10 4\n",
    );
    assert_eq!(wait_for_alerts(&log, 1), ["busy"]);

    ok(&d, &["enable", "cpu_alert"]);
    // Reload, as Kapacitor's: disable then enable every task named, so
    // cpu_alert_2 (disabled) ends enabled too.
    ok(&d, &["reload", "cpu_alert", "cpu_alert_?"]);
    let rows = list_tasks(&d, Some("cpu*"));
    assert!(
        rows.iter().all(|r| r[2] == "enabled" && r[3] == "true"),
        "{rows:?}"
    );
    write(
        &d,
        dir.path(),
        "telegraf",
        "cpu,host=again usage_idle=10 5\n",
    );
    // Two tasks now log to the same file.
    assert_eq!(wait_for_alerts(&log, 3), ["busy", "again", "again"]);

    // A new script through Kapacitor's partial define: the dbrps stay
    // the script's; the enabled task runs the new script at once.
    ok(
        &d,
        &["define", "cpu_alert_2", "-tick", batch.to_str().unwrap()],
    );
    let rows = list_tasks(&d, Some("cpu_alert_2"));
    assert_eq!(rows[0][1], "batch");

    // Deleting by pattern leaves what it does not match.
    ok(&d, &["delete", "tasks", "cpu*"]);
    assert_eq!(ids(&list_tasks(&d, None)), ["batch_cpu_alert"]);
    // A plain id that is not there is an error; a pattern matching nothing
    // is not (as Kapacitor).
    let (deleted, _, err) = kapacitor(&d, &["delete", "tasks", "cpu_alert"]);
    assert!(!deleted);
    assert!(err.contains("task \"cpu_alert\" does not exist"), "{err}");
    ok(&d, &["delete", "tasks", "cpu*"]);
    ok(&d, &["delete", "tasks", "batch_cpu_alert"]);
    assert!(list_tasks(&d, None).is_empty());
}

#[test]
fn define_refuses_a_stream_task_that_names_no_database() {
    let d = Daemon::start("");
    let dir = tempfile::tempdir().unwrap();
    let tick = dir.path().join("t.tick");
    std::fs::write(
        &tick,
        "stream\n    |from()\n        .measurement('cpu')\n    |httpOut('out')\n",
    )
    .unwrap();
    let tick = tick.to_str().unwrap();
    let (defined, out, err) = kapacitor(&d, &["define", "t", "-tick", tick]);
    assert!(!defined, "{out}");
    assert!(
        err.starts_with("error: must specify dbrp: stream task \"t\""),
        "{err}"
    );
    let (defined, out, _) = kapacitor(&d, &["--json", "define", "t", "-tick", tick]);
    assert!(!defined);
    let reply: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .starts_with("must specify dbrp"),
        "{reply}"
    );
    assert!(list_tasks(&d, None).is_empty());

    // With -dbrp (either flag form) it is defined; a later define that
    // gives only dbrps replaces them and keeps the script.
    ok(
        &d,
        &["define", "t", "-tick", tick, "-dbrp=telegraf.autogen"],
    );
    ok(
        &d,
        &[
            "define",
            "t",
            "-dbrp",
            "\"other\".\"autogen\"",
            "--dbrp",
            "b.rp",
        ],
    );
    let rows = list_tasks(&d, None);
    assert_eq!(
        rows[0][4..],
        [r#"["other"."autogen""#, r#""b"."rp"]"#],
        "{rows:?}"
    );
    let show = ok(&d, &["show", "t"]);
    assert!(show.contains("|httpOut('out')"), "{show}");

    // A task that does not exist needs its script.
    let (defined, _, err) = kapacitor(&d, &["define", "new", "-dbrp", "a.b"]);
    assert!(!defined);
    assert!(err.contains("define it with -tick FILE"), "{err}");

    // The seed's form says what it reads with --from.
    ok(
        &d,
        &[
            "define", "streamer", "--name", "seed", "--from", "cpu", "--script", tick,
        ],
    );
    assert_eq!(ids(&list_tasks(&d, Some("s*"))), ["seed"]);
}

#[test]
fn level_changes_what_the_daemon_logs_while_it_runs() {
    let d = Daemon::start("");
    let dir = tempfile::tempdir().unwrap();
    let tick = dir.path().join("logged.tick");
    std::fs::write(
        &tick,
        "dbrp \"telegraf\".\"autogen\"\nstream\n    |from()\n        .measurement('cpu')\n    |log()\n        .level('DEBUG')\n",
    )
    .unwrap();
    ok(&d, &["define", "logged", "-tick", tick.to_str().unwrap()]);
    ok(&d, &["enable", "logged"]);
    // The task logs points in the order they come: once one is in the
    // log, any point before it that was logged is there too.
    let wait_for = |host: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !d.spawned.log().contains(&format!("host={host}")) {
            assert!(Instant::now() < deadline, "{host}: {}", d.spawned.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let logged = |host: &str| d.spawned.log().contains(&format!("host={host}"));
    write(&d, dir.path(), "telegraf", "cpu,host=before v=1 1\n");
    ok(&d, &["level", "debug"]);
    write(&d, dir.path(), "telegraf", "cpu,host=during v=1 2\n");
    wait_for("during");
    assert!(!logged("before"), "INFO is the default level");
    // Kapacitor's names, in its case.
    ok(&d, &["level", "ERROR"]);
    write(&d, dir.path(), "telegraf", "cpu,host=after v=1 3\n");
    ok(&d, &["level", "debug"]);
    write(&d, dir.path(), "telegraf", "cpu,host=last v=1 4\n");
    wait_for("last");
    assert!(!logged("after"));
    let (set, _, err) = kapacitor(&d, &["level", "loud"]);
    assert!(!set);
    assert!(
        err.contains("invalid log level \"loud\": use one of trace, debug, info, warn, error, off"),
        "{err}"
    );
}

#[test]
fn backup_is_a_store_that_opens_with_the_tasks_in_it() {
    let d = Daemon::start("");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("alerts.log");
    let tick = dir.path().join("cpu_alert.tick");
    std::fs::write(&tick, cpu_alert(&log)).unwrap();
    ok(
        &d,
        &["define", "cpu_alert", "-tick", tick.to_str().unwrap()],
    );
    ok(&d, &["enable", "cpu_alert"]);
    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    let file = restored.join(storage::FILE_NAME);
    let out = ok(&d, &["--json", "backup", file.to_str().unwrap()]);
    let reply: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(
        reply["bytes"].as_u64(),
        Some(std::fs::metadata(&file).unwrap().len())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "as private as the store");
    }
    // What the backup holds is what a restore would start with.
    let store = storage::Store::open(&restored).unwrap();
    let tasks = store.list_tasks().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        (tasks[0].id.as_str(), tasks[0].enabled),
        ("cpu_alert", true)
    );
    drop(store);
    // An existing file is never overwritten.
    let before = std::fs::read(&file).unwrap();
    let (copied, _, err) = kapacitor(&d, &["backup", file.to_str().unwrap()]);
    assert!(!copied);
    assert!(err.contains("failed to create backup file"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn stats_vars_and_version_in_kapacitors_layout() {
    let d = Daemon::start("");
    let dir = tempfile::tempdir().unwrap();
    let tick = dir.path().join("t.tick");
    std::fs::write(
        &tick,
        "dbrp \"telegraf\".\"autogen\"\nstream|from().measurement('cpu')|httpOut('out')\n",
    )
    .unwrap();
    ok(&d, &["define", "on", "-tick", tick.to_str().unwrap()]);
    ok(&d, &["define", "off", "-tick", tick.to_str().unwrap()]);
    ok(&d, &["enable", "on"]);
    write(
        &d,
        dir.path(),
        "telegraf",
        "cpu v=1 1\ncpu v=2 2\ncpu v=3 3\n",
    );
    write(&d, dir.path(), "other", "mem v=1 1\nmem v=2 2\n");

    let general = ok(&d, &["stats", "general"]);
    let value = |label: &str| {
        general
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} in:\n{general}"))
            .trim()
            .to_string()
    };
    assert_eq!(value("Tasks:"), "2");
    assert_eq!(value("Enabled Tasks:"), "1");
    assert_eq!(value("Subscriptions:"), "0");
    assert_eq!(value("Version:"), env!("CARGO_PKG_VERSION"));
    assert!(general.starts_with("ClusterID:"), "{general}");

    let ingress = ok(&d, &["stats", "ingress"]);
    let rows: Vec<Vec<&str>> = ingress
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec![
                "Database",
                "Retention",
                "Policy",
                "Measurement",
                "Points",
                "Received"
            ],
            vec!["other", "autogen", "*", "2"],
            vec!["telegraf", "autogen", "*", "3"],
        ]
    );

    let vars: serde_json::Value = serde_json::from_str(&ok(&d, &["vars"])).unwrap();
    assert_eq!(vars["num_tasks"], 2);
    assert_eq!(vars["num_enabled_tasks"], 1);
    assert_eq!(
        vars["kapacitor"]["ingress:telegraf.autogen"]["values"]["points_received"],
        3
    );
    assert_eq!(
        ok(&d, &["version"]),
        format!("Kapacitor OSS {} (kapacitord)\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn recordings_are_listed_and_deleted_by_pattern() {
    let d = Daemon::start("");
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("cpu.lp");
    std::fs::write(&lines, "cpu v=1 1\n").unwrap();
    for id in ["cpu_monday", "cpu_tuesday", "mem_monday"] {
        ok(
            &d,
            &[
                "record",
                "file",
                lines.to_str().unwrap(),
                "--recording-id",
                id,
            ],
        );
    }
    let listed = |pattern: &str| -> Vec<String> {
        ok(&d, &["list", "recordings", pattern])
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect()
    };
    assert_eq!(listed("cpu_*"), ["cpu_monday", "cpu_tuesday"]);
    assert_eq!(listed("*_monday"), ["cpu_monday", "mem_monday"]);
    ok(&d, &["delete", "recordings", "*_monday"]);
    assert_eq!(listed("*"), ["cpu_tuesday"]);
    // The seed's form, one by id.
    ok(&d, &["delete", "recording", "cpu_tuesday"]);
    assert!(listed("*").is_empty());
}
