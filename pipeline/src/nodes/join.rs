//! `join`: joins the points (or batches) of two or more parents that share a
//! group and a time, within `.tolerance()` (times are rounded to a multiple
//! of it). Each parent contributes at most one point to a joined point, whose
//! fields are `<as><delimiter><field>`. Without `.fill()` a time some parent
//! never reaches is dropped (inner join); `.fill(number)` fills the missing
//! parent's fields (copying the field names of a present one) and
//! `.fill('null')` leaves them out, which is what a null field amounts to
//! here (outer join). `.on(tags...)` joins data grouped by more tags with
//! data grouped by just those tags.
//!
//! A set of points waits until every parent has moved past its time, then
//! goes out complete or not; this follows Kapacitor's `join.go`. The joined
//! point carries only its group's tags and takes the name of the first
//! parent present (or `.streamName()`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use dsl::{NodeSpec, Value};

use crate::batch::{Batch, BatchPoint, Message};
use crate::group::GroupKey;
use crate::node::{Node, NodeError};
use crate::nodes::sample::GO_ZERO_TO_UNIX_NS;
use crate::point::{FieldValue, Fields, Name, Point, Series, Tags};
use crate::spec::{BuildError, SpecExt, names};

#[derive(Clone, Debug, PartialEq)]
enum Fill {
    None,
    Null,
    Number(FieldValue),
}

/// Settings shared by every group.
struct JoinSettings {
    prefixes: Vec<Name>,
    delimiter: String,
    stream_name: Option<Name>,
    tolerance: i64,
    fill: Fill,
}

impl JoinSettings {
    fn round(&self, t: i64) -> i64 {
        round(t, self.tolerance)
    }

    fn prefixed(&self, src: usize, field: &str) -> Name {
        Name::from(format!("{}{}{field}", self.prefixes[src], self.delimiter))
    }

    /// Fields standing in for a parent that has no point here, or `None`
    /// when the set must be dropped (no fill: inner join).
    fn filler(&self, src: usize, names: &[Name], out: &mut Vec<(Name, FieldValue)>) -> Option<()> {
        match &self.fill {
            Fill::None => None,
            Fill::Null => Some(()),
            Fill::Number(v) => {
                out.extend(names.iter().map(|k| (self.prefixed(src, k), v.clone())));
                Some(())
            }
        }
    }
}

/// Rounds `t` to a multiple of `d` as Go's `time.Round` does: relative to
/// Go's zero time, halves away from zero; `d <= 0` leaves `t` alone.
pub(crate) fn round(t: i64, d: i64) -> i64 {
    if d <= 0 {
        return t;
    }
    let (t128, d128) = (i128::from(t), i128::from(d));
    let r = (t128 + GO_ZERO_TO_UNIX_NS).rem_euclid(d128);
    let rounded = if r + r < d128 {
        t128 - r
    } else {
        t128 - r + d128
    };
    i64::try_from(rounded).unwrap_or(t)
}

fn time_of(msg: &Message) -> i64 {
    match msg {
        Message::Point(p, _) => p.time,
        Message::Batch(b) => b.tmax,
        Message::Barrier { time, .. } => *time,
        Message::DeleteGroup(_) => 0,
    }
}

fn group_of(msg: &Message) -> Option<&GroupKey> {
    match msg {
        Message::Point(_, g) => Some(g),
        Message::Batch(b) => Some(&b.group),
        _ => None,
    }
}

/// One joined point in the making: at most one message per parent.
struct JoinSet {
    values: Vec<Option<Message>>,
    size: usize,
}

impl JoinSet {
    fn new(parents: usize) -> Self {
        JoinSet {
            values: (0..parents).map(|_| None).collect(),
            size: 0,
        }
    }

    fn ready(&self) -> bool {
        self.size == self.values.len()
    }

    fn first(&self) -> Option<&Message> {
        self.values.iter().flatten().next()
    }

