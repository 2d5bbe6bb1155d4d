//! `groupBy`: puts points and batches into new groups, by tag names or by
//! every tag (`*`), minus `.exclude()`d tags, and by measurement when
//! `.byMeasurement()` is set or the data already was.
//!
//! Points are regrouped one by one. A batch is split by its points' tags
//! into one batch per new group; as in Kapacitor, the split batches are held
//! until a batch with a later time (or a barrier) arrives, then emitted
//! with their points sorted by time. What is held when the task stops is
//! emitted then.

use std::collections::HashMap;

use dsl::NodeSpec;

use crate::batch::{Batch, Message};
use crate::group::{Dimensions, GroupKey};
use crate::idle::{Epoch, IdleGroups};
use crate::node::{Node, NodeError};
use crate::point::{Name, Series, Tags};
use crate::spec::{BuildError, SpecExt, names, names_or_star};

pub struct GroupByNode {
    /// Sorted, excluded tags removed; unused when `all_tags`.
    tag_names: Vec<Name>,
    all_tags: bool,
    excluded: Vec<Name>,
    by_measurement: bool,
    /// Time of the batches being regrouped.
    last_time: Option<i64>,
    /// Regrouped batches not yet emitted, in order of first appearance.
    pending: Vec<Batch>,
    /// With idle expiry: when each group was last seen.
    idle: Option<(IdleGroups, HashMap<GroupKey, Epoch>)>,
}

impl GroupByNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let mut tag_names = Vec::new();
        let all_tags = names_or_star(spec, "groupBy", &spec.args, &mut tag_names)?;
        let mut excluded = Vec::new();
        for p in spec.properties.iter().filter(|p| p.name == "exclude") {
            names(spec, "exclude", &p.args, &mut excluded)?;
        }
        tag_names.sort();
        tag_names.dedup();
        tag_names.retain(|t| !excluded.contains(t));
        Ok(GroupByNode {
            tag_names,
            all_tags,
            excluded,
            by_measurement: spec.has_prop("byMeasurement"),
            last_time: None,
            pending: Vec::new(),
            idle: None,
        })
    }

    /// Deletes groups that got no point for `timeout` ns of the task's
    /// clock (see [`crate::idle`]).
    pub fn with_idle_timeout(mut self, timeout: Option<i64>) -> Self {
        self.idle = IdleGroups::new(timeout).map(|idle| (idle, HashMap::new()));
        self
    }

    fn seen(&mut self, group: &GroupKey) {
        if let Some((idle, seen)) = &mut self.idle {
            let now = idle.epoch();
            match seen.get_mut(group) {
                Some(at) => *at = now,
                None => {
                    seen.insert(group.clone(), now);
                }
            }
        }
    }

    fn dimensions(&self, tags: &Tags, by_measurement: bool) -> Dimensions {
        let names = if self.all_tags {
            tags.iter()
                .map(|(k, _)| k.clone())
                .filter(|k| !self.excluded.contains(k))
                .collect()
        } else {
            self.tag_names.clone()
        };
        Dimensions::new(by_measurement || self.by_measurement, names)
    }

    /// Emits the held batches if `time` is a new batch time.
    fn emit_if_new(&mut self, time: i64, out: &mut Vec<Message>) {
        if self.last_time != Some(time) {
            self.last_time = Some(time);
            self.flush(out);
        }
    }

    fn flush(&mut self, out: &mut Vec<Message>) {
        for mut batch in self.pending.drain(..) {
            batch.points.sort_by_key(|p| p.time);
            out.push(Message::Batch(batch));
        }
    }

    fn regroup_batch(&mut self, batch: Batch, out: &mut Vec<Message>) -> Result<(), NodeError> {
        self.emit_if_new(batch.tmax, out);
        let by_measurement = batch.group.measurement().is_some();
        for p in batch.points {
            let dims = self.dimensions(&p.tags, by_measurement);
            let series = Series::new(batch.name.clone(), p.tags.to_vec())
                .map_err(|e| NodeError::new(e.to_string()))?;
            let group = GroupKey::for_series(&dims, &series);
            self.seen(&group);
            match self.pending.iter_mut().find(|b| b.group == group) {
                Some(b) => b.points.push(p),
                None => self.pending.push(Batch {
                    name: batch.name.clone(),
                    tmax: batch.tmax,
                    tags: group.tags().clone(),
                    group,
                    points: vec![p],
                }),
            }
        }
        Ok(())
    }
}

