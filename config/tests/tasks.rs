//! Task metadata, `where` predicates, and the tasks directory as a user
//! meets them: YAML beside a script, every mistake reported at once with
//! file, line and key; editors saving files the way they do.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use config::{ConfigErrors, DbRp, TaskMeta, TaskType, Value, VarType, VarValue, WherePredicate};

fn meta(text: &str) -> Result<TaskMeta, ConfigErrors> {
    TaskMeta::from_yaml(text, Path::new("tasks/cpu.yaml"))
}

/// Every error as `line:column key: message`, for golden comparisons.
fn golden(text: &str) -> Vec<String> {
    match meta(text) {
        Ok(m) => panic!("expected errors, got {m:?}"),
        Err(errors) => errors
            .iter()
            .map(|e| {
                assert_eq!(e.path, "tasks/cpu.yaml");
                format!(
                    "{}:{} {}: {}",
                    e.line.unwrap_or(0),
                    e.column.unwrap_or(0),
                    e.key,
                    e.message
                )
            })
            .collect(),
    }
}

#[test]
fn seed_streamer_metadata() {
    let m =
        meta("type: streamer\nfrom: cpu_idle\nwhere: cpu = 'cpu-total'\ndbrp: telegraf.autogen\n")
            .unwrap();
    assert_eq!(m.task_type, TaskType::Stream);
    assert_eq!(m.from.as_deref(), Some("cpu_idle"));
    assert_eq!(
        m.where_clause.as_ref().unwrap().source(),
        "cpu = 'cpu-total'"
    );
    assert_eq!(
        m.dbrps,
        vec![DbRp {
            db: "telegraf".into(),
            rp: "autogen".into()
        }]
    );
    assert!(m.enabled);
}

#[test]
fn seed_batcher_metadata() {
    let m = meta(
        "type: batcher\n\
         query: select mean(value) from cpu_idle where role = 'logs' group by dc\n\
         period: 15m\n\
         group_by: 1h\n\
         dbrp: [telegraf.autogen, '\"my.db\".\"rp\"']\n\
         enabled: false\n",
    )
    .unwrap();
    assert_eq!(m.task_type, TaskType::Batch);
    assert_eq!(m.period, Some(Duration::from_secs(900)));
    assert_eq!(m.group_by, Some(Duration::from_secs(3600)));
    assert_eq!(&*m.dbrps[1].db, "my.db");
    assert!(!m.enabled);

    let m = meta("type: batch\nquery: select 1\ncron: '*/15 * * * *'\n").unwrap();
    assert_eq!(m.cron.as_deref(), Some("*/15 * * * *"));
}

#[test]
fn type_is_inferred_when_left_out() {
    assert_eq!(meta("from: cpu\n").unwrap().task_type, TaskType::Stream);
    assert_eq!(
        meta("query: select 1\nperiod: 1m\n").unwrap().task_type,
        TaskType::Batch
    );
}

#[test]
fn vars_are_typed() {
    let m = meta(
        "type: stream\n\
         vars:\n\
         \x20 crit: {type: float, value: 30}\n\
         \x20 count: {type: int, value: 5}\n\
         \x20 host_re: {type: regex, value: '^web'}\n\
         \x20 window: {type: duration, value: 10s}\n\
         \x20 cond: {type: lambda, value: '\"value\" > 10'}\n\
         \x20 fields: {type: list, value: [{type: string, value: a}, b]}\n\
         \x20 on: {type: bool, value: true}\n",
    )
    .unwrap();
    assert_eq!(m.vars["crit"].value, VarValue::Float(30.0));
    assert_eq!(m.vars["count"].value, VarValue::Int(5));
    assert_eq!(m.vars["host_re"].var_type, VarType::Regex);
    assert_eq!(
        m.vars["window"].value,
        VarValue::Duration(Duration::from_secs(10))
    );
    assert_eq!(
        m.vars["fields"].value,
        VarValue::List(vec![
            VarValue::String("a".into()),
            VarValue::String("b".into())
        ])
    );
    assert_eq!(m.vars["on"].value, VarValue::Bool(true));
}

