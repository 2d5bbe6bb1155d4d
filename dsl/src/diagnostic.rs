//! Diagnostics: every problem found in a script, each with a span, rendered
//! as `file:line:col: error: message`, the source line and a caret.

use std::fmt::Write as _;

use crate::span::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a script.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    /// Printed beside the caret.
    pub label: Option<String>,
    /// Other places that explain this one ("first defined here").
    pub secondary: Vec<(Span, String)>,
    /// `help:` lines, e.g. "did you mean `groupBy`?".
    pub help: Vec<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: None,
            secondary: Vec::new(),
            help: Vec::new(),
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Self {
        self.secondary.push((span, label.into()));
        self
    }

    /// 1-based line and column (in characters) of `offset` in `source`.
    pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(source, offset.min(source.len()));
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = source[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// Renders like a compiler: header, the source line, a caret under the
    /// span, then the label and any help.
    pub fn render(&self, file: &str, source: &str) -> String {
        let (line, col) = Self::line_col(source, self.span.start);
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = format!("{file}:{line}:{col}: {severity}: {}\n", self.message);
        render_snippet(&mut out, source, self.span, self.label.as_deref(), '^');
        for (span, label) in &self.secondary {
            let (l, c) = Self::line_col(source, span.start);
            let _ = writeln!(out, "note: {file}:{l}:{c}: {label}");
            render_snippet(&mut out, source, *span, None, '-');
        }
        let (last_line, _) = Self::line_col(source, self.span.start);
        let gutter = last_line.to_string().len();
        for help in &self.help {
            let _ = writeln!(out, "{:gutter$} = help: {help}", "");
        }
        out
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Tabs become four spaces in both the source line and the caret line so
/// the caret stays under the right character whatever the terminal does.
fn render_snippet(out: &mut String, source: &str, span: Span, label: Option<&str>, mark: char) {
    let start = floor_char_boundary(source, span.start.min(source.len()));
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let text = &source[line_start..line_end];
    let (line_no, _) = Diagnostic::line_col(source, start);
    let gutter = line_no.to_string().len();
    let widen = |s: &str| -> usize { s.chars().map(|c| if c == '\t' { 4 } else { 1 }).sum() };
    let pad = widen(&source[line_start..start]);
    let end = floor_char_boundary(source, span.end.clamp(start, line_end));
    let width = widen(&source[start..end]).max(1);
    let _ = writeln!(out, "{:gutter$} |", "");
    let _ = writeln!(out, "{line_no} | {}", text.replace('\t', "    ").trim_end());
    let marks: String = std::iter::repeat_n(mark, width).collect();
    match label {
        Some(label) => {
            let _ = writeln!(out, "{:gutter$} | {:pad$}{marks} {label}", "", "");
        }
        None => {
            let _ = writeln!(out, "{:gutter$} | {:pad$}{marks}", "", "");
        }
    }
}

/// All the problems of one script, in source order. This is the error type
/// of [`crate::compile`].
#[derive(Debug, Clone, PartialEq, Default, thiserror::Error)]
#[error("{} error(s) in script", .0.len())]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn render(&self, file: &str, source: &str) -> String {
        self.0.iter().map(|d| d.render(file, source)).collect()
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }
}

/// Edit distance, for "did you mean" hints.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate to a misspelt `name`, if any is close enough to
/// be a plausible typo (same letters ignoring case, or few edits).
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        let d = if cand.to_ascii_lowercase() == lower {
            0
        } else {
            levenshtein(&lower, &cand.to_ascii_lowercase())
        };
        let limit = (name.chars().count() / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_header_line_and_caret() {
        let src = "stream\n\t|windw()\n";
        let d = Diagnostic::error("unknown node `windw`", Span::new(9, 14))
            .with_label("no such node")
            .with_help("did you mean `window`?");
        assert_eq!(
            d.render("a.tick", src),
            "a.tick:2:3: error: unknown node `windw`\n  |\n2 |     |windw()\n  |      ^^^^^ no such node\n  = help: did you mean `window`?\n"
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("groupby", ["groupBy", "window"]),
            Some("groupBy")
        );
        assert_eq!(did_you_mean("perod", ["period", "every"]), Some("period"));
        assert_eq!(did_you_mean("xyz", ["period", "every"]), None);
    }
}
