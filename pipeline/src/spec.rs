//! Reading a node's settings out of its plan entry, with errors that name
//! the node and the property.

use dsl::{Diagnostic, NodeSpec, Span, Value};

/// Why a task could not be built from its plan: what only the daemon can
/// judge (its config, what it supports), at the script's node or property.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BuildError {
    #[error("{node}: {message}")]
    Invalid {
        node: String,
        message: String,
        /// The node, property or handler in the script.
        span: Span,
    },
    #[error("{node}: the {kind} node is not supported yet")]
    Unsupported {
        node: String,
        kind: String,
        span: Span,
    },
}

impl BuildError {
    /// About node `spec` as a whole.
    pub fn invalid(spec: &NodeSpec, message: impl Into<String>) -> Self {
        BuildError::at(&spec.name, spec.span, message)
    }

    /// About property `name` of `spec` (the node when it is not set).
    pub fn property(spec: &NodeSpec, name: &str, message: impl Into<String>) -> Self {
        let span = spec.property(name).map_or(spec.span, |p| p.span);
        BuildError::at(&spec.name, span, message)
    }

    /// About `span` (a property or handler) of node `node`.
    pub fn at(node: &str, span: Span, message: impl Into<String>) -> Self {
        BuildError::Invalid {
            node: node.to_owned(),
            message: message.into(),
            span,
        }
    }

    /// As a script diagnostic, at its place in the script.
    pub fn diagnostic(&self) -> Diagnostic {
        let (node, message, span) = match self {
            BuildError::Invalid {
                node,
                message,
                span,
            } => (node, message.clone(), *span),
            BuildError::Unsupported { node, kind, span } => {
                (node, format!("the {kind} node is not supported yet"), *span)
            }
        };
        Diagnostic::error(message, span).with_label(format!("in {node}"))
    }

    /// Rendered like the compiler's diagnostics: `file:line:col`, the
    /// line and a caret.
    pub fn render(&self, file: &str, source: &str) -> String {
        self.diagnostic().render(file, source)
    }

    /// A setting `dsl::compile` refuses, found in a plan that was not
    /// compiled from a script: the checks themselves live in the DSL.
    pub fn unchecked(spec: &NodeSpec, property: &str) -> Self {
        BuildError::invalid(
            spec,
            format!("{property} is not valid; check the script with `kapacitor check`"),
        )
    }
}

/// Typed access to a node's arguments and properties.
pub trait SpecExt {
    fn arg(&self, i: usize) -> Option<&Value>;
    /// The last value of a property, first argument.
    fn prop(&self, name: &str) -> Option<&Value>;
    /// All arguments of the last use of a property.
    fn prop_args(&self, name: &str) -> Option<&[Value]>;
    fn has_prop(&self, name: &str) -> bool;
    fn prop_duration(&self, name: &str) -> Result<Option<i64>, BuildError>;
    fn prop_int(&self, name: &str) -> Result<Option<i64>, BuildError>;
    fn prop_string(&self, name: &str) -> Result<Option<String>, BuildError>;
    fn arg_string(&self, i: usize) -> Result<String, BuildError>;
}

impl SpecExt for NodeSpec {
    fn arg(&self, i: usize) -> Option<&Value> {
        self.args.get(i)
    }

    fn prop(&self, name: &str) -> Option<&Value> {
        self.property(name).and_then(|p| p.args.first())
    }

    fn prop_args(&self, name: &str) -> Option<&[Value]> {
        self.property(name).map(|p| p.args.as_slice())
    }

    fn has_prop(&self, name: &str) -> bool {
        self.property(name).is_some()
    }

    fn prop_duration(&self, name: &str) -> Result<Option<i64>, BuildError> {
        match self.prop(name) {
            None => Ok(None),
            Some(Value::Duration(d)) => Ok(Some(*d)),
            Some(Value::Int(0)) => Ok(Some(0)),
            Some(other) => Err(BuildError::invalid(
                self,
                format!(".{name}() takes a duration, not {}", other.type_name()),
            )),
        }
    }

    fn prop_int(&self, name: &str) -> Result<Option<i64>, BuildError> {
        match self.prop(name) {
            None => Ok(None),
            Some(Value::Int(i)) => Ok(Some(*i)),
            Some(other) => Err(BuildError::invalid(
                self,
                format!(".{name}() takes an integer, not {}", other.type_name()),
            )),
        }
    }

