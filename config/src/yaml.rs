//! A small YAML tree that remembers where every node came from.
//!
//! serde stops at the first problem; to report every bad key in one run the
//! daemon config is validated key by key over this tree instead. It is built
//! from `saphyr-parser` events (pure Rust, YAML 1.2) and keeps only what a
//! config needs: scalars (with whether they were plain, so `"9092"` stays a
//! string while `9092` is an integer), mappings in source order (duplicates
//! kept, so the validator can name both places) and sequences.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Deeper nesting than this is certainly not a config, and would risk the stack.
const MAX_DEPTH: usize = 64;
/// Bounds alias expansion ("billion laughs").
const MAX_NODES: usize = 100_000;

/// A node and its 1-based position in the source.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Scalar(Scalar),
    Map(Vec<Entry>),
    Seq(Vec<Node>),
}

#[derive(Debug, Clone)]
pub(crate) struct Scalar {
    pub text: String,
    /// Plain (unquoted, untagged-as-string) scalars are typed by the YAML 1.2
    /// core schema; quoted ones are always strings.
    pub plain: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: Node,
    pub value: Node,
}

/// What a scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Typed<'a> {
    Null,
    Bool(bool),
    Int(i128),
    Float,
    Str(&'a str),
}

impl Scalar {
    pub fn typed(&self) -> Typed<'_> {
        if !self.plain {
            return Typed::Str(&self.text);
        }
        let t = self.text.as_str();
        match t {
            "" | "~" | "null" | "Null" | "NULL" => return Typed::Null,
            "true" | "True" | "TRUE" => return Typed::Bool(true),
            "false" | "False" | "FALSE" => return Typed::Bool(false),
            _ => {}
        }
        if let Some(i) = parse_int(t) {
            return Typed::Int(i);
        }
        if is_float(t) {
            return Typed::Float;
        }
        Typed::Str(t)
    }
}

fn parse_int(t: &str) -> Option<i128> {
    if let Some(hex) = t.strip_prefix("0x") {
        return i128::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = t.strip_prefix("0o") {
        return i128::from_str_radix(oct, 8).ok();
    }
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

fn is_float(t: &str) -> bool {
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    if matches!(body, ".inf" | ".Inf" | ".INF") || matches!(t, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok && (mantissa.contains('.') || exponent.is_some())
}

/// How plain scalars become JSON numbers and booleans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ints {
    /// The YAML 1.2 core schema, as everywhere else here.
    Yaml12,
    /// As Go's `gopkg.in/yaml.v2` (YAML 1.1) reads them, for files written
    /// for Kapacitor: `0644` is octal (a log handler's `mode`), and `yes`,
    /// `no`, `on`, `off` are booleans.
    GoYaml,
}

/// A node as JSON: scalars typed by `ints`' rules (a number too large for
/// JSON, or an infinity, stays text), lists and mappings kept whole.
pub(crate) fn to_json(node: &Node, ints: Ints) -> serde_json::Value {
    use serde_json::Value;
    match &node.kind {
        Kind::Scalar(s) => {
            if ints == Ints::GoYaml
                && let Some(v) = go_yaml_scalar(s)
            {
                return v;
            }
            match s.typed() {
                Typed::Null => Value::Null,
                Typed::Bool(b) => Value::Bool(b),
                Typed::Int(i) => {
                    i64::try_from(i).map_or_else(|_| Value::String(s.text.clone()), Value::from)
                }
                Typed::Float => s
                    .text
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map_or_else(|| Value::String(s.text.clone()), Value::from),
                Typed::Str(t) => Value::String(t.to_owned()),
            }
        }
        Kind::Seq(items) => Value::Array(items.iter().map(|n| to_json(n, ints)).collect()),
        Kind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|e| {
                    let key = match &e.key.kind {
                        Kind::Scalar(s) => s.text.clone(),
                        _ => e.key.describe(),
                    };
                    (key, to_json(&e.value, ints))
                })
                .collect(),
        ),
    }
}

/// What YAML 1.1 reads differently from 1.2 in a plain scalar.
fn go_yaml_scalar(s: &Scalar) -> Option<serde_json::Value> {
    if !s.plain {
        return None;
    }
    let t = s.text.as_str();
    match t {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Some(true.into()),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Some(false.into()),
        _ => {}
    }
    let (negative, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let octal = digits
        .strip_prefix('0')
        .filter(|d| !d.is_empty() && d.bytes().all(|b| (b'0'..=b'7').contains(&b)))?;
    let n = i64::from_str_radix(octal, 8).ok()?;
    Some(if negative { -n } else { n }.into())
}

impl Node {
    /// A short description for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Map(_) => "a mapping".to_owned(),
            Kind::Seq(_) => "a list".to_owned(),
            Kind::Scalar(s) => match s.typed() {
                Typed::Null => "nothing (null)".to_owned(),
                Typed::Bool(b) => format!("boolean `{b}`"),
                Typed::Int(_) => format!("integer `{}`", s.text),
                Typed::Float => format!("number `{}`", s.text),
                Typed::Str(t) => format!("string `{t}`"),
            },
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar(s) if s.typed() == Typed::Null)
    }

    fn count(&self) -> usize {
        1 + match &self.kind {
            Kind::Scalar(_) => 0,
            Kind::Map(entries) => entries
                .iter()
                .map(|e| e.key.count() + e.value.count())
                .sum(),
            Kind::Seq(items) => items.iter().map(Node::count).sum(),
        }
    }
}