#[test]
fn golden_unknown_keys_types_and_durations() {
    let text = "\
type: stream
form: cpu
where: cpu = 'cpu-total'
enabled: yes
dbrp: [telegraf, telegraf.autogen]
colour: red
vars:
  crit: {type: int, value: high}
  w: {type: duration, value: 10}
";
    assert_eq!(
        golden(text),
        [
            "2:1 form: unknown key (did you mean `from`?)",
            "4:10 enabled: expected true or false, found string `yes`",
            "5:8 dbrp[0]: `telegraf` is not a db.rp; expected database and retention policy such as `telegraf.autogen`, quoting a name that holds a dot: `\"my.db\".\"autogen\"`",
            "6:1 colour: unknown key (expected one of type, dbrp, from, where, query, period, cron, group_by, script, enabled, vars, overflow)",
            "8:28 vars.crit.value: an int var needs a whole number, found string `high`",
            "9:30 vars.w.value: a duration var needs a duration such as 10s, found integer `10`",
        ]
    );
}

#[test]
fn golden_batch_rules() {
    // Batch without query, with both schedules, and a stream-only key.
    assert_eq!(
        golden("type: batch\nperiod: 15\ncron: '*/15 * * * *'\nfrom: cpu\ngroup_by: 1x\n"),
        [
            "1:7 type: a batch task needs `query` (e.g. `query: select mean(value) from cpu`)",
            "2:9 period: `15` is not a duration (it has no unit); expected a number and a unit such as 10s, 15m, 1h (units: ns, us, ms, s, m, h, d, w)",
            "3:7 cron: give either `period` or `cron`, not both",
            "4:7 from: `from` is for stream tasks; a batch task selects its data with `query`",
            "5:11 group_by: `1x` is not a duration (unknown unit `x`); expected a number and a unit such as 10s, 15m, 1h (units: ns, us, ms, s, m, h, d, w)",
        ]
    );
    // Neither schedule; a bad cron.
    assert_eq!(
        golden("type: batcher\nquery: select 1\n"),
        [
            "1:7 type: a batch task needs a schedule: `period` (e.g. 15m) or `cron` (e.g. '*/15 * * * *')"
        ]
    );
    assert_eq!(
        golden("type: batch\nquery: select 1\ncron: '61 * * * *'\n"),
        ["3:7 cron: `61 * * * *`: bad minute field `61` (allowed 0-59)"]
    );
    assert_eq!(
        golden("type: batch\nquery: select 1\ncron: '* * *'\n"),
        [
            "3:7 cron: `* * *` has 3 fields; a cron expression has 5 (minute hour day month weekday), 6 (seconds first) or 7 (year last), e.g. '*/15 * * * *'"
        ]
    );
}

#[test]
fn golden_stream_rules() {
    assert_eq!(
        golden("type: stream\nquery: select 1\nperiod: 1m\ntype: batch\nscript: ../x.tick\n"),
        [
            "2:8 query: `query` is for batch tasks; this is a stream task (stream tasks filter with `from` and `where`)",
            "3:9 period: `period` is for batch tasks; this is a stream task (stream tasks filter with `from` and `where`)",
            "4:1 type: duplicate key (first set on line 1)",
            "5:9 script: `../x.tick` must be a file name in the tasks directory, not a path",
        ]
    );
    assert_eq!(
        golden("type: river\n"),
        ["1:7 type: unknown task type `river`; expected stream or batch"]
    );
}

#[test]
fn golden_where_errors_point_into_the_expression() {
    // Plain: the file column is the spot inside the expression.
    assert_eq!(
        golden("from: cpu\nwhere: cpu = 'cpu-total' and\n"),
        ["2:29 where: column 22 of the predicate: expected a name or a value, found the end"]
    );
    // Quoted: one more for the quote.
    assert_eq!(
        golden("where: \"host =~ /[/\"\n"),
        ["1:17 where: column 9 of the predicate: bad regex /[/: error: unclosed character class"]
    );
}