    fn prop_string(&self, name: &str) -> Result<Option<String>, BuildError> {
        match self.prop(name) {
            None => Ok(None),
            Some(Value::String(s) | Value::Reference(s)) => Ok(Some(s.clone())),
            Some(other) => Err(BuildError::invalid(
                self,
                format!(".{name}() takes a string, not {}", other.type_name()),
            )),
        }
    }

    fn arg_string(&self, i: usize) -> Result<String, BuildError> {
        match self.arg(i) {
            Some(Value::String(s) | Value::Reference(s)) => Ok(s.clone()),
            Some(other) => Err(BuildError::invalid(
                self,
                format!(
                    "argument {} must be a name, not {}",
                    i + 1,
                    other.type_name()
                ),
            )),
            None => Err(BuildError::invalid(
                self,
                format!("argument {} is missing", i + 1),
            )),
        }
    }
}

/// Collects the names given to `.prop()` (or a node call): `'a'`, `"a"`, or
/// a list, as a `var` holding names gives, into `out`.
pub fn names(
    spec: &NodeSpec,
    prop: &str,
    args: &[Value],
    out: &mut Vec<crate::point::Name>,
) -> Result<(), BuildError> {
    collect(spec, prop, args, out, false).map(|_| ())
}

/// Like [`names`], where `*` (every tag) is allowed too: returns whether it
/// was given.
pub fn names_or_star(
    spec: &NodeSpec,
    prop: &str,
    args: &[Value],
    out: &mut Vec<crate::point::Name>,
) -> Result<bool, BuildError> {
    collect(spec, prop, args, out, true)
}

fn collect(
    spec: &NodeSpec,
    prop: &str,
    args: &[Value],
    out: &mut Vec<crate::point::Name>,
    allow_star: bool,
) -> Result<bool, BuildError> {
    let mut star = false;
    for v in args {
        match v {
            Value::String(s) | Value::Reference(s) => {
                out.push(crate::point::Name::from(s.as_str()))
            }
            Value::List(items) => star |= collect(spec, prop, items, out, allow_star)?,
            Value::Star if allow_star => star = true,
            other => {
                let expected = if allow_star { "names or *" } else { "names" };
                return Err(BuildError::invalid(
                    spec,
                    format!(".{prop}() takes {expected}, not {}", other.type_name()),
                ));
            }
        }
    }
    Ok(star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(script: &str, kind: &str) -> NodeSpec {
        let plan = dsl::compile(script, dsl::TaskType::Stream).expect("compiles");
        plan.nodes
            .into_iter()
            .find(|n| n.kind == kind)
            .expect("node")
    }

    #[test]
    fn names_come_from_strings_references_and_list_vars() {
        let spec = node(
            "var tags = ['dc', 'rack']\nstream|groupBy(tags, \"host\")",
            "groupBy",
        );
        let mut out = Vec::new();
        assert_eq!(
            names_or_star(&spec, "groupBy", &spec.args, &mut out),
            Ok(false)
        );
        let got: Vec<&str> = out.iter().map(|n| &**n).collect();
        assert_eq!(got, ["dc", "rack", "host"]);
    }

    #[test]
    fn a_build_error_renders_at_its_property() {
        // A field the message cannot read: what does not parse is refused by
        // `dsl::compile`.
        let script = "stream\n    |from()\n    |alert()\n        .message('{{.Nop}}')\n";
        let spec = node(script, "alert");
        let err = crate::nodes::alert::AlertSpec::from_plan(&spec, "t")
            .map(|_| ())
            .unwrap_err();
        let rendered = err.render("t.tick", script);
        assert!(
            rendered.starts_with("t.tick:4:10: error: alert: message template"),
            "{rendered}"
        );
        assert!(
            rendered.contains("^^^^^^^^^^^^^^^^^^^ in alert2"),
            "{rendered}"
        );
    }

    #[test]
    fn a_template_that_does_not_parse_is_the_compilers_to_report() {
        let mut spec = node("stream|from()|alert().message('ok')", "alert");
        spec.properties[0].args[0] = Value::String("{{ .ID".into());
        let err = crate::nodes::alert::AlertSpec::from_plan(&spec, "t")
            .map(|_| ())
            .unwrap_err();
        assert!(err.to_string().contains("kapacitor check"), "{err}");
    }

    #[test]
    fn star_only_where_allowed() {
        let spec = node("stream|groupBy(*)", "groupBy");
        assert_eq!(
            names_or_star(&spec, "groupBy", &spec.args, &mut Vec::new()),
            Ok(true)
        );
        let err = names(&spec, "on", &spec.args, &mut Vec::new()).unwrap_err();
        assert!(
            err.to_string().ends_with(".on() takes names, not *"),
            "{err}"
        );
    }
}
