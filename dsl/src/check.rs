//! Meaning checks on a compiled node that need nothing but the script:
//! values out of range, properties that exclude or need each other, and
//! what a node or handler cannot work without. This is the one place these
//! rules live: the runtime builds nodes from a plan that passed them. Every
//! problem is reported, each at the property, handler or node it is about.
//!
//! What needs the daemon (a named `.endpoint()` of its config, which
//! handlers it supports) is checked when the task is built.

use crate::diagnostic::Diagnostic;
use crate::limits::Limits;
use crate::plan::{HandlerSpec, NodeSpec, Property, Value};
use crate::span::Span;

/// A limit on a number.
#[derive(Debug, Clone, Copy)]
enum Bound {
    Positive,
    NonNegative,
    AtLeast(i64),
    NonZero,
    /// 0 to 100 inclusive.
    Percent,
}

impl Bound {
    fn holds(self, x: f64) -> bool {
        match self {
            Bound::Positive => x > 0.0,
            Bound::NonNegative => x >= 0.0,
            Bound::AtLeast(n) => x >= n as f64,
            Bound::NonZero => x != 0.0,
            Bound::Percent => (0.0..=100.0).contains(&x),
        }
    }

    fn words(self) -> String {
        match self {
            Bound::Positive => "must be positive".into(),
            Bound::NonNegative => "must not be negative".into(),
            Bound::AtLeast(n) => format!("must be at least {n}"),
            Bound::NonZero => "must not be zero".into(),
            Bound::Percent => "must be between 0 and 100".into(),
        }
    }
}

/// `(node kinds, property, bound)`; no kinds: every node.
const PROPERTY_BOUNDS: &[(&[&str], &str, Bound)] = &[
    (&[], "parallelism", Bound::AtLeast(1)),
    (&["window"], "period", Bound::NonNegative),
    (&["window"], "every", Bound::NonNegative),
    (&["window"], "periodCount", Bound::AtLeast(1)),
    (&["window"], "everyCount", Bound::AtLeast(1)),
    (&["stateDuration", "derivative"], "unit", Bound::Positive),
    (
        &["join", "flatten", "combine"],
        "tolerance",
        Bound::NonNegative,
    ),
    (&["combine"], "max", Bound::AtLeast(1)),
    (&["barrier"], "idle", Bound::Positive),
    (&["barrier"], "period", Bound::Positive),
    (&["influxDBOut"], "buffer", Bound::AtLeast(1)),
    (&["influxDBOut"], "flushInterval", Bound::Positive),
    // The current and the previous level.
    (&["alert", "deadman"], "history", Bound::AtLeast(2)),
    (
        &["alert", "deadman"],
        "stateChangesOnly",
        Bound::NonNegative,
    ),
    (&["httpPost"], "timeout", Bound::Positive),
];

/// `(handler, property, bound)`.
const HANDLER_BOUNDS: &[(&str, &str, Bound)] = &[("post", "timeout", Bound::Positive)];

/// `(node kinds, argument position, what it is, bound)`.
const ARGUMENT_BOUNDS: &[(&[&str], usize, &str, Bound)] = &[
    (&["stats"], 0, "the interval", Bound::Positive),
    (&["deadman"], 1, "the interval", Bound::Positive),
    (&["shift"], 0, "the shift", Bound::NonZero),
    (&["sample"], 0, "the rate", Bound::Positive),
    (
        &["top", "bottom"],
        0,
        "the number of points",
        Bound::AtLeast(1),
    ),
    (&["movingAverage"], 1, "the window", Bound::AtLeast(1)),
    (
        &["holtWinters", "holtWintersWithFit"],
        1,
        "the number of predictions",
        Bound::NonNegative,
    ),
    (
        &["holtWinters", "holtWintersWithFit"],
        2,
        "the season",
        Bound::NonNegative,
    ),
    (
        &["holtWinters", "holtWintersWithFit"],
        3,
        "the interval",
        Bound::Positive,
    ),
    (&["elapsed"], 1, "the unit", Bound::Positive),
    (&["percentile"], 1, "the percentile", Bound::Percent),
];

