//! The `where` predicate of a task's YAML or API definition: parsing and
//! evaluating arbitrary text must never panic, hang or overflow the stack
//! (nesting is bounded by `limits.max_expression_depth`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = config::WherePredicate::parse(src) {
        let lookup = |name: &str| match name.len() % 4 {
            0 => None,
            1 => Some(config::Value::Float(f64::NAN)),
            2 => Some(config::Value::Int(name.len() as i64)),
            _ => Some(config::Value::String(name.to_owned())),
        };
        let _ = p.eval(&lookup);
    }
});
