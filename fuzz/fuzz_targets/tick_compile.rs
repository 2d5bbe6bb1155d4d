//! Lexer + parser + compiler on arbitrary bytes: must never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        for ty in [dsl::TaskType::Stream, dsl::TaskType::Batch] {
            if let Err(d) = dsl::compile(src, ty) {
                let _ = d.render("fuzz.tick", src);
            }
        }
    }
});
