//! Compiled lambda expressions: operator precedence resolved, script
//! variables substituted, functions checked. The runtime evaluates these
//! against each point (see [`Lambda::eval`]).

use serde::{Deserialize, Serialize};

use crate::ast::{BinaryOp, UnaryOp};
use crate::nodes::ValueType;

/// A `lambda:` expression as the runtime needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lambda {
    pub expr: LambdaExpr,
    /// The result type when the compiler could tell (it cannot when the
    /// result depends on a field's type).
    pub ty: Option<ValueType>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LambdaExpr {
    /// `"name"`: a field, else a tag, of the current point.
    Field(String),
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    /// Nanoseconds.
    Duration(i64),
    Regex(String),
    Star,
    /// A template variable not yet filled in.
    Var {
        name: String,
        ty: String,
    },
    Unary {
        op: UnaryOp,
        expr: Box<LambdaExpr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<LambdaExpr>,
        rhs: Box<LambdaExpr>,
    },
    Call {
        func: String,
        args: Vec<LambdaExpr>,
    },
}

/// A value produced while evaluating a lambda.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Duration(i64),
}

/// What a lambda can read from the point it is evaluated against.
pub trait PointScope {
    /// A field, else a tag, by name.
    fn lookup(&self, name: &str) -> Option<EvalValue>;
    /// The point's time, nanoseconds since the epoch.
    fn time(&self) -> i64;
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("no field or tag named \"{0}\"")]
    Missing(String),
    #[error(
        "mismatched type to binary operator. got {0} {1} {2}. see bool(), int(), float(), string(), duration()"
    )]
    Mismatch(&'static str, &'static str, &'static str),
    #[error("invalid operand for {0}: {1}")]
    BadOperand(&'static str, &'static str),
    #[error("division by zero")]
    DivisionByZero,
    #[error("function {0}() is not available here; it needs the runtime's state")]
    Unsupported(String),
    #[error("template variable {0} was never given a value")]
    Unfilled(String),
}

impl EvalValue {
    fn type_name(&self) -> &'static str {
        match self {
            EvalValue::Bool(_) => "bool",
            EvalValue::Int(_) => "int",
            EvalValue::Float(_) => "float",
            EvalValue::String(_) => "string",
            EvalValue::Duration(_) => "duration",
        }
    }
}

impl Lambda {
    /// Evaluates the stateless part of the language: literals, fields,
    /// operators and the conversion functions. Stateful functions
    /// (`sigma`, `count`, …) and regexes belong to the runtime.
    pub fn eval(&self, scope: &dyn PointScope) -> Result<EvalValue, EvalError> {
        eval(&self.expr, scope)
    }
}

fn eval(expr: &LambdaExpr, scope: &dyn PointScope) -> Result<EvalValue, EvalError> {
    use EvalValue as V;
    Ok(match expr {
        LambdaExpr::Field(name) => scope
            .lookup(name)
            .ok_or_else(|| EvalError::Missing(name.clone()))?,
        LambdaExpr::Bool(b) => V::Bool(*b),
        LambdaExpr::Int(i) => V::Int(*i),
        LambdaExpr::Float(f) => V::Float(*f),
        LambdaExpr::String(s) => V::String(s.clone()),
        LambdaExpr::Duration(d) => V::Duration(*d),
        LambdaExpr::Regex(_) | LambdaExpr::Star => {
            return Err(EvalError::Unsupported("regex".into()));
        }
        LambdaExpr::Var { name, .. } => return Err(EvalError::Unfilled(name.clone())),
        LambdaExpr::Unary { op, expr } => match (op, eval(expr, scope)?) {
            (UnaryOp::Neg, V::Int(i)) => V::Int(i.wrapping_neg()),
            (UnaryOp::Neg, V::Float(f)) => V::Float(-f),
            (UnaryOp::Neg, V::Duration(d)) => V::Duration(d.wrapping_neg()),
            (UnaryOp::Not, V::Bool(b)) => V::Bool(!b),
            (UnaryOp::Neg, v) => return Err(EvalError::BadOperand("-", v.type_name())),
            (UnaryOp::Not, v) => return Err(EvalError::BadOperand("!", v.type_name())),
        },
        LambdaExpr::Binary { op, lhs, rhs } => {
            // AND/OR short-circuit, as Kapacitor does.
            if matches!(op, BinaryOp::And | BinaryOp::Or) {
                let l = match eval(lhs, scope)? {
                    V::Bool(b) => b,
                    v => return Err(EvalError::BadOperand(op.symbol(), v.type_name())),
                };
                if (*op == BinaryOp::And && !l) || (*op == BinaryOp::Or && l) {
                    return Ok(V::Bool(l));
                }
                return match eval(rhs, scope)? {
                    V::Bool(b) => Ok(V::Bool(b)),
                    v => Err(EvalError::BadOperand(op.symbol(), v.type_name())),
                };
            }
            binary(*op, eval(lhs, scope)?, eval(rhs, scope)?)?
        }
        LambdaExpr::Call { func, args } => {
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                vals.push(eval(a, scope)?);
            }
            call(func, &vals, scope)?
        }
    })
}

