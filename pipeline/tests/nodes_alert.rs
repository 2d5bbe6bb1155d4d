//! The alert node against Kapacitor's own alert test cases
//! (`testdata/conformance/kapacitor/TestStream_Alert*`).
//!
//! The lambda evaluator is not wired in here, so each case's conditions are
//! written as closures equivalent to its script, and the nodes before the
//! alert (where, window + count, eval with sigma()) are computed by hand
//! from the case's input. What is compared is what the Go test compares:
//! the posted events (numbers by value, times as instants) and, where the
//! case has one, the `httpOut` after the alert.

use std::path::PathBuf;
use std::sync::Arc;

use pipeline::nodes::alert::{AlertEvent, AlertNode, AlertSpec, EvalInput, Level, MemorySink};
use pipeline::nodes::http_out::{HttpOutEndpoint, HttpOutNode};
use pipeline::time::parse_rfc3339;
use pipeline::{
    Batch, BatchPoint, Dimensions, FieldValue, Fields, GroupKey, Message, Name, Node, NodeError,
    Point, Series, Tags,
};
use serde_json::Value;

const ZERO_NS: i64 = 31_536_000 * 1_000_000_000;
const SEC: i64 = 1_000_000_000;

fn case_dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/conformance/kapacitor")
        .join(case)
}

fn expected(case: &str) -> Value {
    let path = case_dir(case).join("expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("expected.json is JSON")
}

/// The case's points in file order, times shifted so the first maps to
/// 1971-01-01T00:00:00Z. Parses just the line protocol the cases use.
fn input(case: &str) -> Vec<Point> {
    let path = case_dir(case).join("input.srpl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    let mut points = Vec::new();
    let mut first = None;
    for chunk in lines.chunks(3) {
        let [_db, _rp, line] = chunk else {
            panic!("srpl: incomplete record {chunk:?}")
        };
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [series, fields, ts] = parts[..] else {
            panic!("srpl: bad line {line:?}")
        };
        let mut series = series.split(',');
        let name = series.next().expect("measurement");
        let tags = series
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("tag k=v");
                (Name::from(k), Name::from(v))
            })
            .collect();
        let fields = Fields::from_pairs(fields.split(',').map(|kv| {
            let (k, v) = kv.split_once('=').expect("field k=v");
            let value = match v.strip_suffix('i') {
                Some(i) => FieldValue::Integer(i.parse().expect("integer")),
                None => FieldValue::Float(v.parse().expect("float")),
            };
            (Name::from(k), value)
        }));
        let secs: i64 = ts.parse().expect("seconds");
        let first = *first.get_or_insert(secs);
        points.push(Point {
            series: Arc::new(Series::new(name.into(), tags).expect("series")),
            fields,
            time: ZERO_NS + (secs - first) * SEC,
        });
    }
    points
}

fn float(input: &EvalInput<'_>, field: &str) -> Result<f64, NodeError> {
    match input.fields.get(field) {
        Some(FieldValue::Float(f)) => Ok(*f),
        Some(FieldValue::Integer(i)) => Ok(*i as f64),
        _ => Err(NodeError::new(format!("no numeric field {field:?}"))),
    }
}

/// `"field" OP threshold` as a condition closure.
fn gt(field: &'static str, t: f64) -> impl FnMut(&EvalInput<'_>) -> Result<bool, NodeError> + Send {
    move |i| Ok(float(i, field)? > t)
}

fn ge(field: &'static str, t: f64) -> impl FnMut(&EvalInput<'_>) -> Result<bool, NodeError> + Send {
    move |i| Ok(float(i, field)? >= t)
}

fn lt(field: &'static str, t: f64) -> impl FnMut(&EvalInput<'_>) -> Result<bool, NodeError> + Send {
    move |i| Ok(float(i, field)? < t)
}

fn is_cpu_on(p: &Point, host: &str) -> bool {
    &**p.measurement() == "cpu" && p.series.tag("host").is_some_and(|h| &**h == host)
}

