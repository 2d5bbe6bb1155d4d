//! `window`: buffers each group's points and emits them as batches, either
//! by data time (`period`/`every`) or by point count (`periodCount`/`everyCount`).
//!
//! Follows Kapacitor's `window.go` exactly where it matters to users:
//!
//! * Time is data time: a window closes only when a point (or barrier) of its
//!   group at or after the boundary arrives, never by the wall clock.
//! * With `every > 0` a window is half-open on the left edge it keeps and the
//!   right edge it emits at, `[tmax − period, tmax)`: the point that closes a
//!   window is not part of it (more points may still arrive with that time,
//!   and they all belong to the next window). The next boundary is the closing
//!   point's time plus `every` (not the old boundary plus `every`), truncated
//!   to a multiple of `every` when `align` is set.
//! * With `every == 0` the node emits on every point, and the window is
//!   `(t − period, t]`, the closing point included.
//! * Empty windows are emitted too (a boundary crossed after a gap).
//! * A count window emits the last `periodCount` points each `everyCount`
//!   points, at the time of its newest point.
//!
//! When a tumbling time window (`every == period`) feeds nothing but a
//! count, sum or mean, the task fuses the two ([`WindowNode::fuse`]): the
//! window keeps that aggregate's running value per group instead of the
//! points, and emits what the aggregate would have emitted for the batch.
//! Memory per group is then constant, whatever the rate.

use std::collections::VecDeque;

use crate::batch::{Batch, BatchPoint, Message};
use crate::group::GroupKey;
use crate::node::{Node, NodeError, Prefetch};
use crate::nodes::influxql::{Accumulator, InfluxQlNode};
use crate::table::Table;
use std::sync::Arc;

use crate::point::{FieldValue, Fields, Name, Point, Series};

/// The options of a `window` node, durations in nanoseconds. `Some(0)` means
/// the same as `None`, as an unset property is zero in Kapacitor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WindowSpec {
    pub period: Option<i64>,
    pub every: Option<i64>,
    pub period_count: Option<usize>,
    pub every_count: Option<usize>,
    pub align: bool,
    pub fill_period: bool,
}

/// How the node was configured, after validation.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Time {
        period: i64,
        every: i64,
        align: bool,
        fill_period: bool,
    },
    Count {
        period: usize,
        every: usize,
        fill_period: bool,
    },
}

/// A `window` node. See the module documentation for its semantics.
#[derive(Debug)]
pub struct WindowNode {
    mode: Mode,
    /// Group states in order of first appearance, so that a barrier for all
    /// groups emits in a stable order.
    groups: Vec<GroupWindow>,
    index: Table<GroupKey, usize>,
    /// The aggregate this window was fused with, if any.
    aggregate: Option<Fused>,
}

/// A fused aggregate, with the field list of the points it emits, which
/// they all share.
#[derive(Debug)]
struct Fused {
    node: InfluxQlNode,
    keys: Arc<[Name]>,
}

#[derive(Debug)]
struct GroupWindow {
    group: GroupKey,
    /// Kapacitor names every batch of a group after the group's first point.
    name: Name,
    /// Time mode: the time at or after which the window closes. Count mode:
    /// the number of points seen at which it next closes.
    next_emit: i64,
    /// Count mode: points seen so far.
    count: u64,
    held: Held,
}

/// What a group's window holds: chosen when the group starts, by whether
/// the window is fused, so a fused window's groups carry no empty buffer.
#[derive(Debug)]
enum Held {
    /// The buffered points, oldest first.
    Points(Buffer),
    /// Fused: the current window's aggregate, in place of the points, and
    /// the series of what it emits (the same every window: made once).
    Aggregate(Accumulator, Option<Arc<Series>>),
}

impl WindowNode {
    /// A window by time when `spec` has a period, else by count. What
    /// Kapacitor's `WindowNode.validate` refuses in a script (both kinds,
    /// negative or missing settings) is refused by `dsl::compile`; here a
    /// spec that cannot run at all is refused.
    pub fn new(spec: WindowSpec) -> Result<Self, NodeError> {
        let period = spec.period.unwrap_or(0);
        let every = spec.every.unwrap_or(0);
        let period_count = spec.period_count.unwrap_or(0);
        let every_count = spec.every_count.unwrap_or(0);
        let mode = if period > 0 && every >= 0 {
            Mode::Time {
                period,
                every,
                align: spec.align,
                fill_period: spec.fill_period,
            }
        } else if period_count != 0 && every_count != 0 {
            Mode::Count {
                period: period_count,
                every: every_count,
                fill_period: spec.fill_period,
            }
        } else {
            return Err(NodeError::new(
                "a window needs a positive period, or a period count and an every count",
            ));
        };
        Ok(WindowNode {
            mode,
            groups: Vec::new(),
            index: Default::default(),
            aggregate: None,
        })
    }