    fn into_point(self, s: &JoinSettings, time: i64) -> Result<Option<Message>, NodeError> {
        let Some(Message::Point(first, group)) = self.first() else {
            return Err(NodeError::new("join: expected points from every parent"));
        };
        let first_names: Vec<Name> = first.fields.keys().to_vec();
        let name = s
            .stream_name
            .clone()
            .unwrap_or_else(|| first.measurement().clone());
        let group = group.clone();
        let mut fields = Vec::new();
        for (src, v) in self.values.iter().enumerate() {
            match v {
                Some(Message::Point(p, _)) => fields.extend(
                    p.fields
                        .iter()
                        .map(|(k, v)| (s.prefixed(src, k), v.clone())),
                ),
                Some(_) => return Err(NodeError::new("join: cannot join points with batches")),
                None => {
                    if s.filler(src, &first_names, &mut fields).is_none() {
                        return Ok(None);
                    }
                }
            }
        }
        let series = Series::new(name.clone(), group.tags().to_vec())
            .map_err(|e| NodeError::new(e.to_string()))?;
        let group = GroupKey::from_parts(group.measurement().map(|_| name), group.tags().clone());
        let point = Point {
            series: series.into(),
            fields: Fields::from_pairs(fields),
            time,
        };
        Ok(Some(Message::Point(point, group)))
    }

    /// Merges the batches point by point on (rounded) time, as Kapacitor's
    /// `JoinIntoBatch` does.
    fn into_batch(self, s: &JoinSettings, time: i64) -> Result<Option<Message>, NodeError> {
        let Some(Message::Batch(first)) = self.first() else {
            return Err(NodeError::new("join: expected batches from every parent"));
        };
        let mut batches: Vec<Option<&Batch>> = Vec::with_capacity(self.values.len());
        for v in &self.values {
            match v {
                Some(Message::Batch(b)) => batches.push(Some(b)),
                Some(_) => return Err(NodeError::new("join: cannot join batches with points")),
                None => batches.push(None),
            }
        }
        let expected = batches.len();
        let tags: Tags = first.tags.clone();
        let mut points = Vec::with_capacity(first.points.len());
        let mut empty = vec![false; expected];
        let mut empty_count = 0;
        let mut indexes = vec![0usize; expected];
        let mut field_names: Option<Vec<Name>> = None;
        'points: while empty_count < expected {
            let mut set: Vec<Option<&BatchPoint>> = vec![None; expected];
            let mut set_time: Option<i64> = None;
            let mut count = 0;
            for (i, batch) in batches.iter().enumerate() {
                if empty[i] {
                    continue;
                }
                let Some(b) = batch.filter(|b| indexes[i] < b.points.len()) else {
                    empty_count += 1;
                    empty[i] = true;
                    continue;
                };
                let bp = &b.points[indexes[i]];
                let t = s.round(bp.time);
                let st = *set_time.get_or_insert(t);
                if t < st {
                    set_time = Some(t);
                    for (j, slot) in set.iter_mut().enumerate() {
                        if slot.is_some() {
                            indexes[j] -= 1;
                        }
                        *slot = None;
                    }
                    set[i] = Some(bp);
                    indexes[i] += 1;
                    count = 1;
                } else if t == st {
                    if field_names.is_none() {
                        field_names = Some(bp.fields.keys().to_vec());
                    }
                    set[i] = Some(bp);
                    indexes[i] += 1;
                    count += 1;
                }
            }
            if count == 0 {
                continue;
            }
            let names = field_names.as_deref().unwrap_or(&[]);
            let mut fields = Vec::new();
            for (src, bp) in set.iter().enumerate() {
                match bp {
                    Some(bp) => fields.extend(
                        bp.fields
                            .iter()
                            .map(|(k, v)| (s.prefixed(src, k), v.clone())),
                    ),
                    None => {
                        if s.filler(src, names, &mut fields).is_none() {
                            continue 'points;
                        }
                    }
                }
            }
            points.push(BatchPoint {
                time: set_time.unwrap_or(time),
                fields: Fields::from_pairs(fields),
                tags: tags.clone(),
            });
        }
        let name = s.stream_name.clone().unwrap_or_else(|| first.name.clone());
        let group = GroupKey::from_parts(
            first.group.measurement().map(|_| name.clone()),
            first.group.tags().clone(),
        );
        Ok(Some(Message::Batch(Batch {
            name,
            tmax: time,
            group,
            tags,
            points,
        })))
    }
}

/// The sets of one group, by rounded time, and how far each parent got.
struct JoinGroup {
    sets: BTreeMap<i64, VecDeque<JoinSet>>,
    /// Per parent: the last time it delivered (`i64::MIN` for never).
    head: Vec<i64>,
    /// When the group was first seen, to flush groups in a stable order.
    seq: u64,
}

