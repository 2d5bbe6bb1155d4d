//! The redb store of kapacitord: versioned tables with a `meta` table holding
//! the schema version, task definitions, alert state per alert id, the
//! index of recordings (whose payloads live as files under the data dir),
//! alert topics (their events and their handlers, [`topics`]), and the
//! daemon's own ids (its cluster id); and consistent copies of it
//! ([`Store::backup`]).
//!
//! The API is synchronous: async callers wrap each call in
//! `tokio::task::spawn_blocking`. Every write is its own transaction committed
//! with [`Durability::Immediate`], so a write that has returned `Ok` survives
//! `kill -9` and power loss.
//!
//! # Layout
//!
//! One file, `<data_dir>/kapacitor.redb`. Values are JSON (serde_json) so the
//! file stays debuggable and a field added with `#[serde(default)]` needs no
//! migration. Each table name carries a version suffix ([`TASKS`] is
//! `tasks_v1`); a change of a table's key or value shape is a new table and a
//! numbered migration that copies the old one over, never an in-place edit.
//! Only [`META`] is unversioned, and its types (`&str` → `u64`) never change,
//! so that any build can read the schema version of any file.
//!
//! # Schema versions
//!
//! [`SCHEMA_VERSION`] is the version this build writes. [`Store::open`] runs
//! the migrations from the file's version up to it, each in its own
//! transaction together with the bump of `schema_version`, so a crash between
//! two migrations resumes at the next one. A file stamped with a newer version
//! than this build knows is refused with [`StoreError::NewerSchema`] and left
//! untouched.

mod handle;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use handle::{Handle, Txn};

mod topics;

pub use topics::{
    TOPIC_EVENTS, TOPIC_HANDLERS, TopicEventRecord, TopicHandlerRecord, TopicHistoryRecord, TopicOp,
};

use redb::{
    Durability, ReadTransaction, ReadableTable, TableDefinition, TableError, WriteTransaction,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod backup;

/// The file name of the store inside the data dir.
pub const FILE_NAME: &str = "kapacitor.redb";

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u32 = 2;

/// `meta`: `&str` key → `u64`. Holds [`SCHEMA_VERSION_KEY`]. Unversioned on
/// purpose, and its types never change: every build must be able to read the
/// version of every file in order to refuse a newer one.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The key in [`META`] holding the schema version of the file. Absent in a
/// new file (version 0).
pub const SCHEMA_VERSION_KEY: &str = "schema_version";

const TASKS_NAME: &str = "tasks_v1";
const ALERT_STATES_NAME: &str = "alert_states_v1";
const RECORDINGS_NAME: &str = "recordings_v1";

/// `tasks_v1`: task id → JSON of [`TaskRecord`]. Only tasks defined through
/// the CLI or the HTTP API; tasks from the tasks directory are rebuilt from
/// the directory at start-up and are never stored.
pub const TASKS: TableDefinition<&str, &str> = TableDefinition::new(TASKS_NAME);

/// `alert_states_v1`: (task id, alert id) → JSON of [`AlertStateRecord`].
/// Sorted by task then alert id, so one task's states are one range.
pub const ALERT_STATES: TableDefinition<(&str, &str), &str> =
    TableDefinition::new(ALERT_STATES_NAME);

/// `recordings_v1`: recording id → JSON of [`RecordingRecord`]. The payloads
/// are files under `<data_dir>/recordings/`, referenced by path.
pub const RECORDINGS: TableDefinition<&str, &str> = TableDefinition::new(RECORDINGS_NAME);

const SERVER_IDS_NAME: &str = "server_ids_v1";

/// `server_ids_v1`: name (`cluster_id`) → JSON string of an id this
/// daemon keeps for life, such as the one its InfluxDB subscriptions are
/// named after. Created by its first write rather than by a migration: a
/// file without it simply has no ids yet, and older builds of schema 1
/// still open the file.
pub const SERVER_IDS: TableDefinition<&str, &str> = TableDefinition::new(SERVER_IDS_NAME);

/// `quarantine_v1`: `"<table>/<key>"` → JSON of [`Quarantined`]: records
/// that could not be decoded, moved aside so that one bad record never
/// stops the daemon from starting, and kept for a person to look at.
pub const QUARANTINE: TableDefinition<&str, &str> = TableDefinition::new("quarantine_v1");

/// A record moved out of its table because it could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    pub table: String,
    pub key: String,
    /// Why it could not be read.
    pub error: String,
    /// The stored text, as it was.
    pub value: String,
}

