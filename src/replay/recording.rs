//! Kapacitor's recording files, so its users' test data works here: `.srpl`
//! (stream: per point three lines, database, retention policy and one line
//! of line protocol) and `.brpl` (batch: one JSON batch per line).

use std::sync::Arc;

use ingest::lp::{DecodeOptions, Decoder, Precision};
use pipeline::time::{format_rfc3339, parse_rfc3339};
use pipeline::{Batch, BatchPoint, DbRp, FieldValue, Fields, GroupKey, Name, Point};
use serde::Deserialize;

/// A recording that could not be read, with the line that says why.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("line {line}: {message}")]
pub struct RecordingError {
    pub line: usize,
    pub message: String,
}

fn error(line: usize, message: impl Into<String>) -> RecordingError {
    RecordingError {
        line,
        message: message.into(),
    }
}

/// Reads a `.srpl` stream recording; timestamps are in `precision`.
pub fn read_srpl(text: &[u8], precision: Precision) -> Result<Vec<(DbRp, Point)>, RecordingError> {
    let text = std::str::from_utf8(text).map_err(|e| error(0, format!("not UTF-8: {e}")))?;
    let lines: Vec<&str> = text.lines().collect();
    let mut decoder = Decoder::new();
    let opts = DecodeOptions {
        precision,
        now_ns: 0,
        accept_unsigned: true,
    };
    let mut out = Vec::with_capacity(lines.len() / 3);
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        let (Some(db), Some(rp), Some(lp)) = (lines.get(i), lines.get(i + 1), lines.get(i + 2))
        else {
            return Err(error(
                i + 1,
                "a point needs three lines: database, retention policy, line protocol",
            ));
        };
        let mut points = Vec::with_capacity(1);
        let mut errors = Vec::new();
        decoder.decode(lp.as_bytes(), &opts, &mut points, &mut errors);
        if let Some(e) = errors.first() {
            return Err(error(i + 3, e.to_string()));
        }
        let dbrp = DbRp::new(db.trim(), rp.trim());
        out.extend(points.into_iter().map(|p| (dbrp.clone(), p)));
        i += 3;
    }
    Ok(out)
}

#[derive(Deserialize)]
struct JsonBatch {
    name: String,
    #[serde(default)]
    tags: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    points: Vec<JsonPoint>,
    #[serde(default)]
    tmax: Option<String>,
    #[serde(default)]
    byname: bool,
}

#[derive(Deserialize)]
struct JsonPoint {
    #[serde(default)]
    fields: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    tags: Option<std::collections::BTreeMap<String, String>>,
    time: String,
}

/// Reads a `.brpl` batch recording: a stream of JSON batches, usually one
/// per line but free to span lines, as Kapacitor's decoder allows. Batches
/// with no points are skipped, as Kapacitor's replay does; a batch's time is
/// its `tmax`, raised to its last point's time if that is later.
pub fn read_brpl(text: &str) -> Result<Vec<Batch>, RecordingError> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<JsonBatch>();
    loop {
        let start = stream.byte_offset();
        let skipped = text[start..].len() - text[start..].trim_start().len();
        let line_no = text[..start + skipped].matches('\n').count() + 1;
        let jb = match stream.next() {
            None => break,
            Some(Ok(jb)) => jb,
            Some(Err(e)) => return Err(error(e.line(), e.to_string())),
        };
        out.extend(to_batch(jb, line_no)?);
    }
    Ok(out)
}

/// Reads one batch written on one line (line `line_no` of its file), as
/// [`read_brpl`] reads each; `None` for a batch with no points.
pub fn read_brpl_line(line: &str, line_no: usize) -> Result<Option<Batch>, RecordingError> {
    let jb: JsonBatch = serde_json::from_str(line).map_err(|e| error(line_no, e.to_string()))?;
    to_batch(jb, line_no)
}

fn tags_of(map: &std::collections::BTreeMap<String, String>) -> pipeline::Tags {
    let v: Vec<(Name, Name)> = map
        .iter()
        .map(|(k, v)| (Name::from(k.as_str()), Name::from(v.as_str())))
        .collect();
    v.into()
}

fn to_batch(jb: JsonBatch, line_no: usize) -> Result<Option<Batch>, RecordingError> {
    if jb.points.is_empty() {
        return Ok(None);
    }
    let group_tags = tags_of(&jb.tags);
    let name = Name::from(jb.name.as_str());
    let group = GroupKey::from_parts(jb.byname.then(|| name.clone()), group_tags.clone());
    let mut points = Vec::with_capacity(jb.points.len());
    for p in jb.points {
        let time = parse_rfc3339(&p.time).map_err(|e| error(line_no, e))?;
        let tags = match p.tags {
            Some(t) if !t.is_empty() => tags_of(&t),
            _ => group_tags.clone(),
        };
        let mut pairs = Vec::with_capacity(p.fields.len());
        for (k, v) in p.fields {
            let value = match v {
                // JSON numbers decode to float64 in Go, whatever they look like.
                serde_json::Value::Number(n) => FieldValue::Float(n.as_f64().unwrap_or(f64::NAN)),
                serde_json::Value::String(s) => FieldValue::String(Arc::from(s.as_str())),
                serde_json::Value::Bool(b) => FieldValue::Boolean(b),
                other => {
                    return Err(error(
                        line_no,
                        format!("field {k:?} has unsupported value {other}"),
                    ));
                }
            };
            pairs.push((Name::from(k.as_str()), value));
        }
        points.push(BatchPoint {
            time,
            fields: Fields::from_pairs(pairs),
            tags,
        });
    }
    let last = points.iter().map(|p| p.time).max().unwrap_or(i64::MIN);
    let tmax = match jb.tmax.as_deref() {
        Some(t) => parse_rfc3339(t).map_err(|e| error(line_no, e))?.max(last),
        None => last,
    };
    Ok(Some(Batch {
        name,
        tmax,
        group,
        tags: group_tags,
        points,
    }))
}

