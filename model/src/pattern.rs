//! Kapacitor's id patterns (`kapacitor list tasks 'cpu*'`, `?pattern=` in
//! its API): shell globs as Go's `path.Match` reads them.

/// An id pattern: `*` matches any run of characters, `?` any one, `[abc]`,
/// `[a-z]` and `[^a-z]` (or `[!a-z]`) one of (or none of) a set, and `\`
/// takes the next character as itself. Anything else matches itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdPattern {
    tokens: Vec<Token>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A pattern that cannot be read: an unclosed `[`, or a trailing `\`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadPattern(String);

impl std::fmt::Display for BadPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bad pattern {:?}: an unclosed [ or a trailing \\",
            self.0
        )
    }
}

impl std::error::Error for BadPattern {}

impl IdPattern {
    pub fn new(pattern: &str) -> Result<IdPattern, BadPattern> {
        let bad = || BadPattern(pattern.to_string());
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::Star,
                '?' => Token::Any,
                '\\' => Token::Char(chars.next().ok_or_else(bad)?),
                '[' => {
                    let negated = chars.next_if(|&c| c == '^' || c == '!').is_some();
                    let mut ranges = Vec::new();
                    loop {
                        let lo = match chars.next().ok_or_else(bad)? {
                            ']' if !ranges.is_empty() => break,
                            '\\' => chars.next().ok_or_else(bad)?,
                            c => c,
                        };
                        let hi = if chars.next_if_eq(&'-').is_some() {
                            match chars.next().ok_or_else(bad)? {
                                '\\' => chars.next().ok_or_else(bad)?,
                                c => c,
                            }
                        } else {
                            lo
                        };
                        ranges.push((lo, hi));
                    }
                    Token::Class { negated, ranges }
                }
                c => Token::Char(c),
            });
        }
        Ok(IdPattern { tokens })
    }

    /// Whether the pattern has anything but plain characters: an id with
    /// none names one item, and naming one that is not there is an error.
    pub fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Char(_)))
    }

    /// Whether `id` matches the whole pattern.
    pub fn matches(&self, id: &str) -> bool {
        let id: Vec<char> = id.chars().collect();
        // Iterative glob matching: on a mismatch, go back to the last `*`
        // and let it take one more character.
        let (mut p, mut i) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while i < id.len() {
            match self.tokens.get(p) {
                Some(Token::Star) => {
                    star = Some((p, i));
                    p += 1;
                }
                Some(t) if t.matches(id[i]) => {
                    p += 1;
                    i += 1;
                }
                _ => match star {
                    Some((sp, si)) => {
                        p = sp + 1;
                        i = si + 1;
                        star = Some((sp, si + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|t| *t == Token::Star)
    }
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Char(x) => *x == c,
            Token::Any => true,
            Token::Star => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IdPattern;

    fn m(pattern: &str, id: &str) -> bool {
        IdPattern::new(pattern).unwrap().matches(id)
    }

    #[test]
    fn globs_as_kapacitor_reads_them() {
        assert!(m("cpu*", "cpu_alert"));
        assert!(m("cpu*", "cpu"));
        assert!(!m("cpu*", "mem_cpu"));
        assert!(m("*_alert", "cpu_alert"));
        assert!(m("*", ""));
        assert!(m("c?u", "cpu"));
        assert!(!m("c?u", "cu"));
        assert!(m("*a*b*", "xaxxbx"));
        assert!(!m("*a*b", "xaxxbx"));
        assert!(m("[ab]x", "bx"));
        assert!(!m("[^ab]x", "bx"));
        assert!(m("[!ab]x", "cx"));
        assert!(m("task[0-9]", "task7"));
        assert!(!m("task[0-9]", "task10"));
        assert!(m("a\\*", "a*"));
        assert!(!m("a\\*", "ab"));
        assert!(m("cpu_alert", "cpu_alert"));
        assert!(!m("cpu_alert", "cpu_alerts"));
        assert!(m("é*", "été"));
    }

    #[test]
    fn literal_ids_and_bad_patterns() {
        assert!(IdPattern::new("cpu_alert.v2").unwrap().is_literal());
        assert!(!IdPattern::new("cpu*").unwrap().is_literal());
        assert!(IdPattern::new("a\\*").unwrap().is_literal());
        assert!(IdPattern::new("[ab").is_err());
        assert!(IdPattern::new("ab\\").is_err());
        assert!(IdPattern::new("[]").is_err());
    }
}
