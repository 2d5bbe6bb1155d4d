//! Source text to statements, with every syntax error as a diagnostic.

use lalrpop_util::{ErrorRecovery, ParseError};

use crate::ast::Stmt;
use crate::diagnostic::Diagnostic;
use crate::grammar::ProgramParser;
use crate::lexer::{Lexer, Never, Token};
use crate::span::Span;

/// Parses a whole script. Syntax errors do not stop the parse: the parser
/// skips to the next statement, so one run reports all of them.
pub fn parse(source: &str) -> (Vec<Stmt>, Vec<Diagnostic>) {
    if let Some(at) = too_deep(source) {
        return (
            Vec::new(),
            vec![
                Diagnostic::error("statement nests too deeply", at)
                    .with_label(format!(
                        "more than {MAX_DEPTH} operators or chained calls in one statement"
                    ))
                    .with_help("split it into several statements with `var`"),
            ],
        );
    }
    let mut recovered = Vec::new();
    let mut lexer = Lexer::new(source);
    let result = ProgramParser::new().parse(&mut recovered, &mut lexer);
    let mut diags = std::mem::take(&mut lexer.errors);
    let stmts = match result {
        Ok(stmts) => stmts,
        Err(err) => {
            let d = parse_error(err, source);
            if !diags.iter().any(|l| l.message.starts_with("unterminated")) {
                diags.push(d);
            }
            Vec::new()
        }
    };
    // A literal left open swallows the rest of its line (or script), so
    // the parser trips just after it; that error only repeats this one.
    let shadows: Vec<(usize, usize)> = diags
        .iter()
        .filter(|d| d.message.starts_with("unterminated"))
        .map(|d| {
            let after = source[d.span.end.min(source.len())..]
                .find('\n')
                .map_or(source.len(), |i| d.span.end + i + 1);
            let next_end = source[after.min(source.len())..]
                .find('\n')
                .map_or(source.len(), |i| after + i);
            (d.span.start, next_end)
        })
        .collect();
    for ErrorRecovery { error, .. } in recovered {
        let d = parse_error(error, source);
        if !shadows
            .iter()
            .any(|&(a, b)| d.span.start > a && d.span.start <= b)
        {
            diags.push(d);
        }
    }
    // One mistake can trip the parser twice at the same token (at the
    // statement and again after skipping); keep the first.
    diags.sort_by_key(|d| d.span.start);
    diags.dedup_by_key(|d| d.span.start);
    (stmts, diags)
}

/// The tree and the compiler recurse once per operator or chained call of
/// a statement, so an absurd statement must be refused before it can
/// overflow the stack.
const MAX_DEPTH: usize = 1000;

/// Where a statement first exceeds [`MAX_DEPTH`]. Statements are told apart
/// roughly (`var`, `dbrp`, `;`, or a name after a complete expression at
/// bracket depth 0), erring towards counting too much only for absurd input.
fn too_deep(source: &str) -> Option<Span> {
    let mut depth = 0usize;
    let mut count = 0usize;
    let mut prev_ends_operand = false;
    for item in Lexer::new(source) {
        let Ok((l, token, r)) = item;
        let starts_statement = match &token {
            Token::Var | Token::Dbrp | Token::Semicolon => true,
            Token::Ident(_) => depth == 0 && prev_ends_operand,
            _ => false,
        };
        if starts_statement {
            count = 0;
        }
        match &token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => depth = depth.saturating_sub(1),
            _ => {}
        }
        let is_value = token.is_value() || token == Token::Comma;
        if !is_value {
            count += 1;
            if count > MAX_DEPTH {
                return Some(Span::new(l, r));
            }
        }
        prev_ends_operand = matches!(
            token,
            Token::Ident(_)
                | Token::RParen
                | Token::RBracket
                | Token::Int(_)
                | Token::Float(_)
                | Token::Duration(_)
                | Token::Str(_)
                | Token::Reference(_)
                | Token::Regex(_)
                | Token::True
                | Token::False
        );
    }
    None
}

fn parse_error(err: ParseError<usize, Token, Never>, source: &str) -> Diagnostic {
    match err {
        ParseError::UnrecognizedToken {
            token: (l, token, r),
            expected,
        } => {
            let after_lambda = source[..l.min(source.len())].trim_end().ends_with("lambda");
            unexpected(
                &token.describe(),
                Some(&token),
                Span::new(l, r),
                &expected,
                after_lambda,
            )
        }
        ParseError::UnrecognizedEof { location, expected } => {
            // Point at the end of the last line that has text, not past it.
            let at = source.trim_end().len();
            let span = Span::new(at.min(location), at.min(location));
            let found = "end of script";
            unexpected(found, None, span, &expected, false)
        }
        ParseError::ExtraToken {
            token: (l, token, r),
        } => Diagnostic::error(format!("unexpected {}", token.describe()), Span::new(l, r)),
        ParseError::InvalidToken { location } => {
            Diagnostic::error("invalid token", Span::new(location, location + 1))
        }
        ParseError::User { error } => match error {},
    }
}

