//! `derivative`: the rate of change of a field between consecutive points of
//! a group, per `.unit()` (default 1s). The first point of a group (or of a
//! batch) only primes the state. The result replaces the field named by
//! `.as()`, which defaults to the field itself, as in Kapacitor.

use std::collections::HashMap;

use dsl::NodeSpec;

use crate::batch::Message;
use crate::group::GroupKey;
use crate::node::{Node, NodeError};
use crate::point::{FieldValue, Fields, Name};
use crate::spec::{BuildError, SpecExt};

pub struct DerivativeNode {
    field: Name,
    as_name: Name,
    unit: i64,
    non_negative: bool,
    /// Per group: the last usable point's (time, value).
    previous: HashMap<GroupKey, (i64, f64)>,
}

/// What to do with one point.
enum Step {
    Emit(f64),
    /// Remember the point as the new previous one, emit nothing.
    Store,
    /// Neither remember nor emit (the field is missing or not a number).
    Skip,
}

fn as_float(v: Option<&FieldValue>) -> Option<f64> {
    match v? {
        FieldValue::Float(f) => Some(*f),
        FieldValue::Integer(i) => Some(*i as f64),
        FieldValue::Unsigned(u) => Some(*u as f64),
        _ => None,
    }
}

impl DerivativeNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let field = Name::from(spec.arg_string(0)?);
        let unit = spec.prop_duration("unit")?.unwrap_or(1_000_000_000);
        if unit <= 0 {
            return Err(BuildError::unchecked(spec, ".unit()"));
        }
        let as_name = spec
            .prop_string("as")?
            .map_or_else(|| field.clone(), Name::from);
        Ok(Self::new(
            field,
            as_name,
            unit,
            spec.has_prop("nonNegative"),
        ))
    }

    /// The rate of `field` per `unit` ns (positive), written to `as_name`.
    pub fn new(field: Name, as_name: Name, unit: i64, non_negative: bool) -> Self {
        DerivativeNode {
            field,
            as_name,
            unit,
            non_negative,
            previous: HashMap::new(),
        }
    }

    fn step(
        &self,
        previous: Option<(i64, f64)>,
        time: i64,
        fields: &Fields,
    ) -> (Step, Option<f64>) {
        let Some(current) = as_float(fields.get(&self.field)) else {
            return (Step::Skip, None);
        };
        let Some((prev_time, prev_value)) = previous else {
            return (Step::Store, Some(current));
        };
        let elapsed = time - prev_time;
        let diff = current - prev_value;
        if elapsed == 0 || (self.non_negative && diff < 0.0) {
            return (Step::Store, Some(current));
        }
        let value = diff / (elapsed as f64 / self.unit as f64);
        (Step::Emit(value), Some(current))
    }

    fn with_result(&self, fields: &Fields, value: f64) -> Fields {
        fields.with([(self.as_name.clone(), FieldValue::Float(value))])
    }

    fn missing(&self, fields: &Fields) -> NodeError {
        let what = fields
            .get(&self.field)
            .map_or("missing", FieldValue::type_name);
        NodeError::new(format!(
            "cannot perform derivative: field {:?} is {what}",
            &*self.field
        ))
    }
}

impl Node for DerivativeNode {
    fn groups(&self) -> usize {
        self.previous.len()
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match msg {
            Message::Point(mut point, group) => {
                let previous = self.previous.get(&group).copied();
                let (step, current) = self.step(previous, point.time, &point.fields);
                match step {
                    Step::Skip => return Err(self.missing(&point.fields)),
                    Step::Store => {}
                    Step::Emit(value) => {
                        point.fields = self.with_result(&point.fields, value);
                    }
                }
                if let Some(current) = current {
                    self.previous.insert(group.clone(), (point.time, current));
                }
                if matches!(step, Step::Emit(_)) {
                    out.push(Message::Point(point, group));
                }
            }
            Message::Batch(mut batch) => {
                let mut previous = None;
                let mut error = None;
                let points = std::mem::take(&mut batch.points);
                for mut p in points {
                    let (step, current) = self.step(previous, p.time, &p.fields);
                    if let Some(current) = current {
                        previous = Some((p.time, current));
                    }
                    match step {
                        Step::Skip => {
                            error.get_or_insert_with(|| self.missing(&p.fields));
                        }
                        Step::Store => {}
                        Step::Emit(value) => {
                            p.fields = self.with_result(&p.fields, value);
                            batch.points.push(p);
                        }
                    }
                }
                out.push(Message::Batch(batch));
                if let Some(e) = error {
                    return Err(e);
                }
            }
            Message::DeleteGroup(group) => {
                self.previous.remove(&group);
                out.push(Message::DeleteGroup(group));
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
    use crate::point::{Point, Series};

    const S: i64 = 1_000_000_000;

    fn spec(script: &str) -> NodeSpec {
        crate::testing::node_spec(script, "derivative")
    }

    fn values(node: &mut DerivativeNode, input: &[(i64, f64)]) -> Vec<(i64, FieldValue)> {
        let series = Arc::new(Series::new("packets".into(), vec![]).unwrap());
        let mut out = Vec::new();
        for (t, v) in input {
            let p = Point {
                series: series.clone(),
                fields: Fields::from_pairs([("value".into(), FieldValue::Float(*v))]),
                time: t * S,
            };
            node.process(Message::Point(p, GroupKey::nil()), &mut out)
                .unwrap();
        }
        out.into_iter()
            .filter_map(|m| match m {
                Message::Point(p, _) => Some((
                    p.time / S,
                    p.fields.get("d").or(p.fields.get("value")).cloned()?,
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn rate_per_unit_after_the_first_point() {
        let mut node =
            DerivativeNode::from_spec(&spec("stream|from()|derivative('value')")).unwrap();
        let got = values(&mut node, &[(0, 1.0), (2, 5.0), (3, 4.0)]);
        assert_eq!(
            got,
            [(2, FieldValue::Float(2.0)), (3, FieldValue::Float(-1.0))]
        );
    }

    #[test]
    fn non_negative_with_unit_and_as() {
        let mut node = DerivativeNode::from_spec(&spec(
            "stream|from()|derivative('value').unit(10s).nonNegative().as('d')",
        ))
        .unwrap();
        let got = values(&mut node, &[(0, 1.0), (2, 5.0), (3, 4.0), (4, 6.0)]);
        assert_eq!(
            got,
            [(2, FieldValue::Float(20.0)), (4, FieldValue::Float(20.0))]
        );
    }
}
