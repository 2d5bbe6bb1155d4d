//! The window and InfluxQL nodes against Kapacitor's own integration cases
//! (`testdata/conformance/kapacitor/<case>/`): the replay data is decoded
//! here by hand (pipeline cannot depend on `ingest`), the `from()` part of
//! each script is applied by hand, and the last message per group (what
//! `httpOut` serves) is compared with `expected.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pipeline::nodes::influxql::{Function, InfluxQlNode, InfluxQlSpec};
use pipeline::nodes::window::{WindowNode, WindowSpec};
use pipeline::{
    Batch, BatchPoint, FieldValue, Fields, GroupKey, Message, Name, Node, Point, Series,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const S: i64 = 1_000_000_000;
/// 1971-01-01T00:00:00Z, where every replay starts.
const ZERO: i64 = 31_536_000 * S;

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/conformance/kapacitor")
        .join(case)
}

fn parse_value(raw: &str) -> FieldValue {
    if let Some(s) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        FieldValue::String(Name::from(s))
    } else if let Some(i) = raw.strip_suffix('i') {
        FieldValue::Integer(i.parse().expect("integer field"))
    } else if raw == "true" || raw == "false" {
        FieldValue::Boolean(raw == "true")
    } else {
        FieldValue::Float(raw.parse().expect("float field"))
    }
}

/// The points of a `.srpl` file, on the replay's shifted timeline. The
/// files hold no escapes or quoted spaces, so splitting on blanks suffices.
fn read_srpl(case: &str) -> Vec<Point> {
    let text = std::fs::read_to_string(case_dir(case).join("input.srpl")).expect("srpl");
    let lines: Vec<&str> = text.lines().collect();
    let mut points = Vec::new();
    let mut first: Option<i64> = None;
    for chunk in lines.chunks(3) {
        let [_db, _rp, line] = chunk else {
            panic!("truncated srpl")
        };
        let mut parts = line.split_whitespace();
        let key = parts.next().expect("series key");
        let fields = parts.next().expect("fields");
        let secs: i64 = parts.next().expect("time").parse().expect("seconds");
        let mut key_parts = key.split(',');
        let measurement = Name::from(key_parts.next().expect("measurement"));
        let tags = key_parts
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("tag");
                (Name::from(k), Name::from(v))
            })
            .collect();
        let fields = Fields::from_pairs(fields.split(',').map(|kv| {
            let (k, v) = kv.split_once('=').expect("field");
            (Name::from(k), parse_value(v))
        }));
        let first = *first.get_or_insert(secs);
        points.push(Point {
            series: Arc::new(Series::new(measurement, tags).expect("series")),
            fields,
            time: ZERO + (secs - first) * S,
        });
    }
    points
}

/// The batches of a `.brpl` file, shifted so its first point is at ZERO,
/// each with tmax raised to its last point and grouped by its tags.
fn read_brpl(case: &str, n: usize) -> Vec<Batch> {
    let text =
        std::fs::read_to_string(case_dir(case).join(format!("input.{n}.brpl"))).expect("brpl");
    let mut first: Option<i64> = None;
    let mut batches = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).expect("batch json");
        let tags = json_tags(&v["tags"]);
        let mut points = Vec::new();
        for p in v["points"].as_array().into_iter().flatten() {
            let t =
                pipeline::time::parse_rfc3339(p["time"].as_str().expect("time")).expect("rfc3339");
            let first = *first.get_or_insert(t);
            let fields = Fields::from_pairs(p["fields"].as_object().expect("fields").iter().map(
                |(k, f)| {
                    let value = match f {
                        Value::String(s) => FieldValue::String(Name::from(s.as_str())),
                        Value::Bool(b) => FieldValue::Boolean(*b),
                        n => FieldValue::Float(n.as_f64().expect("number")),
                    };
                    (Name::from(k.as_str()), value)
                },
            ));
            let point_tags = match p.get("tags") {
                Some(t) if t.is_object() => json_tags(t),
                _ => tags.clone(),
            };
            points.push(BatchPoint {
                time: ZERO + (t - first),
                fields,
                tags: point_tags.into(),
            });
        }
        if points.is_empty() {
            continue;
        }
        let tmax = points.iter().map(|p| p.time).max().unwrap_or(ZERO);
        let group = GroupKey::from_parts(None, tags.clone().into());
        batches.push(Batch {
            name: Name::from(v["name"].as_str().expect("name")),
            tmax,
            group,
            tags: tags.into(),
            points,
        });
    }
    batches
}

