//! Fuzzes the line-protocol decoder: no input may panic, every reported line
//! number must lie inside the input, and a good line appended after a newline
//! must survive whatever came before (unless the garbage left a string or an
//! escape open, which by 1.x framing joins the lines).
//!
//! Run (nightly): `cd fuzz && cargo +nightly fuzz run lp_decode`

#![no_main]

use ingest::lp::{DecodeOptions, Decoder, Precision};
use libfuzzer_sys::fuzz_target;

const GOOD: &[u8] = b"\ngood,host=a v=1.5,n=2i 1\n";

fuzz_target!(|data: &[u8]| {
    let (flags, input) = data.split_first().map_or((0, data), |(f, rest)| (*f, rest));
    let precision = match flags % 6 {
        0 => Precision::Nanosecond,
        1 => Precision::Microsecond,
        2 => Precision::Millisecond,
        3 => Precision::Second,
        4 => Precision::Minute,
        _ => Precision::Hour,
    };
    let opts = DecodeOptions {
        precision,
        now_ns: 1_700_000_000_123_456_789,
        accept_unsigned: flags & 0x80 != 0,
    };
    let mut decoder = Decoder::new();
    let (mut points, mut errors) = (Vec::new(), Vec::new());
    decoder.decode(input, &opts, &mut points, &mut errors);
    let newlines = input.iter().filter(|&&c| c == b'\n').count();
    for e in &errors {
        assert!(
            e.line >= 1 && e.line <= newlines + 1,
            "line {} of {}",
            e.line,
            newlines + 1
        );
    }
    // Warm caches must not change the result.
    let mut again = Vec::new();
    decoder.decode(input, &opts, &mut again, &mut Vec::new());
    assert_eq!(points, again);

    if !input.contains(&b'"') && !input.contains(&b'\\') {
        let mut with_good = input.to_vec();
        with_good.extend_from_slice(GOOD);
        points.clear();
        decoder.decode(&with_good, &opts, &mut points, &mut Vec::new());
        let last = points.last().map(|p| p.to_string());
        let want = format!("good,host=a v=1.5,n=2i {}", precision.nanos());
        assert_eq!(last.as_deref(), Some(want.as_str()));
    }
});