#[test]
fn golden_syntax_and_empty() {
    let e = golden("type: stream\nfrom: [cpu\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].contains("invalid YAML"), "{e:?}");
    assert_eq!(
        golden(""),
        ["1:1 : the task file is empty; write at least `type: stream` or `type: batch`"]
    );
    assert_eq!(
        golden("- a\n"),
        [
            "1:1 : task metadata must be a mapping with keys type, dbrp, from, where, query, period, cron, group_by, script, enabled, vars, overflow, found a list"
        ]
    );
}

#[test]
fn errors_display_with_file_line_and_key() {
    let errors = meta("type: stream\nfrom: cpu\nwherr: x\n").unwrap_err();
    assert_eq!(
        errors.to_string(),
        "tasks/cpu.yaml:3:1: wherr: unknown key (did you mean `where`?)"
    );
}

fn point(pairs: &[(&str, Value)]) -> HashMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn eval(expr: &str, p: &HashMap<String, Value>) -> bool {
    let pred = WherePredicate::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    pred.eval(&|name| p.get(name).cloned())
}

#[test]
fn predicate_table() {
    let p = point(&[
        ("cpu", Value::String("cpu-total".into())),
        ("host", Value::String("web01".into())),
        ("value", Value::Float(25.5)),
        ("count", Value::Int(3)),
        ("up", Value::Bool(true)),
    ]);
    let table: &[(&str, bool)] = &[
        ("cpu = 'cpu-total'", true),
        ("cpu == 'cpu-total'", true),
        ("\"cpu\" == 'cpu-total'", true),
        ("lambda: \"cpu\" == 'cpu-total'", true),
        ("cpu = 'cpu0'", false),
        ("cpu != 'cpu0'", true),
        ("cpu <> 'cpu-total'", false),
        ("cpu = 'cpu-total' and host = 'web01'", true),
        ("cpu = 'cpu-total' AND host = 'web02'", false),
        ("cpu = 'cpu0' or host = 'web01'", true),
        ("cpu = 'cpu0' OR host = 'web02'", false),
        ("(cpu = 'cpu0' or host = 'web01') and value < 30", true),
        ("cpu = 'cpu0' or host = 'web01' and value > 30", false),
        ("host =~ /^web/", true),
        ("host !~ /^web/", false),
        ("host =~ /^db/", false),
        ("host =~ /web\\d+/", true),
        ("value < 30", true),
        ("value <= 25.5", true),
        ("value > 25.5", false),
        ("value >= 25.5", true),
        ("count = 3", true),
        ("count > 2.5", true),
        ("count < -1", false),
        ("value = 'x'", false),
        ("up", true),
        ("up == true", true),
        ("!up", false),
        ("!(cpu = 'cpu0')", true),
        ("\"value\" > 10 && \"host\" == 'web01'", true),
        ("\"value\" > 10 || false", true),
        // A missing tag is the empty string, as in InfluxQL.
        ("dc = ''", true),
        ("dc != 'east'", true),
        ("dc = 'east'", false),
        ("dc =~ /^$/", true),
        // A missing field compared with a number holds for nothing.
        ("missing > 0", false),
        ("missing != 0", false),
        ("'cpu-total' = cpu", true),
        ("cpu = 'it''s'", false),
    ];
    for (expr, expected) in table {
        assert_eq!(eval(expr, &p), *expected, "{expr}");
    }
}

#[test]
fn predicate_parse_errors_have_columns() {
    let table: &[(&str, usize, &str)] = &[
        ("cpu = ", 5, "expected a value after `=`"),
        ("cpu = 'x", 7, "unterminated string"),
        ("\"cpu = 'x'", 1, "unterminated name"),
        ("(cpu = 'x'", 1, "never closed"),
        ("cpu = 'x')", 10, "unexpected `)`"),
        (
            "cpu = 'x' host = 'y'",
            11,
            "join conditions with `and` or `or`",
        ),
        ("host =~ 'web'", 9, "expected a regex"),
        ("host = /web/", 8, "only allowed right after"),
        ("host =~ /[/", 9, "bad regex"),
        ("cpu # 1", 5, "unexpected character `#`"),
        (
            "and cpu = 'x'",
            1,
            "expected a name or a value, found `and`",
        ),
        ("", 1, "empty"),
        ("'x' =~ /a/", 1, "must be a name"),
    ];
    for (expr, column, message) in table {
        let e = WherePredicate::parse(expr).expect_err(expr);
        assert_eq!(e.column, *column, "{expr}: {e}");
        assert!(e.message.contains(message), "{expr}: {e}");
    }
}

// ---- the tasks directory ----

use std::fs;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use config::{TaskDir, TaskDirEvent, WatchMode, WatchOptions, Watching};

const SCRIPT: &str = "var window = stream.window().period(10s).every(5s)\n\
                      var avg = window.map(mean, \"value\")\n\
                      avg.filter(<, 30).alert()\n";
const META: &str = "type: stream\nfrom: cpu_idle\nwhere: cpu = 'cpu-total'\n";

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).unwrap();
}

