//! `flatten`: turns the points of a group that share a time (rounded to
//! `.tolerance()`) into one point, naming each field
//! `<tag values of .on()><delimiter><field>` (just the tag values with
//! `.dropOriginalFieldName()`). On a stream a time's points leave when a
//! point with another time (or a later barrier) arrives; inside a batch,
//! consecutive points with one time become one point.

use std::collections::HashMap;

use dsl::NodeSpec;

use crate::batch::{BatchPoint, Message};
use crate::group::GroupKey;
use crate::node::{Node, NodeError};
use crate::nodes::join::round;
use crate::point::{FieldValue, Fields, Name, Point, Series, Tags};
use crate::spec::{BuildError, SpecExt, names};

pub struct FlattenNode {
    on: Vec<Name>,
    delimiter: String,
    tolerance: i64,
    drop_original_name: bool,
    groups: HashMap<GroupKey, Pending>,
}

/// A group's points of one time, waiting for the next time.
struct Pending {
    name: Name,
    time: i64,
    points: Vec<(Fields, Tags)>,
}

impl FlattenNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let mut on = Vec::new();
        names(spec, "on", spec.prop_args("on").unwrap_or(&[]), &mut on)?;
        Ok(FlattenNode {
            on,
            delimiter: spec.prop_string("delimiter")?.unwrap_or_else(|| ".".into()),
            tolerance: spec.prop_duration("tolerance")?.unwrap_or(0).max(0),
            drop_original_name: spec.has_prop("dropOriginalFieldName"),
            groups: HashMap::new(),
        })
    }

    /// The flattened fields of one time's points. A point missing an `.on()`
    /// tag is left out (and reported).
    fn flatten(&self, points: &[(Fields, Tags)], error: &mut Option<NodeError>) -> Fields {
        let mut pairs: Vec<(Name, FieldValue)> = Vec::new();
        'points: for (fields, tags) in points {
            let mut prefix = String::new();
            for (i, tag) in self.on.iter().enumerate() {
                let Some((_, v)) = tags.iter().find(|(k, _)| k == tag) else {
                    error.get_or_insert_with(|| {
                        NodeError::new(format!("flatten: point is missing tag {tag}"))
                    });
                    continue 'points;
                };
                if i > 0 {
                    prefix.push_str(&self.delimiter);
                }
                prefix.push_str(v);
            }
            for (k, v) in fields.iter() {
                let name = if self.drop_original_name {
                    prefix.clone()
                } else if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}{}{k}", self.delimiter)
                };
                pairs.push((Name::from(name), v.clone()));
            }
        }
        Fields::from_pairs(pairs)
    }

    fn emit(
        &self,
        group: &GroupKey,
        pending: &Pending,
        out: &mut Vec<Message>,
        error: &mut Option<NodeError>,
    ) {
        let fields = self.flatten(&pending.points, error);
        if fields.is_empty() {
            return;
        }
        match Series::new(pending.name.clone(), group.tags().to_vec()) {
            Ok(series) => {
                let point = Point {
                    series: series.into(),
                    fields,
                    time: pending.time,
                };
                out.push(Message::Point(point, group.clone()));
            }
            Err(e) => {
                error.get_or_insert(NodeError::new(e.to_string()));
            }
        }
    }
}

impl Node for FlattenNode {
    fn groups(&self) -> usize {
        self.groups.len()
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        let mut error = None;
        match msg {
            Message::Point(point, group) => {
                let t = round(point.time, self.tolerance);
                let mut pending = self.groups.remove(&group).unwrap_or_else(|| Pending {
                    name: point.measurement().clone(),
                    time: t,
                    points: Vec::new(),
                });
                if t != pending.time {
                    if !pending.points.is_empty() {
                        self.emit(&group, &pending, out, &mut error);
                        pending.points.clear();
                    }
                    pending.time = t;
                }
                let tags = point.tags().clone();
                pending.points.push((point.fields, tags));
                self.groups.insert(group, pending);
            }
            Message::Batch(mut batch) => {
                let points = std::mem::take(&mut batch.points);
                let mut run: Vec<(Fields, Tags)> = Vec::new();
                let mut run_time = None;
                let mut flush =
                    |run: &mut Vec<(Fields, Tags)>, time: i64, error: &mut Option<NodeError>| {
                        let fields = self.flatten(run, error);
                        run.clear();
                        if !fields.is_empty() {
                            batch.points.push(BatchPoint {
                                time,
                                fields,
                                tags: batch.group.tags().clone(),
                            });
                        }
                    };
                for p in points {
                    let t = round(p.time, self.tolerance);
                    if let Some(rt) = run_time
                        && rt != t
                    {
                        flush(&mut run, rt, &mut error);
                    }
                    run_time = Some(t);
                    run.push((p.fields, p.tags));
                }
                if let Some(rt) = run_time {
                    flush(&mut run, rt, &mut error);
                }
                out.push(Message::Batch(batch));
            }
            Message::Barrier { group, time } => {
                let keys: Vec<GroupKey> = match &group {
                    Some(g) => vec![g.clone()],
                    None => self.groups.keys().cloned().collect(),
                };
                for key in keys {
                    if let Some(mut pending) = self.groups.remove(&key) {
                        if time > pending.time && !pending.points.is_empty() {
                            self.emit(&key, &pending, out, &mut error);
                            pending.points.clear();
                        }
                        self.groups.insert(key, pending);
                    }
                }
                out.push(Message::Barrier { group, time });
            }
            Message::DeleteGroup(group) => {
                self.groups.remove(&group);
                out.push(Message::DeleteGroup(group));
            }
        }
        error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn point(host: &str, value: f64, time: i64) -> Message {
        let series = Series::new("cpu".into(), vec![("host".into(), host.into())]).unwrap();
        let fields = Fields::from_pairs([("value".into(), FieldValue::Float(value))]);
        Message::Point(
            Point {
                series: Arc::new(series),
                fields,
                time,
            },
            GroupKey::nil(),
        )
    }

    #[test]
    fn points_of_one_time_become_one_point() {
        let script = "stream|from()|flatten().on('host').delimiter('_')";
        let spec = &crate::testing::node_spec(script, "flatten");
        let mut n = FlattenNode::from_spec(spec).unwrap();
        let mut out = Vec::new();
        n.process(point("a", 1.0, 10), &mut out).unwrap();
        n.process(point("b", 2.0, 10), &mut out).unwrap();
        assert!(out.is_empty());
        n.process(point("a", 3.0, 20), &mut out).unwrap();
        let [Message::Point(p, _)] = out.as_slice() else {
            panic!("unexpected {out:?}")
        };
        assert_eq!(p.time, 10);
        let fields: Vec<(String, FieldValue)> = p
            .fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        assert_eq!(
            fields,
            [
                ("a_value".into(), FieldValue::Float(1.0)),
                ("b_value".into(), FieldValue::Float(2.0))
            ]
        );
    }
}
