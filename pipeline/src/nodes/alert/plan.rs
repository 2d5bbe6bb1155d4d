//! An alert node's settings read from its plan entry.

use dsl::{Lambda, NodeSpec, Value};

use super::{AlertSpec, EvalInput, Level, Template, TemplateKind};
use crate::lambda::{BoolLambda, Scope};
use crate::spec::{BuildError, SpecExt};

/// A level or reset condition from a `lambda:` expression.
fn condition(
    lambda: Lambda,
) -> impl FnMut(&EvalInput<'_>) -> Result<bool, crate::node::NodeError> + Send {
    let mut lambda = BoolLambda::new(lambda);
    move |input: &EvalInput<'_>| {
        let scope = Scope {
            fields: input.fields,
            tags: input.tags,
            time: input.time,
        };
        lambda.eval(&scope)
    }
}

fn lambda(spec: &NodeSpec, name: &str) -> Result<Option<Lambda>, BuildError> {
    match spec.prop(name) {
        None => Ok(None),
        Some(Value::Lambda(l)) => Ok(Some(l.clone())),
        Some(other) => Err(BuildError::invalid(
            spec,
            format!(
                ".{name}() takes a lambda expression, not {}",
                other.type_name()
            ),
        )),
    }
}

fn number(spec: &NodeSpec, v: Option<&Value>, what: &str) -> Result<f64, BuildError> {
    match v {
        Some(Value::Float(f)) => Ok(*f),
        Some(Value::Int(i)) => Ok(*i as f64),
        _ => Err(BuildError::invalid(
            spec,
            format!(".flapping() needs a number for {what}"),
        )),
    }
}

impl AlertSpec {
    /// The settings of `spec`, an `alert` node of task `task_name`.
    pub fn from_plan(spec: &NodeSpec, task_name: &str) -> Result<AlertSpec, BuildError> {
        let mut alert = AlertSpec {
            task_name: task_name.to_string(),
            ..AlertSpec::default()
        };
        if let Some(id) = spec.prop_string("id")? {
            alert.id = id;
        }
        if let Some(message) = spec.prop_string("message")? {
            alert.message = message;
        }
        if let Some(details) = spec.prop_string("details")? {
            alert.details = details;
        }
        // Parsed here too, where the template's property is known, so a
        // template reading what its alert lacks is reported at it.
        for (name, kind, text) in [
            ("id", TemplateKind::Id, &alert.id),
            ("message", TemplateKind::Message, &alert.message),
            ("details", TemplateKind::Details, &alert.details),
        ] {
            if spec.has_prop(name) {
                Template::parse(kind, text).map_err(|e| {
                    if e.syntax {
                        BuildError::unchecked(spec, &format!("the .{name}() template"))
                    } else {
                        BuildError::property(spec, name, format!("alert: {e}"))
                    }
                })?;
            }
        }
        for (prop, level) in [
            ("info", Level::Info),
            ("warn", Level::Warning),
            ("crit", Level::Critical),
        ] {
            if let Some(l) = lambda(spec, prop)? {
                alert = alert.condition(level, condition(l));
            }
            if let Some(l) = lambda(spec, &format!("{prop}Reset"))? {
                alert = alert.reset(level, condition(l));
            }
        }
        if spec.has_prop("stateChangesOnly") {
            alert.state_changes_only = Some(spec.prop_duration("stateChangesOnly")?);
        }
        alert.no_recoveries = spec.has_prop("noRecoveries");
        if let Some(args) = spec.prop_args("flapping") {
            alert.flapping = Some((
                number(spec, args.first(), "low")?,
                number(spec, args.get(1), "high")?,
            ));
        }
        if let Some(history) = spec.prop_int("history")? {
            alert.history =
                usize::try_from(history).map_err(|_| BuildError::unchecked(spec, ".history()"))?;
        }
        alert.all = spec.has_prop("all");
        alert.level_tag = spec.prop_string("levelTag")?;
        alert.level_field = spec.prop_string("levelField")?;
        alert.message_field = spec.prop_string("messageField")?;
        alert.duration_field = spec.prop_string("durationField")?;
        alert.id_tag = spec.prop_string("idTag")?;
        alert.id_field = spec.prop_string("idField")?;
        topic_of(spec)?;
        alert.category = spec.prop_string("category")?;
        for p in spec.properties.iter().filter(|p| p.name == "inhibit") {
            let mut names = p.args.iter().map(|v| match v {
                Value::String(s) | Value::Reference(s) => Ok(s.clone()),
                other => Err(BuildError::property(
                    spec,
                    "inhibit",
                    format!(
                        ".inhibit() takes a category and tag names, not {}",
                        other.type_name()
                    ),
                )),
            });
            let category = names
                .next()
                .unwrap_or_else(|| Err(BuildError::unchecked(spec, ".inhibit()")))?;
            alert
                .inhibits
                .push((category, names.collect::<Result<_, _>>()?));
        }
        Ok(alert)
    }
}

/// The topic an alert (or deadman) node `spec` publishes to: its
/// `.topic(NAME)`, if any.
pub fn topic_of(spec: &NodeSpec) -> Result<Option<String>, BuildError> {
    let Some(topic) = spec.prop_string("topic")?.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    // Kapacitor's topic ids, which the API's paths can name.
    let valid = topic
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | ':' | '.' | '_'));
    if !valid {
        return Err(BuildError::property(
            spec,
            "topic",
            format!("{topic:?}: a topic has only letters, digits, '-', ':', '.' and '_'"),
        ));
    }
    Ok(Some(topic))
}
