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
    assert_eq!(m.dbrps[1].db, "my.db");
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
            "6:1 colour: unknown key (expected one of type, dbrp, from, where, query, period, cron, group_by, script, enabled, vars)",
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
            "1:1 : task metadata must be a mapping with keys type, dbrp, from, where, query, period, cron, group_by, script, enabled, vars, found a list"
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
        ("cpu = ", 5, "expected a value after `==`"),
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
