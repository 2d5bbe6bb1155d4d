//! A task's vars, as Kapacitor's API writes them (`{"name": {"type":
//! "int", "value": 5}}`), and the one way every path (tasks directory, API,
//! `kapacitor test`) compiles a script with them.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value as Json, json};

/// Compiles `script` with `vars` (Kapacitor's JSON shape; `None` or `{}`:
/// the script's own values). A var the script lacks or of another type than
/// the script's is an error naming the var (`vars.NAME: ...`); errors in
/// the script are rendered against `file`.
pub fn compile(
    script: &str,
    task_type: dsl::TaskType,
    vars: Option<&Json>,
    file: &str,
    limits: &dsl::Limits,
) -> Result<dsl::Plan, String> {
    let render = |d: dsl::Diagnostics| d.render(file, script);
    let values = match vars {
        None => HashMap::new(),
        Some(v) => from_json(v)?,
    };
    let plain =
        dsl::compile_with_limits(script, task_type, &HashMap::new(), limits).map_err(render)?;
    if values.is_empty() {
        return Ok(plain);
    }
    let errors = dsl::check_vars(&plain.vars, &values);
    if !errors.is_empty() {
        let lines: Vec<String> = errors
            .into_iter()
            .map(|(name, message)| format!("vars.{name}: {message}"))
            .collect();
        return Err(lines.join("\n"));
    }
    dsl::compile_with_limits(script, task_type, &values, limits).map_err(render)
}

/// The vars of Kapacitor's JSON, as values the DSL takes.
pub fn from_json(json: &Json) -> Result<HashMap<String, dsl::Value>, String> {
    let Some(map) = json.as_object() else {
        return Err("vars: expected an object {name: {type, value}}".into());
    };
    let mut out = HashMap::new();
    for (name, var) in map {
        let value = var_value(var).map_err(|e| format!("vars.{name}: {e}"))?;
        out.insert(name.clone(), value);
    }
    Ok(out)
}

fn var_value(var: &Json) -> Result<dsl::Value, String> {
    let ty = var["type"]
        .as_str()
        .ok_or("expected {\"type\": ..., \"value\": ...}")?;
    let value = &var["value"];
    let wrong = || format!("{value} is not a {ty} value");
    Ok(match ty {
        "bool" => dsl::Value::Bool(value.as_bool().ok_or_else(wrong)?),
        "int" => dsl::Value::Int(value.as_i64().ok_or_else(wrong)?),
        "float" => dsl::Value::Float(value.as_f64().ok_or_else(wrong)?),
        "string" => dsl::Value::String(value.as_str().ok_or_else(wrong)?.to_owned()),
        "regex" => dsl::Value::Regex(value.as_str().ok_or_else(wrong)?.to_owned()),
        "lambda" => dsl::lambda_var(value.as_str().ok_or_else(wrong)?)?,
        "star" => dsl::Value::Star,
        "duration" => dsl::Value::Duration(match value {
            Json::Number(n) => n.as_i64().ok_or_else(wrong)?,
            Json::String(s) => config::parse_duration(s)
                .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))?,
            _ => return Err(wrong()),
        }),
        "list" => dsl::Value::List(
            value
                .as_array()
                .ok_or_else(wrong)?
                .iter()
                .map(var_value)
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(format!(
                "unknown var type `{other}`; expected bool, int, float, string, regex, duration, lambda, star or list"
            ));
        }
    })
}

/// A task YAML's `vars` in Kapacitor's JSON shape.
pub fn yaml_to_json(vars: &BTreeMap<String, config::TaskVar>) -> Json {
    Json::Object(
        vars.iter()
            .map(|(name, var)| (name.clone(), var_json(var.var_type.as_str(), &var.value)))
            .collect(),
    )
}

fn var_json(ty: &str, value: &config::VarValue) -> Json {
    use config::VarValue as V;
    let value = match value {
        V::Bool(b) => json!(b),
        V::Int(i) => json!(i),
        V::Float(f) => json!(f),
        V::String(s) | V::Regex(s) | V::Lambda(s) => json!(s),
        V::Duration(d) => json!(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        V::Star => Json::Null,
        V::List(items) => Json::Array(
            items
                .iter()
                .map(|item| var_json(item_type(item), item))
                .collect(),
        ),
    };
    json!({"type": ty, "value": value})
}

fn item_type(v: &config::VarValue) -> &'static str {
    use config::VarValue as V;
    match v {
        V::Bool(_) => "bool",
        V::Int(_) => "int",
        V::Float(_) => "float",
        V::String(_) => "string",
        V::Regex(_) => "regex",
        V::Duration(_) => "duration",
        V::Lambda(_) => "lambda",
        V::Star => "star",
        V::List(_) => "list",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "var crit = 80.0\nvar every = 10s\nstream|from()|window().period(every).every(every)|mean('v')|alert().crit(lambda: \"mean\" > crit)\n";

    #[test]
    fn kapacitor_json_vars_apply_and_mistakes_are_named() {
        let vars = json!({"crit": {"type": "float", "value": 95}, "every": {"type": "duration", "value": "1m"}});
        let plan = compile(
            SCRIPT,
            dsl::TaskType::Stream,
            Some(&vars),
            "t.tick",
            &dsl::Limits::default(),
        )
        .unwrap();
        let crit = plan.vars.iter().find(|v| v.name == "crit").unwrap();
        assert_eq!(crit.value, Some(dsl::Value::Float(95.0)));
        let every = plan.vars.iter().find(|v| v.name == "every").unwrap();
        assert_eq!(every.value, Some(dsl::Value::Duration(60_000_000_000)));
        let err = |vars: Json| {
            compile(
                SCRIPT,
                dsl::TaskType::Stream,
                Some(&vars),
                "t.tick",
                &dsl::Limits::default(),
            )
            .unwrap_err()
        };
        assert_eq!(
            err(json!({"crit": {"type": "int", "value": 95}})),
            "vars.crit: the script's var `crit` is a float, not int"
        );
        assert_eq!(
            err(json!({"crit": {"type": "float", "value": "high"}})),
            "vars.crit: \"high\" is not a float value"
        );
        assert_eq!(
            err(json!({"crt": {"type": "float", "value": 1}})),
            "vars.crt: the script has no var `crt`; did you mean `crit`?"
        );
    }

    #[test]
    fn yaml_vars_become_kapacitor_json() {
        let meta = config::TaskMeta::from_yaml(
            "vars:\n  crit: {type: float, value: 90}\n  every: {type: duration, value: 30s}\n",
            std::path::Path::new("t.yaml"),
        )
        .unwrap();
        let json = yaml_to_json(&meta.vars);
        assert_eq!(
            json,
            json!({"crit": {"type": "float", "value": 90.0}, "every": {"type": "duration", "value": 30_000_000_000i64}})
        );
        let plan = compile(
            SCRIPT,
            dsl::TaskType::Stream,
            Some(&json),
            "t.tick",
            &dsl::Limits::default(),
        )
        .unwrap();
        let crit = plan.vars.iter().find(|v| v.name == "crit").unwrap();
        assert_eq!(crit.value, Some(dsl::Value::Float(90.0)));
    }
}
