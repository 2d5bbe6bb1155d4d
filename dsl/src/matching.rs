//! Topic handler `match` expressions (Kapacitor's `services/alert`): a
//! lambda over one alert event, compiled by the same compiler as a
//! script's lambdas, so it has the same operators, functions, type checks,
//! depth limit and located errors. On top of those it knows the event's
//! own functions, [`MATCH_FUNCTIONS`] (`changed()`, `level()`, `name()`,
//! `taskName()`, `alertDuration()`, and `duration()` with no argument as
//! Kapacitor's documentation spells it), and the level constants `OK`,
//! `INFO`, `WARNING` and `CRITICAL` that `level()` is compared with.
//!
//! The event's functions are answered at run time by the scope the
//! expression is evaluated against ([`crate::PointScope::function`]).

use crate::ast::{ExprKind, Stmt};
use crate::compile::Compiler;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::lambda::Lambda;
use crate::limits::Limits;
use crate::nodes::{FuncDef, ValueType};
use crate::plan::{TaskType, Value};
use crate::span::Span;

/// What a match expression is compiled inside of: the source becomes the
/// body of this lambda var, and spans are moved back by its length.
const PREFIX: &str = "var match = lambda: ";

/// The level constants and the value `level()` returns for each.
pub const MATCH_LEVELS: [(&str, i64); 4] =
    [("OK", 0), ("INFO", 1), ("WARNING", 2), ("CRITICAL", 3)];

/// The functions a match expression has besides the lambda functions, all
/// without arguments.
pub const MATCH_FUNCTIONS: &[FuncDef] = &[
    FuncDef {
        name: "changed",
        min_args: 0,
        max_args: 0,
        returns: Some(ValueType::Bool),
    },
    FuncDef {
        name: "level",
        min_args: 0,
        max_args: 0,
        returns: Some(ValueType::Int),
    },
    FuncDef {
        name: "name",
        min_args: 0,
        max_args: 0,
        returns: Some(ValueType::String),
    },
    FuncDef {
        name: "taskName",
        min_args: 0,
        max_args: 0,
        returns: Some(ValueType::String),
    },
    FuncDef {
        name: "alertDuration",
        min_args: 0,
        max_args: 0,
        returns: Some(ValueType::Duration),
    },
];

/// Compiles `source`, a match expression, under `limits` (its depth is held
/// to `max_expression_depth`). Errors have spans into `source`; render them
/// with [`Diagnostics::render`] for `line:col` messages.
pub fn compile_match(source: &str, limits: &Limits) -> Result<Lambda, Diagnostics> {
    let whole = |message: &str, label: &str| {
        Diagnostics(vec![
            Diagnostic::error(message, Span::new(0, source.len())).with_label(label),
        ])
    };
    if source.len() > limits.max_script_size {
        return Err(whole(
            "the match expression is longer than limits.max_script_size",
            "too long",
        ));
    }
    if source.trim().is_empty() {
        return Err(whole(
            "the match expression is empty",
            "expected an expression",
        ));
    }
    let text = format!("{PREFIX}{source}");
    let back = |diags: Vec<Diagnostic>| Diagnostics(diags.into_iter().map(shift).collect());
    let (stmts, syntax) = crate::parse::parse(&text);
    if !syntax.is_empty() {
        return Err(back(syntax));
    }
    let body = match stmts.as_slice() {
        [Stmt::Var { value, .. }] if matches!(value.kind, ExprKind::Lambda(_)) => value,
        [_, second, ..] => {
            let at = shift_span(stmt_span(second));
            return Err(Diagnostics(vec![
                Diagnostic::error("a match expression is one expression", at)
                    .with_label("the expression ended before this"),
            ]));
        }
        _ => return Err(whole("not an expression", "expected one expression")),
    };
    let mut c = Compiler::new(TaskType::Stream);
    c.limits = *limits;
    c.match_functions = true;
    for (name, level) in MATCH_LEVELS {
        c.bind_const(name, Value::Int(level));
    }
    let compiled = c.value(body);
    if !c.diags.is_empty() {
        return Err(back(std::mem::take(&mut c.diags)));
    }
    match compiled {
        Some(Value::Lambda(l)) if matches!(l.ty, None | Some(ValueType::Bool)) => Ok(l),
        Some(Value::Lambda(l)) => {
            let ty = l.ty.map_or("value", ValueType::name);
            Err(whole(
                "a match expression must be TRUE or FALSE",
                &format!("this is {ty}, not bool"),
            ))
        }
        _ => Err(whole("not an expression", "expected one expression")),
    }
}

