//! Rendering Go templates (`text/template`, and for details
//! `html/template`) as Kapacitor renders them, over what an alert, a post or
//! a sideload lookup has. The syntax is the DSL's ([`dsl::template`]), so a
//! script's template that does not parse is refused with the script's other
//! errors; here is what depends on the data: which fields each kind of
//! template may read (refused when the template is built, with the
//! position, rather than failing on every event later), and the values.
//!
//! Values print as Go's `fmt` prints them (`%v`), because users compare
//! messages with what Kapacitor sent: floats in `%g` style (`1e+06`), times
//! as `time.Time.String()`, durations as `time.Duration.String()`, maps as
//! `map[k:v]`.

use std::borrow::Cow;
use std::fmt::Write as _;

use dsl::template::{Action, Arg, CmpOp, Cond, Piece};

use crate::point::{FieldValue, Fields, Tags};
use crate::time::format_rfc3339;

use super::event::Level;

/// Which template is parsed: each sees a different set of fields, as in
/// Kapacitor (the ID template cannot see `.Level`, only details see
/// `.Message`), and only details is HTML-escaped and knows `json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateKind {
    Id,
    Message,
    Details,
    /// httpPost's URL: `.Name` (the measurement) and `.Tags` of each point
    /// or batch it posts.
    Url,
    /// A sideload file path: the point's tags are its fields, `.host` the
    /// tag host (as Kapacitor runs it on the tag map).
    Order,
    /// An `aggregate` topic handler's message: `.Count` events in the last
    /// `.Interval`.
    Aggregate,
}

impl TemplateKind {
    fn name(self) -> &'static str {
        match self {
            TemplateKind::Id => "id",
            TemplateKind::Message => "message",
            TemplateKind::Details => "details",
            TemplateKind::Url => "url",
            TemplateKind::Order => "order",
            TemplateKind::Aggregate => "aggregate message",
        }
    }

    fn allows(self, field: &str) -> bool {
        let id = matches!(field, "Name" | "TaskName" | "Group" | "Tags" | "ServerInfo");
        let message = matches!(field, "ID" | "Fields" | "Level" | "Time" | "Duration");
        match self {
            TemplateKind::Id => id,
            TemplateKind::Message => id || message,
            TemplateKind::Details => id || message || field == "Message",
            TemplateKind::Url => matches!(field, "Name" | "Tags"),
            TemplateKind::Order => field == "Tags",
            TemplateKind::Aggregate => matches!(field, "Count" | "Interval"),
        }
    }
}

/// Why a template was refused, with the 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} template {line}:{column}: {message}")]
pub struct TemplateError {
    pub kind: &'static str,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The template does not parse at all, which `dsl::compile` refuses in
    /// a script: only a template from elsewhere (the config, a plan not
    /// compiled from a script) gets here with it.
    pub syntax: bool,
}

/// Kapacitor's `.ServerInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerInfo {
    pub hostname: String,
    pub cluster_id: String,
    pub server_id: String,
}

/// What a template renders from. The ID template only reads the first five.
#[derive(Clone, Copy)]
pub struct TemplateData<'a> {
    pub name: &'a str,
    pub task_name: &'a str,
    /// The group ID, `nil` for the nil group.
    pub group: &'a str,
    pub tags: &'a Tags,
    pub server_info: &'a ServerInfo,
    pub id: &'a str,
    pub fields: &'a Fields,
    pub level: Level,
    pub time: i64,
    pub duration: i64,
    pub message: &'a str,
    /// `.Count` of an aggregate message (its `.Interval` is `duration`).
    pub count: i64,
}

/// No fields and no server: what a template outside an alert sees of them.
static NO_FIELDS: std::sync::LazyLock<Fields> = std::sync::LazyLock::new(|| Fields::from_pairs([]));
static NO_TAGS: std::sync::LazyLock<Tags> = std::sync::LazyLock::new(|| Tags::from([]));
static NO_SERVER_INFO: ServerInfo = ServerInfo {
    hostname: String::new(),
    cluster_id: String::new(),
    server_id: String::new(),
};

impl<'a> TemplateData<'a> {
    /// What a URL or order template sees: a series' name and tags.
    pub fn of_series(name: &'a str, tags: &'a Tags) -> Self {
        TemplateData {
            name,
            task_name: "",
            group: "",
            tags,
            server_info: &NO_SERVER_INFO,
            id: "",
            fields: &NO_FIELDS,
            level: Level::Ok,
            time: 0,
            duration: 0,
            message: "",
            count: 0,
        }
    }

    /// What an aggregate message sees: `count` events in `interval` ns.
    pub fn of_aggregate(count: i64, interval: i64) -> Self {
        TemplateData {
            duration: interval,
            count,
            ..TemplateData::of_series("", &NO_TAGS)
        }
    }
}

#[derive(Clone, Debug)]
pub struct Template {
    kind: TemplateKind,
    pieces: Vec<Piece>,
}

/// What rendering can still hit at run time: `index` with a key that is not
/// a string (a path to a map, say).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} template: {message}")]
pub struct RenderError {
    pub kind: &'static str,
    pub message: String,
}

impl Template {
    /// Parses `src` as a template of `kind`, and refuses what it may not
    /// read.
    pub fn parse(kind: TemplateKind, src: &str) -> Result<Self, TemplateError> {
        let error = |e: dsl::template::TemplateError, syntax| TemplateError {
            kind: kind.name(),
            line: e.line,
            column: e.column,
            message: e.message,
            syntax,
        };
        let mut pieces = dsl::template::parse(src).map_err(|e| error(e, true))?;
        Reads { kind, src }
            .pieces(&mut pieces)
            .map_err(|e| error(e, false))?;
        Ok(Template { kind, pieces })
    }

