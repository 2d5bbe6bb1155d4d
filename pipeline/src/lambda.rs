//! Lambdas at run time: a point (or batch point) as the scope a `dsl`
//! lambda reads fields and tags from, and conversions between lambda values
//! and field values.

use dsl::{EvalError, EvalState, EvalValue, Lambda, PointScope};

use crate::group::GroupKey;
use crate::node::NodeError;
use crate::point::{FieldValue, Fields, Tags};

/// What a lambda sees: one point's fields, tags and time.
pub struct Scope<'a> {
    pub fields: &'a Fields,
    pub tags: &'a Tags,
    pub time: i64,
}

impl PointScope for Scope<'_> {
    /// Fields first, then tags, as Kapacitor looks references up.
    fn lookup(&self, name: &str) -> Option<EvalValue> {
        if let Some(v) = self.fields.get(name) {
            return Some(to_eval(v));
        }
        self.tags
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| EvalValue::String(v.to_string()))
    }

    fn time(&self) -> i64 {
        self.time
    }
}

/// A field value as a lambda sees it (unsigned integers read as integers).
pub fn to_eval(v: &FieldValue) -> EvalValue {
    match v {
        FieldValue::Float(f) => EvalValue::Float(*f),
        FieldValue::Integer(i) => EvalValue::Int(*i),
        FieldValue::Unsigned(u) => EvalValue::Int(i64::try_from(*u).unwrap_or(i64::MAX)),
        FieldValue::String(s) => EvalValue::String(s.to_string()),
        FieldValue::Boolean(b) => EvalValue::Bool(*b),
    }
}

/// A lambda's result stored as a field value (durations as integer ns).
pub fn to_field(v: EvalValue) -> FieldValue {
    match v {
        EvalValue::Bool(b) => FieldValue::Boolean(b),
        EvalValue::Int(i) => FieldValue::Integer(i),
        EvalValue::Float(f) => FieldValue::Float(f),
        EvalValue::String(s) => FieldValue::String(s.into()),
        EvalValue::Duration(d) => FieldValue::Integer(d),
    }
}

/// Evaluates a stateless lambda that must give a boolean (stateful
/// functions fail here; nodes whose lambdas may use them keep a
/// [`LambdaRunner`]).
pub fn eval_bool(lambda: &Lambda, scope: &Scope<'_>) -> Result<bool, NodeError> {
    match lambda.eval(scope) {
        Ok(EvalValue::Bool(b)) => Ok(b),
        Ok(other) => Err(not_bool(&other)),
        Err(e) => Err(NodeError::new(e.to_string())),
    }
}

/// A lambda of a node with the state it keeps between points: one
/// [`EvalState`] per group, as Kapacitor gives each group its own copy of
/// the expression (so `sigma()` and `count()` run per group). Lambdas with
/// no stateful function share one state, which only holds their compiled
/// regexes.
#[derive(Debug)]
pub struct LambdaRunner {
    lambda: Lambda,
    stateful: bool,
    /// Compiled regexes; every group's state starts as a fork of it.
    template: EvalState,
    states: crate::group::GroupMap<EvalState>,
}

impl LambdaRunner {
    /// Compiles the lambda's regexes; a bad pattern is an error here, when
    /// the task starts, rather than on every point.
    pub fn new(lambda: Lambda) -> Result<Self, EvalError> {
        let template = EvalState::for_lambda(&lambda)?;
        Ok(LambdaRunner {
            stateful: lambda.is_stateful(),
            lambda,
            template,
            states: Default::default(),
        })
    }

    pub fn lambda(&self) -> &Lambda {
        &self.lambda
    }

    /// Evaluates the lambda on one point of `group`.
    pub fn eval(&mut self, group: &GroupKey, scope: &Scope<'_>) -> Result<EvalValue, NodeError> {
        let state = if self.stateful {
            match self.states.get_mut(group) {
                Some(s) => s,
                None => self
                    .states
                    .entry(group.clone())
                    .or_insert_with(|| self.template.fork()),
            }
        } else {
            &mut self.template
        };
        self.lambda
            .eval_with(scope, state)
            .map_err(|e| NodeError::new(e.to_string()))
    }

    /// Evaluates a lambda that must give a boolean.
    pub fn eval_bool(&mut self, group: &GroupKey, scope: &Scope<'_>) -> Result<bool, NodeError> {
        match self.eval(group, scope)? {
            EvalValue::Bool(b) => Ok(b),
            other => Err(not_bool(&other)),
        }
    }

    /// Drops a group's state (on `DeleteGroup`).
    pub fn forget(&mut self, group: &GroupKey) {
        self.states.remove(group);
    }
}

fn not_bool(v: &EvalValue) -> NodeError {
    NodeError::new(format!(
        "expression returned unexpected type {}, not a boolean",
        v.type_name()
    ))
}
