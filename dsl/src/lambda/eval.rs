//! The tree-walking evaluator: operands, operators and their type rules
//! (Kapacitor's `tick/stateful/evaluation_funcs.go`).

use std::cmp::Ordering;

use super::{EvalError, EvalState, EvalValue, LambdaExpr, PointScope, functions};
use crate::ast::{BinaryOp, UnaryOp};

/// A value inside the evaluator: what [`EvalValue`] holds, plus the kinds
/// that only live between operators and functions.
#[derive(Debug, Clone)]
pub(super) enum Val {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Duration(i64),
    /// Nanoseconds since the epoch: `"time"` and `now()`.
    Time(i64),
    Regex(regex::Regex),
    /// A field or tag the point does not have; only `isPresent` takes it.
    Missing(String),
}

impl Val {
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Float(_) => "float",
            Val::String(_) => "string",
            Val::Duration(_) => "duration",
            Val::Time(_) => "time",
            Val::Regex(_) => "regex",
            Val::Missing(_) => "missing",
        }
    }

    pub(super) fn from_eval(v: EvalValue) -> Self {
        match v {
            EvalValue::Bool(b) => Val::Bool(b),
            EvalValue::Int(i) => Val::Int(i),
            EvalValue::Float(f) => Val::Float(f),
            EvalValue::String(s) => Val::String(s),
            EvalValue::Duration(d) => Val::Duration(d),
        }
    }
}

/// Evaluation context: the point, the state, and the pre-order number of
/// the node being evaluated (stateful functions are keyed by it).
pub(super) struct Ctx<'a> {
    pub scope: &'a dyn PointScope,
    pub state: &'a mut EvalState,
    next_id: usize,
}

pub(super) fn run(
    expr: &LambdaExpr,
    scope: &dyn PointScope,
    state: &mut EvalState,
) -> Result<EvalValue, EvalError> {
    let mut ctx = Ctx {
        scope,
        state,
        next_id: 0,
    };
    Ok(match eval(expr, &mut ctx)? {
        Val::Bool(b) => EvalValue::Bool(b),
        Val::Int(i) => EvalValue::Int(i),
        Val::Float(f) => EvalValue::Float(f),
        Val::String(s) => EvalValue::String(s),
        Val::Duration(d) => EvalValue::Duration(d),
        Val::Time(t) => EvalValue::Int(t),
        Val::Regex(_) => return Err(EvalError::Unexpected("regex")),
        Val::Missing(name) => return Err(EvalError::Missing(name)),
    })
}

/// How many nodes `expr` has: a skipped subtree still takes its numbers, so
/// call sites keep the same number whichever branches run.
fn size(expr: &LambdaExpr) -> usize {
    let mut n = 0;
    super::visit(expr, &mut |_| n += 1);
    n
}

fn eval(expr: &LambdaExpr, ctx: &mut Ctx<'_>) -> Result<Val, EvalError> {
    let id = ctx.next_id;
    ctx.next_id += 1;
    Ok(match expr {
        LambdaExpr::Field(name) => {
            // As Kapacitor fills its scope: "time" is always the point's time.
            if name == "time" {
                Val::Time(ctx.scope.time())
            } else {
                match ctx.scope.lookup(name) {
                    Some(v) => Val::from_eval(v),
                    None => Val::Missing(name.clone()),
                }
            }
        }
        LambdaExpr::Bool(b) => Val::Bool(*b),
        LambdaExpr::Int(i) => Val::Int(*i),
        LambdaExpr::Float(f) => Val::Float(*f),
        LambdaExpr::String(s) => Val::String(s.clone()),
        LambdaExpr::Duration(d) => Val::Duration(*d),
        LambdaExpr::Regex(p) => Val::Regex(ctx.state.regex(p)?),
        LambdaExpr::Star => return Err(EvalError::Unexpected("star")),
        LambdaExpr::Var { name, .. } => return Err(EvalError::Unfilled(name.clone())),
        LambdaExpr::Unary { op, expr } => unary(*op, eval(expr, ctx)?)?,
        LambdaExpr::Binary { op, lhs, rhs } => {
            if matches!(op, BinaryOp::And | BinaryOp::Or) {
                let l = logical(*op, "left", eval(lhs, ctx)?)?;
                // Short-circuit, as Kapacitor does: the right side is not run.
                if (*op == BinaryOp::And && !l) || (*op == BinaryOp::Or && l) {
                    ctx.next_id += size(rhs);
                    return Ok(Val::Bool(l));
                }
                return Ok(Val::Bool(logical(*op, "right", eval(rhs, ctx)?)?));
            }
            let l = eval(lhs, ctx)?;
            let r = eval(rhs, ctx)?;
            binary(*op, l, r)?
        }
        LambdaExpr::Call { func, args } => {
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                vals.push(eval(a, ctx)?);
            }
            functions::call(func, id, vals, ctx)?
        }
    })
}

fn logical(op: BinaryOp, side: &'static str, v: Val) -> Result<bool, EvalError> {
    match v {
        Val::Bool(b) => Ok(b),
        Val::Missing(name) => Err(EvalError::MissingOperand(side, name)),
        v => Err(EvalError::InvalidOperator(
            "logical",
            op.symbol(),
            v.type_name(),
        )),
    }
}

