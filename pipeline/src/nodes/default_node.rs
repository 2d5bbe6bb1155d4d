//! `default`: fills in fields and tags a point or batch lacks.
//!
//! As in Kapacitor, a field counts as missing when absent, a tag when absent
//! or empty. Defaulted tags do not change the point's group.

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::node::{Node, NodeError};
use crate::point::{FieldValue, Fields, Name, Point, Series, Tags};
use crate::spec::BuildError;

pub struct DefaultNode {
    fields: Vec<(Name, FieldValue)>,
    tags: Vec<(Name, Name)>,
}

impl DefaultNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let mut fields: Vec<(Name, FieldValue)> = Vec::new();
        let mut tags: Vec<(Name, Name)> = Vec::new();
        for p in &spec.properties {
            match (p.name.as_str(), p.args.as_slice()) {
                ("field", [name, value]) => {
                    let name = name_of(spec, "field", name)?;
                    let value = field_default(spec, value)?;
                    // A later .field() for the same name wins, as a Go map would.
                    fields.retain(|(k, _)| *k != name);
                    fields.push((name, value));
                }
                ("tag", [name, value]) => {
                    let name = name_of(spec, "tag", name)?;
                    let value = name_of(spec, "tag", value)?;
                    tags.retain(|(k, _)| *k != name);
                    tags.push((name, value));
                }
                ("field" | "tag", _) => {
                    return Err(BuildError::invalid(
                        spec,
                        format!(".{}() takes a name and a value", p.name),
                    ));
                }
                _ => {}
            }
        }
        Ok(DefaultNode { fields, tags })
    }

    fn fill_fields(&self, fields: &Fields) -> Option<Fields> {
        if self.fields.iter().all(|(k, _)| fields.get(k).is_some()) {
            return None;
        }
        let pairs = fields.iter().map(|(k, v)| (k.clone(), v.clone())).chain(
            self.fields
                .iter()
                .filter(|(k, _)| fields.get(k).is_none())
                .cloned(),
        );
        Some(Fields::from_pairs(pairs))
    }

    fn fill_tags(&self, tags: &Tags) -> Option<Vec<(Name, Name)>> {
        let missing = |k: &Name| {
            tags.iter()
                .find(|(t, _)| t == k)
                .is_none_or(|(_, v)| v.is_empty())
        };
        if !self.tags.iter().any(|(k, _)| missing(k)) {
            return None;
        }
        let mut out: Vec<(Name, Name)> = tags
            .iter()
            .filter(|(k, v)| !v.is_empty() || !self.tags.iter().any(|(d, _)| d == k))
            .cloned()
            .collect();
        for (k, v) in &self.tags {
            if missing(k) {
                out.push((k.clone(), v.clone()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Some(out)
    }

    fn fill_point(&self, mut point: Point) -> Result<Point, NodeError> {
        if let Some(fields) = self.fill_fields(&point.fields) {
            point.fields = fields;
        }
        if let Some(tags) = self.fill_tags(point.tags()) {
            let series = Series::new(point.measurement().clone(), tags)
                .map_err(|e| NodeError::new(e.to_string()))?;
            point.series = series.into();
        }
        Ok(point)
    }
}

/// A `.field(name, default)`'s default: a number, boolean or string.
pub(crate) fn field_default(spec: &NodeSpec, v: &Value) -> Result<FieldValue, BuildError> {
    Ok(match v {
        Value::Float(f) => FieldValue::Float(*f),
        Value::Int(i) => FieldValue::Integer(*i),
        Value::Bool(b) => FieldValue::Boolean(*b),
        Value::String(s) => FieldValue::String(Name::from(s.as_str())),
        other => {
            return Err(BuildError::invalid(
                spec,
                format!(".field() cannot default to {}", other.type_name()),
            ));
        }
    })
}

fn name_of(spec: &NodeSpec, prop: &str, v: &Value) -> Result<Name, BuildError> {
    match v {
        Value::String(s) | Value::Reference(s) => Ok(Name::from(s.as_str())),
        other => Err(BuildError::invalid(
            spec,
            format!(".{prop}() takes a string name, not {}", other.type_name()),
        )),
    }
}

impl Node for DefaultNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match msg {
            Message::Point(point, group) => {
                out.push(Message::Point(self.fill_point(point)?, group));
            }
            Message::Batch(mut batch) => {
                batch.rewrite(|f| self.fill_fields(f), |t| self.fill_tags(t));
                out.push(Message::Batch(batch));
            }
            other => out.push(other),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::group::GroupKey;

    fn spec(script: &str) -> NodeSpec {
        crate::testing::node_spec(script, "default")
    }

    fn point(tags: &[(&str, &str)], fields: &[(&str, f64)]) -> Point {
        let tags = tags
            .iter()
            .map(|(k, v)| (Name::from(*k), Name::from(*v)))
            .collect();
        Point {
            series: Arc::new(Series::new("cpu".into(), tags).unwrap()),
            fields: Fields::from_pairs(
                fields
                    .iter()
                    .map(|(k, v)| (Name::from(*k), FieldValue::Float(*v))),
            ),
            time: 1,
        }
    }

    fn run(node: &mut DefaultNode, p: Point) -> Point {
        let mut out = Vec::new();
        node.process(Message::Point(p, GroupKey::nil()), &mut out)
            .unwrap();
        match out.pop() {
            Some(Message::Point(p, _)) => p,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn fills_missing_fields_and_empty_or_missing_tags_only() {
        let mut node = DefaultNode::from_spec(&spec(
            "stream|from()|default().field('value', 1.0).field('n', 2).tag('host', 'A').tag('dc', 'x')",
        ))
        .unwrap();
        let p = run(
            &mut node,
            point(&[("host", ""), ("dc", "eu")], &[("value", 5.0)]),
        );
        assert_eq!(p.fields.get("value"), Some(&FieldValue::Float(5.0)));
        assert_eq!(p.fields.get("n"), Some(&FieldValue::Integer(2)));
        assert_eq!(p.series.tag("host").map(|v| &**v), Some("A"));
        assert_eq!(p.series.tag("dc").map(|v| &**v), Some("eu"));
        let untouched = point(
            &[("host", "B"), ("dc", "eu")],
            &[("value", 1.0), ("n", 3.0)],
        );
        assert_eq!(run(&mut node, untouched.clone()), untouched);
    }
}