    /// Whether a window of `spec` can be fused with an incremental
    /// aggregate: a tumbling time window, whose points each fall in exactly
    /// one window.
    pub fn fusable(spec: &WindowSpec) -> bool {
        let period = spec.period.unwrap_or(0);
        period > 0 && spec.every == Some(period) && spec.period_count.unwrap_or(0) == 0
    }

    /// Fuses the window with `aggregate`, its only child, which must be
    /// incremental ([`InfluxQlNode::is_incremental`]) while the window is
    /// [`WindowNode::fusable`]; otherwise gives the aggregate back.
    pub fn fuse(&mut self, aggregate: InfluxQlNode) -> Result<(), InfluxQlNode> {
        let tumbling = matches!(self.mode, Mode::Time { period, every, .. } if period == every);
        if !tumbling || !aggregate.is_incremental() {
            return Err(aggregate);
        }
        self.aggregate = Some(Fused {
            keys: aggregate.output_keys(),
            node: aggregate,
        });
        Ok(())
    }

    /// How many groups hold state.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// How many points are buffered over all groups.
    pub fn buffered_points(&self) -> usize {
        self.groups
            .iter()
            .map(|g| match &g.held {
                Held::Points(buf) => buf.slots.len(),
                Held::Aggregate(..) => 0,
            })
            .sum()
    }

