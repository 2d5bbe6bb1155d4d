//! Sideload files in YAML: flat mappings of names to values that a task's
//! `sideload()` node reads (`host/web1.yml` holding `cpu_threshold: 80`).

use std::path::Path;

use crate::error::ConfigError;
use crate::yaml::{self, Kind};

/// The top-level keys of a YAML sideload file and their values, as JSON
/// values (scalars typed by the YAML 1.2 core schema; lists and mappings
/// kept whole). An empty file has no keys. Anything but a mapping at the
/// top, or a key given twice, is an error naming the file, line and column.
pub fn read_yaml_values(
    text: &str,
    path: &Path,
) -> Result<serde_json::Map<String, serde_json::Value>, ConfigError> {
    let file = path.display().to_string();
    let error = |key: &str, line, column, message: String| {
        ConfigError::at(&file, line, column, key, message)
    };
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => return Ok(serde_json::Map::new()),
        Err(e) => {
            return Err(error(
                "",
                e.line,
                e.column,
                format!("invalid YAML: {}", e.message),
            ));
        }
    };
    let Kind::Map(entries) = &root.kind else {
        let message = format!(
            "expected a mapping of names to values, found {}",
            root.describe()
        );
        return Err(error("", root.line, root.column, message));
    };
    let mut values = serde_json::Map::new();
    for entry in entries {
        let key = match &entry.key.kind {
            Kind::Scalar(s) => s.text.clone(),
            _ => {
                let message = format!("keys must be names, found {}", entry.key.describe());
                return Err(error("", entry.key.line, entry.key.column, message));
            }
        };
        if values.contains_key(&key) {
            let (line, column) = (entry.key.line, entry.key.column);
            return Err(error(&key, line, column, "duplicate key".to_owned()));
        }
        values.insert(key, yaml::to_json(&entry.value, yaml::Ints::Yaml12));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_typed_and_mistakes_located() {
        let path = Path::new("host/web1.yml");
        let values = read_yaml_values(
            "threshold: 80\nratio: 0.5\non: true\nname: \"80\"\nlist: [1, 2]\n",
            path,
        )
        .unwrap();
        assert_eq!(
            serde_json::Value::Object(values),
            serde_json::json!({"threshold": 80, "ratio": 0.5, "on": true, "name": "80", "list": [1, 2]})
        );
        assert!(read_yaml_values("", path).unwrap().is_empty());
        let dup = read_yaml_values("a: 1\na: 2\n", path)
            .unwrap_err()
            .to_string();
        assert_eq!(dup, "host/web1.yml:2:1: a: duplicate key");
        let list = read_yaml_values("- 1\n", path).unwrap_err().to_string();
        assert!(
            list.contains("1:1") && list.contains("expected a mapping"),
            "{list}"
        );
    }
}
