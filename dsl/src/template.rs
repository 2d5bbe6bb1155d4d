//! The syntax of the Go templates a script writes: alert `.id()`,
//! `.message()` and `.details()`, an httpPost URL, sideload `.order()`
//! paths. Parsed here, so that `dsl::compile` reports a template that does
//! not parse together with every other error, at its property.
//!
//! The subset of Go's `text/template` Kapacitor's templates use: literal
//! text, `{{ .Field }}` and `{{ .Tags.host }}` paths, `index`, `json` and
//! `jsonCompact`, `printf` (also at the end of a pipeline: `{{ index .Fields
//! "v" | printf "%0.2f" }}`), `{{ if COND }}…{{ else }}…{{ end }}` where COND
//! is a value or `eq`/`ne`/`lt`/`le`/`gt`/`ge` of two, comments, and the
//! `{{-` / `-}}` whitespace trims. Everything else (`range`, `with`,
//! variables, method calls) is refused with its position.
//!
//! Not here: which fields a template may read and which functions it may
//! call, which depend on what it is rendered with, and rendering itself.
//! Both are the runtime's (`pipeline`), over the [`Piece`]s returned here,
//! whose paths keep their place in the template so it can say where.

/// Why a template does not parse, with the 1-based line and column in the
/// template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct TemplateError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl TemplateError {
    /// An error at byte offset `at` of template `src`.
    pub fn at(src: &str, at: usize, message: impl Into<String>) -> Self {
        let before = &src[..at.min(src.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        TemplateError {
            line,
            column,
            message: message.into(),
        }
    }
}

/// Parses `src` into its pieces: text, actions and `if`s.
pub fn parse(src: &str) -> Result<Vec<Piece>, TemplateError> {
    Parser { src, pos: 0 }.parse()
}

/// An operand.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// `.A.B`, empty for `.` itself, and its byte offset in the template.
    Path {
        path: Vec<String>,
        at: usize,
    },
    Str(String),
    Int(i64),
}

/// What an action prints.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Print(Arg),
    /// `index COLL KEY`, `at` the offset of `index`.
    Index {
        coll: Arg,
        key: Arg,
        at: usize,
    },
    /// `json ARG` or `jsonCompact ARG`, `at` the offset of the function.
    Json {
        arg: Arg,
        compact: bool,
        at: usize,
    },
    /// `printf FORMAT VALUE`, or `VALUE | printf FORMAT`.
    Printf {
        format: String,
        arg: Box<Action>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The condition of an `if`.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// Go's truth: not false, 0, nil or empty.
    Truthy(Action),
    Compare(CmpOp, Action, Action),
}

/// A part of a template, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    Text(String),
    Action(Action),
    If {
        cond: Cond,
        then: Vec<Piece>,
        otherwise: Vec<Piece>,
    },
}

/// Deepest `if` nesting accepted (rendering recurses once per level).
const MAX_NESTING: usize = 100;

/// An `if` being parsed: the pieces before it, its condition, its `then`
/// branch once `else` was seen, and where it began.
struct OpenIf {
    outer: Vec<Piece>,
    cond: Cond,
    then: Option<Vec<Piece>>,
    at: usize,
}

/// One action as parsed: what it prints, or where it opens or closes a
/// branch.
enum Parsed {
    Comment,
    Action(Action),
    If(Cond),
    Else,
    End,
}

struct Parser<'s> {
    src: &'s str,
    pos: usize,
}

enum Token {
    Pipe,
    Path(Vec<String>),
    Word(String),
    Str(String),
    Int(i64),
}