/// Appends `batch` to `out` as one `.brpl` line (without its newline), as
/// Kapacitor records a batch: `tmax`, `byname` and the group's tags, each
/// point's tags only where they differ from the group's. Numbers are JSON
/// numbers (read back as floats, as Kapacitor reads them); a float that is
/// not finite has no JSON form and is left out.
pub fn write_brpl_line(batch: &Batch, out: &mut String) {
    use serde_json::{Map, Value};
    let tags = |t: &pipeline::Tags| -> Value {
        Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect(),
        )
    };
    let points: Vec<Value> = batch
        .points
        .iter()
        .map(|p| {
            let fields: Map<String, Value> = p
                .fields
                .iter()
                .filter_map(|(k, v)| {
                    let v = match v {
                        FieldValue::Float(f) => {
                            serde_json::Number::from_f64(*f).map(Value::Number)?
                        }
                        FieldValue::Integer(i) => Value::from(*i),
                        FieldValue::Unsigned(u) => Value::from(*u),
                        FieldValue::String(s) => Value::String(s.to_string()),
                        FieldValue::Boolean(b) => Value::Bool(*b),
                    };
                    Some((k.to_string(), v))
                })
                .collect();
            let mut point = Map::new();
            point.insert("fields".into(), Value::Object(fields));
            if p.tags != batch.tags {
                point.insert("tags".into(), tags(&p.tags));
            }
            point.insert("time".into(), Value::String(format_rfc3339(p.time)));
            Value::Object(point)
        })
        .collect();
    let line = serde_json::json!({
        "name": batch.name.to_string(),
        "tmax": format_rfc3339(batch.tmax),
        "byname": batch.group.measurement().is_some(),
        "tags": tags(&batch.tags),
        "points": points,
    });
    out.push_str(&line.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srpl_three_lines_per_point_in_seconds() {
        let text = b"dbname\nrpname\ncpu,type=idle,host=serverA value=97.1 0000000001\ndb2\nrp2\nmem used=3i 2\n";
        let points = read_srpl(text, Precision::Second).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].0, DbRp::new("dbname", "rpname"));
        assert_eq!(points[0].1.time, 1_000_000_000);
        assert_eq!(
            points[0].1.fields.get("value"),
            Some(&FieldValue::Float(97.1))
        );
        assert_eq!(
            points[1].1.fields.get("used"),
            Some(&FieldValue::Integer(3))
        );
    }

    #[test]
    fn srpl_errors_name_the_line() {
        let err = read_srpl(b"db\nrp\ncpu value= 1\n", Precision::Second).unwrap_err();
        assert_eq!(err.line, 3);
        let err = read_srpl(b"db\nrp\n", Precision::Second).unwrap_err();
        assert_eq!(err.line, 1);
    }

    #[test]
    fn brpl_batches_with_group_tags_and_tmax() {
        let text = r#"{"name":"cpu","tags":{"host":"a"},"points":[{"fields":{"mean":1},"time":"2015-10-30T17:14:12Z"},{"fields":{"mean":2.5},"tags":{"host":"a","cpu":"c0"},"time":"2015-10-30T17:14:14Z"}]}
{"name":"cpu","points":[]}
"#;
        let batches = read_brpl(text).unwrap();
        assert_eq!(batches.len(), 1);
        let spanning = "{\"name\":\"m\",\"points\":[\n  {\"fields\":{\"v\":1},\"time\":\"2015-10-30T17:14:12Z\"}\n]}\n{\"name\":\"m\",\"points\":[{\"fields\":{\"v\":2},\"time\":\"2015-10-30T17:14:13Z\"}]}";
        assert_eq!(read_brpl(spanning).unwrap().len(), 2);
        assert_eq!(read_brpl("{\"name\":\n  oops}").unwrap_err().line, 2);
        let b = &batches[0];
        assert_eq!(b.group.id(), "host=a");
        assert_eq!(b.tmax, parse_rfc3339("2015-10-30T17:14:14Z").unwrap());
        assert_eq!(
            b.points[0].fields.get("mean"),
            Some(&FieldValue::Float(1.0))
        );
        assert_eq!(b.points[0].tags.len(), 1);
        assert_eq!(b.points[1].tags.len(), 2);
    }
}
