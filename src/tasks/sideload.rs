//! The files `sideload()` nodes read: for each `file:///dir` source, every
//! `.yml`, `.yaml` and `.json` file under the directory, by its path
//! relative to it (`host/web1.yml`), read when a task first needs the
//! source and again on `POST /kapacitor/v1/sideload/reload`. Tasks reading
//! one directory share it. A reload that fails keeps what was read before.
//!
//! A source is bounded (`sideload:` in the config): so many values files,
//! each so large, so many bytes in all. Only regular files are read (not a
//! FIFO or a device, also behind a symlink), and symlinked directories are
//! not followed, so a link loop cannot make the walk endless.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};

use config::SideloadConfig;
use model::LimitBreaches;
use pipeline::nodes::sideload::SideloadSource;

type Values = serde_json::Map<String, serde_json::Value>;

/// Every source in use.
#[derive(Default)]
pub struct Sideloads {
    sources: Mutex<HashMap<PathBuf, Weak<FileSource>>>,
    limits: SideloadConfig,
    /// Where a source refused for a limit is counted.
    breaches: Arc<LimitBreaches>,
}

/// One directory's files.
pub struct FileSource {
    dir: PathBuf,
    files: RwLock<HashMap<String, Values>>,
}

impl Sideloads {
    /// Sources held to `limits`, their breaches counted in `breaches`.
    pub fn new(limits: SideloadConfig, breaches: Arc<LimitBreaches>) -> Self {
        Sideloads {
            sources: Mutex::default(),
            limits,
            breaches,
        }
    }

    pub fn limits(&self) -> &SideloadConfig {
        &self.limits
    }

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
            // A limit this cites is counted by whoever defines the task.
            files: RwLock::new(read_dir(dir, &self.limits)?),
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
            match read_dir(&source.dir, &self.limits) {
                Ok(files) => *source.files.write().unwrap_or_else(|e| e.into_inner()) = files,
                Err(e) => {
                    self.breaches.cited_in(&e);
                    failed.push(e);
                }
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

/// Every values file under `dir`, by relative path with `/` separators,
/// within `limits`.
fn read_dir(dir: &Path, limits: &SideloadConfig) -> Result<HashMap<String, Values>, String> {
    let mut files = HashMap::new();
    let mut total: u64 = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        let entries = std::fs::read_dir(&at)
            .map_err(|e| format!("sideload: cannot read {}: {e}", at.display()))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| format!("sideload: cannot read {}: {e}", at.display()))?;
            let path = entry.path();
            // Not followed through a symlink: no loops.
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path);
                continue;
            }
            if !is_values_file(&path) {
                continue;
            }
            if files.len() >= limits.max_files {
                return Err(format!(
                    "sideload: {}: more than {} values files (sideload.max_files)",
                    dir.display(),
                    limits.max_files
                ));
            }
            let (values, size) = read_file(&path, limits.max_file_size)?;
            total = total.saturating_add(size);
            if total > limits.max_total_size {
                return Err(format!(
                    "sideload: {}: its values files hold more than {} bytes (sideload.max_total_size)",
                    dir.display(),
                    limits.max_total_size
                ));
            }
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

fn is_values_file(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    matches!(ext, "yml" | "yaml" | "json")
}

/// A values file's keys, and its size; a regular file of at most `max`
/// bytes only.
fn read_file(path: &Path, max: u64) -> Result<(Values, u64), String> {
    let text = config::read_text(path, max).map_err(|e| match e {
        config::FileError::TooLarge { .. } => {
            format!("sideload: {}: {e} (sideload.max_file_size)", path.display())
        }
        e => format!("sideload: {}: {e}", path.display()),
    })?;
    let size = text.len() as u64;
    let json = path.extension().is_some_and(|e| e == "json");
    let values = if json {
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
    Ok((values, size))
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

    /// A sideload dir with `files`, each of `size` bytes of YAML.
    fn dir_of(files: usize, size: usize) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..files {
            let pad = "x".repeat(size.saturating_sub(6));
            std::fs::write(
                dir.path().join(format!("{i}.yml")),
                format!("k: \"{pad}\"\n"),
            )
            .unwrap();
        }
        let uri = format!("file://{}", dir.path().display());
        (dir, uri)
    }

    #[test]
    fn a_source_past_a_limit_is_refused_by_name_and_counted_on_reload() {
        let breaches = Arc::new(LimitBreaches::default());
        let limits = SideloadConfig {
            max_files: 3,
            max_file_size: 100,
            max_total_size: 250,
        };
        let sideloads = Sideloads::new(limits, breaches.clone());
        let (ok, uri) = dir_of(2, 100);
        let _source = sideloads.source(&uri).unwrap();
        std::fs::write(ok.path().join("x.yml"), "k: 1\n").unwrap();
        std::fs::write(ok.path().join("y.yml"), "k: 1\n").unwrap();
        assert!(sideloads.reload().is_err());
        assert_eq!(
            breaches.get(model::Limit::SideloadMaxFiles),
            1,
            "counted on reload"
        );

        let (_many, uri) = dir_of(4, 10);
        let e = sideloads.source(&uri).err().unwrap();
        assert!(
            e.contains("more than 3 values files (sideload.max_files)"),
            "{e}"
        );
        let (_big, uri) = dir_of(1, 101);
        let e = sideloads.source(&uri).err().unwrap();
        assert!(
            e.contains("0.yml: 101 bytes, more than the 100 allowed (sideload.max_file_size)"),
            "{e}"
        );
        let (_total, uri) = dir_of(3, 90);
        let e = sideloads.source(&uri).err().unwrap();
        assert!(
            e.contains("more than 250 bytes (sideload.max_total_size)"),
            "{e}"
        );
        assert_eq!(
            breaches.get(model::Limit::SideloadMaxFileSize),
            0,
            "counted by the define that cites it"
        );
    }

    #[cfg(unix)]
    #[test]
    fn links_to_devices_and_loops_are_not_followed() {
        let (dir, uri) = dir_of(1, 10);
        std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).unwrap();
        let sideloads = Sideloads::default();
        let source = sideloads.source(&uri).unwrap();
        assert!(source.lookup(&["0.yml".into()], "k").is_some());
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.yml")).unwrap();
        let e = sideloads.reload().unwrap_err();
        assert!(e.contains("zero.yml: a device, not a regular file"), "{e}");
    }
}
