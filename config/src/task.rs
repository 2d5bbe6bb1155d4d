//! Task metadata: the YAML beside a script (`NAME.yaml` next to `NAME.tick`)
//! carrying what the seed keeps out of the script: type, dbrps, measurement,
//! `where` predicate, batch query and schedule, template vars.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use model::{DbRp, TaskType};

use crate::error::{ConfigError, ConfigErrors};
use crate::predicate::WherePredicate;
use crate::walk::{Walker, dotted};
use crate::yaml::{self, Kind, Node, Typed};

const TASK_KEYS: &[&str] = &[
    "type", "dbrp", "from", "where", "query", "period", "cron", "group_by", "script", "enabled",
    "vars", "overflow",
];
const VAR_KEYS: &[&str] = &["type", "value", "description"];

/// The declared type of a template var (Kapacitor's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VarType {
    Bool,
    Int,
    Float,
    String,
    Regex,
    Duration,
    Lambda,
    Star,
    List,
}

const VAR_TYPES: &[&str] = &[
    "bool", "int", "float", "string", "regex", "duration", "lambda", "star", "list",
];

impl VarType {
    pub fn as_str(self) -> &'static str {
        match self {
            VarType::Bool => "bool",
            VarType::Int => "int",
            VarType::Float => "float",
            VarType::String => "string",
            VarType::Regex => "regex",
            VarType::Duration => "duration",
            VarType::Lambda => "lambda",
            VarType::Star => "star",
            VarType::List => "list",
        }
    }

    fn parse(text: &str) -> Option<VarType> {
        Some(match text.to_ascii_lowercase().as_str() {
            "bool" | "boolean" => VarType::Bool,
            "int" | "integer" => VarType::Int,
            "float" | "number" => VarType::Float,
            "string" => VarType::String,
            "regex" => VarType::Regex,
            "duration" => VarType::Duration,
            "lambda" => VarType::Lambda,
            "star" => VarType::Star,
            "list" => VarType::List,
            _ => return None,
        })
    }
}

/// A template var's value, checked against its declared type. Regexes and
/// lambdas are kept as source text: the DSL compiles them.
#[derive(Debug, Clone, PartialEq)]
pub enum VarValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Regex(String),
    Duration(Duration),
    Lambda(String),
    Star,
    List(Vec<VarValue>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskVar {
    pub var_type: VarType,
    pub value: VarValue,
    pub description: Option<String>,
    /// Where the var's name is written (1-based line and column), for
    /// errors found when the script is compiled with it.
    pub line: usize,
    pub column: usize,
}

/// The metadata of one task. `TaskMeta::default()` is an enabled stream
/// task over every db/rp with no filter.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMeta {
    /// Written as `type`, or inferred: batch when `query` is given, else stream.
    pub task_type: TaskType,
    /// Empty: the script's `dbrp` statements say; with none, a stream task
    /// needs `from` or `where` (and then reads every db/rp).
    pub dbrps: Vec<DbRp>,
    /// Stream: the measurement.
    pub from: Option<String>,
    /// Stream: the `where` predicate, compiled.
    pub where_clause: Option<WherePredicate>,
    /// Batch: the InfluxQL query.
    pub query: Option<String>,
    /// Batch: how far back each run queries and how often it runs.
    pub period: Option<Duration>,
    /// Batch: a cron schedule instead of `period`.
    pub cron: Option<String>,
    /// Batch: the `group by time()` interval.
    pub group_by: Option<Duration>,
    /// A script file other than `NAME.tick`, a file name in the same directory.
    pub script: Option<String>,
    /// Default true.
    pub enabled: bool,
    /// Typed template vars, by name.
    pub vars: BTreeMap<String, TaskVar>,
    /// Stream: what a write meets when this task's inbox is full.
    pub overflow: Overflow,
}

/// What a write meets when a task's inbox is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// The write waits for room, up to `ingest.backpressure_timeout`, then
    /// is refused (HTTP 503): no point is lost without its writer knowing.
    #[default]
    Block,
    /// The task's share is dropped and counted; the write goes on.
    Drop,
}

impl Overflow {
    pub fn as_str(self) -> &'static str {
        match self {
            Overflow::Block => "block",
            Overflow::Drop => "drop",
        }
    }

    /// `block` or `drop`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "block" => Ok(Overflow::Block),
            "drop" => Ok(Overflow::Drop),
            other => Err(format!("overflow must be block or drop, not {other:?}")),
        }
    }
}

