//! Tokens and the lexer. logos does the regular part; [`Lexer`] is the thin
//! adapter that adds what logos cannot know: whether a `/` starts a regex
//! (only where an operand is expected) or means division, and turning lexer
//! errors into diagnostics while still handing the parser a plausible token
//! so one bad literal does not hide the rest of the script's errors.

use logos::Logos;

use crate::diagnostic::Diagnostic;
use crate::span::Span;

/// What went wrong inside a single token.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum LexError {
    #[default]
    UnexpectedChar,
    UnterminatedString,
    UnterminatedTripleString,
    UnterminatedReference,
    UnterminatedRegex,
    IntegerTooLarge,
    DecimalDuration,
    UnknownDurationUnit(String),
}

#[derive(Logos, Debug, Clone, PartialEq)]
#[logos(error = LexError)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"//[^\n]*", allow_greedy = true))]
pub enum Token {
    #[token("var")]
    Var,
    #[token("dbrp")]
    Dbrp,
    #[token("lambda:")]
    Lambda,
    #[token("TRUE")]
    True,
    #[token("FALSE")]
    False,
    #[token("AND")]
    And,
    #[token("OR")]
    Or,
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice().to_owned())]
    Ident(String),
    #[regex(r"[0-9]+", parse_int)]
    Int(i64),
    #[regex(r"[0-9]+\.[0-9]+", |lex| lex.slice().parse::<f64>().ok())]
    Float(f64),
    /// Nanoseconds. Any digits followed by letters is lexed here so that
    /// `10sec` or `5ns` get a message about the unit instead of two tokens.
    #[regex(r"[0-9]+[A-Za-zµ_][A-Za-z0-9_µ]*", parse_duration)]
    #[regex(r"[0-9]+\.[0-9]+[A-Za-zµ_][A-Za-z0-9_µ]*", decimal_duration)]
    Duration(i64),
    #[token("'", lex_string)]
    #[token("'''", lex_triple_string)]
    Str(String),
    #[token("\"", lex_reference)]
    Reference(String),
    /// Never produced by logos: the adapter scans regexes by hand.
    Regex(String),
    #[token("|")]
    Pipe,
    #[token(".")]
    Dot,
    #[token("@")]
    At,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token(";")]
    Semicolon,
    #[token("=")]
    Assign,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("==")]
    Eq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    LtEq,
    #[token(">")]
    Gt,
    #[token(">=")]
    GtEq,
    #[token("=~")]
    RegexMatch,
    #[token("!~")]
    RegexNotMatch,
    #[token("!")]
    Not,
}

fn decimal_duration(_: &mut logos::Lexer<Token>) -> Result<i64, LexError> {
    Err(LexError::DecimalDuration)
}

fn parse_int(lex: &mut logos::Lexer<Token>) -> Result<i64, LexError> {
    lex.slice()
        .parse::<i64>()
        .map_err(|_| LexError::IntegerTooLarge)
}

/// Nanoseconds per unit; TICKscript has no `ns` literal.
fn duration_unit(unit: &str) -> Option<i64> {
    Some(match unit {
        "u" | "µ" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        "w" => 7 * 86_400 * 1_000_000_000,
        _ => return None,
    })
}

fn parse_duration(lex: &mut logos::Lexer<Token>) -> Result<i64, LexError> {
    let text = lex.slice();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let per = duration_unit(unit).ok_or_else(|| LexError::UnknownDurationUnit(unit.to_owned()))?;
    digits
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(per))
        .ok_or(LexError::IntegerTooLarge)
}

/// Single-quoted string; `\'` and `\\` are the escapes, any other backslash
/// is kept because strings often carry regexes and templates.
fn lex_string(lex: &mut logos::Lexer<Token>) -> Result<String, LexError> {
    lex_quoted(lex, '\'', &['\'', '\\'], LexError::UnterminatedString)
}

/// The rest of a literal opened by `quote`, on one line: a backslash
/// before one of `escapes` stands for that character, any other backslash
/// is kept. Unterminated, the error covers the rest of the line.
fn lex_quoted(
    lex: &mut logos::Lexer<Token>,
    quote: char,
    escapes: &[char],
    unterminated: LexError,
) -> Result<String, LexError> {
    let rest = lex.remainder();
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => {
                lex.bump(i + 1);
                return Ok(out);
            }
            '\n' => break,
            '\\' => match chars.next() {
                Some((_, '\n')) | None => break,
                Some((_, e)) if escapes.contains(&e) => out.push(e),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
            },
            c => out.push(c),
        }
    }
    // Consume to end of line so the error covers the whole broken literal.
    let end = rest.find('\n').unwrap_or(rest.len());
    lex.bump(end);
    Err(unterminated)
}