    /// Renders the template; literal text is copied as written.
    pub fn render(&self, data: &TemplateData<'_>) -> Result<String, RenderError> {
        let mut out = String::new();
        self.render_into(&self.pieces, data, &mut out)?;
        Ok(out)
    }

    fn render_into(
        &self,
        pieces: &[Piece],
        data: &TemplateData<'_>,
        out: &mut String,
    ) -> Result<(), RenderError> {
        for piece in pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Action(a) => {
                    let text = self.eval(a, data)?;
                    if self.kind == TemplateKind::Details {
                        html_escape_into(out, &text);
                    } else {
                        out.push_str(&text);
                    }
                }
                Piece::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let branch = if self.holds(cond, data)? {
                        then
                    } else {
                        otherwise
                    };
                    self.render_into(branch, data, out)?;
                }
            }
        }
        Ok(())
    }

    fn holds(&self, cond: &Cond, data: &TemplateData<'_>) -> Result<bool, RenderError> {
        match cond {
            Cond::Truthy(a) => Ok(truthy(&self.value(a, data)?)),
            Cond::Compare(op, a, b) => {
                let (a, b) = (self.value(a, data)?, self.value(b, data)?);
                let ordering = compare(&a, &b).ok_or_else(|| RenderError {
                    kind: self.kind.name(),
                    message: format!(
                        "incompatible types for comparison: {} and {}",
                        go_print(&a, self.kind, data),
                        go_print(&b, self.kind, data)
                    ),
                })?;
                Ok(match op {
                    CmpOp::Eq => ordering.is_eq(),
                    CmpOp::Ne => ordering.is_ne(),
                    CmpOp::Lt => ordering.is_lt(),
                    CmpOp::Le => ordering.is_le(),
                    CmpOp::Gt => ordering.is_gt(),
                    CmpOp::Ge => ordering.is_ge(),
                })
            }
        }
    }

    /// Whether the template is plain text (rendering it costs nothing).
    pub fn is_literal(&self) -> bool {
        self.pieces.iter().all(|p| matches!(p, Piece::Text(_)))
    }

    /// Whether rendering may read the top-level field `field` (`.` reads
    /// them all), so callers can cache results that cannot change.
    pub fn references(&self, field: &str) -> bool {
        fn arg_reads(a: &Arg, field: &str) -> bool {
            match a {
                Arg::Path { path, .. } => path.first().is_none_or(|f| f == field),
                Arg::Str(_) | Arg::Int(_) => false,
            }
        }
        fn action_reads(a: &Action, field: &str) -> bool {
            match a {
                Action::Print(a) | Action::Json { arg: a, .. } => arg_reads(a, field),
                Action::Index { coll, key, .. } => arg_reads(coll, field) || arg_reads(key, field),
                Action::Printf { arg, .. } => action_reads(arg, field),
            }
        }
        fn pieces_read(pieces: &[Piece], field: &str) -> bool {
            pieces.iter().any(|p| match p {
                Piece::Text(_) => false,
                Piece::Action(a) => action_reads(a, field),
                Piece::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let cond = match cond {
                        Cond::Truthy(a) => action_reads(a, field),
                        Cond::Compare(_, a, b) => action_reads(a, field) || action_reads(b, field),
                    };
                    cond || pieces_read(then, field) || pieces_read(otherwise, field)
                }
            })
        }
        pieces_read(&self.pieces, field)
    }

    /// The value an action yields, for a condition or `printf`.
    fn value<'a>(
        &self,
        action: &'a Action,
        data: &TemplateData<'a>,
    ) -> Result<Val<'a>, RenderError> {
        match action {
            Action::Print(arg) => Ok(resolve(arg, data)),
            Action::Index { coll, key, .. } => self.index(coll, key, data),
            Action::Json { .. } | Action::Printf { .. } => {
                Ok(Val::Str(Cow::Owned(self.eval(action, data)?)))
            }
        }
    }

    fn index<'a>(
        &self,
        coll: &'a Arg,
        key: &'a Arg,
        data: &TemplateData<'a>,
    ) -> Result<Val<'a>, RenderError> {
        let err = |message: String| RenderError {
            kind: self.kind.name(),
            message,
        };
        let key = match resolve(key, data) {
            Val::Str(s) => s,
            other => {
                return Err(err(format!(
                    "index: key must be a string, not {}",
                    go_print(&other, self.kind, data)
                )));
            }
        };
        match resolve(coll, data) {
            // A missing tag indexes to the string zero value, a missing
            // field to a nil interface, as Go's maps do.
            Val::Tags(t) => Ok(Val::Str(Cow::Borrowed(tag(t, &key).unwrap_or("")))),
            Val::Fields(f) => Ok(f.get(&key).map_or(Val::NoValue, Val::Field)),
            other => Err(err(format!(
                "index of untyped value {}",
                go_print(&other, self.kind, data)
            ))),
        }
    }

    fn eval(&self, action: &Action, data: &TemplateData<'_>) -> Result<String, RenderError> {
        match action {
            Action::Print(arg) => Ok(go_print(&resolve(arg, data), self.kind, data)),
            Action::Index { coll, key, .. } => {
                Ok(go_print(&self.index(coll, key, data)?, self.kind, data))
            }
            Action::Printf { format, arg } => {
                Ok(go_printf(format, &self.value(arg, data)?, self.kind, data))
            }
            Action::Json { arg, compact, .. } => {
                let mut out = String::new();
                // Go's encoder fails on NaN and infinities and Kapacitor then
                // renders nothing for the action.
                if json_value(&mut out, &resolve(arg, data), self.kind, data).is_err() {
                    return Ok(String::new());
                }
                if !compact {
                    out.push('\n');
                }
                Ok(out)
            }
        }
    }
}

