//! The `where` predicate of a stream task: parsed once into a small tree,
//! evaluated per point by the runtime through a lookup closure.
//!
//! Two spellings are accepted because users arrive with both: the seed's
//! InfluxQL style (`cpu = 'cpu-total' and host =~ /^web/`, `<>`, `AND`) and
//! TICKscript lambda style (`"cpu" == 'cpu-total' AND "value" > 10`, `!`,
//! optionally prefixed by `lambda:`). Double quotes always name an
//! identifier, single quotes a string, slashes a regex (after `=~`/`!~`).

use std::fmt;

use regex::Regex;

/// A value an identifier resolves to, or a literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Float(f64),
    Int(i64),
    Bool(bool),
}

/// A parse error; `column` is 1-based, in characters of the expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct WhereError {
    pub column: usize,
    pub message: String,
}

/// A comparison operator; `=` and `==` are the same, so are `!=` and `<>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    NotEq,
    Less,
    LessEq,
    Greater,
    GreaterEq,
}

impl CompareOp {
    /// The canonical spelling (`==`, `!=`, …).
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::NotEq => "!=",
            CompareOp::Less => "<",
            CompareOp::LessEq => "<=",
            CompareOp::Greater => ">",
            CompareOp::GreaterEq => ">=",
        }
    }
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A tag or field name: looked up per point.
    Ident(String),
    Literal(Value),
}

/// The parsed predicate.
#[derive(Debug, Clone)]
pub enum WhereExpr {
    And(Box<WhereExpr>, Box<WhereExpr>),
    Or(Box<WhereExpr>, Box<WhereExpr>),
    Not(Box<WhereExpr>),
    Compare {
        left: Operand,
        op: CompareOp,
        right: Operand,
    },
    /// `name =~ /re/` (or `!~` when `negated`).
    Matches {
        ident: String,
        regex: Regex,
        negated: bool,
    },
    /// A lone operand: true when it is (or resolves to) boolean true.
    Truthy(Operand),
}

/// A compiled `where` predicate. Compares equal by its source text.
#[derive(Debug, Clone)]
pub struct WherePredicate {
    source: String,
    expr: WhereExpr,
}

impl PartialEq for WherePredicate {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Display for WherePredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for WherePredicate {
    type Err = WhereError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WherePredicate::parse(s)
    }
}

impl WherePredicate {
    /// Parses and compiles (regexes included) an expression, nested at
    /// most [`DEFAULT_MAX_DEPTH`] deep.
    pub fn parse(source: &str) -> Result<WherePredicate, WhereError> {
        Self::parse_with_depth(source, DEFAULT_MAX_DEPTH)
    }

    /// [`parse`](Self::parse) with a limit on how deep the expression nests
    /// (parentheses, `!`, and each `and`/`or` over a deeper side count
    /// one): parsing, evaluating and dropping the tree recurse once per
    /// level, so the limit bounds their stack. Past it: an error at the
    /// token that went too deep.
    pub fn parse_with_depth(source: &str, max_depth: usize) -> Result<WherePredicate, WhereError> {
        let tokens = lex(source)?;
        let mut parser = Parser {
            tokens: &tokens,
            pos: 0,
            end: source.chars().count() + 1,
            nesting: 0,
            max_depth: max_depth.min(crate::daemon::MAX_EXPRESSION_DEPTH_CEILING),
        };
        if tokens.is_empty() {
            return Err(WhereError {
                column: 1,
                message: "the predicate is empty".to_owned(),
            });
        }
        let (expr, _) = parser.or()?;
        if let Some(t) = parser.peek() {
            return Err(WhereError {
                column: t.column,
                message: format!(
                    "unexpected {} after a complete expression; join conditions with `and` or `or`",
                    t.kind.describe()
                ),
            });
        }
        Ok(WherePredicate {
            source: source.to_owned(),
            expr,
        })
    }

    /// The text it was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn expr(&self) -> &WhereExpr {
        &self.expr
    }

    /// Evaluates against one point. `lookup` resolves a name the way
    /// InfluxQL's WHERE does: a tag first, then a field.
    ///
    /// A name that resolves to nothing compares as the empty string
    /// against strings and regexes (so `host != 'a'` holds for a point with
    /// no `host` tag, as in InfluxQL) and as false against anything else.
    /// Values of different kinds are never equal; integers and floats
    /// compare numerically.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Option<Value>) -> bool {
        eval(&self.expr, lookup)
    }
}

