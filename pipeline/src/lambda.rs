//! Lambdas at run time: a point (or batch point) as the scope a `dsl`
//! lambda reads fields and tags from, and conversions between lambda values
//! and field values.

use dsl::{EvalValue, Lambda, PointScope};

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

/// Evaluates a lambda that must give a boolean.
pub fn eval_bool(lambda: &Lambda, scope: &Scope<'_>) -> Result<bool, NodeError> {
    match lambda.eval(scope) {
        Ok(EvalValue::Bool(b)) => Ok(b),
        Ok(other) => Err(NodeError::new(format!(
            "expression returned {other:?}, not a boolean"
        ))),
        Err(e) => Err(NodeError::new(e.to_string())),
    }
}
