//! Property tests for the line-protocol decoder:
//! * a rendered point decodes back to itself;
//! * on inputs where wire.md §5.3 documents that the `influxdb-line-protocol`
//!   crate and InfluxDB 1.x agree, our decoder agrees with the crate;
//! * arbitrary bytes never panic, and garbage never costs a good line.

use std::sync::Arc;

use ingest::lp::{DecodeOptions, Decoder, MAX_NANO, MIN_NANO, Precision};
use pipeline::{FieldValue, Fields, Name, Point, Series};
use proptest::prelude::*;

fn opts(accept_unsigned: bool) -> DecodeOptions {
    DecodeOptions {
        precision: Precision::Nanosecond,
        now_ns: 0,
        accept_unsigned,
    }
}

fn decode(input: &[u8], accept_unsigned: bool) -> (Vec<Point>, Vec<ingest::lp::LineError>) {
    let (mut points, mut errors) = (Vec::new(), Vec::new());
    Decoder::new().decode(input, &opts(accept_unsigned), &mut points, &mut errors);
    (points, errors)
}

/// A name made of plain characters (including the ones line protocol
/// escapes) and backslashes that escape nothing (`\q`), which 1.x keeps.
/// It never starts with what a line may not start with (`#`, whitespace).
fn name() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        8 => "[a-zA-Z0-9_.-]",
        1 => Just(" ".to_string()),
        1 => Just(",".to_string()),
        1 => Just("=".to_string()),
        1 => "[éü日本µ]",
        1 => Just("\"".to_string()),
        1 => "\\\\[a-z]",
    ];
    ("[a-zA-Z_]", prop::collection::vec(atom, 0..8))
        .prop_map(|(first, rest)| first + &rest.concat())
}

fn field_value(unsigned: bool) -> impl Strategy<Value = FieldValue> {
    let float = any::<f64>().prop_filter("finite", |f| f.is_finite());
    prop_oneof![
        float.prop_map(FieldValue::Float),
        (-1e6f64..1e6).prop_map(FieldValue::Float),
        any::<i64>().prop_map(FieldValue::Integer),
        any::<u64>().prop_map(move |u| if unsigned {
            FieldValue::Unsigned(u)
        } else {
            FieldValue::Integer(u as i64)
        }),
        any::<bool>().prop_map(FieldValue::Boolean),
        "[a-z \"\\\\,=\n日]{0,12}".prop_map(|s| FieldValue::String(Name::from(s))),
    ]
}

fn point(unsigned: bool) -> impl Strategy<Value = Point> {
    (
        name(),
        prop::collection::btree_map(name(), name(), 0..4),
        prop::collection::btree_map(name(), field_value(unsigned), 1..6),
        MIN_NANO..=MAX_NANO,
    )
        .prop_map(|(m, tags, fields, time)| {
            let tags = tags
                .into_iter()
                .map(|(k, v)| (Name::from(k), Name::from(v)))
                .collect();
            let series = Series::new(Name::from(m), tags).expect("unique, non-empty");
            Point {
                series: Arc::new(series),
                fields: Fields::from_pairs(fields.into_iter().map(|(k, v)| (Name::from(k), v))),
                time,
            }
        })
}

/// What both parsers report, normalised: tags sorted (the crate keeps the
/// written order), values as comparable text.
type Normal = (
    String,
    Vec<(String, String)>,
    Vec<(String, String)>,
    Option<i64>,
);

fn ours(p: &Point) -> Normal {
    let tags = p
        .tags()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let fields = p
        .fields
        .iter()
        .map(|(k, v)| (k.to_string(), format!("{v:?}")))
        .collect();
    (p.measurement().to_string(), tags, fields, Some(p.time))
}