impl Default for TaskMeta {
    fn default() -> Self {
        TaskMeta {
            task_type: TaskType::Stream,
            dbrps: Vec::new(),
            from: None,
            where_clause: None,
            query: None,
            period: None,
            cron: None,
            group_by: None,
            script: None,
            enabled: true,
            vars: BTreeMap::new(),
            overflow: Overflow::Block,
        }
    }
}

impl TaskMeta {
    /// Parses and validates the YAML; `path` is used in error messages. Every
    /// problem is reported at once, each with file, line, column and key.
    /// A file with nothing in it is an error (it is most likely being
    /// written), so a half-saved file never replaces a running task.
    pub fn from_yaml(text: &str, path: &Path) -> Result<TaskMeta, ConfigErrors> {
        let file = path.display().to_string();
        let at = |line, column, key: &str, message: String| {
            ConfigError::at(&file, line, column, key, message)
        };
        let root = match yaml::parse(text) {
            Ok(Some(root)) if !root.is_null() => root,
            Ok(_) => {
                return Err(at(
                    1,
                    1,
                    "",
                    "the task file is empty; write at least `type: stream` or `type: batch`"
                        .to_owned(),
                )
                .into());
            }
            Err(e) => {
                return Err(
                    at(e.line, e.column, "", format!("invalid YAML: {}", e.message)).into(),
                );
            }
        };
        let mut w = Walker::new(&file);
        if !matches!(root.kind, Kind::Map(_)) {
            let message = format!(
                "task metadata must be a mapping with keys {}, found {}",
                TASK_KEYS.join(", "),
                root.describe()
            );
            w.error("", &root, message);
            return Err(ConfigErrors::sorted(w.errors));
        }
        let mut meta = TaskMeta::default();
        let mut declared: Option<(TaskType, &Node)> = None;
        let mut nodes: BTreeMap<&str, &Node> = BTreeMap::new();
        for (key, value) in w.mapping("", &root, TASK_KEYS) {
            nodes.insert(key, value);
            match key {
                "type" => {
                    if let Some(t) = task_type(&mut w, value) {
                        declared = Some((t, value));
                    }
                }
                "dbrp" => meta.dbrps = dbrps(&mut w, value),
                "from" => meta.from = nonempty(&mut w, key, value),
                "overflow" => {
                    if let Some(text) = nonempty(&mut w, key, value) {
                        match Overflow::parse(&text) {
                            Ok(o) => meta.overflow = o,
                            Err(message) => w.error(key, value, message),
                        }
                    }
                }
                "where" => meta.where_clause = where_clause(&mut w, text, value),
                "query" => meta.query = nonempty(&mut w, key, value),
                "period" => meta.period = duration(&mut w, key, value),
                "group_by" => meta.group_by = duration(&mut w, key, value),
                "cron" => {
                    meta.cron = nonempty(&mut w, key, value).filter(|c| match check_cron(c) {
                        Ok(()) => true,
                        Err(message) => {
                            w.error(key, value, message);
                            false
                        }
                    });
                }
                "script" => {
                    meta.script = nonempty(&mut w, key, value).filter(|s| {
                        let bad = s.contains(['/', '\\']) || s == "." || s == "..";
                        if bad {
                            w.error(
                                key,
                                value,
                                format!(
                                    "`{s}` must be a file name in the tasks directory, \
                                     not a path"
                                ),
                            );
                        }
                        !bad
                    });
                }
                "enabled" => {
                    if let Some(b) = w.bool(key, value) {
                        meta.enabled = b;
                    }
                }
                "vars" => meta.vars = vars(&mut w, value),
                _ => {}
            }
        }

        // Rules across keys, only once each key on its own was readable.
        let present = |k: &str| nodes.contains_key(k);
        meta.task_type = match declared {
            Some((t, _)) => t,
            None if present("query") || present("period") || present("cron") => TaskType::Batch,
            None => TaskType::Stream,
        };
        let type_at: &Node = declared.map_or(&root, |(_, n)| n);
        let type_key = if declared.is_some() { "type" } else { "" };
        match meta.task_type {
            TaskType::Stream => {
                for key in ["query", "period", "cron", "group_by"] {
                    if let Some(node) = nodes.get(key) {
                        w.error(
                            key,
                            node,
                            format!(
                                "`{key}` is for batch tasks; this is a stream task \
                                 (stream tasks filter with `from` and `where`)"
                            ),
                        );
                    }
                }
            }
            TaskType::Batch => {
                for key in ["from", "where"] {
                    if let Some(node) = nodes.get(key) {
                        w.error(
                            key,
                            node,
                            format!(
                                "`{key}` is for stream tasks; a batch task selects its \
                                 data with `query`"
                            ),
                        );
                    }
                }
                if !present("query") {
                    w.error(
                        type_key,
                        type_at,
                        "a batch task needs `query` (e.g. `query: select mean(value) from cpu`)",
                    );
                }
                match (nodes.get("period"), nodes.get("cron")) {
                    (Some(_), Some(cron)) => {
                        w.error("cron", cron, "give either `period` or `cron`, not both")
                    }
                    (None, None) => w.error(
                        type_key,
                        type_at,
                        "a batch task needs a schedule: `period` (e.g. 15m) or `cron` \
                         (e.g. '*/15 * * * *')",
                    ),
                    _ => {}
                }
            }
        }

        if w.errors.is_empty() {
            Ok(meta)
        } else {
            Err(ConfigErrors::sorted(w.errors))
        }
    }
}