// ---- what a template may read ----------------------------------------------

/// Refuses, now rather than per event, what Go would fail on when
/// executing a template of `kind`: unknown fields, fields of values that
/// have none, functions the kind lacks. The first in the template is
/// reported. In an order template `.host` becomes `.Tags.host` on the way.
struct Reads<'s> {
    kind: TemplateKind,
    src: &'s str,
}

type Refused = dsl::template::TemplateError;

impl Reads<'_> {
    fn error(&self, at: usize, message: impl Into<String>) -> Refused {
        Refused::at(self.src, at, message)
    }

    fn pieces(&self, pieces: &mut [Piece]) -> Result<(), Refused> {
        for piece in pieces {
            match piece {
                Piece::Text(_) => {}
                Piece::Action(a) => self.action(a)?,
                Piece::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    match cond {
                        Cond::Truthy(a) => self.action(a)?,
                        Cond::Compare(_, a, b) => {
                            self.action(a)?;
                            self.action(b)?;
                        }
                    }
                    self.pieces(then)?;
                    self.pieces(otherwise)?;
                }
            }
        }
        Ok(())
    }

    fn action(&self, action: &mut Action) -> Result<(), Refused> {
        match action {
            Action::Print(arg) => self.arg(arg, None),
            Action::Printf { arg, .. } => self.action(arg),
            Action::Index { coll, key, at } => {
                self.arg(coll, Some(*at))?;
                let map = matches!(coll, Arg::Path { path, .. }
                    if path.len() == 1 && matches!(path[0].as_str(), "Tags" | "Fields"));
                if !map {
                    return Err(self.error(*at, "index works on .Tags or .Fields"));
                }
                self.arg(key, None)
            }
            Action::Json { arg, compact, at } => {
                if self.kind != TemplateKind::Details {
                    let w = if *compact { "jsonCompact" } else { "json" };
                    return Err(self.error(
                        *at,
                        format!("function {w:?} not defined (only the details template has it)"),
                    ));
                }
                self.arg(arg, None)
            }
        }
    }

    /// Checks a path operand, reporting at `at` when given, else at it.
    fn arg(&self, arg: &mut Arg, at: Option<usize>) -> Result<(), Refused> {
        let Arg::Path { path, at: own } = arg else {
            return Ok(());
        };
        let at = at.unwrap_or(*own);
        if self.kind == TemplateKind::Order && path.len() == 1 {
            path.insert(0, "Tags".to_owned());
        }
        let Some(first) = path.first() else {
            return Ok(());
        };
        if !self.kind.allows(first) {
            return Err(self.error(
                at,
                format!(
                    "can't evaluate field {first} in the {} template",
                    self.kind.name()
                ),
            ));
        }
        match (first.as_str(), path.len()) {
            (_, 1) | ("Tags" | "Fields", 2) => Ok(()),
            ("ServerInfo", 2)
                if matches!(path[1].as_str(), "Hostname" | "ClusterID" | "ServerID") =>
            {
                Ok(())
            }
            _ => Err(self.error(
                at,
                format!(
                    "can't evaluate field {} of .{}",
                    path[path.len() - 1],
                    path[..path.len() - 1].join(".")
                ),
            )),
        }
    }
}

fn tag<'a>(tags: &'a Tags, key: &str) -> Option<&'a str> {
    tags.binary_search_by(|(k, _)| (**k).cmp(key))
        .ok()
        .map(|i| &*tags[i].1)
}

// ---- values ---------------------------------------------------------------

