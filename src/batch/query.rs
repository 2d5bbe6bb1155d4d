//! A batch task's InfluxQL, checked once and rewritten for each run as
//! Kapacitor does: the run's time range is ANDed into the `WHERE`, the
//! `GROUP BY` becomes the query node's `.groupBy()` (time bucket and tags),
//! and `.fill()` sets the fill.
//!
//! There is no full InfluxQL parser here: a small lexer that knows strings,
//! quoted identifiers, regexes and parentheses finds the statement's
//! top-level clauses, and the statement is put back together from them, so
//! what the user wrote (expressions, functions, regexes) reaches InfluxDB
//! byte for byte. InfluxDB itself reports errors inside the clauses.

use std::fmt::Write as _;

/// A checked `SELECT`, ready to be given a time range.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryTemplate {
    /// `SELECT … FROM …` up to the first clause after `FROM`.
    head: String,
    /// What `FROM` names, as written.
    source: String,
    /// The `WHERE` condition as written, if any.
    condition: Option<String>,
    /// The `GROUP BY` dimensions as written, if any.
    group_by: Option<String>,
    /// `fill(…)` as written, if any.
    fill: Option<String>,
    /// `ORDER BY`, `LIMIT`, `OFFSET`, `SLIMIT`, `SOFFSET`, `tz()`, in order.
    tail: String,
}

/// A `GROUP BY time(…)` bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeBucket {
    pub every: i64,
    pub offset: i64,
}

/// What `.groupBy()` and `.fill()` of a query node (or the YAML `group_by`)
/// make of the statement.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grouping {
    /// `Some`: the node's `.groupBy()` replaces the query's own `GROUP BY`
    /// (as in Kapacitor); `None`: the query's own is kept.
    pub tags: Option<Vec<GroupTag>>,
    pub time: Option<TimeBucket>,
    /// `.fill()`: `null`, `none`, `previous`, `linear` or a number.
    pub fill: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum GroupTag {
    Tag(String),
    /// `*`: every tag.
    Star,
}

/// Why a query was refused, with where (1-based line and column).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("query {line}:{col}: {message}")]
pub struct QueryError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok {
    Word,
    Str,
    Ident,
    Regex,
    Open,
    Close,
    Semicolon,
    Other,
}

struct Token {
    kind: Tok,
    start: usize,
    end: usize,
}

fn error_at(text: &str, at: usize, message: impl Into<String>) -> QueryError {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    QueryError {
        line,
        col,
        message: message.into(),
    }
}

/// Splits `text` into tokens, whitespace and comments left out.
fn lex(text: &str) -> Result<Vec<Token>, QueryError> {
    let b = text.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let kind = match c {
            b'\'' | b'"' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None => {
                            let what = if c == b'\'' { "string" } else { "identifier" };
                            return Err(error_at(text, start, format!("unterminated {what}")));
                        }
                        Some(b'\\') => i += 2,
                        Some(&d) if d == c => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                if c == b'\'' { Tok::Str } else { Tok::Ident }
            }
            b'/' if regex_may_start(text, &out) => {
                i += 1;
                loop {
                    match b.get(i) {
                        None | Some(b'\n') => {
                            return Err(error_at(text, start, "unterminated regex"));
                        }
                        Some(b'\\') => i += 2,
                        Some(b'/') => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                Tok::Regex
            }
            b'(' => {
                i += 1;
                Tok::Open
            }
            b')' => {
                i += 1;
                Tok::Close
            }
            b';' => {
                i += 1;
                Tok::Semicolon
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                {
                    i += 1;
                }
                Tok::Word
            }
            _ => {
                // One character of an operator or punctuation; UTF-8 is
                // handled above, so this is ASCII.
                i += 1;
                Tok::Other
            }
        };
        out.push(Token {
            kind,
            start,
            end: i.min(b.len()),
        });
    }
    Ok(out)
}

