//! `trickle`: turns batches back into a stream. Each point of a batch goes
//! on as a point of the batch's name and group, with its own tags, fields
//! and time, in the batch's order; barriers and group deletions pass as
//! they are (Kapacitor's `TrickleNode`).

use std::sync::Arc;

use crate::batch::Message;
use crate::node::{Node, NodeError};
use crate::point::{Point, Series};

pub struct TrickleNode;

impl Node for TrickleNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        let Message::Batch(batch) = msg else {
            out.push(msg);
            return Ok(());
        };
        // Consecutive points of one series (the usual batch) share one.
        let mut series: Option<Arc<Series>> = None;
        for p in batch.points {
            let same = series
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(s.tags(), &p.tags) || *s.tags() == p.tags);
            if !same {
                let made = Series::with_sorted_tags(batch.name.clone(), p.tags)
                    .map_err(|e| NodeError::new(format!("trickle: {e}")))?;
                series = Some(Arc::new(made));
            }
            let series = series.clone().expect("set above");
            out.push(Message::Point(
                Point {
                    series,
                    fields: p.fields,
                    time: p.time,
                },
                batch.group.clone(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Batch, BatchPoint};
    use crate::group::GroupKey;
    use crate::point::{FieldValue, Fields, Name, Tags};

    fn tags(host: &str) -> Tags {
        Arc::from([(Name::from("host"), Name::from(host))])
    }

    fn batch_point(host: &str, time: i64, value: f64) -> BatchPoint {
        BatchPoint {
            time,
            fields: Fields::from_pairs([(Name::from("value"), FieldValue::Float(value))]),
            tags: tags(host),
        }
    }

    #[test]
    fn each_batch_point_becomes_a_point_of_the_batch_and_the_rest_passes() {
        let group = GroupKey::nil();
        let batch = Batch {
            name: Name::from("cpu"),
            tmax: 10,
            group: group.clone(),
            tags: Arc::from([]),
            points: vec![
                batch_point("a", 1, 1.0),
                batch_point("a", 2, 2.0),
                batch_point("b", 3, 3.0),
            ],
        };
        let mut out = Vec::new();
        let mut node = TrickleNode;
        node.process(Message::Batch(batch), &mut out).unwrap();
        node.process(
            Message::Barrier {
                group: None,
                time: 11,
            },
            &mut out,
        )
        .unwrap();
        let points: Vec<_> = out
            .iter()
            .filter_map(|m| match m {
                Message::Point(p, g) => Some((
                    p.measurement().to_string(),
                    p.series.tag("host").map(|h| h.to_string()),
                    p.time,
                    p.fields.get("value").cloned(),
                    g == &group,
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            points,
            [
                (
                    "cpu".into(),
                    Some("a".into()),
                    1,
                    Some(FieldValue::Float(1.0)),
                    true
                ),
                (
                    "cpu".into(),
                    Some("a".into()),
                    2,
                    Some(FieldValue::Float(2.0)),
                    true
                ),
                (
                    "cpu".into(),
                    Some("b".into()),
                    3,
                    Some(FieldValue::Float(3.0)),
                    true
                ),
            ]
        );
        assert!(matches!(out[3], Message::Barrier { time: 11, .. }));
    }
}