/// Kapacitor's `sigma()`: running mean and variance (Welford), the current
/// value's distance from the mean in standard deviations.
#[derive(Default)]
struct Sigma {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Sigma {
    fn next(&mut self, x: f64) -> f64 {
        self.n += 1.0;
        let delta = x - self.mean;
        self.mean += delta / self.n;
        self.m2 += delta * (x - self.mean);
        let variance = self.m2 / (self.n - 1.0);
        if self.n < 2.0 || variance == 0.0 {
            return 0.0;
        }
        (x - self.mean).abs() / variance.sqrt()
    }
}

struct Run {
    events: Vec<AlertEvent>,
    http_out: Value,
}

/// Feeds `msgs` to an alert node built from `spec`, its output to an
/// httpOut, and returns the published events and the httpOut result.
fn run(spec: AlertSpec, msgs: Vec<Message>) -> Run {
    let sink = MemorySink::new();
    let mut alert = AlertNode::new(spec, sink.clone()).expect("valid alert spec");
    let endpoint = HttpOutEndpoint::new();
    let mut http_out = HttpOutNode::new(endpoint.clone());
    for msg in msgs {
        let mut out = Vec::new();
        alert
            .process(msg, &mut out)
            .expect("alert processes the message");
        for m in out {
            http_out.process(m, &mut Vec::new()).expect("httpOut");
        }
    }
    Run {
        events: sink.events(),
        http_out: serde_json::to_value(endpoint.result()).expect("json"),
    }
}

fn points_in(points: Vec<Point>, dims: &Dimensions) -> Vec<Message> {
    points
        .into_iter()
        .map(|p| {
            let g = GroupKey::for_series(dims, &p.series);
            Message::Point(p, g)
        })
        .collect()
}

/// Compares as the Go tests do: numbers by value, RFC 3339 strings as
/// instants, a missing `tags` as no tags. `null` expected data is ignored.
fn assert_json_matches(expected: &Value, actual: &Value, path: &str) {
    match (expected, actual) {
        (Value::Number(e), Value::Number(a)) => {
            let (e, a) = (
                e.as_f64().unwrap_or(f64::NAN),
                a.as_f64().unwrap_or(f64::NAN),
            );
            assert!(
                e == a || (e - a).abs() <= 1e-12 * e.abs().max(1.0),
                "{path}: expected {e}, got {a}"
            );
        }
        (Value::String(e), Value::String(a)) => match (parse_rfc3339(e), parse_rfc3339(a)) {
            (Ok(e), Ok(a)) => assert_eq!(e, a, "{path}: times differ"),
            _ => assert_eq!(e, a, "{path}"),
        },
        (Value::Array(e), Value::Array(a)) => {
            assert_eq!(
                e.len(),
                a.len(),
                "{path}: lengths differ: expected {expected}, got {actual}"
            );
            for (i, (e, a)) in e.iter().zip(a).enumerate() {
                assert_json_matches(e, a, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(e), Value::Object(a)) => {
            let empty = Value::Object(Default::default());
            for key in e.keys().chain(a.keys()) {
                let (ev, av) = (e.get(key), a.get(key));
                match (key.as_str(), ev, av) {
                    ("tags", None, Some(v)) | ("tags", Some(v), None) => {
                        assert_json_matches(&empty, v, &format!("{path}.tags"))
                    }
                    (_, Some(ev), Some(av)) => {
                        assert_json_matches(ev, av, &format!("{path}.{key}"))
                    }
                    _ => panic!("{path}.{key}: expected {ev:?}, got {av:?}"),
                }
            }
        }
        _ => assert_eq!(expected, actual, "{path}"),
    }
}

/// Checks the events as the case's `events_checked` says.
fn assert_events(case: &str, events: &[AlertEvent]) {
    let exp = expected(case);
    let post = &exp["outputs"]["alertPost"];
    let count = post["expected_request_count"].as_u64().expect("count") as usize;
    let got: Vec<Value> = events
        .iter()
        .map(|e| serde_json::to_value(e).expect("json"))
        .collect();
    assert_eq!(
        got.len(),
        count,
        "{case}: events {}",
        serde_json::to_string_pretty(&got).unwrap_or_default()
    );
    let Some(want) = post["events"].as_array() else {
        return;
    };
    let checked = post["events_checked"].as_str().unwrap_or_default();
    for (i, actual) in got.iter().enumerate() {
        // "every request must equal events[0]", "request 1 must equal
        // events[0]; every later request must equal events[1]", "request N
        // must equal events[N-1]".
        let w = if checked.starts_with("every request") {
            &want[0]
        } else if checked.starts_with("request 1 must equal events[0]; every later") {
            &want[i.min(1)]
        } else {
            &want[i]
        };
        let mut w = w.clone();
        let mut a = actual.clone();
        if w["data"].is_null() {
            a["data"] = Value::Null;
            w["data"] = Value::Null;
        }
        assert_json_matches(&w, &a, &format!("{case} event {i}"));
    }
}

fn assert_http_out(case: &str, actual: &Value) {
    let exp = expected(case);
    assert_json_matches(
        &exp["outputs"]["httpOut"]["result"],
        actual,
        &format!("{case} httpOut"),
    );
}

#[test]
fn stream_alert_window_count_then_levels_and_annotations() {
    let case = "TestStream_Alert";
    // from().measurement('cpu').where("host" == 'serverA').groupBy('host')
    // |window().period(10s).every(10s) |count('value'): the one window that
    // closes before the clock stops is [0s, 10s).
    let pts: Vec<Point> = input(case)
        .into_iter()
        .filter(|p| is_cpu_on(p, "serverA"))
        .collect();
    let tmax = pts[0].time + 10 * SEC;
    let count = pts.iter().filter(|p| p.time < tmax).count() as i64;
    let tags = Tags::from([(Name::from("host"), Name::from("serverA"))]);
    let batch = Batch {
        name: "cpu".into(),
        tmax,
        group: GroupKey::from_parts(None, tags.clone()),
        tags: tags.clone(),
        points: vec![BatchPoint {
            time: tmax,
            fields: Fields::from_pairs([(Name::from("count"), FieldValue::Integer(count))]),
            tags,
        }],
    };
    let spec = AlertSpec {
        id: "kapacitor/{{ .Name }}/{{ index .Tags \"host\" }}".into(),
        details: "details".into(),
        id_field: Some("id".into()),
        id_tag: Some("id".into()),
        level_field: Some("level".into()),
        message_field: Some("msg".into()),
        level_tag: Some("level".into()),
        ..AlertSpec::default()
    }
    .info(gt("count", 6.0))
    .warn(gt("count", 7.0))
    .crit(gt("count", 8.0));
    let r = run(spec, vec![Message::Batch(batch)]);
    assert_events(case, &r.events);
    assert_http_out(case, &r.http_out);
}

#[test]
fn stream_alert_no_recoveries() {
    let case = "TestStream_Alert_NoRecoveries";
    let pts: Vec<Point> = input(case)
        .into_iter()
        .filter(|p| &**p.measurement() == "cpu")
        .collect();
    let spec = AlertSpec {
        id: "kapacitor/{{ .Name }}/{{ index .Tags \"host\" }}".into(),
        details: String::new(),
        no_recoveries: true,
        ..AlertSpec::default()
    }
    .info(ge("value", 6.0))
    .warn(ge("value", 7.0))
    .crit(ge("value", 8.0));
    let r = run(
        spec,
        points_in(pts, &Dimensions::new(false, vec!["host".into()])),
    );
    assert_events(case, &r.events);
    assert_http_out(case, &r.http_out);
}

#[test]
fn stream_alert_complex_where() {
    let case = "TestStream_AlertComplexWhere";
    // where("host" == 'serverA' AND sigma("value") > 2): AND stops at a
    // false left side, so sigma() only sees serverA's points.
    let mut sigma = Sigma::default();
    let pts: Vec<Point> = input(case)
        .into_iter()
        .filter(|p| &**p.measurement() == "cpu")
        .filter(|p| {
            is_cpu_on(p, "serverA")
                && matches!(p.fields.get("value"), Some(FieldValue::Float(v)) if sigma.next(*v) > 2.0)
        })
        .collect();
    let spec = AlertSpec {
        details: String::new(),
        ..AlertSpec::default()
    }
    .crit(|_: &EvalInput<'_>| Ok(true));
    let r = run(spec, points_in(pts, &Dimensions::default()));
    assert_events(case, &r.events);
}

#[test]
fn stream_alert_sigma_info_then_recovery() {
    let case = "TestStream_AlertSigma";
    // eval(lambda: sigma("value")).as('sigma').keep()
    let mut sigma = Sigma::default();
    let pts: Vec<Point> = input(case)
        .into_iter()
        .filter(|p| is_cpu_on(p, "serverA"))
        .map(|mut p| {
            let v = match p.fields.get("value") {
                Some(FieldValue::Float(v)) => *v,
                _ => panic!("value"),
            };
            let s = sigma.next(v);
            p.fields = Fields::from_pairs(
                p.fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .chain([(Name::from("sigma"), FieldValue::Float(s))]),
            );
            p
        })
        .collect();
    let spec = AlertSpec {
        details: "{{ .Message }}".into(),
        ..AlertSpec::default()
    }
    .info(gt("sigma", 2.0))
    .warn(gt("sigma", 3.0))
    .crit(gt("sigma", 3.5));
    let r = run(spec, points_in(pts, &Dimensions::default()));
    assert_events(case, &r.events);
}

#[test]
fn stream_alert_state_changes_only() {
    let case = "TestStream_AlertStateChangesOnly";
    let pts: Vec<Point> = input(case)
        .into_iter()
        .filter(|p| &**p.measurement() == "cpu")
        .collect();
    let spec = AlertSpec {
        state_changes_only: Some(None),
        ..AlertSpec::default()
    }
    .crit(lt("value", 93.0));
    let r = run(spec, points_in(pts, &Dimensions::default()));
    assert_events(case, &r.events);
    // Only changes: no two consecutive events share a level.
    assert!(r.events.windows(2).all(|w| w[0].level != w[1].level));
}

#[test]
fn stream_alert_flapping() {
    let case = "TestStream_AlertFlapping";
    let pts: Vec<Point> = input(case)
        .into_iter()
        .filter(|p| is_cpu_on(p, "serverA"))
        .collect();
    let spec = AlertSpec {
        flapping: Some((0.25, 0.5)),
        history: 21,
        ..AlertSpec::default()
    }
    .info(lt("value", 95.0))
    .warn(lt("value", 94.0))
    .crit(lt("value", 93.0));
    let r = run(spec, points_in(pts, &Dimensions::default()));
    assert_events(case, &r.events);
}

#[test]
fn stream_alert_state_changes_only_expired() {
    let case = "TestStream_AlertStateChangesOnlyExpired";
    let pts: Vec<Point> = input(case)
        .into_iter()
        .filter(|p| &**p.measurement() == "cpu")
        .collect();
    let spec = AlertSpec {
        details: String::new(),
        state_changes_only: Some(Some(2 * SEC)),
        ..AlertSpec::default()
    }
    .crit(lt("value", 97.0));
    let r = run(spec, points_in(pts, &Dimensions::default()));
    assert_events(case, &r.events);
}

// ---- state rules beyond the conformance cases -------------------------------

fn cpu(value: f64, secs: i64) -> Message {
    let series =
        Series::new("cpu".into(), vec![(Name::from("host"), Name::from("a"))]).expect("series");
    let p = Point {
        series: Arc::new(series),
        fields: Fields::from_pairs([(Name::from("value"), FieldValue::Float(value))]),
        time: ZERO_NS + secs * SEC,
    };
    Message::Point(p, GroupKey::nil())
}

fn levels(events: &[AlertEvent]) -> Vec<(Level, Level)> {
    events.iter().map(|e| (e.level, e.previous_level)).collect()
}

#[test]
fn bare_alert_is_critical_for_every_point() {
    let r = run(AlertSpec::default(), vec![cpu(1.0, 0), cpu(2.0, 1)]);
    assert_eq!(
        levels(&r.events),
        [
            (Level::Critical, Level::Ok),
            (Level::Critical, Level::Critical)
        ]
    );
    assert_eq!(r.events[1].duration, SEC);
    // Default templates: id `{{ .Name }}:{{ .Group }}`, details `{{ json . }}`
    // (HTML-escaped, as Kapacitor's html/template does).
    assert_eq!(r.events[0].id, "cpu:nil");
    assert_eq!(r.events[0].message, "cpu:nil is CRITICAL");
    assert!(
        r.events[0]
            .details
            .starts_with("{&#34;Name&#34;:&#34;cpu&#34;"),
        "{}",
        r.events[0].details
    );
}

#[test]
fn every_non_ok_evaluation_is_sent_and_ok_only_on_recovery() {
    let spec = AlertSpec::default()
        .warn(gt("value", 5.0))
        .crit(gt("value", 8.0));
    let r = run(
        spec,
        vec![
            cpu(1.0, 0),
            cpu(6.0, 1),
            cpu(9.0, 2),
            cpu(9.0, 3),
            cpu(1.0, 4),
            cpu(1.0, 5),
        ],
    );
    assert_eq!(
        levels(&r.events),
        [
            (Level::Warning, Level::Ok),
            (Level::Critical, Level::Warning),
            (Level::Critical, Level::Critical),
            (Level::Ok, Level::Critical),
        ]
    );
    let durations: Vec<i64> = r.events.iter().map(|e| e.duration / SEC).collect();
    assert_eq!(durations, [0, 1, 2, 3]);
    assert!(r.events.iter().all(|e| e.recoverable));
}

#[test]
fn reset_conditions_hold_a_level_until_true() {
    // Critical above 8, and once critical it stays so until value < 5.
    let spec = AlertSpec {
        state_changes_only: Some(None),
        ..AlertSpec::default()
    }
    .crit(gt("value", 8.0))
    .crit_reset(lt("value", 5.0));
    let r = run(
        spec,
        vec![
            cpu(9.0, 0),
            cpu(7.0, 1),
            cpu(6.0, 2),
            cpu(4.0, 3),
            cpu(7.0, 4),
        ],
    );
    assert_eq!(
        levels(&r.events),
        [(Level::Critical, Level::Ok), (Level::Ok, Level::Critical)]
    );
    assert_eq!(r.events[1].time, ZERO_NS + 3 * SEC);
}

#[test]
fn failing_condition_counts_as_false_and_is_reported() {
    let spec = AlertSpec::default()
        .warn(gt("value", 1.0))
        .crit(|_: &EvalInput<'_>| Err(NodeError::new("boom")));
    let sink = MemorySink::new();
    let mut node = AlertNode::new(spec, sink.clone()).expect("spec");
    let mut out = Vec::new();
    let err = node.process(cpu(2.0, 0), &mut out).unwrap_err();
    assert_eq!(err.to_string(), "boom");
    assert_eq!(out.len(), 1, "the point still goes on");
    assert_eq!(sink.events()[0].level, Level::Warning);
}

#[test]
fn batches_take_the_highest_level_or_with_all_the_lowest() {
    let tags = Tags::from([]);
    let bp = |v: f64, s: i64| BatchPoint {
        time: ZERO_NS + s * SEC,
        fields: Fields::from_pairs([(Name::from("value"), FieldValue::Float(v))]),
        tags: tags.clone(),
    };
    let batch = Batch {
        name: "cpu".into(),
        tmax: ZERO_NS + 10 * SEC,
        group: GroupKey::nil(),
        tags: tags.clone(),
        points: vec![bp(9.0, 1), bp(1.0, 2), bp(9.5, 3)],
    };
    let spec = || AlertSpec::default().crit(gt("value", 8.0));
    let r = run(spec(), vec![Message::Batch(batch.clone())]);
    assert_eq!(levels(&r.events), [(Level::Critical, Level::Ok)]);
    // The first highest-level point gives the time and fields.
    assert_eq!(r.events[0].time, ZERO_NS + SEC);
    assert_eq!(
        r.events[0].fields.get("value"),
        Some(&FieldValue::Float(9.0))
    );
    let r = run(
        AlertSpec {
            all: true,
            ..spec()
        },
        vec![Message::Batch(batch)],
    );
    assert!(
        r.events.is_empty(),
        "with all() one OK point keeps the batch OK"
    );
}

#[test]
fn duration_field_and_level_tag_annotate_points() {
    let spec = AlertSpec {
        duration_field: Some("dur".into()),
        level_tag: Some("level".into()),
        ..AlertSpec::default()
    }
    .crit(gt("value", 0.0));
    let sink = MemorySink::new();
    let mut node = AlertNode::new(spec, sink).expect("spec");
    let mut out = Vec::new();
    node.process(cpu(1.0, 0), &mut out).expect("ok");
    node.process(cpu(1.0, 2), &mut out).expect("ok");
    let Message::Point(p, _) = &out[1] else {
        panic!("a point")
    };
    assert_eq!(p.fields.get("dur"), Some(&FieldValue::Integer(2 * SEC)));
    assert_eq!(p.series.tag("level").map(|s| &**s), Some("CRITICAL"));
    assert_eq!(p.series.tag("host").map(|s| &**s), Some("a"));
}

#[test]
fn groups_keep_separate_state_and_forget_ok_ones_on_delete() {
    let spec = AlertSpec {
        state_changes_only: Some(None),
        ..AlertSpec::default()
    }
    .crit(gt("value", 5.0));
    let sink = MemorySink::new();
    let mut node = AlertNode::new(spec, sink.clone()).expect("spec");
    let dims = Dimensions::new(false, vec!["host".into()]);
    let point = |host: &str, v: f64| {
        let s = Series::new("cpu".into(), vec![(Name::from("host"), Name::from(host))])
            .expect("series");
        let g = GroupKey::for_series(&dims, &s);
        let p = Point {
            series: Arc::new(s),
            fields: Fields::from_pairs([(Name::from("value"), FieldValue::Float(v))]),
            time: ZERO_NS,
        };
        (Message::Point(p, g.clone()), g)
    };
    let mut out = Vec::new();
    let (a, ga) = point("a", 9.0);
    node.process(a, &mut out).expect("ok");
    node.process(point("b", 9.0).0, &mut out).expect("ok");
    node.process(point("a", 9.0).0, &mut out).expect("ok");
    let ids: Vec<String> = sink.events().iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, ["cpu:host=a", "cpu:host=b"]);
    assert_eq!(node.groups(), 2);
    // A standing (CRITICAL) alert outlives its group's deletion: the same
    // level again is no new event, and its recovery will be sent.
    let gb = point("b", 9.0).1;
    node.process(Message::DeleteGroup(gb), &mut out)
        .expect("ok");
    assert_eq!(node.groups(), 2);
    node.process(point("b", 9.0).0, &mut out).expect("ok");
    assert_eq!(sink.events().len(), 2);
    // An OK group is forgotten.
    node.process(point("a", 1.0).0, &mut out).expect("ok");
    node.process(Message::DeleteGroup(ga), &mut out)
        .expect("ok");
    assert_eq!(node.groups(), 1);
    node.process(point("a", 9.0).0, &mut out).expect("ok");
    let events = sink.events();
    assert_eq!(events.len(), 4, "a deleted group starts over");
    assert_eq!(
        (events[2].level, events[3].previous_level),
        (Level::Ok, Level::Ok)
    );
}

#[test]
fn bad_specs_are_refused() {
    let sink = MemorySink::new();
    let err = |spec: AlertSpec| {
        AlertNode::new(spec, sink.clone())
            .err()
            .map(|e| e.to_string())
    };
    assert_eq!(
        err(AlertSpec {
            id: "{{ .Level }}".into(),
            ..AlertSpec::default()
        })
        .as_deref(),
        Some("alert: id template 1:4: can't evaluate field Level in the id template")
    );
}

#[test]
#[should_panic(expected = "TestStream_Alert_NoRecoveries")]
fn the_comparison_catches_a_wrong_rule() {
    // The same case with recoveries sent must not pass.
    let case = "TestStream_Alert_NoRecoveries";
    let pts: Vec<Point> = input(case)
        .into_iter()
        .filter(|p| &**p.measurement() == "cpu")
        .collect();
    let spec = AlertSpec {
        id: "kapacitor/{{ .Name }}/{{ index .Tags \"host\" }}".into(),
        details: String::new(),
        ..AlertSpec::default()
    }
    .info(ge("value", 6.0))
    .warn(ge("value", 7.0))
    .crit(ge("value", 8.0));
    let r = run(
        spec,
        points_in(pts, &Dimensions::new(false, vec!["host".into()])),
    );
    assert_events(case, &r.events);
}

#[test]
fn an_alert_inhibits_its_category_on_equal_tags_while_not_ok() {
    use pipeline::nodes::alert::Inhibitions;
    let registry = Inhibitions::new();
    let dims = Dimensions::new(false, vec!["host".into()]);
    let point = |m: &str, host: &str, v: f64, secs: i64| {
        let s =
            Series::new(m.into(), vec![(Name::from("host"), Name::from(host))]).expect("series");
        let g = GroupKey::for_series(&dims, &s);
        let p = Point {
            series: Arc::new(s),
            fields: Fields::from_pairs([(Name::from("value"), FieldValue::Float(v))]),
            time: ZERO_NS + secs * SEC,
        };
        Message::Point(p, g)
    };
    // The parent: a host down inhibits that host's `system` alerts.
    let parent_sink = MemorySink::new();
    let parent = AlertSpec {
        inhibits: vec![("system".into(), vec!["host".into()])],
        ..AlertSpec::default()
    }
    .crit(gt("value", 5.0));
    let mut parent = AlertNode::new(parent, parent_sink.clone())
        .expect("spec")
        .with_inhibitions(registry.clone());
    let child_sink = MemorySink::new();
    let child = AlertSpec {
        category: Some("system".into()),
        ..AlertSpec::default()
    }
    .crit(gt("value", 5.0));
    let mut child = AlertNode::new(child, child_sink.clone())
        .expect("spec")
        .with_inhibitions(registry.clone());
    let mut out = Vec::new();
    child
        .process(point("cpu", "a", 9.0, 0), &mut out)
        .expect("ok");
    parent
        .process(point("up", "a", 9.0, 1), &mut out)
        .expect("ok");
    child
        .process(point("cpu", "a", 9.0, 2), &mut out)
        .expect("ok");
    child
        .process(point("cpu", "b", 9.0, 2), &mut out)
        .expect("ok");
    parent
        .process(point("up", "a", 1.0, 3), &mut out)
        .expect("ok");
    child
        .process(point("cpu", "a", 9.0, 4), &mut out)
        .expect("ok");
    let inhibited: Vec<(String, i64, bool)> = child_sink
        .events()
        .iter()
        .map(|e| (e.id.clone(), (e.time - ZERO_NS) / SEC, e.inhibited))
        .collect();
    assert_eq!(
        inhibited,
        [
            ("cpu:host=a".into(), 0, false),
            ("cpu:host=a".into(), 2, true),
            ("cpu:host=b".into(), 2, false),
            ("cpu:host=a".into(), 4, false),
        ]
    );
    assert_eq!(child.inhibited(), 1);
    assert!(parent_sink.events().iter().all(|e| !e.inhibited));
    // A stopped parent inhibits nothing.
    parent
        .process(point("up", "a", 9.0, 5), &mut out)
        .expect("ok");
    assert_eq!(registry.active(), 1);
    drop(parent);
    assert_eq!(registry.active(), 0);
}