fn eval(expr: &WhereExpr, lookup: &dyn Fn(&str) -> Option<Value>) -> bool {
    match expr {
        WhereExpr::And(a, b) => eval(a, lookup) && eval(b, lookup),
        WhereExpr::Or(a, b) => eval(a, lookup) || eval(b, lookup),
        WhereExpr::Not(e) => !eval(e, lookup),
        WhereExpr::Compare { left, op, right } => {
            let l = resolve(left, lookup);
            let r = resolve(right, lookup);
            let empty = Value::String(String::new());
            let (l, r) = match (l, r) {
                (Some(l), Some(r)) => (l, r),
                (None, Some(r @ Value::String(_))) => (empty, r),
                (Some(l @ Value::String(_)), None) => (l, empty),
                _ => return false,
            };
            compare(&l, *op, &r)
        }
        WhereExpr::Matches {
            ident,
            regex,
            negated,
        } => match lookup(ident) {
            Some(Value::String(s)) => regex.is_match(&s) != *negated,
            None => regex.is_match("") != *negated,
            Some(_) => false,
        },
        WhereExpr::Truthy(operand) => matches!(resolve(operand, lookup), Some(Value::Bool(true))),
    }
}

fn resolve(operand: &Operand, lookup: &dyn Fn(&str) -> Option<Value>) -> Option<Value> {
    match operand {
        Operand::Ident(name) => lookup(name),
        Operand::Literal(v) => Some(v.clone()),
    }
}