fn lex_triple_string(lex: &mut logos::Lexer<Token>) -> Result<String, LexError> {
    let rest = lex.remainder();
    match rest.find("'''") {
        Some(end) => {
            let body = rest[..end].to_owned();
            lex.bump(end + 3);
            Ok(body)
        }
        None => {
            lex.bump(rest.len());
            Err(LexError::UnterminatedTripleString)
        }
    }
}

fn lex_reference(lex: &mut logos::Lexer<Token>) -> Result<String, LexError> {
    lex_quoted(lex, '"', &['"'], LexError::UnterminatedReference)
}

impl Token {
    /// A name or a literal: a value on its own.
    pub(crate) fn is_value(&self) -> bool {
        matches!(
            self,
            Token::Ident(_)
                | Token::Int(_)
                | Token::Float(_)
                | Token::Duration(_)
                | Token::Str(_)
                | Token::Reference(_)
                | Token::Regex(_)
                | Token::True
                | Token::False
        )
    }

    /// After these a `/` is division; anywhere else it opens a regex.
    fn ends_operand(&self) -> bool {
        self.is_value() || matches!(self, Token::RParen | Token::RBracket | Token::Star)
    }

    /// The token as a user would name it in "found …".
    pub fn describe(&self) -> String {
        match self {
            Token::Ident(name) => format!("identifier `{name}`"),
            Token::Int(n) => format!("integer `{n}`"),
            Token::Float(f) => format!("float `{f}`"),
            Token::Duration(_) => "duration".to_owned(),
            Token::Str(_) => "string".to_owned(),
            Token::Reference(r) => format!("reference \"{r}\""),
            Token::Regex(_) => "regex".to_owned(),
            other => format!("`{}`", other.symbol()),
        }
    }

    /// Fixed spelling of keyword and punctuation tokens.
    pub fn symbol(&self) -> &'static str {
        match self {
            Token::Var => "var",
            Token::Dbrp => "dbrp",
            Token::Lambda => "lambda:",
            Token::True => "TRUE",
            Token::False => "FALSE",
            Token::And => "AND",
            Token::Or => "OR",
            Token::Pipe => "|",
            Token::Dot => ".",
            Token::At => "@",
            Token::LParen => "(",
            Token::RParen => ")",
            Token::LBracket => "[",
            Token::RBracket => "]",
            Token::Comma => ",",
            Token::Semicolon => ";",
            Token::Assign => "=",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Star => "*",
            Token::Slash => "/",
            Token::Percent => "%",
            Token::Eq => "==",
            Token::NotEq => "!=",
            Token::Lt => "<",
            Token::LtEq => "<=",
            Token::Gt => ">",
            Token::GtEq => ">=",
            Token::RegexMatch => "=~",
            Token::RegexNotMatch => "!~",
            Token::Not => "!",
            Token::Ident(_)
            | Token::Int(_)
            | Token::Float(_)
            | Token::Duration(_)
            | Token::Str(_)
            | Token::Reference(_)
            | Token::Regex(_) => "literal",
        }
    }
}

/// Never constructed: lexer errors become diagnostics, not parse errors,
/// so that error recovery keeps going.
#[derive(Debug, Clone, PartialEq)]
pub enum Never {}

/// The token stream the parser reads: `(start, token, end)` triples.
pub struct Lexer<'a> {
    inner: logos::Lexer<'a, Token>,
    prev: Option<Token>,
    pub errors: Vec<Diagnostic>,
}

impl<'a> Lexer<'a> {
    pub fn new(source: &'a str) -> Self {
        Lexer {
            inner: Token::lexer(source),
            prev: None,
            errors: Vec::new(),
        }
    }