fn binary(op: BinaryOp, l: EvalValue, r: EvalValue) -> Result<EvalValue, EvalError> {
    use EvalValue as V;
    use std::cmp::Ordering;
    let mismatch = |l: &V, r: &V| EvalError::Mismatch(l.type_name(), op.symbol(), r.type_name());
    if op.is_comparison() {
        let ord: Option<Ordering> = match (&l, &r) {
            (V::Int(a), V::Int(b)) => Some(a.cmp(b)),
            (V::Float(a), V::Float(b)) => a.partial_cmp(b),
            (V::Int(a), V::Float(b)) => (*a as f64).partial_cmp(b),
            (V::Float(a), V::Int(b)) => a.partial_cmp(&(*b as f64)),
            (V::Duration(a), V::Duration(b)) => Some(a.cmp(b)),
            (V::String(a), V::String(b)) => Some(a.cmp(b)),
            (V::Bool(a), V::Bool(b)) if matches!(op, BinaryOp::Eq | BinaryOp::NotEq) => {
                Some(a.cmp(b))
            }
            _ => return Err(mismatch(&l, &r)),
        };
        let Some(ord) = ord else {
            // NaN compares unequal to everything.
            return Ok(V::Bool(op == BinaryOp::NotEq));
        };
        return Ok(V::Bool(match op {
            BinaryOp::Eq => ord == Ordering::Equal,
            BinaryOp::NotEq => ord != Ordering::Equal,
            BinaryOp::Lt => ord == Ordering::Less,
            BinaryOp::LtEq => ord != Ordering::Greater,
            BinaryOp::Gt => ord == Ordering::Greater,
            _ => ord != Ordering::Less,
        }));
    }
    Ok(match (op, &l, &r) {
        (BinaryOp::Add, V::Int(a), V::Int(b)) => V::Int(a.wrapping_add(*b)),
        (BinaryOp::Sub, V::Int(a), V::Int(b)) => V::Int(a.wrapping_sub(*b)),
        (BinaryOp::Mul, V::Int(a), V::Int(b)) => V::Int(a.wrapping_mul(*b)),
        (BinaryOp::Div | BinaryOp::Mod, V::Int(_), V::Int(0)) => {
            return Err(EvalError::DivisionByZero);
        }
        (BinaryOp::Div, V::Int(a), V::Int(b)) => V::Int(a.wrapping_div(*b)),
        (BinaryOp::Mod, V::Int(a), V::Int(b)) => V::Int(a.wrapping_rem(*b)),
        (BinaryOp::Add, V::Float(a), V::Float(b)) => V::Float(a + b),
        (BinaryOp::Sub, V::Float(a), V::Float(b)) => V::Float(a - b),
        (BinaryOp::Mul, V::Float(a), V::Float(b)) => V::Float(a * b),
        (BinaryOp::Div, V::Float(a), V::Float(b)) => V::Float(a / b),
        (BinaryOp::Add, V::Duration(a), V::Duration(b)) => V::Duration(a.wrapping_add(*b)),
        (BinaryOp::Sub, V::Duration(a), V::Duration(b)) => V::Duration(a.wrapping_sub(*b)),
        (BinaryOp::Mul, V::Duration(a), V::Int(b)) | (BinaryOp::Mul, V::Int(b), V::Duration(a)) => {
            V::Duration(a.wrapping_mul(*b))
        }
        (BinaryOp::Add, V::String(a), V::String(b)) => V::String(format!("{a}{b}")),
        _ => return Err(mismatch(&l, &r)),
    })
}

fn call(func: &str, args: &[EvalValue], scope: &dyn PointScope) -> Result<EvalValue, EvalError> {
    use EvalValue as V;
    let one = args.first();
    Ok(match (func, one) {
        ("float", Some(V::Int(i))) => V::Float(*i as f64),
        ("float", Some(V::Float(f))) => V::Float(*f),
        ("int", Some(V::Float(f))) => V::Int(*f as i64),
        ("int", Some(V::Int(i))) => V::Int(*i),
        ("int", Some(V::Bool(b))) => V::Int(i64::from(*b)),
        ("bool", Some(V::Bool(b))) => V::Bool(*b),
        ("string", Some(v)) => V::String(match v {
            V::Bool(b) => {
                if *b {
                    "true".into()
                } else {
                    "false".into()
                }
            }
            V::Int(i) => i.to_string(),
            V::Float(f) => f.to_string(),
            V::String(s) => s.clone(),
            V::Duration(d) => format!("{d}ns"),
        }),
        ("abs", Some(V::Float(f))) => V::Float(f.abs()),
        ("sqrt", Some(V::Float(f))) => V::Float(f.sqrt()),
        ("floor", Some(V::Float(f))) => V::Float(f.floor()),
        ("ceil", Some(V::Float(f))) => V::Float(f.ceil()),
        ("strLength", Some(V::String(s))) => V::Int(s.chars().count() as i64),
        ("strToLower", Some(V::String(s))) => V::String(s.to_lowercase()),
        ("strToUpper", Some(V::String(s))) => V::String(s.to_uppercase()),
        ("unixNano", _) => V::Int(scope.time()),
        ("if", Some(V::Bool(c))) if args.len() == 3 => args[if *c { 1 } else { 2 }].clone(),
        _ => return Err(EvalError::Unsupported(func.to_owned())),
    })
}