impl JoinGroup {
    fn collect(
        &mut self,
        s: &JoinSettings,
        src: usize,
        msg: Message,
        out: &mut Vec<Message>,
    ) -> Result<(), NodeError> {
        let t = s.round(time_of(&msg));
        let parents = self.head.len();
        let sets = self.sets.entry(t).or_default();
        let set = match sets.iter_mut().position(|x| x.values[src].is_none()) {
            Some(i) => &mut sets[i],
            None => {
                sets.push_back(JoinSet::new(parents));
                sets.back_mut().expect("just pushed")
            }
        };
        set.values[src] = Some(msg);
        set.size += 1;
        self.head[src] = t;
        self.emit(s, out)
    }

    fn barrier(
        &mut self,
        s: &JoinSettings,
        src: usize,
        time: i64,
        out: &mut Vec<Message>,
    ) -> Result<(), NodeError> {
        self.head[src] = s.round(time);
        self.emit(s, out)
    }

    /// Whether some parent has not yet moved past the oldest set's time, so
    /// only complete sets may leave.
    fn only_ready(&self) -> bool {
        let oldest = self.sets.keys().next().copied().unwrap_or(i64::MIN);
        self.head.iter().any(|&h| h <= oldest)
    }

    fn emit(&mut self, s: &JoinSettings, out: &mut Vec<Message>) -> Result<(), NodeError> {
        let mut only_ready = self.only_ready();
        loop {
            let Some(mut entry) = self.sets.first_entry() else {
                return Ok(());
            };
            let time = *entry.key();
            let sets = entry.get_mut();
            let mut first_error = None;
            while let Some(set) = sets.front() {
                if only_ready && !set.ready() {
                    break;
                }
                let set = sets.pop_front().expect("a front set");
                if let Err(e) = emit_set(s, set, time, out) {
                    first_error.get_or_insert(e);
                }
            }
            if sets.is_empty() {
                entry.remove();
            }
            if let Some(e) = first_error {
                return Err(e);
            }
            if only_ready {
                return Ok(());
            }
            only_ready = self.only_ready();
        }
    }

    /// Emits every set, complete or not (the task is stopping).
    fn emit_all(&mut self, s: &JoinSettings, out: &mut Vec<Message>) {
        for (time, sets) in std::mem::take(&mut self.sets) {
            for set in sets {
                if let Err(e) = emit_set(s, set, time, out) {
                    tracing::debug!("{e}");
                }
            }
        }
    }
}

fn emit_set(
    s: &JoinSettings,
    set: JoinSet,
    time: i64,
    out: &mut Vec<Message>,
) -> Result<(), NodeError> {
    let joined = match set.first() {
        Some(Message::Point(..)) => set.into_point(s, time)?,
        Some(Message::Batch(_)) => set.into_batch(s, time)?,
        _ => None,
    };
    out.extend(joined);
    Ok(())
}

fn group_entry<'a>(
    groups: &'a mut HashMap<GroupKey, JoinGroup>,
    next_seq: &mut u64,
    parents: usize,
    key: GroupKey,
) -> &'a mut JoinGroup {
    groups.entry(key).or_insert_with(|| {
        *next_seq += 1;
        JoinGroup {
            sets: BTreeMap::new(),
            head: vec![i64::MIN; parents],
            seq: *next_seq,
        }
    })
}

/// A message waiting in the `.on()` buffers, with its parent.
struct Pending {
    src: usize,
    msg: Message,
}

pub struct JoinNode {
    settings: JoinSettings,
    on: Option<Vec<Name>>,
    parents: usize,
    groups: HashMap<GroupKey, JoinGroup>,
    next_seq: u64,
    /// `.on()`: per (parent, on-group) the last rounded time seen.
    low_marks: HashMap<(usize, GroupKey), i64>,
    /// `.on()`: data grouped by exactly the on-tags, waiting for matches.
    match_buffers: HashMap<GroupKey, VecDeque<Pending>>,
    /// `.on()`: data grouped by more tags, waiting for their match.
    specific_buffers: HashMap<GroupKey, VecDeque<Pending>>,
    reported: HashSet<usize>,
    delete_all: bool,
}