/// A task defined through the CLI or the HTTP API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    /// `"stream"` or `"batch"`.
    pub task_type: String,
    /// (database, retention policy) pairs.
    pub dbrps: Vec<(String, String)>,
    pub script: String,
    /// `from`, `where`, `query`, `period`, `cron`, `group_by` as given.
    pub meta: BTreeMap<String, String>,
    pub enabled: bool,
    /// Nanoseconds since the Unix epoch.
    pub created: i64,
    /// Nanoseconds since the Unix epoch.
    pub modified: i64,
    /// Nanoseconds since the Unix epoch, if it was ever enabled.
    pub last_enabled: Option<i64>,
    /// The last error of the task, empty if none.
    pub error: String,
}

/// The state of one alert of one task, so a restart neither re-sends alerts
/// already sent nor loses a pending recovery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertStateRecord {
    /// `OK`, `INFO`, `WARNING` or `CRITICAL`.
    pub level: String,
    /// When it left OK, nanoseconds since the Unix epoch.
    pub since: i64,
    /// Time of the last event, nanoseconds since the Unix epoch.
    pub last_event: i64,
    pub previous_level: String,
}

/// A table keyed by (group, id): alert states by (task, alert id), topic
/// events by (topic, event id).
type PairTable<'t> = redb::Table<'t, (&'static str, &'static str), &'static str>;

/// Removes every row of `group` from the open table.
fn remove_group(table: &mut PairTable<'_>, group: &str) -> Result<(), redb::Error> {
    let mut ids = Vec::new();
    for entry in table.range::<(&str, &str)>((group, "")..)? {
        let (k, _) = entry?;
        let (g, id) = k.value();
        if g != group {
            break;
        }
        ids.push(id.to_owned());
    }
    for id in &ids {
        table.remove((group, id.as_str()))?;
    }
    Ok(())
}

/// One change to a (group, id) table, its record already encoded.
enum PairChange<'a> {
    Put(&'a str, &'a str, String),
    Remove(&'a str, &'a str),
    RemoveGroup(&'a str),
}

/// One change to the alert states, for [`Store::apply_alert_states`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlertStateOp {
    Put {
        task: String,
        alert_id: String,
        state: AlertStateRecord,
    },
    Remove {
        task: String,
        alert_id: String,
    },
    /// Every alert state of a task (the task was deleted).
    RemoveTask {
        task: String,
    },
}

/// An entry of the recordings index. Fields after `error` came with live
/// recording; they default when absent, so older records read unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingRecord {
    pub id: String,
    /// `"stream"` or `"batch"`.
    pub kind: String,
    /// Path of the payload file.
    pub path: String,
    /// Size of the payload in bytes.
    pub size: u64,
    /// Nanoseconds since the Unix epoch.
    pub created: i64,
    /// `recording`, `finished` or `failed`.
    pub status: String,
    /// Why it failed or stopped early (a limit), empty if it did not.
    pub error: String,
    /// Where the data came from, in the user's words (`live stream
    /// db=telegraf measurement=cpu`, `file input.srpl`).
    #[serde(default)]
    pub source: String,
    /// Points (stream) or batches (batch) held.
    #[serde(default)]
    pub points: u64,
    /// Points the recorder could not keep up with and dropped.
    #[serde(default)]
    pub dropped: u64,
    /// Time of the earliest and latest point, ns since the Unix epoch.
    #[serde(default)]
    pub first: Option<i64>,
    #[serde(default)]
    pub last: Option<i64>,
    /// When it stopped recording, ns since the Unix epoch.
    #[serde(default)]
    pub finished: Option<i64>,
}

