//! Golden cases for the line-protocol decoder: `testdata/lineprotocol/*.lp`
//! are exact input bodies, `*.out` the expected result written by hand from
//! InfluxDB 1.6.7's observed behaviour (see the README there), and optional
//! `*.opts` the decode options.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ingest::lp::{DecodeOptions, Decoder, Precision};

const DEFAULT_NOW: i64 = 1_700_000_000_123_456_789;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/lineprotocol")
}

fn options(path: &Path) -> DecodeOptions {
    let mut o = DecodeOptions {
        precision: Precision::Nanosecond,
        now_ns: DEFAULT_NOW,
        accept_unsigned: false,
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return o;
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{}: bad option {line:?}", path.display()));
        match k.trim() {
            "precision" => o.precision = Precision::parse(v.trim()).expect("known precision"),
            "now" => o.now_ns = v.trim().parse().expect("integer now"),
            "unsigned" => o.accept_unsigned = v.trim().parse().expect("true or false"),
            other => panic!("{}: unknown option {other}", path.display()),
        }
    }
    o
}

/// Control bytes shown as visible symbols so each record stays on one line.
fn visible(s: &str) -> String {
    s.replace('\n', "␊")
        .replace('\r', "␍")
        .replace('\t', "␉")
        .replace('\0', "␀")
}

/// Points (as line protocol) then errors (`line N: …`), one per line.
fn render(input: &[u8], opts: &DecodeOptions) -> String {
    let mut d = Decoder::new();
    let (mut points, mut errors) = (Vec::new(), Vec::new());
    d.decode(input, opts, &mut points, &mut errors);
    let mut out = String::new();
    for p in &points {
        writeln!(out, "{}", visible(&p.to_string())).expect("write to string");
    }
    for e in &errors {
        writeln!(out, "line {}: {}", e.line, visible(&e.to_string())).expect("write to string");
    }
    out
}

#[test]
fn golden_cases() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("testdata/lineprotocol exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "lp"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 50, "only {} golden cases found", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let input = std::fs::read(case).expect("read case");
        let expected: String = std::fs::read_to_string(case.with_extension("out"))
            .unwrap_or_else(|_| panic!("{} has no .out", case.display()))
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let opts = options(&case.with_extension("opts"));
        let got = render(&input, &opts);
        if got != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{got}",
                case.display()
            ));
        }
        // A second pass over the same body runs on warm caches (series and
        // key lists found, not parsed) and must decode the same points.
        let mut d = Decoder::new();
        let (mut points, mut errors) = (Vec::new(), Vec::new());
        d.decode(&input, &opts, &mut points, &mut errors);
        let mut again = Vec::new();
        d.decode(&input, &opts, &mut again, &mut Vec::new());
        assert_eq!(
            points,
            again,
            "{}: a warm decoder must agree with a cold one",
            case.display()
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