fn json_tags(v: &Value) -> Vec<(Name, Name)> {
    let mut tags: Vec<(Name, Name)> = v
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (Name::from(k.as_str()), Name::from(v.as_str().unwrap_or(""))))
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    tags
}

/// `from().measurement('cpu').where(lambda: "host" == 'serverA')`, with an
/// optional `.groupBy('host')`.
fn from_cpu_server_a(points: Vec<Point>, group_by_host: bool) -> Vec<Message> {
    points
        .into_iter()
        .filter(|p| {
            &**p.measurement() == "cpu" && p.series.tag("host").map(|h| &**h) == Some("serverA")
        })
        .map(|p| {
            let group = if group_by_host {
                let host = p
                    .series
                    .tag("host")
                    .cloned()
                    .unwrap_or_else(|| Name::from(""));
                GroupKey::from_parts(None, vec![(Name::from("host"), host)].into())
            } else {
                GroupKey::nil()
            };
            Message::Point(p, group)
        })
        .collect()
}

/// Runs `input` through `nodes` in order, as the runtime would.
fn run_chain(nodes: &mut [Box<dyn Node>], input: Vec<Message>) -> Vec<Message> {
    let mut msgs = input;
    for node in nodes.iter_mut() {
        let mut out = Vec::new();
        for m in msgs {
            // Errors are per message and counted by the runtime; these cases
            // are expected to produce none.
            node.process(m, &mut out).expect("node error");
        }
        msgs = out;
    }
    msgs
}

/// What `httpOut` would hold: the latest point or batch per group, in order
/// of first appearance, rendered as Kapacitor renders a result row set.
fn http_out(msgs: &[Message]) -> Vec<Value> {
    let mut slots: Vec<(GroupKey, Value)> = Vec::new();
    for m in msgs {
        let (group, series) = match m {
            Message::Point(p, g) => (g.clone(), point_series(p)),
            Message::Batch(b) => (b.group.clone(), batch_series(b)),
            _ => continue,
        };
        match slots.iter_mut().find(|(g, _)| *g == group) {
            Some(slot) => slot.1 = series,
            None => slots.push((group, series)),
        }
    }
    slots.into_iter().map(|(_, s)| s).collect()
}

fn tags_json(tags: &[(Name, Name)]) -> Value {
    if tags.is_empty() {
        return Value::Null;
    }
    Value::Object(
        tags.iter()
            .map(|(k, v)| (k.to_string(), json!(&**v)))
            .collect(),
    )
}

fn field_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Float(f) => json!(f),
        FieldValue::Integer(i) => json!(*i as f64),
        FieldValue::Unsigned(u) => json!(*u as f64),
        FieldValue::String(s) => json!(&**s),
        FieldValue::Boolean(b) => json!(b),
    }
}

fn point_series(p: &Point) -> Value {
    let mut cols: Vec<&Name> = p.fields.keys().iter().collect();
    cols.sort();
    let mut row = vec![json!(p.time)];
    row.extend(
        cols.iter()
            .map(|c| p.fields.get(c).map_or(Value::Null, field_json)),
    );
    let mut columns = vec![json!("time")];
    columns.extend(cols.iter().map(|c| json!(&***c)));
    json!({"name": &**p.measurement(), "tags": tags_json(p.tags()), "columns": columns, "values": [row]})
}

/// Columns from the first point: its fields and its tags that the batch
/// does not carry, sorted, after `time` (Kapacitor's `BatchToResult`).
fn batch_series(b: &Batch) -> Value {
    let mut columns = vec![json!("time")];
    let mut values = Vec::new();
    if let Some(first) = b.points.first() {
        let mut cols: Vec<Name> = first.fields.keys().to_vec();
        cols.extend(
            first
                .tags
                .iter()
                .filter(|(k, _)| !b.tags.iter().any(|(g, _)| g == k))
                .map(|(k, _)| k.clone()),
        );
        cols.sort();
        columns.extend(cols.iter().map(|c| json!(&**c)));
        for p in &b.points {
            let mut row = vec![json!(p.time)];
            for c in &cols {
                let v = match p.fields.get(c) {
                    Some(f) => field_json(f),
                    None => p
                        .tags
                        .iter()
                        .find(|(k, _)| k == c)
                        .map_or(Value::Null, |(_, v)| json!(&**v)),
                };
                row.push(v);
            }
            values.push(Value::Array(row));
        }
    }
    json!({"name": &*b.name, "tags": tags_json(&b.tags), "columns": columns, "values": values})
}