/// Everything that can go wrong in the store. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another `Store` in this process) has the file open.
    #[error(
        "store {} is in use by another process (is another kapacitord running with the same data dir?)",
        path.display()
    )]
    InUse { path: PathBuf },

    /// The file was written by a newer build.
    #[error(
        "store {} has schema version {found}, newer than the {supported} this build supports; \
         run a newer kapacitord or point data_dir elsewhere (the file was left untouched)",
        path.display()
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// Creating the data dir or opening the file failed.
    #[error("store {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// redb reported an error (corruption, I/O, ...).
    #[error("store {}: {source}", path.display())]
    Db {
        path: PathBuf,
        #[source]
        source: Box<redb::Error>,
    },

    /// A stored value is not valid JSON of its record type.
    #[error("store {}: table {table}, key {key}: bad record: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        table: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },

    /// A record could not be serialised (not expected with these types).
    #[error("store {}: table {table}, key {key}: cannot encode record: {source}", path.display())]
    Encode {
        path: PathBuf,
        table: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

/// One migration: from version `n - 1` to `n`, where `n` is its index + 1.
/// Must be idempotent (safe to run on a file it has partly or fully run on).
type Migration = fn(&WriteTransaction) -> Result<(), redb::Error>;

/// The migrations, in order: `MIGRATIONS[0]` takes a file from version 0 to 1.
const MIGRATIONS: &[Migration] = &[migrate_v0_to_v1, topics::migrate_v1_to_v2];

/// v0 → v1: creates the tables (opening a table in a write transaction creates
/// it, and is a no-op when it exists).
fn migrate_v0_to_v1(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.open_table(TASKS)?;
    txn.open_table(ALERT_STATES)?;
    txn.open_table(RECORDINGS)?;
    Ok(())
}

/// A stored version beyond `u32` is certainly newer than this build's.
fn version_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

const _: () = assert!(MIGRATIONS.len() == SCHEMA_VERSION as usize);

/// The redb store. Cheap to share behind an `Arc`; all methods take `&self`.
/// A write that fails on I/O (disk full, read-only) is an error naming the
/// file and the cause; the next call opens the file again, so the store
/// works again once the cause is gone.
pub struct Store {
    db: Handle,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens or creates `<data_dir>/kapacitor.redb`, creating the dir, and
    /// runs the migrations up to [`SCHEMA_VERSION`].
    ///
    /// Refuses a file whose schema version is newer than this build's with
    /// [`StoreError::NewerSchema`], and a file another process (or another
    /// `Store` of this process) has open with [`StoreError::InUse`].
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        private_dir(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(FILE_NAME);
        let db = Handle::open(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse { path: path.clone() },
            e => StoreError::Db {
                path: path.clone(),
                source: Box::new(e.into()),
            },
        })?;
        private_file(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let store = Store { db, path };
        store.migrate()?;
        Ok(store)
    }

    /// The path of the store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version stamped in the file (0 for a file that was never
    /// migrated, which `open` never leaves behind).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let txn = self.read()?;
        let table = match txn.open_table(META) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(self.db_err(e)),
        };
        let v = table
            .get(SCHEMA_VERSION_KEY)
            .map_err(|e| self.db_err(e))?
            .map_or(0, |g| g.value());
        Ok(version_u32(v))
    }

    /// Runs each pending migration in its own transaction with its version
    /// bump; refuses a newer file without writing to it.
    fn migrate(&self) -> Result<(), StoreError> {
        loop {
            let txn = self.write()?;
            let found = {
                let meta = txn.open_table(META).map_err(|e| self.db_err(e))?;
                let v = meta
                    .get(SCHEMA_VERSION_KEY)
                    .map_err(|e| self.db_err(e))?
                    .map_or(0, |g| g.value());
                version_u32(v)
            };
            if found > SCHEMA_VERSION {
                txn.abort().map_err(|e| self.db_err(e))?;
                return Err(StoreError::NewerSchema {
                    path: self.path.clone(),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            if found == SCHEMA_VERSION {
                // Nothing to do; dropping aborts, but a fresh file got `meta`
                // created above, which is harmless to lose.
                txn.abort().map_err(|e| self.db_err(e))?;
                return Ok(());
            }
            MIGRATIONS[found as usize](&txn).map_err(|e| self.db_err(e))?;
            {
                let mut meta = txn.open_table(META).map_err(|e| self.db_err(e))?;
                meta.insert(SCHEMA_VERSION_KEY, u64::from(found + 1))
                    .map_err(|e| self.db_err(e))?;
            }
            txn.commit().map_err(|e| self.db_err(e))?;
        }
    }

    // ---- server ids ------------------------------------------------------

    /// The id stored under `key` in [`SERVER_IDS`]; the first call stores
    /// `new()` there. One transaction, so concurrent callers agree.
    pub fn server_id(&self, key: &str, new: impl FnOnce() -> String) -> Result<String, StoreError> {
        let txn = self.write()?;
        let id = {
            let mut table = txn.open_table(SERVER_IDS).map_err(|e| self.db_err(e))?;
            let stored = table
                .get(key)
                .map_err(|e| self.db_err(e))?
                .map(|v| v.value().to_owned());
            match stored {
                Some(json) => self.decode::<String>(SERVER_IDS_NAME, key, &json)?,
                None => {
                    let id = new();
                    let json = self.encode(SERVER_IDS_NAME, key, &id)?;
                    table
                        .insert(key, json.as_str())
                        .map_err(|e| self.db_err(e))?;
                    id
                }
            }
        };
        txn.commit().map_err(|e| self.db_err(e))?;
        Ok(id)
    }

    // ---- tasks -----------------------------------------------------------

    /// Inserts or replaces the task with `task.id`.
    pub fn put_task(&self, task: &TaskRecord) -> Result<(), StoreError> {
        self.put(TASKS, TASKS_NAME, &task.id, task)
    }

    pub fn get_task(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        self.get(TASKS, TASKS_NAME, id)
    }

    /// All stored tasks, sorted by id.
    pub fn list_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        self.list(TASKS, TASKS_NAME)
    }

    /// Deletes the task; `true` if it existed. Its alert states are kept:
    /// call [`Store::delete_alert_states`] too.
    pub fn delete_task(&self, id: &str) -> Result<bool, StoreError> {
        self.delete(TASKS, id)
    }

    // ---- alert state -----------------------------------------------------

    /// Inserts or replaces the state of alert `alert_id` of task `task`.
    pub fn put_alert_state(
        &self,
        task: &str,
        alert_id: &str,
        state: &AlertStateRecord,
    ) -> Result<(), StoreError> {
        let json = self.encode(ALERT_STATES_NAME, alert_id, state)?;
        self.write_with(|txn| {
            txn.open_table(ALERT_STATES)?
                .insert((task, alert_id), json.as_str())?;
            Ok(())
        })
    }

    /// The alert states of task `task`, sorted by alert id.
    pub fn alert_states(&self, task: &str) -> Result<Vec<(String, AlertStateRecord)>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(ALERT_STATES).map_err(|e| self.db_err(e))?;
        let mut out = Vec::new();
        for entry in table
            .range::<(&str, &str)>((task, "")..)
            .map_err(|e| self.db_err(e))?
        {
            let (k, v) = entry.map_err(|e| self.db_err(e))?;
            let (t, alert_id) = k.value();
            if t != task {
                break;
            }
            out.push((
                alert_id.to_owned(),
                self.decode(ALERT_STATES_NAME, alert_id, v.value())?,
            ));
        }
        Ok(out)
    }

    /// Applies several alert-state changes in one transaction (one commit,
    /// one sync to disk), in order: what a writer batching events needs.
    pub fn apply_alert_states(&self, ops: &[AlertStateOp]) -> Result<(), StoreError> {
        let mut changes = Vec::with_capacity(ops.len());
        for op in ops {
            changes.push(match op {
                AlertStateOp::Put {
                    task,
                    alert_id,
                    state,
                } => PairChange::Put(
                    task,
                    alert_id,
                    self.encode(ALERT_STATES_NAME, alert_id, state)?,
                ),
                AlertStateOp::Remove { task, alert_id } => PairChange::Remove(task, alert_id),
                AlertStateOp::RemoveTask { task } => PairChange::RemoveGroup(task),
            });
        }
        self.apply_pairs(ALERT_STATES, &changes)
    }

    /// Applies `changes` to `def` in one transaction (one commit, one sync
    /// to disk), in order.
    fn apply_pairs(
        &self,
        def: TableDefinition<(&str, &str), &str>,
        changes: &[PairChange<'_>],
    ) -> Result<(), StoreError> {
        self.write_with(|txn| {
            let mut table = txn.open_table(def)?;
            for change in changes {
                match change {
                    PairChange::Put(group, id, json) => {
                        table.insert((*group, *id), json.as_str())?;
                    }
                    PairChange::Remove(group, id) => {
                        table.remove((*group, *id))?;
                    }
                    PairChange::RemoveGroup(group) => remove_group(&mut table, group)?,
                }
            }
            Ok(())
        })
    }

    /// Deletes every alert state of task `task`.
    pub fn delete_alert_states(&self, task: &str) -> Result<(), StoreError> {
        self.write_with(|txn| remove_group(&mut txn.open_table(ALERT_STATES)?, task))
    }

    // ---- recordings ------------------------------------------------------

    /// Inserts or replaces the recording with `rec.id`.
    pub fn put_recording(&self, rec: &RecordingRecord) -> Result<(), StoreError> {
        self.put(RECORDINGS, RECORDINGS_NAME, &rec.id, rec)
    }

    pub fn get_recording(&self, id: &str) -> Result<Option<RecordingRecord>, StoreError> {
        self.get(RECORDINGS, RECORDINGS_NAME, id)
    }

    /// All recordings, sorted by id.
    pub fn list_recordings(&self) -> Result<Vec<RecordingRecord>, StoreError> {
        self.list(RECORDINGS, RECORDINGS_NAME)
    }

    /// Deletes the index entry (not the payload file); `true` if it existed.
    pub fn delete_recording(&self, id: &str) -> Result<bool, StoreError> {
        self.delete(RECORDINGS, id)
    }

    // ---- helpers ---------------------------------------------------------

    fn db_err(&self, e: impl Into<redb::Error>) -> StoreError {
        let e = e.into();
        self.db.note(&e);
        StoreError::Db {
            path: self.path.clone(),
            source: Box::new(e),
        }
    }

    fn read(&self) -> Result<Txn<'_, ReadTransaction>, StoreError> {
        self.db.begin_read().map_err(|e| self.db_err(e))
    }

    fn write(&self) -> Result<Txn<'_, WriteTransaction>, StoreError> {
        let mut txn = self.db.begin_write().map_err(|e| self.db_err(e))?;
        // The default, but this is the promise the store makes: durable when
        // `commit` returns.
        txn.txn_mut()
            .set_durability(Durability::Immediate)
            .map_err(|e| self.db_err(e))?;
        Ok(txn)
    }

    /// Runs `f` in a write transaction and commits it; a failure of `f`
    /// aborts (by dropping the transaction).
    fn write_with(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<(), StoreError> {
        let txn = self.write()?;
        f(&txn).map_err(|e| self.db_err(e))?;
        txn.commit().map_err(|e| self.db_err(e))
    }

    fn encode<T: Serialize>(
        &self,
        table: &'static str,
        key: &str,
        value: &T,
    ) -> Result<String, StoreError> {
        serde_json::to_string(value).map_err(|source| StoreError::Encode {
            path: self.path.clone(),
            table,
            key: key.to_owned(),
            source,
        })
    }

    fn decode<T: DeserializeOwned>(
        &self,
        table: &'static str,
        key: &str,
        json: &str,
    ) -> Result<T, StoreError> {
        serde_json::from_str(json).map_err(|source| StoreError::Corrupt {
            path: self.path.clone(),
            table,
            key: key.to_owned(),
            source,
        })
    }

    fn put<T: Serialize>(
        &self,
        def: TableDefinition<&str, &str>,
        name: &'static str,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let json = self.encode(name, key, value)?;
        self.write_with(|txn| {
            txn.open_table(def)?.insert(key, json.as_str())?;
            Ok(())
        })
    }

    fn get<T: DeserializeOwned>(
        &self,
        def: TableDefinition<&str, &str>,
        name: &'static str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(def).map_err(|e| self.db_err(e))?;
        match table.get(key).map_err(|e| self.db_err(e))? {
            Some(v) => self.decode(name, key, v.value()).map(Some),
            None => Ok(None),
        }
    }

    fn list<T: DeserializeOwned>(
        &self,
        def: TableDefinition<&str, &str>,
        name: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        {
            let txn = self.read()?;
            let table = txn.open_table(def).map_err(|e| self.db_err(e))?;
            for entry in table.iter().map_err(|e| self.db_err(e))? {
                let (k, v) = entry.map_err(|e| self.db_err(e))?;
                match self.decode(name, k.value(), v.value()) {
                    Ok(record) => out.push(record),
                    Err(e) => bad.push(Quarantined {
                        table: name.to_owned(),
                        key: k.value().to_owned(),
                        error: e.to_string(),
                        value: v.value().to_owned(),
                    }),
                }
            }
        }
        if !bad.is_empty() {
            self.quarantine(def, &bad)?;
        }
        Ok(out)
    }

    /// Moves undecodable records of `def` into [`QUARANTINE`].
    fn quarantine(
        &self,
        def: TableDefinition<&str, &str>,
        bad: &[Quarantined],
    ) -> Result<(), StoreError> {
        self.write_with(|txn| {
            let mut from = txn.open_table(def)?;
            let mut to = txn.open_table(QUARANTINE)?;
            for q in bad {
                let json = serde_json::to_string(q).unwrap_or_default();
                to.insert(format!("{}/{}", q.table, q.key).as_str(), json.as_str())?;
                from.remove(q.key.as_str())?;
            }
            Ok(())
        })
    }

    /// The records moved aside because they could not be decoded, oldest
    /// key first. They stay until [`Store::clear_quarantine`].
    pub fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError> {
        let txn = self.read()?;
        let table = match txn.open_table(QUARANTINE) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.db_err(e)),
        };
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.db_err(e))? {
            let (k, v) = entry.map_err(|e| self.db_err(e))?;
            out.push(
                serde_json::from_str(v.value()).unwrap_or_else(|e| Quarantined {
                    table: String::new(),
                    key: k.value().to_owned(),
                    error: format!("unreadable quarantine entry: {e}"),
                    value: v.value().to_owned(),
                }),
            );
        }
        Ok(out)
    }

    /// Forgets every quarantined record.
    pub fn clear_quarantine(&self) -> Result<(), StoreError> {
        self.write_with(|txn| {
            txn.delete_table(QUARANTINE)?;
            Ok(())
        })
    }

    fn delete(&self, def: TableDefinition<&str, &str>, key: &str) -> Result<bool, StoreError> {
        let mut existed = false;
        self.write_with(|txn| {
            existed = txn.open_table(def)?.remove(key)?.is_some();
            Ok(())
        })?;
        Ok(existed)
    }
}