#[test]
fn scan_pairs_good_bad_partial_and_junk() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "a.tick", SCRIPT);
    write(d, "a.yaml", META);
    write(d, "b.tick", "batch.filter(<, 30).alert()\n");
    write(d, "b.yml", "type: batch\nquery: select 1\nperiod: 1m\n");
    write(d, "c.tick", SCRIPT);
    write(d, "c.yaml", "type: stream\nfrom: cpu\nwhere: cpu = \n");
    write(d, "d.tick", SCRIPT);
    write(d, "e.yaml", META);
    write(d, "f.tick", SCRIPT);
    write(d, "f.yaml", META);
    write(d, "f.yml", META);
    write(d, "my task.tick", SCRIPT);
    write(d, "my task.yaml", META);
    write(d, "g.yaml", "type: stream\nscript: shared.tick\n");
    write(d, "shared.tick", SCRIPT);
    write(d, "h.tick", "  \n");
    write(d, "h.yaml", META);
    // Editors' and other junk.
    for junk in [
        ".a.tick.swp",
        ".a.yaml.swx",
        "a.tick~",
        ".#a.tick",
        "#a.tick#",
        "4913",
        ".hidden.tick",
        ".hidden.yaml",
        "README.md",
    ] {
        write(d, junk, "garbage: [");
    }
    fs::create_dir(d.join("sub.tick")).unwrap();

    let scan = TaskDir::scan(d);
    assert!(scan.dir_error.is_none());
    let ids: Vec<&str> = scan.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "g"]);
    let a = &scan.tasks[0];
    assert_eq!(a.script, SCRIPT);
    assert_eq!(a.meta.from.as_deref(), Some("cpu_idle"));
    assert_eq!(a.script_path, d.join("a.tick"));
    assert_eq!(a.meta_path, d.join("a.yaml"));
    assert_eq!(scan.tasks[1].meta.task_type, TaskType::Batch);
    assert_eq!(scan.tasks[2].script_path, d.join("shared.tick"));

    let invalid: Vec<(&str, bool)> = scan
        .invalid
        .iter()
        .map(|t| (t.id.as_str(), t.incomplete))
        .collect();
    assert_eq!(
        invalid,
        [
            ("c", false),
            ("d", true),
            ("e", true),
            ("f", false),
            ("h", false),
            ("my task", true)
        ]
    );
    let c = &scan.invalid[0].errors;
    let c_path = d.join("c.yaml").display().to_string();
    assert_eq!(
        c.to_string(),
        format!("{c_path}:3:12: where: column 5 of the predicate: expected a value after `=`")
    );
    assert!(
        scan.invalid[1]
            .errors
            .to_string()
            .contains("no d.yaml beside it")
    );
    assert!(
        scan.invalid[2]
            .errors
            .to_string()
            .contains("no script e.tick")
    );
    assert!(scan.invalid[3].errors.to_string().contains("keep one"));
    assert!(
        scan.invalid[4]
            .errors
            .to_string()
            .contains("script is empty")
    );
    assert!(
        scan.invalid[5]
            .errors
            .to_string()
            .contains("not a valid task id")
    );
    assert_eq!(scan.errors().count(), 6);

    // Same content, same hash; any change, a new one.
    let again = TaskDir::scan(d);
    assert_eq!(again.tasks[0].content_hash, a.content_hash);
    write(d, "a.yaml", "type: stream\nfrom: cpu_idle\n");
    assert_ne!(TaskDir::scan(d).tasks[0].content_hash, a.content_hash);

    let missing = TaskDir::scan(&d.join("nope"));
    assert!(missing.dir_error.is_some());
}