fn text_of(node: &Node) -> Option<&str> {
    match &node.kind {
        Kind::Scalar(s) if s.typed() != Typed::Null => Some(&s.text),
        _ => None,
    }
}

fn task_type(w: &mut Walker<'_>, node: &Node) -> Option<TaskType> {
    let text = w.string("type", node)?;
    match text.parse() {
        Ok(t) => Some(t),
        Err(message) => {
            w.error("type", node, message);
            None
        }
    }
}

fn nonempty(w: &mut Walker<'_>, key: &str, node: &Node) -> Option<String> {
    if matches!(node.kind, Kind::Map(_) | Kind::Seq(_)) || node.is_null() {
        let message = format!("expected a string, found {}", node.describe());
        w.error(key, node, message);
        return None;
    }
    let text = w.string(key, node)?;
    if text.trim().is_empty() {
        w.error(key, node, "must not be empty");
        return None;
    }
    Some(text)
}

fn dbrps(w: &mut Walker<'_>, node: &Node) -> Vec<DbRp> {
    let items: Vec<(String, &Node)> = match &node.kind {
        Kind::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("dbrp[{i}]"), n))
            .collect(),
        _ if node.is_null() => return Vec::new(),
        _ => vec![("dbrp".to_owned(), node)],
    };
    let mut out = Vec::new();
    for (key, item) in items {
        let Some(text) = nonempty(w, &key, item) else {
            continue;
        };
        match text.parse::<DbRp>() {
            Ok(d) if out.contains(&d) => w.error(&key, item, format!("`{d}` is listed twice")),
            Ok(d) => out.push(d),
            Err(message) => w.error(&key, item, message),
        }
    }
    out
}

fn where_clause(w: &mut Walker<'_>, source: &str, node: &Node) -> Option<WherePredicate> {
    let text = nonempty(w, "where", node)?;
    // Only what no config could accept is refused here; the daemon checks
    // its own `limits.max_expression_depth` when it defines the task.
    match WherePredicate::parse_with_depth(&text, crate::daemon::MAX_EXPRESSION_DEPTH_CEILING) {
        Ok(p) => Some(p),
        Err(e) => {
            // Point at the spot in the file when the expression sits on the
            // value's line as written (plain or quoted without escapes).
            let mut column = node.column;
            if let Some(line) = source.lines().nth(node.line.saturating_sub(1)) {
                let rest: String = line.chars().skip(node.column - 1).collect();
                let quoted = rest.starts_with(['\'', '"']);
                let body = if quoted { &rest[1..] } else { &rest[..] };
                if body.starts_with(&text) {
                    column = node.column + usize::from(quoted) + e.column - 1;
                }
            }
            w.errors.push(ConfigError {
                path: w.file.to_owned(),
                key: "where".to_owned(),
                line: Some(node.line),
                column: Some(column),
                message: format!("column {} of the predicate: {}", e.column, e.message),
            });
            None
        }
    }
}

fn duration(w: &mut Walker<'_>, key: &str, node: &Node) -> Option<Duration> {
    let expected = "a duration such as 10s, 15m or 1h";
    let Some(text) = text_of(node).filter(|_| matches!(node.kind, Kind::Scalar(_))) else {
        let message = format!("expected {expected}, found {}", node.describe());
        w.error(key, node, message);
        return None;
    };
    match parse_duration(text) {
        Ok(d) if d.is_zero() => {
            w.error(key, node, "must be greater than 0");
            None
        }
        Ok(d) => Some(d),
        Err(message) => {
            w.error(key, node, message);
            None
        }
    }
}