impl Parser<'_> {
    fn error(&self, at: usize, message: impl Into<String>) -> TemplateError {
        TemplateError::at(self.src, at, message)
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn parse(mut self) -> Result<Vec<Piece>, TemplateError> {
        let mut pieces: Vec<Piece> = Vec::new();
        let mut open_ifs: Vec<OpenIf> = Vec::new();
        let mut trim_next_text = false;
        while self.pos < self.src.len() {
            let start = self.pos;
            let end = self.rest().find("{{").map_or(self.src.len(), |i| start + i);
            let mut text = &self.src[start..end];
            if trim_next_text {
                text = text.trim_start_matches(is_space);
            }
            self.pos = end;
            if end == self.src.len() {
                push_text(&mut pieces, text);
                break;
            }
            let open = self.pos;
            self.pos += 2;
            // `{{- ` trims the text before; `{{-3}}` is a number.
            if self.rest().starts_with('-') && self.rest()[1..].starts_with(is_space) {
                text = text.trim_end_matches(is_space);
                self.pos += 1;
            }
            push_text(&mut pieces, text);
            let (action, trim_after) = self.action(open)?;
            trim_next_text = trim_after;
            match action {
                Parsed::Comment => {}
                Parsed::Action(a) => pieces.push(Piece::Action(a)),
                Parsed::If(_) if open_ifs.len() >= MAX_NESTING => {
                    return Err(self.error(open, "ifs nested more than 100 deep"));
                }
                Parsed::If(cond) => open_ifs.push(OpenIf {
                    outer: std::mem::take(&mut pieces),
                    cond,
                    then: None,
                    at: open,
                }),
                Parsed::Else => match open_ifs.last_mut() {
                    Some(OpenIf {
                        then: then @ None, ..
                    }) => {
                        *then = Some(std::mem::take(&mut pieces));
                    }
                    Some(_) => return Err(self.error(open, "second {{ else }} in one if")),
                    None => return Err(self.error(open, "unexpected {{ else }}")),
                },
                Parsed::End => {
                    let Some(OpenIf {
                        outer, cond, then, ..
                    }) = open_ifs.pop()
                    else {
                        return Err(self.error(open, "unexpected {{ end }}"));
                    };
                    let inner = std::mem::replace(&mut pieces, outer);
                    let (then, otherwise) = match then {
                        Some(then) => (then, inner),
                        None => (inner, Vec::new()),
                    };
                    pieces.push(Piece::If {
                        cond,
                        then,
                        otherwise,
                    });
                }
            }
        }
        if let Some(OpenIf { at, .. }) = open_ifs.last() {
            return Err(self.error(*at, "unexpected EOF: {{ if }} without {{ end }}"));
        }
        Ok(pieces)
    }

    /// Parses one action after `{{`, through `}}`.
    fn action(&mut self, open: usize) -> Result<(Parsed, bool), TemplateError> {
        self.skip_space();
        if self.rest().starts_with("/*") {
            let Some(end) = self.rest().find("*/") else {
                return Err(self.error(open, "unclosed comment"));
            };
            self.pos += end + 2;
            self.skip_space();
            let trim = self.close(open)?;
            return Ok((Parsed::Comment, trim));
        }
        let mut tokens: Vec<(usize, Token)> = Vec::new();
        let trim = loop {
            self.skip_space();
            if self.rest().is_empty() {
                return Err(self.error(open, "unclosed action: missing }}"));
            }
            if self.rest().starts_with("}}") || self.rest().starts_with("-}}") {
                break self.close(open)?;
            }
            let at = self.pos;
            let tok = self.token()?;
            tokens.push((at, tok));
        };
        let parsed = match tokens.split_first() {
            None => return Err(self.error(open, "missing value for command")),
            Some(((_, Token::Word(w)), rest)) if w == "if" => {
                if rest.is_empty() {
                    return Err(self.error(open, "missing value for if"));
                }
                Parsed::If(self.condition(open, rest)?)
            }
            Some(((at, Token::Word(w)), rest)) if w == "else" || w == "end" => {
                if let Some((aat, _)) = rest.first() {
                    let what = if w == "else" {
                        "{{ else if }} is not supported: nest an {{ if }} in the {{ else }}"
                    } else {
                        "{{ end }} takes no arguments"
                    };
                    return Err(self.error(if w == "else" { *at } else { *aat }, what));
                }
                if w == "else" {
                    Parsed::Else
                } else {
                    Parsed::End
                }
            }
            Some(_) => Parsed::Action(self.pipeline(open, &tokens)?),
        };
        Ok((parsed, trim))
    }

    /// The condition of an `if`: a comparison of two values, or one value.
    fn condition(&self, open: usize, tokens: &[(usize, Token)]) -> Result<Cond, TemplateError> {
        let op = match tokens.first() {
            Some((_, Token::Word(w))) => match w.as_str() {
                "eq" => Some(CmpOp::Eq),
                "ne" => Some(CmpOp::Ne),
                "lt" => Some(CmpOp::Lt),
                "le" => Some(CmpOp::Le),
                "gt" => Some(CmpOp::Gt),
                "ge" => Some(CmpOp::Ge),
                _ => None,
            },
            _ => None,
        };
        let Some(op) = op else {
            return Ok(Cond::Truthy(self.pipeline(open, tokens)?));
        };
        let (at, _) = tokens[0];
        let [_, (aat, a), (bat, b)] = tokens else {
            return Err(self.error(
                at,
                "a comparison takes two values, as in {{ if eq .Level \"OK\" }}",
            ));
        };
        Ok(Cond::Compare(
            op,
            Action::Print(self.arg(*aat, a)?),
            Action::Print(self.arg(*bat, b)?),
        ))
    }

    /// Commands separated by `|`; each after the first gets the value of
    /// the one before as its last argument (only `printf` is accepted there).
    fn pipeline(&self, open: usize, tokens: &[(usize, Token)]) -> Result<Action, TemplateError> {
        let mut commands = tokens.split(|(_, t)| matches!(t, Token::Pipe));
        let first = commands.next().unwrap_or(&[]);
        let mut action = self.command(open, first)?;
        for command in commands {
            action = match command {
                [(_, Token::Word(w)), (_, Token::Str(format))] if w == "printf" => Action::Printf {
                    format: format.clone(),
                    arg: Box::new(action),
                },
                [(at, _), ..] => {
                    return Err(
                        self.error(*at, "only printf \"FORMAT\" may follow | in a pipeline")
                    );
                }
                [] => return Err(self.error(open, "missing command after |")),
            };
        }
        Ok(action)
    }

    fn command(&self, open: usize, tokens: &[(usize, Token)]) -> Result<Action, TemplateError> {
        let Some(((at, first), args)) = tokens.split_first() else {
            return Err(self.error(open, "missing value for command"));
        };
        let action = match first {
            Token::Word(w) if w == "printf" => {
                let [(_, Token::Str(format)), (aat, a)] = args else {
                    return Err(self.error(
                        *at,
                        "printf takes a format and one value, as in {{ printf \"%0.2f\" .Fields.v }}",
                    ));
                };
                Action::Printf {
                    format: format.clone(),
                    arg: Box::new(Action::Print(self.arg(*aat, a)?)),
                }
            }
            Token::Word(w) if w == "index" => {
                let [(_, coll), (kat, key)] = args else {
                    return Err(self.error(
                        *at,
                        "index takes a map and one key, as in {{ index .Tags \"host\" }}",
                    ));
                };
                Action::Index {
                    coll: self.arg(*at, coll)?,
                    key: self.arg(*kat, key)?,
                    at: *at,
                }
            }
            Token::Word(w) if w == "json" || w == "jsonCompact" => {
                let [(aat, a)] = args else {
                    return Err(self.error(*at, format!("{w} takes one argument")));
                };
                Action::Json {
                    arg: self.arg(*aat, a)?,
                    compact: w == "jsonCompact",
                    at: *at,
                }
            }
            Token::Word(w) => {
                let what = if matches!(
                    w.as_str(),
                    "if" | "else"
                        | "end"
                        | "eq"
                        | "ne"
                        | "range"
                        | "with"
                        | "define"
                        | "template"
                        | "block"
                        | "break"
                        | "continue"
                ) {
                    format!("unsupported action {w:?}")
                } else {
                    format!("function {w:?} not defined")
                };
                return Err(self.error(*at, what));
            }
            other => {
                if let Some((aat, _)) = args.first() {
                    return Err(self.error(*aat, "can't give arguments to a value"));
                }
                Action::Print(self.arg(*at, other)?)
            }
        };
        Ok(action)
    }

    fn arg(&self, at: usize, tok: &Token) -> Result<Arg, TemplateError> {
        match tok {
            Token::Path(p) => Ok(Arg::Path {
                path: p.clone(),
                at,
            }),
            Token::Str(s) => Ok(Arg::Str(s.clone())),
            Token::Int(i) => Ok(Arg::Int(*i)),
            Token::Word(w) => Err(self.error(at, format!("function {w:?} not defined"))),
            Token::Pipe => Err(self.error(at, "unexpected |")),
        }
    }

    /// Consumes `}}` or ` -}}`; true when the text after is to be trimmed.
    fn close(&mut self, open: usize) -> Result<bool, TemplateError> {
        if self.rest().starts_with("-}}") {
            let spaced = self.src[..self.pos].ends_with(is_space);
            if !spaced {
                return Err(self.error(self.pos, "unexpected \"-\" before }} (write \" -}}\")"));
            }
            self.pos += 3;
            Ok(true)
        } else if self.rest().starts_with("}}") {
            self.pos += 2;
            Ok(false)
        } else {
            Err(self.error(open, "unclosed action: missing }}"))
        }
    }

    fn skip_space(&mut self) {
        let n = self.rest().len() - self.rest().trim_start_matches(is_space).len();
        self.pos += n;
    }

    fn token(&mut self) -> Result<Token, TemplateError> {
        let at = self.pos;
        let rest = self.rest();
        let c = rest.chars().next().unwrap_or(' ');
        match c {
            '.' => {
                let mut path = Vec::new();
                let mut i = 0;
                let b = rest.as_bytes();
                while i < b.len() && b[i] == b'.' {
                    let start = i + 1;
                    let mut j = start;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                        j += 1;
                    }
                    if j == start {
                        if i == 0 && (j == b.len() || !b[j].is_ascii_digit()) {
                            i = j;
                            break;
                        }
                        return Err(self.error(at + i, "bad field reference"));
                    }
                    path.push(rest[start..j].to_string());
                    i = j;
                }
                self.pos += i;
                self.after_token(at)?;
                Ok(Token::Path(path))
            }
            '"' => {
                let mut s = String::new();
                let mut chars = rest.char_indices().skip(1);
                loop {
                    match chars.next() {
                        None | Some((_, '\n')) => {
                            return Err(self.error(at, "unterminated quoted string"));
                        }
                        Some((i, '"')) => {
                            self.pos += i + 1;
                            break;
                        }
                        Some((_, '\\')) => match chars.next().map(|(_, c)| c) {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some('\\') => s.push('\\'),
                            Some('"') => s.push('"'),
                            Some('\'') => s.push('\''),
                            _ => return Err(self.error(at, "unsupported escape in quoted string")),
                        },
                        Some((_, c)) => s.push(c),
                    }
                }
                self.after_token(at)?;
                Ok(Token::Str(s))
            }
            '`' => {
                let Some(end) = rest[1..].find('`') else {
                    return Err(self.error(at, "unterminated raw quoted string"));
                };
                let s = rest[1..1 + end].to_string();
                self.pos += end + 2;
                self.after_token(at)?;
                Ok(Token::Str(s))
            }
            c if c.is_ascii_digit() || c == '-' => {
                let len = rest
                    .char_indices()
                    .skip(1)
                    .find(|(_, c)| !c.is_ascii_digit())
                    .map_or(rest.len(), |(i, _)| i);
                let n: i64 = rest[..len]
                    .parse()
                    .map_err(|_| self.error(at, "unsupported number"))?;
                self.pos += len;
                self.after_token(at)?;
                Ok(Token::Int(n))
            }
            c if c.is_alphabetic() || c == '_' => {
                let len = rest
                    .char_indices()
                    .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
                    .map_or(rest.len(), |(i, _)| i);
                let w = rest[..len].to_string();
                self.pos += len;
                self.after_token(at)?;
                Ok(Token::Word(w))
            }
            '|' => {
                self.pos += 1;
                Ok(Token::Pipe)
            }
            '$' => Err(self.error(at, "variables ($) are not supported")),
            '(' | ')' => Err(self.error(at, "parenthesised commands are not supported")),
            c => Err(self.error(at, format!("unexpected {c:?} in action"))),
        }
    }

    /// A token must be followed by space or the end of the action, so that
    /// `.Name.x(` or `"a"b` are errors rather than silently split.
    fn after_token(&self, at: usize) -> Result<(), TemplateError> {
        let r = self.rest();
        if r.is_empty() || r.starts_with(is_space) || r.starts_with("}}") {
            Ok(())
        } else {
            Err(self.error(
                at,
                format!(
                    "unexpected {:?} after operand",
                    r.chars().next().unwrap_or(' ')
                ),
            ))
        }
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn push_text(pieces: &mut Vec<Piece>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Piece::Text(prev)) = pieces.last_mut() {
        prev.push_str(text);
    } else {
        pieces.push(Piece::Text(text.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str], at: usize) -> Arg {
        Arg::Path {
            path: p.iter().map(|s| s.to_string()).collect(),
            at,
        }
    }

    #[test]
    fn paths_keep_their_place_and_fields_are_not_judged() {
        // `.Nope` parses: what a template may read is the runtime's to say.
        let pieces = parse("x {{ .Nope.a }}{{ index .Tags \"h\" | printf \"%s\" }}").unwrap();
        assert_eq!(
            pieces,
            [
                Piece::Text("x ".into()),
                Piece::Action(Action::Print(path(&["Nope", "a"], 5))),
                Piece::Action(Action::Printf {
                    format: "%s".into(),
                    arg: Box::new(Action::Index {
                        coll: path(&["Tags"], 18),
                        key: Arg::Str("h".into()),
                        at: 18,
                    }),
                }),
            ]
        );
    }

    #[test]
    fn errors_say_where_in_the_template() {
        let err = |src| parse(src).unwrap_err().to_string();
        assert_eq!(
            err("a\n {{ if .Level }}x"),
            "2:2: unexpected EOF: {{ if }} without {{ end }}"
        );
        assert_eq!(err("{{ with .Tags }}"), "1:4: unsupported action \"with\"");
        assert_eq!(err("{{ json }}"), "1:4: json takes one argument");
        assert_eq!(err("é{{ .A.}}"), "1:7: bad field reference");
    }
}
