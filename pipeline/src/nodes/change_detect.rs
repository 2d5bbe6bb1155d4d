//! `changeDetect`: passes a point only when one of the listed fields differs
//! from the last point passed in its group (the first point always passes).
//! Values of different types differ (`1` is not `1.0`). Inside a batch the
//! comparison starts again at each batch.

use std::collections::HashMap;

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::group::GroupKey;
use crate::node::{Node, NodeError};
use crate::point::{FieldValue, Fields, Name};
use crate::spec::BuildError;

pub struct ChangeDetectNode {
    fields: Vec<Name>,
    /// Per group: the listed fields' values of the last point passed.
    previous: HashMap<GroupKey, Vec<Option<FieldValue>>>,
}

impl ChangeDetectNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let mut fields = Vec::new();
        for v in &spec.args {
            match v {
                Value::String(s) | Value::Reference(s) => fields.push(Name::from(s.as_str())),
                other => {
                    return Err(BuildError::invalid(
                        spec,
                        format!(
                            "changeDetect() takes field names, not {}",
                            other.type_name()
                        ),
                    ));
                }
            }
        }
        if fields.is_empty() {
            return Err(BuildError::invalid(
                spec,
                "changeDetect() needs a field name",
            ));
        }
        Ok(ChangeDetectNode {
            fields,
            previous: HashMap::new(),
        })
    }

    /// Whether `fields` differ from `previous`; if so, `previous` takes them.
    /// A listed field the point lacks is ignored (and reported).
    fn changed(
        &self,
        previous: &mut Option<Vec<Option<FieldValue>>>,
        fields: &Fields,
        missing: &mut Option<NodeError>,
    ) -> bool {
        let mut changed = false;
        for (i, name) in self.fields.iter().enumerate() {
            let Some(value) = fields.get(name) else {
                missing.get_or_insert_with(|| {
                    NodeError::new(format!("changeDetect: expected field {name} not found"))
                });
                continue;
            };
            let before = previous.as_ref().and_then(|p| p[i].as_ref());
            if before != Some(value) {
                changed = true;
                break;
            }
        }
        if changed {
            *previous = Some(self.fields.iter().map(|f| fields.get(f).cloned()).collect());
        }
        changed
    }
}

impl Node for ChangeDetectNode {
    fn groups(&self) -> usize {
        self.previous.len()
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        let mut missing = None;
        match msg {
            Message::Point(point, group) => {
                let mut previous = self.previous.remove(&group);
                let changed = self.changed(&mut previous, &point.fields, &mut missing);
                if let Some(p) = previous {
                    self.previous.insert(group.clone(), p);
                }
                if changed {
                    out.push(Message::Point(point, group));
                }
            }
            Message::Batch(mut batch) => {
                let mut previous = None;
                let points = std::mem::take(&mut batch.points);
                for p in points {
                    if self.changed(&mut previous, &p.fields, &mut missing) {
                        batch.points.push(p);
                    }
                }
                out.push(Message::Batch(batch));
            }
            Message::DeleteGroup(group) => {
                self.previous.remove(&group);
                out.push(Message::DeleteGroup(group));
            }
            other => out.push(other),
        }
        missing.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::point::{Point, Series};

    #[test]
    fn passes_first_point_and_changes_only() {
        let script = "stream|from()|changeDetect('v')";
        let spec = &crate::testing::node_spec(script, "changeDetect");
        let mut node = ChangeDetectNode::from_spec(spec).unwrap();
        let series = Arc::new(Series::new("m".into(), vec![]).unwrap());
        let values = [
            FieldValue::Integer(1),
            FieldValue::Integer(1),
            FieldValue::Float(1.0),
            FieldValue::Float(1.0),
            FieldValue::Integer(2),
        ];
        let mut out = Vec::new();
        for (t, v) in values.into_iter().enumerate() {
            let p = Point {
                series: series.clone(),
                fields: Fields::from_pairs([("v".into(), v)]),
                time: t as i64,
            };
            node.process(Message::Point(p, GroupKey::nil()), &mut out)
                .unwrap();
        }
        let times: Vec<i64> = out
            .iter()
            .filter_map(|m| match m {
                Message::Point(p, _) => Some(p.time),
                _ => None,
            })
            .collect();
        assert_eq!(times, [0, 2, 4]);
    }
}