/// Grammar terminal names as the user reads them.
fn user_words(terminal: &str) -> String {
    let t = terminal.trim_matches('"');
    match t {
        "identifier" | "integer" | "float" | "duration" | "string" | "reference" | "regex" => {
            t.to_owned()
        }
        other => format!("`{other}`"),
    }
}

const OPERAND: &[&str] = &[
    "identifier",
    "integer",
    "float",
    "duration",
    "string",
    "reference",
    "regex",
    "`TRUE`",
    "`FALSE`",
    "`*`",
    "`(`",
    "`[`",
    "`-`",
    "`!`",
];
const BINARY: &[&str] = &[
    "`+`", "`-`", "`*`", "`/`", "`%`", "`==`", "`!=`", "`<`", "`<=`", "`>`", "`>=`", "`=~`",
    "`!~`", "`AND`", "`OR`",
];

/// "expected one of …" in few words: a whole family of terminals collapses
/// into "an expression" or "an operator".
fn summarise(expected: &[String]) -> String {
    let mut words: Vec<String> = expected.iter().map(|t| user_words(t)).collect();
    let has_all = |set: &[&str], words: &[String]| set.iter().all(|s| words.iter().any(|w| w == s));
    let mut lead = Vec::new();
    if has_all(&["integer", "string", "reference", "identifier"], &words) {
        words.retain(|w| !OPERAND.contains(&w.as_str()));
        lead.push("an expression".to_owned());
    }
    if has_all(&["`+`", "`AND`", "`<`"], &words) {
        words.retain(|w| !BINARY.contains(&w.as_str()));
        lead.push("an operator".to_owned());
    }
    // Comparison operators as bare arguments (seed filter) are rarely what
    // someone wants to hear about.
    if lead.iter().any(|l| l == "an expression") {
        words.retain(|w| !BINARY.contains(&w.as_str()));
    }
    lead.extend(words);
    match lead.len() {
        0 => "nothing more".to_owned(),
        1 => lead.remove(0),
        _ => {
            let last = lead.pop().unwrap_or_default();
            let prefix = if lead.len() == 1 || lead[0].starts_with("an ") {
                ""
            } else {
                "one of "
            };
            format!("{prefix}{} or {last}", lead.join(", "))
        }
    }
}

fn unexpected(
    found: &str,
    token: Option<&Token>,
    span: Span,
    expected: &[String],
    after_lambda: bool,
) -> Diagnostic {
    let want = summarise(expected);
    let mut d = Diagnostic::error(format!("expected {want}, found {found}"), span)
        .with_label(format!("expected {want}"));
    let expects = |t: &str| expected.iter().any(|e| e.trim_matches('"') == t);
    match token {
        _ if after_lambda => {
            d = d.with_help("a lambda is written `lambda:`, with a colon and no space");
        }
        Some(Token::Ident(name)) if name == "lambda" => {
            d = d.with_help("a lambda is written `lambda:` followed by an expression");
        }
        Some(Token::Ident(_)) if expects(")") && expects(",") => {
            d = d.with_help("arguments are separated by `,`");
        }
        _ if expects("(") && !expects("identifier") && !expects("+") => {
            d = d.with_help(
                "node and property methods take parentheses, e.g. `|window()` or `.align()`",
            );
        }
        Some(Token::Assign) if expects("==") => {
            d = d.with_help("to compare, write `==`");
        }
        _ => {}
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(src: &str) -> Vec<String> {
        parse(src).1.into_iter().map(|d| d.message).collect()
    }

    #[test]
    fn parses_both_forms() {
        let (stmts, diags) = parse(
            "var window = stream.window().period(10s).every(5s)\nvar avg = window.map(mean, \"value\")\navg.filter(< , 30).alert()",
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stmts.len(), 3);
    }

    #[test]
    fn reports_every_broken_statement() {
        let errs = errors("stream|from(\nvar x = \nstream|window(");
        assert!(errs.len() >= 2, "{errs:?}");
    }

    #[test]
    fn refuses_absurd_nesting_instead_of_overflowing() {
        let chain = format!("stream{}", "|log()".repeat(100_000));
        assert_eq!(
            errors(&chain),
            vec!["statement nests too deeply".to_owned()]
        );
        let parens = format!("var x = {}1", "(".repeat(100_000));
        assert_eq!(
            errors(&parens),
            vec!["statement nests too deeply".to_owned()]
        );
        let negs = format!("var x = {}1", "-".repeat(100_000));
        assert_eq!(errors(&negs), vec!["statement nests too deeply".to_owned()]);
        // Many ordinary statements are fine.
        let many = "stream|from()|log()\n".repeat(2_000);
        assert!(errors(&many).is_empty());
    }

    #[test]
    fn collapses_expected_sets() {
        assert_eq!(
            errors("var x = )"),
            vec!["expected an expression or `lambda:`, found `)`".to_owned()]
        );
    }
}
