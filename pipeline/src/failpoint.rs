//! Debug builds only: a way for tests to make a node panic on a chosen
//! point, so the daemon's handling of a task panic (isolation, report,
//! restart) can be tested against the real binary. Release builds have no
//! such module and no check on the data path.

use std::sync::OnceLock;

use crate::batch::Message;

static PANIC_ON_FIELD: OnceLock<String> = OnceLock::new();

/// From now on, a node panics on a point (or batch) that carries field
/// `name` and reaches it: any node but a task's root and its `from` nodes,
/// which see every point routed to the task, so only the tasks whose
/// `from` lets such a point through are hit.
pub fn panic_on_field(name: &str) {
    let _ = PANIC_ON_FIELD.set(name.to_owned());
}

/// Panics, as node `node` of kind `kind`, when one of `msgs` carries the
/// poisoned field.
pub(crate) fn check(node: &str, kind: &str, msgs: &[Message]) {
    let Some(field) = PANIC_ON_FIELD.get() else {
        return;
    };
    if kind == "from" {
        return;
    }
    let poisoned = msgs.iter().any(|m| match m {
        Message::Point(p, _) => p.fields.get(field).is_some(),
        Message::Batch(b) => b.points.iter().any(|p| p.fields.get(field).is_some()),
        _ => false,
    });
    if poisoned {
        panic!("failpoint: a point with field {field:?} reached node {node}");
    }
}