enum Val<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Tags(&'a Tags),
    Fields(&'a Fields),
    Field(&'a FieldValue),
    Time(i64),
    Duration(i64),
    ServerInfo(&'a ServerInfo),
    /// `.` itself: the whole template data.
    Dot,
    /// What Go prints as `<no value>`: a missing map key.
    NoValue,
}

fn resolve<'a>(arg: &'a Arg, d: &TemplateData<'a>) -> Val<'a> {
    let path = match arg {
        Arg::Str(s) => return Val::Str(Cow::Borrowed(s)),
        Arg::Int(i) => return Val::Int(*i),
        Arg::Path { path, .. } => path,
    };
    let Some(first) = path.first() else {
        return Val::Dot;
    };
    let v = match first.as_str() {
        "Name" => Val::Str(Cow::Borrowed(d.name)),
        "TaskName" => Val::Str(Cow::Borrowed(d.task_name)),
        "Group" => Val::Str(Cow::Borrowed(d.group)),
        "Tags" => Val::Tags(d.tags),
        "ServerInfo" => Val::ServerInfo(d.server_info),
        "ID" => Val::Str(Cow::Borrowed(d.id)),
        "Fields" => Val::Fields(d.fields),
        "Level" => Val::Str(Cow::Borrowed(d.level.as_str())),
        "Time" => Val::Time(d.time),
        "Duration" => Val::Duration(d.duration),
        "Message" => Val::Str(Cow::Borrowed(d.message)),
        "Count" => Val::Int(d.count),
        "Interval" => Val::Duration(d.duration),
        _ => Val::NoValue,
    };
    match (v, path.get(1)) {
        (v, None) => v,
        (Val::Tags(t), Some(k)) => tag(t, k).map_or(Val::NoValue, |s| Val::Str(Cow::Borrowed(s))),
        (Val::Fields(f), Some(k)) => f.get(k).map_or(Val::NoValue, Val::Field),
        (Val::ServerInfo(s), Some(k)) => Val::Str(Cow::Borrowed(match k.as_str() {
            "Hostname" => &s.hostname,
            "ClusterID" => &s.cluster_id,
            _ => &s.server_id,
        })),
        _ => Val::NoValue,
    }
}

/// Go's truth in `if`: false, 0, nil and empty are false.
fn truthy(v: &Val<'_>) -> bool {
    match v {
        Val::Str(s) => !s.is_empty(),
        Val::Int(i) | Val::Duration(i) => *i != 0,
        Val::Tags(t) => !t.is_empty(),
        Val::Fields(f) => !f.is_empty(),
        Val::Field(f) => match f {
            FieldValue::Float(x) => *x != 0.0,
            FieldValue::Integer(i) => *i != 0,
            FieldValue::Unsigned(u) => *u != 0,
            FieldValue::String(s) => !s.is_empty(),
            FieldValue::Boolean(b) => *b,
        },
        Val::Time(_) | Val::ServerInfo(_) | Val::Dot => true,
        Val::NoValue => false,
    }
}

/// A value as a number or a string, for comparisons.
enum Basic<'a> {
    Num(f64),
    Str(&'a str),
    Bool(bool),
}

fn basic<'a>(v: &'a Val<'_>) -> Option<Basic<'a>> {
    Some(match v {
        Val::Str(s) => Basic::Str(s),
        Val::Int(i) | Val::Duration(i) => Basic::Num(*i as f64),
        Val::Field(FieldValue::Float(x)) => Basic::Num(*x),
        Val::Field(FieldValue::Integer(i)) => Basic::Num(*i as f64),
        Val::Field(FieldValue::Unsigned(u)) => Basic::Num(*u as f64),
        Val::Field(FieldValue::String(s)) => Basic::Str(s),
        Val::Field(FieldValue::Boolean(b)) => Basic::Bool(*b),
        _ => return None,
    })
}

/// `eq`/`lt`/… as Go's templates order basic values; `None` when the two
/// cannot be compared.
fn compare(a: &Val<'_>, b: &Val<'_>) -> Option<std::cmp::Ordering> {
    match (basic(a)?, basic(b)?) {
        (Basic::Num(x), Basic::Num(y)) => x.partial_cmp(&y),
        (Basic::Str(x), Basic::Str(y)) => Some(x.cmp(y)),
        (Basic::Bool(x), Basic::Bool(y)) => Some(x.cmp(&y)),
        _ => None,
    }
}

/// Go's type name of a value, for `%!verb(type=value)`.
fn go_type(v: &Val<'_>) -> &'static str {
    match v {
        Val::Str(_) => "string",
        Val::Int(_) => "int",
        Val::Duration(_) => "time.Duration",
        Val::Time(_) => "time.Time",
        Val::Field(FieldValue::Float(_)) => "float64",
        Val::Field(FieldValue::Integer(_)) => "int64",
        Val::Field(FieldValue::Unsigned(_)) => "uint64",
        Val::Field(FieldValue::String(_)) => "string",
        Val::Field(FieldValue::Boolean(_)) => "bool",
        Val::Tags(_) => "map[string]string",
        Val::Fields(_) => "map[string]interface {}",
        _ => "struct",
    }
}

/// `fmt.Sprintf(format, v)` for one value: flags `-`, `+`, `0`, width,
/// precision, and the verbs `v s d f F e g q x`; a verb that does not fit
/// the value prints as Go prints it, `%!f(string=abc)`.
fn go_printf(format: &str, v: &Val<'_>, kind: TemplateKind, d: &TemplateData<'_>) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut used = false;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero) = (false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        // Widths and precisions beyond this are clamped: a template must
        // not be able to ask for gigabytes of padding.
        const MAX_WIDTH: usize = 1000;
        let mut width = None::<usize>;
        while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = Some((width.unwrap_or(0) * 10 + digit as usize).min(MAX_WIDTH));
            chars.next();
        }
        let mut precision = None::<usize>;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = 0;
            while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
                p = (p * 10 + digit as usize).min(MAX_WIDTH);
                chars.next();
            }
            precision = Some(p);
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        if used {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        }
        used = true;
        let number = match v {
            Val::Field(FieldValue::Float(x)) => Some(*x),
            _ => None,
        };
        let integer = match v {
            Val::Int(i) | Val::Duration(i) | Val::Field(FieldValue::Integer(i)) => Some(*i),
            _ => None,
        };
        let text = match (verb, number, integer) {
            ('v' | 's', _, _) => go_print(v, kind, d),
            ('d', _, Some(i)) => i.to_string(),
            ('x', _, Some(i)) => format!("{i:x}"),
            ('f' | 'F', Some(x), _) => format!("{x:.*}", precision.unwrap_or(6)),
            ('e', Some(x), _) => {
                let s = format!("{x:.*e}", precision.unwrap_or(6));
                // Rust writes `1.5e2`, Go `1.5e+02`.
                match s.split_once('e') {
                    Some((m, e)) => {
                        let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                        format!("{m}e{sign}{digits:0>2}")
                    }
                    None => s,
                }
            }
            ('g', Some(x), _) => go_float(x),
            ('q', _, _) => {
                let mut q = String::new();
                go_json_string(&mut q, &go_print(v, kind, d));
                q
            }
            (verb, _, _) if matches!(v, Val::NoValue) => format!("%!{verb}(<nil>)"),
            (verb, _, _) => format!("%!{verb}({}={})", go_type(v), go_print(v, kind, d)),
        };
        let text = if plus && (number.is_some_and(|x| x >= 0.0) || integer.is_some_and(|i| i >= 0))
        {
            format!("+{text}")
        } else {
            text
        };
        let pad = width.unwrap_or(0).saturating_sub(text.chars().count());
        if minus {
            out.push_str(&text);
            out.extend(std::iter::repeat_n(' ', pad));
        } else if zero && (number.is_some() || integer.is_some()) {
            let (sign, digits) = match text.strip_prefix(['-', '+']) {
                Some(rest) => (&text[..1], rest),
                None => ("", text.as_str()),
            };
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', pad));
            out.push_str(digits);
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&text);
        }
    }
    if !used && !matches!(v, Val::NoValue) {
        let _ = write!(out, "%!(EXTRA {}={})", go_type(v), go_print(v, kind, d));
    }
    out
}