/// `(node kind, property, the values it takes)`, compared without case.
const PROPERTY_CHOICES: &[(&str, &str, &[&str])] = &[
    (
        "log",
        "level",
        &["DEBUG", "INFO", "WARN", "WARNING", "ERROR"],
    ),
    (
        "influxDBOut",
        "precision",
        &["", "n", "ns", "u", "us", "µs", "ms", "s", "m", "h"],
    ),
];

/// `(node kind, property)` that must be set to a non-empty value.
const REQUIRED: &[(&str, &str)] = &[
    ("influxDBOut", "database"),
    ("kapacitorLoopback", "database"),
    ("kapacitorLoopback", "retentionPolicy"),
    ("sideload", "source"),
];

/// `(node kind, properties of one kind, properties of the other, why)`:
/// no property of the first set may be used with one of the second.
const EXCLUSIVE: &[(&str, &[&str], &[&str], &str)] = &[
    (
        "window",
        &["period", "every"],
        &["periodCount", "everyCount"],
        "a window is either by time or by count",
    ),
    (
        "window",
        &["align"],
        &["periodCount", "everyCount"],
        "only windows by time can be aligned",
    ),
    (
        "barrier",
        &["idle"],
        &["period"],
        "a barrier is either on idle groups or periodic",
    ),
];

/// `(node kinds, property)` whose string arguments are Go templates.
const TEMPLATES: &[(&[&str], &str)] = &[
    (&["alert", "deadman"], "id"),
    (&["alert", "deadman"], "message"),
    (&["alert", "deadman"], "details"),
    (&["sideload"], "order"),
];

