//! Helpers for the nodes' unit tests.

use dsl::NodeSpec;

/// The plan entry of the first `kind` node of `script`, compiled as the task
/// type the script starts from.
pub(crate) fn node_spec(script: &str, kind: &str) -> NodeSpec {
    let plan = dsl::compile(script, dsl::detect_task_type(script)).expect("script compiles");
    plan.nodes
        .into_iter()
        .find(|n| n.kind == kind)
        .unwrap_or_else(|| panic!("the script has no {kind} node"))
}