/// A TICKscript/InfluxQL duration: a number and a unit (`ns`, `u`/`us`/`µs`,
/// `ms`, `s`, `m`, `h`, `d`, `w`), several in a row allowed (`1h30m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| {
        format!(
            "`{text}` is not a duration{why}; expected a number and a unit such as 10s, 15m, 1h (units: ns, us, ms, s, m, h, d, w)"
        )
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(bad(""));
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(" (it has no unit)"));
    }
    let mut total: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad(""));
        }
        let n: u128 = rest[..digits].parse().map_err(|_| bad(""))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let nanos: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "u" | "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "d" => 86_400 * 1_000_000_000,
            "w" => 7 * 86_400 * 1_000_000_000,
            "" => return Err(bad(" (a number at the end has no unit)")),
            other => return Err(bad(&format!(" (unknown unit `{other}`)"))),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(nanos)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("`{text}` is too long"))?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| format!("`{text}` is too long"))?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// Checks a cron schedule as the batch scheduler reads it ([`crate::Cron`]):
/// 5 fields (minute hour day month weekday), 6 (seconds first) or 7 (year
/// last); `@hourly`, `@every 5m`, ….
pub fn check_cron(text: &str) -> Result<(), String> {
    crate::Cron::parse(text).map(|_| ())
}

fn vars(w: &mut Walker<'_>, node: &Node) -> BTreeMap<String, TaskVar> {
    let mut out = BTreeMap::new();
    let Kind::Map(entries) = &node.kind else {
        if !node.is_null() {
            let message = format!(
                "expected a mapping of var name to {{type, value}}, found {}",
                node.describe()
            );
            w.error("vars", node, message);
        }
        return out;
    };
    for entry in entries {
        let Some(name) = text_of(&entry.key).map(str::to_owned) else {
            let message = format!("var names must be names, found {}", entry.key.describe());
            w.error("vars", &entry.key, message);
            continue;
        };
        let path = dotted("vars", &name);
        if out.contains_key(&name) {
            w.error(&path, &entry.key, "duplicate var");
            continue;
        }
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !valid_name {
            w.error(
                &path,
                &entry.key,
                format!("`{name}` is not a var name (letters, digits and _)"),
            );
            continue;
        }
        if let Some(mut var) = var(w, &path, &entry.value) {
            (var.line, var.column) = (entry.key.line, entry.key.column);
            out.insert(name, var);
        }
    }
    out
}

fn var(w: &mut Walker<'_>, path: &str, node: &Node) -> Option<TaskVar> {
    if !matches!(node.kind, Kind::Map(_)) {
        let message = format!(
            "expected a mapping {{type, value}} such as `{{type: int, value: 30}}`, found {}",
            node.describe()
        );
        w.error(path, node, message);
        return None;
    }
    let (mut var_type, mut value_node, mut description) = (None, None, None);
    let mut ok = true;
    for (key, value) in w.mapping(path, node, VAR_KEYS) {
        let full = dotted(path, key);
        match key {
            "type" => match w.string(&full, value) {
                Some(t) => match VarType::parse(&t) {
                    Some(t) => var_type = Some(t),
                    None => {
                        w.error(
                            &full,
                            value,
                            format!(
                                "unknown var type `{t}`; expected one of {}",
                                VAR_TYPES.join(", ")
                            ),
                        );
                        ok = false;
                    }
                },
                None => ok = false,
            },
            "value" => value_node = Some(value),
            "description" => description = w.string(&full, value),
            _ => {}
        }
    }
    if !ok {
        return None;
    }
    let Some(var_type) = var_type else {
        w.error(
            path,
            node,
            format!("a var needs `type` ({})", VAR_TYPES.join(", ")),
        );
        return None;
    };
    let value = match value_node {
        Some(v) => var_value(w, &dotted(path, "value"), var_type, v)?,
        None if var_type == VarType::Star => VarValue::Star,
        None => {
            w.error(path, node, "a var needs `value`");
            return None;
        }
    };
    Some(TaskVar {
        var_type,
        value,
        description,
        line: 0,
        column: 0,
    })
}

