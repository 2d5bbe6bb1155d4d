//! The TICKscript DSL: tokens, the lalrpop grammar (with `grammar.ebnf` as
//! the normative grammar users read), an AST with spans, diagnostics, and
//! `compile(script, task_type) -> Plan`, a serialisable DAG of typed node
//! specs, plus the lambda evaluator (also behind topic handlers' `match`
//! expressions, [`compile_match`]) and the syntax of the Go templates
//! alerts, httpPost and sideload use. Of ours it depends only on `model`,
//! whose `TaskType` and `DbRp` it re-exports, and it runs nothing: the
//! runtime in `pipeline` turns a plan into running nodes.
//!
//! ```
//! let plan = dsl::compile("stream|from().measurement('cpu')|window().period(10s)", dsl::TaskType::Stream).unwrap();
//! assert_eq!(plan.nodes[2].name, "window2");
//! ```

pub mod ast;
mod check;
pub mod compile;
pub mod diagnostic;
pub mod lambda;
pub mod lexer;
pub mod limits;
pub mod matching;
pub mod nodes;
pub mod parse;
pub mod plan;
pub mod span;
pub mod template;

#[allow(
    clippy::all,
    clippy::pedantic,
    unused,
    unused_qualifications,
    missing_debug_implementations
)]
mod grammar {
    lalrpop_util::lalrpop_mod!(grammar);
    pub use grammar::*;
}

pub use compile::{
    check_vars, compile, compile_with_limits, compile_with_vars, detect_task_type, lambda_var,
};
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use lambda::{EvalError, EvalState, EvalValue, Lambda, LambdaExpr, PointScope};
pub use limits::Limits;
pub use matching::compile_match;
pub use parse::parse;
pub use plan::{
    DbRp, Edge, EdgeType, HandlerSpec, NodeSpec, Plan, Property, TaskType, Value, VarSpec,
};
pub use span::Span;