/// Compares with `expected.json`: numbers by value, times as instants.
fn assert_matches_expected(case: &str, actual: &[Value]) {
    let text =
        std::fs::read_to_string(case_dir(case).join("expected.json")).expect("expected.json");
    let expected: Value = serde_json::from_str(&text).expect("json");
    let series = expected["outputs"]["httpOut"]["result"]["series"]
        .as_array()
        .expect("series");
    assert_eq!(
        actual.len(),
        series.len(),
        "{case}: series count; actual {actual:#?}"
    );
    for (a, e) in actual.iter().zip(series) {
        assert_eq!(a["name"], e["name"], "{case}: name");
        let e_tags = e.get("tags").cloned().unwrap_or(Value::Null);
        assert_eq!(a["tags"], e_tags, "{case}: tags");
        assert_eq!(a["columns"], e["columns"], "{case}: columns");
        let (a_rows, e_rows) = (
            a["values"].as_array().expect("rows"),
            e["values"].as_array().expect("rows"),
        );
        assert_eq!(
            a_rows.len(),
            e_rows.len(),
            "{case}: rows\nactual {a_rows:?}\nexpected {e_rows:?}"
        );
        for (ar, er) in a_rows.iter().zip(e_rows) {
            let (ar, er) = (ar.as_array().expect("row"), er.as_array().expect("row"));
            assert_eq!(ar.len(), er.len(), "{case}: row width");
            let t = pipeline::time::parse_rfc3339(er[0].as_str().expect("time")).expect("time");
            assert_eq!(
                ar[0].as_i64(),
                Some(t),
                "{case}: time {:?} vs {}",
                ar[0],
                er[0]
            );
            for (av, ev) in ar[1..].iter().zip(&er[1..]) {
                match (av.as_f64(), ev.as_f64()) {
                    (Some(x), Some(y)) => {
                        assert!(
                            (x - y).abs() <= 1e-9 * y.abs().max(1.0),
                            "{case}: {x} vs {y}"
                        )
                    }
                    _ => assert_eq!(av, ev, "{case}: value"),
                }
            }
        }
    }
}

fn secs(n: i64) -> Option<i64> {
    Some(n * S)
}

fn window(spec: WindowSpec) -> Box<dyn Node> {
    Box::new(WindowNode::new(spec).expect("window spec"))
}

fn window_case(case: &str, spec: WindowSpec) {
    let input = from_cpu_server_a(read_srpl(case), false);
    let out = run_chain(&mut [window(spec)], input);
    assert_matches_expected(case, &http_out(&out));
}

#[test]
fn stream_window() {
    window_case(
        "TestStream_Window",
        WindowSpec {
            period: secs(10),
            every: secs(10),
            ..Default::default()
        },
    );
}

#[test]
fn stream_window_overlapping() {
    window_case(
        "TestStream_Window_Overlapping",
        WindowSpec {
            period: secs(14),
            every: secs(10),
            ..Default::default()
        },
    );
}

#[test]
fn stream_window_fill_period() {
    window_case(
        "TestStream_Window_FillPeriod",
        WindowSpec {
            period: secs(14),
            every: secs(10),
            fill_period: true,
            ..Default::default()
        },
    );
}

#[test]
fn stream_window_fill_period_aligned() {
    window_case(
        "TestStream_Window_FillPeriod_Aligned",
        WindowSpec {
            period: secs(14),
            every: secs(10),
            fill_period: true,
            align: true,
            ..Default::default()
        },
    );
}

#[test]
fn stream_window_count() {
    window_case(
        "TestStream_Window_Count",
        WindowSpec {
            period_count: Some(10),
            every_count: Some(10),
            ..Default::default()
        },
    );
}