fn stmt_span(stmt: &Stmt) -> Span {
    match stmt {
        Stmt::TypeDecl { span, .. } | Stmt::Var { span, .. } | Stmt::Dbrp { span, .. } => *span,
        Stmt::Expr(e) => e.span,
        Stmt::Error => Span::new(PREFIX.len(), PREFIX.len()),
    }
}

fn shift_span(span: Span) -> Span {
    let back = |at: usize| at.saturating_sub(PREFIX.len());
    Span::new(back(span.start), back(span.end))
}

fn shift(mut d: Diagnostic) -> Diagnostic {
    d.span = shift_span(d.span);
    for (span, _) in &mut d.secondary {
        *span = shift_span(*span);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lambda::{EvalValue, PointScope};

    struct Event {
        level: i64,
        changed: bool,
        host: &'static str,
    }

    impl PointScope for Event {
        fn lookup(&self, name: &str) -> Option<EvalValue> {
            (name == "host").then(|| EvalValue::String(self.host.to_owned()))
        }
        fn time(&self) -> i64 {
            0
        }
        fn function(&self, name: &str) -> Option<EvalValue> {
            Some(match name {
                "level" => EvalValue::Int(self.level),
                "changed" => EvalValue::Bool(self.changed),
                "name" => EvalValue::String("cpu".into()),
                "taskName" => EvalValue::String("t".into()),
                "alertDuration" => EvalValue::Duration(90_000_000_000),
                _ => return None,
            })
        }
    }

    fn matches(src: &str, e: &Event) -> bool {
        let l = compile_match(src, &Limits::default()).unwrap_or_else(|d| {
            panic!("{}", d.render("match", src));
        });
        l.eval(e) == Ok(EvalValue::Bool(true))
    }

    fn error(src: &str) -> String {
        let d = compile_match(src, &Limits::default()).expect_err("refused");
        d.render("match", src)
    }

    #[test]
    fn kapacitors_documented_expressions_match_as_they_say() {
        let web_crit = Event {
            level: 3,
            changed: true,
            host: "web01",
        };
        let db_warn = Event {
            level: 2,
            changed: false,
            host: "db01",
        };
        let src = "changed() == TRUE AND level() >= WARNING AND \"host\" =~ /^web/";
        assert!(matches(src, &web_crit));
        assert!(!matches(src, &db_warn));
        assert!(matches("changed()", &web_crit));
        assert!(matches("level() == CRITICAL", &web_crit));
        assert!(!matches("level() == CRITICAL", &db_warn));
        assert!(matches("\"host\" == 'db01'", &db_warn));
        assert!(matches("name() == 'cpu' AND taskName() == 't'", &db_warn));
        assert!(matches("alertDuration() > 1m", &db_warn));
        assert!(matches("duration() > 1m AND duration() < 2m", &db_warn));
    }

    #[test]
    fn errors_point_into_the_expression() {
        let e = error("level() >= WARNIN");
        assert!(
            e.starts_with("match:1:12: error: unknown variable `WARNIN`"),
            "{e}"
        );
        let e = error("changed() ==");
        assert!(e.starts_with("match:1:"), "{e}");
        let e = error("levl() > 1");
        assert!(e.contains("unknown function `levl`"), "{e}");
        assert!(e.contains("did you mean"), "{e}");
        let e = error("level(1) > 1");
        assert!(e.contains("`level()` takes 0 arguments, found 1"), "{e}");
        let e = error("level() + 1");
        assert!(e.contains("must be TRUE or FALSE"), "{e}");
        let e = error("TRUE\nstream|from()");
        assert!(
            e.starts_with("match:2:1: error: a match expression is one expression"),
            "{e}"
        );
        assert!(error("  ").contains("empty"));
    }

    #[test]
    fn the_depth_limit_holds() {
        let deep = format!("{}TRUE", "!".repeat(30));
        let limits = Limits {
            max_expression_depth: 10,
            ..Limits::default()
        };
        let d = compile_match(&format!("{deep} AND {deep}"), &limits).unwrap_err();
        assert!(d.0[0].message.contains("max_expression_depth"), "{:?}", d);
    }
}