/// `fmt.Sprint(v)` for the values templates can reach.
fn go_print(v: &Val<'_>, kind: TemplateKind, d: &TemplateData<'_>) -> String {
    let mut out = String::new();
    match v {
        Val::Str(s) => out.push_str(s),
        Val::Int(i) => out.push_str(&i.to_string()),
        Val::Tags(t) => print_tags(&mut out, t),
        Val::Fields(f) => print_fields(&mut out, f),
        Val::Field(f) => print_field(&mut out, f),
        Val::Time(t) => out.push_str(&go_time(*t)),
        Val::Duration(ns) => out.push_str(&go_duration(*ns)),
        Val::ServerInfo(s) => {
            let _ = write!(out, "{{{} {} {}}}", s.hostname, s.cluster_id, s.server_id);
        }
        Val::NoValue => out.push_str("<no value>"),
        Val::Dot => {
            // Go prints the nested structs Kapacitor passes:
            // detailsInfo{messageInfo{idInfo{..}, ..}, Message}.
            let mut id_info = String::new();
            let _ = write!(id_info, "{{{} {} {} ", d.name, d.task_name, d.group);
            print_tags(&mut id_info, d.tags);
            let s = d.server_info;
            let _ = write!(
                id_info,
                " {{{} {} {}}}}}",
                s.hostname, s.cluster_id, s.server_id
            );
            if kind == TemplateKind::Id {
                return id_info;
            }
            let mut msg_info = format!("{{{id_info} {} ", d.id);
            print_fields(&mut msg_info, d.fields);
            let _ = write!(
                msg_info,
                " {} {} {}}}",
                d.level.as_str(),
                go_time(d.time),
                go_duration(d.duration)
            );
            if kind == TemplateKind::Message {
                return msg_info;
            }
            let _ = write!(out, "{{{msg_info} {}}}", d.message);
        }
    }
    out
}

fn print_tags(out: &mut String, tags: &Tags) {
    out.push_str("map[");
    for (i, (k, v)) in tags.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{k}:{v}");
    }
    out.push(']');
}

/// Go's fmt sorts map keys when printing.
fn sorted_fields(fields: &Fields) -> Vec<(&crate::point::Name, &FieldValue)> {
    let mut pairs: Vec<_> = fields.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs
}

fn print_fields(out: &mut String, fields: &Fields) {
    out.push_str("map[");
    for (i, (k, v)) in sorted_fields(fields).into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{k}:");
        print_field(out, v);
    }
    out.push(']');
}

fn print_field(out: &mut String, v: &FieldValue) {
    match v {
        FieldValue::Float(f) => out.push_str(&go_float(*f)),
        FieldValue::Integer(i) => out.push_str(&i.to_string()),
        FieldValue::Unsigned(u) => out.push_str(&u.to_string()),
        FieldValue::String(s) => out.push_str(s),
        FieldValue::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
    }
}

/// Splits `f` (finite, non-zero) into its shortest decimal digits and the
/// exponent of the first digit, as `d.ddd × 10^exp`.
fn shortest_digits(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    (mantissa.replace('.', ""), exp.parse().unwrap_or(0))
}

fn exp_form(f: f64, min_exp_digits: usize) -> String {
    let (digits, exp) = shortest_digits(f);
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    let _ = write!(
        out,
        "e{}{:0width$}",
        if exp < 0 { '-' } else { '+' },
        exp.unsigned_abs(),
        width = min_exp_digits
    );
    out
}

/// A float as Go's `%v` prints it: shortest digits, exponent form when the
/// exponent is below -4 or at least 6 (`1e+06`, `1.5e-05`).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (_, exp) = shortest_digits(f);
    if !(-4..6).contains(&exp) {
        exp_form(f, 2)
    } else {
        format!("{f}")
    }
}

/// A float as Go's `encoding/json` writes it: plain unless tiny or huge.
/// `None` for NaN and infinities, which Go refuses to encode.
pub fn go_json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        Some(exp_form(f, 1))
    } else if f == 0.0 {
        Some(if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        })
    } else {
        Some(format!("{f}"))
    }
}