fn compare(l: &Value, op: CompareOp, r: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (l, r) {
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Float(a), Value::Float(b)) => a.partial_cmp(b),
        (Value::Int(a), Value::Float(b)) => (*a as f64).partial_cmp(b),
        (Value::Float(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Value::Bool(a), Value::Bool(b)) => {
            return match op {
                CompareOp::Eq => a == b,
                CompareOp::NotEq => a != b,
                _ => false,
            };
        }
        _ => return false,
    };
    let Some(ordering) = ordering else {
        // NaN: only "not equal" holds.
        return op == CompareOp::NotEq;
    };
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::NotEq => ordering != Ordering::Equal,
        CompareOp::Less => ordering == Ordering::Less,
        CompareOp::LessEq => ordering != Ordering::Greater,
        CompareOp::Greater => ordering == Ordering::Greater,
        CompareOp::GreaterEq => ordering != Ordering::Less,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    Ident(String),
    QuotedIdent(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Regex(String),
    /// The operator and how it was written (`=` or `==`, `!=` or `<>`).
    Compare(CompareOp, &'static str),
    Match {
        negated: bool,
    },
    And,
    Or,
    Not,
    LParen,
    RParen,
}

impl TokenKind {
    fn describe(&self) -> String {
        match self {
            TokenKind::Ident(s) => format!("name `{s}`"),
            TokenKind::QuotedIdent(s) => format!("name \"{s}\""),
            TokenKind::Str(s) => format!("string '{s}'"),
            TokenKind::Int(i) => format!("number `{i}`"),
            TokenKind::Float(f) => format!("number `{f}`"),
            TokenKind::Bool(b) => format!("`{b}`"),
            TokenKind::Regex(r) => format!("regex /{r}/"),
            TokenKind::Compare(_, text) => format!("`{text}`"),
            TokenKind::Match { negated: false } => "`=~`".to_owned(),
            TokenKind::Match { negated: true } => "`!~`".to_owned(),
            TokenKind::And => "`and`".to_owned(),
            TokenKind::Or => "`or`".to_owned(),
            TokenKind::Not => "`!`".to_owned(),
            TokenKind::LParen => "`(`".to_owned(),
            TokenKind::RParen => "`)`".to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    /// 1-based, in characters.
    column: usize,
}

fn err<T>(column: usize, message: impl Into<String>) -> Result<T, WhereError> {
    Err(WhereError {
        column,
        message: message.into(),
    })
}

fn lex(source: &str) -> Result<Vec<Token>, WhereError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens: Vec<Token> = Vec::new();
    let mut i = 0;
    // `lambda: "x" > 1` is how a TICKscript user writes it.
    {
        let lead = chars.iter().take_while(|c| c.is_whitespace()).count();
        let rest: String = chars[lead..].iter().take(7).collect();
        if rest == "lambda:" {
            i = lead + 7;
        }
    }
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let next = chars.get(i + 1).copied();
        let after_match = matches!(
            tokens.last(),
            Some(Token {
                kind: TokenKind::Match { .. },
                ..
            })
        );
        let mut push = |kind: TokenKind, len: usize, i: &mut usize| {
            tokens.push(Token { kind, column });
            *i += len;
        };
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => push(TokenKind::LParen, 1, &mut i),
            ')' => push(TokenKind::RParen, 1, &mut i),
            '=' if next == Some('=') => push(TokenKind::Compare(CompareOp::Eq, "=="), 2, &mut i),
            '=' if next == Some('~') => push(TokenKind::Match { negated: false }, 2, &mut i),
            '=' => push(TokenKind::Compare(CompareOp::Eq, "="), 1, &mut i),
            '!' if next == Some('=') => push(TokenKind::Compare(CompareOp::NotEq, "!="), 2, &mut i),
            '!' if next == Some('~') => push(TokenKind::Match { negated: true }, 2, &mut i),
            '!' => push(TokenKind::Not, 1, &mut i),
            '<' if next == Some('>') => push(TokenKind::Compare(CompareOp::NotEq, "<>"), 2, &mut i),
            '<' if next == Some('=') => {
                push(TokenKind::Compare(CompareOp::LessEq, "<="), 2, &mut i)
            }
            '<' => push(TokenKind::Compare(CompareOp::Less, "<"), 1, &mut i),
            '>' if next == Some('=') => {
                push(TokenKind::Compare(CompareOp::GreaterEq, ">="), 2, &mut i)
            }
            '>' => push(TokenKind::Compare(CompareOp::Greater, ">"), 1, &mut i),
            '&' if next == Some('&') => push(TokenKind::And, 2, &mut i),
            '|' if next == Some('|') => push(TokenKind::Or, 2, &mut i),
            '\'' | '"' => {
                let (text, len) = quoted(&chars, i)?;
                let kind = if c == '"' {
                    TokenKind::QuotedIdent(text)
                } else {
                    TokenKind::Str(text)
                };
                push(kind, len, &mut i);
            }
            '/' if after_match => {
                let (text, len) = regex_literal(&chars, i)?;
                push(TokenKind::Regex(text), len, &mut i);
            }
            '/' => {
                return err(
                    column,
                    "a regex /…/ is only allowed right after `=~` or `!~`",
                );
            }
            c if c.is_ascii_digit()
                || (c == '-' || c == '.') && next.is_some_and(|n| n.is_ascii_digit()) =>
            {
                let start = i;
                let mut end = i + 1;
                while end < chars.len()
                    && (chars[end].is_ascii_alphanumeric()
                        || chars[end] == '.'
                        || (matches!(chars[end], '-' | '+') && matches!(chars[end - 1], 'e' | 'E')))
                {
                    end += 1;
                }
                let text: String = chars[start..end].iter().collect();
                let kind = if let Ok(n) = text.parse::<i64>() {
                    TokenKind::Int(n)
                } else if let Ok(f) = text.parse::<f64>()
                    && !text.contains(['i', 'I', 'n', 'N'])
                {
                    TokenKind::Float(f)
                } else {
                    return err(column, format!("`{text}` is not a number"));
                };
                push(kind, end - start, &mut i);
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                let mut end = i + 1;
                while end < chars.len() && (chars[end].is_alphanumeric() || chars[end] == '_') {
                    end += 1;
                }
                let word: String = chars[start..end].iter().collect();
                let kind = match word.to_ascii_lowercase().as_str() {
                    "and" => TokenKind::And,
                    "or" => TokenKind::Or,
                    "true" => TokenKind::Bool(true),
                    "false" => TokenKind::Bool(false),
                    _ => TokenKind::Ident(word),
                };
                push(kind, end - start, &mut i);
            }
            other => {
                return err(column, format!("unexpected character `{other}`"));
            }
        }
    }
    Ok(tokens)
}

/// A '…' or "…" literal starting at `start`: its text and length in chars.
/// Backslash escapes the quote and itself; a doubled quote is one quote.
fn quoted(chars: &[char], start: usize) -> Result<(String, usize), WhereError> {
    let quote = chars[start];
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let n = chars[i + 1];
            match n {
                '\\' | '\'' | '"' => text.push(n),
                'n' => text.push('\n'),
                't' => text.push('\t'),
                _ => {
                    text.push('\\');
                    text.push(n);
                }
            }
            i += 2;
        } else if c == quote {
            if chars.get(i + 1) == Some(&quote) {
                text.push(quote);
                i += 2;
            } else {
                return Ok((text, i + 1 - start));
            }
        } else {
            text.push(c);
            i += 1;
        }
    }
    let what = if quote == '"' { "name" } else { "string" };
    err(
        start + 1,
        format!("unterminated {what}: missing closing {quote}"),
    )
}

