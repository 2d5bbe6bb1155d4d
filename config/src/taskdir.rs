//! The tasks directory: `NAME.tick` + `NAME.yaml` (or `.yml`) is task NAME.
//!
//! [`TaskDir::scan`] reads the whole directory into valid tasks and invalid
//! ones (each with located errors). [`TaskDir::watch`] watches the
//! directory itself, never single files (editors save by writing a temp file
//! and renaming it over the target, which a file watch does not survive),
//! treats the debounced events only as a hint that something changed, and
//! after each burst rescans and sends what differs from the last scan. So
//! missed events, swap files, files vanishing mid-read and several events
//! per save all come out as at most one event per task that really changed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, LazyLock};
use std::thread;
use std::time::Duration;

use notify::{PollWatcher, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{
    DebounceEventResult, Debouncer, NoCache, RecommendedCache, new_debouncer_opt,
};
use regex::Regex;

use crate::error::{ConfigError, ConfigErrors};
use crate::files::FileError;
use crate::task::TaskMeta;

static TASK_ID: LazyLock<Regex> = LazyLock::new(|| {
    // A literal pattern: compiling it cannot fail.
    Regex::new(r"^[-._\p{L}0-9]+$").unwrap_or_else(|e| unreachable!("{e}"))
});

/// Whether `id` is a valid task id (`^[-._\p{L}0-9]+$`).
pub fn is_valid_task_id(id: &str) -> bool {
    TASK_ID.is_match(id)
}

/// One valid task read from the directory.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFiles {
    pub id: String,
    pub script_path: PathBuf,
    pub meta_path: PathBuf,
    pub script: String,
    /// The metadata file as written (for storing or pushing it elsewhere).
    pub meta_text: String,
    pub meta: TaskMeta,
    /// A stable hash (FNV-1a) of the script and the metadata text: equal
    /// hashes mean nothing the task is built from changed.
    pub content_hash: u64,
}

/// A task whose files are there but cannot be used as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidTask {
    pub id: String,
    pub errors: ConfigErrors,
    /// True when the problem is that the pair is incomplete (a script
    /// without metadata, metadata without its script): the task as a whole
    /// is gone, rather than a bad edit of one that exists.
    pub incomplete: bool,
}

/// Everything found in one scan, sorted by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanResult {
    pub tasks: Vec<TaskFiles>,
    pub invalid: Vec<InvalidTask>,
    /// The directory itself could not be read.
    pub dir_error: Option<ConfigError>,
}

impl ScanResult {
    /// Every error in the scan, for logging.
    pub fn errors(&self) -> impl Iterator<Item = &ConfigError> {
        self.dir_error
            .iter()
            .chain(self.invalid.iter().flat_map(|t| t.errors.iter()))
    }
}

/// A change in the directory since the previous scan.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskDirEvent {
    /// New, changed, or valid again after being invalid (then possibly with
    /// the hash of the version already running: only the error is gone).
    Upsert(Box<TaskFiles>),
    /// Its files are gone (or one of the pair is): stop and delete it.
    Remove { id: String },
    /// The files are there but invalid: keep any running version and show
    /// the errors.
    Invalid { id: String, errors: ConfigErrors },
}

/// How changes are noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchMode {
    /// The OS's file events (inotify, FSEvents, ReadDirectoryChangesW).
    Events,
    /// Look at the directory every `interval`: for filesystems that deliver
    /// no events (NFS and other network filesystems, WSL2 `/mnt/c`, Docker
    /// bind mounts on macOS).
    Poll { interval: Duration },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    pub mode: WatchMode,
    /// Quiet time that ends a burst of events. Default 100 ms.
    pub debounce: Duration,
    /// Also rescan this often with no events at all (belt and braces for
    /// lost events). Default none.
    pub rescan_interval: Option<Duration>,
    /// Largest task file (script or YAML) read, in bytes: a larger one is
    /// an error naming it (`limits.max_script_size`). Default 1 MiB.
    pub max_file_size: u64,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            mode: WatchMode::Events,
            debounce: Duration::from_millis(100),
            rescan_interval: None,
            max_file_size: model::Limits::default().max_script_size as u64,
        }
    }
}

/// The watcher could not be started.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("tasks directory {}: {source}", path.display())]
    Dir { path: PathBuf, source: io::Error },
    #[error("cannot watch the tasks directory {}: {source}", path.display())]
    Notify {
        path: PathBuf,
        source: notify::Error,
    },
}

