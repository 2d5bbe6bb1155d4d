//! The InfluxQL function nodes (`count`, `mean`, `top`, `difference`, ...),
//! with the semantics of Kapacitor's `influxql.go` over InfluxDB 1.9's
//! reducers (`query/functions.go`, `query/call_iterator.go`).
//!
//! * Aggregates and selectors take a batch and emit **one point** at the
//!   batch's time (or, with `usePointTimes`, the time the reducer gives);
//!   `distinct`, `top` and `bottom` emit a **batch**.
//! * Selectors (`first`, `last`, `min`, `max`, `percentile`) emit the chosen
//!   point whole: its tags and all its fields, the field renamed to `as`.
//! * Transformations (`elapsed`, `difference`, `movingAverage`,
//!   `cumulativeSum`) keep the edge type: on a stream they emit per point from
//!   running per-group state, on a batch they emit a batch of results.
//! * A stream fed straight into an aggregate is reduced per run of points
//!   with equal time, emitted when a point with another time arrives.
//! * The value type is fixed by the first point that has the field; points
//!   without the field or with another type are skipped with an error.
//!   Only `count` and `sum` emit for an empty batch.
//!
//! `holtWinters` is not implemented.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::Arc;

use dsl::{NodeSpec, Value};

use crate::batch::{Batch, BatchPoint, Message};
use crate::group::GroupKey;
use crate::node::{Node, NodeError};
use crate::point::{FieldValue, Fields, Name, Point, Series, Tags};
use crate::spec::{BuildError, SpecExt};

/// An InfluxQL function and its arguments.
#[derive(Clone, Debug, PartialEq)]
pub enum Function {
    Count,
    Distinct,
    Mean,
    Median,
    Mode,
    Spread,
    Sum,
    Stddev,
    First,
    Last,
    Min,
    Max,
    Percentile(f64),
    /// `tags` (Kapacitor's `fieldsAndTags`) are accepted for compatibility:
    /// Kapacitor fills the reducer's auxiliary values with them but never
    /// emits them; every output point carries all of its source point's tags.
    Top {
        n: usize,
        tags: Vec<Name>,
    },
    Bottom {
        n: usize,
        tags: Vec<Name>,
    },
    Elapsed {
        unit_ns: i64,
    },
    Difference,
    MovingAverage {
        window: usize,
    },
    CumulativeSum,
    /// `holtWinters(field, h, m, interval)` and `holtWintersWithFit`.
    HoltWinters {
        h: usize,
        m: usize,
        interval: i64,
        with_fit: bool,
    },
}

impl Function {
    /// The TICKscript method name, the default of `as`.
    pub fn name(&self) -> &'static str {
        match self {
            Function::Count => "count",
            Function::Distinct => "distinct",
            Function::Mean => "mean",
            Function::Median => "median",
            Function::Mode => "mode",
            Function::Spread => "spread",
            Function::Sum => "sum",
            Function::Stddev => "stddev",
            Function::First => "first",
            Function::Last => "last",
            Function::Min => "min",
            Function::Max => "max",
            Function::Percentile(_) => "percentile",
            Function::Top { .. } => "top",
            Function::Bottom { .. } => "bottom",
            Function::Elapsed { .. } => "elapsed",
            Function::Difference => "difference",
            Function::MovingAverage { .. } => "movingAverage",
            Function::CumulativeSum => "cumulativeSum",
            // Kapacitor names both `holtWinters`.
            Function::HoltWinters { .. } => "holtWinters",
        }
    }

    fn is_transformation(&self) -> bool {
        matches!(
            self,
            Function::Elapsed { .. }
                | Function::Difference
                | Function::MovingAverage { .. }
                | Function::CumulativeSum
        )
    }

    /// Selectors whose output is the chosen point with all its fields/tags.
    fn is_simple_selector(&self) -> bool {
        matches!(
            self,
            Function::First
                | Function::Last
                | Function::Min
                | Function::Max
                | Function::Percentile(_)
        )
    }

    /// Whether the aggregate's output is a batch rather than a point.
    fn emits_batch(&self) -> bool {
        matches!(
            self,
            Function::Distinct
                | Function::Top { .. }
                | Function::Bottom { .. }
                | Function::HoltWinters { .. }
        )
    }

    fn empty_ok(&self) -> bool {
        matches!(self, Function::Count | Function::Sum)
    }

    /// Which value types the function accepts, as Kapacitor's reducer table.
    fn accepts(&self, kind: Kind) -> bool {
        use Kind::*;
        match self {
            Function::Count
            | Function::Distinct
            | Function::First
            | Function::Last
            | Function::Elapsed { .. } => true,
            _ => matches!(kind, Float | Integer),
        }
    }
}

/// The options of an InfluxQL node.
#[derive(Clone, Debug, PartialEq)]
pub struct InfluxQlSpec {
    pub function: Function,
    pub field: Name,
    /// The output field; defaults to the function's name.
    pub as_name: Name,
    pub use_point_times: bool,
}

impl InfluxQlSpec {
    /// `function(field)` with `as` defaulted to the function name.
    pub fn new(function: Function, field: impl Into<Name>) -> Self {
        let as_name = Name::from(function.name());
        InfluxQlSpec {
            function,
            field: field.into(),
            as_name,
            use_point_times: false,
        }
    }

