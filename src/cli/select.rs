//! What a command acts on, as Kapacitor names it: ids or glob patterns
//! (`enable 'cpu*'`, `delete tasks '*_alert'`), matched against the ids the
//! daemon has.

use anyhow::Context;
use hyper::Method;
use model::IdPattern;
use serde_json::Value;

use super::http::send;

/// Tasks, recordings or replays: where they are listed and what one is
/// called.
#[derive(Clone, Copy, Debug)]
pub struct Collection {
    /// The member of the list's JSON, and the last part of its path.
    pub name: &'static str,
    /// One of them, in messages.
    pub noun: &'static str,
}

pub const TASKS: Collection = Collection {
    name: "tasks",
    noun: "task",
};
pub const RECORDINGS: Collection = Collection {
    name: "recordings",
    noun: "recording",
};
pub const REPLAYS: Collection = Collection {
    name: "replays",
    noun: "replay",
};

impl Collection {
    pub fn path(self) -> String {
        format!("/kapacitor/v1/{}", self.name)
    }

    /// Every item as the API lists it.
    pub fn list(self, url: &str) -> anyhow::Result<Vec<Value>> {
        let reply = send(Method::GET, url, &self.path(), Vec::new())?.ok()?;
        let mut body: Value = serde_json::from_slice(&reply.body)
            .with_context(|| format!("{}: not JSON", self.path()))?;
        Ok(match body[self.name].take() {
            Value::Array(items) => items,
            _ => Vec::new(),
        })
    }
}

/// Patterns as given; a bad one (an unclosed `[`) is an error naming it.
pub fn patterns(given: &[String]) -> anyhow::Result<Vec<IdPattern>> {
    given
        .iter()
        .map(|p| IdPattern::new(p).map_err(anyhow::Error::from))
        .collect()
}

/// Whether `id` matches any of `patterns` (no patterns: every id).
pub fn matches_any(patterns: &[IdPattern], id: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| p.matches(id))
}

/// The ids of `collection` that `given` name, in the order named, each
/// once. A plain id is kept whether or not it exists, so that acting on it
/// reports what the daemon says of it; a pattern names what matches it now
/// (perhaps nothing, as in Kapacitor).
pub fn select(url: &str, collection: Collection, given: &[String]) -> anyhow::Result<Vec<String>> {
    let patterns = patterns(given)?;
    let ids: Vec<String> = if patterns.iter().all(IdPattern::is_literal) {
        Vec::new()
    } else {
        collection
            .list(url)?
            .iter()
            .filter_map(|item| item["id"].as_str().map(str::to_string))
            .collect()
    };
    let mut out: Vec<String> = Vec::new();
    for (text, pattern) in given.iter().zip(&patterns) {
        let named: Vec<String> = if pattern.is_literal() {
            // `a\*` names the id `a*`.
            vec![literal(text)]
        } else {
            ids.iter()
                .filter(|id| pattern.matches(id))
                .cloned()
                .collect()
        };
        for id in named {
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    Ok(out)
}

/// The id a pattern without wildcards names: its escapes undone.
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or(c)
        } else {
            c
        });
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_are_undone_in_a_plain_id() {
        assert_eq!(super::literal("a\\*b"), "a*b");
        assert_eq!(super::literal("cpu_alert"), "cpu_alert");
    }
}
