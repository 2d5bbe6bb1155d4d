//! Lambdas at run time: a point (or batch point) as the scope a `dsl`
//! lambda reads fields and tags from, and conversions between lambda values
//! and field values.

use dsl::ast::BinaryOp;
use dsl::{EvalError, EvalState, EvalValue, Lambda, LambdaExpr, PointScope};

use crate::group::GroupKey;
use crate::node::NodeError;
use std::sync::Arc;

use crate::point::{FieldValue, Fields, Name, Tags};

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

/// A lambda evaluated for a boolean with no per-group state, taking the
/// shortcut for `"field" OP number` ([`FieldCompare`]) where it applies.
pub struct BoolLambda {
    lambda: Lambda,
    compare: Option<FieldCompare>,
}

impl BoolLambda {
    pub fn new(lambda: Lambda) -> Self {
        BoolLambda {
            compare: FieldCompare::of(&lambda.expr),
            lambda,
        }
    }

    pub fn eval(&mut self, scope: &Scope<'_>) -> Result<bool, NodeError> {
        match self.compare.as_mut().and_then(|c| c.eval(scope.fields)) {
            Some(b) => Ok(b),
            None => eval_bool(&self.lambda, scope),
        }
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
    /// The lambda is `"field" OP number`: read the field straight off the
    /// point when it holds a number.
    compare: Option<FieldCompare>,
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
            compare: FieldCompare::of(&lambda.expr),
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
        if let Some(b) = self.compare.as_mut().and_then(|c| c.eval(scope.fields)) {
            return Ok(b);
        }
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

/// The commonest lambda, `"field" OP number` or `number OP "field"` with a
/// comparison, evaluated without the general evaluator. It answers only
/// when the field holds a float or an integer; anything else (a missing
/// field, a tag, a string) goes the general way, which gives the same
/// result or the error a user should see.
#[derive(Debug)]
struct FieldCompare {
    field: String,
    op: BinaryOp,
    literal: Number,
    /// `number OP "field"`.
    literal_first: bool,
    /// Where the field was in the last key list seen, kept with that list:
    /// the decoder shares one list among points with the same fields, so
    /// this is usually a pointer comparison rather than a search.
    last: Option<(Arc<[Name]>, Option<usize>)>,
}

#[derive(Debug, Clone, Copy)]
enum Number {
    Int(i64),
    Float(f64),
}

impl FieldCompare {
    fn of(expr: &LambdaExpr) -> Option<Self> {
        let LambdaExpr::Binary { op, lhs, rhs } = expr else {
            return None;
        };
        if !op.is_comparison() {
            return None;
        }
        let number = |e: &LambdaExpr| match e {
            LambdaExpr::Int(i) => Some(Number::Int(*i)),
            LambdaExpr::Float(f) => Some(Number::Float(*f)),
            LambdaExpr::Unary {
                op: dsl::ast::UnaryOp::Neg,
                expr,
            } => match **expr {
                LambdaExpr::Int(i) => Some(Number::Int(i.wrapping_neg())),
                LambdaExpr::Float(f) => Some(Number::Float(-f)),
                _ => None,
            },
            _ => None,
        };
        let field = |e: &LambdaExpr| match e {
            // "time" is the point's time, not a field.
            LambdaExpr::Field(name) if name != "time" => Some(name.clone()),
            _ => None,
        };
        let (field, literal, literal_first) = match (field(lhs), number(rhs)) {
            (Some(f), Some(n)) => (f, n, false),
            _ => (field(rhs)?, number(lhs)?, true),
        };
        Some(FieldCompare {
            field,
            op: *op,
            literal,
            literal_first,
            last: None,
        })
    }

    fn eval(&mut self, fields: &Fields) -> Option<bool> {
        let position = match &self.last {
            Some((keys, at)) if Arc::ptr_eq(keys, fields.keys()) => *at,
            _ => {
                let at = fields.position(&self.field);
                self.last = Some((fields.keys().clone(), at));
                at
            }
        };
        let value = match &fields.values()[position?] {
            FieldValue::Float(f) => Number::Float(*f),
            FieldValue::Integer(i) => Number::Int(*i),
            _ => return None,
        };
        let (l, r) = if self.literal_first {
            (self.literal, value)
        } else {
            (value, self.literal)
        };
        // As the evaluator: ints and floats compare, the int converted.
        let ord = match (l, r) {
            (Number::Int(a), Number::Int(b)) => Some(a.cmp(&b)),
            (Number::Float(a), Number::Float(b)) => a.partial_cmp(&b),
            (Number::Int(a), Number::Float(b)) => (a as f64).partial_cmp(&b),
            (Number::Float(a), Number::Int(b)) => a.partial_cmp(&(b as f64)),
        };
        let Some(ord) = ord else {
            return Some(self.op == BinaryOp::NotEq);
        };
        Some(self.op.holds(ord))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::point::Name;

    fn lambda(text: &str) -> Lambda {
        let script = format!("stream|where(lambda: {text})");
        let plan = dsl::compile(&script, dsl::TaskType::Stream).expect("compiles");
        match plan
            .nodes
            .iter()
            .find(|n| n.kind == "where")
            .and_then(|n| n.args.first())
        {
            Some(dsl::Value::Lambda(l)) => l.clone(),
            other => panic!("no lambda: {other:?}"),
        }
    }

    fn value() -> impl Strategy<Value = FieldValue> {
        prop_oneof![
            (-3i64..3).prop_map(FieldValue::Integer),
            (-6i64..6).prop_map(|v| FieldValue::Float(v as f64 / 2.0)),
            Just(FieldValue::Float(f64::NAN)),
            Just(FieldValue::String(Name::from("s"))),
            Just(FieldValue::Boolean(true)),
        ]
    }

    proptest! {
        /// The shortcut agrees with the general evaluator whenever it answers.
        #[test]
        fn field_compare_agrees_with_the_evaluator(
            op in prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]),
            literal in prop::sample::select(vec!["1", "-1", "0.5", "2.0", "0"]),
            literal_first: bool,
            v in value(),
            present: bool,
        ) {
            let text = if literal_first {
                format!("{literal} {op} \"x\"")
            } else {
                format!("\"x\" {op} {literal}")
            };
            let l = lambda(&text);
            let mut compare = FieldCompare::of(&l.expr).expect("shortcut applies");
            let key = if present { "x" } else { "y" };
            let fields = Fields::new(Arc::from([Name::from(key)]), Arc::from([v]));
            let tags: crate::point::Tags = Arc::from([]);
            let scope = Scope { fields: &fields, tags: &tags, time: 0 };
            let general = eval_bool(&l, &scope);
            match compare.eval(&fields) {
                Some(b) => prop_assert_eq!(general, Ok(b)),
                None => prop_assert!(!present || !matches!(fields.get("x"), Some(FieldValue::Float(_) | FieldValue::Integer(_)))),
            }
        }
    }

    #[test]
    fn only_plain_comparisons_take_the_shortcut() {
        assert!(FieldCompare::of(&lambda("\"a\" > 1.0 AND \"b\" < 2").expr).is_none());
        assert!(FieldCompare::of(&lambda("\"time\" > 1").expr).is_none());
        assert!(FieldCompare::of(&lambda("\"a\" + 1 > 2").expr).is_none());
        assert!(FieldCompare::of(&lambda("\"a\" == 'x'").expr).is_none());
        assert!(FieldCompare::of(&lambda("\"a\" >= 0.0").expr).is_some());
        assert!(FieldCompare::of(&lambda("10 < \"a\"").expr).is_some());
    }
}
