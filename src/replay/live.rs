//! A live stream recording: its side of the router and its writer thread.
//!
//! The router hands the recording each write's points like a task's
//! ([`RecorderInbox`]). They are encoded into frames ([`super::file`]) at
//! once, on the thread that decoded them (still in its cache, and freed
//! there), and the frames go to a writer thread over a queue bounded in
//! points. A full queue makes HTTP and TCP writes wait as a full task inbox
//! does, so what the daemon acknowledged is recorded; UDP's points, which
//! cannot wait, are dropped and counted in the recording. The writer hands
//! the file what it has every [`FLUSH_EVERY`], so a crash loses at most
//! that much.

use std::fs::File;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use pipeline::{PointBatch, Route, Router};
use storage::{RecordingRecord, Store};

use super::file::{FrameEncoder, Full, WRITE_BYTES};
use super::recordings::{STATUS_FAILED, STATUS_FINISHED, apply_stats, now_ns, route_name};

/// How often a live recording's writer hands its buffer to the OS.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// How often a live recording's progress is saved to the store.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// Frames of a write at least this large go to the file without being
/// copied into the writer's buffer (a Telegraf batch of 5,000 lines is
/// about 250 KB).
const DIRECT_BYTES: usize = 64 << 10;
/// Emptied frame buffers kept for the next writes.
const SPARE_BUFFERS: usize = 8;

/// One write's frames, on their way to the file.
struct Frames {
    bytes: Vec<u8>,
    points: usize,
    /// The recording reached its size limit with these.
    full: Option<Full>,
}

/// What the router's side encodes with, under one lock so that frames reach
/// the queue in the order they were numbered in.
struct Encoding {
    encoder: FrameEncoder,
    /// `None` once the recording ends: later writes are not part of it.
    tx: Option<mpsc::Sender<Frames>>,
    spare: mpsc::Receiver<Vec<u8>>,
}

/// What the router's side and the writer thread share.
struct Shared {
    encoding: Mutex<Encoding>,
    /// Points encoded and not yet handed to the file.
    queued: AtomicUsize,
    max_queued: usize,
    dropped: AtomicU64,
}

impl Shared {
    fn encoding(&self) -> std::sync::MutexGuard<'_, Encoding> {
        self.encoding.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A live recording's side of the router.
struct RecorderInbox(Arc<Shared>);

impl RecorderInbox {
    fn enqueue(&self, batch: PointBatch, bounded: bool) -> usize {
        let shared = &self.0;
        let n = batch.points.len();
        let before = shared.queued.fetch_add(n, Ordering::AcqRel);
        if bounded && before > 0 && before + n > shared.max_queued {
            shared.queued.fetch_sub(n, Ordering::AcqRel);
            shared.dropped.fetch_add(n as u64, Ordering::Relaxed);
            return 0;
        }
        let mut encoding = shared.encoding();
        let Encoding {
            encoder,
            tx: Some(tx),
            spare,
        } = &mut *encoding
        else {
            // The recording has ended: this write came after it.
            shared.queued.fetch_sub(n, Ordering::AcqRel);
            return n;
        };
        let mut bytes = spare.try_recv().unwrap_or_default();
        let full = encoder.encode(&batch.dbrp, &batch.points, &mut bytes).err();
        let sent = tx.send(Frames {
            bytes,
            points: n,
            full,
        });
        if sent.is_err() || full.is_some() {
            encoding.tx = None;
        }
        drop(encoding);
        if sent.is_err() {
            // The writer stopped (it could not write the file).
            shared.queued.fetch_sub(n, Ordering::AcqRel);
            shared.dropped.fetch_add(n as u64, Ordering::Relaxed);
            return 0;
        }
        n
    }
}

impl pipeline::TaskInbox for RecorderInbox {
    fn offer(&self, batch: PointBatch) -> usize {
        self.enqueue(batch, true)
    }

    fn room(&self) -> usize {
        match self.0.queued.load(Ordering::Acquire) {
            // One write larger than the bound still gets in.
            0 => usize::MAX,
            queued => self.0.max_queued.saturating_sub(queued),
        }
    }