fn influxql(function: Function, field: &str, use_point_times: bool) -> Box<dyn Node> {
    let spec = InfluxQlSpec {
        use_point_times,
        ..InfluxQlSpec::new(function, field)
    };
    Box::new(InfluxQlNode::new(spec).expect("influxql spec"))
}

fn tumbling(secs_: i64) -> WindowSpec {
    WindowSpec {
        period: secs(secs_),
        every: secs(secs_),
        ..Default::default()
    }
}

/// `TestStream_InfluxQL_Float`: window(10s) grouped by host, then one function.
fn float_case(case: &str, function: Function, use_point_times: bool) {
    let input = from_cpu_server_a(read_srpl(case), true);
    let out = run_chain(
        &mut [
            window(tumbling(10)),
            influxql(function, "value", use_point_times),
        ],
        input,
    );
    assert_matches_expected(case, &http_out(&out));
}

#[test]
fn stream_influxql_float() {
    float_case("TestStream_InfluxQL_Float_sum-0", Function::Sum, false);
    float_case(
        "TestStream_InfluxQL_Float_distinct-2",
        Function::Distinct,
        false,
    );
    float_case("TestStream_InfluxQL_Float_mean-3", Function::Mean, false);
    float_case(
        "TestStream_InfluxQL_Float_median-4",
        Function::Median,
        false,
    );
    float_case("TestStream_InfluxQL_Float_min-6", Function::Min, true);
    float_case("TestStream_InfluxQL_Float_max-9", Function::Max, false);
    float_case(
        "TestStream_InfluxQL_Float_spread-10",
        Function::Spread,
        false,
    );
    float_case(
        "TestStream_InfluxQL_Float_stddev-11",
        Function::Stddev,
        false,
    );
    float_case("TestStream_InfluxQL_Float_first-13", Function::First, false);
    float_case("TestStream_InfluxQL_Float_last-14", Function::Last, true);
    float_case(
        "TestStream_InfluxQL_Float_percentile-16",
        Function::Percentile(50.0),
        false,
    );
    float_case(
        "TestStream_InfluxQL_Float_top-17",
        Function::Top { n: 2, tags: vec![] },
        true,
    );
}

#[test]
fn stream_selectors_keep_the_point() {
    let case = "TestStream_Selectors";
    let input = from_cpu_server_a(read_srpl(case), false);
    let out = run_chain(
        &mut [
            window(tumbling(10)),
            influxql(Function::Last, "value", false),
        ],
        input,
    );
    assert_matches_expected(case, &http_out(&out));
}

#[test]
fn stream_simple_mr_count() {
    let case = "TestStream_SimpleMR";
    let input = from_cpu_server_a(read_srpl(case), false);
    let out = run_chain(
        &mut [
            window(tumbling(10)),
            influxql(Function::Count, "value", false),
        ],
        input,
    );
    assert_matches_expected(case, &http_out(&out));
}

#[test]
fn stream_window_missing_count() {
    let case = "TestStream_WindowMissing";
    let input = from_cpu_server_a(read_srpl(case), false);
    let spec = WindowSpec {
        period: secs(3),
        every: secs(2),
        ..Default::default()
    };
    let out = run_chain(
        &mut [window(spec), influxql(Function::Count, "value", false)],
        input,
    );
    assert_matches_expected(case, &http_out(&out));
}

#[test]
fn batch_simple_mr_count_window_sum() {
    let case = "TestBatch_SimpleMR";
    let input = read_brpl(case, 0).into_iter().map(Message::Batch).collect();
    let mut chain = [
        influxql(Function::Count, "mean", false),
        window(tumbling(20)),
        influxql(Function::Sum, "count", false),
    ];
    let out = run_chain(&mut chain, input);
    assert_matches_expected(case, &http_out(&out));
}

// ---- window invariants ----

fn arb_times() -> impl Strategy<Value = Vec<i64>> {
    // Non-decreasing data times with gaps and repeats, as a stream delivers.
    prop::collection::vec(0i64..4, 1..200).prop_map(|steps| {
        let mut t = 0;
        steps
            .into_iter()
            .map(|d| {
                t += d;
                t * S / 2
            })
            .collect()
    })
}