/// Creates `dir` (and its parents) readable by its owner alone: it holds
/// alert states, task scripts and recordings. An existing directory keeps
/// the mode its owner gave it.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes `file` readable and writable by its owner alone.
pub fn private_file(file: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(path: &Path, version: u64) {
        let db = redb::Database::create(path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(SCHEMA_VERSION_KEY, version)
            .unwrap();
        txn.commit().unwrap();
    }

    #[test]
    fn an_undecodable_record_is_quarantined_and_the_others_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let good = TaskRecord {
            id: "good".into(),
            task_type: "stream".into(),
            dbrps: vec![],
            script: "stream".into(),
            meta: BTreeMap::new(),
            enabled: true,
            created: 0,
            modified: 0,
            last_enabled: None,
            error: String::new(),
        };
        store.put_task(&good).unwrap();
        store
            .write_with(|txn| {
                txn.open_table(TASKS)?.insert("bad", "{\"id\": 42")?;
                Ok(())
            })
            .unwrap();
        assert_eq!(store.list_tasks().unwrap(), vec![good.clone()]);
        let q = store.quarantined().unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(
            (q[0].table.as_str(), q[0].key.as_str()),
            (TASKS_NAME, "bad")
        );
        assert_eq!(q[0].value, "{\"id\": 42");
        assert!(q[0].error.contains("bad record"), "{}", q[0].error);
        // Moved, not copied: the next start reads a clean table.
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.list_tasks().unwrap(), vec![good]);
        assert_eq!(store.quarantined().unwrap().len(), 1);
        store.clear_quarantine().unwrap();
        assert!(store.quarantined().unwrap().is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn the_data_dir_and_the_store_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/data");
        let store = Store::open(&data).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(store.path()), 0o600);
    }

    #[test]
    fn migrations_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .put_task(&TaskRecord {
                id: "t".into(),
                task_type: "stream".into(),
                dbrps: vec![],
                script: String::new(),
                meta: BTreeMap::new(),
                enabled: false,
                created: 0,
                modified: 0,
                last_enabled: None,
                error: String::new(),
            })
            .unwrap();
        // Run every migration again over a migrated file: no change, no error.
        let txn = store.write().unwrap();
        for m in MIGRATIONS {
            m(&txn).unwrap();
        }
        txn.commit().unwrap();
        assert_eq!(store.list_tasks().unwrap().len(), 1);
        drop(store);

        // A file whose version was lost (a crash before the first stamp, say)
        // re-runs the migrations over tables that exist and keeps their data.
        stamp(&dir.path().join(FILE_NAME), 0);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(store.list_tasks().unwrap().len(), 1);
    }

    #[test]
    fn a_version_beyond_u32_is_newer() {
        let dir = tempfile::tempdir().unwrap();
        stamp(&dir.path().join(FILE_NAME), u64::MAX);
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::NewerSchema {
                    found: u32::MAX,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn schema_version_of_an_unmigrated_file_is_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let store = Store {
            db: Handle::open(&path).unwrap(),
            path,
        };
        assert_eq!(store.schema_version().unwrap(), 0);
        store.migrate().unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_bad_record_names_file_table_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let txn = store.write().unwrap();
        txn.open_table(TASKS)
            .unwrap()
            .insert("broken", "{not json")
            .unwrap();
        txn.commit().unwrap();
        let err = store.get_task("broken").unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&store.path().display().to_string()), "{msg}");
        assert!(msg.contains("tasks_v1"), "{msg}");
        assert!(msg.contains("broken"), "{msg}");
        // Listing moves it aside (see the quarantine test) rather than fail.
        assert!(store.list_tasks().unwrap().is_empty());
        assert!(!store.delete_task("broken").unwrap());
        assert_eq!(store.quarantined().unwrap()[0].key, "broken");
    }

    #[test]
    fn open_on_a_file_in_place_of_the_dir_names_the_dir() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("file");
        std::fs::write(&not_a_dir, b"x").unwrap();
        let err = Store::open(&not_a_dir).unwrap_err();
        assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains(&not_a_dir.display().to_string()));
    }

    #[test]
    fn a_file_that_is_not_redb_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
}
