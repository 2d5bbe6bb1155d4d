//! `union`: merges the data of several parents into one edge, in time
//! order: a message leaves once every parent has delivered something at or
//! after its time (what is held when the task stops leaves then).
//! `.rename()` renames the measurement of points and batches.

use std::collections::VecDeque;

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::node::{Node, NodeError};
use crate::point::{Name, Series};
use crate::spec::{BuildError, SpecExt};

pub struct UnionNode {
    rename: Option<Name>,
    sources: Vec<VecDeque<Message>>,
    /// Per parent: the time of its oldest held message, or of the last one
    /// it sent when it holds none; `None` until it sends anything.
    low_marks: Vec<Option<i64>>,
}

fn time_of(msg: &Message) -> i64 {
    match msg {
        Message::Point(p, _) => p.time,
        Message::Batch(b) => b.tmax,
        Message::Barrier { time, .. } => *time,
        Message::DeleteGroup(_) => i64::MIN,
    }
}

impl UnionNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let parents = spec
            .args
            .iter()
            .filter(|a| matches!(a, Value::Node(_)))
            .count()
            + 1;
        Ok(UnionNode {
            rename: spec
                .prop_string("rename")?
                .filter(|r| !r.is_empty())
                .map(Name::from),
            sources: (0..parents).map(|_| VecDeque::new()).collect(),
            low_marks: vec![None; parents],
        })
    }

    fn renamed(&self, msg: Message) -> Result<Message, NodeError> {
        let Some(name) = &self.rename else {
            return Ok(msg);
        };
        Ok(match msg {
            Message::Point(mut p, group) => {
                let series = Series::new(name.clone(), p.tags().to_vec())
                    .map_err(|e| NodeError::new(e.to_string()))?;
                p.series = series.into();
                Message::Point(p, group)
            }
            Message::Batch(mut b) => {
                b.name = name.clone();
                Message::Batch(b)
            }
            other => other,
        })
    }

    /// Kapacitor's `emitReady`: emits, oldest first, what no parent can
    /// still precede; `drain` emits everything.
    fn emit_ready(&mut self, drain: bool, out: &mut Vec<Message>) {
        loop {
            let mut mark: Option<i64> = None;
            let mut valid = 0;
            for (i, queue) in self.sources.iter().enumerate() {
                if let Some(front) = queue.front() {
                    let t = time_of(front);
                    mark = Some(mark.map_or(t, |m| m.min(t)));
                    self.low_marks[i] = Some(t);
                }
                if let Some(source_mark) = self.low_marks[i] {
                    valid += 1;
                    if !drain {
                        mark = Some(mark.map_or(source_mark, |m| m.min(source_mark)));
                    }
                }
            }
            if !drain && valid != self.sources.len() {
                return;
            }
            let Some(mark) = mark else { return };
            let mut emitted = false;
            for queue in &mut self.sources {
                while queue.front().is_some_and(|m| time_of(m) <= mark) {
                    out.extend(queue.pop_front());
                    emitted = true;
                }
            }
            if !emitted {
                return;
            }
        }
    }
}

impl Node for UnionNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        self.process_from(0, msg, out)
    }

    fn process_from(
        &mut self,
        parent: usize,
        msg: Message,
        out: &mut Vec<Message>,
    ) -> Result<(), NodeError> {
        if let Message::DeleteGroup(_) = msg {
            out.push(msg);
            return Ok(());
        }
        if parent >= self.sources.len() {
            return Err(NodeError::new(format!("union: unexpected parent {parent}")));
        }
        let msg = self.renamed(msg)?;
        self.sources[parent].push_back(msg);
        self.emit_ready(false, out);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<Message>) {
        self.emit_ready(true, out);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::group::GroupKey;
    use crate::point::Fields;

    fn point(m: &str, time: i64) -> Message {
        let series = Series::new(m.into(), vec![]).unwrap();
        let p = crate::point::Point {
            series: Arc::new(series),
            fields: Fields::from_pairs([]),
            time,
        };
        Message::Point(p, GroupKey::nil())
    }

    fn seen(out: &[Message]) -> Vec<(String, i64)> {
        out.iter()
            .filter_map(|m| match m {
                Message::Point(p, _) => Some((p.measurement().to_string(), p.time)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn merges_in_time_order_and_renames() {
        let script = "var a = stream|from().measurement('a')
            var b = stream|from().measurement('b')
            a|union(b).rename('u')";
        let spec = &crate::testing::node_spec(script, "union");
        let mut n = UnionNode::from_spec(spec).unwrap();
        let mut out = Vec::new();
        n.process_from(0, point("a", 1), &mut out).unwrap();
        n.process_from(0, point("a", 3), &mut out).unwrap();
        assert!(out.is_empty(), "waits for every parent");
        n.process_from(1, point("b", 2), &mut out).unwrap();
        n.process_from(1, point("b", 4), &mut out).unwrap();
        assert_eq!(
            seen(&out),
            [("u".into(), 1), ("u".into(), 2), ("u".into(), 3)]
        );
        out.clear();
        n.finish(&mut out);
        assert_eq!(seen(&out), [("u".into(), 4)]);
    }
}
