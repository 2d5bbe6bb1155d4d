//! `shift`: moves the time of points and batches by a fixed duration.
//! Barriers pass unchanged, as in Kapacitor.

use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::node::{Node, NodeError};
use crate::spec::BuildError;

pub struct ShiftNode {
    shift: i64,
}

impl ShiftNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let shift = match spec.args.first() {
            Some(Value::Duration(d)) if *d != 0 => *d,
            _ => return Err(BuildError::unchecked(spec, "shift()")),
        };
        Ok(ShiftNode { shift })
    }
}

impl Node for ShiftNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match msg {
            Message::Point(mut point, group) => {
                point.time = point.time.saturating_add(self.shift);
                out.push(Message::Point(point, group));
            }
            Message::Batch(mut batch) => {
                batch.tmax = batch.tmax.saturating_add(self.shift);
                for p in &mut batch.points {
                    p.time = p.time.saturating_add(self.shift);
                }
                out.push(Message::Batch(batch));
            }
            other => out.push(other),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Batch, BatchPoint};
    use crate::group::GroupKey;
    use crate::point::Fields;

    fn spec(script: &str) -> NodeSpec {
        crate::testing::node_spec(script, "shift")
    }

    #[test]
    fn shifts_batches_and_their_points_back_and_forth() {
        let mut node = ShiftNode::from_spec(&spec("batch|query('SELECT 1')|shift(-5s)")).unwrap();
        let batch = Batch {
            name: "cpu".into(),
            tmax: 10_000_000_000,
            group: GroupKey::nil(),
            tags: [].into(),
            points: vec![BatchPoint {
                time: 6_000_000_000,
                fields: Fields::from_pairs([]),
                tags: [].into(),
            }],
        };
        let mut out = Vec::new();
        node.process(Message::Batch(batch), &mut out).unwrap();
        let Some(Message::Batch(b)) = out.pop() else {
            panic!("no batch")
        };
        assert_eq!((b.tmax, b.points[0].time), (5_000_000_000, 1_000_000_000));
    }
}