/// Whether a `/` here opens a regex: after `=~`/`!~`, and in `FROM` after
/// `FROM`, `.` or `,` (elsewhere it divides).
fn regex_may_start(text: &str, before: &[Token]) -> bool {
    let Some(last) = before.last() else {
        return false;
    };
    let last_text = &text[last.start..last.end];
    if last_text == "~" {
        return true;
    }
    if last_text.eq_ignore_ascii_case("from") {
        return true;
    }
    if last_text == "," || last_text == "." {
        // In FROM: the nearest clause word before is FROM.
        return before
            .iter()
            .rev()
            .filter(|t| t.kind == Tok::Word)
            .map(|t| &text[t.start..t.end])
            .find(|w| {
                ["from", "select", "where", "group"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k))
            })
            .is_some_and(|w| w.eq_ignore_ascii_case("from"));
    }
    false
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Clause {
    Select,
    Into,
    From,
    Where,
    GroupBy,
    Fill,
    Tail,
}

impl QueryTemplate {
    /// Checks that `text` is one `SELECT … FROM …` statement, as a batch
    /// query must be.
    pub fn parse(text: &str) -> Result<QueryTemplate, QueryError> {
        let tokens = lex(text)?;
        let word = |t: &Token| (t.kind == Tok::Word).then(|| &text[t.start..t.end]);
        let Some(first) = tokens.first() else {
            return Err(error_at(text, 0, "empty query; expected SELECT … FROM …"));
        };
        if !word(first).is_some_and(|w| w.eq_ignore_ascii_case("select")) {
            return Err(error_at(
                text,
                first.start,
                format!(
                    "a batch query must be a single SELECT statement, not `{}`",
                    &text[first.start..first.end]
                ),
            ));
        }
        // Clause starts at depth 0: (clause, index of its first token).
        let mut clauses: Vec<(Clause, usize, usize)> = vec![(Clause::Select, 0, first.start)];
        let mut depth: i64 = 0;
        for (n, t) in tokens.iter().enumerate() {
            match t.kind {
                Tok::Open => depth += 1,
                Tok::Close => {
                    depth -= 1;
                    if depth < 0 {
                        return Err(error_at(text, t.start, "unbalanced `)`"));
                    }
                }
                Tok::Semicolon => {
                    if let Some(next) = tokens.get(n + 1) {
                        return Err(error_at(
                            text,
                            next.start,
                            "a batch query must be a single SELECT statement; found more after `;`",
                        ));
                    }
                }
                _ => {}
            }
            if depth != 0 || n == 0 {
                continue;
            }
            let Some(w) = word(t) else { continue };
            let next_is = |s: &str| {
                tokens
                    .get(n + 1)
                    .is_some_and(|u| text[u.start..u.end].eq_ignore_ascii_case(s))
            };
            let clause = match w.to_ascii_lowercase().as_str() {
                "into" => Some(Clause::Into),
                "from" => Some(Clause::From),
                "where" => Some(Clause::Where),
                "group" if next_is("by") => Some(Clause::GroupBy),
                "fill" if next_is("(") => Some(Clause::Fill),
                "order" if next_is("by") => Some(Clause::Tail),
                "limit" | "offset" | "slimit" | "soffset" => Some(Clause::Tail),
                "tz" if next_is("(") => Some(Clause::Tail),
                "select" => {
                    return Err(error_at(
                        text,
                        t.start,
                        "subqueries and several SELECTs are not supported in a batch query",
                    ));
                }
                _ => None,
            };
            if let Some(c) = clause {
                if c != Clause::Tail && clauses.iter().any(|(d, _, _)| *d == c) {
                    return Err(error_at(text, t.start, format!("`{w}` given twice")));
                }
                clauses.push((c, n, t.start));
            }
        }
        if depth > 0 {
            return Err(error_at(text, text.len(), "unbalanced `(`"));
        }
        if let Some(&(_, _, at)) = clauses.iter().find(|(c, _, _)| *c == Clause::Into) {
            return Err(error_at(
                text,
                at,
                "SELECT … INTO is not allowed in a batch query",
            ));
        }
        let Some(from) = clauses.iter().position(|(c, _, _)| *c == Clause::From) else {
            return Err(error_at(text, text.len(), "expected FROM"));
        };
        if from != 1 {
            let (_, _, at) = clauses[1];
            return Err(error_at(text, at, "expected FROM before this"));
        }
        // A clause's text runs to the next clause (or the end, `;` left out).
        let end_of_statement = tokens
            .iter()
            .rev()
            .find(|t| t.kind != Tok::Semicolon)
            .map_or(text.len(), |t| t.end);
        let span = |i: usize| -> &str {
            let start = clauses[i].2;
            let end = clauses.get(i + 1).map_or(end_of_statement, |c| c.2);
            text[start..end].trim()
        };
        let mut head_end = clauses.len();
        let mut t = QueryTemplate {
            head: String::new(),
            source: String::new(),
            condition: None,
            group_by: None,
            fill: None,
            tail: String::new(),
        };
        for (i, &(c, n, at)) in clauses.iter().enumerate() {
            let body = span(i);
            match c {
                Clause::From => {
                    t.source = body[4..].trim().to_string();
                    continue;
                }
                Clause::Select | Clause::Into => continue,
                Clause::Where => {
                    t.condition = Some(body[5..].trim().to_string());
                }
                Clause::GroupBy => {
                    let after_by = tokens[n + 1].end - at;
                    t.group_by = Some(body[after_by..].trim().to_string());
                }
                Clause::Fill => t.fill = Some(body.to_string()),
                Clause::Tail => {
                    if !t.tail.is_empty() {
                        t.tail.push(' ');
                    }
                    t.tail.push_str(body);
                }
            }
            head_end = head_end.min(i);
            if matches!(c, Clause::Where | Clause::GroupBy)
                && body.split_whitespace().count() < 2 + usize::from(c == Clause::GroupBy)
            {
                return Err(error_at(
                    text,
                    at,
                    format!(
                        "empty {} clause",
                        if c == Clause::Where {
                            "WHERE"
                        } else {
                            "GROUP BY"
                        }
                    ),
                ));
            }
        }
        let head_end_at = clauses.get(head_end).map_or(end_of_statement, |c| c.2);
        t.head = text[..head_end_at].trim().to_string();
        Ok(t)
    }

