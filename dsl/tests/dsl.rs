//! End-to-end tests of the DSL: every conformance and seed script compiles,
//! golden DOT for good scripts, golden rendered diagnostics for broken ones,
//! the grammar and its EBNF stay in step, and no input makes it panic.

use std::fs;
use std::path::{Path, PathBuf};

use dsl::{TaskType, compile, detect_task_type};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Set `UPDATE_GOLDEN=1` to rewrite the expected files, then review the
/// diff: a changed message should show in code review.
fn check_golden(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::write(path, actual).expect("write golden");
        return;
    }
    let expected = fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        ));
    }
}

fn scripts_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tick"))
        .collect();
    out.sort();
    out
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_conformance_script_compiles() {
    let dir = repo().join("testdata/conformance/kapacitor");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("testdata/conformance/kapacitor")
        .filter_map(|e| e.ok().map(|e| e.path().join("script.tick")))
        .filter(|p| p.exists())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 43);
    let mut failures = Vec::new();
    for path in cases {
        let src = fs::read_to_string(&path).expect("read");
        let name = path
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ty = if name.starts_with("TestBatch") {
            TaskType::Batch
        } else {
            TaskType::Stream
        };
        assert_eq!(detect_task_type(&src), ty, "{name}");
        if let Err(d) = compile(&src, ty) {
            failures.push(d.render(&name, &src));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The good cases: the seed's scripts and others, each with its DOT.
fn check_dir_compiles(dir: &Path) {
    let mut failures = Vec::new();
    for path in scripts_in(dir) {
        let src = fs::read_to_string(&path).expect("read");
        let name = stem(&path);
        match compile(&src, detect_task_type(&src)) {
            Ok(plan) => check_golden(
                &path.with_extension("dot"),
                &plan.to_dot(&name),
                &mut failures,
            ),
            Err(d) => failures.push(d.render(&format!("{name}.tick"), &src)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seed_scripts_compile_with_expected_dot() {
    check_dir_compiles(&repo().join("testdata/dsl/seed"));
}

#[test]
fn good_scripts_match_their_dot() {
    check_dir_compiles(&repo().join("testdata/dsl/good"));
}

#[test]
fn seed_dag_is_stream_window_mean_filter_alert() {
    let src = "var window = stream.window().period(10s).every(5s)\nvar avg = window.map(mean, \"value\")\navg.filter(< , 30).alert()\n";
    let plan = compile(src, TaskType::Stream).expect("seed compiles");
    let names: Vec<&str> = plan.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["stream0", "window1", "mean2", "filter3", "alert4"]);
    assert_eq!(
        plan.to_dot("seed"),
        "digraph seed {\nstream0 -> window1;\nwindow1 -> mean2;\nmean2 -> filter3;\nfilter3 -> alert4;\n}\n"
    );
    let mean = &plan.nodes[2];
    assert_eq!(mean.args, vec![dsl::Value::String("value".into())]);
}

#[test]
fn broken_scripts_match_their_diagnostics() {
    let dir = repo().join("testdata/dsl/bad");
    let scripts = scripts_in(&dir);
    assert!(
        scripts.len() >= 40,
        "only {} broken-script cases",
        scripts.len()
    );
    let mut failures = Vec::new();
    for path in scripts {
        let src = fs::read_to_string(&path).expect("read");
        let file = format!("{}.tick", stem(&path));
        match compile(&src, detect_task_type(&src)) {
            Ok(_) => failures.push(format!("{file}: compiled but should not")),
            Err(d) => check_golden(
                &path.with_extension("err"),
                &d.render(&file, &src),
                &mut failures,
            ),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Nonterminals of the EBNF (capitalised productions; lower-case ones are
/// tokens the lexer owns) and of the lalrpop file (macros like `Comma<T>`
/// are lalrpop plumbing) must be the same set.
#[test]
fn grammar_and_ebnf_name_the_same_productions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ebnf = fs::read_to_string(root.join("grammar.ebnf")).expect("grammar.ebnf");
    let lalrpop = fs::read_to_string(root.join("src/grammar.lalrpop")).expect("grammar.lalrpop");
    let ebnf_names: std::collections::BTreeSet<String> = ebnf
        .lines()
        .filter_map(|l| {
            let (name, _) = l.split_once('=')?;
            let name = name.trim();
            (name.starts_with(|c: char| c.is_ascii_uppercase())
                && name.chars().all(|c| c.is_ascii_alphanumeric()))
            .then(|| name.to_owned())
        })
        .collect();
    let lalrpop_names: std::collections::BTreeSet<String> = lalrpop
        .lines()
        .filter_map(|l| {
            let l = l.strip_prefix("pub ").unwrap_or(l);
            let end = l.find(|c: char| !c.is_ascii_alphanumeric())?;
            let (name, rest) = l.split_at(end);
            (name.starts_with(|c: char| c.is_ascii_uppercase()) && rest.starts_with(':'))
                .then(|| name.to_owned())
        })
        .collect();
    assert!(ebnf_names.len() > 20, "{ebnf_names:?}");
    assert_eq!(ebnf_names, lalrpop_names);
}

mod soup {
    use proptest::prelude::*;

    /// Fragments that are each meaningful somewhere in TICKscript, so
    /// random mixes reach deep into the parser and the compiler.
    const PIECES: &[&str] = &[
        "stream",
        "batch",
        "var",
        "dbrp",
        "lambda:",
        "TRUE",
        "FALSE",
        "AND",
        "OR",
        "x",
        "window",
        "from",
        "alert",
        "mean",
        "join",
        "map",
        "filter",
        "groupby",
        "period",
        "every",
        "crit",
        "|",
        ".",
        "@",
        "(",
        ")",
        "[",
        "]",
        ",",
        ";",
        "=",
        "+",
        "-",
        "*",
        "/",
        "%",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "=~",
        "!~",
        "!",
        "10",
        "1.5",
        "10s",
        "1.5s",
        "9ns",
        "99999999999999999999",
        "'a'",
        "'''q'''",
        "'open",
        "\"f\"",
        "\"open",
        "/re/",
        "#",
        ":",
        "\n",
        " ",
        "// c\n",
        "µ",
        "é",
        "sigma(",
        "if(",
        "time(1m)",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn token_soup_never_panics(picks in proptest::collection::vec(0..PIECES.len(), 0..40)) {
            let src: String = picks.iter().map(|&i| PIECES[i]).collect::<Vec<_>>().join(" ");
            for ty in [dsl::TaskType::Stream, dsl::TaskType::Batch] {
                if let Err(d) = dsl::compile(&src, ty) {
                    let _ = d.render("soup.tick", &src);
                }
            }
        }

        #[test]
        fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
            if let Err(d) = dsl::compile(&src, dsl::TaskType::Stream) {
                let _ = d.render("any.tick", &src);
            }
        }
    }
}