fn pt(t: i64, i: usize) -> Point {
    Point {
        series: Arc::new(Series::new("m".into(), vec![]).expect("series")),
        fields: Fields::from_pairs([(Name::from("i"), FieldValue::Integer(i as i64))]),
        time: t,
    }
}

fn emitted(spec: WindowSpec, times: &[i64]) -> Vec<Batch> {
    let mut node = WindowNode::new(spec).expect("spec");
    let mut out = Vec::new();
    for (i, &t) in times.iter().enumerate() {
        node.process(Message::Point(pt(t, i), GroupKey::nil()), &mut out)
            .expect("point");
    }
    out.into_iter()
        .filter_map(|m| match m {
            Message::Batch(b) => Some(b),
            _ => None,
        })
        .collect()
}

proptest! {
    #[test]
    fn batches_hold_only_their_window(times in arb_times(), period in 1i64..8, every in 0i64..8, align: bool, fill: bool) {
        let spec = WindowSpec { period: Some(period * S / 2), every: Some(every * S / 2), align, fill_period: fill, ..Default::default() };
        let period = period * S / 2;
        for b in emitted(spec, &times) {
            for p in &b.points {
                if every == 0 {
                    // Emitting on each point: (tmax − period, tmax].
                    prop_assert!(p.time > b.tmax - period && p.time <= b.tmax);
                } else {
                    // Kapacitor's left-closed window: [tmax − period, tmax).
                    prop_assert!(p.time >= b.tmax - period && p.time < b.tmax);
                }
            }
        }
    }

    #[test]
    fn tumbling_windows_emit_each_point_once(times in arb_times(), every in 1i64..8, align: bool) {
        let every = every * S / 2;
        let spec = WindowSpec { period: Some(every), every: Some(every), align, ..Default::default() };
        let batches = emitted(spec, &times);
        let mut seen: Vec<i64> = batches
            .iter()
            .flat_map(|b| b.points.iter().map(|p| match p.fields.get("i") {
                Some(FieldValue::Integer(i)) => *i,
                _ => -1,
            }))
            .collect();
        // Every point before the last boundary crossed is emitted exactly
        // once; the rest are still buffered in the open window.
        let last_tmax = batches.last().map_or(i64::MIN, |b| b.tmax);
        let expected: Vec<i64> = times
            .iter()
            .enumerate()
            .filter(|&(_, &t)| t < last_tmax)
            .map(|(i, _)| i as i64)
            .collect();
        seen.sort();
        prop_assert_eq!(seen, expected);
    }

    #[test]
    fn count_windows_hold_the_last_period_points(n in 1usize..100, period in 1usize..10, every in 1usize..10) {
        let spec = WindowSpec { period_count: Some(period), every_count: Some(every), ..Default::default() };
        let times: Vec<i64> = (0..n as i64).collect();
        let batches = emitted(spec, &times);
        prop_assert_eq!(batches.len(), if n >= every { 1 + (n - every) / every } else { 0 });
        for (k, b) in batches.iter().enumerate() {
            let end = every * (k + 1);
            prop_assert_eq!(b.points.len(), period.min(end));
            prop_assert_eq!(b.tmax, (end - 1) as i64);
        }
    }
}

// ---- a tumbling window fused with count/sum/mean ----

/// One input of the fusion property: a point of group `g` at a time step,
/// with a value of some type (or none), or a barrier for every group.
#[derive(Clone, Debug)]
enum Input {
    Point {
        step: i64,
        late: bool,
        g: usize,
        v: Option<FieldValue>,
    },
    Barrier {
        step: i64,
    },
}

fn arb_value() -> impl Strategy<Value = Option<FieldValue>> {
    prop_oneof![
        6 => (-50i64..50).prop_map(|v| Some(FieldValue::Float(v as f64 / 4.0))),
        3 => (-50i64..50).prop_map(|v| Some(FieldValue::Integer(v))),
        1 => Just(Some(FieldValue::String(Name::from("x")))),
        1 => Just(Some(FieldValue::Float(-0.0))),
        1 => Just(None),
    ]
}

fn arb_inputs() -> impl Strategy<Value = Vec<Input>> {
    let input = prop_oneof![
        12 => (0i64..3, prop::bool::weighted(0.1), 0usize..3, arb_value())
            .prop_map(|(step, late, g, v)| Input::Point { step, late, g, v }),
        1 => (0i64..6).prop_map(|step| Input::Barrier { step }),
    ];
    prop::collection::vec(input, 1..150)
}