/// `/…/`: `\/` is a slash; other escapes are the regex's own.
fn regex_literal(chars: &[char], start: usize) -> Result<(String, usize), WhereError> {
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1) == Some(&'/') => {
                text.push('/');
                i += 2;
            }
            '\\' if i + 1 < chars.len() => {
                text.push('\\');
                text.push(chars[i + 1]);
                i += 2;
            }
            '/' => return Ok((text, i + 1 - start)),
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    err(start + 1, "unterminated regex: missing closing /")
}

struct Parser<'t> {
    tokens: &'t [Token],
    pos: usize,
    /// Column just past the end, for "expected … at the end" errors.
    end: usize,
    /// Open parentheses and `!` the parser is inside (its recursion).
    nesting: usize,
    max_depth: usize,
}

/// The nesting a `where` predicate may have unless configured
/// (`limits.max_expression_depth`).
pub const DEFAULT_MAX_DEPTH: usize = 100;

type Parsed = Result<(WhereExpr, usize), WhereError>;

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<&Token> {
        let t = self.tokens.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn too_deep<T>(&self, column: usize) -> Result<T, WhereError> {
        err(
            column,
            format!(
                "the predicate nests more than {} deep (limits.max_expression_depth); simplify it",
                self.max_depth
            ),
        )
    }

    /// `left OP right` one level above the deeper side.
    fn join(&self, column: usize, left: usize, right: usize) -> Result<usize, WhereError> {
        let depth = left.max(right) + 1;
        if depth > self.max_depth {
            return self.too_deep(column);
        }
        Ok(depth)
    }

    fn or(&mut self) -> Parsed {
        let (mut left, mut depth) = self.and()?;
        while let Some(t) = self.peek().filter(|t| t.kind == TokenKind::Or) {
            let column = t.column;
            self.pos += 1;
            let (right, d) = self.and()?;
            depth = self.join(column, depth, d)?;
            left = WhereExpr::Or(Box::new(left), Box::new(right));
        }
        Ok((left, depth))
    }

    fn and(&mut self) -> Parsed {
        let (mut left, mut depth) = self.unary()?;
        while let Some(t) = self.peek().filter(|t| t.kind == TokenKind::And) {
            let column = t.column;
            self.pos += 1;
            let (right, d) = self.unary()?;
            depth = self.join(column, depth, d)?;
            left = WhereExpr::And(Box::new(left), Box::new(right));
        }
        Ok((left, depth))
    }

    /// Runs `inner` one level deeper, refusing past the limit.
    fn nested(&mut self, column: usize, inner: impl FnOnce(&mut Self) -> Parsed) -> Parsed {
        if self.nesting >= self.max_depth {
            return self.too_deep(column);
        }
        self.nesting += 1;
        let result = inner(self);
        self.nesting -= 1;
        result
    }

    fn unary(&mut self) -> Parsed {
        if let Some(t) = self.peek().filter(|t| t.kind == TokenKind::Not) {
            let column = t.column;
            self.pos += 1;
            let (inner, depth) = self.nested(column, Self::unary)?;
            let depth = self.join(column, depth, 0)?;
            return Ok((WhereExpr::Not(Box::new(inner)), depth));
        }
        Ok((self.comparison()?, 1))
    }

    fn comparison(&mut self) -> Result<WhereExpr, WhereError> {
        if let Some(t) = self.peek().filter(|t| t.kind == TokenKind::LParen) {
            let column = t.column;
            let open = self.pos;
            self.pos += 1;
            let (inner, _) = self.nested(column, Self::or)?;
            return match self.next() {
                Some(Token {
                    kind: TokenKind::RParen,
                    ..
                }) => Ok(inner),
                Some(t) => err(
                    t.column,
                    format!("expected `)`, found {}", t.kind.describe()),
                ),
                None => err(
                    self.tokens[open].column,
                    "this `(` is never closed; expected `)`",
                ),
            };
        }
        let (left, left_column) = self.operand("a name or a value")?;
        let op = match self.peek() {
            Some(Token {
                kind: TokenKind::Compare(op, text),
                ..
            }) => (*op, *text),
            Some(Token {
                kind: TokenKind::Match { negated },
                column,
            }) => {
                let (negated, op_column) = (*negated, *column);
                self.pos += 1;
                let Operand::Ident(ident) = left else {
                    return err(left_column, "the left side of `=~`/`!~` must be a name");
                };
                return match self.next() {
                    Some(Token {
                        kind: TokenKind::Regex(re),
                        column,
                    }) => {
                        let regex = Regex::new(re).map_err(|e| WhereError {
                            column: *column,
                            message: format!("bad regex /{re}/: {}", first_line(&e.to_string())),
                        })?;
                        Ok(WhereExpr::Matches {
                            ident,
                            regex,
                            negated,
                        })
                    }
                    Some(t) => err(
                        t.column,
                        format!("expected a regex /…/, found {}", t.kind.describe()),
                    ),
                    None => err(op_column, "expected a regex /…/ after this operator"),
                };
            }
            _ => return Ok(WhereExpr::Truthy(left)),
        };
        let (op, op_text) = op;
        let op_column = self.tokens[self.pos].column;
        self.pos += 1;
        if self.peek().is_none() {
            return err(op_column, format!("expected a value after `{op_text}`"));
        }
        let (right, _) = self.operand("a value")?;
        Ok(WhereExpr::Compare { left, op, right })
    }

    fn operand(&mut self, expected: &str) -> Result<(Operand, usize), WhereError> {
        let end = self.end;
        let Some(t) = self.next() else {
            return err(end, format!("expected {expected}, found the end"));
        };
        let column = t.column;
        let operand = match &t.kind {
            TokenKind::Ident(s) | TokenKind::QuotedIdent(s) => Operand::Ident(s.clone()),
            TokenKind::Str(s) => Operand::Literal(Value::String(s.clone())),
            TokenKind::Int(i) => Operand::Literal(Value::Int(*i)),
            TokenKind::Float(f) => Operand::Literal(Value::Float(*f)),
            TokenKind::Bool(b) => Operand::Literal(Value::Bool(*b)),
            other => {
                return err(
                    column,
                    format!("expected {expected}, found {}", other.describe()),
                );
            }
        };
        Ok((operand, column))
    }
}