    /// Scans `/…/` by hand from just after the opening slash; `\/` is an
    /// escaped slash and a regex may not span lines.
    fn scan_regex(&mut self) -> Result<String, LexError> {
        let rest = self.inner.remainder();
        let mut out = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '/' => {
                    self.inner.bump(i + 1);
                    return Ok(out);
                }
                '\n' => break,
                '\\' => match chars.next() {
                    Some((_, '/')) => out.push('/'),
                    Some((_, '\n')) | None => break,
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                },
                c => out.push(c),
            }
        }
        let end = rest.find('\n').unwrap_or(rest.len());
        self.inner.bump(end);
        Err(LexError::UnterminatedRegex)
    }

    fn report(&mut self, err: LexError, span: Span) -> Option<Token> {
        let (message, label, stand_in) = match err {
            LexError::UnexpectedChar => {
                let c = self.inner.slice().chars().next().unwrap_or('?');
                let label = if c == ':' {
                    "a lambda is written `lambda:` with no space".to_owned()
                } else {
                    "not part of TICKscript".to_owned()
                };
                (format!("unexpected character `{c}`"), label, None)
            }
            LexError::UnterminatedString => (
                "unterminated string".to_owned(),
                "this string has no closing `'` on its line".to_owned(),
                Some(Token::Str(String::new())),
            ),
            LexError::UnterminatedTripleString => (
                "unterminated triple-quoted string".to_owned(),
                "no closing `'''` before the end of the script".to_owned(),
                Some(Token::Str(String::new())),
            ),
            LexError::UnterminatedReference => (
                "unterminated reference".to_owned(),
                "this reference has no closing `\"` on its line".to_owned(),
                Some(Token::Reference(String::new())),
            ),
            LexError::UnterminatedRegex => (
                "unterminated regex".to_owned(),
                "this regex has no closing `/` on its line".to_owned(),
                Some(Token::Regex(String::new())),
            ),
            LexError::IntegerTooLarge => (
                "number too large".to_owned(),
                "does not fit in a 64-bit integer".to_owned(),
                Some(Token::Int(0)),
            ),
            LexError::DecimalDuration => (
                "a duration cannot have a decimal point".to_owned(),
                "use a smaller unit instead, e.g. 1500ms for 1.5s".to_owned(),
                Some(Token::Duration(0)),
            ),
            LexError::UnknownDurationUnit(unit) => (
                format!("unknown duration unit `{unit}`"),
                "units are u, µ, ms, s, m, h, d and w".to_owned(),
                Some(Token::Duration(0)),
            ),
        };
        self.errors
            .push(Diagnostic::error(message, span).with_label(label));
        stand_in
    }
}

impl Iterator for Lexer<'_> {
    type Item = Result<(usize, Token, usize), Never>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let result = self.inner.next()?;
            let start = self.inner.span().start;
            let token = match result {
                Ok(Token::Slash) if !self.prev.as_ref().is_some_and(Token::ends_operand) => {
                    match self.scan_regex() {
                        Ok(re) => Token::Regex(re),
                        Err(err) => {
                            let span = Span::new(start, self.inner.span().end);
                            match self.report(err, span) {
                                Some(t) => t,
                                None => continue,
                            }
                        }
                    }
                }
                Ok(token) => token,
                Err(err) => {
                    let span = Span::new(start, self.inner.span().end);
                    match self.report(err, span) {
                        Some(t) => t,
                        None => continue,
                    }
                }
            };
            let end = self.inner.span().end;
            self.prev = Some(token.clone());
            return Some(Ok((start, token, end)));
        }
    }
}

