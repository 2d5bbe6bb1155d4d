//! Recordings: files under `<data_dir>/recordings/` (`ID.rec` for a stream,
//! `ID.brec` for batches, see [`super::file`]) and their index in the
//! store. Recordings made by querying InfluxDB are in [`super::queried`].
//!
//! A live recording is a route of the router like a task's (its dbrps,
//! measurement and `where`), see [`super::live`]. At start, a recording a
//! crash left in `recording` status is marked finished with the points its
//! file holds (its cut tail removed), or failed if the file cannot be read.

use model::{Limit, LimitBreaches};
use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ingest::lp::{DecodeOptions, Decoder, Precision};
use pipeline::{DbRp, Name, Router};
use storage::{RecordingRecord, Store};

use super::file::{
    BatchWriter, FrameEncoder, Stats, StreamWriter, WriteError, scan_batches, scan_stream,
};
use super::live::Recorder;

pub const STATUS_RECORDING: &str = "recording";
pub const STATUS_FINISHED: &str = "finished";
pub const STATUS_FAILED: &str = "failed";

/// Why a recording could not be made, read or deleted.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("recording {0:?} does not exist")]
    NotFound(String),
    #[error("recording {0:?} already exists")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "{0} live recordings are running, the most allowed (replay.max_running); stop one first"
    )]
    Busy(usize),
    #[error("{0}")]
    Store(#[from] storage::StoreError),
    #[error("{0}")]
    Io(String),
}

/// What a live stream recording takes.
#[derive(Clone, Debug, Default)]
pub struct StreamRequest {
    pub id: Option<String>,
    /// Empty: every database.
    pub dbrps: Vec<DbRp>,
    pub measurement: Option<String>,
    /// A YAML-style `where` (`host = 'a'`).
    pub where_clause: Option<String>,
    /// Stops by itself after this long; `None`: when asked to (and at
    /// `replay.max_recording_duration`).
    pub duration: Option<Duration>,
    /// In the user's words, for the listing.
    pub source: String,
}

/// What an import takes.
#[derive(Clone, Debug)]
pub struct ImportRequest {
    pub id: Option<String>,
    pub format: ImportFormat,
    /// For line protocol: where the points go (srpl files name their own).
    pub dbrp: DbRp,
    pub precision: Precision,
    pub source: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportFormat {
    LineProtocol,
    Srpl,
    Brpl,
}

impl std::str::FromStr for ImportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lp" | "line-protocol" => Ok(ImportFormat::LineProtocol),
            "srpl" => Ok(ImportFormat::Srpl),
            "brpl" => Ok(ImportFormat::Brpl),
            other => Err(format!(
                "unknown recording format {other:?}: use lp, srpl or brpl"
            )),
        }
    }
}

struct Live {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Every recording of the server.
pub struct Recordings {
    dir: PathBuf,
    store: Arc<Store>,
    router: Arc<Router>,
    limits: config::ReplayConfig,
    live: Mutex<HashMap<String, Live>>,
    /// The `influxdb` connections `record batch` and `record query` use.
    influxdb: Arc<[config::InfluxDbConfig]>,
    /// Where a recording refused or cut short by a limit is counted.
    breaches: Arc<LimitBreaches>,
}

/// The route name of a live recording: not a valid task id, so it never
/// meets a task's.
pub(super) fn route_name(id: &str) -> Name {
    Name::from(format!("recording:{id}").as_str())
}

pub(super) fn now_ns() -> i64 {
    host::wall_clock_ns()
}

/// A new id: time-based, unique within the process.
pub fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = (t ^ (u64::from(std::process::id()) << 40))
        .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    format!("{mixed:016x}")
}

impl Recordings {
    /// Opens `<data_dir>/recordings`, settling what a crash left behind.
    pub fn open(
        data_dir: &Path,
        store: Arc<Store>,
        router: Arc<Router>,
        limits: config::ReplayConfig,
    ) -> Result<Self, RecordError> {
        let dir = data_dir.join("recordings");
        std::fs::create_dir_all(&dir)
            .map_err(|e| RecordError::Io(format!("cannot create {}: {e}", dir.display())))?;
        let recordings = Recordings {
            dir,
            store,
            router,
            limits,
            live: Mutex::default(),
            influxdb: Arc::from([]),
            breaches: Arc::default(),
        };
        recordings.recover()?;
        Ok(recordings)
    }

