//! The files `sideload()` nodes read: for each `file:///dir` source, every
//! `.yml`, `.yaml` and `.json` file under the directory, by its path
//! relative to it (`host/web1.yml`), read when a task first needs the
//! source and again on `POST /kapacitor/v1/sideload/reload`. Tasks reading
//! one directory share it. A reload that fails keeps what was read before.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};

use pipeline::nodes::sideload::SideloadSource;

type Values = serde_json::Map<String, serde_json::Value>;

/// Every source in use.
#[derive(Default)]
pub struct Sideloads {
    sources: Mutex<HashMap<PathBuf, Weak<FileSource>>>,
}

/// One directory's files.
pub struct FileSource {
    dir: PathBuf,
    files: RwLock<HashMap<String, Values>>,
}

impl Sideloads {
    /// The source `uri` names, read now if no task holds it yet.
    pub fn source(&self, uri: &str) -> Result<Arc<FileSource>, String> {
        let Some(path) = uri.strip_prefix("file://") else {
            return Err(format!(
                "sideload source `{uri}`: only file:// sources are supported"
            ));
        };
        let dir = Path::new(path);
        if !dir.is_absolute() {
            return Err(format!(
                "sideload source `{uri}`: the path must be absolute (file:///dir)"
            ));
        }
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources.retain(|_, s| s.strong_count() > 0);
        if let Some(source) = sources.get(dir).and_then(Weak::upgrade) {
            return Ok(source);
        }
        let source = Arc::new(FileSource {
            dir: dir.to_path_buf(),
            files: RwLock::new(read_dir(dir)?),
        });
        sources.insert(dir.to_path_buf(), Arc::downgrade(&source));
        Ok(source)
    }

    /// Reads every source in use again; says how many, or what failed (a
    /// source that failed keeps its old values).
    pub fn reload(&self) -> Result<usize, String> {
        let live: Vec<Arc<FileSource>> = self
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        let mut failed = Vec::new();
        for source in &live {
            match read_dir(&source.dir) {
                Ok(files) => *source.files.write().unwrap_or_else(|e| e.into_inner()) = files,
                Err(e) => failed.push(e),
            }
        }
        if failed.is_empty() {
            Ok(live.len())
        } else {
            Err(failed.join("; "))
        }
    }
}

impl SideloadSource for FileSource {
    fn lookup(&self, files: &[String], key: &str) -> Option<serde_json::Value> {
        let read = self.files.read().unwrap_or_else(|e| e.into_inner());
        files
            .iter()
            .find_map(|f| read.get(f).and_then(|values| values.get(key)).cloned())
    }
}

/// Every values file under `dir`, by relative path with `/` separators.
fn read_dir(dir: &Path) -> Result<HashMap<String, Values>, String> {
    let mut files = HashMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        let entries = std::fs::read_dir(&at)
            .map_err(|e| format!("sideload: cannot read {}: {e}", at.display()))?;
        for entry in entries {
            let path = entry
                .map_err(|e| format!("sideload: cannot read {}: {e}", at.display()))?
                .path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let Some(values) = read_file(&path)? else {
                continue;
            };
            let relative = path
                .strip_prefix(dir)
                .map_err(|e| format!("sideload: {}: {e}", path.display()))?;
            let name: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.insert(name.join("/"), values);
        }
    }
    Ok(files)
}

/// A values file's keys; `None` for a file that is not one (by extension).
fn read_file(path: &Path) -> Result<Option<Values>, String> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !matches!(ext, "yml" | "yaml" | "json") {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("sideload: cannot read {}: {e}", path.display()))?;
    let values = if ext == "json" {
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(values)) => values,
            Ok(other) => {
                return Err(format!(
                    "sideload: {}: expected an object of names to values, found {}",
                    path.display(),
                    json_kind(&other)
                ));
            }
            Err(e) => {
                return Err(format!(
                    "sideload: {}:{}:{}: {e}",
                    path.display(),
                    e.line(),
                    e.column()
                ));
            }
        }
    } else {
        config::read_yaml_values(&text, path).map_err(|e| format!("sideload: {e}"))?
    };
    Ok(Some(values))
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_by_relative_path_shared_and_reloaded_keeping_old_values_on_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("host")).unwrap();
        std::fs::write(dir.path().join("host/a.yml"), "limit: 80\n").unwrap();
        std::fs::write(
            dir.path().join("default.json"),
            r#"{"limit": 90, "team": "ops"}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not values").unwrap();
        let sideloads = Sideloads::default();
        let uri = format!("file://{}", dir.path().display());
        let source = sideloads.source(&uri).unwrap();
        assert!(Arc::ptr_eq(&source, &sideloads.source(&uri).unwrap()));
        let order = ["host/a.yml".to_string(), "default.json".to_string()];
        assert_eq!(source.lookup(&order, "limit"), Some(serde_json::json!(80)));
        assert_eq!(
            source.lookup(&order, "team"),
            Some(serde_json::json!("ops"))
        );
        assert_eq!(source.lookup(&order, "other"), None);

        std::fs::write(dir.path().join("host/a.yml"), "limit: 70\n").unwrap();
        assert_eq!(sideloads.reload(), Ok(1));
        assert_eq!(source.lookup(&order, "limit"), Some(serde_json::json!(70)));
        std::fs::write(dir.path().join("host/a.yml"), "limit: [\n").unwrap();
        let err = sideloads.reload().unwrap_err();
        assert!(err.contains("host/a.yml"), "{err}");
        assert_eq!(source.lookup(&order, "limit"), Some(serde_json::json!(70)));

        for bad in ["http://x/", "file://relative/dir"] {
            assert!(sideloads.source(bad).is_err(), "{bad}");
        }
    }
}