    /// The database and retention policy of a query that reads one
    /// measurement and names both (`FROM "telegraf"."autogen".cpu`).
    pub fn source_dbrp(&self) -> Option<pipeline::DbRp> {
        if split_top_level(&self.source).len() != 1 {
            return None;
        }
        let parts = split_on_dots(&self.source);
        match parts.as_slice() {
            [db, rp, _] if !db.is_empty() && !rp.is_empty() => {
                Some(pipeline::DbRp::new(db.as_str(), rp.as_str()))
            }
            _ => None,
        }
    }

    /// Whether the query as written groups by `time(…)`.
    pub fn own_group_by(&self) -> Option<&str> {
        self.group_by.as_deref()
    }

    /// The statement for the range `[start, stop)` (ns), grouped and
    /// filled as `grouping` says.
    pub fn render(&self, start: i64, stop: i64, grouping: &Grouping) -> String {
        let mut q = self.head.clone();
        let range = format!(
            "time >= '{}' AND time < '{}'",
            pipeline::time::format_rfc3339(start),
            pipeline::time::format_rfc3339(stop)
        );
        match &self.condition {
            Some(c) => {
                let _ = write!(q, " WHERE ({c}) AND {range}");
            }
            None => {
                let _ = write!(q, " WHERE {range}");
            }
        }
        let mut dims: Vec<String> = Vec::new();
        if let Some(b) = grouping.time {
            dims.push(if b.offset != 0 {
                format!(
                    "time({}, {})",
                    influxql_duration(b.every),
                    influxql_duration(b.offset)
                )
            } else {
                format!("time({})", influxql_duration(b.every))
            });
        }
        match &grouping.tags {
            Some(tags) => {
                for tag in tags {
                    dims.push(match tag {
                        GroupTag::Star => "*".to_string(),
                        GroupTag::Tag(t) => quote_ident(t),
                    });
                }
            }
            None => {
                if let Some(own) = &self.group_by {
                    if grouping.time.is_some() {
                        // The bucket given beside the query replaces one of
                        // its own: keep the query's other dimensions.
                        dims.extend(
                            split_top_level(own)
                                .into_iter()
                                .filter(|d| !d.to_ascii_lowercase().starts_with("time("))
                                .map(str::to_string),
                        );
                    } else {
                        dims.push(own.clone());
                    }
                }
            }
        }
        if !dims.is_empty() {
            let _ = write!(q, " GROUP BY {}", dims.join(", "));
        }
        match (&grouping.fill, &self.fill) {
            (Some(f), _) => {
                let _ = write!(q, " fill({f})");
            }
            (None, Some(own)) => {
                let _ = write!(q, " {own}");
            }
            (None, None) => {}
        }
        if !self.tail.is_empty() {
            q.push(' ');
            q.push_str(&self.tail);
        }
        q
    }
}