fn theirs(line: &str) -> Normal {
    use influxdb_line_protocol::FieldValue as F;
    let parsed = influxdb_line_protocol::parse_lines(line)
        .next()
        .expect("one line")
        .unwrap_or_else(|e| panic!("crate rejects {line:?}: {e}"));
    let mut tags: Vec<(String, String)> = parsed
        .series
        .tag_set
        .iter()
        .flatten()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tags.sort();
    let fields = parsed
        .field_set
        .iter()
        .map(|(k, v)| {
            let v = match v {
                F::F64(f) => FieldValue::Float(*f),
                F::I64(i) => FieldValue::Integer(*i),
                F::U64(u) => FieldValue::Unsigned(*u),
                F::String(s) => FieldValue::String(Name::from(s.as_str())),
                F::Boolean(b) => FieldValue::Boolean(*b),
            };
            (k.to_string(), format!("{v:?}"))
        })
        .collect();
    (
        parsed.series.measurement.to_string(),
        tags,
        fields,
        parsed.timestamp,
    )
}

/// A well-formed line that no garbage can be mistaken for.
const GOOD: &str = "good,host=a v=1.5,n=2i 1700000000000000000";

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn rendered_points_decode_to_themselves(p in point(true)) {
        let line = p.to_string();
        let (points, errors) = decode(line.as_bytes(), true);
        prop_assert!(errors.is_empty(), "{line:?}: {errors:?}");
        prop_assert_eq!(points, vec![p]);
    }

    #[test]
    fn many_points_in_one_body_decode_in_order(ps in prop::collection::vec(point(false), 1..20)) {
        let body: String = ps.iter().map(|p| format!("{p}\n")).collect();
        let mut d = Decoder::new();
        for _ in 0..2 {
            // Twice: the second pass runs on warm caches.
            let (mut points, mut errors) = (Vec::new(), Vec::new());
            d.decode(body.as_bytes(), &opts(false), &mut points, &mut errors);
            prop_assert!(errors.is_empty(), "{errors:?}");
            prop_assert_eq!(&points, &ps);
        }
    }

    #[test]
    fn agrees_with_the_crate_where_documented(p in point(true)) {
        // The crate reads `\\` differently (§5.3); our names never hold it.
        let line = p.to_string();
        prop_assert_eq!(ours(&p), theirs(&line), "{}", line);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..512), unsigned in any::<bool>()) {
        let (_, errors) = decode(&input, unsigned);
        for e in errors {
            prop_assert!(e.line >= 1);
            prop_assert!(e.text.len() <= ingest::lp::MAX_ERROR_TEXT);
        }
    }

    #[test]
    fn line_protocol_ish_bytes_never_panic(input in "[a-z0-9 ,=\"\\\\.\\-\t\r\n#iuTfe+]{0,200}") {
        decode(input.as_bytes(), false);
        decode(input.as_bytes(), true);
    }

    /// Garbage before a good line never costs it. A quote or backslash can
    /// legitimately join the next line to the garbage (1.x framing: a newline
    /// inside a string or after a backslash does not end a line), so those
    /// two bytes are left out of the garbage.
    #[test]
    fn garbage_never_costs_a_good_line(garbage in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut input: Vec<u8> = garbage.into_iter().filter(|&c| c != b'"' && c != b'\\').collect();
        input.push(b'\n');
        input.extend_from_slice(GOOD.as_bytes());
        input.push(b'\n');
        let (points, _) = decode(&input, false);
        let good = decode(GOOD.as_bytes(), false).0;
        prop_assert_eq!(points.last(), good.first());
    }

    #[test]
    fn a_bad_line_between_good_ones_costs_only_itself(
        before in prop::collection::vec(point(false), 0..5),
        garbage in prop::collection::vec(any::<u8>(), 1..64),
        after in prop::collection::vec(point(false), 0..5),
    ) {
        let garbage: Vec<u8> = garbage.into_iter().filter(|&c| !matches!(c, b'"' | b'\\' | b'\n')).collect();
        let mut input = Vec::new();
        for p in &before {
            input.extend_from_slice(format!("{p}\n").as_bytes());
        }
        input.extend_from_slice(&garbage);
        input.push(b'\n');
        for p in &after {
            input.extend_from_slice(format!("{p}\n").as_bytes());
        }
        let (points, errors) = decode(&input, false);
        prop_assert!(errors.len() <= 1);
        prop_assert_eq!(&points[..before.len()], &before[..]);
        prop_assert_eq!(&points[points.len() - after.len()..], &after[..]);
    }
}
