//! Topic handler files, as Kapacitor's `kapacitor define-topic-handler` and
//! its load directory read them: YAML or JSON with `topic`, `id`, `kind`,
//! `match` and `options`.
//!
//! YAML is read as Kapacitor (Go's YAML 1.1) reads it, so a file written for
//! Kapacitor means the same here: `mode: 0644` is octal. Every problem is
//! reported at once, each with the file, line and column.

use std::path::Path;

use crate::error::{ConfigError, ConfigErrors};
use crate::values::did_you_mean;
use crate::yaml::{self, Ints, Kind};

/// The keys of a handler file.
const KEYS: &[&str] = &["topic", "id", "kind", "match", "options"];

/// One topic handler, as a file defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicHandlerFile {
    pub topic: String,
    pub id: String,
    pub kind: String,
    /// The match expression; empty: every event.
    pub match_expr: String,
    pub options: serde_json::Map<String, serde_json::Value>,
    /// Keys a handler file does not have, ignored as Kapacitor ignores
    /// them (its documentation has a file with `channelurl` beside
    /// `options`): worth a warning, not a refusal.
    pub ignored: Vec<ConfigError>,
}

/// Whether `id` may name a topic handler (`^[-._\p{L}0-9]+$`, Kapacitor's).
pub fn is_valid_handler_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// Whether `topic` may name a topic: a handler id's characters and `:`
/// (Kapacitor's `^[-:._\p{L}0-9]+$`).
pub fn is_valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | ':' | '.' | '_'))
}