    /// Makes `record batch` and `record query` use `servers`.
    pub fn with_influxdb(mut self, servers: &[config::InfluxDbConfig]) -> Self {
        self.influxdb = Arc::from(servers);
        self
    }

    /// Counts the limits that refuse or stop a recording in `breaches`.
    pub fn with_limit_breaches(mut self, breaches: Arc<LimitBreaches>) -> Self {
        self.breaches = breaches;
        self
    }

    pub fn limits(&self) -> &config::ReplayConfig {
        &self.limits
    }

    pub fn influxdb(&self) -> &[config::InfluxDbConfig] {
        &self.influxdb
    }

    /// A file for data that is no recording (a live replay's), removed by
    /// its user; left behind by a crash, it is removed at the next start.
    pub fn scratch_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!(".{id}.scratch"))
    }

    /// A new recording's file: `ID.rec` (stream) or `ID.brec` (batch).
    pub(super) fn path_of(&self, id: &str, kind: dsl::TaskType) -> PathBuf {
        match kind {
            dsl::TaskType::Stream => self.dir.join(format!("{id}.rec")),
            dsl::TaskType::Batch => self.dir.join(format!("{id}.brec")),
        }
    }

    /// Runs `job` on a thread of its own as live recording `id`: `stop` and
    /// `delete` set the flag it is given and wait for it; at most
    /// `replay.max_running` run at once.
    pub(super) fn spawn(
        &self,
        id: &str,
        job: impl FnOnce(&AtomicBool) + Send + 'static,
    ) -> Result<(), RecordError> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("recording-{id}"))
            .spawn(move || job(&flag))
            .map_err(|e| RecordError::Io(format!("cannot start the recording: {e}")))?;
        live.insert(
            id.to_string(),
            Live {
                stop,
                thread: Some(thread),
            },
        );
        Ok(())
    }

    /// Refuses a new live recording when `replay.max_running` run already.
    pub(super) fn check_room(&self) -> Result<(), RecordError> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|_, l| l.thread.as_ref().is_some_and(|t| !t.is_finished()));
        if live.len() >= self.limits.max_running {
            return Err(RecordError::Busy(live.len()));
        }
        Ok(())
    }

    pub(super) fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Recordings a crash left in `recording` status: finished with what
    /// their file holds, the cut tail removed, or failed.
    fn recover(&self) -> Result<(), RecordError> {
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().ends_with(".scratch") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        for mut rec in self.store.list_recordings()? {
            if rec.status != STATUS_RECORDING {
                continue;
            }
            let path = PathBuf::from(&rec.path);
            let batch = rec.kind == "batch";
            let scanned = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    let scan = if batch { scan_batches } else { scan_stream };
                    scan(&bytes).map_err(|e| e.to_string())
                });
            match scanned {
                Ok((stats, len)) => {
                    if let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) {
                        let _ = file.set_len(len as u64);
                        let _ = file.sync_all();
                    }
                    apply_stats(&mut rec, &stats);
                    rec.status = STATUS_FINISHED.into();
                    rec.error = format!(
                        "interrupted: kapacitord stopped while recording; kept the {} {} written before",
                        stats.points,
                        if batch { "batches" } else { "points" }
                    );
                }
                Err(e) => {
                    rec.status = STATUS_FAILED.into();
                    rec.error = format!("interrupted, and the file cannot be read: {e}");
                }
            }
            rec.finished.get_or_insert_with(now_ns);
            tracing::warn!(recording = %rec.id, "{}", rec.error);
            self.store.put_recording(&rec)?;
        }
        Ok(())
    }

    pub(super) fn claim_id(&self, id: Option<String>) -> Result<String, RecordError> {
        let id = id.unwrap_or_else(new_id);
        if !crate::tasks::valid_id(&id) {
            return Err(RecordError::Invalid(format!(
                "invalid recording id {id:?}: use letters, digits, '-', '.' and '_'"
            )));
        }
        if self.store.get_recording(&id)?.is_some() {
            return Err(RecordError::Exists(id));
        }
        Ok(id)
    }

    /// Starts recording the live stream; returns its id at once.
    pub fn start_stream(&self, req: StreamRequest) -> Result<String, RecordError> {
        let filter = match &req.where_clause {
            Some(w) => Some(
                crate::tasks::point_filter(w)
                    .map_err(|e| RecordError::Invalid(format!("where: {e}")))?,
            ),
            None => None,
        };
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|_, l| l.thread.as_ref().is_some_and(|t| !t.is_finished()));
        if live.len() >= self.limits.max_running {
            self.breaches.breach(Limit::ReplayMaxRunning);
            return Err(RecordError::Busy(live.len()));
        }
        let id = self.claim_id(req.id.clone())?;
        let path = self.dir.join(format!("{id}.rec"));
        let cannot =
            |e: std::io::Error| RecordError::Io(format!("cannot create {}: {e}", path.display()));
        let mut file = std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(cannot)?;
        let header = FrameEncoder::header();
        file.write_all(header.as_bytes()).map_err(cannot)?;
        let rec = RecordingRecord {
            id: id.clone(),
            kind: "stream".into(),
            path: path.display().to_string(),
            size: header.len() as u64,
            created: now_ns(),
            status: STATUS_RECORDING.into(),
            source: req.source.clone(),
            ..RecordingRecord::default()
        };
        self.store.put_recording(&rec)?;
        let limit = self.limits.max_recording_duration;
        let duration = req.duration.map_or(limit, |d| d.min(limit));
        let recorder = Recorder {
            dbrps: req.dbrps.clone(),
            measurement: req.measurement.as_deref().map(Name::from),
            filter,
            max_bytes: self.limits.max_recording_bytes,
            queue_points: self.limits.queue_points,
            deadline: Instant::now() + duration,
            store: self.store.clone(),
            router: self.router.clone(),
            breaches: self.breaches.clone(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let thread = recorder
            .start(file, rec, stop.clone())
            .map_err(|e| RecordError::Io(format!("cannot start the recording's writer: {e}")))?;
        live.insert(
            id.clone(),
            Live {
                stop,
                thread: Some(thread),
            },
        );
        Ok(id)
    }

    /// Stops a live recording and waits for its file to be complete.
    pub fn stop(&self, id: &str) -> Result<RecordingRecord, RecordError> {
        let live = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        match live {
            Some(mut l) => {
                l.stop.store(true, Ordering::Release);
                if let Some(t) = l.thread.take() {
                    let _ = t.join();
                }
            }
            None if self.store.get_recording(id)?.is_none() => {
                return Err(RecordError::NotFound(id.into()));
            }
            None => {}
        }
        self.get(id)
    }

    /// Stops every live recording (shutdown).
    pub fn stop_all(&self) {
        let ids: Vec<String> = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        for id in ids {
            let _ = self.stop(&id);
        }
    }

    /// Ids of the live recordings running now.
    pub fn running(&self) -> Vec<String> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|_, l| l.thread.as_ref().is_some_and(|t| !t.is_finished()));
        live.keys().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Result<RecordingRecord, RecordError> {
        self.store
            .get_recording(id)?
            .ok_or_else(|| RecordError::NotFound(id.into()))
    }

    pub fn list(&self) -> Result<Vec<RecordingRecord>, RecordError> {
        Ok(self.store.list_recordings()?)
    }

    /// Stops (if live) and deletes a recording and its file.
    pub fn delete(&self, id: &str) -> Result<(), RecordError> {
        let rec = self.stop(id)?;
        let _ = std::fs::remove_file(&rec.path);
        self.store.delete_recording(id)?;
        Ok(())
    }

    /// Imports line protocol, `.srpl` or `.brpl` data as a finished
    /// recording. The data is checked whole first: a bad line fails the
    /// import, naming the line.
    pub fn import(&self, req: ImportRequest, data: &[u8]) -> Result<RecordingRecord, RecordError> {
        if data.len() as u64 > self.limits.max_recording_bytes {
            self.breaches.breach(Limit::ReplayMaxRecordingBytes);
            return Err(RecordError::Invalid(format!(
                "the data is {} bytes, more than {} (replay.max_recording_bytes)",
                data.len(),
                self.limits.max_recording_bytes
            )));
        }
        let id = self.claim_id(req.id.clone())?;
        let invalid = |e: String| RecordError::Invalid(format!("{}: {e}", req.source));
        let mut rec = RecordingRecord {
            id: id.clone(),
            created: now_ns(),
            status: STATUS_FINISHED.into(),
            source: req.source.clone(),
            finished: Some(now_ns()),
            ..RecordingRecord::default()
        };
        let tmp = self.dir.join(format!(".{id}.importing"));
        let _ = std::fs::remove_file(&tmp);
        let path = match req.format {
            ImportFormat::Brpl => {
                let text =
                    std::str::from_utf8(data).map_err(|e| invalid(format!("not UTF-8: {e}")))?;
                let batches =
                    super::recording::read_brpl(text).map_err(|e| invalid(e.to_string()))?;
                rec.kind = "batch".into();
                let stats = write_batches(&tmp, &batches, self.limits.max_recording_bytes)?;
                apply_stats(&mut rec, &stats);
                self.path_of(&id, dsl::TaskType::Batch)
            }
            format => {
                let points = match format {
                    ImportFormat::Srpl => super::recording::read_srpl(data, req.precision)
                        .map_err(|e| invalid(e.to_string()))?,
                    _ => {
                        let mut points = Vec::new();
                        let mut errors = Vec::new();
                        Decoder::new().decode(
                            data,
                            &DecodeOptions {
                                precision: req.precision,
                                now_ns: now_ns(),
                                accept_unsigned: true,
                            },
                            &mut points,
                            &mut errors,
                        );
                        if let Some(e) = errors.first() {
                            return Err(invalid(format!("line {}: {e}", e.line)));
                        }
                        points.into_iter().map(|p| (req.dbrp.clone(), p)).collect()
                    }
                };
                rec.kind = "stream".into();
                let stats = write_all(&tmp, &points, self.limits.max_recording_bytes)?;
                apply_stats(&mut rec, &stats);
                self.dir.join(format!("{id}.rec"))
            }
        };
        std::fs::rename(&tmp, &path)
            .map_err(|e| RecordError::Io(format!("{}: {e}", path.display())))?;
        rec.path = path.display().to_string();
        self.store.put_recording(&rec)?;
        Ok(rec)
    }
}