impl JoinNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let parents = spec
            .args
            .iter()
            .filter(|a| matches!(a, Value::Node(_)))
            .count()
            + 1;
        let mut prefixes = Vec::new();
        names(
            spec,
            "as",
            spec.prop_args("as").unwrap_or(&[]),
            &mut prefixes,
        )?;
        if prefixes.len() != parents {
            return Err(BuildError::unchecked(spec, ".as()"));
        }
        let mut on = Vec::new();
        names(spec, "on", spec.prop_args("on").unwrap_or(&[]), &mut on)?;
        on.sort();
        on.dedup();
        let fill = match spec.prop("fill") {
            None => Fill::None,
            Some(Value::String(s) | Value::Reference(s)) if s == "null" => Fill::Null,
            Some(Value::String(s) | Value::Reference(s)) if s == "none" => Fill::None,
            Some(Value::Int(i)) => Fill::Number(FieldValue::Integer(*i)),
            Some(Value::Float(f)) => Fill::Number(FieldValue::Float(*f)),
            Some(_) => return Err(BuildError::unchecked(spec, ".fill()")),
        };
        let delete_all = match spec.prop("deleteAll") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => true,
        };
        Ok(JoinNode {
            settings: JoinSettings {
                prefixes,
                delimiter: spec.prop_string("delimiter")?.unwrap_or_else(|| ".".into()),
                stream_name: spec.prop_string("streamName")?.map(Name::from),
                tolerance: spec.prop_duration("tolerance")?.unwrap_or(0).max(0),
                fill,
            },
            on: (!on.is_empty()).then_some(on),
            parents,
            groups: HashMap::new(),
            next_seq: 0,
            low_marks: HashMap::new(),
            match_buffers: HashMap::new(),
            specific_buffers: HashMap::new(),
            reported: HashSet::new(),
            delete_all,
        })
    }

    fn collect(
        &mut self,
        src: usize,
        msg: Message,
        out: &mut Vec<Message>,
    ) -> Result<(), NodeError> {
        let Some(key) = group_of(&msg).cloned() else {
            return Ok(());
        };
        let group = group_entry(&mut self.groups, &mut self.next_seq, self.parents, key);
        group.collect(&self.settings, src, msg, out)
    }

    /// The group of `msg` restricted to the `.on()` tags.
    fn on_group(on: &[Name], msg: &Message) -> Option<GroupKey> {
        let group = group_of(msg)?;
        let tags: Vec<(Name, Name)> = on
            .iter()
            .map(|k| {
                let v = group
                    .tags()
                    .iter()
                    .find(|(t, _)| t == k)
                    .map(|(_, v)| v.clone());
                (k.clone(), v.unwrap_or_else(|| Name::from("")))
            })
            .collect();
        let measurement = group.measurement().map(|_| match msg {
            Message::Point(p, _) => p.measurement().clone(),
            Message::Batch(b) => b.name.clone(),
            _ => Name::from(""),
        });
        Some(GroupKey::from_parts(measurement, tags.into()))
    }

    /// Kapacitor's `matchPoints`: pairs data grouped by more tags than the
    /// `.on()` tags ("specific") with data grouped by just those ("match").
    fn match_points(
        &mut self,
        on: &[Name],
        src: usize,
        msg: Message,
        out: &mut Vec<Message>,
    ) -> Result<(), NodeError> {
        if self.reported.len() < self.parents {
            self.reported.insert(src);
        }
        let all_reported = self.reported.len() == self.parents;
        let Some(key) = Self::on_group(on, &msg) else {
            return Ok(());
        };
        let t = self.settings.round(time_of(&msg));
        self.low_marks.insert((src, key.clone()), t);
        let low_mark = if all_reported {
            (0..self.parents)
                .map(|s| {
                    self.low_marks
                        .get(&(s, key.clone()))
                        .copied()
                        .unwrap_or(i64::MIN)
                })
                .min()
                .unwrap_or(i64::MIN)
        } else {
            i64::MIN
        };
        let mut result = Ok(());
        let mut keep = |r: Result<(), NodeError>| {
            if let Err(e) = r {
                result = Err(e);
            }
        };
        if all_reported {
            let mut ready = Vec::new();
            if let Some(buf) = self.specific_buffers.get_mut(&key) {
                while buf
                    .front()
                    .is_some_and(|p| self.settings.round(time_of(&p.msg)) < low_mark)
                {
                    ready.extend(buf.pop_front());
                }
            }
            for p in ready {
                keep(self.collect(p.src, p.msg, out));
            }
        }
        let dims = group_of(&msg).map_or(0, |g| g.tags().len());
        if dims > on.len() {
            let mut matched = Vec::new();
            let mut consumed = 0;
            if let Some(matches) = self.match_buffers.get(&key) {
                for m in matches {
                    let mt = self.settings.round(time_of(&m.msg));
                    if mt == t {
                        matched.push((m.src, m.msg.clone()));
                    }
                    if mt >= low_mark {
                        break;
                    }
                    consumed += 1;
                }
            }
            if all_reported && let Some(matches) = self.match_buffers.get_mut(&key) {
                matches.drain(..consumed.min(matches.len()));
            }
            let was_matched = !matched.is_empty();
            for (msrc, m) in matched {
                keep(self.send_match(src, msg.clone(), msrc, m, out));
            }
            if !was_matched {
                if all_reported && t < low_mark {
                    keep(self.collect(src, msg, out));
                } else {
                    self.specific_buffers
                        .entry(key)
                        .or_default()
                        .push_back(Pending { src, msg });
                }
            }
        } else {
            self.match_buffers
                .entry(key.clone())
                .or_default()
                .push_back(Pending {
                    src,
                    msg: msg.clone(),
                });
            let mut specifics = Vec::new();
            if let Some(buf) = self.specific_buffers.get_mut(&key) {
                while buf
                    .front()
                    .is_some_and(|p| self.settings.round(time_of(&p.msg)) == t)
                {
                    specifics.extend(buf.pop_front());
                }
            }
            for p in specifics {
                keep(self.send_match(p.src, p.msg, src, msg.clone(), out));
            }
        }
        result
    }

    /// Joins `specific` with `matched`, which takes the specific's group.
    fn send_match(
        &mut self,
        src: usize,
        specific: Message,
        msrc: usize,
        matched: Message,
        out: &mut Vec<Message>,
    ) -> Result<(), NodeError> {
        let Some(group) = group_of(&specific).cloned() else {
            return Ok(());
        };
        let matched = match matched {
            Message::Point(mut p, _) => {
                let series = Series::new(p.measurement().clone(), group.tags().to_vec())
                    .map_err(|e| NodeError::new(e.to_string()))?;
                p.series = series.into();
                Message::Point(p, group.clone())
            }
            Message::Batch(mut b) => {
                b.tags = group.tags().clone();
                Message::Batch(b)
            }
            other => other,
        };
        let first = self.collect(src, specific, out);
        let second = self.collect(msrc, matched, out);
        first.and(second)
    }
}