    /// Reads `|fn(args…)` with `.as()` and `.usePointTimes()` from a plan.
    /// `None` when `spec` is not an InfluxQL function.
    pub fn from_spec(spec: &NodeSpec) -> Result<Option<Self>, BuildError> {
        let int = |i: usize| match spec.arg(i) {
            Some(Value::Int(n)) if *n >= 0 => Ok(*n),
            _ => Err(BuildError::invalid(
                spec,
                format!("argument {} must be a non-negative integer", i + 1),
            )),
        };
        let names_from = |i: usize| -> Result<Vec<Name>, BuildError> {
            (i..spec.args.len())
                .map(|j| spec.arg_string(j).map(Name::from))
                .collect()
        };
        let (function, field) = match spec.kind.as_str() {
            "count" => (Function::Count, spec.arg_string(0)?),
            "distinct" => (Function::Distinct, spec.arg_string(0)?),
            "mean" => (Function::Mean, spec.arg_string(0)?),
            "median" => (Function::Median, spec.arg_string(0)?),
            "mode" => (Function::Mode, spec.arg_string(0)?),
            "spread" => (Function::Spread, spec.arg_string(0)?),
            "sum" => (Function::Sum, spec.arg_string(0)?),
            "stddev" => (Function::Stddev, spec.arg_string(0)?),
            "first" => (Function::First, spec.arg_string(0)?),
            "last" => (Function::Last, spec.arg_string(0)?),
            "min" => (Function::Min, spec.arg_string(0)?),
            "max" => (Function::Max, spec.arg_string(0)?),
            "percentile" => {
                let p = match spec.arg(1) {
                    Some(Value::Float(p)) => *p,
                    Some(Value::Int(p)) => *p as f64,
                    _ => {
                        return Err(BuildError::invalid(
                            spec,
                            "percentile(field, p) needs a number p",
                        ));
                    }
                };
                (Function::Percentile(p), spec.arg_string(0)?)
            }
            "top" => (
                Function::Top {
                    n: int(0)? as usize,
                    tags: names_from(2)?,
                },
                spec.arg_string(1)?,
            ),
            "bottom" => (
                Function::Bottom {
                    n: int(0)? as usize,
                    tags: names_from(2)?,
                },
                spec.arg_string(1)?,
            ),
            "elapsed" => {
                let unit_ns = match spec.arg(1) {
                    Some(Value::Duration(d)) => *d,
                    None => 1_000_000_000,
                    _ => {
                        return Err(BuildError::invalid(
                            spec,
                            "elapsed(field, unit) needs a duration unit",
                        ));
                    }
                };
                (Function::Elapsed { unit_ns }, spec.arg_string(0)?)
            }
            "difference" => (Function::Difference, spec.arg_string(0)?),
            "movingAverage" => (
                Function::MovingAverage {
                    window: int(1)? as usize,
                },
                spec.arg_string(0)?,
            ),
            "cumulativeSum" => (Function::CumulativeSum, spec.arg_string(0)?),
            "holtWinters" | "holtWintersWithFit" => {
                let interval = match spec.arg(3) {
                    Some(Value::Duration(d)) if *d > 0 => *d,
                    _ => {
                        return Err(BuildError::invalid(
                            spec,
                            "holtWinters(field, h, m, interval) needs a positive interval",
                        ));
                    }
                };
                (
                    Function::HoltWinters {
                        h: int(1)? as usize,
                        m: int(2)? as usize,
                        interval,
                        with_fit: spec.kind == "holtWintersWithFit",
                    },
                    spec.arg_string(0)?,
                )
            }
            _ => return Ok(None),
        };
        let mut influxql = InfluxQlSpec::new(function, field);
        if let Some(name) = spec.prop_string("as")? {
            influxql.as_name = Name::from(name);
        }
        // Forecasts always carry their own times, as in Kapacitor.
        influxql.use_point_times = spec.has_prop("usePointTimes")
            || matches!(influxql.function, Function::HoltWinters { .. });
        Ok(Some(influxql))
    }
}

/// A window's running count, sum or mean: what a window keeps per group
/// instead of its points when it feeds an incremental aggregate.
#[derive(Debug)]
pub struct Accumulator {
    /// Points in the window, valid or not (an empty window emits nothing
    /// for a mean, as an empty batch does).
    points: u64,
    /// Points whose value was taken.
    samples: u64,
    kind: Option<Kind>,
    /// Starts at -0.0 as `Iterator::sum` (which the mean uses) does, so the
    /// results are the same to the bit.
    float_sum: f64,
    int_sum: i64,
    /// Boxed: a window holds one accumulator per group, and errors are rare.
    err: Option<Box<NodeError>>,
}

impl Default for Accumulator {
    fn default() -> Self {
        Accumulator {
            points: 0,
            samples: 0,
            kind: None,
            float_sum: -0.0,
            int_sum: 0,
            err: None,
        }
    }
}

/// A value type as the reducers see it. Unsigned is not one of them (as in
/// Kapacitor, whose points carry no unsigned values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Float,
    Integer,
    String,
    Boolean,
}

impl Kind {
    fn of(v: &FieldValue) -> Option<Kind> {
        match v {
            FieldValue::Float(_) => Some(Kind::Float),
            FieldValue::Integer(_) => Some(Kind::Integer),
            FieldValue::String(_) => Some(Kind::String),
            FieldValue::Boolean(_) => Some(Kind::Boolean),
            FieldValue::Unsigned(_) => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Float => "float64",
            Kind::Integer => "int64",
            Kind::String => "string",
            Kind::Boolean => "bool",
        }
    }
}

/// One value fed to a reducer: its time, value, and the index of its point
/// in the input (for selectors, which emit the whole point).
#[derive(Clone, Debug)]
struct Sample {
    time: i64,
    value: FieldValue,
    src: usize,
}

/// One value a reducer emits. `time: None` is InfluxDB's `ZeroTime`: the
/// emitter substitutes the batch time.
#[derive(Clone, Debug)]
struct Out {
    time: Option<i64>,
    value: FieldValue,
    src: Option<usize>,
}

/// An InfluxQL function node.
#[derive(Debug)]
pub struct InfluxQlNode {
    spec: InfluxQlSpec,
    groups: crate::group::GroupMap<StreamGroup>,
}

/// Per-group state on a stream edge.
#[derive(Debug)]
enum StreamGroup {
    /// An aggregate: the points seen at `time`, not yet reduced.
    Pending {
        name: Name,
        time: i64,
        points: Vec<BatchPoint>,
    },
    /// A transformation's running state, named after the group's first point.
    Running {
        name: Name,
        state: Option<Transform>,
    },
}

impl InfluxQlNode {
    /// Rejects arguments Kapacitor's reducers would crash on.
    pub fn new(spec: InfluxQlSpec) -> Result<Self, NodeError> {
        match &spec.function {
            Function::Top { n: 0, .. } | Function::Bottom { n: 0, .. } => {
                return Err(NodeError::new(format!(
                    "{}: the number of points must be at least 1",
                    spec.function.name()
                )));
            }
            Function::Elapsed { unit_ns } if *unit_ns <= 0 => {
                return Err(NodeError::new("elapsed: the unit must be positive"));
            }
            Function::MovingAverage { window: 0 } => {
                return Err(NodeError::new(
                    "movingAverage: the window must be at least 1",
                ));
            }
            Function::Percentile(p) if !p.is_finite() => {
                return Err(NodeError::new(
                    "percentile: the percentile must be a finite number",
                ));
            }
            _ => {}
        }
        Ok(InfluxQlNode {
            spec,
            groups: Default::default(),
        })
    }