fn first_line(s: &str) -> String {
    // regex errors are multi-line drawings; the last line says what is wrong.
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_point_at_the_problem() {
        let e = WherePredicate::parse("cpu = ").unwrap_err();
        assert_eq!(e.column, 5, "{e}");
        let e = WherePredicate::parse("cpu = 'x").unwrap_err();
        assert_eq!(e.column, 7, "{e}");
        let e = WherePredicate::parse("(a = 1").unwrap_err();
        assert_eq!(e.column, 1, "{e}");
        let e = WherePredicate::parse("a = 1 b = 2").unwrap_err();
        assert_eq!(e.column, 7, "{e}");
        let e = WherePredicate::parse("host =~ /[/").unwrap_err();
        assert_eq!(e.column, 9, "{e}");
    }

    #[test]
    fn absurd_nesting_is_an_error_not_a_stack_overflow() {
        // Parentheses: the parser's own recursion.
        let deep = format!("{}a = 1{}", "(".repeat(100_000), ")".repeat(100_000));
        let e = WherePredicate::parse(&deep).unwrap_err();
        assert_eq!(e.column, 101, "{e}");
        assert!(e.message.contains("limits.max_expression_depth"), "{e}");
        // A long chain builds a deep tree without any recursion in the parser.
        let chain = vec!["a = 1"; 100_000].join(" and ");
        let e = WherePredicate::parse(&chain).unwrap_err();
        assert!(e.message.contains("more than 100 deep"), "{e}");
        let nots = format!("{}a", "!".repeat(100_000));
        assert!(WherePredicate::parse(&nots).is_err());
        // Within the limit all is well, and it is configurable.
        let ok = format!("{}a = 1{}", "(".repeat(99), ")".repeat(99));
        assert!(WherePredicate::parse(&ok).is_ok());
        let chain = vec!["a = 1"; 100].join(" or ");
        assert!(WherePredicate::parse(&chain).is_ok());
        assert!(WherePredicate::parse_with_depth(&chain, 50).is_err());
        let p = WherePredicate::parse_with_depth(&vec!["a = 1"; 500].join(" and "), 1000).unwrap();
        assert!(p.eval(&|_| Some(Value::Int(1))));
    }
}
