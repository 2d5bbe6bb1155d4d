//! Compiled lambda expressions: operator precedence resolved, script
//! variables substituted, functions checked. The runtime evaluates these
//! against each point with [`Lambda::eval_with`], keeping an [`EvalState`]
//! per lambda and group for the stateful functions (`sigma`, `count`,
//! `spread`, `rand`) and the compiled regexes. [`Lambda::eval`] is the
//! stateless form, for constants and one-off checks.
//!
//! The semantics follow Kapacitor's `tick/stateful`: which operand types an
//! operator accepts, what each function returns, and the error texts a user
//! would compare.

mod eval;
mod functions;
mod math;

pub use functions::format_duration;

use std::collections::HashMap;

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
    /// `"name"`: a field, else a tag, of the current point; `"time"` is the
    /// point's time.
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

/// A value produced while evaluating a lambda. A time (`now()`, `"time"`)
/// comes out as [`EvalValue::Int`] nanoseconds since the epoch.
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
    /// A function without arguments that the scope answers rather than the
    /// lambda functions: an alert event's `level()` or `changed()` in a
    /// topic handler's match expression. Asked first, for every call
    /// without arguments, so it must answer `None` for the lambda
    /// functions' names (`now`, `count`, `rand`).
    fn function(&self, name: &str) -> Option<EvalValue> {
        let _ = name;
        None
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("reference \"{0}\" is missing value")]
    Missing(String),
    #[error("{0} reference value \"{1}\" is missing value")]
    MissingOperand(&'static str, String),
    #[error(
        "mismatched type to binary operator. got {0} {1} {2}. see bool(), int(), float(), string(), duration()"
    )]
    Mismatch(&'static str, &'static str, &'static str),
    #[error("invalid {0} operator {1} for type {2}")]
    InvalidOperator(&'static str, &'static str, &'static str),
    #[error("invalid operand for {0}: {1}")]
    BadOperand(&'static str, &'static str),
    #[error("division by zero")]
    DivisionByZero,
    #[error("function {0}() is not available here; it needs the runtime's state")]
    Unsupported(String),
    #[error("template variable {0} was never given a value")]
    Unfilled(String),
    #[error("undefined function: \"{0}\"")]
    UnknownFunction(String),
    /// A function rejected its arguments, as Kapacitor words it.
    #[error("error calling \"{0}\": {1}")]
    Call(String, String),
    /// The argument types match none of the function's signatures.
    #[error("Cannot call function \"{0}\" with args ({1}), available signatures are [{2}].")]
    Signature(String, String, &'static str),
    #[error("invalid regex /{0}/: {1}")]
    Regex(String, String),
    #[error("expression returned unexpected type {0}")]
    Unexpected(&'static str),
}

/// What a lambda keeps between points: the accumulators of its stateful
/// functions, one per call site (so `sigma("a") > sigma("b")` keeps two),
/// and its compiled regexes. Keep one per lambda and group.
#[derive(Debug, Clone)]
pub struct EvalState {
    sites: HashMap<usize, functions::Accumulator>,
    regexes: HashMap<String, regex::Regex>,
    /// Whether stateful functions may run; false for [`Lambda::eval`].
    stateful: bool,
}

impl Default for EvalState {
    fn default() -> Self {
        EvalState {
            sites: HashMap::new(),
            regexes: HashMap::new(),
            stateful: true,
        }
    }
}

impl EvalState {
    /// A state for `lambda` with its regex literals compiled up front, so a
    /// bad pattern is reported when the task starts, not per point.
    pub fn for_lambda(lambda: &Lambda) -> Result<Self, EvalError> {
        let mut state = EvalState::default();
        let mut err = None;
        visit(&lambda.expr, &mut |e| {
            if let LambdaExpr::Regex(p) = e
                && err.is_none()
                && let Err(e) = state.regex(p)
            {
                err = Some(e);
            }
        });
        match err {
            Some(e) => Err(e),
            None => Ok(state),
        }
    }

    /// A fresh state sharing this one's compiled regexes (for a new group).
    pub fn fork(&self) -> Self {
        EvalState {
            sites: HashMap::new(),
            regexes: self.regexes.clone(),
            stateful: true,
        }
    }

    /// Forgets what the stateful functions have seen.
    pub fn reset(&mut self) {
        self.sites.clear();
    }

    fn regex(&mut self, pattern: &str) -> Result<regex::Regex, EvalError> {
        if let Some(re) = self.regexes.get(pattern) {
            return Ok(re.clone());
        }
        let re = regex::Regex::new(pattern)
            .map_err(|e| EvalError::Regex(pattern.to_owned(), e.to_string()))?;
        self.regexes.insert(pattern.to_owned(), re.clone());
        Ok(re)
    }
}

/// Calls `f` on every node of `expr`, parents first.
fn visit(expr: &LambdaExpr, f: &mut dyn FnMut(&LambdaExpr)) {
    f(expr);
    match expr {
        LambdaExpr::Unary { expr, .. } => visit(expr, f),
        LambdaExpr::Binary { lhs, rhs, .. } => {
            visit(lhs, f);
            visit(rhs, f);
        }
        LambdaExpr::Call { args, .. } => args.iter().for_each(|a| visit(a, f)),
        _ => {}
    }
}

impl Lambda {
    /// Evaluates the lambda without state: everything but the stateful
    /// functions, which fail with [`EvalError::Unsupported`]. Regexes are
    /// compiled on each call; the runtime uses [`Lambda::eval_with`].
    pub fn eval(&self, scope: &dyn PointScope) -> Result<EvalValue, EvalError> {
        eval::run(
            &self.expr,
            scope,
            &mut EvalState {
                stateful: false,
                ..EvalState::default()
            },
        )
    }

    /// Evaluates the lambda against one point, updating `state` (create it
    /// with [`EvalState::for_lambda`], one per group).
    pub fn eval_with(
        &self,
        scope: &dyn PointScope,
        state: &mut EvalState,
    ) -> Result<EvalValue, EvalError> {
        eval::run(&self.expr, scope, state)
    }

    /// Whether the lambda calls a function that keeps state between points,
    /// so it needs an [`EvalState`] per group.
    pub fn is_stateful(&self) -> bool {
        let mut found = false;
        visit(&self.expr, &mut |e| {
            if let LambdaExpr::Call { func, .. } = e {
                found |= functions::is_stateful(func);
            }
        });
        found
    }
}

impl EvalValue {
    pub fn type_name(&self) -> &'static str {
        match self {
            EvalValue::Bool(_) => "bool",
            EvalValue::Int(_) => "int",
            EvalValue::Float(_) => "float",
            EvalValue::String(_) => "string",
            EvalValue::Duration(_) => "duration",
        }
    }
}