/// Feeds `inputs` to `nodes` (window, then the aggregate unless fused) and
/// returns what comes out, with the number of errors.
fn run_fusion(inputs: &[Input], mut nodes: Vec<Box<dyn Node>>) -> (Vec<Message>, usize) {
    let groups: Vec<GroupKey> = ["a", "b", "c"]
        .iter()
        .map(|h| GroupKey::from_parts(None, Arc::from([(Name::from("host"), Name::from(*h))])))
        .collect();
    let series: Vec<Arc<Series>> = ["a", "b", "c"]
        .iter()
        .map(|h| {
            Arc::new(Series::new("m".into(), vec![(Name::from("host"), Name::from(*h))]).unwrap())
        })
        .collect();
    let mut now = 0i64;
    let mut msgs = Vec::new();
    for input in inputs {
        match input {
            Input::Point { step, late, g, v } => {
                now += step * S / 2;
                let time = if *late { now - 3 * S } else { now };
                let fields = match v {
                    Some(v) => Fields::from_pairs([(Name::from("value"), v.clone())]),
                    None => Fields::from_pairs([(Name::from("other"), FieldValue::Integer(1))]),
                };
                msgs.push(Message::Point(
                    Point {
                        series: series[*g].clone(),
                        fields,
                        time,
                    },
                    groups[*g].clone(),
                ));
            }
            Input::Barrier { step } => {
                now += step * S / 2;
                msgs.push(Message::Barrier {
                    group: None,
                    time: now,
                });
            }
        }
    }
    let mut errors = 0;
    for node in nodes.iter_mut() {
        let mut out = Vec::new();
        for m in msgs {
            if node.process(m, &mut out).is_err() {
                errors += 1;
            }
        }
        msgs = out;
    }
    (msgs, errors)
}

proptest! {
    #[test]
    fn fused_window_aggregates_match_the_buffered_pair(
        inputs in arb_inputs(),
        period in 1i64..6,
        align: bool,
        fill: bool,
        function in prop_oneof![Just(Function::Count), Just(Function::Sum), Just(Function::Mean)],
        use_point_times: bool,
    ) {
        let spec = WindowSpec {
            period: Some(period * S / 2),
            every: Some(period * S / 2),
            align,
            fill_period: fill,
            ..Default::default()
        };
        prop_assert!(WindowNode::fusable(&spec));
        let aggregate = || {
            let mut s = InfluxQlSpec::new(function.clone(), "value");
            s.use_point_times = use_point_times;
            InfluxQlNode::new(s).expect("aggregate")
        };
        let buffered: Vec<Box<dyn Node>> = vec![
            Box::new(WindowNode::new(spec.clone()).expect("window")),
            Box::new(aggregate()),
        ];
        let mut fused = WindowNode::new(spec).expect("window");
        prop_assert!(fused.fuse(aggregate()).is_ok());
        let (want, want_errors) = run_fusion(&inputs, buffered);
        let (got, got_errors) = run_fusion(&inputs, vec![Box::new(fused)]);
        // Bit-for-bit equal values (NaN included), so compare renderings.
        prop_assert_eq!(format!("{got:?}"), format!("{want:?}"));
        // A barrier that closes several windows is one message to the
        // fused window (one error counted) but several batches to the
        // aggregate; a point closes one window either way.
        prop_assert_eq!(got_errors > 0, want_errors > 0);
        prop_assert!(got_errors <= want_errors);
    }
}

#[test]
fn only_tumbling_windows_and_incremental_aggregates_fuse() {
    let sliding = WindowSpec {
        period: Some(10 * S),
        every: Some(5 * S),
        ..Default::default()
    };
    assert!(!WindowNode::fusable(&sliding));
    assert!(!WindowNode::fusable(&WindowSpec {
        period: Some(10 * S),
        ..Default::default()
    }));
    let mut window = WindowNode::new(tumbling(10)).expect("window");
    let median = InfluxQlNode::new(InfluxQlSpec::new(Function::Median, "value")).expect("median");
    assert!(window.fuse(median).is_err());
}