impl Node for GroupByNode {
    fn groups(&self) -> usize {
        self.idle.as_ref().map_or(0, |(_, seen)| seen.len())
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match msg {
            Message::Point(point, group) => {
                let dims = self.dimensions(point.tags(), group.measurement().is_some());
                let group = GroupKey::for_series(&dims, &point.series);
                self.seen(&group);
                out.push(Message::Point(point, group));
            }
            Message::Batch(batch) => self.regroup_batch(batch, out)?,
            Message::Barrier { group, time } => {
                self.emit_if_new(time, out);
                out.push(Message::Barrier { group, time });
            }
            Message::DeleteGroup(group) => {
                self.pending.retain(|b| b.group != group);
                out.push(Message::DeleteGroup(group));
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<Message>) {
        self.flush(out);
    }

    fn tick(&mut self, now: i64, out: &mut Vec<Message>) -> Option<i64> {
        let (idle, seen) = self.idle.as_mut()?;
        let (sweep, next) = idle.tick(now);
        if sweep {
            let mut gone: Vec<GroupKey> = Vec::new();
            seen.retain(|group, at| {
                let keep = !idle.expired(*at);
                if !keep {
                    gone.push(group.clone());
                }
                keep
            });
            gone.sort_by(|a, b| a.id().cmp(b.id()));
            for group in gone {
                self.pending.retain(|b| b.group != group);
                out.push(Message::DeleteGroup(group));
            }
        }
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::batch::BatchPoint;
    use crate::point::{Fields, Point};

    fn node(script: &str) -> GroupByNode {
        let spec = &crate::testing::node_spec(script, "groupBy");
        GroupByNode::from_spec(spec).unwrap()
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(Name, Name)> {
        pairs
            .iter()
            .map(|(k, v)| (Name::from(*k), Name::from(*v)))
            .collect()
    }

    fn group_of(node: &mut GroupByNode, t: &[(&str, &str)]) -> String {
        let p = Point {
            series: Arc::new(Series::new("cpu".into(), tags(t)).unwrap()),
            fields: Fields::from_pairs([]),
            time: 0,
        };
        let mut out = Vec::new();
        node.process(Message::Point(p, GroupKey::nil()), &mut out)
            .unwrap();
        match out.pop() {
            Some(Message::Point(_, g)) => g.id().to_string(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn points_by_tags_star_exclude_and_measurement() {
        let t = [("host", "a"), ("cpu", "0"), ("dc", "x")];
        assert_eq!(
            group_of(&mut node("stream|from()|groupBy('host', 'cpu')"), &t),
            "cpu=0,host=a"
        );
        assert_eq!(
            group_of(&mut node("stream|from()|groupBy(*).exclude('dc')"), &t),
            "cpu=0,host=a"
        );
        assert_eq!(
            group_of(
                &mut node("stream|from()|groupBy('host').byMeasurement()"),
                &t
            ),
            "cpu\nhost=a"
        );
    }

    #[test]
    fn batches_split_by_tags_and_wait_for_the_next_time() {
        let mut n = node("batch|query('SELECT 1')|groupBy('host')");
        let bp = |host: &str, time: i64| BatchPoint {
            time,
            fields: Fields::from_pairs([]),
            tags: tags(&[("host", host)]).into(),
        };
        let batch = |tmax, points| Batch {
            name: "cpu".into(),
            tmax,
            group: GroupKey::nil(),
            tags: [].into(),
            points,
        };
        let mut out = Vec::new();
        n.process(
            Message::Batch(batch(10, vec![bp("a", 2), bp("b", 1), bp("a", 1)])),
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty());
        n.process(Message::Batch(batch(20, vec![bp("a", 11)])), &mut out)
            .unwrap();
        let got: Vec<(String, Vec<i64>)> = out
            .iter()
            .map(|m| match m {
                Message::Batch(b) => (
                    b.group.id().to_string(),
                    b.points.iter().map(|p| p.time).collect(),
                ),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                ("host=a".to_string(), vec![1, 2]),
                ("host=b".to_string(), vec![1])
            ]
        );
        out.clear();
        n.finish(&mut out);
        assert_eq!(out.len(), 1);
    }
}
