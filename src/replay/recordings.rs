//! Recordings: files under `<data_dir>/recordings/` (`ID.rec` for a stream,
//! `ID.brec` for batches, see [`super::file`]) and their index in the
//! store. Recordings made by querying InfluxDB are in [`super::queried`].
//!
//! A live recording is a route of the router like a task's (its dbrps,
//! measurement and `where`), whose inbox hands points to a writer thread
//! over a queue bounded in points: ingest never waits for the disk, and
//! what the queue cannot take is dropped and counted in the recording. The
//! writer flushes every [`FLUSH_EVERY`], so a crash loses at most that
//! much; at start, a recording a crash left in `recording` status is
//! marked finished with the points its file holds (its cut tail removed),
//! or failed if the file cannot be read.

use model::{Limit, LimitBreaches};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ingest::lp::{DecodeOptions, Decoder, Precision};
use pipeline::{DbRp, Name, PointBatch, Route, Router};
use storage::{RecordingRecord, Store};

use super::file::{BatchWriter, Stats, StreamWriter, WriteError, scan_batches, scan_stream};

/// How often a live recording's writer hands its buffer to the OS.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// How often a live recording's progress is saved to the store.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

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

/// A live recording's side of the router: a queue bounded in points.
struct RecorderInbox {
    tx: mpsc::Sender<PointBatch>,
    queued: Arc<AtomicUsize>,
    max_queued: usize,
    dropped: Arc<AtomicU64>,
}

impl pipeline::TaskInbox for RecorderInbox {
    fn offer(&self, batch: PointBatch) -> usize {
        let n = batch.points.len();
        let before = self.queued.fetch_add(n, Ordering::AcqRel);
        if before + n > self.max_queued || self.tx.send(batch).is_err() {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            self.dropped.fetch_add(n as u64, Ordering::Relaxed);
            return 0;
        }
        n
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
fn route_name(id: &str) -> Name {
    Name::from(format!("recording:{id}").as_str())
}

fn now_ns() -> i64 {
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
        let writer = StreamWriter::create(&path, self.limits.max_recording_bytes)
            .map_err(|e| RecordError::Io(format!("cannot create {}: {e}", path.display())))?;
        let mut rec = RecordingRecord {
            id: id.clone(),
            kind: "stream".into(),
            path: path.display().to_string(),
            size: writer.stats().bytes,
            created: now_ns(),
            status: STATUS_RECORDING.into(),
            source: req.source.clone(),
            ..RecordingRecord::default()
        };
        self.store.put_recording(&rec)?;
        let (tx, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        self.router.upsert(Route {
            task: route_name(&id),
            dbrps: req.dbrps.clone(),
            measurement: req.measurement.as_deref().map(Name::from),
            filter,
            inbox: Arc::new(RecorderInbox {
                tx,
                queued: queued.clone(),
                max_queued: self.limits.queue_points,
                dropped: dropped.clone(),
            }),
            // A recording never slows ingest: it drops and counts.
            block_when_full: false,
        });
        let limit = self.limits.max_recording_duration;
        let duration = req.duration.map_or(limit, |d| d.min(limit));
        let deadline = Instant::now() + duration;
        let writing = Writing {
            rx,
            queued,
            dropped,
            stop: stop.clone(),
            deadline,
            store: self.store.clone(),
            router: self.router.clone(),
            breaches: self.breaches.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("recording-{id}"))
            .spawn(move || writing.run(writer, &mut rec))
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

/// A live recording's writer thread.
struct Writing {
    rx: mpsc::Receiver<PointBatch>,
    queued: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    deadline: Instant,
    store: Arc<Store>,
    router: Arc<Router>,
    breaches: Arc<LimitBreaches>,
}

impl Writing {
    fn run(self, mut writer: StreamWriter, rec: &mut RecordingRecord) {
        let mut error = String::new();
        let mut saved = Instant::now();
        let write = |writer: &mut StreamWriter, batch: PointBatch, error: &mut String| {
            self.queued.fetch_sub(batch.points.len(), Ordering::AcqRel);
            match writer.write(&batch.dbrp, &batch.points) {
                Ok(()) => true,
                Err(e) => {
                    *error = e.to_string();
                    false
                }
            }
        };
        'run: loop {
            if self.stop.load(Ordering::Acquire) || Instant::now() >= self.deadline {
                break;
            }
            let wait = FLUSH_EVERY.min(self.deadline.saturating_duration_since(Instant::now()));
            match self.rx.recv_timeout(wait) {
                Ok(batch) => {
                    if !write(&mut writer, batch, &mut error) {
                        break 'run;
                    }
                    // Whatever else is waiting, before the next flush.
                    while let Ok(batch) = self.rx.try_recv() {
                        if !write(&mut writer, batch, &mut error) {
                            break 'run;
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if let Err(e) = writer.flush() {
                error = format!("cannot write the recording: {e}");
                break;
            }
            if saved.elapsed() >= PROGRESS_EVERY {
                saved = Instant::now();
                apply_stats(rec, &writer.stats());
                rec.dropped = self.dropped.load(Ordering::Relaxed);
                if let Err(e) = self.store.put_recording(rec) {
                    tracing::warn!(recording = %rec.id, "cannot save progress: {e}");
                }
            }
        }
        // No more points: then write what was already queued.
        self.router.remove(&route_name(&rec.id));
        if error.is_empty() {
            while let Ok(batch) = self.rx.try_recv() {
                if !write(&mut writer, batch, &mut error) {
                    break;
                }
            }
        }
        apply_stats(rec, &writer.stats());
        match writer.finish() {
            Ok(stats) => apply_stats(rec, &stats),
            Err(e) if error.is_empty() => error = format!("cannot write the recording: {e}"),
            Err(_) => {}
        }
        rec.dropped = self.dropped.load(Ordering::Relaxed);
        if rec.dropped > 0 && error.is_empty() {
            error = format!(
                "{} points dropped: the recorder could not keep up (replay.queue_points)",
                rec.dropped
            );
        }
        self.breaches.cited_in(&error);
        // Failed only when nothing usable was kept; a limit keeps a prefix.
        rec.status = if error.starts_with("cannot write") {
            STATUS_FAILED.into()
        } else {
            STATUS_FINISHED.into()
        };
        rec.error = error;
        rec.finished = Some(now_ns());
        if let Err(e) = self.store.put_recording(rec) {
            tracing::error!(recording = %rec.id, "cannot save the finished recording: {e}");
        }
    }
}