/// Events until none has arrived for `quiet` (waiting up to 5 s for the first).
fn settle(rx: &Receiver<TaskDirEvent>, quiet: Duration) -> Vec<TaskDirEvent> {
    let mut out = Vec::new();
    if let Ok(e) = rx.recv_timeout(Duration::from_secs(5)) {
        out.push(e);
        while let Ok(e) = rx.recv_timeout(quiet) {
            out.push(e);
        }
    }
    out
}

/// Every event is about `id`, and the last applies its final version: a
/// non-atomic write may be seen half done first.
fn settles_to_upsert(events: &[TaskDirEvent], id: &str) {
    assert!(
        events.iter().all(|e| match e {
            TaskDirEvent::Upsert(t) => t.id == id,
            TaskDirEvent::Invalid { id: i, .. } => i == id,
            _ => false,
        }),
        "{:?}",
        summary(events)
    );
    assert!(
        matches!(events.last(), Some(TaskDirEvent::Upsert(t)) if t.id == id),
        "{:?}",
        summary(events)
    );
}

fn nothing(rx: &Receiver<TaskDirEvent>) {
    if let Ok(e) = rx.recv_timeout(Duration::from_millis(700)) {
        panic!("expected no event, got {e:?}");
    }
}

fn summary(events: &[TaskDirEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            TaskDirEvent::Upsert(t) => format!("upsert {}", t.id),
            TaskDirEvent::Remove { id } => format!("remove {id}"),
            TaskDirEvent::Invalid { id, .. } => format!("invalid {id}"),
        })
        .collect()
}

fn upsert_of(events: &[TaskDirEvent], id: &str) -> config::TaskFiles {
    let ups: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            TaskDirEvent::Upsert(t) if t.id == id => Some((**t).clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ups.len(), 1, "one upsert of {id}: {:?}", summary(events));
    ups.into_iter().next().unwrap()
}

/// Writes a file the way vim does: probe file `4913`, swap file, rename the
/// original to a backup, write the new file, delete backup and swap.
fn save_like_vim(dir: &Path, name: &str, text: &str) {
    write(dir, "4913", "");
    fs::remove_file(dir.join("4913")).unwrap();
    write(dir, &format!(".{name}.swp"), "swap");
    fs::rename(dir.join(name), dir.join(format!("{name}~"))).unwrap();
    write(dir, name, text);
    fs::remove_file(dir.join(format!("{name}~"))).unwrap();
    fs::remove_file(dir.join(format!(".{name}.swp"))).unwrap();
}

/// Writes a file the way VS Code and most editors do: to a temp file, then
/// renamed over the target.
fn save_via_rename(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp-1234"));
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, dir.join(name)).unwrap();
}

fn watch(dir: &Path, mode: WatchMode) -> Watching {
    TaskDir::watch(
        dir,
        WatchOptions {
            mode,
            ..WatchOptions::default()
        },
    )
    .unwrap()
}

