//! Kapacitor's result shape, `{"series":[{name, tags, columns, values}]}`:
//! what `httpOut` serves, what alert events carry as `data`, and what a
//! replay prints.

use serde::Serialize;
use serde_json::Value;

use crate::batch::Batch;
use crate::point::{FieldValue, Fields, Name, Point, Tags};
use crate::time::format_rfc3339;

/// One series: rows of one measurement and tag set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Series {
    pub name: String,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub tags: serde_json::Map<String, Value>,
    pub columns: Vec<String>,
    pub values: Vec<Vec<Value>>,
}

/// A result: zero or more series.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Result {
    pub series: Vec<Series>,
}

/// A field value as JSON; NaN and infinities (which JSON lacks) are null.
pub fn field_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        FieldValue::Integer(i) => Value::from(*i),
        FieldValue::Unsigned(u) => Value::from(*u),
        FieldValue::String(s) => Value::from(&**s),
        FieldValue::Boolean(b) => Value::from(*b),
    }
}

fn tags_json(tags: &Tags) -> serde_json::Map<String, Value> {
    tags.iter()
        .map(|(k, v)| (k.to_string(), Value::from(&**v)))
        .collect()
}

/// `time` first, then the field names sorted, as Kapacitor orders columns.
fn columns<'a>(fields: impl Iterator<Item = &'a Fields>) -> Vec<Name> {
    let mut names: Vec<Name> = Vec::new();
    for f in fields {
        for k in f.keys().iter() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    names.sort();
    names
}

fn row(time: i64, fields: &Fields, columns: &[Name]) -> Vec<Value> {
    let mut row = Vec::with_capacity(columns.len() + 1);
    row.push(Value::from(format_rfc3339(time)));
    row.extend(
        columns
            .iter()
            .map(|c| fields.get(c).map_or(Value::Null, field_json)),
    );
    row
}

fn series(name: &str, tags: &Tags, cols: Vec<Name>, values: Vec<Vec<Value>>) -> Series {
    let mut columns = Vec::with_capacity(cols.len() + 1);
    columns.push("time".to_string());
    columns.extend(cols.iter().map(|c| c.to_string()));
    Series {
        name: name.to_string(),
        tags: tags_json(tags),
        columns,
        values,
    }
}

impl Series {
    /// A point as a one-row series, with all its tags.
    pub fn from_point(p: &Point) -> Series {
        let cols = columns(std::iter::once(&p.fields));
        let values = vec![row(p.time, &p.fields, &cols)];
        series(p.measurement(), p.tags(), cols, values)
    }

    /// A batch as one series with the group's tags and one row per point.
    /// As Kapacitor's `BatchToRow`: the columns are the first point's fields
    /// plus its tags outside the group, sorted after `time`.
    pub fn from_batch(b: &Batch) -> Series {
        let mut cols: Vec<Name> = Vec::new();
        if let Some(first) = b.points.first() {
            cols.extend(first.fields.keys().iter().cloned());
            for (k, _) in first.tags.iter() {
                if !b.tags.iter().any(|(g, _)| g == k) && !cols.contains(k) {
                    cols.push(k.clone());
                }
            }
        }
        cols.sort();
        let values = b
            .points
            .iter()
            .map(|p| {
                let mut row = Vec::with_capacity(cols.len() + 1);
                row.push(Value::from(format_rfc3339(p.time)));
                row.extend(cols.iter().map(|c| {
                    match p.fields.get(c) {
                        Some(v) => field_json(v),
                        None => p
                            .tags
                            .iter()
                            .find(|(k, _)| k == c)
                            .map_or(Value::Null, |(_, v)| Value::from(&**v)),
                    }
                }));
                row
            })
            .collect();
        series(&b.name, &b.tags, cols, values)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::batch::BatchPoint;
    use crate::group::GroupKey;
    use crate::point::Series as PointSeries;

    #[test]
    fn point_series_has_time_then_sorted_fields_and_its_tags() {
        let s = PointSeries::new("cpu".into(), vec![("host".into(), "a".into())]).unwrap();
        let p = Point {
            series: Arc::new(s),
            fields: Fields::from_pairs([
                ("value".into(), FieldValue::Float(1.5)),
                ("count".into(), FieldValue::Integer(3)),
            ]),
            time: 31_536_010_000_000_000,
        };
        let json = serde_json::to_value(Result {
            series: vec![Series::from_point(&p)],
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"series": [{"name": "cpu", "tags": {"host": "a"},
                "columns": ["time", "count", "value"],
                "values": [["1971-01-01T00:00:10Z", 3, 1.5]]}]})
        );
    }

    #[test]
    fn batch_point_tags_outside_the_group_become_columns() {
        let tags = |pairs: &[(&str, &str)]| -> Tags {
            pairs
                .iter()
                .map(|(k, v)| (Name::from(*k), Name::from(*v)))
                .collect::<Vec<_>>()
                .into()
        };
        let b = Batch {
            name: "cpu".into(),
            tmax: 1,
            group: GroupKey::from_parts(None, tags(&[("host", "a")])),
            tags: tags(&[("host", "a")]),
            points: vec![BatchPoint {
                time: 0,
                fields: Fields::from_pairs([("value".into(), FieldValue::Float(1.0))]),
                tags: tags(&[("host", "a"), ("type", "idle")]),
            }],
        };
        let json = serde_json::to_value(Series::from_batch(&b)).unwrap();
        assert_eq!(json["tags"], serde_json::json!({"host": "a"}));
        assert_eq!(
            json["columns"],
            serde_json::json!(["time", "type", "value"])
        );
        assert_eq!(
            json["values"][0],
            serde_json::json!(["1970-01-01T00:00:00Z", "idle", 1.0])
        );
    }

    #[test]
    fn batch_columns_come_from_the_first_point_as_in_kapacitor() {
        let b = Batch {
            name: "m".into(),
            tmax: 2,
            group: GroupKey::nil(),
            tags: Tags::from([]),
            points: vec![
                BatchPoint {
                    time: 1,
                    fields: Fields::from_pairs([("a".into(), FieldValue::Float(1.0))]),
                    tags: Tags::from([]),
                },
                BatchPoint {
                    time: 2,
                    fields: Fields::from_pairs([("b".into(), FieldValue::Boolean(true))]),
                    tags: Tags::from([]),
                },
            ],
        };
        let json = serde_json::to_value(Series::from_batch(&b)).unwrap();
        assert!(json.get("tags").is_none());
        // Kapacitor takes the columns from the first point only.
        assert_eq!(json["columns"], serde_json::json!(["time", "a"]));
        assert_eq!(
            json["values"][1],
            serde_json::json!(["1970-01-01T00:00:00.000000002Z", null])
        );
    }
}
