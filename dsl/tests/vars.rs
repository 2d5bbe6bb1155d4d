//! Vars set from outside the script (a task's YAML `vars`, the API's
//! `vars`), as Kapacitor fills a template.

use std::collections::HashMap;

use dsl::{TaskType, Value, check_vars, compile, compile_with_vars, lambda_var};

const SCRIPT: &str = "var crit = 80.0
var period = 10s
var field string
stream
    |from()
        .measurement('cpu')
    |window()
        .period(period)
        .every(period)
    |mean(field)
    |alert()
        .crit(lambda: \"mean\" > crit)
";

fn vars(pairs: &[(&str, Value)]) -> HashMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn a_var_replaces_the_default_and_fills_a_declaration() {
    let v = vars(&[
        ("crit", Value::Float(95.0)),
        ("period", Value::Duration(60_000_000_000)),
        ("field", Value::String("usage_idle".into())),
    ]);
    let plan = compile(SCRIPT, TaskType::Stream).expect("compiles as a template");
    assert!(check_vars(&plan.vars, &v).is_empty());
    let plan = compile_with_vars(SCRIPT, TaskType::Stream, &v).expect("compiles");
    let window = plan.nodes.iter().find(|n| n.kind == "window").unwrap();
    assert_eq!(
        window.property("period").unwrap().args,
        [Value::Duration(60_000_000_000)]
    );
    let mean = plan.nodes.iter().find(|n| n.kind == "mean").unwrap();
    assert_eq!(mean.args, [Value::String("usage_idle".into())]);
    let alert = plan.nodes.iter().find(|n| n.kind == "alert").unwrap();
    let crit = format!("{:?}", alert.property("crit").unwrap().args[0]);
    assert!(crit.contains("95"), "{crit}");
    let crit_var = plan.vars.iter().find(|v| v.name == "crit").unwrap();
    assert_eq!(
        (crit_var.ty.as_str(), &crit_var.value),
        ("float", &Some(Value::Float(95.0)))
    );
}

#[test]
fn wrong_types_and_unknown_names_are_named() {
    let plan = compile(SCRIPT, TaskType::Stream).unwrap();
    let errors = check_vars(
        &plan.vars,
        &vars(&[("crit", Value::Int(95)), ("perod", Value::Duration(1))]),
    );
    assert_eq!(
        errors,
        [
            (
                "crit".to_string(),
                "the script's var `crit` is a float, not int".to_string()
            ),
            (
                "perod".to_string(),
                "the script has no var `perod`; did you mean `period`?".to_string()
            ),
        ]
    );
}

#[test]
fn lambda_vars_are_compiled_from_their_text() {
    let script = "var cond = lambda: \"v\" > 1\nstream|from()|alert().crit(cond)\n";
    let v = lambda_var("\"v\" > 5 AND \"w\" < 2").expect("a lambda");
    let plan = compile_with_vars(script, TaskType::Stream, &vars(&[("cond", v)])).unwrap();
    let alert = plan.nodes.iter().find(|n| n.kind == "alert").unwrap();
    let crit = format!("{:?}", alert.property("crit").unwrap().args[0]);
    assert!(crit.contains('5') && crit.contains("\"w\""), "{crit}");
    assert!(lambda_var("\"v\" >").is_err());
}