/// `time.Time.String()` for a UTC time: `1971-01-01 00:00:10.5 +0000 UTC`.
pub fn go_time(ns: i64) -> String {
    let rfc = format_rfc3339(ns);
    let body = rfc.strip_suffix('Z').unwrap_or(&rfc);
    format!("{} +0000 UTC", body.replacen('T', " ", 1))
}

/// `time.Duration.String()`: `0s`, `1.5s`, `1m0s`, `1h2m3s`, `250ms`, `1µs`.
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (scale, unit) = match u {
            0..1_000 => (0, "ns"),
            1_000..1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        out.push_str(&frac(u, scale));
        out.push_str(unit);
    } else {
        let secs = u / 1_000_000_000;
        let sub = u % 1_000_000_000;
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        if h > 0 {
            let _ = write!(out, "{h}h");
        }
        if h > 0 || m > 0 {
            let _ = write!(out, "{m}m");
        }
        out.push_str(&frac(s * 1_000_000_000 + sub, 9));
        out.push('s');
    }
    if neg { format!("-{out}") } else { out }
}

/// `v / 10^scale` with the fraction's trailing zeros dropped.
fn frac(v: u64, scale: u32) -> String {
    let div = 10u64.pow(scale);
    let (int, rem) = (v / div, v % div);
    if rem == 0 {
        return int.to_string();
    }
    let digits = format!("{rem:0width$}", width = scale as usize);
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// A JSON string as Go's `encoding/json` writes it (HTML characters escaped).
pub fn go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

struct Unencodable;

fn json_field(out: &mut String, v: &FieldValue) -> Result<(), Unencodable> {
    match v {
        FieldValue::Float(f) => out.push_str(&go_json_float(*f).ok_or(Unencodable)?),
        FieldValue::Integer(i) => out.push_str(&i.to_string()),
        FieldValue::Unsigned(u) => out.push_str(&u.to_string()),
        FieldValue::String(s) => go_json_string(out, s),
        FieldValue::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
    }
    Ok(())
}

fn json_tags(out: &mut String, tags: &Tags) {
    out.push('{');
    for (i, (k, v)) in tags.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_json_string(out, k);
        out.push(':');
        go_json_string(out, v);
    }
    out.push('}');
}

fn json_fields(out: &mut String, fields: &Fields) -> Result<(), Unencodable> {
    out.push('{');
    for (i, (k, v)) in sorted_fields(fields).into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_json_string(out, k);
        out.push(':');
        json_field(out, v)?;
    }
    out.push('}');
    Ok(())
}

fn json_server_info(out: &mut String, s: &ServerInfo) {
    out.push_str("{\"Hostname\":");
    go_json_string(out, &s.hostname);
    out.push_str(",\"ClusterID\":");
    go_json_string(out, &s.cluster_id);
    out.push_str(",\"ServerID\":");
    go_json_string(out, &s.server_id);
    out.push('}');
}

/// `json.Marshal(v)` for template values; `.` marshals Kapacitor's
/// flattened info struct, keys in its field order.
fn json_value(
    out: &mut String,
    v: &Val<'_>,
    kind: TemplateKind,
    d: &TemplateData<'_>,
) -> Result<(), Unencodable> {
    match v {
        Val::Str(s) => go_json_string(out, s),
        Val::Int(i) => out.push_str(&i.to_string()),
        Val::Tags(t) => json_tags(out, t),
        Val::Fields(f) => json_fields(out, f)?,
        Val::Field(f) => json_field(out, f)?,
        Val::Time(t) => go_json_string(out, &format_rfc3339(*t)),
        Val::Duration(ns) => out.push_str(&ns.to_string()),
        Val::ServerInfo(s) => json_server_info(out, s),
        Val::NoValue => out.push_str("null"),
        Val::Dot => {
            out.push_str("{\"Name\":");
            go_json_string(out, d.name);
            out.push_str(",\"TaskName\":");
            go_json_string(out, d.task_name);
            out.push_str(",\"Group\":");
            go_json_string(out, d.group);
            out.push_str(",\"Tags\":");
            json_tags(out, d.tags);
            out.push_str(",\"ServerInfo\":");
            json_server_info(out, d.server_info);
            if kind != TemplateKind::Id {
                out.push_str(",\"ID\":");
                go_json_string(out, d.id);
                out.push_str(",\"Fields\":");
                json_fields(out, d.fields)?;
                out.push_str(",\"Level\":");
                go_json_string(out, d.level.as_str());
                out.push_str(",\"Time\":");
                go_json_string(out, &format_rfc3339(d.time));
                let _ = write!(out, ",\"Duration\":{}", d.duration);
            }
            if kind == TemplateKind::Details {
                out.push_str(",\"Message\":");
                go_json_string(out, d.message);
            }
            out.push('}');
        }
    }
    Ok(())
}