/// A running watch: the scan it started from and the events since.
#[derive(Debug)]
pub struct Watching {
    /// Dropping it stops the watch (the receiver then disconnects).
    pub watcher: TaskDirWatcher,
    /// The directory as it was when watching began; events are changes
    /// relative to it.
    pub initial: ScanResult,
    pub events: Receiver<TaskDirEvent>,
}

/// Keeps the watch alive; see [`TaskDir::watch`].
pub struct TaskDirWatcher {
    dir: PathBuf,
    signal: Sender<Signal>,
    debouncer: DebouncerKind,
    scans: Arc<AtomicU64>,
}

impl std::fmt::Debug for TaskDirWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskDirWatcher")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl TaskDirWatcher {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Rescans done since the watch started (not counting the first scan).
    pub fn scans(&self) -> u64 {
        self.scans.load(Ordering::Relaxed)
    }

    /// Rescans now (an API or SIGHUP trigger); changes arrive as events.
    pub fn rescan(&self) {
        let _ = self.signal.send(Signal::Rescan);
    }

    /// Stops watching and waits for notify's thread to finish (dropping
    /// does the same without waiting). The event receiver disconnects once
    /// the scan in progress, if any, is done.
    pub fn stop(self) {
        match self.debouncer {
            DebouncerKind::Events(d) => d.stop(),
            DebouncerKind::Poll(d) => d.stop(),
        }
    }
}

enum DebouncerKind {
    Events(Debouncer<RecommendedWatcher, RecommendedCache>),
    Poll(Debouncer<PollWatcher, NoCache>),
}

enum Signal {
    Rescan,
}

/// The tasks directory: scanning and watching.
#[derive(Debug)]
pub struct TaskDir;

impl TaskDir {
    /// Reads every task in `dir` (not recursive). Never fails as a whole: a
    /// bad pair is an [`InvalidTask`], an unreadable directory is
    /// `dir_error`, a file that vanishes while being read is skipped.
    pub fn scan(dir: &Path) -> ScanResult {
        scan(dir, WatchOptions::default().max_file_size)
    }

