//! What one script may ask of the daemon. Every limit is checked when the
//! script is compiled, each breach a diagnostic at its place, so no task
//! can make the daemon allocate without bound or recurse past its stack.

use crate::lambda::LambdaExpr;

pub use model::Limits;

/// Operators and values one lambda may hold: a lambda var used in another
/// lambda is copied into it, so vars of vars could otherwise double the
/// tree with every line.
pub const MAX_LAMBDA_SIZE: usize = 100_000;

/// Depth and number of nodes of a lambda's tree, without recursion (the
/// tree may come from vars of vars and be deep).
pub(crate) fn measure(expr: &LambdaExpr) -> (usize, usize) {
    let (mut depth, mut size) = (0, 0);
    let mut stack = vec![(expr, 1usize)];
    while let Some((e, d)) = stack.pop() {
        depth = depth.max(d);
        size += 1;
        match e {
            LambdaExpr::Unary { expr, .. } => stack.push((expr, d + 1)),
            LambdaExpr::Binary { lhs, rhs, .. } => {
                stack.push((lhs, d + 1));
                stack.push((rhs, d + 1));
            }
            LambdaExpr::Call { args, .. } => stack.extend(args.iter().map(|a| (a, d + 1))),
            _ => {}
        }
    }
    (depth, size)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::Limits;
    use crate::{Diagnostics, Plan, TaskType, compile_with_limits};

    fn compile(script: &str) -> Result<Plan, Diagnostics> {
        compile_with_limits(
            script,
            TaskType::Stream,
            &HashMap::new(),
            &Limits::default(),
        )
    }

    /// The one error's message and 1-based line:col.
    fn error(script: &str) -> (String, (usize, usize)) {
        let d = compile(script).expect_err("refused");
        assert_eq!(d.0.len(), 1, "{d:?}");
        let at = crate::Diagnostic::line_col(script, d.0[0].span.start);
        (d.0[0].message.clone(), at)
    }

    #[test]
    fn allocation_sizes_are_bounded_at_their_place() {
        let (m, at) = error("stream\n    |from().parallelism(1099511627776)\n");
        assert!(m.contains("at most 64 (limits.max_parallelism)"), "{m}");
        assert_eq!(at, (2, 13));
        assert!(compile("stream|from().parallelism(64)").is_ok());
        let (m, _) = error("stream|from()|alert().crit(lambda: TRUE).history(1099511627776)");
        assert!(m.contains("limits.max_history"), "{m}");
        let (m, _) =
            error("stream|from()|window().period(1m)|holtWinters('v', 1099511627776, 0, 1s)");
        assert!(
            m.contains("predictions") && m.contains("limits.max_forecast"),
            "{m}"
        );
        let (m, _) =
            error("stream|from()|window().period(1m)|holtWinters('v', 1, 1099511627776, 1s)");
        assert!(m.contains("season"), "{m}");
    }

    #[test]
    fn size_nodes_and_chain_depth_are_bounded() {
        let big = format!("stream|from()\n// {}\n", "x".repeat(1_100_000));
        let (m, at) = error(&big);
        assert!(m.contains("limits.max_script_size"), "{m}");
        assert_eq!(at.0, 2);

        // A chain of vars: each statement small, the chain 2,000 deep.
        let mut chain = String::from("var n0 = stream|from()\n");
        for i in 1..2000 {
            chain.push_str(&format!("var n{i} = n{}|log()\n", i - 1));
        }
        let (m, at) = error(&chain);
        assert!(m.contains("more than 1000 nodes"), "{m}");
        assert_eq!(at.0, 1000, "the statement of node 1000");
        let short: String = chain.lines().take(300).map(|l| format!("{l}\n")).collect();
        let (m, at) = error(&short);
        assert!(
            m.contains("more than 200 deep (limits.max_chain_depth)"),
            "{m}"
        );
        assert_eq!(at.0, 200);
        let ok: String = chain.lines().take(199).map(|l| format!("{l}\n")).collect();
        assert!(compile(&ok).is_ok());
        // Wide is fine where deep is not.
        let mut wide = String::from("var s = stream|from()\n");
        for _ in 0..500 {
            wide.push_str("s|log()\n");
        }
        assert!(compile(&wide).is_ok());
    }

    #[test]
    fn lambdas_made_of_lambda_vars_are_bounded() {
        // Each var one level deeper: the 101st is refused.
        let mut s = String::from("var l0 = lambda: \"x\" > 0\n");
        for i in 1..150 {
            s.push_str(&format!("var l{i} = lambda: l{} AND TRUE\n", i - 1));
        }
        s.push_str("stream|from().where(l149)\n");
        let d = compile(&s).expect_err("refused");
        let m = &d.0[0].message;
        assert!(
            m.contains("more than 100 deep (limits.max_expression_depth)"),
            "{m}"
        );
        assert_eq!(crate::Diagnostic::line_col(&s, d.0[0].span.start).0, 100);
        // Each var twice the last: the tree doubles per line.
        let mut s = String::from("var l0 = lambda: \"x\" > 0\n");
        for i in 1..40 {
            s.push_str(&format!("var l{i} = lambda: l{0} AND l{0}\n", i - 1));
        }
        s.push_str("stream|from().where(l39)\n");
        let d = compile(&s).expect_err("refused");
        assert!(d.0[0].message.contains("operators and values"), "{d:?}");
    }
}