/// What `html/template` does to an action's output in HTML text.
fn html_escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '+' => out.push_str("&#43;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::point::Name;

    fn tags() -> Tags {
        Tags::from([
            (Name::from("host"), Name::from("serverA")),
            (Name::from("type"), Name::from("idle")),
        ])
    }

    fn fields() -> Fields {
        Fields::from_pairs([
            (Name::from("value"), FieldValue::Float(1_000_000.0)),
            (Name::from("count"), FieldValue::Integer(10)),
        ])
    }

    fn render(kind: TemplateKind, src: &str) -> Result<String, String> {
        let (t, f, si) = (tags(), fields(), ServerInfo::default());
        let data = TemplateData {
            name: "cpu",
            task_name: "task",
            group: "nil",
            tags: &t,
            server_info: &si,
            id: "cpu:nil",
            fields: &f,
            level: Level::Critical,
            time: 31_536_010_500_000_000,
            duration: 90_000_000_000,
            message: "it's <bad> & \"ugly\"",
            count: 0,
        };
        let tmpl = Template::parse(kind, src).map_err(|e| e.to_string())?;
        tmpl.render(&data).map_err(|e| e.to_string())
    }

    #[test]
    fn aggregate_messages_see_count_and_interval_only() {
        let t = Template::parse(
            TemplateKind::Aggregate,
            "{{.Count}} new events in the last {{.Interval}}",
        )
        .unwrap();
        let text = t
            .render(&TemplateData::of_aggregate(3, 300_000_000_000))
            .unwrap();
        assert_eq!(text, "3 new events in the last 5m0s");
        let e = Template::parse(TemplateKind::Aggregate, "{{ .Level }}").unwrap_err();
        assert!(e.to_string().contains("can't evaluate field Level"), "{e}");
    }

    proptest::proptest! {
        /// Whatever a user writes, parsing and rendering give a result or
        /// an error, never a panic: templates come from scripts.
        #[test]
        fn any_template_parses_and_renders_without_panicking(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "{{", "}}", "{{-", " -}}", " ", "if", "else", "end", "eq", "ne", "lt",
                    ".Level", ".ID", ".Tags", ".Fields", ".Tags.host", ".Time", ".Duration",
                    "index", "printf", "|", "\"%0.2f\"", "\"%d%s%v%%\"", "\"%\"", "\"OK\"",
                    "1", "-3", "json", ".", "/*", "*/", "x", "\"", "`", "(", "$",
                    "\"%99999999999999999999d\"", "\"%.99999999999f\"",
                ]),
                0..24,
            ),
            kind in proptest::sample::select(vec![TemplateKind::Id, TemplateKind::Message, TemplateKind::Details]),
        ) {
            let src: String = pieces.concat();
            let _ = render(kind, &src);
        }
    }

    #[test]
    fn if_else_comparisons_and_printf() {
        let m = |src| render(TemplateKind::Message, src);
        assert_eq!(
            m(r#"{{ .ID }} is {{ if eq .Level "OK" }}alive{{ else }}dead{{ end }}: {{ index .Fields "value" | printf "%0.3f" }} points/10s."#)
                .unwrap(),
            "cpu:nil is dead: 1000000.000 points/10s."
        );
        assert_eq!(
            m(r#"{{ if ne .Level "OK" }}bad{{ end }}."#).unwrap(),
            "bad."
        );
        assert_eq!(
            m(r#"{{ if .Tags.nope }}x{{ else }}y{{ end }}"#).unwrap(),
            "y"
        );
        assert_eq!(
            m(r#"{{ if gt .Fields.count 5 }}{{ if lt .Fields.count 20 }}mid{{ end }}{{ end }}"#)
                .unwrap(),
            "mid"
        );
        assert_eq!(
            m(r#"{{ printf "%5.1f|%-4d|%s" .Fields.value }}"#).unwrap(),
            "1000000.0|%!d(MISSING)|%!s(MISSING)"
        );
        assert_eq!(
            m(r#"[{{ printf "%04d" .Fields.count }}]"#).unwrap(),
            "[0010]"
        );
        assert_eq!(
            m(r#"{{ printf "%.2f" .Fields.count }}"#).unwrap(),
            "%!f(int64=10)"
        );
        assert_eq!(
            m(r#"{{ printf "%e" .Fields.value }}"#).unwrap(),
            "1.000000e+06"
        );
        let huge =
            m(r#"{{ printf "%99999999999999999999999.99999999999999999999f" .Fields.value }}"#)
                .unwrap();
        assert_eq!(
            huge.len(),
            1008,
            "1000000. and 1000 digits: width and precision are clamped"
        );
        assert_eq!(
            m(r#"{{ if eq .Level 1 }}{{ end }}"#).unwrap_err(),
            "message template: incompatible types for comparison: CRITICAL and 1"
        );
        let deep = "{{ if .Level }}".repeat(101);
        assert_eq!(
            m(&deep).unwrap_err(),
            "message template 1:1501: ifs nested more than 100 deep"
        );
        for (src, err) in [
            (
                "{{ if .Level }}x",
                "message template 1:1: unexpected EOF: {{ if }} without {{ end }}",
            ),
            ("x{{ end }}", "message template 1:2: unexpected {{ end }}"),
            ("{{ else }}", "message template 1:1: unexpected {{ else }}"),
            (
                "{{ .Level | index }}",
                "message template 1:13: only printf \"FORMAT\" may follow | in a pipeline",
            ),
            (
                "{{ if eq .Level }}{{ end }}",
                "message template 1:7: a comparison takes two values, as in {{ if eq .Level \"OK\" }}",
            ),
        ] {
            assert_eq!(m(src).unwrap_err(), err, "{src}");
        }
    }

    #[test]
    fn renders_kapacitor_defaults_and_index() {
        assert_eq!(
            render(TemplateKind::Id, "{{ .Name }}:{{ .Group }}").unwrap(),
            "cpu:nil"
        );
        assert_eq!(
            render(
                TemplateKind::Id,
                "kapacitor/{{ .Name }}/{{ index .Tags \"host\" }}"
            )
            .unwrap(),
            "kapacitor/cpu/serverA"
        );
        assert_eq!(
            render(TemplateKind::Message, "{{ .ID }} is {{ .Level }}").unwrap(),
            "cpu:nil is CRITICAL"
        );
        assert_eq!(
            render(TemplateKind::Message, "{{ index .Tags \"nope\" }}|").unwrap(),
            "|"
        );
        assert_eq!(
            render(TemplateKind::Message, "{{ index .Fields \"nope\" }}").unwrap(),
            "<no value>"
        );
        assert_eq!(
            render(
                TemplateKind::Message,
                "{{ .Tags.host }} {{ .Fields.count }}"
            )
            .unwrap(),
            "serverA 10"
        );
    }

    #[test]
    fn prints_values_as_go_fmt_does() {
        assert_eq!(
            render(
                TemplateKind::Message,
                "{{ .Time }} / {{ .Duration }} / {{ .Fields }} / {{ .Tags }}"
            )
            .unwrap(),
            "1971-01-01 00:00:10.5 +0000 UTC / 1m30s / map[count:10 value:1e+06] / map[host:serverA type:idle]"
        );
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(123456.7), "123456.7");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001234), "1.234e-05");
        assert_eq!(go_float(-2.0), "-2");
        assert_eq!(go_float(2.469916402324427), "2.469916402324427");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(250_000_000), "250ms");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(-7), "-7ns");
        assert_eq!(go_json_float(1e21).as_deref(), Some("1e+21"));
        assert_eq!(go_json_float(1e-7).as_deref(), Some("1e-7"));
        assert_eq!(go_json_float(10.0).as_deref(), Some("10"));
        assert_eq!(go_json_float(f64::NAN), None);
    }

    #[test]
    fn details_is_html_escaped_and_json_is_kapacitors_struct() {
        assert_eq!(
            render(TemplateKind::Details, "<b>{{ .Message }}</b>").unwrap(),
            "<b>it&#39;s &lt;bad&gt; &amp; &#34;ugly&#34;</b>"
        );
        let json = render(TemplateKind::Details, "{{ jsonCompact . }}").unwrap();
        let unescaped = json
            .replace("&#34;", "\"")
            .replace("&amp;", "&")
            .replace("&#39;", "'");
        let v: serde_json::Value = serde_json::from_str(&unescaped).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(v["Fields"]["value"], 1_000_000.0);
        assert_eq!(v["Time"], "1971-01-01T00:00:10.5Z");
        assert_eq!(v["Duration"], 90_000_000_000i64);
        assert_eq!(v["Message"], "it's <bad> & \"ugly\"");
        assert!(
            json.starts_with("{&#34;Name&#34;:&#34;cpu&#34;,&#34;TaskName&#34;"),
            "{json}"
        );
        assert!(
            unescaped.contains("\\u003cbad\\u003e"),
            "Go's encoder escapes HTML: {unescaped}"
        );
        assert_eq!(keys.len(), 11);
        assert!(
            render(TemplateKind::Details, "{{ json . }}")
                .unwrap()
                .ends_with('\n')
        );
    }

    #[test]
    fn trims_whitespace_and_skips_comments() {
        assert_eq!(
            render(TemplateKind::Id, "a  {{- .Name -}}  \n b").unwrap(),
            "acpub"
        );
        assert_eq!(
            render(TemplateKind::Id, "a {{/* note */}} b").unwrap(),
            "a  b"
        );
        assert_eq!(
            render(TemplateKind::Id, "a {{- /* note */ -}} b").unwrap(),
            "ab"
        );
        assert_eq!(
            render(TemplateKind::Id, "plain text").unwrap(),
            "plain text"
        );
        assert_eq!(
            render(TemplateKind::Id, "{{ `raw` }}{{ \"q\\\"\" }}").unwrap(),
            "rawq\""
        );
    }

    #[test]
    fn refuses_unsupported_syntax_with_position() {
        let err = |kind, src| Template::parse(kind, src).unwrap_err().to_string();
        assert_eq!(
            err(TemplateKind::Id, "x\n  {{ range .Name }}"),
            "id template 2:6: unsupported action \"range\""
        );
        assert_eq!(
            err(TemplateKind::Id, "{{ .Level }}"),
            "id template 1:4: can't evaluate field Level in the id template"
        );
        assert_eq!(
            err(TemplateKind::Message, "{{ .Message }}"),
            "message template 1:4: can't evaluate field Message in the message template"
        );
        assert_eq!(
            err(TemplateKind::Message, "{{ json . }}"),
            "message template 1:4: function \"json\" not defined (only the details template has it)"
        );
        assert_eq!(
            err(TemplateKind::Id, "{{ .Name | printf }}"),
            "id template 1:12: only printf \"FORMAT\" may follow | in a pipeline"
        );
        assert_eq!(
            err(TemplateKind::Id, "{{ .Name "),
            "id template 1:1: unclosed action: missing }}"
        );
        assert_eq!(
            err(TemplateKind::Id, "{{ .Name.x }}"),
            "id template 1:4: can't evaluate field x of .Name"
        );
        assert_eq!(
            err(TemplateKind::Id, "{{ index .Name \"x\" }}"),
            "id template 1:4: index works on .Tags or .Fields"
        );
        assert_eq!(
            err(TemplateKind::Id, "{{ }}"),
            "id template 1:1: missing value for command"
        );
        assert_eq!(
            err(TemplateKind::Id, "{{ $x }}"),
            "id template 1:4: variables ($) are not supported"
        );
    }
}