    /// Watches `dir`, which must exist. Watching starts before the initial
    /// scan so that nothing written in between is missed.
    pub fn watch(dir: &Path, options: WatchOptions) -> Result<Watching, WatchError> {
        let meta = std::fs::metadata(dir).map_err(|source| WatchError::Dir {
            path: dir.to_owned(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(WatchError::Dir {
                path: dir.to_owned(),
                source: io::Error::other("not a directory"),
            });
        }
        let (signal_tx, signal_rx) = mpsc::channel::<Signal>();
        let notify_error = |source| WatchError::Notify {
            path: dir.to_owned(),
            source,
        };
        let handler_tx = signal_tx.clone();
        let handler = move |result: DebounceEventResult| {
            if worth_a_rescan(&result) {
                let _ = handler_tx.send(Signal::Rescan);
            }
        };
        let debouncer = match options.mode {
            WatchMode::Events => {
                let mut d = new_debouncer_opt::<_, RecommendedWatcher, RecommendedCache>(
                    options.debounce,
                    None,
                    handler,
                    RecommendedCache::new(),
                    notify::Config::default(),
                )
                .map_err(notify_error)?;
                d.watch(dir, RecursiveMode::NonRecursive)
                    .map_err(notify_error)?;
                DebouncerKind::Events(d)
            }
            WatchMode::Poll { interval } => {
                // Contents, not only mtimes: coarse timestamps would hide an
                // edit made within the same second.
                let config = notify::Config::default()
                    .with_poll_interval(interval)
                    .with_compare_contents(true);
                let mut d = new_debouncer_opt::<_, PollWatcher, NoCache>(
                    options.debounce,
                    None,
                    handler,
                    NoCache,
                    config,
                )
                .map_err(notify_error)?;
                d.watch(dir, RecursiveMode::NonRecursive)
                    .map_err(notify_error)?;
                DebouncerKind::Poll(d)
            }
        };

        let initial = scan(dir, options.max_file_size);
        let mut state = State::default();
        state.apply(&initial);
        let (events_tx, events_rx) = mpsc::channel();
        let worker_dir = dir.to_owned();
        let rescan_interval = options.rescan_interval;
        let max_file_size = options.max_file_size;
        let scans = Arc::new(AtomicU64::new(0));
        let counted = scans.clone();
        thread::Builder::new()
            .name("tasks-dir-watch".to_owned())
            .spawn(move || {
                let rescan = Rescan {
                    dir: &worker_dir,
                    signals: &signal_rx,
                    events: &events_tx,
                    interval: rescan_interval,
                    scans: &counted,
                    max_file_size,
                };
                rescan.run(state);
            })
            .map_err(|source| WatchError::Dir {
                path: dir.to_owned(),
                source,
            })?;
        Ok(Watching {
            watcher: TaskDirWatcher {
                dir: dir.to_owned(),
                signal: signal_tx,
                debouncer,
                scans,
            },
            initial,
            events: events_rx,
        })
    }
}

/// Whether a debounced burst touched anything that could be a task file.
/// Errors and events without paths (a rescan request from the OS layer)
/// always count: events are hints, a rescan is cheap.
fn worth_a_rescan(result: &DebounceEventResult) -> bool {
    match result {
        Err(_) => true,
        Ok(events) => events.iter().any(|e| {
            e.need_rescan()
                || (changes_files(&e.kind) && e.paths.is_empty())
                || (changes_files(&e.kind)
                    && e.paths.iter().any(|p| match file_name(p) {
                        Some(name) => classify(name).is_some(),
                        None => true,
                    }))
        }),
    }
}

/// Whether an event can mean a file changed. Opening or reading one (the
/// scan itself does, for every task file) cannot: were those a reason to
/// rescan, each scan would cause the next, for ever.
fn changes_files(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

fn file_name(path: &Path) -> Option<&str> {
    path.file_name().and_then(|n| n.to_str())
}

/// The watcher's thread: rescans when signalled (or every `interval`)
/// and sends what changed.
struct Rescan<'a> {
    dir: &'a Path,
    signals: &'a Receiver<Signal>,
    events: &'a Sender<TaskDirEvent>,
    interval: Option<Duration>,
    /// Rescans done, for [`TaskDirWatcher::scans`].
    scans: &'a AtomicU64,
    max_file_size: u64,
}

impl Rescan<'_> {
    fn run(&self, mut state: State) {
        loop {
            let got = match self.interval {
                Some(every) => self.signals.recv_timeout(every),
                None => self
                    .signals
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
            };
            match got {
                Ok(Signal::Rescan) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // Coalesce whatever else queued up meanwhile into this one rescan.
            while self.signals.try_recv().is_ok() {}
            let result = scan(self.dir, self.max_file_size);
            self.scans.fetch_add(1, Ordering::Relaxed);
            for event in state.apply(&result) {
                if self.events.send(event).is_err() {
                    return;
                }
            }
        }
    }
}

/// What the watcher last told the consumer about each id.
#[derive(Debug, Default)]
struct State {
    ids: HashMap<String, Known>,
}

#[derive(Debug)]
struct Known {
    /// Hash of the version last sent as valid, while it is still defined.
    valid: Option<u64>,
    /// The errors last sent, while the files are invalid.
    invalid: Option<ConfigErrors>,
}

impl State {
    fn apply(&mut self, scan: &ScanResult) -> Vec<TaskDirEvent> {
        let mut out = Vec::new();
        // An unreadable directory (being replaced, briefly gone) says
        // nothing about the tasks; keep everything until it can be read.
        if scan.dir_error.is_some() {
            return out;
        }
        let mut seen = HashSet::new();
        for task in &scan.tasks {
            seen.insert(task.id.as_str());
            let known = self.ids.entry(task.id.clone()).or_insert(Known {
                valid: None,
                invalid: None,
            });
            if known.valid != Some(task.content_hash) || known.invalid.is_some() {
                out.push(TaskDirEvent::Upsert(Box::new(task.clone())));
            }
            known.valid = Some(task.content_hash);
            known.invalid = None;
        }
        for task in &scan.invalid {
            seen.insert(task.id.as_str());
            let known = self.ids.entry(task.id.clone()).or_insert(Known {
                valid: None,
                invalid: None,
            });
            if task.incomplete && known.valid.take().is_some() {
                out.push(TaskDirEvent::Remove {
                    id: task.id.clone(),
                });
            }
            if known.invalid.as_ref() != Some(&task.errors) {
                out.push(TaskDirEvent::Invalid {
                    id: task.id.clone(),
                    errors: task.errors.clone(),
                });
                known.invalid = Some(task.errors.clone());
            }
        }
        let mut gone: Vec<String> = self
            .ids
            .keys()
            .filter(|id| !seen.contains(id.as_str()))
            .cloned()
            .collect();
        gone.sort();
        for id in gone {
            self.ids.remove(&id);
            out.push(TaskDirEvent::Remove { id });
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Script,
    Yaml,
    Yml,
}

/// What a directory entry is to us; `None` for everything else, including
/// editors' swap, backup, lock and probe files and hidden files.
fn classify(name: &str) -> Option<(&str, FileKind)> {
    if name.starts_with('.')
        || name.starts_with('#')
        || name.ends_with('~')
        || name == "4913"
        || name.ends_with(".swp")
        || name.ends_with(".swx")
    {
        return None;
    }
    let (stem, ext) = name.rsplit_once('.')?;
    let kind = match ext {
        "tick" => FileKind::Script,
        "yaml" => FileKind::Yaml,
        "yml" => FileKind::Yml,
        _ => return None,
    };
    if stem.is_empty() {
        return None;
    }
    Some((stem, kind))
}

#[derive(Debug, Default)]
struct Pair {
    script: Option<PathBuf>,
    yaml: Option<PathBuf>,
    yml: Option<PathBuf>,
    /// One of its files is a FIFO, a device or a socket: not read.
    refused: Option<ConfigError>,
}

fn file_error(path: &Path, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.display().to_string(),
        key: String::new(),
        line: None,
        column: None,
        message: message.into(),
    }
}

/// A task file's text, if it is a regular file of at most `max` bytes
/// (one the size of `/dev/zero` or a FIFO with no writer must not hold the
/// scan up). `Ok(None)`: the file vanished since the directory was listed.
fn read(path: &Path, max: u64) -> Result<Option<String>, ConfigError> {
    match crate::files::read_text(path, max) {
        Ok(text) => Ok(Some(text)),
        Err(FileError::NotFound) => Ok(None),
        Err(e @ FileError::TooLarge { .. }) => {
            Err(file_error(path, format!("{e} (limits.max_script_size)")))
        }
        Err(e) => Err(file_error(path, e.to_string())),
    }
}

fn scan(dir: &Path, max_file_size: u64) -> ScanResult {
    let mut result = ScanResult::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            result.dir_error = Some(file_error(
                dir,
                format!("cannot read the tasks directory: {e}"),
            ));
            return result;
        }
    };
    let mut pairs: BTreeMap<String, Pair> = BTreeMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = file_name(&path) else {
            continue;
        };
        let Some((stem, kind)) = classify(name) else {
            continue;
        };
        // Directories named like tasks are not tasks; a vanished entry is
        // skipped; a FIFO, device or socket is refused, unread.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            continue;
        }
        let pair = pairs.entry(stem.to_owned()).or_default();
        if !meta.is_file() {
            let what = crate::files::describe(&meta.file_type());
            pair.refused = Some(file_error(&path, FileError::NotRegular(what).to_string()));
            continue;
        }
        match kind {
            FileKind::Script => pair.script = Some(path),
            FileKind::Yaml => pair.yaml = Some(path),
            FileKind::Yml => pair.yml = Some(path),
        }
    }

    let mut referenced: HashSet<String> = HashSet::new();
    let mut scripts_only: Vec<(String, PathBuf)> = Vec::new();
    for (id, pair) in &pairs {
        let invalid = |errors: Vec<ConfigError>, incomplete| InvalidTask {
            id: id.clone(),
            errors: ConfigErrors(errors),
            incomplete,
        };
        if let Some(e) = &pair.refused {
            result.invalid.push(invalid(vec![e.clone()], false));
            continue;
        }
        let meta_path = match (&pair.yaml, &pair.yml) {
            (Some(yaml), Some(_)) => {
                result.invalid.push(invalid(
                    vec![file_error(
                        yaml,
                        format!("both {id}.yaml and {id}.yml exist; keep one"),
                    )],
                    false,
                ));
                continue;
            }
            (Some(p), None) | (None, Some(p)) => p,
            (None, None) => {
                if let Some(script) = &pair.script {
                    scripts_only.push((id.clone(), script.clone()));
                }
                continue;
            }
        };
        if !is_valid_task_id(id) {
            result.invalid.push(invalid(
                vec![file_error(
                    meta_path,
                    format!(
                        "`{id}` is not a valid task id; a task file name may hold letters, \
                         digits, `-`, `_` and `.`"
                    ),
                )],
                true,
            ));
            continue;
        }
        let meta_text = match read(meta_path, max_file_size) {
            Ok(Some(text)) => text,
            Ok(None) => {
                if let Some(script) = &pair.script {
                    scripts_only.push((id.clone(), script.clone()));
                }
                continue;
            }
            Err(e) => {
                result.invalid.push(invalid(vec![e], false));
                continue;
            }
        };
        let meta = TaskMeta::from_yaml(&meta_text, meta_path);
        let script_name = match &meta {
            Ok(m) => m.script.clone(),
            // Still honour `script:` so a broken yaml does not also report
            // its script as unpaired.
            Err(_) => script_key(&meta_text),
        };
        if let Some(name) = &script_name {
            referenced.insert(name.clone());
        }
        let meta = match meta {
            Ok(meta) => meta,
            Err(errors) => {
                result.invalid.push(invalid(errors.0, false));
                continue;
            }
        };
        let script_path = match &meta.script {
            Some(name) => dir.join(name),
            None => match &pair.script {
                Some(p) => p.clone(),
                None => {
                    result.invalid.push(invalid(
                        vec![file_error(
                            meta_path,
                            format!(
                                "no script {id}.tick beside it (or name another with `script:`)"
                            ),
                        )],
                        true,
                    ));
                    continue;
                }
            },
        };
        let script = match read(&script_path, max_file_size) {
            Ok(Some(script)) => script,
            Ok(None) => {
                let line = key_line(&meta_text, "script");
                result.invalid.push(invalid(
                    vec![ConfigError {
                        path: meta_path.display().to_string(),
                        key: if line.is_some() { "script" } else { "" }.to_owned(),
                        line,
                        column: line.map(|_| 1),
                        message: format!("script file {} not found", script_path.display()),
                    }],
                    true,
                ));
                continue;
            }
            Err(e) => {
                result.invalid.push(invalid(vec![e], false));
                continue;
            }
        };
        if script.trim().is_empty() {
            result.invalid.push(invalid(
                vec![file_error(&script_path, "the script is empty")],
                false,
            ));
            continue;
        }
        let content_hash = hash(&script, &meta_text);
        result.tasks.push(TaskFiles {
            id: id.clone(),
            script_path,
            meta_path: meta_path.clone(),
            script,
            meta_text,
            meta,
            content_hash,
        });
    }
    for (id, script) in scripts_only {
        let name = file_name(&script).unwrap_or_default();
        if referenced.contains(name) {
            continue;
        }
        result.invalid.push(InvalidTask {
            errors: ConfigErrors(vec![file_error(
                &script,
                format!("no {id}.yaml beside it, so it is not a task yet (write {id}.yaml with at least `type: stream`)"),
            )]),
            id,
            incomplete: true,
        });
    }
    result.invalid.sort_by(|a, b| a.id.cmp(&b.id));
    result
}