/// Every token of `source`, for tests and tools; errors are dropped.
pub fn tokens(source: &str) -> Vec<Token> {
    Lexer::new(source)
        .filter_map(|r| r.ok().map(|(_, t, _)| t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(src: &str) -> Vec<Token> {
        tokens(src)
    }

    fn errors(src: &str) -> Vec<String> {
        let mut lexer = Lexer::new(src);
        for _ in lexer.by_ref() {}
        lexer.errors.into_iter().map(|d| d.message).collect()
    }

    #[test]
    fn keywords() {
        assert_eq!(
            lex("var dbrp lambda: TRUE FALSE AND OR"),
            vec![
                Token::Var,
                Token::Dbrp,
                Token::Lambda,
                Token::True,
                Token::False,
                Token::And,
                Token::Or
            ]
        );
    }

    #[test]
    fn keywords_are_case_sensitive() {
        assert_eq!(
            lex("true and variable lambda"),
            vec![
                Token::Ident("true".into()),
                Token::Ident("and".into()),
                Token::Ident("variable".into()),
                Token::Ident("lambda".into()),
            ]
        );
    }

    #[test]
    fn identifiers() {
        assert_eq!(
            lex("_a b1 groupBy"),
            vec![
                Token::Ident("_a".into()),
                Token::Ident("b1".into()),
                Token::Ident("groupBy".into())
            ]
        );
    }

    #[test]
    fn integers_and_floats_are_distinct() {
        assert_eq!(
            lex("10 10.0 0.5"),
            vec![Token::Int(10), Token::Float(10.0), Token::Float(0.5)]
        );
        assert_eq!(errors("99999999999999999999"), vec!["number too large"]);
    }

    #[test]
    fn durations_in_every_unit() {
        let s = 1_000_000_000;
        assert_eq!(
            lex("1u 1µ 1ms 1s 1m 1h 1d 1w"),
            vec![
                Token::Duration(1_000),
                Token::Duration(1_000),
                Token::Duration(1_000_000),
                Token::Duration(s),
                Token::Duration(60 * s),
                Token::Duration(3600 * s),
                Token::Duration(86400 * s),
                Token::Duration(7 * 86400 * s),
            ]
        );
    }

    #[test]
    fn bad_durations() {
        assert_eq!(
            errors("1.5s"),
            vec!["a duration cannot have a decimal point"]
        );
        assert_eq!(errors("5ns"), vec!["unknown duration unit `ns`"]);
    }

    #[test]
    fn strings_with_escapes() {
        assert_eq!(
            lex(r"'it\'s' 'a\\b' 'x\dy'"),
            vec![
                Token::Str("it's".into()),
                Token::Str(r"a\b".into()),
                Token::Str(r"x\dy".into())
            ]
        );
        assert_eq!(errors("'open"), vec!["unterminated string"]);
    }

    #[test]
    fn triple_quoted_strings_span_lines() {
        assert_eq!(
            lex("'''SELECT 'x'\nFROM y''' ''"),
            vec![
                Token::Str("SELECT 'x'\nFROM y".into()),
                Token::Str(String::new())
            ]
        );
        assert_eq!(
            errors("'''never closed"),
            vec!["unterminated triple-quoted string"]
        );
    }

    #[test]
    fn references() {
        assert_eq!(
            lex(r#""host" "a\"b""#),
            vec![
                Token::Reference("host".into()),
                Token::Reference("a\"b".into())
            ]
        );
        assert_eq!(errors("\"open"), vec!["unterminated reference"]);
    }

    #[test]
    fn regex_only_where_an_operand_is_expected() {
        assert_eq!(
            lex(r#""host" =~ /^server\/A$/"#),
            vec![
                Token::Reference("host".into()),
                Token::RegexMatch,
                Token::Regex("^server/A$".into())
            ]
        );
        assert_eq!(
            lex(r#""a" / "b""#),
            vec![
                Token::Reference("a".into()),
                Token::Slash,
                Token::Reference("b".into())
            ]
        );
        assert_eq!(lex("var r = /x/")[3], Token::Regex("x".into()));
        assert_eq!(lex("f(/x/, /y/)")[2], Token::Regex("x".into()));
        assert_eq!(errors("=~ /open"), vec!["unterminated regex"]);
    }

    #[test]
    fn operators() {
        assert_eq!(
            lex("+ - * / % == != < <= > >= =~ !~ ! ="),
            vec![
                Token::Plus,
                Token::Minus,
                Token::Star,
                Token::Slash,
                Token::Percent,
                Token::Eq,
                Token::NotEq,
                Token::Lt,
                Token::LtEq,
                Token::Gt,
                Token::GtEq,
                Token::RegexMatch,
                Token::RegexNotMatch,
                Token::Not,
                Token::Assign,
            ]
        );
    }

    #[test]
    fn chaining_and_punctuation() {
        assert_eq!(
            lex("|.@()[],;"),
            vec![
                Token::Pipe,
                Token::Dot,
                Token::At,
                Token::LParen,
                Token::RParen,
                Token::LBracket,
                Token::RBracket,
                Token::Comma,
                Token::Semicolon
            ]
        );
    }

    #[test]
    fn star_and_lists() {
        assert_eq!(
            lex("[*, 'a']"),
            vec![
                Token::LBracket,
                Token::Star,
                Token::Comma,
                Token::Str("a".into()),
                Token::RBracket
            ]
        );
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(
            lex("a // comment |x()\nb"),
            vec![Token::Ident("a".into()), Token::Ident("b".into())]
        );
    }

    #[test]
    fn unexpected_characters_are_reported_and_skipped() {
        assert_eq!(
            lex("a # b"),
            vec![Token::Ident("a".into()), Token::Ident("b".into())]
        );
        assert_eq!(errors("a # b"), vec!["unexpected character `#`"]);
    }
}
