//! Lambda evaluation through the compiler, as a script writes it: each
//! operator and type pairing, each function family, the stateful functions
//! and the error texts users compare with Kapacitor's. Expected values are
//! worked out by hand (or from Go's documented behaviour), not computed.

use std::collections::HashMap;

use dsl::{EvalState, EvalValue, Lambda, PointScope, TaskType, Value};

struct Point {
    fields: HashMap<&'static str, EvalValue>,
    time: i64,
}

impl PointScope for Point {
    fn lookup(&self, name: &str) -> Option<EvalValue> {
        self.fields.get(name).cloned()
    }
    fn time(&self) -> i64 {
        self.time
    }
}

fn point(fields: &[(&'static str, EvalValue)]) -> Point {
    Point {
        fields: fields.iter().cloned().collect(),
        // 2021-03-14T15:09:26Z, a Sunday.
        time: 1_615_734_566_000_000_000,
    }
}

fn lambda(expr: &str) -> Lambda {
    let script = format!("stream|from()|eval(lambda: {expr}).as('x')");
    let plan = dsl::compile(&script, TaskType::Stream).unwrap_or_else(|d| panic!("{expr}: {d:?}"));
    match &plan.nodes[2].args[0] {
        Value::Lambda(l) => l.clone(),
        other => panic!("{other:?}"),
    }
}

fn eval(expr: &str) -> EvalValue {
    eval_on(expr, &point(&[]))
}

fn eval_on(expr: &str, p: &Point) -> EvalValue {
    let l = lambda(expr);
    let mut state = EvalState::for_lambda(&l).unwrap();
    l.eval_with(p, &mut state)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn error_on(expr: &str, p: &Point) -> String {
    let l = lambda(expr);
    let mut state = EvalState::for_lambda(&l).unwrap();
    match l.eval_with(p, &mut state) {
        Ok(v) => panic!("{expr} gave {v:?}"),
        Err(e) => e.to_string(),
    }
}

use EvalValue::{Bool as B, Duration as D, Float as F, Int as I, String as S};

#[test]
fn arithmetic_per_type() {
    assert_eq!(eval("7 + 3"), I(10));
    assert_eq!(eval("7 - 10"), I(-3));
    assert_eq!(eval("7 * 3"), I(21));
    assert_eq!(eval("7 / 2"), I(3));
    assert_eq!(eval("-7 / 2"), I(-3));
    assert_eq!(eval("7 % 3"), I(1));
    assert_eq!(eval("1.5 + 2.25"), F(3.75));
    assert_eq!(eval("1.0 / 4.0"), F(0.25));
    assert_eq!(eval("2 + 3 * 4"), I(14));
    assert_eq!(eval("(2 + 3) * 4"), I(20));
    assert_eq!(eval("'abc' + 'def'"), S("abcdef".into()));
    assert_eq!(eval("1m + 30s"), D(90_000_000_000));
    assert_eq!(eval("1m - 90s"), D(-30_000_000_000));
    assert_eq!(eval("2 * 1s"), D(2_000_000_000));
    assert_eq!(eval("1s * 1.5"), D(1_500_000_000));
    assert_eq!(eval("1m / 2"), D(30_000_000_000));
    assert_eq!(eval("1h / 1m"), I(60));
    assert_eq!(eval("-(3)"), I(-3));
    assert_eq!(eval("-1.5"), F(-1.5));
}

#[test]
fn comparisons_per_type() {
    assert_eq!(eval("3 < 4"), B(true));
    assert_eq!(eval("3 >= 4"), B(false));
    assert_eq!(eval("2.5 <= 2.5"), B(true));
    assert_eq!(eval("'a' < 'b'"), B(true));
    assert_eq!(eval("'B' < 'a'"), B(true));
    assert_eq!(eval("1s < 1m"), B(true));
    assert_eq!(eval("TRUE == TRUE"), B(true));
    assert_eq!(eval("TRUE != FALSE"), B(true));
    assert_eq!(eval("TRUE AND FALSE"), B(false));
    assert_eq!(eval("FALSE OR TRUE"), B(true));
    assert_eq!(eval("!FALSE"), B(true));
    // Kapacitor compares an int with a float.
    let p = point(&[("f", F(2.5)), ("i", I(2))]);
    assert_eq!(eval_on("\"f\" > 2", &p), B(true));
    assert_eq!(eval_on("\"i\" < 2.5", &p), B(true));
    assert_eq!(eval_on("\"i\" == 2.0", &p), B(true));
}

#[test]
fn nan_compares_unequal() {
    let p = point(&[("n", F(f64::NAN))]);
    assert_eq!(eval_on("\"n\" == \"n\"", &p), B(false));
    assert_eq!(eval_on("\"n\" != \"n\"", &p), B(true));
    assert_eq!(eval_on("\"n\" < 1.0", &p), B(false));
    assert_eq!(eval_on("\"n\" > 1.0", &p), B(false));
}

#[test]
fn mismatched_types_are_errors_with_kapacitors_words() {
    let p = point(&[("f", F(1.0)), ("i", I(1)), ("s", S("x".into()))]);
    assert_eq!(
        error_on("\"f\" + \"i\"", &p),
        "mismatched type to binary operator. got float + int. see bool(), int(), float(), string(), duration()"
    );
    assert_eq!(
        error_on("\"s\" > 1", &p),
        "mismatched type to binary operator. got string > int. see bool(), int(), float(), string(), duration()"
    );
    assert_eq!(
        error_on("\"f\" % \"f\"", &p),
        "invalid math operator % for type float"
    );
    assert_eq!(
        error_on("\"nope\" > 1", &p),
        "left reference value \"nope\" is missing value"
    );
    assert_eq!(error_on("\"i\" / 0", &p), "division by zero");
}

#[test]
fn short_circuit_skips_the_right_side() {
    // The right side reads a missing field; it must not run.
    assert_eq!(eval("FALSE AND \"nope\" > 1"), B(false));
    assert_eq!(eval("TRUE OR \"nope\" > 1"), B(true));
}

#[test]
fn regex_match_and_replace() {
    let p = point(&[("host", S("serverA-12".into()))]);
    assert_eq!(eval_on("\"host\" =~ /^server[A-Z]/", &p), B(true));
    assert_eq!(eval_on("\"host\" !~ /^server[A-Z]/", &p), B(false));
    assert_eq!(eval_on("\"host\" =~ /^db/", &p), B(false));
    assert_eq!(
        eval_on("regexReplace(/server(\\w)-(\\d+)/, \"host\", 'n$2.$1')", &p),
        S("n12.A".into())
    );
    assert_eq!(
        eval_on("regexReplace(/-/, \"host\", '$$')", &p),
        S("serverA$12".into())
    );
}

#[test]
fn bad_regex_is_reported_before_any_point() {
    let l = lambda("'x' =~ /(/");
    let err = EvalState::for_lambda(&l).unwrap_err().to_string();
    assert!(err.starts_with("invalid regex /(/"), "{err}");
}

#[test]
fn conversions() {
    assert_eq!(eval("bool('true')"), B(true));
    assert_eq!(eval("bool('F')"), B(false));
    assert_eq!(eval("bool(1)"), B(true));
    assert_eq!(eval("bool(0.0)"), B(false));
    assert_eq!(eval("int(2.9)"), I(2));
    assert_eq!(eval("int(-2.9)"), I(-2));
    assert_eq!(eval("int(TRUE)"), I(1));
    assert_eq!(eval("int('42')"), I(42));
    assert_eq!(eval("float(3)"), F(3.0));
    assert_eq!(eval("float('2.5')"), F(2.5));
    assert_eq!(eval("string(42)"), S("42".into()));
    assert_eq!(eval("string(0.1)"), S("0.1".into()));
    assert_eq!(
        eval("string(1000000000000000000000.0)"),
        S("1000000000000000000000".into())
    );
    assert_eq!(eval("string(TRUE)"), S("true".into()));
    assert_eq!(eval("string(90s)"), S("90s".into()));
    assert_eq!(eval("duration(3, 1m)"), D(180_000_000_000));
    assert_eq!(eval("duration(1.5, 1s)"), D(1_500_000_000));
    assert_eq!(eval("duration('1h30m')"), D(5_400_000_000_000));
    assert_eq!(
        error_on("bool(2)", &point(&[])),
        "error calling \"bool\": cannot convert 2 to boolean"
    );
    assert_eq!(
        error_on("duration('soon')", &point(&[])),
        "error calling \"duration\": invalid duration string \"soon\""
    );
}

#[test]
fn math() {
    assert_eq!(eval("abs(-2.5)"), F(2.5));
    assert_eq!(eval("sqrt(16.0)"), F(4.0));
    assert_eq!(eval("pow(2.0, 10.0)"), F(1024.0));
    assert_eq!(eval("pow10(3)"), F(1000.0));
    assert_eq!(eval("floor(-1.5)"), F(-2.0));
    assert_eq!(eval("ceil(-1.5)"), F(-1.0));
    assert_eq!(eval("trunc(-1.7)"), F(-1.0));
    assert_eq!(eval("max(1.0, 3.0)"), F(3.0));
    assert_eq!(eval("min(1.0, 3.0)"), F(1.0));
    assert_eq!(eval("mod(-7.0, 3.0)"), F(-1.0));
    assert_eq!(eval("log2(8.0)"), F(3.0));
    assert_eq!(eval("log10(1000.0)"), F(3.0));
    assert_eq!(eval("exp2(5.0)"), F(32.0));
    assert_eq!(eval("cbrt(27.0)"), F(3.0));
    assert_eq!(eval("hypot(3.0, 4.0)"), F(5.0));
    assert_eq!(eval("logb(1024.0)"), F(10.0));
    assert_eq!(eval("gamma(5.0)"), F(24.0));
    assert_eq!(eval("j0(0.0)"), F(1.0));
    assert_eq!(eval("jn(3, 0.0)"), F(0.0));
    assert_eq!(eval("atan2(1.0, 1.0)"), F(std::f64::consts::FRAC_PI_4));
    // Go's math functions take floats only.
    assert_eq!(
        error_on("abs(-2)", &point(&[])),
        "Cannot call function \"abs\" with args (int), available signatures are [(float)]."
    );
}

#[test]
fn strings() {
    assert_eq!(eval("strContains('seafood', 'foo')"), B(true));
    assert_eq!(eval("strContainsAny('failure', 'ui')"), B(true));
    assert_eq!(eval("strCount('cheese', 'e')"), I(3));
    assert_eq!(eval("strCount('five', '')"), I(5));
    assert_eq!(eval("strHasPrefix('golang', 'go')"), B(true));
    assert_eq!(eval("strHasSuffix('golang', 'ng')"), B(true));
    assert_eq!(eval("strIndex('chicken', 'ken')"), I(4));
    assert_eq!(eval("strIndex('chicken', 'dmr')"), I(-1));
    assert_eq!(eval("strIndexAny('golang', 'ny')"), I(4));
    assert_eq!(eval("strLastIndex('go gopher', 'go')"), I(3));
    assert_eq!(eval("strLastIndexAny('go gopher', 'go')"), I(4));
    assert_eq!(eval("strLength('héllo')"), I(6));
    assert_eq!(
        eval("strReplace('oink oink oink', 'k', 'ky', 2)"),
        S("oinky oinky oink".into())
    );
    assert_eq!(
        eval("strReplace('oink oink oink', 'oink', 'moo', -1)"),
        S("moo moo moo".into())
    );
    assert_eq!(eval("strSubstring('abcdef', 1, 4)"), S("bcd".into()));
    assert_eq!(
        error_on("strSubstring('abc', 0, 3)", &point(&[])),
        "error calling \"strSubstring\": stop index too large for string in strSubstring: 3"
    );
    assert_eq!(eval("strToLower('GoPher')"), S("gopher".into()));
    assert_eq!(eval("strToUpper('GoPher')"), S("GOPHER".into()));
    assert_eq!(eval("strTrim('xxhixx', 'x')"), S("hi".into()));
    assert_eq!(eval("strTrimLeft('xxhixx', 'x')"), S("hixx".into()));
    assert_eq!(eval("strTrimRight('xxhixx', 'x')"), S("xxhi".into()));
    assert_eq!(eval("strTrimPrefix('xxhixx', 'x')"), S("xhixx".into()));
    assert_eq!(eval("strTrimSuffix('xxhixx', 'x')"), S("xxhix".into()));
    assert_eq!(eval("strTrimSpace('  hi \t')"), S("hi".into()));
}

#[test]
fn time_functions_read_the_points_time_in_utc() {
    // 2021-03-14T15:09:26Z, a Sunday.
    assert_eq!(eval("unixNano(\"time\")"), I(1_615_734_566_000_000_000));
    assert_eq!(eval("minute(\"time\")"), I(9));
    assert_eq!(eval("hour(\"time\")"), I(15));
    assert_eq!(eval("weekday(\"time\")"), I(0));
    assert_eq!(eval("day(\"time\")"), I(14));
    assert_eq!(eval("month(\"time\")"), I(3));
    assert_eq!(eval("year(\"time\")"), I(2021));
    let EvalValue::Int(now) = eval("unixNano(now())") else {
        panic!()
    };
    assert!(now > 1_700_000_000_000_000_000);
}

#[test]
fn misc() {
    let p = point(&[("v", F(1.0))]);
    assert_eq!(eval_on("isPresent(\"v\")", &p), B(true));
    assert_eq!(eval_on("isPresent(\"nope\")", &p), B(false));
    assert_eq!(eval("humanBytes(82854982)"), S("83 MB".into()));
    assert_eq!(eval("humanBytes(1000.0)"), S("1.0 kB".into()));
    assert_eq!(eval("if(TRUE, 'a', 'b')"), S("a".into()));
    assert_eq!(eval("if(2 > 3, 1, 2)"), I(2));
    let p = point(&[("f", F(1.0))]);
    assert_eq!(
        error_on("if(TRUE, \"f\", 2)", &p),
        "error calling \"if\": Different return types are not supported - second argument is float64 and third argument is int64"
    );
}

fn run_series(expr: &str, field: &'static str, values: &[f64]) -> Vec<EvalValue> {
    let l = lambda(expr);
    let mut state = EvalState::for_lambda(&l).unwrap();
    values
        .iter()
        .map(|v| l.eval_with(&point(&[(field, F(*v))]), &mut state).unwrap())
        .collect()
}

#[test]
fn sigma_is_the_distance_from_the_running_mean_in_sample_deviations() {
    // After 1, 3: mean 2, sample variance 2, |3 - 2| / √2.
    // After 1, 3, 5: mean 3, sample variance 4, |5 - 3| / 2 = 1.
    let got = run_series("sigma(\"v\")", "v", &[1.0, 3.0, 5.0]);
    assert_eq!(got[0], F(0.0));
    let EvalValue::Float(s) = got[1] else {
        panic!()
    };
    assert!((s - 1.0 / 2f64.sqrt()).abs() < 1e-15);
    assert_eq!(got[2], F(1.0));
    // A constant series has no deviation: 0, not NaN.
    assert_eq!(run_series("sigma(\"v\")", "v", &[2.0, 2.0])[1], F(0.0));
}

#[test]
fn count_and_spread_accumulate() {
    assert_eq!(
        run_series("count()", "v", &[9.0, 9.0, 9.0]),
        vec![I(1), I(2), I(3)]
    );
    assert_eq!(
        run_series("spread(\"v\")", "v", &[5.0, 2.0, 4.0, 9.0]),
        vec![F(0.0), F(3.0), F(3.0), F(7.0)]
    );
}

#[test]
fn each_call_site_and_each_state_keeps_its_own_accumulator() {
    assert_eq!(
        run_series("count() + count() * 10", "v", &[0.0, 0.0]),
        vec![I(11), I(22)]
    );
    let l = lambda("count()");
    let mut a = EvalState::for_lambda(&l).unwrap();
    let mut b = a.fork();
    let p = point(&[]);
    assert_eq!(l.eval_with(&p, &mut a).unwrap(), I(1));
    assert_eq!(l.eval_with(&p, &mut a).unwrap(), I(2));
    assert_eq!(l.eval_with(&p, &mut b).unwrap(), I(1));
    a.reset();
    assert_eq!(l.eval_with(&p, &mut a).unwrap(), I(1));
}

#[test]
fn rand_gives_non_negative_ints() {
    let l = lambda("rand()");
    let mut s = EvalState::for_lambda(&l).unwrap();
    let p = point(&[]);
    let a = l.eval_with(&p, &mut s).unwrap();
    let b = l.eval_with(&p, &mut s).unwrap();
    assert!(matches!(a, I(x) if x >= 0));
    assert_ne!(a, b);
}

#[test]
fn stateless_eval_refuses_stateful_functions() {
    let l = lambda("count()");
    assert_eq!(
        l.eval(&point(&[])).unwrap_err().to_string(),
        "function count() is not available here; it needs the runtime's state"
    );
    assert!(l.is_stateful());
    assert!(!lambda("\"v\" > 1").is_stateful());
}