impl TopicHandlerFile {
    /// Reads the handler file `path` holding `text`: JSON when its name ends
    /// in `.json`, else YAML. `default_id` is the id when the file has
    /// none (the load directory uses the file's name); without one, `id`
    /// is required, as `kapacitor define-topic-handler` requires it.
    pub fn read(text: &str, path: &Path, default_id: Option<&str>) -> Result<Self, ConfigErrors> {
        let file = path.display().to_string();
        let json = path.extension().is_some_and(|e| e == "json");
        let (value, positions) = if json {
            let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                ConfigError::at(
                    &file,
                    e.line(),
                    e.column(),
                    "",
                    format!("invalid JSON: {e}"),
                )
            })?;
            (v, Vec::new())
        } else {
            let root = yaml::parse(text).map_err(|e| {
                ConfigError::at(
                    &file,
                    e.line,
                    e.column,
                    "",
                    format!("invalid YAML: {}", e.message),
                )
            })?;
            let Some(root) = root else {
                return Err(ConfigError::at(&file, 1, 1, "", "the file is empty".into()).into());
            };
            let positions = match &root.kind {
                Kind::Map(entries) => entries
                    .iter()
                    .filter_map(|e| match &e.key.kind {
                        Kind::Scalar(s) => Some((s.text.clone(), (e.key.line, e.key.column))),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            (yaml::to_json(&root, Ints::GoYaml), positions)
        };
        let at = |key: &str| {
            positions
                .iter()
                .find(|(k, _)| k == key)
                .map_or((1, 1), |(_, p)| *p)
        };
        let mut errors = Vec::new();
        let mut error = |key: &str, message: String| {
            let (line, column) = at(key);
            errors.push(ConfigError::at(&file, line, column, key, message));
        };
        let serde_json::Value::Object(map) = value else {
            error(
                "",
                "expected a mapping of topic, id, kind, match and options".into(),
            );
            return Err(ConfigErrors(errors));
        };
        let ignored = map
            .keys()
            .filter(|key| !KEYS.contains(&key.as_str()))
            .map(|key| {
                let hint = did_you_mean(key, KEYS)
                    .map_or_else(String::new, |k| format!(" (did you mean `{k}`?)"));
                let (line, column) = at(key);
                let message = format!(
                    "unknown key, ignored{hint}; a handler file has {}",
                    KEYS.join(", ")
                );
                ConfigError::at(&file, line, column, key, message)
            })
            .collect();
        let mut text_of = |key: &str, required: bool| match map.get(key) {
            Some(serde_json::Value::String(s)) => s.clone(),
            None | Some(serde_json::Value::Null) => {
                if required {
                    error(key, "missing".into());
                }
                String::new()
            }
            Some(other) => {
                error(key, format!("expected a string, found {other}"));
                String::new()
            }
        };
        let topic = text_of("topic", true);
        let id = match default_id {
            Some(d) if !map.contains_key("id") => d.to_owned(),
            _ => text_of("id", true),
        };
        let kind = text_of("kind", true);
        let match_expr = text_of("match", false);
        let options = match map.get("options") {
            Some(serde_json::Value::Object(o)) => o.clone(),
            None | Some(serde_json::Value::Null) => serde_json::Map::new(),
            Some(other) => {
                error("options", format!("expected a mapping, found {other}"));
                serde_json::Map::new()
            }
        };
        if !topic.is_empty() && !is_valid_topic(&topic) {
            error(
                "topic",
                format!("{topic:?}: a topic has only letters, digits, '-', ':', '.' and '_'"),
            );
        }
        if !id.is_empty() && !is_valid_handler_id(&id) {
            error(
                "id",
                format!("{id:?}: a handler id has only letters, digits, '-', '.' and '_'"),
            );
        }
        if !errors.is_empty() {
            return Err(ConfigErrors::sorted(errors));
        }
        Ok(TopicHandlerFile {
            topic,
            id,
            kind,
            match_expr,
            options,
            ignored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, name: &str) -> Result<TopicHandlerFile, String> {
        TopicHandlerFile::read(text, Path::new(name), None).map_err(|e| e.to_string())
    }

    #[test]
    fn a_kapacitor_log_handler_file_reads_as_kapacitor_reads_it() {
        let h = read(
            "id: handler-id\ntopic: topic-name\nkind: log\noptions:\n  path: '/tmp/alerts.log'\n  mode: 0644\n",
            "log.yaml",
        )
        .unwrap();
        assert_eq!(
            (h.id.as_str(), h.topic.as_str()),
            ("handler-id", "topic-name")
        );
        assert_eq!(h.kind, "log");
        assert_eq!(h.match_expr, "");
        assert_eq!(
            serde_json::Value::Object(h.options),
            serde_json::json!({"path": "/tmp/alerts.log", "mode": 0o644})
        );
    }

    #[test]
    fn json_files_and_defaults() {
        let h = TopicHandlerFile::read(
            r#"{"topic": "cpu", "kind": "publish", "match": "changed()", "options": {"topics": ["a"]}}"#,
            Path::new("dir/pub.json"),
            Some("pub"),
        )
        .unwrap();
        assert_eq!((h.id.as_str(), h.match_expr.as_str()), ("pub", "changed()"));
    }

    #[test]
    fn every_mistake_is_located() {
        let e = read("topic: a/b\nid: x y\nknd: log\noptions: 3\n", "h.yaml").unwrap_err();
        assert!(e.contains("h.yaml:1:1: topic: \"a/b\": a topic"), "{e}");
        assert!(e.contains("h.yaml:2:1: id: \"x y\""), "{e}");
        assert!(e.contains("h.yaml:1:1: kind: missing"), "{e}");
        assert!(e.contains("h.yaml:4:1: options: expected a mapping"), "{e}");
        let e = read("{\"id\": ", "h.json").unwrap_err();
        assert!(e.starts_with("h.json:1:"), "{e}");
        assert!(read("", "h.yaml").unwrap_err().contains("empty"));
        let h = read("topic: a\nid: b\nkind: teams\nknd: x\n", "h.yaml").unwrap();
        assert_eq!(
            h.ignored[0].to_string(),
            "h.yaml:4:1: knd: unknown key, ignored (did you mean `kind`?); a handler file has topic, id, kind, match, options"
        );
    }
}