/// A YAML syntax problem; parsing cannot go on after one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parses a single-document YAML text. `Ok(None)` for an empty stream
/// (nothing but comments and blank lines).
pub(crate) fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        nodes: 0,
        last: (1, 1),
    };
    let mut document: Option<Node> = None;
    loop {
        let (event, span) = builder.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => return Ok(document),
            Event::DocumentStart(_) => {
                if document.is_some() {
                    return Err(SyntaxError {
                        line: span.start.line(),
                        column: span.start.col() + 1,
                        message: "a config file holds one YAML document; found a second one"
                            .to_owned(),
                    });
                }
                let (event, span) = builder.next()?;
                document = Some(builder.node(event, span, 0)?);
            }
            other => return Err(builder.unexpected(&other, span)),
        }
    }
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    last: (usize, usize),
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), SyntaxError> {
        match self.parser.next_event() {
            Some(Ok((event, span))) => {
                self.last = (span.start.line(), span.start.col() + 1);
                Ok((event, span))
            }
            Some(Err(e)) => Err(SyntaxError {
                line: e.marker().line(),
                column: e.marker().col() + 1,
                message: e.info().to_owned(),
            }),
            None => Err(SyntaxError {
                line: self.last.0,
                column: self.last.1,
                message: "unexpected end of input".to_owned(),
            }),
        }
    }

    fn unexpected(&self, event: &Event<'_>, span: Span) -> SyntaxError {
        SyntaxError {
            line: span.start.line(),
            column: span.start.col() + 1,
            message: format!("unexpected YAML event {event:?}"),
        }
    }

    fn budget(&mut self, n: usize, span: Span) -> Result<(), SyntaxError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(SyntaxError {
                line: span.start.line(),
                column: span.start.col() + 1,
                message: format!(
                    "document too large (more than {MAX_NODES} nodes after expanding aliases)"
                ),
            });
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, span: Span, depth: usize) -> Result<Node, SyntaxError> {
        let (line, column) = (span.start.line(), span.start.col() + 1);
        if depth > MAX_DEPTH {
            return Err(SyntaxError {
                line,
                column,
                message: format!("nested more than {MAX_DEPTH} levels deep"),
            });
        }
        self.budget(1, span)?;
        let (kind, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let string_tag = tag
                    .as_ref()
                    .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let scalar = Scalar {
                    text: text.into_owned(),
                    plain: style == ScalarStyle::Plain && !string_tag,
                };
                (Kind::Scalar(scalar), anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, span, depth + 1)?);
                }
                (Kind::Seq(items), anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key = self.node(event, span, depth + 1)?;
                    let (event, span) = self.next()?;
                    let value = self.node(event, span, depth + 1)?;
                    entries.push(Entry { key, value });
                }
                (Kind::Map(entries), anchor)
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id).cloned() else {
                    return Err(SyntaxError {
                        line,
                        column,
                        message: "alias to an unknown anchor".to_owned(),
                    });
                };
                self.budget(target.count(), span)?;
                // The alias is reported where it is used, not where the anchor was.
                return Ok(Node {
                    line,
                    column,
                    ..target
                });
            }
            other => return Err(self.unexpected(&other, span)),
        };
        let node = Node { kind, line, column };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed_of(text: &str, plain: bool) -> String {
        let s = Scalar {
            text: text.to_owned(),
            plain,
        };
        format!("{:?}", s.typed())
    }

    #[test]
    fn core_schema_typing() {
        assert_eq!(typed_of("9092", true), "Int(9092)");
        assert_eq!(typed_of("9092", false), "Str(\"9092\")");
        assert_eq!(typed_of("-3", true), "Int(-3)");
        assert_eq!(typed_of("0x1F", true), "Int(31)");
        assert_eq!(typed_of("true", true), "Bool(true)");
        assert_eq!(typed_of("yes", true), "Str(\"yes\")");
        assert_eq!(typed_of("~", true), "Null");
        assert_eq!(typed_of("", true), "Null");
        assert_eq!(typed_of("1.5", true), "Float");
        assert_eq!(typed_of("1e3", true), "Float");
        assert_eq!(typed_of(".inf", true), "Float");
        assert_eq!(typed_of("127.0.0.1:9092", true), "Str(\"127.0.0.1:9092\")");
        assert_eq!(typed_of("25MB", true), "Str(\"25MB\")");
        assert_eq!(typed_of("1.2.3", true), "Str(\"1.2.3\")");
    }

    #[test]
    fn positions_are_one_based() {
        let Ok(Some(root)) = parse("http:\n  bind: x\n") else {
            panic!("parse failed")
        };
        let Kind::Map(entries) = &root.kind else {
            panic!("not a map")
        };
        assert_eq!((entries[0].key.line, entries[0].key.column), (1, 1));
        let Kind::Map(inner) = &entries[0].value.kind else {
            panic!("not a map")
        };
        assert_eq!((inner[0].key.line, inner[0].key.column), (2, 3));
        assert_eq!((inner[0].value.line, inner[0].value.column), (2, 9));
    }

    #[test]
    fn empty_and_comment_only_documents() {
        assert!(matches!(parse(""), Ok(None)));
        assert!(matches!(parse("# nothing\n\n"), Ok(None)));
    }

    #[test]
    fn syntax_error_is_located() {
        let Err(e) = parse("http:\n  bind: [1, 2\n") else {
            panic!("expected an error")
        };
        assert!(e.line >= 2, "{e:?}");
    }

    #[test]
    fn second_document_is_rejected() {
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for name in 'b'..='k' {
            text.push_str(&format!(
                "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = name;
        }
        assert!(parse(&text).is_err());
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = "[".repeat(1000);
        assert!(parse(&text).is_err());
    }
}