/// The 1-based line of a top-level `key:` in a YAML text, if written plainly.
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map(|i| i + 1)
}

/// `script: NAME` read loosely from a text that failed validation.
fn script_key(text: &str) -> Option<String> {
    let line = text.lines().nth(key_line(text, "script")? - 1)?;
    let value = line.split_once(':')?.1.trim();
    let value = value.trim_matches(|c| c == '"' || c == '\'');
    (!value.is_empty()).then(|| value.to_owned())
}

/// FNV-1a, 64 bits: stable across runs and Rust versions, unlike
/// `DefaultHasher`, so it can be stored and compared later.
fn hash(script: &str, meta: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(&(script.len() as u64).to_le_bytes());
    eat(script.as_bytes());
    eat(&(meta.len() as u64).to_le_bytes());
    eat(meta.as_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_ignored() {
        for junk in [
            ".cpu.tick.swp",
            "cpu.tick.swp",
            ".cpu.yaml.swx",
            "cpu.tick~",
            ".#cpu.tick",
            "#cpu.tick#",
            "4913",
            ".hidden.tick",
            "README.md",
            ".tick",
        ] {
            assert_eq!(classify(junk), None, "{junk}");
        }
        assert_eq!(classify("cpu.tick"), Some(("cpu", FileKind::Script)));
        assert_eq!(classify("a.b.yml"), Some(("a.b", FileKind::Yml)));
    }

    #[test]
    fn ids() {
        assert!(is_valid_task_id("cpu_idle-1.v2"));
        assert!(is_valid_task_id("élan"));
        assert!(!is_valid_task_id("my task"));
        assert!(!is_valid_task_id(""));
        assert!(!is_valid_task_id("a/b"));
    }

    #[test]
    fn hash_separates_script_and_meta() {
        assert_ne!(hash("ab", "c"), hash("a", "bc"));
        assert_eq!(hash("a", "b"), hash("a", "b"));
    }
}