    /// How many groups hold stream state.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// Reads `field` off each point, fixing the type with the first point
    /// that has it. Returns the samples, the type (if any point fixed one),
    /// and the first error (the bad points are skipped).
    fn samples<'a>(
        &self,
        points: impl Iterator<Item = (i64, &'a Fields)>,
        mut kind: Option<Kind>,
        err: &mut Option<NodeError>,
    ) -> (Vec<Sample>, Option<Kind>) {
        let mut out = Vec::new();
        for (src, (time, fields)) in points.enumerate() {
            if let Some(value) = self.sample_value(fields, &mut kind, err) {
                out.push(Sample {
                    time,
                    value: value.clone(),
                    src,
                });
            }
        }
        (out, kind)
    }

    /// The value of the node's field in `fields`, if the function can take
    /// it: the field must be there, of a type the function accepts, and of
    /// the type the first such value fixed in `kind`. Otherwise notes why
    /// in `err` (the first reason only) and gives `None`.
    fn sample_value<'a>(
        &self,
        fields: &'a Fields,
        kind: &mut Option<Kind>,
        err: &mut Option<NodeError>,
    ) -> Option<&'a FieldValue> {
        let field = &*self.spec.field;
        let Some(value) = fields.get(field) else {
            note(
                err,
                format!("field {field} missing from point cannot aggregate"),
            );
            return None;
        };
        let Some(k) = Kind::of(value) else {
            note(
                err,
                format!(
                    "invalid field kind: {} for field {field}",
                    value.type_name()
                ),
            );
            return None;
        };
        match *kind {
            None if !self.spec.function.accepts(k) => {
                note(
                    err,
                    format!(
                        "cannot apply {} to {} field",
                        self.spec.function.name(),
                        k.name()
                    ),
                );
                return None;
            }
            None => *kind = Some(k),
            Some(have) if have != k => {
                note(
                    err,
                    format!(
                        "field {field} has wrong type: got {} exp {}",
                        k.name(),
                        have.name()
                    ),
                );
                return None;
            }
            Some(_) => {}
        }
        Some(value)
    }

    /// Whether the function reduces a window without needing its points
    /// (count, sum, mean): a window feeding only this node can then keep an
    /// [`Accumulator`] per group instead of buffering points.
    pub fn is_incremental(&self) -> bool {
        matches!(
            self.spec.function,
            Function::Count | Function::Sum | Function::Mean
        )
    }

    /// Adds one point of a window to `acc`, as the reducer would see it.
    pub fn accumulate(&self, acc: &mut Accumulator, fields: &Fields) {
        acc.points += 1;
        let mut err = None;
        let value = self.sample_value(fields, &mut acc.kind, &mut err);
        if let (None, Some(e)) = (&acc.err, err) {
            acc.err = Some(Box::new(e));
        }
        let Some(value) = value else {
            return;
        };
        acc.samples += 1;
        match value {
            FieldValue::Integer(i) => acc.int_sum = acc.int_sum.wrapping_add(*i),
            v => acc.float_sum += as_f64(v),
        }
    }

    /// What this node would emit for a window batch whose points went into
    /// `acc` (see [`InfluxQlNode::is_incremental`]), and the first error its
    /// points raised. Resets `acc` for the next window. The point's one
    /// field is named by `keys` ([`InfluxQlNode::output_keys`]), which all
    /// such points share; its series (`name` with the group's tags) is made
    /// on the group's first window and kept in `series` for the next ones.
    pub fn emit_accumulated(
        &self,
        name: &Name,
        tmax: i64,
        group: &GroupKey,
        acc: &mut Accumulator,
        series: &mut Option<Arc<Series>>,
        keys: &Arc<[Name]>,
    ) -> (Option<Message>, Option<NodeError>) {
        let acc = std::mem::take(acc);
        let err = acc.err.map(|e| *e);
        if acc.points == 0 && !self.spec.function.empty_ok() {
            return (None, err);
        }
        let ints = acc.kind == Some(Kind::Integer);
        let (time, value) = match self.spec.function {
            Function::Count => (
                (acc.samples == 0).then_some(0),
                FieldValue::Integer(acc.samples as i64),
            ),
            Function::Sum if ints => (Some(0), FieldValue::Integer(acc.int_sum)),
            // The sum reducer folds from +0.0, the mean's `sum()` from -0.0;
            // they differ only in the sign of a zero total.
            Function::Sum => (Some(0), FieldValue::Float(0.0 + acc.float_sum)),
            Function::Mean if ints => (
                None,
                FieldValue::Float(acc.int_sum as f64 / acc.samples as f64),
            ),
            Function::Mean => (None, FieldValue::Float(acc.float_sum / acc.samples as f64)),
            _ => return (None, err),
        };
        let series = match series {
            Some(s) => s.clone(),
            None => match Series::with_sorted_tags(name.clone(), group.tags().clone()) {
                Ok(s) => series.insert(Arc::new(s)).clone(),
                Err(_) => return (None, err),
            },
        };
        let time = match (self.spec.use_point_times, time) {
            (true, Some(t)) => t,
            _ => tmax,
        };
        let point = Point {
            series,
            fields: Fields::new(keys.clone(), Arc::from([value])),
            time,
        };
        (Some(Message::Point(point, group.clone())), err)
    }

    /// The field list of what this aggregate emits: its one name, to share
    /// among the points it emits.
    pub fn output_keys(&self) -> Arc<[Name]> {
        Arc::from([self.spec.as_name.clone()])
    }

    fn batch(&mut self, b: Batch, out: &mut Vec<Message>) -> Result<(), NodeError> {
        let mut err = None;
        if self.spec.function.is_transformation() {
            let (samples, kind) =
                self.samples(b.points.iter().map(|p| (p.time, &p.fields)), None, &mut err);
            let mut state = kind.map(|k| Transform::new(&self.spec.function, k));
            let mut points = Vec::new();
            for s in samples {
                if let Some(o) = state
                    .as_mut()
                    .and_then(|st| st.push(&self.spec.function, &s))
                {
                    points.push(BatchPoint {
                        time: o.time.unwrap_or(b.tmax),
                        fields: single_field(&self.spec.as_name, o.value),
                        tags: b.tags.clone(),
                    });
                }
            }
            out.push(Message::Batch(Batch { points, ..b }));
        } else {
            if b.points.is_empty() && !self.spec.function.empty_ok() {
                return Ok(());
            }
            let (samples, _) =
                self.samples(b.points.iter().map(|p| (p.time, &p.fields)), None, &mut err);
            let src: Vec<(&Tags, &Fields)> =
                b.points.iter().map(|p| (&p.tags, &p.fields)).collect();
            if let Some(m) = self.emit_aggregate(&b.name, b.tmax, &b.group, &b.tags, &samples, &src)
            {
                out.push(m);
            }
        }
        err.map_or(Ok(()), Err)
    }

    /// Reduces `samples` and builds the output message.
    fn emit_aggregate(
        &self,
        name: &Name,
        tmax: i64,
        group: &GroupKey,
        group_tags: &Tags,
        samples: &[Sample],
        src: &[(&Tags, &Fields)],
    ) -> Option<Message> {
        let results = reduce(&self.spec.function, samples);
        self.emit_results(name, tmax, group, group_tags, results, src)
    }

    /// Builds the output message from a reducer's results.
    fn emit_results(
        &self,
        name: &Name,
        tmax: i64,
        group: &GroupKey,
        group_tags: &Tags,
        results: Vec<Out>,
        src: &[(&Tags, &Fields)],
    ) -> Option<Message> {
        let f = &self.spec.function;
        let time_of = |o: &Out| match (self.spec.use_point_times, o.time) {
            (true, Some(t)) => t,
            _ => tmax,
        };
        if f.emits_batch() {
            let mut batch_time = tmax;
            let points = results
                .into_iter()
                .map(|o| {
                    let time = time_of(&o);
                    batch_time = batch_time.max(time);
                    let tags = match o.src.and_then(|i| src.get(i)) {
                        Some((point_tags, _)) => merge_tags(group_tags, point_tags),
                        None => group_tags.clone(),
                    };
                    BatchPoint {
                        time,
                        fields: single_field(&self.spec.as_name, o.value),
                        tags,
                    }
                })
                .collect();
            return Some(Message::Batch(Batch {
                name: name.clone(),
                tmax: batch_time,
                group: group.clone(),
                tags: group_tags.clone(),
                points,
            }));
        }
        // A point is emitted only for exactly one result.
        let [o] = <[Out; 1]>::try_from(results).ok()?;
        let time = time_of(&o);
        let (tags, fields) = match (f.is_simple_selector(), o.src.and_then(|i| src.get(i))) {
            (true, Some((tags, fields))) => (
                (*tags).clone(),
                rename_field(fields, &self.spec.field, &self.spec.as_name),
            ),
            _ => (
                group_tags.clone(),
                single_field(&self.spec.as_name, o.value),
            ),
        };
        let series = Series::new(name.clone(), tags.to_vec()).ok()?;
        Some(Message::Point(
            Point {
                series: Arc::new(series),
                fields,
                time,
            },
            group.clone(),
        ))
    }

    fn point(
        &mut self,
        p: Point,
        group: GroupKey,
        out: &mut Vec<Message>,
    ) -> Result<(), NodeError> {
        let mut err = None;
        let function = self.spec.function.clone();
        if function.is_transformation() {
            let mut state_slot = match self.groups.remove(&group) {
                Some(StreamGroup::Running { name, state }) => (name, state),
                _ => (p.measurement().clone(), None),
            };
            let kind = state_slot.1.as_ref().map(|s| s.kind);
            let (samples, kind) =
                self.samples(std::iter::once((p.time, &p.fields)), kind, &mut err);
            if state_slot.1.is_none() {
                state_slot.1 = kind.map(|k| Transform::new(&function, k));
            }
            for s in samples {
                if let Some(o) = state_slot.1.as_mut().and_then(|st| st.push(&function, &s)) {
                    let series = Series::new(state_slot.0.clone(), group.tags().to_vec())
                        .map_err(|e| NodeError::new(e.to_string()))?;
                    out.push(Message::Point(
                        Point {
                            series: Arc::new(series),
                            fields: single_field(&self.spec.as_name, o.value),
                            time: o.time.unwrap_or(p.time),
                        },
                        group.clone(),
                    ));
                }
            }
            self.groups.insert(
                group,
                StreamGroup::Running {
                    name: state_slot.0,
                    state: state_slot.1,
                },
            );
            return err.map_or(Ok(()), Err);
        }
        // An aggregate on a stream: reduce each run of equal times.
        let bp = BatchPoint::from_point(&p);
        match self.groups.get_mut(&group) {
            Some(StreamGroup::Pending { time, points, .. }) if *time == p.time => {
                points.push(bp);
                return Ok(());
            }
            _ => {}
        }
        let fresh = StreamGroup::Pending {
            name: p.measurement().clone(),
            time: p.time,
            points: vec![bp],
        };
        if let Some(StreamGroup::Pending { name, time, points }) =
            self.groups.insert(group.clone(), fresh)
        {
            let (samples, kind) =
                self.samples(points.iter().map(|p| (p.time, &p.fields)), None, &mut err);
            // Kapacitor emits only once some point fixed the value type.
            if kind.is_some() {
                let src: Vec<(&Tags, &Fields)> =
                    points.iter().map(|p| (&p.tags, &p.fields)).collect();
                let group_tags = group.tags().clone();
                if let Some(m) =
                    self.emit_aggregate(&name, time, &group, &group_tags, &samples, &src)
                {
                    out.push(m);
                }
            }
        }
        err.map_or(Ok(()), Err)
    }
}