/// `a, time(1m), "b"` split at the top-level commas.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut quote) = (0i32, 0, None);
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(_) if c == b'\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'"' | b'\'' => quote = Some(c),
                b'(' => depth += 1,
                b')' => depth -= 1,
                b',' if depth == 0 => {
                    out.push(text[start..i].trim());
                    start = i + 1;
                }
                _ => {}
            },
        }
        i += 1;
    }
    out.push(text[start..].trim());
    out.retain(|d| !d.is_empty());
    out
}

/// `"my.db".rp.cpu` as its names, unquoted: `my.db`, `rp`, `cpu`.
fn split_on_dots(text: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = text.trim().chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        let part = out.last_mut().expect("never empty");
        match c {
            '\\' if quoted => part.extend(chars.next()),
            '"' => quoted = !quoted,
            '.' if !quoted => out.push(String::new()),
            c => part.push(c),
        }
    }
    out
}

/// A double-quoted InfluxQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `ns` as an InfluxQL duration literal, in the largest exact unit.
pub use dsl::lambda::format_duration as influxql_duration;

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const T0: i64 = 1_700_000_000 * S;

    fn render(q: &str, g: &Grouping) -> String {
        QueryTemplate::parse(q).unwrap().render(T0, T0 + 60 * S, g)
    }

    const RANGE: &str = "time >= '2023-11-14T22:13:20Z' AND time < '2023-11-14T22:14:20Z'";

    #[test]
    fn the_time_range_is_injected() {
        assert_eq!(
            render(
                "select mean(value) from \"db\".\"autogen\".cpu",
                &Grouping::default()
            ),
            format!("select mean(value) from \"db\".\"autogen\".cpu WHERE {RANGE}")
        );
        assert_eq!(
            render(
                "SELECT max(v) FROM cpu WHERE host = 'a' OR host = 'b'",
                &Grouping::default()
            ),
            format!("SELECT max(v) FROM cpu WHERE (host = 'a' OR host = 'b') AND {RANGE}")
        );
    }

    #[test]
    fn group_by_time_and_tags_and_fill_come_from_the_node() {
        let g = Grouping {
            tags: Some(vec![
                GroupTag::Tag("host".into()),
                GroupTag::Tag("dc".into()),
            ]),
            time: Some(TimeBucket {
                every: 10 * S,
                offset: 0,
            }),
            fill: Some("0".into()),
        };
        assert_eq!(
            render("SELECT mean(value) FROM cpu GROUP BY region", &g),
            format!(
                "SELECT mean(value) FROM cpu WHERE {RANGE} GROUP BY time(10s), \"host\", \"dc\" fill(0)"
            )
        );
        let g = Grouping {
            tags: Some(vec![GroupTag::Star]),
            time: Some(TimeBucket {
                every: 60 * S,
                offset: 15 * S,
            }),
            fill: None,
        };
        assert_eq!(
            render("SELECT mean(value) FROM cpu LIMIT 10", &g),
            format!("SELECT mean(value) FROM cpu WHERE {RANGE} GROUP BY time(1m, 15s), * LIMIT 10")
        );
    }

    #[test]
    fn the_seed_form_keeps_its_tags_and_gets_its_bucket() {
        // `define batcher --query "… group by dc" --group-by 1h`
        let g = Grouping {
            tags: None,
            time: Some(TimeBucket {
                every: 3600 * S,
                offset: 0,
            }),
            fill: None,
        };
        assert_eq!(
            render(
                "select mean(value) from cpu_idle where role = 'logs' group by dc",
                &g
            ),
            format!(
                "select mean(value) from cpu_idle WHERE (role = 'logs') AND {RANGE} GROUP BY time(1h), dc"
            )
        );
        assert_eq!(
            render(
                "select mean(value) from cpu group by time(5m), dc fill(none) tz('UTC');",
                &Grouping::default()
            ),
            format!(
                "select mean(value) from cpu WHERE {RANGE} GROUP BY time(5m), dc fill(none) tz('UTC')"
            )
        );
    }

    #[test]
    fn strings_regexes_and_identifiers_are_not_clauses() {
        let q = "SELECT \"where\" / 2 FROM /cpu.*/ WHERE host =~ /group by/ AND t = 'limit 1'";
        assert_eq!(
            render(q, &Grouping::default()),
            format!(
                "SELECT \"where\" / 2 FROM /cpu.*/ WHERE (host =~ /group by/ AND t = 'limit 1') AND {RANGE}"
            )
        );
    }

    #[test]
    fn what_is_not_a_select_is_refused_with_where() {
        let e = |q: &str| QueryTemplate::parse(q).unwrap_err().to_string();
        assert_eq!(
            e("SHOW DATABASES"),
            "query 1:1: a batch query must be a single SELECT statement, not `SHOW`"
        );
        assert_eq!(e(""), "query 1:1: empty query; expected SELECT … FROM …");
        assert_eq!(e("select value"), "query 1:13: expected FROM");
        assert_eq!(
            e("select v from cpu;\n drop database x"),
            "query 2:2: a batch query must be a single SELECT statement; found more after `;`"
        );
        assert_eq!(
            e("select v into other from cpu"),
            "query 1:10: SELECT … INTO is not allowed in a batch query"
        );
        assert_eq!(
            e("select v from cpu where host = 'a"),
            "query 1:32: unterminated string"
        );
        assert_eq!(e("select mean(v from cpu"), "query 1:23: unbalanced `(`");
        assert_eq!(
            e("select v from cpu where"),
            "query 1:19: empty WHERE clause"
        );
    }

    #[test]
    fn the_source_names_its_database_and_retention_policy() {
        let dbrp = |q: &str| QueryTemplate::parse(q).unwrap().source_dbrp();
        assert_eq!(
            dbrp("select v from \"my.db\".\"autogen\".cpu where a = 'b'"),
            Some(pipeline::DbRp::new("my.db", "autogen"))
        );
        assert_eq!(
            dbrp("SELECT v FROM telegraf.autogen.cpu"),
            Some(pipeline::DbRp::new("telegraf", "autogen"))
        );
        assert_eq!(dbrp("select v from cpu"), None);
        assert_eq!(dbrp("select v from telegraf..cpu"), None);
        assert_eq!(dbrp("select v from a.b.cpu, a.b.mem"), None);
    }

    #[test]
    fn durations_use_the_largest_exact_unit() {
        assert_eq!(influxql_duration(90 * S), "90s");
        assert_eq!(influxql_duration(3600 * S), "1h");
        assert_eq!(influxql_duration(1_500_000), "1500u");
        assert_eq!(influxql_duration(7), "7ns");
    }
}
