//! Kapacitor's recording files, so its users' test data works here: `.srpl`
//! (stream: per point three lines, database, retention policy and one line
//! of line protocol) and `.brpl` (batch: one JSON batch per line).

use std::sync::Arc;

use ingest::lp::{DecodeOptions, Decoder, Precision};
use pipeline::time::parse_rfc3339;
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
        if jb.points.is_empty() {
            continue;
        }
        let group_tags: Vec<(Name, Name)> = jb
            .tags
            .iter()
            .map(|(k, v)| (Name::from(k.as_str()), Name::from(v.as_str())))
            .collect();
        let group_tags: pipeline::Tags = group_tags.into();
        let name = Name::from(jb.name.as_str());
        let group = GroupKey::from_parts(jb.byname.then(|| name.clone()), group_tags.clone());
        let mut points = Vec::with_capacity(jb.points.len());
        for p in jb.points {
            let time = parse_rfc3339(&p.time).map_err(|e| error(line_no, e))?;
            let tags = match p.tags {
                Some(t) if !t.is_empty() => {
                    let v: Vec<(Name, Name)> = t
                        .iter()
                        .map(|(k, v)| (Name::from(k.as_str()), Name::from(v.as_str())))
                        .collect();
                    pipeline::Tags::from(v)
                }
                _ => group_tags.clone(),
            };
            let mut pairs = Vec::with_capacity(p.fields.len());
            for (k, v) in p.fields {
                let value = match v {
                    // JSON numbers decode to float64 in Go, whatever they look like.
                    serde_json::Value::Number(n) => {
                        FieldValue::Float(n.as_f64().unwrap_or(f64::NAN))
                    }
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
        out.push(Batch {
            name,
            tmax,
            group,
            tags: group_tags,
            points,
        });
    }
    Ok(out)
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
