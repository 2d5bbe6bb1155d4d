//! `filter(op, value)`, the seed's comparison filter: keeps a point when its
//! value field compares true against a constant (`avg.filter(<, 30)`). The
//! value field is the point's only field, else the field named `value`;
//! anything else is an error naming the fields, so a user sees why.

use dsl::ast::BinaryOp;
use dsl::{NodeSpec, Value};

use crate::batch::Message;
use crate::node::{Node, NodeError};
use crate::point::{FieldValue, Fields};
use crate::spec::BuildError;

pub struct FilterNode {
    op: BinaryOp,
    threshold: f64,
}

impl FilterNode {
    pub fn from_spec(spec: &NodeSpec) -> Result<Self, BuildError> {
        let op = match spec.args.first() {
            Some(Value::Operator(op)) if op.is_comparison() => *op,
            _ => {
                return Err(BuildError::invalid(
                    spec,
                    "filter() needs a comparison operator first, e.g. filter(<, 30)",
                ));
            }
        };
        let threshold = match spec.args.get(1) {
            Some(Value::Int(i)) => *i as f64,
            Some(Value::Float(f)) => *f,
            _ => {
                return Err(BuildError::invalid(
                    spec,
                    "filter() needs a number to compare with, e.g. filter(<, 30)",
                ));
            }
        };
        Ok(FilterNode { op, threshold })
    }

    fn passes(&self, fields: &Fields) -> Result<bool, NodeError> {
        let value = if fields.len() == 1 {
            &fields.values()[0]
        } else {
            fields.get("value").ok_or_else(|| {
                let names: Vec<&str> = fields.keys().iter().map(|k| &**k).collect();
                NodeError::new(format!(
                    "filter() compares a point's only field or its field `value`; this point has {}",
                    names.join(", ")
                ))
            })?
        };
        let v = match value {
            FieldValue::Float(f) => *f,
            FieldValue::Integer(i) => *i as f64,
            FieldValue::Unsigned(u) => *u as f64,
            other => {
                return Err(NodeError::new(format!(
                    "filter() compares numbers, not a {}",
                    other.type_name()
                )));
            }
        };
        let Some(ord) = v.partial_cmp(&self.threshold) else {
            return Ok(false);
        };
        Ok(self.op.holds(ord))
    }
}

impl Node for FilterNode {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<(), NodeError> {
        match msg {
            Message::Point(p, g) => {
                if self.passes(&p.fields)? {
                    out.push(Message::Point(p, g));
                }
            }
            Message::Batch(mut b) => {
                let mut error = None;
                b.points.retain(|p| {
                    self.passes(&p.fields).unwrap_or_else(|e| {
                        error.get_or_insert(e);
                        false
                    })
                });
                out.push(Message::Batch(b));
                if let Some(e) = error {
                    return Err(e);
                }
            }
            other => out.push(other),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::point::Name;

    fn fields(pairs: &[(&str, f64)]) -> Fields {
        Fields::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (Name::from(*k), FieldValue::Float(*v))),
        )
    }

    #[test]
    fn compares_the_only_field_or_value() {
        let f = FilterNode {
            op: BinaryOp::Lt,
            threshold: 30.0,
        };
        assert_eq!(f.passes(&fields(&[("mean", 29.5)])), Ok(true));
        assert_eq!(f.passes(&fields(&[("mean", 30.0)])), Ok(false));
        assert_eq!(f.passes(&fields(&[("a", 1.0), ("value", 10.0)])), Ok(true));
        let err = f.passes(&fields(&[("a", 1.0), ("b", 2.0)])).unwrap_err();
        assert!(err.to_string().contains("a, b"), "{err}");
        let ge = FilterNode {
            op: BinaryOp::GtEq,
            threshold: 30.0,
        };
        assert_eq!(ge.passes(&fields(&[("v", 30.0)])), Ok(true));
    }
}
