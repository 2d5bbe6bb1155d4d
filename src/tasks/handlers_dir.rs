//! Topic handler files in the tasks directory: `TASKS_DIR/handlers/*.yaml`
//! (or `.yml`, `.json`), each a Kapacitor handler file, as Kapacitor's load
//! directory has them (its id defaults to the file's name). They are
//! defined at start and kept in step: a new or changed file (re)defines its
//! handler, a removed one deletes it, and a file that does not read keeps
//! the running version and shows its error in the status.
//!
//! The directory is looked at every second rather than watched: there are
//! few such files, and a look costs a directory read and the files' sizes
//! and times, which also works where file events do not (network
//! filesystems, bind mounts).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crate::effects::topics::{TopicHandlerSpec, Topics};

/// How often the directory is looked at.
const EVERY: Duration = Duration::from_secs(1);

/// What a file was when last read: its size and time, and the handler it
/// defined.
#[derive(Clone, PartialEq)]
struct Seen {
    size: u64,
    modified: Option<SystemTime>,
    defined: Option<(String, String)>,
}

/// A running sync of the handlers directory.
pub struct HandlersDirSync {
    /// Dropping it stops the thread.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HandlersDirSync {
    /// Defines every handler of `tasks_dir/handlers`, forgets the file
    /// handlers whose files are gone, then follows changes.
    pub fn start(tasks_dir: &Path, topics: Arc<Topics>) -> Result<HandlersDirSync, String> {
        let dir = tasks_dir.join("handlers");
        let mut seen = HashMap::new();
        sync(&dir, &topics, &mut seen);
        // Handlers from files that were removed while the daemon was down.
        let defined: Vec<(String, String)> = seen
            .values()
            .filter_map(|s: &Seen| s.defined.clone())
            .collect();
        for (topic, id) in topics.file_handlers() {
            if !defined.contains(&(topic.clone(), id.clone())) {
                delete(&topics, &topic, &id);
            }
        }
        let (stop, stopping) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("handlers dir".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopping.recv_timeout(EVERY) {
                    sync(&dir, &topics, &mut seen);
                }
            })
            .map_err(|e| format!("cannot start the handlers dir thread: {e}"))?;
        Ok(HandlersDirSync {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// A sync that follows nothing (what is left after a stop).
    pub fn stopped() -> HandlersDirSync {
        HandlersDirSync {
            stop: None,
            thread: None,
        }
    }

    /// Stops following changes, once the look under way (if any) is done.
    pub fn stop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn delete(topics: &Topics, topic: &str, id: &str) {
    match topics.delete_handler(topic, id) {
        Ok(_) => tracing::info!(
            topic,
            handler = id,
            "topic handler file removed: handler deleted"
        ),
        Err(e) => tracing::warn!(
            topic,
            handler = id,
            "cannot delete the handler of a removed file: {e}"
        ),
    }
}

/// The handler files of `dir`, by path.
fn files(dir: &Path) -> BTreeMap<PathBuf, (u64, Option<SystemTime>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.path()
                .extension()
                .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
        })
        .filter_map(|e| {
            let meta = e.metadata().ok().filter(|m| m.is_file())?;
            Some((e.path(), (meta.len(), meta.modified().ok())))
        })
        .collect()
}

/// Brings the handlers in step with the files of `dir`.
fn sync(dir: &Path, topics: &Topics, seen: &mut HashMap<PathBuf, Seen>) {
    let now = files(dir);
    let gone: Vec<PathBuf> = seen
        .keys()
        .filter(|p| !now.contains_key(*p))
        .cloned()
        .collect();
    for path in gone {
        if let Some(Seen {
            defined: Some((topic, id)),
            ..
        }) = seen.remove(&path)
        {
            delete(topics, &topic, &id);
        }
        topics.set_file_error(&path.display().to_string(), None);
    }
    for (path, (size, modified)) in now {
        let before = seen.get(&path);
        if before.is_some_and(|s| s.size == size && s.modified == modified) {
            continue;
        }
        let previous = before.and_then(|s| s.defined.clone());
        let defined = define(&path, topics).or(previous.clone());
        if let (Some(old), Some(new)) = (&previous, &defined)
            && old != new
        {
            // The file now names another handler: the old one goes.
            delete(topics, &old.0, &old.1);
        }
        seen.insert(
            path,
            Seen {
                size,
                modified,
                defined,
            },
        );
    }
}

/// Defines the handler of the file at `path`; `None` (the error recorded)
/// when it does not read or cannot run.
fn define(path: &Path, topics: &Topics) -> Option<(String, String)> {
    let name = path.display().to_string();
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let read = std::fs::read_to_string(path)
        .map_err(|e| format!("{name}: {e}"))
        .and_then(|text| {
            config::TopicHandlerFile::read(&text, path, Some(stem)).map_err(|e| e.to_string())
        });
    let file = match read {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!("invalid topic handler file, keeping the running version: {e}");
            topics.set_file_error(&name, Some(e));
            return None;
        }
    };
    for ignored in &file.ignored {
        tracing::warn!("{ignored}");
    }
    let spec = TopicHandlerSpec {
        id: file.id,
        topic: file.topic,
        kind: file.kind,
        match_expr: file.match_expr,
        options: file.options,
    };
    let key = (spec.topic.clone(), spec.id.clone());
    match topics.put_handler(spec, true) {
        Ok(_) => {
            tracing::info!(topic = %key.0, handler = %key.1, "topic handler defined from {name}");
            topics.set_file_error(&name, None);
            Some(key)
        }
        Err(e) => {
            tracing::warn!("topic handler file {name}: {e}");
            topics.set_file_error(&name, Some(format!("{name}: {e}")));
            None
        }
    }
}