    fn push(&self, batch: PointBatch) -> usize {
        self.enqueue(batch, false)
    }
}

/// What a live recording records (its route's dbrps, measurement and
/// `where`), and for how long.
pub(super) struct Recorder {
    pub dbrps: Vec<pipeline::DbRp>,
    pub measurement: Option<pipeline::Name>,
    pub filter: Option<pipeline::PointFilter>,
    pub max_bytes: u64,
    pub queue_points: usize,
    pub deadline: Instant,
    pub store: Arc<Store>,
    pub router: Arc<Router>,
    /// Where a recording cut short by a limit is counted.
    pub breaches: Arc<model::LimitBreaches>,
}

impl Recorder {
    /// Routes the recording's points to `file` (which holds the header) and
    /// starts its writer thread; `stop` ends it.
    pub fn start(
        self,
        file: File,
        mut rec: RecordingRecord,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let (tx, rx) = mpsc::channel();
        let (spare_tx, spare_rx) = mpsc::sync_channel(SPARE_BUFFERS);
        let shared = Arc::new(Shared {
            encoding: Mutex::new(Encoding {
                encoder: FrameEncoder::new(self.max_bytes),
                tx: Some(tx),
                spare: spare_rx,
            }),
            queued: AtomicUsize::new(0),
            max_queued: self.queue_points,
            dropped: AtomicU64::new(0),
        });
        let name = route_name(&rec.id);
        self.router.upsert(Route {
            task: name.clone(),
            dbrps: self.dbrps.clone(),
            measurement: self.measurement.clone(),
            filter: self.filter.clone(),
            inbox: Arc::new(RecorderInbox(shared.clone())),
            // What was acknowledged is recorded: a writer waits for room.
            block_when_full: true,
        });
        let router = self.router.clone();
        let writing = Writing {
            rx,
            spare: spare_tx,
            shared,
            stop,
            file,
            pending: Vec::new(),
            recorder: self,
        };
        std::thread::Builder::new()
            .name(format!("recording-{}", rec.id))
            .spawn(move || writing.run(&mut rec))
            // Nothing would take the route's points.
            .inspect_err(|_| router.remove(&name))
    }
}

/// A live recording's writer thread.
struct Writing {
    rx: mpsc::Receiver<Frames>,
    spare: mpsc::SyncSender<Vec<u8>>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    file: File,
    /// Frames not yet handed to the file.
    pending: Vec<u8>,
    recorder: Recorder,
}

impl Writing {
    /// Takes one write's frames; `Err` says why the recording ends.
    fn take(&mut self, frames: Frames) -> Result<(), String> {
        let result = if frames.bytes.len() >= DIRECT_BYTES {
            // A large write goes to the file as it is, not copied first.
            self.flush()
                .and_then(|()| self.file.write_all(&frames.bytes))
        } else {
            self.pending.extend_from_slice(&frames.bytes);
            if self.pending.len() >= WRITE_BYTES {
                self.flush()
            } else {
                Ok(())
            }
        };
        self.shared
            .queued
            .fetch_sub(frames.points, Ordering::AcqRel);
        let mut bytes = frames.bytes;
        bytes.clear();
        let _ = self.spare.try_send(bytes);
        result.map_err(|e| format!("cannot write the recording: {e}"))?;
        match frames.full {
            Some(full) => Err(super::file::WriteError::Full { max: full.max }.to_string()),
            None => Ok(()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            self.file.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    fn run(mut self, rec: &mut RecordingRecord) {
        let mut error = String::new();
        let (mut saved, mut flushed) = (Instant::now(), Instant::now());
        let deadline = self.recorder.deadline;
        'run: loop {
            if self.stop.load(Ordering::Acquire) || Instant::now() >= deadline {
                break;
            }
            let wait = FLUSH_EVERY.min(deadline.saturating_duration_since(Instant::now()));
            match self.rx.recv_timeout(wait) {
                Ok(frames) => {
                    if let Err(e) = self.take(frames) {
                        error = e;
                        break 'run;
                    }
                    // Whatever else is waiting, until the next flush is due.
                    while flushed.elapsed() < FLUSH_EVERY
                        && let Ok(frames) = self.rx.try_recv()
                    {
                        if let Err(e) = self.take(frames) {
                            error = e;
                            break 'run;
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if flushed.elapsed() >= FLUSH_EVERY {
                flushed = Instant::now();
                if let Err(e) = self.flush() {
                    error = format!("cannot write the recording: {e}");
                    break;
                }
            }
            if saved.elapsed() >= PROGRESS_EVERY {
                saved = Instant::now();
                self.save_progress(rec);
            }
        }
        self.end(rec, error);
    }

    fn save_progress(&self, rec: &mut RecordingRecord) {
        apply_stats(rec, &self.shared.encoding().encoder.stats());
        rec.dropped = self.shared.dropped.load(Ordering::Relaxed);
        if let Err(e) = self.recorder.store.put_recording(rec) {
            tracing::warn!(recording = %rec.id, "cannot save progress: {e}");
        }
    }

    /// No more points: writes what was already encoded, completes the file
    /// and the record.
    fn end(mut self, rec: &mut RecordingRecord, mut error: String) {
        self.recorder.router.remove(&route_name(&rec.id));
        // Writes that got the route before it went may still come: none is
        // encoded after this, and each one before is in the queue.
        let stats = {
            let mut encoding = self.shared.encoding();
            encoding.tx = None;
            encoding.encoder.stats()
        };
        while let Ok(frames) = self.rx.recv() {
            if error.is_empty()
                && let Err(e) = self.take(frames)
            {
                error = e;
            }
        }
        let written = self.flush().and_then(|()| self.file.sync_all());
        match written {
            Err(e) if error.is_empty() => error = format!("cannot write the recording: {e}"),
            _ => {}
        }
        apply_stats(rec, &stats);
        rec.dropped = self.shared.dropped.load(Ordering::Relaxed);
        if rec.dropped > 0 && error.is_empty() {
            error = format!(
                "{} points dropped: the recorder could not keep up (replay.queue_points)",
                rec.dropped
            );
        }
        self.recorder.breaches.cited_in(&error);
        // Failed only when nothing usable was kept; a limit keeps a prefix.
        rec.status = if error.starts_with("cannot write") {
            STATUS_FAILED.into()
        } else {
            STATUS_FINISHED.into()
        };
        rec.error = error;
        rec.finished = Some(now_ns());
        if let Err(e) = self.recorder.store.put_recording(rec) {
            tracing::error!(recording = %rec.id, "cannot save the finished recording: {e}");
        }
    }
}
