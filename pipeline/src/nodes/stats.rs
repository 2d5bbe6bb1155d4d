//! `stats(interval)`: every interval, one point per group with how many
//! points its parent node has emitted in that group so far, as Kapacitor's
//! stats node does: measurement `stats`, the group's tags, one integer field
//! `emitted`, and the nil group with `emitted = 0` when there is no group
//! yet. A batch counts its points. With `.align()` the ticks fall on
//! multiples of the interval and the points carry those times; otherwise
//! the first comes one interval after the task starts and each carries the
//! time of its tick.
//!
//! The node sits below its parent in the plan and counts what the parent
//! emits itself, which is the parent's per-group emitted count (every child
//! receives the same messages). It passes on nothing of what it receives
//! but a group's deletion, so the nodes below free that group too.

use std::collections::HashMap;
use std::sync::Arc;

use dsl::NodeSpec;

use crate::batch::Message;
use crate::group::GroupKey;
use crate::node::{Node, NodeError};
use crate::point::{FieldValue, Fields, Name, Point, Series};
use crate::spec::{BuildError, SpecExt};

pub struct StatsNode {
    interval: i64,
    align: bool,
    /// Per group, in order of first appearance: the group and its count.
    counts: Vec<(GroupKey, i64)>,
    index: HashMap<GroupKey, usize>,
    /// When the next tick is due; `None` until the task's clock starts.
    next: Option<i64>,
    emitted: Name,
}

impl StatsNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let interval = match spec.arg(0) {
            Some(dsl::Value::Duration(d)) => *d,
            _ => return Err(BuildError::invalid(spec, "stats needs an interval")),
        };
        Self::new(interval, spec.has_prop("align"))
            .map_err(|e| BuildError::invalid(spec, e.to_string()))
    }

    pub fn new(interval: i64, align: bool) -> Result<Self, NodeError> {
        if interval <= 0 {
            return Err(NodeError::new("the stats interval must be positive"));
        }
        Ok(StatsNode {
            interval,
            align,
            counts: Vec::new(),
            index: HashMap::new(),
            next: None,
            emitted: Name::from("emitted"),
        })
    }

    fn count(&mut self, group: &GroupKey, n: i64) {
        match self.index.get(group) {
            Some(&i) => self.counts[i].1 += n,
            None => {
                self.index.insert(group.clone(), self.counts.len());
                self.counts.push((group.clone(), n));
            }
        }
    }

    fn delete(&mut self, group: &GroupKey) {
        if let Some(i) = self.index.remove(group) {
            self.counts.remove(i);
            for slot in self.index.values_mut() {
                if *slot > i {
                    *slot -= 1;
                }
            }
        }
    }

    fn emit(&self, time: i64, out: &mut Vec<Message>) {
        let nil = [(GroupKey::nil(), 0)];
        let counts = if self.counts.is_empty() {
            &nil[..]
        } else {
            &self.counts[..]
        };
        for (group, n) in counts {
            let tags = group.tags().iter().cloned().collect();
            let Ok(series) = Series::new(Name::from("stats"), tags) else {
                continue;
            };
            let point = Point {
                series: Arc::new(series),
                fields: Fields::from_pairs([(self.emitted.clone(), FieldValue::Integer(*n))]),
                time,
            };
            out.push(Message::Point(point, group.clone()));
        }
    }
}

impl Node for StatsNode {
    fn groups(&self) -> usize {
        self.counts.len()
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match msg {
            Message::Point(_, group) => self.count(&group, 1),
            Message::Batch(b) => self.count(&b.group, b.points.len() as i64),
            Message::DeleteGroup(group) => {
                self.delete(&group);
                out.push(Message::DeleteGroup(group));
            }
            Message::Barrier { .. } => {}
        }
        Ok(())
    }

    fn tick(&mut self, now: i64, out: &mut Vec<Message>) -> Option<i64> {
        let next = match self.next {
            None if self.align => now.div_euclid(self.interval) * self.interval + self.interval,
            None => now + self.interval,
            Some(due) if now >= due => {
                // Ticks missed while the task was busy are not made up for:
                // each would report the same counts.
                let last = due + (now - due) / self.interval * self.interval;
                self.emit(if self.align { last } else { now }, out);
                last + self.interval
            }
            Some(due) => due,
        };
        self.next = Some(next);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::Dimensions;

    const S: i64 = 1_000_000_000;

    fn point(host: &str, time: i64) -> Message {
        let s = Series::new("cpu".into(), vec![(Name::from("host"), Name::from(host))]).unwrap();
        let group = GroupKey::for_series(&Dimensions::new(false, vec!["host".into()]), &s);
        Message::Point(
            Point {
                series: Arc::new(s),
                fields: Fields::from_pairs([("v".into(), FieldValue::Float(1.0))]),
                time,
            },
            group,
        )
    }

    fn emitted(out: &[Message]) -> Vec<(String, i64, i64)> {
        out.iter()
            .filter_map(|m| match m {
                Message::Point(p, g) => Some((
                    g.id().to_string(),
                    p.time,
                    match p.fields.get("emitted") {
                        Some(FieldValue::Integer(n)) => *n,
                        _ => -1,
                    },
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn counts_per_group_and_reports_the_nil_group_before_any_data() {
        let mut n = StatsNode::new(10 * S, false).unwrap();
        let mut out = Vec::new();
        assert_eq!(n.tick(3 * S, &mut out), Some(13 * S));
        assert_eq!(n.tick(13 * S, &mut out), Some(23 * S));
        assert_eq!(emitted(&out), [(String::new(), 13 * S, 0)]);
        out.clear();
        for (host, t) in [("a", 1), ("b", 2), ("a", 3)] {
            n.process(point(host, t), &mut out).unwrap();
        }
        assert!(out.is_empty(), "stats passes no data on");
        n.tick(24 * S, &mut out);
        assert_eq!(
            emitted(&out),
            [
                ("host=a".to_string(), 24 * S, 2),
                ("host=b".to_string(), 24 * S, 1)
            ]
        );
    }

    #[test]
    fn aligned_ticks_fall_on_multiples_and_deleted_groups_are_dropped() {
        let mut n = StatsNode::new(10 * S, true).unwrap();
        let mut out = Vec::new();
        assert_eq!(n.tick(3 * S, &mut out), Some(10 * S));
        n.process(point("a", 1), &mut out).unwrap();
        n.process(point("b", 1), &mut out).unwrap();
        let Message::Point(_, a) = point("a", 0) else {
            unreachable!()
        };
        n.process(Message::DeleteGroup(a), &mut out).unwrap();
        assert!(matches!(&out[..], [Message::DeleteGroup(_)]));
        out.clear();
        // A late tick reports once, at its boundary, and skips what it missed.
        assert_eq!(n.tick(31 * S, &mut out), Some(40 * S));
        assert_eq!(emitted(&out), [("host=b".to_string(), 30 * S, 1)]);
    }
}
