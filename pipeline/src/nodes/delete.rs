//! `delete`: removes fields and tags from points and batches. Deleting a tag
//! the point is grouped by removes it from the group too, as Kapacitor does
//! for points (a batch keeps its group).

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::group::GroupKey;
use crate::node::{Node, NodeError};
use crate::point::{Fields, Name, Point, Series, Tags};
use crate::spec::BuildError;

pub struct DeleteNode {
    fields: Vec<Name>,
    tags: Vec<Name>,
}

impl DeleteNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let mut fields = Vec::new();
        let mut tags = Vec::new();
        for p in &spec.properties {
            let list = match p.name.as_str() {
                "field" => &mut fields,
                "tag" => &mut tags,
                _ => continue,
            };
            for v in &p.args {
                match v {
                    Value::String(s) | Value::Reference(s) => list.push(Name::from(s.as_str())),
                    other => {
                        return Err(BuildError::invalid(
                            spec,
                            format!(".{}() takes a name, not {}", p.name, other.type_name()),
                        ));
                    }
                }
            }
        }
        Ok(DeleteNode { fields, tags })
    }

    fn delete_fields(&self, fields: &Fields) -> Option<Fields> {
        if !self.fields.iter().any(|f| fields.get(f).is_some()) {
            return None;
        }
        Some(Fields::from_pairs(
            fields
                .iter()
                .filter(|(k, _)| !self.fields.contains(k))
                .map(|(k, v)| (k.clone(), v.clone())),
        ))
    }

    fn delete_tags(&self, tags: &Tags) -> Option<Vec<(Name, Name)>> {
        if !tags.iter().any(|(k, _)| self.tags.contains(k)) {
            return None;
        }
        Some(
            tags.iter()
                .filter(|(k, _)| !self.tags.contains(k))
                .cloned()
                .collect(),
        )
    }

    fn delete_point(&self, mut point: Point, group: GroupKey) -> Result<Message, NodeError> {
        if let Some(fields) = self.delete_fields(&point.fields) {
            point.fields = fields;
        }
        if let Some(tags) = self.delete_tags(point.tags()) {
            let series = Series::new(point.measurement().clone(), tags)
                .map_err(|e| NodeError::new(e.to_string()))?;
            point.series = series.into();
        }
        let group = if group.tags().iter().any(|(k, _)| self.tags.contains(k)) {
            let kept: Vec<(Name, Name)> = group
                .tags()
                .iter()
                .filter(|(k, _)| !self.tags.contains(k))
                .cloned()
                .collect();
            GroupKey::from_parts(group.measurement().cloned(), kept.into())
        } else {
            group
        };
        Ok(Message::Point(point, group))
    }
}

impl Node for DeleteNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match msg {
            Message::Point(point, group) => out.push(self.delete_point(point, group)?),
            Message::Batch(mut batch) => {
                batch.rewrite(|f| self.delete_fields(f), |t| self.delete_tags(t));
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
    use crate::group::Dimensions;
    use crate::point::FieldValue;

    fn spec(script: &str) -> NodeSpec {
        crate::testing::node_spec(script, "delete")
    }

    #[test]
    fn removes_fields_tags_and_the_deleted_dimension() {
        let mut node =
            DeleteNode::from_spec(&spec("stream|from()|delete().field('a').tag('host')")).unwrap();
        let series = Series::new(
            "cpu".into(),
            vec![("host".into(), "A".into()), ("dc".into(), "x".into())],
        )
        .unwrap();
        let dims = Dimensions::new(false, vec!["host".into(), "dc".into()]);
        let group = GroupKey::for_series(&dims, &series);
        let p = Point {
            series: Arc::new(series),
            fields: Fields::from_pairs([
                ("a".into(), FieldValue::Float(1.0)),
                ("b".into(), FieldValue::Float(2.0)),
            ]),
            time: 1,
        };
        let mut out = Vec::new();
        node.process(Message::Point(p, group), &mut out).unwrap();
        let Some(Message::Point(p, g)) = out.pop() else {
            panic!("no point")
        };
        assert_eq!(p.fields.get("a"), None);
        assert_eq!(p.fields.get("b"), Some(&FieldValue::Float(2.0)));
        assert_eq!(p.series.tag("host"), None);
        assert_eq!(g.id(), "dc=x");
    }
}
