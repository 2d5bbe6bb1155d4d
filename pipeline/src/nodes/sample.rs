//! `sample`: keeps every Nth point of each group, or the points whose time
//! falls exactly on a multiple of a duration. Inside a batch the count
//! starts again at each batch.

use std::collections::HashMap;

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::group::GroupKey;
use crate::node::{Node, NodeError};
use crate::spec::BuildError;

/// Nanoseconds from Go's zero time (year 1) to the Unix epoch. Go truncates
/// times relative to year 1, not 1970; it matters for durations that do not
/// divide a day.
pub(crate) const GO_ZERO_TO_UNIX_NS: i128 = 62_135_596_800 * 1_000_000_000;

#[derive(Clone, Copy, Debug)]
enum Rate {
    Every(i64),
    Period(i64),
}

pub struct SampleNode {
    rate: Rate,
    counts: HashMap<GroupKey, i64>,
}

impl SampleNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let rate = match spec.args.first() {
            Some(Value::Int(n)) if *n > 0 => Rate::Every(*n),
            Some(Value::Duration(d)) if *d > 0 => Rate::Period(*d),
            _ => return Err(BuildError::unchecked(spec, "sample()")),
        };
        Ok(SampleNode {
            rate,
            counts: HashMap::new(),
        })
    }

    fn keep(&self, count: i64, time: i64) -> bool {
        match self.rate {
            Rate::Every(n) => count % n == 0,
            Rate::Period(d) => (i128::from(time) + GO_ZERO_TO_UNIX_NS) % i128::from(d) == 0,
        }
    }
}

impl Node for SampleNode {
    fn groups(&self) -> usize {
        self.counts.len()
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match msg {
            Message::Point(point, group) => {
                let count = self.counts.entry(group.clone()).or_insert(0);
                let seen = *count;
                *count += 1;
                if self.keep(seen, point.time) {
                    out.push(Message::Point(point, group));
                }
            }
            Message::Batch(mut batch) => {
                let mut count = 0;
                batch.points.retain(|p| {
                    let keep = self.keep(count, p.time);
                    count += 1;
                    keep
                });
                self.counts.insert(batch.group.clone(), count);
                out.push(Message::Batch(batch));
            }
            Message::DeleteGroup(group) => {
                self.counts.remove(&group);
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
    use crate::group::Dimensions;
    use crate::point::{Fields, Name, Point, Series};

    fn spec(script: &str) -> NodeSpec {
        crate::testing::node_spec(script, "sample")
    }

    fn point(host: &str, time: i64) -> Message {
        let s = Series::new("cpu".into(), vec![(Name::from("host"), Name::from(host))]).unwrap();
        let group = GroupKey::for_series(&Dimensions::new(false, vec!["host".into()]), &s);
        Message::Point(
            Point {
                series: Arc::new(s),
                fields: Fields::from_pairs([]),
                time,
            },
            group,
        )
    }

    fn kept(node: &mut SampleNode, input: Vec<Message>) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for m in input {
            node.process(m, &mut out).unwrap();
        }
        out.into_iter()
            .filter_map(|m| match m {
                Message::Point(p, _) => Some((p.series.tag("host").unwrap().to_string(), p.time)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_nth_point_counts_per_group() {
        let mut node = SampleNode::from_spec(&spec("stream|from()|sample(2)")).unwrap();
        let input = vec![
            point("a", 1),
            point("b", 2),
            point("a", 3),
            point("a", 4),
            point("b", 5),
        ];
        assert_eq!(
            kept(&mut node, input),
            [("a".into(), 1), ("b".into(), 2), ("a".into(), 4)]
        );
    }

    #[test]
    fn duration_keeps_times_on_the_grid() {
        let s = 1_000_000_000;
        let mut node = SampleNode::from_spec(&spec("stream|from()|sample(3s)")).unwrap();
        let input = (0..7).map(|i| point("a", i * s)).collect();
        assert_eq!(
            kept(&mut node, input),
            [("a".into(), 0), ("a".into(), 3 * s), ("a".into(), 6 * s)]
        );
    }
}