/// Checks node `node` (with `parents` parents) and its handlers, adding a
/// diagnostic per problem to `out`.
pub(crate) fn node(node: &NodeSpec, parents: usize, limits: &Limits, out: &mut Vec<Diagnostic>) {
    let before = out.len();
    bounds(node, out);
    maxima(node, limits, out);
    choices(node, out);
    required(node, out);
    exclusive(node, out);
    if matches!(node.kind.as_str(), "alert" | "deadman") {
        flapping(node, out);
    }
    templates(node, out);
    for h in &node.handlers {
        handler(h, out);
    }
    // What a node needs as a whole is only worth saying once its single
    // settings are right: `.periodCount(0)` is one mistake, not two.
    if out.len() == before {
        whole(node, parents, out);
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) | Value::Duration(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn out_of_bound(what: &str, bound: Bound, v: &Value, span: Span) -> Diagnostic {
    let found = match v {
        Value::Duration(d) => crate::lambda::format_duration(*d),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        other => other.type_name().to_owned(),
    };
    Diagnostic::error(format!("{what} {}", bound.words()), span)
        .with_label(format!("found {found}"))
}

fn bounds(node: &NodeSpec, out: &mut Vec<Diagnostic>) {
    for (kinds, name, bound) in PROPERTY_BOUNDS {
        if !kinds.is_empty() && !kinds.contains(&node.kind.as_str()) {
            continue;
        }
        for p in node.properties.iter().filter(|p| p.name == *name) {
            if let Some(v) = p.args.first()
                && number(v).is_some_and(|x| !bound.holds(x))
            {
                out.push(out_of_bound(&format!("`.{name}()`"), *bound, v, p.span));
            }
        }
    }
    for (kinds, i, what, bound) in ARGUMENT_BOUNDS {
        if !kinds.contains(&node.kind.as_str()) {
            continue;
        }
        if let Some(v) = node.args.get(*i)
            && number(v).is_some_and(|x| !bound.holds(x))
        {
            let what = format!("{what} of `{}`", node.kind);
            out.push(out_of_bound(&what, *bound, v, node.span));
        }
    }
}

/// The configured maxima (`limits:`): values that would make the runtime
/// allocate per instance, per history slot or per forecast value.
fn maxima(node: &NodeSpec, limits: &Limits, out: &mut Vec<Diagnostic>) {
    let too_large = |what: &str, key: &str, max: u64, v: &Value, span: Span| {
        Diagnostic::error(format!("{what} must be at most {max} (limits.{key})"), span).with_label(
            format!(
                "found {}",
                number(v).map_or_else(String::new, |x| x.to_string())
            ),
        )
    };
    let over = |v: &Value, max: u64| number(v).is_some_and(|x| x > max as f64);
    let mut props: Vec<(&str, &str, u64)> =
        vec![("parallelism", "max_parallelism", limits.max_parallelism)];
    if matches!(node.kind.as_str(), "alert" | "deadman") {
        props.push(("history", "max_history", limits.max_history));
    }
    for (name, key, max) in props {
        for p in node.properties.iter().filter(|p| p.name == name) {
            if let Some(v) = p.args.first()
                && over(v, max)
            {
                out.push(too_large(&format!("`.{name}()`"), key, max, v, p.span));
            }
        }
    }
    if matches!(node.kind.as_str(), "holtWinters" | "holtWintersWithFit") {
        for (i, what) in [(1, "the number of predictions"), (2, "the season")] {
            if let Some(v) = node.args.get(i)
                && over(v, limits.max_forecast)
            {
                let what = format!("{what} of `{}`", node.kind);
                out.push(too_large(
                    &what,
                    "max_forecast",
                    limits.max_forecast,
                    v,
                    node.span,
                ));
            }
        }
    }
}

fn string(p: &Property) -> Option<&str> {
    match p.args.first() {
        Some(Value::String(s) | Value::Reference(s)) => Some(s),
        _ => None,
    }
}

fn choices(node: &NodeSpec, out: &mut Vec<Diagnostic>) {
    for (kind, name, allowed) in PROPERTY_CHOICES {
        if node.kind != *kind {
            continue;
        }
        for p in node.properties.iter().filter(|p| p.name == *name) {
            if let Some(s) = string(p)
                && !allowed.iter().any(|a| a.eq_ignore_ascii_case(s))
            {
                let list: Vec<String> = allowed
                    .iter()
                    .filter(|a| !a.is_empty())
                    .map(|a| format!("'{a}'"))
                    .collect();
                out.push(
                    Diagnostic::error(format!("unknown `.{name}()` '{s}'"), p.span)
                        .with_label(format!("not a {name}"))
                        .with_help(format!("use one of {}", list.join(", "))),
                );
            }
        }
    }
}

fn required(node: &NodeSpec, out: &mut Vec<Diagnostic>) {
    for (kind, name) in REQUIRED {
        if node.kind != *kind {
            continue;
        }
        match node.property(name) {
            None => out.push(
                Diagnostic::error(format!("`{kind}` needs a `.{name}()`"), node.span)
                    .with_label(format!("no .{name}() set on this node")),
            ),
            Some(p) if string(p).is_some_and(str::is_empty) => out.push(
                Diagnostic::error(format!("`.{name}()` must not be empty"), p.span)
                    .with_label("empty"),
            ),
            Some(_) => {}
        }
    }
}

fn exclusive(node: &NodeSpec, out: &mut Vec<Diagnostic>) {
    for (kind, one, other, why) in EXCLUSIVE {
        if node.kind != *kind {
            continue;
        }
        let first = |names: &[&str]| {
            node.properties
                .iter()
                .find(|p| names.contains(&p.name.as_str()))
        };
        if let (Some(a), Some(b)) = (first(one), first(other)) {
            let (earlier, later) = if a.span.start <= b.span.start {
                (a, b)
            } else {
                (b, a)
            };
            out.push(
                Diagnostic::error(
                    format!(
                        "`.{}()` cannot be used with `.{}()`",
                        later.name, earlier.name
                    ),
                    later.span,
                )
                .with_label(*why)
                .with_secondary(earlier.span, format!("`.{}()` set here", earlier.name)),
            );
        }
    }
}

fn handler(h: &HandlerSpec, out: &mut Vec<Diagnostic>) {
    for (kind, name, bound) in HANDLER_BOUNDS {
        if h.kind != *kind {
            continue;
        }
        for p in h.properties.iter().filter(|p| p.name == *name) {
            if let Some(v) = p.args.first()
                && number(v).is_some_and(|x| !bound.holds(x))
            {
                out.push(out_of_bound(&format!("`.{name}()`"), *bound, v, p.span));
            }
        }
    }
    match h.kind.as_str() {
        "post" => {
            let endpoint = h.properties.iter().find(|p| p.name == "endpoint");
            url_or_endpoint(
                ".post()",
                ".post('http://example.com/alert')",
                h.args.first(),
                endpoint,
                h.span,
                out,
            );
        }
        "tcp" | "log" | "exec" => {
            if let Some(Value::String(s)) = h.args.first()
                && s.is_empty()
            {
                let what = match h.kind.as_str() {
                    "tcp" => "an address host:port",
                    "log" => "a file path",
                    _ => "a program",
                };
                out.push(
                    Diagnostic::error(format!("`.{}()` needs {what}", h.kind), h.span)
                        .with_label("empty"),
                );
            }
        }
        _ => {}
    }
}

/// A URL or a named endpoint, exactly one: `httpPost` and `.post()`.
fn url_or_endpoint(
    what: &str,
    example: &str,
    url: Option<&Value>,
    endpoint: Option<&Property>,
    span: Span,
    out: &mut Vec<Diagnostic>,
) {
    match (url, endpoint) {
        (Some(_), Some(e)) => out.push(
            Diagnostic::error(format!("`{what}` takes a URL or an `.endpoint()`, not both"), e.span)
                .with_label("remove this or the URL")
                .with_secondary(span, "the URL is given here"),
        ),
        (None, None) => out.push(
            Diagnostic::error(format!("`{what}` needs a URL or an `.endpoint()`"), span)
                .with_label("nowhere to send to")
                .with_help(format!("give the URL, e.g. {example}, or name an endpoint of the config with .endpoint('name')")),
        ),
        _ => {}
    }
}

/// Names given to a property as strings, every use of it together.
fn names<'a>(node: &'a NodeSpec, prop: &str) -> Vec<&'a str> {
    node.properties
        .iter()
        .filter(|p| p.name == prop)
        .flat_map(|p| &p.args)
        .filter_map(|v| match v {
            Value::String(s) | Value::Reference(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

/// Rules on a node as a whole.
fn whole(node: &NodeSpec, parents: usize, out: &mut Vec<Diagnostic>) {
    let lambdas = node
        .args
        .iter()
        .filter(|a| matches!(a, Value::Lambda(_)))
        .count();
    let set = |name: &str| {
        node.property(name)
            .is_some_and(|p| p.args.first().and_then(number) != Some(0.0))
    };
    match node.kind.as_str() {
        "window" if !set("period") && !set("periodCount") => out.push(
            Diagnostic::error(
                "a window needs a `.period()` or a `.periodCount()`",
                node.span,
            )
            .with_label("how long is this window?")
            .with_help("e.g. |window().period(1m).every(1m)"),
        ),
        "window" if set("periodCount") && !set("everyCount") => {
            let p = node.property("periodCount").map_or(node.span, |p| p.span);
            out.push(
                Diagnostic::error("`.periodCount()` needs an `.everyCount()` too", p)
                    .with_label("how often is this window emitted?")
                    .with_help("e.g. .periodCount(10).everyCount(1)"),
            );
        }
        "barrier" if !set("idle") && !set("period") => out.push(
            Diagnostic::error("a barrier needs an `.idle()` or a `.period()`", node.span)
                .with_label("when does this barrier fire?"),
        ),
        "join" => join(node, parents, out),
        "eval" | "combine" => {
            let as_names = names(node, "as");
            if as_names.len() != lambdas {
                let span = node.property("as").map_or(node.span, |p| p.span);
                out.push(
                    Diagnostic::error(
                        format!(
                            "`{}` has {} but `.as()` gives {}",
                            node.kind,
                            count(lambdas, "expression"),
                            count(as_names.len(), "name")
                        ),
                        span,
                    )
                    .with_label("give one name per expression"),
                );
            }
            for p in node.properties.iter().filter(|p| p.name == "tags") {
                for t in names_of(p) {
                    if !as_names.contains(&t) {
                        out.push(
                            Diagnostic::error(
                                format!("`.tags()` names '{t}', which no expression is named with `.as()`"),
                                p.span,
                            )
                            .with_label("not among the .as() names"),
                        );
                    }
                }
            }
            if let Some(p) = node.property("delimiter")
                && string(p).is_some_and(str::is_empty)
            {
                out.push(
                    Diagnostic::error("`.delimiter()` must not be empty", p.span)
                        .with_label("empty"),
                );
            }
        }
        "httpPost" => {
            url_or_endpoint(
                "httpPost",
                "|httpPost('http://example.com/points')",
                node.args.first(),
                node.property("endpoint"),
                node.span,
                out,
            );
            for p in node.properties.iter().filter(|p| p.name == "header") {
                if string(p).is_some_and(|k| k.eq_ignore_ascii_case("authenticate")) {
                    out.push(
                        Diagnostic::error("cannot set the 'authenticate' header", p.span)
                            .with_label("reserved header"),
                    );
                }
            }
        }
        _ => {}
    }
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn names_of(p: &Property) -> impl Iterator<Item = &str> {
    p.args.iter().filter_map(|v| match v {
        Value::String(s) | Value::Reference(s) => Some(s.as_str()),
        _ => None,
    })
}

fn join(node: &NodeSpec, parents: usize, out: &mut Vec<Diagnostic>) {
    let as_names = names(node, "as");
    let span = node.property("as").map_or(node.span, |p| p.span);
    if as_names.len() != parents {
        out.push(
            Diagnostic::error(
                format!(
                    "`join` has {} but `.as()` gives {}",
                    count(parents, "parent"),
                    count(as_names.len(), "name")
                ),
                span,
            )
            .with_label("give one name per parent")
            .with_help("e.g. .as('cpu', 'mem')"),
        );
    }
    if let Some((_, dup)) = as_names
        .iter()
        .enumerate()
        .find(|(i, n)| as_names[..*i].contains(n))
    {
        out.push(
            Diagnostic::error(format!("`.as()` gives '{dup}' twice"), span)
                .with_label("names must be unique"),
        );
    }
    if let Some(p) = node.property("fill") {
        let ok = match p.args.first() {
            Some(Value::String(s) | Value::Reference(s)) => s == "null" || s == "none",
            Some(Value::Int(_) | Value::Float(_) | Value::Var { .. }) | None => true,
            Some(_) => false,
        };
        if !ok {
            out.push(
                Diagnostic::error("`.fill()` takes 'null', 'none' or a number", p.span)
                    .with_label("not a fill"),
            );
        }
    }
}

/// `.flapping(low, high)`: shares of state changes, low below high.
fn flapping(node: &NodeSpec, out: &mut Vec<Diagnostic>) {
    let Some(p) = node.property("flapping") else {
        return;
    };
    let (Some(low), Some(high)) = (
        p.args.first().and_then(number),
        p.args.get(1).and_then(number),
    ) else {
        return;
    };
    if !(0.0..=1.0).contains(&low) || !(0.0..=1.0).contains(&high) {
        out.push(
            Diagnostic::error("`.flapping()` thresholds must be between 0 and 1", p.span)
                .with_label("shares of state changes, e.g. .flapping(0.25, 0.5)"),
        );
    } else if low > high {
        out.push(
            Diagnostic::error(
                "`.flapping()` needs its low threshold at or below its high one",
                p.span,
            )
            .with_label(format!("{low} is above {high}")),
        );
    }
}

/// Templates that do not parse, each at its property. What a template may
/// read depends on what the runtime renders it with, and is checked there.
fn templates(node: &NodeSpec, out: &mut Vec<Diagnostic>) {
    let mut check = |what: &str, text: &str, span: Span| {
        if let Err(e) = crate::template::parse(text) {
            out.push(
                Diagnostic::error(
                    format!("{what} template does not parse: {}", e.message),
                    span,
                )
                .with_label(format!("at {}:{} of the template", e.line, e.column)),
            );
        }
    };
    for (kinds, name) in TEMPLATES {
        if !kinds.contains(&node.kind.as_str()) {
            continue;
        }
        for p in node.properties.iter().filter(|p| p.name == *name) {
            for text in names_of(p) {
                check(&format!("the `.{name}()`"), text, p.span);
            }
        }
    }
    // A URL without `{{` is taken as written.
    if node.kind == "httpPost"
        && let Some(Value::String(url)) = node.args.first()
        && url.contains("{{")
    {
        check("the httpPost URL", url, node.span);
    }
}