fn unary(op: UnaryOp, v: Val) -> Result<Val, EvalError> {
    Ok(match (op, v) {
        (UnaryOp::Neg, Val::Int(i)) => Val::Int(i.wrapping_neg()),
        (UnaryOp::Neg, Val::Float(f)) => Val::Float(-f),
        (UnaryOp::Neg, Val::Duration(d)) => Val::Duration(d.wrapping_neg()),
        (UnaryOp::Not, Val::Bool(b)) => Val::Bool(!b),
        (_, Val::Missing(name)) => return Err(EvalError::Missing(name)),
        (UnaryOp::Neg, v) => return Err(EvalError::BadOperand("-", v.type_name())),
        (UnaryOp::Not, v) => return Err(EvalError::BadOperand("!", v.type_name())),
    })
}

fn kind(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::And | BinaryOp::Or => "logical",
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => "math",
        _ => "comparison",
    }
}

pub(super) fn binary(op: BinaryOp, l: Val, r: Val) -> Result<Val, EvalError> {
    if let Val::Missing(name) = l {
        return Err(EvalError::MissingOperand("left", name));
    }
    if let Val::Missing(name) = r {
        return Err(EvalError::MissingOperand("right", name));
    }
    let mismatch = |l: &Val, r: &Val| {
        if l.type_name() == r.type_name() {
            EvalError::InvalidOperator(kind(op), op.symbol(), l.type_name())
        } else {
            EvalError::Mismatch(l.type_name(), op.symbol(), r.type_name())
        }
    };
    match op {
        BinaryOp::RegexMatch | BinaryOp::RegexNotMatch => {
            return match (&l, &r) {
                (Val::String(s), Val::Regex(re)) => {
                    Ok(Val::Bool(re.is_match(s) == (op == BinaryOp::RegexMatch)))
                }
                _ => Err(mismatch(&l, &r)),
            };
        }
        op if op.is_comparison() => {
            // Int and float compare with each other (Kapacitor converts the
            // int); every other pair must match.
            let ord: Option<Ordering> = match (&l, &r) {
                (Val::Int(a), Val::Int(b)) => Some(a.cmp(b)),
                (Val::Float(a), Val::Float(b)) => a.partial_cmp(b),
                (Val::Int(a), Val::Float(b)) => (*a as f64).partial_cmp(b),
                (Val::Float(a), Val::Int(b)) => a.partial_cmp(&(*b as f64)),
                (Val::Duration(a), Val::Duration(b)) | (Val::Time(a), Val::Time(b)) => {
                    Some(a.cmp(b))
                }
                (Val::String(a), Val::String(b)) => Some(a.cmp(b)),
                (Val::Bool(a), Val::Bool(b)) if matches!(op, BinaryOp::Eq | BinaryOp::NotEq) => {
                    Some(a.cmp(b))
                }
                _ => return Err(mismatch(&l, &r)),
            };
            let Some(ord) = ord else {
                // NaN compares unequal to everything, itself included.
                return Ok(Val::Bool(op == BinaryOp::NotEq));
            };
            return Ok(Val::Bool(op.holds(ord)));
        }
        _ => {}
    }
    use BinaryOp as B;
    Ok(match (op, &l, &r) {
        (B::Add, Val::Int(a), Val::Int(b)) => Val::Int(a.wrapping_add(*b)),
        (B::Sub, Val::Int(a), Val::Int(b)) => Val::Int(a.wrapping_sub(*b)),
        (B::Mul, Val::Int(a), Val::Int(b)) => Val::Int(a.wrapping_mul(*b)),
        (B::Div | B::Mod, Val::Int(_), Val::Int(0)) => return Err(EvalError::DivisionByZero),
        (B::Div, Val::Int(a), Val::Int(b)) => Val::Int(a.wrapping_div(*b)),
        (B::Mod, Val::Int(a), Val::Int(b)) => Val::Int(a.wrapping_rem(*b)),
        (B::Add, Val::Float(a), Val::Float(b)) => Val::Float(a + b),
        (B::Sub, Val::Float(a), Val::Float(b)) => Val::Float(a - b),
        (B::Mul, Val::Float(a), Val::Float(b)) => Val::Float(a * b),
        (B::Div, Val::Float(a), Val::Float(b)) => Val::Float(a / b),
        (B::Add, Val::Duration(a), Val::Duration(b)) => Val::Duration(a.wrapping_add(*b)),
        (B::Sub, Val::Duration(a), Val::Duration(b)) => Val::Duration(a.wrapping_sub(*b)),
        (B::Mul, Val::Duration(a), Val::Int(b)) | (B::Mul, Val::Int(b), Val::Duration(a)) => {
            Val::Duration(a.wrapping_mul(*b))
        }
        (B::Mul, Val::Duration(a), Val::Float(b)) | (B::Mul, Val::Float(b), Val::Duration(a)) => {
            Val::Duration((*a as f64 * b) as i64)
        }
        (B::Div, Val::Duration(_), Val::Int(0) | Val::Duration(0)) => {
            return Err(EvalError::DivisionByZero);
        }
        (B::Div, Val::Duration(a), Val::Int(b)) => Val::Duration(a.wrapping_div(*b)),
        (B::Div, Val::Duration(a), Val::Float(b)) => Val::Duration((*a as f64 / b) as i64),
        // A duration over a duration is how many times one fits the other.
        (B::Div, Val::Duration(a), Val::Duration(b)) => Val::Int(a.wrapping_div(*b)),
        (B::Add, Val::String(a), Val::String(b)) => Val::String(format!("{a}{b}")),
        _ => return Err(mismatch(&l, &r)),
    })
}
