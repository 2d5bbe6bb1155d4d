//! `stateDuration` and `stateCount`: how long, or for how many consecutive
//! points, a lambda has been true in each group; -1 when it is false.
//! Inside a batch the state starts again at each batch. A point whose lambda
//! cannot be evaluated is dropped. Stateful lambda functions keep their
//! state per group.

use std::collections::HashMap;

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::group::GroupKey;
use crate::lambda::{LambdaRunner, Scope};
use crate::node::{Node, NodeError};
use crate::point::{FieldValue, Fields, Name};
use crate::spec::{BuildError, SpecExt};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Measure {
    /// Elapsed time since the state began, in units of this many ns.
    Duration {
        unit: i64,
    },
    Count,
}

/// One group's state: when the state began, or how many points it has held.
#[derive(Clone, Copy, Debug, Default)]
struct Tracker {
    start: Option<i64>,
    count: i64,
}

impl Tracker {
    fn track(&mut self, measure: Measure, time: i64, in_state: bool) -> FieldValue {
        if !in_state {
            *self = Tracker::default();
            return match measure {
                Measure::Duration { .. } => FieldValue::Float(-1.0),
                Measure::Count => FieldValue::Integer(-1),
            };
        }
        match measure {
            Measure::Duration { unit } => {
                let start = *self.start.get_or_insert(time);
                FieldValue::Float((time - start) as f64 / unit as f64)
            }
            Measure::Count => {
                self.count += 1;
                FieldValue::Integer(self.count)
            }
        }
    }
}

pub struct StateTrackingNode {
    lambda: LambdaRunner,
    as_name: Name,
    measure: Measure,
    groups: HashMap<GroupKey, Tracker>,
}

impl StateTrackingNode {
    /// Builds a `stateDuration` or `stateCount` node, by `spec.kind`.
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let Some(Value::Lambda(lambda)) = spec.args.first() else {
            return Err(BuildError::invalid(
                spec,
                format!("{}() takes a lambda expression", spec.kind),
            ));
        };
        let (measure, default_as) = if spec.kind == "stateCount" {
            (Measure::Count, "state_count")
        } else {
            let unit = spec.prop_duration("unit")?.unwrap_or(1_000_000_000);
            if unit <= 0 {
                return Err(BuildError::unchecked(spec, ".unit()"));
            }
            (Measure::Duration { unit }, "state_duration")
        };
        let as_name = spec
            .prop_string("as")?
            .unwrap_or_else(|| default_as.to_string());
        Ok(StateTrackingNode {
            lambda: LambdaRunner::new(lambda.clone())
                .map_err(|e| BuildError::invalid(spec, e.to_string()))?,
            as_name: Name::from(as_name),
            measure,
            groups: HashMap::new(),
        })
    }

    fn with_state(&self, fields: &Fields, value: FieldValue) -> Fields {
        fields.with([(self.as_name.clone(), value)])
    }
}

impl Node for StateTrackingNode {
    fn groups(&self) -> usize {
        self.groups.len()
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match msg {
            Message::Point(mut point, group) => {
                let scope = Scope {
                    fields: &point.fields,
                    tags: point.tags(),
                    time: point.time,
                };
                let in_state = self.lambda.eval_bool(&group, &scope)?;
                let tracker = self.groups.entry(group.clone()).or_default();
                let value = tracker.track(self.measure, point.time, in_state);
                point.fields = self.with_state(&point.fields, value);
                out.push(Message::Point(point, group));
            }
            Message::Batch(mut batch) => {
                let mut tracker = Tracker::default();
                let mut error = None;
                let points = std::mem::take(&mut batch.points);
                for mut p in points {
                    let scope = Scope {
                        fields: &p.fields,
                        tags: &p.tags,
                        time: p.time,
                    };
                    match self.lambda.eval_bool(&batch.group, &scope) {
                        Ok(in_state) => {
                            let value = tracker.track(self.measure, p.time, in_state);
                            p.fields = self.with_state(&p.fields, value);
                            batch.points.push(p);
                        }
                        Err(e) => {
                            error.get_or_insert(e);
                        }
                    }
                }
                self.groups.insert(batch.group.clone(), tracker);
                out.push(Message::Batch(batch));
                if let Some(e) = error {
                    return Err(e);
                }
            }
            Message::DeleteGroup(group) => {
                self.groups.remove(&group);
                self.lambda.forget(&group);
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

    fn node(script: &str) -> StateTrackingNode {
        let plan = dsl::compile(script, dsl::detect_task_type(script)).expect("script compiles");
        let spec = plan
            .nodes
            .into_iter()
            .find(|n| n.kind.starts_with("state"))
            .expect("a state node");
        StateTrackingNode::from_spec(&spec).unwrap()
    }

    fn run(node: &mut StateTrackingNode, field: &str, values: &[(i64, f64)]) -> Vec<FieldValue> {
        let series = Arc::new(Series::new("cpu".into(), vec![]).unwrap());
        let mut out = Vec::new();
        for (t, v) in values {
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
                Message::Point(p, _) => p.fields.get(field).cloned(),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn duration_in_units_and_minus_one_when_false() {
        let mut n = node("stream|from()|stateDuration(lambda: \"value\" > 95).unit(1ms).as('d')");
        let got = run(
            &mut n,
            "d",
            &[(0, 97.0), (1, 96.0), (2, 80.0), (3, 99.0), (5, 99.0)],
        );
        let want = [0.0, 1000.0, -1.0, 0.0, 2000.0].map(FieldValue::Float);
        assert_eq!(got, want);
    }

    #[test]
    fn count_of_consecutive_points() {
        let mut n = node("stream|from()|stateCount(lambda: \"value\" > 95)");
        let got = run(
            &mut n,
            "state_count",
            &[(0, 97.0), (1, 96.0), (2, 80.0), (3, 99.0)],
        );
        assert_eq!(got, [1, 2, -1, 1].map(FieldValue::Integer));
    }
}