/// Writes `batches`, which feed the first query node, as a batch
/// recording.
fn write_batches(path: &Path, batches: &[pipeline::Batch], max: u64) -> Result<Stats, RecordError> {
    let io = |e: std::io::Error| RecordError::Io(format!("{}: {e}", path.display()));
    let mut writer = BatchWriter::create(path, max).map_err(io)?;
    for batch in batches {
        if let Err(e) = writer.write(0, batch) {
            let _ = std::fs::remove_file(path);
            return Err(match e {
                WriteError::Full { .. } => RecordError::Invalid(e.to_string()),
                WriteError::Io(e) => io(e),
            });
        }
    }
    writer.finish().map_err(io)
}

fn write_all(
    path: &Path,
    points: &[(DbRp, pipeline::Point)],
    max: u64,
) -> Result<Stats, RecordError> {
    let io = |e: std::io::Error| RecordError::Io(format!("{}: {e}", path.display()));
    let mut writer = StreamWriter::create(path, max).map_err(io)?;
    let mut start = 0;
    while start < points.len() {
        let dbrp = &points[start].0;
        let end = points[start..]
            .iter()
            .position(|(d, _)| d != dbrp)
            .map_or(points.len(), |n| start + n);
        let run: Vec<pipeline::Point> = points[start..end].iter().map(|(_, p)| p.clone()).collect();
        if let Err(e) = writer.write(dbrp, &run) {
            let _ = std::fs::remove_file(path);
            return Err(match e {
                WriteError::Full { .. } => RecordError::Invalid(e.to_string()),
                WriteError::Io(e) => io(e),
            });
        }
        start = end;
    }
    writer.finish().map_err(io)
}

pub(super) fn apply_stats(rec: &mut RecordingRecord, stats: &Stats) {
    rec.size = stats.bytes;
    rec.points = stats.points;
    rec.first = stats.first;
    rec.last = stats.last;
}
