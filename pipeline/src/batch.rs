//! Batches and the messages that travel along a task's edges.

use crate::group::GroupKey;
use crate::point::{Fields, Name, Point, Tags};

/// One point inside a batch: the batch gives the measurement and group.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchPoint {
    pub time: i64,
    pub fields: Fields,
    /// All of the point's tags (a superset of the group's).
    pub tags: Tags,
}

impl BatchPoint {
    pub fn from_point(p: &Point) -> Self {
        BatchPoint {
            time: p.time,
            fields: p.fields.clone(),
            tags: p.tags().clone(),
        }
    }
}

/// A set of points of one measurement and group with one shared time,
/// `tmax`: what a window emits and what a batch query returns per group.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub name: Name,
    /// The batch's time: a window's end, a query's upper bound.
    pub tmax: i64,
    pub group: GroupKey,
    /// The group's tags (the dimension tags and their values).
    pub tags: Tags,
    pub points: Vec<BatchPoint>,
}

impl Batch {
    /// Rewrites the batch's tags and each point's fields and tags, where the
    /// functions return a replacement (`None`: keep as is).
    pub fn rewrite(
        &mut self,
        fields: impl Fn(&Fields) -> Option<Fields>,
        tags: impl Fn(&Tags) -> Option<Vec<(Name, Name)>>,
    ) {
        if let Some(t) = tags(&self.tags) {
            self.tags = t.into();
        }
        for p in &mut self.points {
            if let Some(f) = fields(&p.fields) {
                p.fields = f;
            }
            if let Some(t) = tags(&p.tags) {
                p.tags = t.into();
            }
        }
    }
}

/// What travels along an edge between two nodes.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// One point of a stream, in its group.
    Point(Point, GroupKey),
    /// A whole batch.
    Batch(Batch),
    /// Time has reached `time` for `group` (or for every group when `None`):
    /// nodes waiting on time may emit. Sent by `barrier` and by replays.
    Barrier { group: Option<GroupKey>, time: i64 },
    /// `group` is gone: nodes drop its state.
    DeleteGroup(GroupKey),
}
