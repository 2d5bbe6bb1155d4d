//! Topic handler match expressions on arbitrary bytes: compiling (and
//! rendering the errors, whose spans are moved back into the source) and
//! evaluating against an event must never panic or hang.
#![no_main]

use dsl::{EvalValue, PointScope};
use libfuzzer_sys::fuzz_target;

struct Event;

impl PointScope for Event {
    fn lookup(&self, name: &str) -> Option<EvalValue> {
        (name == "host").then(|| EvalValue::String("web1".into()))
    }
    fn time(&self) -> i64 {
        0
    }
    fn function(&self, name: &str) -> Option<EvalValue> {
        match name {
            "level" => Some(EvalValue::Int(3)),
            "changed" => Some(EvalValue::Bool(true)),
            _ => None,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        match dsl::compile_match(src, &dsl::Limits::default()) {
            Ok(lambda) => {
                let _ = lambda.eval(&Event);
            }
            Err(d) => {
                let _ = d.render("match", src);
            }
        }
    }
});