impl Node for JoinNode {
    fn groups(&self) -> usize {
        self.groups.len()
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        self.process_from(0, msg, out)
    }

    fn process_from(
        &mut self,
        parent: usize,
        msg: Message,
        out: &mut Vec<Message>,
    ) -> Result<(), NodeError> {
        if parent >= self.parents {
            return Err(NodeError::new(format!("join: unexpected parent {parent}")));
        }
        match msg {
            Message::Point(..) | Message::Batch(_) => match self.on.clone() {
                Some(on) => self.match_points(&on, parent, msg, out),
                None => self.collect(parent, msg, out),
            },
            Message::Barrier { group, time } => {
                let mut result = Ok(());
                match &group {
                    Some(key) => {
                        let g = group_entry(
                            &mut self.groups,
                            &mut self.next_seq,
                            self.parents,
                            key.clone(),
                        );
                        result = g.barrier(&self.settings, parent, time, out);
                    }
                    None => {
                        for g in self.groups.values_mut() {
                            if let Err(e) = g.barrier(&self.settings, parent, time, out) {
                                result = Err(e);
                            }
                        }
                    }
                }
                out.push(Message::Barrier { group, time });
                result
            }
            Message::DeleteGroup(key) => {
                self.groups.remove(&key);
                self.match_buffers.remove(&key);
                self.specific_buffers.remove(&key);
                if self.delete_all {
                    self.low_marks.clear();
                } else {
                    self.low_marks.remove(&(parent, key.clone()));
                }
                out.push(Message::DeleteGroup(key));
                Ok(())
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<Message>) {
        let mut groups: Vec<&mut JoinGroup> = self.groups.values_mut().collect();
        groups.sort_by_key(|g| g.seq);
        for g in groups {
            g.emit_all(&self.settings, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::group::Dimensions;

    const S: i64 = 1_000_000_000;

    fn node(script: &str) -> JoinNode {
        let spec = &crate::testing::node_spec(script, "join");
        JoinNode::from_spec(spec).unwrap()
    }

    fn point(m: &str, tags: &[(&str, &str)], by: &[&str], value: f64, time: i64) -> Message {
        let tags = tags
            .iter()
            .map(|(k, v)| (Name::from(*k), Name::from(*v)))
            .collect();
        let series = Series::new(m.into(), tags).unwrap();
        let dims = Dimensions::new(false, by.iter().map(|b| Name::from(*b)).collect());
        let group = GroupKey::for_series(&dims, &series);
        let fields = Fields::from_pairs([("value".into(), FieldValue::Float(value))]);
        Message::Point(
            Point {
                series: Arc::new(series),
                fields,
                time,
            },
            group,
        )
    }

    /// A joined point as (group id, seconds, fields).
    type Joined = (String, i64, Vec<(String, FieldValue)>);

    fn joined(out: &[Message]) -> Vec<Joined> {
        out.iter()
            .filter_map(|m| match m {
                Message::Point(p, g) => Some((
                    g.id().to_string(),
                    p.time / S,
                    p.fields
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect(),
                )),
                _ => None,
            })
            .collect()
    }

    const TWO: &str = "var a = stream|from().measurement('a')
        var b = stream|from().measurement('b')
        a|join(b).as('a', 'b')";

    #[test]
    fn inner_join_on_time_drops_unmatched_times() {
        let mut n = node(TWO);
        let mut out = Vec::new();
        n.process_from(0, point("a", &[], &[], 1.0, S), &mut out)
            .unwrap();
        n.process_from(1, point("b", &[], &[], 2.0, S), &mut out)
            .unwrap();
        n.process_from(0, point("a", &[], &[], 3.0, 2 * S), &mut out)
            .unwrap();
        n.process_from(0, point("a", &[], &[], 4.0, 3 * S), &mut out)
            .unwrap();
        n.process_from(1, point("b", &[], &[], 5.0, 3 * S), &mut out)
            .unwrap();
        let f = |a: f64, b: f64| {
            vec![
                ("a.value".to_string(), FieldValue::Float(a)),
                ("b.value".to_string(), FieldValue::Float(b)),
            ]
        };
        assert_eq!(
            joined(&out),
            [
                (String::new(), 1, f(1.0, 2.0)),
                (String::new(), 3, f(4.0, 5.0))
            ]
        );
    }

    #[test]
    fn fill_and_tolerance_make_an_outer_join() {
        let mut n = node(&format!("{TWO}.tolerance(2s).fill(0.0).delimiter('_')"));
        let mut out = Vec::new();
        n.process_from(0, point("a", &[], &[], 1.0, 3 * S), &mut out)
            .unwrap();
        n.process_from(1, point("b", &[], &[], 2.0, 4 * S + S / 2), &mut out)
            .unwrap();
        n.process_from(0, point("a", &[], &[], 3.0, 8 * S), &mut out)
            .unwrap();
        n.process_from(1, point("b", &[], &[], 4.0, 12 * S), &mut out)
            .unwrap();
        // The set at 8s leaves, incomplete, once every parent is past it.
        n.process_from(0, point("a", &[], &[], 5.0, 14 * S), &mut out)
            .unwrap();
        let f = |a: f64, b: f64| {
            vec![
                ("a_value".to_string(), FieldValue::Float(a)),
                ("b_value".to_string(), FieldValue::Float(b)),
            ]
        };
        assert_eq!(
            joined(&out),
            [
                (String::new(), 4, f(1.0, 2.0)),
                (String::new(), 8, f(3.0, 0.0))
            ]
        );
        assert_eq!(round(3 * S, 2 * S), 4 * S);
    }

    #[test]
    fn on_joins_specific_groups_with_their_common_group() {
        let mut n = node(
            "var a = stream|from().measurement('cpu').groupBy('host', 'cpu')
             var b = stream|from().measurement('cpu').groupBy('host')
             a|join(b).as('cpu', 'total').on('host')",
        );
        let mut out = Vec::new();
        let t = [("host", "A"), ("cpu", "0")];
        n.process_from(0, point("cpu", &t, &["host", "cpu"], 1.0, S), &mut out)
            .unwrap();
        n.process_from(1, point("cpu", &t, &["host"], 4.0, S), &mut out)
            .unwrap();
        let got = joined(&out);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "cpu=0,host=A");
        assert_eq!(
            got[0].2,
            [
                ("cpu.value".to_string(), FieldValue::Float(1.0)),
                ("total.value".to_string(), FieldValue::Float(4.0))
            ]
        );
    }
}