fn note(err: &mut Option<NodeError>, msg: String) {
    if err.is_none() {
        *err = Some(NodeError::new(msg));
    }
}

fn single_field(name: &Name, value: FieldValue) -> Fields {
    Fields::new(Arc::from([name.clone()]), Arc::from([value]))
}

/// The selected point's fields with `from` renamed to `to` (replacing any
/// field already called `to`).
fn rename_field(fields: &Fields, from: &Name, to: &Name) -> Fields {
    if from == to {
        return fields.clone();
    }
    Fields::from_pairs(
        fields
            .iter()
            .filter(|(k, _)| *k != to)
            .map(|(k, v)| (if k == from { to.clone() } else { k.clone() }, v.clone())),
    )
}

/// The group's tags overlaid with a point's own tags.
fn merge_tags(group: &Tags, point: &Tags) -> Tags {
    if point.is_empty() {
        return group.clone();
    }
    let mut tags: Vec<(Name, Name)> = point.to_vec();
    for (k, v) in group.iter() {
        if !tags.iter().any(|(pk, _)| pk == k) {
            tags.push((k.clone(), v.clone()));
        }
    }
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    tags.into()
}

fn as_f64(v: &FieldValue) -> f64 {
    match v {
        FieldValue::Float(f) => *f,
        FieldValue::Integer(i) => *i as f64,
        FieldValue::Unsigned(u) => *u as f64,
        FieldValue::Boolean(b) => f64::from(u8::from(*b)),
        FieldValue::String(_) => f64::NAN,
    }
}