fn lifecycle(mode: WatchMode) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // A sibling present from the start: it must never be disturbed.
    write(d, "sibling.tick", SCRIPT);
    write(d, "sibling.yaml", META);
    let w = watch(d, mode);
    assert_eq!(w.initial.tasks.len(), 1);
    let rx = &w.events;

    // New pair → one upsert, within a second.
    write(d, "cpu.tick", SCRIPT);
    write(d, "cpu.yaml", META);
    let events = settle(rx, Duration::from_millis(400));
    let first = upsert_of(&events, "cpu");
    assert!(
        events
            .iter()
            .all(|e| matches!(e, TaskDirEvent::Upsert(t) if t.id == "cpu")
                || matches!(e, TaskDirEvent::Invalid { id, .. } if id == "cpu")),
        "{:?}",
        summary(&events)
    );
    assert!(matches!(events.last(), Some(TaskDirEvent::Upsert(_))));

    // Edit → upsert with a new hash. (`fs::write` truncates, then writes:
    // on a loaded machine the watcher may read the file in between and
    // report that state first. What counts is where it settles.)
    write(d, "cpu.tick", &SCRIPT.replace("30", "40"));
    let events = settle(rx, Duration::from_millis(400));
    settles_to_upsert(&events, "cpu");
    let Some(TaskDirEvent::Upsert(edited)) = events.last() else {
        unreachable!()
    };
    assert_ne!(edited.content_hash, first.content_hash);
    assert!(edited.script.contains("40"));

    // Temp file + rename → exactly one upsert.
    save_via_rename(d, "cpu.tick", &SCRIPT.replace("30", "50"));
    let events = settle(rx, Duration::from_millis(400));
    assert_eq!(summary(&events), ["upsert cpu"]);

    // Invalid edit → invalid, with the located error.
    write(
        d,
        "cpu.yaml",
        "type: stream\nfrom: cpu_idle\nwhere: cpu = \n",
    );
    let events = settle(rx, Duration::from_millis(400));
    assert_eq!(summary(&events), ["invalid cpu"]);
    let TaskDirEvent::Invalid { errors, .. } = &events[0] else {
        unreachable!()
    };
    assert_eq!(errors.iter().next().unwrap().line, Some(3));

    // Fixed again → upsert.
    write(d, "cpu.yaml", META);
    settles_to_upsert(&settle(rx, Duration::from_millis(400)), "cpu");

    // Same content written again → nothing. On a loaded machine the watcher
    // may read a file between `fs::write`'s truncate and its write, report
    // that (the file is empty), then the whole file: the same version again.
    write(d, "cpu.yaml", META);
    write(d, "cpu.tick", &SCRIPT.replace("30", "50"));
    let mut events = Vec::new();
    if let Ok(e) = rx.recv_timeout(Duration::from_millis(700)) {
        events.push(e);
        while let Ok(e) = rx.recv_timeout(Duration::from_millis(400)) {
            events.push(e);
        }
    }
    if !events.is_empty() {
        settles_to_upsert(&events, "cpu");
        assert!(
            events.iter().all(|e| match e {
                TaskDirEvent::Invalid { errors, .. } => errors.to_string().contains("is empty"),
                _ => true,
            }),
            "{:?}",
            summary(&events)
        );
    }

    // Delete → remove.
    fs::remove_file(d.join("cpu.tick")).unwrap();
    fs::remove_file(d.join("cpu.yaml")).unwrap();
    let events = settle(rx, Duration::from_millis(400));
    assert_eq!(
        summary(&events).last().map(String::as_str),
        Some("remove cpu"),
        "{:?}",
        summary(&events)
    );
    assert!(!summary(&events).iter().any(|s| s.contains("sibling")));
    drop(w);
}

#[test]
fn watcher_follows_edits_renames_and_deletes() {
    lifecycle(WatchMode::Events);
}

#[test]
fn poll_watcher_follows_edits_renames_and_deletes() {
    lifecycle(WatchMode::Poll {
        interval: Duration::from_millis(100),
    });
}

