//! The router's side of a task's YAML `where`: a filter on points.

use super::{TaskDefinition, TaskError};

/// The router's filter for a task's `where` (checked when it was defined).
pub(super) fn where_filter(
    def: &TaskDefinition,
) -> Result<Option<pipeline::PointFilter>, TaskError> {
    let Some(source) = def.meta.get("where") else {
        return Ok(None);
    };
    Ok(Some(point_filter(source)?))
}

/// What a write meets when the task's inbox is full: its `overflow` (YAML,
/// or the API's task meta), `block` by default.
pub(super) fn overflow(def: &TaskDefinition) -> Result<config::Overflow, TaskError> {
    def.meta
        .get("overflow")
        .map_or(Ok(config::Overflow::Block), |o| {
            config::Overflow::parse(o).map_err(TaskError::Script)
        })
}

/// The router's filter for a task's YAML `where` (InfluxQL-style or lambda
/// style), compiled once.
pub fn point_filter(source: &str) -> Result<pipeline::PointFilter, config::WhereError> {
    // The configured depth was checked when the task was defined.
    let predicate =
        config::WherePredicate::parse_with_depth(source, config::MAX_EXPRESSION_DEPTH_CEILING)?;
    let mut names = Vec::new();
    read_names(predicate.expr(), &mut names);
    Ok(pipeline::PointFilter::new(
        names,
        move |point: &pipeline::Point| {
            // A tag first, then a field, as InfluxQL's WHERE resolves names.
            predicate.eval(&|name: &str| {
                if let Some(v) = point.series.tag(name) {
                    return Some(config::Value::String(v.to_string()));
                }
                point.fields.get(name).and_then(|v| match v {
                    pipeline::FieldValue::Float(f) => Some(config::Value::Float(*f)),
                    pipeline::FieldValue::Integer(i) => Some(config::Value::Int(*i)),
                    pipeline::FieldValue::Unsigned(u) => {
                        i64::try_from(*u).ok().map(config::Value::Int)
                    }
                    pipeline::FieldValue::String(s) => Some(config::Value::String(s.to_string())),
                    pipeline::FieldValue::Boolean(b) => Some(config::Value::Bool(*b)),
                })
            })
        },
    ))
}

/// The tag or field names `expr` reads.
fn read_names(expr: &config::WhereExpr, names: &mut Vec<pipeline::Name>) {
    use config::{Operand, WhereExpr};
    let operand = |o: &Operand, names: &mut Vec<pipeline::Name>| {
        if let Operand::Ident(name) = o {
            names.push(pipeline::Name::from(name.as_str()));
        }
    };
    match expr {
        WhereExpr::And(a, b) | WhereExpr::Or(a, b) => {
            read_names(a, names);
            read_names(b, names);
        }
        WhereExpr::Not(e) => read_names(e, names),
        WhereExpr::Compare { left, right, .. } => {
            operand(left, names);
            operand(right, names);
        }
        WhereExpr::Matches { ident, .. } => names.push(pipeline::Name::from(ident.as_str())),
        WhereExpr::Truthy(o) => operand(o, names),
    }
}