/// Orders two values of one kind as InfluxDB's `<` does (false < true).
/// A total order, as sorting needs (a comparison that is not one makes
/// `sort_by` panic): numbers, then NaN, then strings.
fn cmp_values(a: &FieldValue, b: &FieldValue) -> Ordering {
    fn class(v: &FieldValue) -> u8 {
        match v {
            FieldValue::String(_) => 2,
            FieldValue::Float(f) if f.is_nan() => 1,
            _ => 0,
        }
    }
    let (ca, cb) = (class(a), class(b));
    if ca != cb || ca == 1 {
        return ca.cmp(&cb);
    }
    match (a, b) {
        (FieldValue::Float(x), FieldValue::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (FieldValue::Integer(x), FieldValue::Integer(y)) => x.cmp(y),
        (FieldValue::String(x), FieldValue::String(y)) => x.cmp(y),
        (FieldValue::Boolean(x), FieldValue::Boolean(y)) => x.cmp(y),
        _ => as_f64(a).partial_cmp(&as_f64(b)).unwrap_or(Ordering::Equal),
    }
}

/// Values sorted as Go's `sort.Sort(pointsByValue)` leaves them for the
/// small windows Kapacitor sees (insertion sort, so equal values keep their
/// arrival order): a stable sort.
fn sorted_by_value(samples: &[Sample]) -> Vec<&Sample> {
    let mut v: Vec<&Sample> = samples.iter().collect();
    v.sort_by(|a, b| cmp_values(&a.value, &b.value));
    v
}

/// Runs an aggregate or selector over one batch's samples. Samples are all
/// of one kind, which the function accepts. With no samples the reducer is
/// InfluxDB's float reducer left empty.
fn reduce(f: &Function, s: &[Sample]) -> Vec<Out> {
    let one = |time, value| {
        vec![Out {
            time,
            value,
            src: None,
        }]
    };
    let pick = |x: &Sample| {
        vec![Out {
            time: Some(x.time),
            value: x.value.clone(),
            src: Some(x.src),
        }]
    };
    let ints = s
        .first()
        .is_some_and(|x| matches!(x.value, FieldValue::Integer(_)));
    match f {
        // The count reducer starts from a zero point at time 0; once a
        // point is counted its time becomes ZeroTime (the batch time).
        Function::Count => one(
            if s.is_empty() { Some(0) } else { None },
            FieldValue::Integer(s.len() as i64),
        ),
        // The sum reducer starts from a zero point at time 0 and keeps that
        // time: with usePointTimes a sum is stamped 1970-01-01.
        Function::Sum => {
            let v = if ints {
                FieldValue::Integer(s.iter().fold(0i64, |acc, x| match x.value {
                    FieldValue::Integer(i) => acc.wrapping_add(i),
                    _ => acc,
                }))
            } else {
                FieldValue::Float(s.iter().fold(0.0, |acc, x| acc + as_f64(&x.value)))
            };
            one(Some(0), v)
        }
        Function::Mean => {
            let mean = if ints {
                let sum = s.iter().fold(0i64, |acc, x| match x.value {
                    FieldValue::Integer(i) => acc.wrapping_add(i),
                    _ => acc,
                });
                sum as f64 / s.len() as f64
            } else {
                s.iter().map(|x| as_f64(&x.value)).sum::<f64>() / s.len() as f64
            };
            one(None, FieldValue::Float(mean))
        }
        Function::Median => match s {
            [] => Vec::new(),
            // A single float point is returned as is, time included.
            [x] if !ints => one(Some(x.time), FieldValue::Float(as_f64(&x.value))),
            [x] => one(None, FieldValue::Float(as_f64(&x.value))),
            _ => {
                let v = sorted_by_value(s);
                let n = v.len();
                let value = if n.is_multiple_of(2) {
                    let (lo, hi) = (&v[n / 2 - 1].value, &v[n / 2].value);
                    match (lo, hi) {
                        (FieldValue::Integer(lo), FieldValue::Integer(hi)) => {
                            *lo as f64 + hi.wrapping_sub(*lo) as f64 / 2.0
                        }
                        _ => as_f64(lo) + (as_f64(hi) - as_f64(lo)) / 2.0,
                    }
                } else {
                    as_f64(&v[n / 2].value)
                };
                one(None, FieldValue::Float(value))
            }
        },
        Function::Mode => match s {
            [] => Vec::new(),
            [x] => one(Some(x.time), x.value.clone()),
            _ => {
                // InfluxDB's scan over the value-sorted points; on equal
                // counts the value whose run started earlier wins.
                let v = sorted_by_value(s);
                let (mut most_freq, mut curr_freq) = (0usize, 0usize);
                let (mut curr_mode, mut most_mode) = (&v[0].value, &v[0].value);
                let (mut most_time, mut curr_time) = (v[0].time, v[0].time);
                for p in &v {
                    if cmp_values(&p.value, curr_mode) != Ordering::Equal {
                        curr_freq = 1;
                        curr_mode = &p.value;
                        curr_time = p.time;
                        continue;
                    }
                    curr_freq += 1;
                    if most_freq > curr_freq || (most_freq == curr_freq && curr_time > most_time) {
                        continue;
                    }
                    most_freq = curr_freq;
                    most_mode = &p.value;
                    most_time = p.time;
                }
                one(None, most_mode.clone())
            }
        },
        Function::Spread => {
            if ints {
                let vals = s.iter().filter_map(|x| match x.value {
                    FieldValue::Integer(i) => Some(i),
                    _ => None,
                });
                let (min, max) =
                    vals.fold((i64::MAX, i64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
                one(None, FieldValue::Integer(max.wrapping_sub(min)))
            } else {
                let (min, max) = s
                    .iter()
                    .map(|x| as_f64(&x.value))
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                        (lo.min(v), hi.max(v))
                    });
                one(None, FieldValue::Float(max - min))
            }
        }
        Function::Stddev => {
            if s.len() < 2 {
                return one(None, FieldValue::Float(f64::NAN));
            }
            let vals: Vec<f64> = s
                .iter()
                .map(|x| as_f64(&x.value))
                .filter(|v| !v.is_nan())
                .collect();
            let mut mean = 0.0;
            for (i, v) in vals.iter().enumerate() {
                mean += (v - mean) / (i + 1) as f64;
            }
            let variance: f64 = vals.iter().map(|v| (v - mean).powi(2)).sum();
            one(
                None,
                FieldValue::Float((variance / (vals.len() as f64 - 1.0)).sqrt()),
            )
        }
        Function::First | Function::Last | Function::Min | Function::Max => {
            let mut best: Option<&Sample> = None;
            for x in s {
                let take = match best {
                    None => true,
                    Some(b) => replaces(f, b, x),
                };
                if take {
                    best = Some(x);
                }
            }
            best.map(pick).unwrap_or_default()
        }
        Function::Percentile(p) => {
            let n = s.len();
            let i = (n as f64 * p / 100.0 + 0.5).floor() as i64 - 1;
            if i < 0 || i >= n as i64 {
                return Vec::new();
            }
            pick(sorted_by_value(s)[i as usize])
        }
        Function::Distinct => {
            // The first sample of each value, then ordered by time and value.
            let mut firsts: Vec<&Sample> = Vec::new();
            for x in sorted_by_value(s) {
                match firsts.last() {
                    Some(l) if cmp_values(&l.value, &x.value) == Ordering::Equal => {}
                    _ => firsts.push(x),
                }
            }
            firsts.sort_by(|a, b| {
                a.time
                    .cmp(&b.time)
                    .then_with(|| cmp_values(&a.value, &b.value))
            });
            firsts
                .into_iter()
                .map(|x| Out {
                    time: Some(x.time),
                    value: x.value.clone(),
                    src: None,
                })
                .collect()
        }
        Function::Top { n, .. } | Function::Bottom { n, .. } => {
            // The n best by value, earlier time first among equal values,
            // emitted best first (InfluxDB's heap, then a reverse sort).
            let top = matches!(f, Function::Top { .. });
            let mut v: Vec<&Sample> = s.iter().collect();
            v.sort_by(|a, b| {
                let by_value = cmp_values(&a.value, &b.value);
                let by_value = if top { by_value.reverse() } else { by_value };
                by_value.then(a.time.cmp(&b.time))
            });
            v.truncate(*n);
            v.into_iter()
                .map(|x| Out {
                    time: Some(x.time),
                    value: x.value.clone(),
                    src: Some(x.src),
                })
                .collect()
        }
        Function::HoltWinters {
            h,
            m,
            interval,
            with_fit,
        } => {
            let points: Vec<(i64, f64)> = s
                .iter()
                .filter_map(|x| match x.value {
                    FieldValue::Float(v) => Some((x.time, v)),
                    FieldValue::Integer(v) => Some((x.time, v as f64)),
                    _ => None,
                })
                .collect();
            crate::holt_winters::forecast(&points, *h, *m, *interval, *with_fit)
                .into_iter()
                .map(|(time, v)| Out {
                    time: Some(time),
                    value: FieldValue::Float(v),
                    src: None,
                })
                .collect()
        }
        Function::Elapsed { .. }
        | Function::Difference
        | Function::MovingAverage { .. }
        | Function::CumulativeSum => Vec::new(),
    }
}

/// Whether `curr` replaces `prev` in InfluxDB's first/last/min/max reduce.
fn replaces(f: &Function, prev: &Sample, curr: &Sample) -> bool {
    let by_value = cmp_values(&curr.value, &prev.value);
    // Booleans break time ties their own way: first prefers false, last true.
    let tie_break = match (&curr.value, &prev.value, f) {
        (FieldValue::Boolean(c), FieldValue::Boolean(p), Function::First) => !c && *p,
        (FieldValue::Boolean(c), FieldValue::Boolean(p), _) => *c && !p,
        _ => by_value == Ordering::Greater,
    };
    match f {
        Function::First => curr.time < prev.time || (curr.time == prev.time && tie_break),
        Function::Last => curr.time > prev.time || (curr.time == prev.time && tie_break),
        Function::Min => {
            by_value == Ordering::Less || (by_value == Ordering::Equal && curr.time < prev.time)
        }
        _ => {
            by_value == Ordering::Greater || (by_value == Ordering::Equal && curr.time < prev.time)
        }
    }
}

/// A transformation's running state over one stream group or one batch.
#[derive(Debug)]
struct Transform {
    kind: Kind,
    /// elapsed/difference: the previous and current point (time, value);
    /// `prev` is cleared once a difference is emitted, as in InfluxDB.
    prev: Option<(i64, FieldValue)>,
    curr: Option<(i64, FieldValue)>,
    /// movingAverage: the window's values and their running sum.
    window: VecDeque<FieldValue>,
    sum_f: f64,
    sum_i: i64,
}

impl Transform {
    fn new(_f: &Function, kind: Kind) -> Self {
        Transform {
            kind,
            prev: None,
            curr: None,
            window: VecDeque::new(),
            sum_f: 0.0,
            sum_i: 0,
        }
    }

    /// Feeds one sample; returns the value to emit for it, if any.
    fn push(&mut self, f: &Function, x: &Sample) -> Option<Out> {
        let emit = |value| {
            Some(Out {
                time: Some(x.time),
                value,
                src: None,
            })
        };
        match f {
            Function::Elapsed { unit_ns } => {
                self.prev = self.curr.replace((x.time, x.value.clone()));
                let (pt, _) = self.prev.as_ref()?;
                emit(FieldValue::Integer((x.time - pt) / unit_ns))
            }
            Function::Difference => {
                // A point at the time of the current one does not advance.
                if self.curr.as_ref().is_some_and(|(t, _)| *t == x.time) {
                    return None;
                }
                self.prev = self.curr.replace((x.time, x.value.clone()));
                let (_, prev) = self.prev.take()?;
                match (&x.value, prev) {
                    (FieldValue::Integer(c), FieldValue::Integer(p)) => {
                        emit(FieldValue::Integer(c.wrapping_sub(p)))
                    }
                    (c, p) => emit(FieldValue::Float(as_f64(c) - as_f64(&p))),
                }
            }
            Function::MovingAverage { window } => {
                // Running sum with the oldest value subtracted, in InfluxDB's
                // order, so rounding matches.
                if self.window.len() == *window
                    && let Some(old) = self.window.pop_front()
                {
                    match old {
                        FieldValue::Integer(i) => self.sum_i = self.sum_i.wrapping_sub(i),
                        o => self.sum_f -= as_f64(&o),
                    }
                }
                match x.value {
                    FieldValue::Integer(i) => self.sum_i = self.sum_i.wrapping_add(i),
                    ref v => self.sum_f += as_f64(v),
                }
                self.window.push_back(x.value.clone());
                if self.window.len() < *window {
                    return None;
                }
                let sum = if self.kind == Kind::Integer {
                    self.sum_i as f64
                } else {
                    self.sum_f
                };
                emit(FieldValue::Float(sum / self.window.len() as f64))
            }
            Function::CumulativeSum => match x.value {
                FieldValue::Integer(i) => {
                    self.sum_i = self.sum_i.wrapping_add(i);
                    emit(FieldValue::Integer(self.sum_i))
                }
                ref v => {
                    self.sum_f += as_f64(v);
                    emit(FieldValue::Float(self.sum_f))
                }
            },
            _ => None,
        }
    }
}

impl Node for InfluxQlNode {
    fn groups(&self) -> usize {
        self.groups.len()
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match msg {
            Message::Point(p, group) => self.point(p, group, out),
            Message::Batch(b) => self.batch(b, out),
            Message::Barrier { .. } => {
                out.push(msg);
                Ok(())
            }
            Message::DeleteGroup(group) => {
                self.groups.remove(&group);
                out.push(Message::DeleteGroup(group));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn bp(t: i64, v: FieldValue, ty: &str) -> BatchPoint {
        BatchPoint {
            time: t * S,
            fields: Fields::from_pairs([
                (Name::from("value"), v),
                (Name::from("other"), FieldValue::Integer(t)),
            ]),
            tags: Tags::from([
                (Name::from("host"), Name::from("a")),
                (Name::from("type"), Name::from(ty)),
            ]),
        }
    }

    fn batch(points: Vec<BatchPoint>) -> Batch {
        let tags: Tags = Tags::from([(Name::from("host"), Name::from("a"))]);
        Batch {
            name: "cpu".into(),
            tmax: 10 * S,
            group: GroupKey::from_parts(None, tags.clone()),
            tags,
            points,
        }
    }

    fn run(spec: InfluxQlSpec, msgs: Vec<Message>) -> (Vec<Message>, Option<NodeError>) {
        let mut node = InfluxQlNode::new(spec).expect("spec");
        let mut out = Vec::new();
        let mut err = None;
        for m in msgs {
            if let Err(e) = node.process(m, &mut out) {
                err.get_or_insert(e);
            }
        }
        (out, err)
    }

    fn point_of(m: &Message) -> &Point {
        match m {
            Message::Point(p, _) => p,
            other => panic!("expected a point, got {other:?}"),
        }
    }

    fn floats(vals: &[f64]) -> Vec<BatchPoint> {
        vals.iter()
            .enumerate()
            .map(|(i, v)| bp(i as i64, FieldValue::Float(*v), "x"))
            .collect()
    }

    #[test]
    fn nan_values_sort_without_panicking() {
        // A comparison that called NaN equal to everything is not a total
        // order, and the standard sort may panic on one.
        let vals: Vec<f64> = (0..400)
            .map(|i| {
                if i % 3 == 0 {
                    f64::NAN
                } else {
                    ((i * 7919) % 401) as f64
                }
            })
            .collect();
        for f in [
            Function::Percentile(50.0),
            Function::Distinct,
            Function::Median,
            Function::Top { n: 5, tags: vec![] },
            Function::Bottom { n: 5, tags: vec![] },
        ] {
            let (out, _) = run(
                InfluxQlSpec::new(f, "value"),
                vec![Message::Batch(batch(floats(&vals)))],
            );
            assert!(!out.is_empty());
        }
        let mut v: Vec<FieldValue> = vals.iter().map(|&x| FieldValue::Float(x)).collect();
        v.push(FieldValue::String("s".into()));
        v.sort_by(cmp_values);
        let class = |x: &FieldValue| match x {
            FieldValue::Float(f) if f.is_nan() => 1,
            FieldValue::String(_) => 2,
            _ => 0,
        };
        assert!(v.windows(2).all(|w| class(&w[0]) <= class(&w[1])));
        assert!(
            v.windows(2)
                .all(|w| cmp_values(&w[0], &w[1]) != Ordering::Greater)
        );
    }

    fn one(f: Function, vals: &[f64]) -> FieldValue {
        let (out, _) = run(
            InfluxQlSpec::new(f.clone(), "value"),
            vec![Message::Batch(batch(floats(vals)))],
        );
        let name = f.name();
        point_of(&out[0])
            .fields
            .get(name)
            .cloned()
            .expect("result field")
    }

    #[test]
    fn aggregates_match_influxdb() {
        assert_eq!(
            one(Function::Count, &[1.0, 2.0, 3.0]),
            FieldValue::Integer(3)
        );
        assert_eq!(one(Function::Sum, &[1.0, 2.0, 3.5]), FieldValue::Float(6.5));
        assert_eq!(
            one(Function::Mean, &[1.0, 2.0, 6.0]),
            FieldValue::Float(3.0)
        );
        assert_eq!(
            one(Function::Median, &[4.0, 1.0, 2.0, 3.0]),
            FieldValue::Float(2.5)
        );
        assert_eq!(
            one(Function::Mode, &[2.0, 1.0, 2.0, 1.0]),
            FieldValue::Float(2.0)
        );
        assert_eq!(
            one(Function::Spread, &[4.0, 1.0, 2.0]),
            FieldValue::Float(3.0)
        );
        assert_eq!(
            one(Function::Percentile(50.0), &[4.0, 1.0, 2.0, 3.0]),
            FieldValue::Float(2.0)
        );
        assert!(matches!(one(Function::Stddev, &[1.0]), FieldValue::Float(v) if v.is_nan()));
        assert_eq!(
            one(Function::Stddev, &[2.0, 4.0]),
            FieldValue::Float(2f64.sqrt())
        );
    }

    #[test]
    fn integer_types_follow_the_reducer_table() {
        let ints = |f: Function| {
            let pts = (1..=4)
                .map(|i| bp(i, FieldValue::Integer(i), "x"))
                .collect();
            let (out, _) = run(
                InfluxQlSpec::new(f.clone(), "value"),
                vec![Message::Batch(batch(pts))],
            );
            point_of(&out[0])
                .fields
                .get(f.name())
                .cloned()
                .expect("field")
        };
        assert_eq!(ints(Function::Sum), FieldValue::Integer(10));
        assert_eq!(ints(Function::Mean), FieldValue::Float(2.5));
        assert_eq!(ints(Function::Median), FieldValue::Float(2.5));
        assert_eq!(ints(Function::Spread), FieldValue::Integer(3));
        assert_eq!(ints(Function::Max), FieldValue::Integer(4));
    }

    #[test]
    fn selector_emits_the_chosen_point_with_its_tags_and_fields() {
        let pts = vec![
            bp(1, FieldValue::Float(5.0), "idle"),
            bp(2, FieldValue::Float(1.0), "user"),
            bp(3, FieldValue::Float(1.0), "sys"),
        ];
        let spec = InfluxQlSpec {
            use_point_times: true,
            ..InfluxQlSpec::new(Function::Min, "value")
        };
        let (out, _) = run(spec, vec![Message::Batch(batch(pts))]);
        let p = point_of(&out[0]);
        // Equal minima: the earlier point wins.
        assert_eq!(p.time, 2 * S);
        assert_eq!(p.series.tag("type").map(|t| &**t), Some("user"));
        assert_eq!(p.fields.get("min"), Some(&FieldValue::Float(1.0)));
        assert_eq!(p.fields.get("other"), Some(&FieldValue::Integer(2)));
        assert_eq!(p.fields.get("value"), None);
    }

    #[test]
    fn empty_batches_emit_only_count_and_sum() {
        for (f, expect) in [
            (Function::Count, Some(FieldValue::Integer(0))),
            (Function::Sum, Some(FieldValue::Float(0.0))),
            (Function::Mean, None),
            (Function::Max, None),
        ] {
            let (out, err) = run(
                InfluxQlSpec::new(f.clone(), "value"),
                vec![Message::Batch(batch(vec![]))],
            );
            assert!(err.is_none());
            assert_eq!(
                out.first()
                    .map(|m| point_of(m).fields.get(f.name()).cloned().expect("field")),
                expect
            );
            if let Some(m) = out.first() {
                assert_eq!(point_of(m).time, 10 * S);
            }
        }
    }

    #[test]
    fn points_missing_the_field_are_skipped_with_an_error() {
        let mut pts = floats(&[1.0, 3.0]);
        pts.push(BatchPoint {
            time: 5 * S,
            fields: Fields::from_pairs([]),
            tags: Tags::from([]),
        });
        pts.push(bp(6, FieldValue::String("x".into()), "x"));
        let (out, err) = run(
            InfluxQlSpec::new(Function::Mean, "value"),
            vec![Message::Batch(batch(pts))],
        );
        assert_eq!(
            point_of(&out[0]).fields.get("mean"),
            Some(&FieldValue::Float(2.0))
        );
        assert!(err.is_some());
    }

    #[test]
    fn top_and_bottom_emit_batches_best_first() {
        let vals = [3.0, 9.0, 1.0, 9.0, 5.0];
        let spec = InfluxQlSpec {
            use_point_times: true,
            ..InfluxQlSpec::new(Function::Top { n: 3, tags: vec![] }, "value")
        };
        let (out, _) = run(spec, vec![Message::Batch(batch(floats(&vals)))]);
        let Message::Batch(b) = &out[0] else {
            panic!("batch")
        };
        let got: Vec<(i64, Option<&FieldValue>)> = b
            .points
            .iter()
            .map(|p| (p.time / S, p.fields.get("top")))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, Some(&FieldValue::Float(9.0))),
                (3, Some(&FieldValue::Float(9.0))),
                (4, Some(&FieldValue::Float(5.0)))
            ]
        );
        assert!(b.points[0].tags.iter().any(|(k, _)| &**k == "type"));
        let spec = InfluxQlSpec::new(Function::Bottom { n: 2, tags: vec![] }, "value");
        let (out, _) = run(spec, vec![Message::Batch(batch(floats(&vals)))]);
        let Message::Batch(b) = &out[0] else {
            panic!("batch")
        };
        assert_eq!(
            b.points.iter().map(|p| p.time).collect::<Vec<_>>(),
            vec![10 * S, 10 * S]
        );
        assert_eq!(
            b.points[0].fields.get("bottom"),
            Some(&FieldValue::Float(1.0))
        );
    }

    #[test]
    fn distinct_keeps_first_occurrences_in_time_order() {
        let (out, _) = run(
            InfluxQlSpec {
                use_point_times: true,
                ..InfluxQlSpec::new(Function::Distinct, "value")
            },
            vec![Message::Batch(batch(floats(&[3.0, 1.0, 3.0, 2.0])))],
        );
        let Message::Batch(b) = &out[0] else {
            panic!("batch")
        };
        let got: Vec<i64> = b.points.iter().map(|p| p.time / S).collect();
        assert_eq!(got, vec![0, 1, 3]);
    }

    fn stream_point(t: i64, v: f64) -> Message {
        let series = Series::new("cpu".into(), vec![]).expect("series");
        Message::Point(
            Point {
                series: Arc::new(series),
                fields: Fields::from_pairs([(Name::from("value"), FieldValue::Float(v))]),
                time: t * S,
            },
            GroupKey::nil(),
        )
    }

    fn stream_values(f: Function, pts: &[(i64, f64)]) -> Vec<(i64, FieldValue)> {
        let name = f.name();
        let (out, _) = run(
            InfluxQlSpec::new(f, "value"),
            pts.iter().map(|&(t, v)| stream_point(t, v)).collect(),
        );
        out.iter()
            .map(|m| {
                let p = point_of(m);
                (p.time / S, p.fields.get(name).cloned().expect("field"))
            })
            .collect()
    }

    #[test]
    fn stream_transformations_emit_per_point() {
        let pts = [(0, 1.0), (1, 4.0), (1, 5.0), (3, 10.0)];
        assert_eq!(
            stream_values(Function::Difference, &pts),
            vec![(1, FieldValue::Float(3.0)), (3, FieldValue::Float(6.0))]
        );
        assert_eq!(
            stream_values(Function::CumulativeSum, &pts).last(),
            Some(&(3, FieldValue::Float(20.0)))
        );
        assert_eq!(
            stream_values(Function::MovingAverage { window: 2 }, &pts),
            vec![
                (1, FieldValue::Float(2.5)),
                (1, FieldValue::Float(4.5)),
                (3, FieldValue::Float(7.5))
            ]
        );
        assert_eq!(
            stream_values(Function::Elapsed { unit_ns: S }, &pts),
            vec![
                (1, FieldValue::Integer(1)),
                (1, FieldValue::Integer(0)),
                (3, FieldValue::Integer(2))
            ]
        );
    }

    #[test]
    fn stream_aggregates_reduce_runs_of_equal_time() {
        let pts = [(0, 1.0), (0, 3.0), (1, 5.0), (2, 7.0)];
        assert_eq!(
            stream_values(Function::Mean, &pts),
            vec![(0, FieldValue::Float(2.0)), (1, FieldValue::Float(5.0))]
        );
    }

    #[test]
    fn bad_arguments_are_rejected() {
        assert!(
            InfluxQlNode::new(InfluxQlSpec::new(Function::Top { n: 0, tags: vec![] }, "v"))
                .is_err()
        );
        assert!(
            InfluxQlNode::new(InfluxQlSpec::new(Function::Elapsed { unit_ns: 0 }, "v")).is_err()
        );
        assert!(
            InfluxQlNode::new(InfluxQlSpec::new(
                Function::MovingAverage { window: 0 },
                "v"
            ))
            .is_err()
        );
    }
}