#[test]
fn watcher_new_pair_within_a_second() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let w = watch(d, WatchMode::Events);
    // Written elsewhere and moved in, so both files land at once.
    let staging = tempfile::tempdir().unwrap();
    write(staging.path(), "cpu.tick", SCRIPT);
    write(staging.path(), "cpu.yaml", META);
    let start = Instant::now();
    fs::rename(staging.path().join("cpu.tick"), d.join("cpu.tick")).unwrap();
    fs::rename(staging.path().join("cpu.yaml"), d.join("cpu.yaml")).unwrap();
    loop {
        let e = w
            .events
            .recv_timeout(Duration::from_secs(1).saturating_sub(start.elapsed()))
            .expect("an upsert within 1 s");
        if let TaskDirEvent::Upsert(t) = e {
            assert_eq!(t.id, "cpu");
            break;
        }
    }
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn reading_the_task_files_causes_no_rescan() {
    // A rescan reads every task file; were reads a reason to rescan, each
    // scan would cause the next and an idle daemon would spin.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "cpu.tick", SCRIPT);
    write(d, "cpu.yaml", META);
    let w = watch(d, WatchMode::Events);
    w.watcher.rescan();
    let deadline = Instant::now() + Duration::from_secs(5);
    while w.watcher.scans() == 0 {
        assert!(Instant::now() < deadline, "the requested rescan never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Past the debounce of anything that rescan's reads could have set off.
    std::thread::sleep(Duration::from_millis(600));
    let scans = w.watcher.scans();
    for _ in 0..5 {
        fs::read(d.join("cpu.tick")).unwrap();
        fs::read(d.join("cpu.yaml")).unwrap();
    }
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(w.watcher.scans(), scans, "reads alone set off a rescan");
    // An edit still does.
    write(d, "cpu.tick", &format!("{SCRIPT}\n// edited\n"));
    settles_to_upsert(&settle(&w.events, Duration::from_millis(500)), "cpu");
    assert!(w.watcher.scans() > scans);
}

#[test]
fn vim_saves_and_junk_files() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "cpu.tick", SCRIPT);
    write(d, "cpu.yaml", META);
    let w = watch(d, WatchMode::Events);
    let rx = &w.events;

    save_like_vim(d, "cpu.tick", &SCRIPT.replace("30", "35"));
    let events = settle(rx, Duration::from_millis(400));
    assert_eq!(summary(&events), ["upsert cpu"]);
    assert!(upsert_of(&events, "cpu").script.contains("35"));

    // Swap files and backups coming and going are not tasks.
    write(d, ".cpu.tick.swp", "x");
    write(d, "cpu.yaml~", "x");
    write(d, ".#cpu.yaml", "x");
    nothing(rx);
}

#[test]
fn a_broken_task_never_stalls_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for id in ["a", "b"] {
        write(d, &format!("{id}.tick"), SCRIPT);
        write(d, &format!("{id}.yaml"), META);
    }
    let w = watch(d, WatchMode::Events);
    write(d, "a.yaml", "type: [\n");
    write(d, "b.tick", &SCRIPT.replace("30", "20"));
    let mut got = summary(&settle(&w.events, Duration::from_millis(400)));
    got.sort();
    assert_eq!(got, ["invalid a", "upsert b"]);

    // Removing half of a pair removes the task and says why.
    fs::remove_file(d.join("b.yaml")).unwrap();
    let got = summary(&settle(&w.events, Duration::from_millis(400)));
    assert_eq!(got, ["remove b", "invalid b"]);

    // An explicit rescan with nothing changed says nothing.
    w.watcher.rescan();
    nothing(&w.events);
    w.watcher.stop();
}

#[test]
fn watching_a_missing_directory_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = TaskDir::watch(&tmp.path().join("nope"), WatchOptions::default()).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn overflow_is_block_by_default_drop_on_request_and_nothing_else() {
    let path = std::path::Path::new("t.yaml");
    assert_eq!(
        TaskMeta::from_yaml("type: stream\n", path)
            .unwrap()
            .overflow,
        config::Overflow::Block
    );
    assert_eq!(
        TaskMeta::from_yaml("overflow: drop\n", path)
            .unwrap()
            .overflow,
        config::Overflow::Drop
    );
    let err = TaskMeta::from_yaml("type: stream\noverflow: sometimes\n", path).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("2:11") && text.contains("block or drop"),
        "{text}"
    );
}