    fn point(
        &mut self,
        p: Point,
        group: GroupKey,
        out: &mut Vec<Message>,
    ) -> Result<(), NodeError> {
        let mode = self.mode;
        let slot = match self.index.get(&group) {
            Some(&i) => i,
            None => {
                let fused = self.aggregate.is_some();
                let fresh =
                    GroupWindow::new(mode, fused, group.clone(), p.measurement().clone(), p.time);
                self.groups.push(fresh);
                self.index.insert(group, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let w = &mut self.groups[slot];
        match mode {
            Mode::Time {
                period, every: 0, ..
            } => {
                // Emitting on every point: the point belongs to its own window.
                let t = p.time;
                w.held.points().push(p);
                if t >= w.next_emit {
                    out.push(Message::Batch(w.emit_right_closed(t, period)));
                    w.next_emit = t;
                }
            }
            Mode::Time {
                period,
                every,
                align,
                ..
            } => {
                let mut result = Ok(());
                if p.time >= w.next_emit {
                    result = w.close(period, self.aggregate.as_ref(), out);
                    w.next_emit = next_boundary(p.time, every, align);
                }
                match (&mut w.held, &self.aggregate) {
                    // A point older than the window's start would be
                    // filtered out of its batch, and of every later one.
                    (Held::Aggregate(acc, _), Some(fused)) => {
                        if p.time >= w.next_emit.saturating_sub(period) {
                            fused.node.accumulate(acc, &p.fields);
                        }
                    }
                    (held, _) => held.points().push(p),
                }
                return result;
            }
            Mode::Count { period, every, .. } => {
                let buf = w.held.points();
                if buf.slots.len() == period {
                    buf.slots.pop_front();
                }
                buf.push(p);
                w.count += 1;
                if w.count == w.next_emit as u64 {
                    w.next_emit = w.next_emit.saturating_add(every as i64);
                    out.push(Message::Batch(w.emit_count()));
                }
            }
        }
        Ok(())
    }

    /// Time reached `time` for one group: closes its window if due. Count
    /// windows ignore time, as in Kapacitor.
    fn advance(
        w: &mut GroupWindow,
        mode: Mode,
        aggregate: Option<&Fused>,
        time: i64,
        out: &mut Vec<Message>,
    ) -> Result<(), NodeError> {
        match mode {
            Mode::Time {
                period, every: 0, ..
            } => {
                if time >= w.next_emit {
                    out.push(Message::Batch(w.emit_right_closed(time, period)));
                    w.next_emit = time;
                }
            }
            Mode::Time {
                period,
                every,
                align,
                ..
            } => {
                if time >= w.next_emit {
                    let result = w.close(period, aggregate, out);
                    w.next_emit = next_boundary(time, every, align);
                    return result;
                }
            }
            Mode::Count { .. } => {}
        }
        Ok(())
    }

    fn delete(&mut self, group: &GroupKey) {
        if let Some(i) = self.index.remove(group) {
            // Keep first-appearance order for the rest; deletions are rare.
            self.groups.remove(i);
            for (j, w) in self.groups.iter().enumerate().skip(i) {
                self.index.insert(w.group.clone(), j);
            }
        }
    }
}

impl GroupWindow {
    fn new(mode: Mode, fused: bool, group: GroupKey, name: Name, first: i64) -> Self {
        let next_emit = match mode {
            Mode::Time {
                period,
                every,
                align,
                fill_period,
            } => first_boundary(first, period, every, align, fill_period),
            Mode::Count {
                period,
                every,
                fill_period,
            } => {
                if fill_period {
                    period as i64
                } else {
                    every as i64
                }
            }
        };
        let cap = match mode {
            Mode::Count { period, .. } => period.min(1024),
            Mode::Time { .. } => 0,
        };
        GroupWindow {
            group,
            name,
            next_emit,
            count: 0,
            held: if fused {
                Held::Aggregate(Accumulator::default(), None)
            } else {
                Held::Points(Buffer::with_capacity(cap))
            },
        }
    }

    /// Closes the window `[next_emit − period, next_emit)`: emits its batch,
    /// or, fused, what the aggregate makes of it.
    fn close(
        &mut self,
        period: i64,
        aggregate: Option<&Fused>,
        out: &mut Vec<Message>,
    ) -> Result<(), NodeError> {
        let (Some(fused), Held::Aggregate(acc, series)) = (aggregate, &mut self.held) else {
            out.push(Message::Batch(self.emit_left_closed(period)));
            return Ok(());
        };
        let (msg, err) = fused.node.emit_accumulated(
            &self.name,
            self.next_emit,
            &self.group,
            acc,
            series,
            &fused.keys,
        );
        out.extend(msg);
        err.map_or(Ok(()), Err)
    }

    /// The window `[next_emit − period, next_emit)`, emitted at `next_emit`.
    fn emit_left_closed(&mut self, period: i64) -> Batch {
        let tmax = self.next_emit;
        let oldest = tmax.saturating_sub(period);
        let buf = self.held.points();
        while buf.slots.front().is_some_and(|p| p.time < oldest) {
            buf.slots.pop_front();
        }
        // Kapacitor only trims the front; a point that arrived out of order
        // could sit behind a newer one, so filter rather than trust the order.
        self.batch(tmax, |t| t >= oldest && t < tmax)
    }

    /// The window `(now − period, now]`, emitted at `now`.
    fn emit_right_closed(&mut self, now: i64, period: i64) -> Batch {
        let oldest = now.saturating_sub(period);
        let buf = self.held.points();
        while buf.slots.front().is_some_and(|p| p.time <= oldest) {
            buf.slots.pop_front();
        }
        self.batch(now, |t| t > oldest && t <= now)
    }

    fn emit_count(&self) -> Batch {
        let tmax = self
            .held
            .buffered()
            .and_then(|b| b.slots.back())
            .map_or(0, |p| p.time);
        self.batch(tmax, |_| true)
    }

    fn batch(&self, tmax: i64, keep: impl Fn(i64) -> bool) -> Batch {
        Batch {
            name: self.name.clone(),
            tmax,
            group: self.group.clone(),
            tags: self.group.tags().clone(),
            points: self
                .held
                .buffered()
                .map_or_else(Vec::new, |b| b.points(keep)),
        }
    }
}

impl Held {
    fn buffered(&self) -> Option<&Buffer> {
        match self {
            Held::Points(buf) => Some(buf),
            Held::Aggregate(..) => None,
        }
    }

    /// The buffered points, for the paths of a window that keeps points:
    /// a fused window is a tumbling time window whose groups all start
    /// with an accumulator and never reach them.
    fn points(&mut self) -> &mut Buffer {
        match self {
            Held::Points(buf) => buf,
            Held::Aggregate(..) => unreachable!("a fused window keeps no points"),
        }
    }
}

/// A group's buffered points, stored compactly: a point's series and field
/// keys are nearly always those of the point before, so each distinct pair
/// is kept once per group and a point refers to it by number; a point with
/// one field keeps its value inline rather than the shared value list. A
/// buffered point so costs one [`Slot`] (40 bytes) and, with several
/// fields, keeps its value list alive.
#[derive(Debug)]
struct Buffer {
    slots: VecDeque<Slot>,
    /// The distinct (series, field keys) of the buffered points.
    shapes: Vec<(Arc<Series>, Arc<[Name]>)>,
}

#[derive(Debug)]
struct Slot {
    time: i64,
    values: Values,
    shape: u32,
}

#[derive(Debug)]
enum Values {
    One(FieldValue),
    Many(Arc<[FieldValue]>),
}

/// Shapes a buffer keeps before it drops the ones no point uses any more.
const SHAPES_BEFORE_SWEEP: usize = 8;

impl Buffer {
    fn with_capacity(cap: usize) -> Self {
        Buffer {
            slots: VecDeque::with_capacity(cap),
            shapes: Vec::new(),
        }
    }

    fn push(&mut self, p: Point) {
        let keys = p.fields.keys();
        let known = self
            .shapes
            .iter()
            .rposition(|(s, k)| Arc::ptr_eq(s, &p.series) && Arc::ptr_eq(k, keys));
        let shape = match known {
            Some(i) => i,
            None => {
                if self.shapes.len() >= SHAPES_BEFORE_SWEEP {
                    self.sweep();
                }
                self.shapes.push((p.series.clone(), keys.clone()));
                self.shapes.len() - 1
            }
        };
        let values = match &**p.fields.values() {
            [one] => Values::One(one.clone()),
            _ => Values::Many(p.fields.values().clone()),
        };
        self.slots.push_back(Slot {
            time: p.time,
            values,
            shape: shape as u32,
        });
    }

    /// Drops the shapes no buffered point refers to.
    fn sweep(&mut self) {
        let mut renumber: Vec<Option<u32>> = vec![None; self.shapes.len()];
        for s in &self.slots {
            renumber[s.shape as usize] = Some(0);
        }
        for (next, n) in renumber.iter_mut().flatten().enumerate() {
            *n = next as u32;
        }
        let mut i = 0;
        self.shapes.retain(|_| {
            i += 1;
            renumber[i - 1].is_some()
        });
        for s in &mut self.slots {
            s.shape = renumber[s.shape as usize].unwrap_or(0);
        }
    }

    /// The buffered points whose time `keep` accepts, as batch points.
    fn points(&self, keep: impl Fn(i64) -> bool) -> Vec<BatchPoint> {
        self.slots
            .iter()
            .filter(|s| keep(s.time))
            .map(|s| {
                let (series, keys) = &self.shapes[s.shape as usize];
                let values = match &s.values {
                    Values::One(v) => Arc::from([v.clone()]),
                    Values::Many(v) => v.clone(),
                };
                BatchPoint {
                    time: s.time,
                    fields: Fields::new(keys.clone(), values),
                    tags: series.tags().clone(),
                }
            })
            .collect()
    }
}

/// The first boundary of a group whose first point is at `t`.
fn first_boundary(t: i64, period: i64, every: i64, align: bool, fill_period: bool) -> i64 {
    if fill_period {
        let first_full = t.saturating_add(period);
        if !align {
            return first_full;
        }
        // Aligned to `every`, yet late enough that the first window is full;
        // the points before the aligned start are dropped.
        let aligned = truncate(first_full, every);
        if aligned > first_full {
            aligned
        } else {
            aligned.saturating_add(every)
        }
    } else {
        next_boundary(t, every, align)
    }
}

/// The boundary after a window closed at data time `t`.
fn next_boundary(t: i64, every: i64, align: bool) -> i64 {
    let next = t.saturating_add(every);
    if align { truncate(next, every) } else { next }
}

/// Seconds from Go's zero time (0001-01-01T00:00:00Z) to the Unix epoch.
const GO_ZERO_TO_UNIX_SECS: i128 = 62_135_596_800;

/// Go's `time.Truncate`: rounds down to a multiple of `d` since Go's zero
/// time, not since the Unix epoch. The two agree for every duration that
/// divides a day, and differ (as in Kapacitor) for, say, `7s`.
fn truncate(t: i64, d: i64) -> i64 {
    if d <= 0 {
        return t;
    }
    let since_zero = t as i128 + GO_ZERO_TO_UNIX_SECS * 1_000_000_000;
    let r = since_zero.rem_euclid(d as i128);
    (t as i128 - r) as i64
}

impl Node for WindowNode {
    fn groups(&self) -> usize {
        self.group_count()
    }

    fn prefetch(&self, msg: &Message, stage: Prefetch) {
        let Message::Point(_, group) = msg else {
            return;
        };
        match stage {
            Prefetch::Table => self.index.prefetch(group),
            Prefetch::State => {
                if let Some(w) = self.index.get(group).and_then(|&i| self.groups.get(i)) {
                    crate::prefetch::prefetch(w);
                    crate::prefetch::prefetch(&w.held);
                }
            }
        }
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match msg {
            Message::Point(p, group) => self.point(p, group, out),
            Message::Batch(_) => Err(NodeError::new("window does not support batch data")),
            Message::Barrier { group, time } => {
                let mode = self.mode;
                let agg = self.aggregate.as_ref();
                let mut result = Ok(());
                match &group {
                    Some(g) => {
                        // A barrier for a group never seen has nothing to
                        // flush; unlike Kapacitor it does not start a window.
                        if let Some(&i) = self.index.get(g) {
                            result = Self::advance(&mut self.groups[i], mode, agg, time, out);
                        }
                    }
                    None => {
                        for w in &mut self.groups {
                            let r = Self::advance(w, mode, agg, time, out);
                            result = result.and(r);
                        }
                    }
                }
                // Passed on so that nodes below see time move too.
                out.push(Message::Barrier { group, time });
                result
            }
            Message::DeleteGroup(group) => {
                self.delete(&group);
                out.push(Message::DeleteGroup(group));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    #[test]
    fn a_buffered_point_is_small() {
        assert!(std::mem::size_of::<super::Slot>() <= 40);
    }

    #[test]
    fn points_of_many_series_in_one_group_keep_their_own_tags_and_fields() {
        // 30 series in the nil group, a sliding window so old shapes go
        // out while new ones come in: the sweep must renumber correctly.
        let spec = WindowSpec {
            period: Some(4 * S),
            every: Some(S),
            ..Default::default()
        };
        let mut node = WindowNode::new(spec).expect("window");
        let mut out = Vec::new();
        for t in 0..30i64 {
            let series = Series::new("cpu".into(), vec![("n".into(), t.to_string().into())])
                .expect("series");
            let fields = if t % 2 == 0 {
                Fields::from_pairs([("v".into(), FieldValue::Integer(t))])
            } else {
                Fields::from_pairs([
                    ("v".into(), FieldValue::Integer(t)),
                    ("w".into(), FieldValue::Integer(-t)),
                ])
            };
            let p = Point {
                series: Arc::new(series),
                fields,
                time: t * S,
            };
            node.process(Message::Point(p, GroupKey::nil()), &mut out)
                .expect("point");
        }
        let mut checked = 0;
        for m in out {
            let Message::Batch(b) = m else { continue };
            for p in &b.points {
                let Some(FieldValue::Integer(v)) = p.fields.get("v") else {
                    panic!("no v in {p:?}");
                };
                assert_eq!(p.time, v * S);
                assert_eq!(&*p.tags[0].1, v.to_string());
                let w = p.fields.get("w");
                assert_eq!(w, (v % 2 == 1).then_some(&FieldValue::Integer(-v)));
                checked += 1;
            }
        }
        assert!(checked > 60, "{checked}");
    }

    use super::*;
    use crate::point::{FieldValue, Fields, Series};

    const S: i64 = 1_000_000_000;

    fn pt(t: i64, v: f64) -> Point {
        let series = Series::new("cpu".into(), vec![]).expect("series");
        Point {
            series: Arc::new(series),
            fields: Fields::from_pairs([("value".into(), FieldValue::Float(v))]),
            time: t,
        }
    }

    fn run(node: &mut WindowNode, times: &[i64]) -> Vec<Batch> {
        let mut out = Vec::new();
        for &t in times {
            node.process(
                Message::Point(pt(t * S, t as f64), GroupKey::nil()),
                &mut out,
            )
            .expect("point");
        }
        out.into_iter()
            .filter_map(|m| match m {
                Message::Batch(b) => Some(b),
                _ => None,
            })
            .collect()
    }

    fn times(b: &Batch) -> Vec<i64> {
        b.points.iter().map(|p| p.time / S).collect()
    }

    fn time_spec(period: i64, every: i64) -> WindowSpec {
        WindowSpec {
            period: Some(period * S),
            every: Some(every * S),
            ..Default::default()
        }
    }

    /// Conflicting settings are the DSL's to refuse (see the golden cases
    /// `testdata/dsl/bad/window_*`); a spec that cannot run is refused here.
    #[test]
    fn a_window_that_cannot_run_is_refused() {
        assert!(WindowNode::new(WindowSpec::default()).is_err());
        let negative = WindowSpec {
            period: Some(-S),
            ..Default::default()
        };
        assert!(WindowNode::new(negative).is_err());
        let no_every_count = WindowSpec {
            period_count: Some(2),
            ..Default::default()
        };
        assert!(WindowNode::new(no_every_count).is_err());
        assert!(
            WindowNode::new(WindowSpec {
                period: Some(S),
                ..Default::default()
            })
            .is_ok()
        );
    }

    #[test]
    fn closing_point_starts_the_next_window() {
        let mut w = WindowNode::new(time_spec(10, 10)).expect("spec");
        let out = run(&mut w, &[0, 5, 9, 10, 10, 19, 20]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].tmax, 10 * S);
        assert_eq!(times(&out[0]), vec![0, 5, 9]);
        assert_eq!(out[1].tmax, 20 * S);
        assert_eq!(times(&out[1]), vec![10, 10, 19]);
    }

    #[test]
    fn next_boundary_follows_the_closing_point_not_the_old_boundary() {
        let mut w = WindowNode::new(time_spec(10, 10)).expect("spec");
        let out = run(&mut w, &[0, 25, 30, 35]);
        // Closed at 25 (boundary 10): the next boundary is 35, not 20.
        assert_eq!(
            out.iter().map(|b| b.tmax / S).collect::<Vec<_>>(),
            vec![10, 35]
        );
        assert!(out[0].points.len() == 1);
        assert_eq!(times(&out[1]), vec![25, 30]);
    }

    #[test]
    fn every_zero_emits_each_point_with_a_right_closed_window() {
        let mut w = WindowNode::new(WindowSpec {
            period: Some(3 * S),
            ..Default::default()
        })
        .expect("spec");
        let out = run(&mut w, &[0, 1, 3, 4]);
        assert_eq!(out.len(), 4);
        assert_eq!(times(&out[2]), vec![1, 3]);
        assert_eq!(times(&out[3]), vec![3, 4]);
        assert_eq!(out[3].tmax, 4 * S);
    }

    #[test]
    fn fill_period_aligned_drops_the_partial_start() {
        let spec = WindowSpec {
            align: true,
            fill_period: true,
            ..time_spec(10, 5)
        };
        let mut w = WindowNode::new(spec).expect("spec");
        // First point at 3: full window ends at 13, aligned to 10 <= 13, so 15.
        let out = run(&mut w, &[3, 7, 12, 15]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].tmax, 15 * S);
        assert_eq!(times(&out[0]), vec![7, 12]);
    }

    #[test]
    fn count_window_emits_last_period_points_every_n() {
        let spec = WindowSpec {
            period_count: Some(3),
            every_count: Some(2),
            ..Default::default()
        };
        let mut w = WindowNode::new(spec).expect("spec");
        let out = run(&mut w, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(
            out.iter().map(times).collect::<Vec<_>>(),
            vec![vec![1, 2], vec![2, 3, 4], vec![4, 5, 6]]
        );
        assert_eq!(out[1].tmax, 4 * S);
    }

    #[test]
    fn barrier_closes_windows_and_delete_forgets_the_group() {
        let mut w = WindowNode::new(time_spec(10, 10)).expect("spec");
        let mut out = Vec::new();
        w.process(Message::Point(pt(0, 1.0), GroupKey::nil()), &mut out)
            .expect("point");
        w.process(
            Message::Barrier {
                group: None,
                time: 10 * S,
            },
            &mut out,
        )
        .expect("barrier");
        assert!(matches!(&out[0], Message::Batch(b) if b.points.len() == 1 && b.tmax == 10 * S));
        assert!(matches!(&out[1], Message::Barrier { .. }));
        w.process(Message::DeleteGroup(GroupKey::nil()), &mut out)
            .expect("delete");
        assert_eq!(w.group_count(), 0);
        assert!(
            w.process(
                Message::Batch(match &out[0] {
                    Message::Batch(b) => b.clone(),
                    _ => unreachable!(),
                }),
                &mut out
            )
            .is_err()
        );
    }

    #[test]
    fn truncate_is_relative_to_go_zero_time() {
        assert_eq!(truncate(25 * S, 10 * S), 20 * S);
        // 62135596800 mod 7 = 4, so multiples of 7s since year 1 sit at
        // Unix seconds ≡ 3 (mod 7).
        assert_eq!(truncate(14 * S, 7 * S), 10 * S);
    }
}