fn var_value(w: &mut Walker<'_>, key: &str, var_type: VarType, node: &Node) -> Option<VarValue> {
    let mismatch = |w: &mut Walker<'_>, expected: &str| {
        let article = if var_type == VarType::Int { "an" } else { "a" };
        let message = format!(
            "{article} {} var needs {expected}, found {}",
            var_type.as_str(),
            node.describe()
        );
        w.error(key, node, message);
        None
    };
    if var_type == VarType::List {
        let Kind::Seq(items) = &node.kind else {
            return mismatch(w, "a list");
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_key = format!("{key}[{i}]");
            // Kapacitor's form is a list of {type, value}; plain scalars are
            // taken at their YAML type.
            let value = if matches!(item.kind, Kind::Map(_)) {
                var(w, &item_key, item).map(|v| v.value)
            } else {
                let t = match &item.kind {
                    Kind::Scalar(s) => match s.typed() {
                        Typed::Bool(_) => VarType::Bool,
                        Typed::Int(_) => VarType::Int,
                        Typed::Float => VarType::Float,
                        _ => VarType::String,
                    },
                    _ => VarType::String,
                };
                var_value(w, &item_key, t, item)
            };
            out.extend(value);
        }
        return Some(VarValue::List(out));
    }
    let Kind::Scalar(scalar) = &node.kind else {
        return mismatch(w, "a single value");
    };
    let typed = scalar.typed();
    match (var_type, typed) {
        (VarType::Bool, Typed::Bool(b)) => Some(VarValue::Bool(b)),
        (VarType::Int, Typed::Int(i)) => match i64::try_from(i) {
            Ok(i) => Some(VarValue::Int(i)),
            Err(_) => mismatch(w, "an integer that fits 64 bits"),
        },
        (VarType::Float, Typed::Int(_) | Typed::Float) => match scalar.text.parse::<f64>() {
            Ok(f) => Some(VarValue::Float(f)),
            Err(_) => mismatch(w, "a number"),
        },
        (VarType::String, t) if t != Typed::Null => Some(VarValue::String(scalar.text.clone())),
        (VarType::Regex, Typed::Str(s)) => {
            let source = s
                .strip_prefix('/')
                .and_then(|r| r.strip_suffix('/'))
                .unwrap_or(s);
            match regex::Regex::new(source) {
                Ok(_) => Some(VarValue::Regex(source.to_owned())),
                Err(e) => {
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or("").trim();
                    w.error(key, node, format!("bad regex `{source}`: {why}"));
                    None
                }
            }
        }
        (VarType::Duration, Typed::Str(s)) => match parse_duration(s) {
            Ok(d) => Some(VarValue::Duration(d)),
            Err(message) => {
                w.error(key, node, message);
                None
            }
        },
        (VarType::Lambda, Typed::Str(s)) if !s.trim().is_empty() => {
            Some(VarValue::Lambda(s.to_owned()))
        }
        (VarType::Star, _) => Some(VarValue::Star),
        (VarType::Bool, _) => mismatch(w, "true or false"),
        (VarType::Int, _) => mismatch(w, "a whole number"),
        (VarType::Float, _) => mismatch(w, "a number"),
        (VarType::Duration, _) => mismatch(w, "a duration such as 10s"),
        (VarType::Regex, _) => mismatch(w, "a regex such as '^web'"),
        (VarType::Lambda, _) => mismatch(w, "an expression such as '\"value\" > 10'"),
        (VarType::String | VarType::List, _) => mismatch(w, "a string"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2us"), Ok(Duration::from_micros(2)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert!(parse_duration("10").unwrap_err().contains("no unit"));
        assert!(parse_duration("10x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1.5h").is_err());
    }

    #[test]
    fn crons() {
        for ok in [
            "*/15 * * * *",
            "0 0 * * MON-FRI",
            "0 */5 * * * *",
            "0 0 12 ? * WED *",
            "@hourly",
            "@every 5m",
            "5,10,15 1-3 1 JAN,jul 0",
        ] {
            assert_eq!(check_cron(ok), Ok(()), "{ok}");
        }
        for bad in [
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "*/0 * * * *",
            "a b c d e",
            "5-1 * * * *",
            "@sometimes",
            "* * * * * * * *",
            // What the scheduler cannot honour is refused here too.
            "0 0 L * *",
        ] {
            assert!(check_cron(bad).is_err(), "{bad}");
        }
    }
}
