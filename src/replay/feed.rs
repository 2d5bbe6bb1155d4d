//! Feeding a version 2 stream recording to a replayed task as fast as it
//! goes. The replay's thread only finds the frames and checks their
//! checksums; the task's own worker decodes each frame when it gets to it
//! ([`host::Deferred`]), shifts and filters its points and runs them. A
//! point is then allocated, shared and freed on one thread: decoded on the
//! replay's thread, every point's series and key list reference counts and
//! its memory went back and forth between two cores, which cost more than
//! the decoding itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pipeline::{DbRp, Point, PointBatch};

use super::file::frames::{Frame, FrameDecoder, FrameReader, corrupt};
use super::instance::{Instance, TaskFilter};

/// What a replay gives the feeding.
pub(super) struct Feed<'j> {
    /// Where the first point goes; `None`: recorded times.
    pub zero: Option<i64>,
    /// Starts the task, its clock at the given time.
    pub start: &'j dyn Fn(i64) -> Result<Instance, String>,
    /// Says how far it got (points handed over, part of the file read);
    /// `Err` when the replay was cancelled.
    pub progress: &'j dyn Fn(u64, f64) -> Result<(), String>,
    pub path: &'j str,
}

/// What the frames decoded on the task's worker share: the numbering, and
/// what went wrong there.
struct Shared {
    bytes: Arc<Vec<u8>>,
    decoder: Mutex<FrameDecoder>,
    filter: TaskFilter,
    shift: i64,
    fed: AtomicU64,
    failure: Mutex<Option<String>>,
    path: String,
}

impl Shared {
    fn decode(&self, frame: &Frame, out: &mut Vec<Point>) -> Result<DbRp, String> {
        self.decoder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .decode(&self.bytes[frame.payload.clone()], out)
            .map_err(|why| {
                let e = corrupt(frame.at, &format!("{why} in a frame"));
                format!("recording {}: {e}", self.path)
            })
    }

    /// A frame's points as the task would get them.
    fn points(&self, frame: &Frame) -> Result<PointBatch, String> {
        let mut points = Vec::new();
        let dbrp = self.decode(frame, &mut points)?;
        for p in &mut points {
            p.time += self.shift;
        }
        self.filter.retain(&dbrp, &mut points);
        self.fed.fetch_add(points.len() as u64, Ordering::Relaxed);
        Ok(PointBatch { dbrp, points })
    }

    fn failure(&self) -> Result<(), String> {
        match self
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A task fed every frame, and what its worker found decoding them.
pub(super) struct Fed {
    instance: Option<Instance>,
    shared: Arc<Shared>,
}

impl Fed {
    /// Waits for the task to process what it was fed (see
    /// [`Instance::finish`]); `empty` starts it when the recording held no
    /// point. Gives what it produced and the points it was handed.
    pub fn finish(
        self,
        empty: impl FnOnce() -> Result<Instance, String>,
        timeout: std::time::Duration,
    ) -> Result<(super::instance::Outcome, u64), String> {
        let instance = match self.instance {
            Some(i) => i,
            None => empty()?,
        };
        let outcome = instance.finish(timeout)?;
        self.shared.failure()?;
        Ok((outcome, self.shared.fed.load(Ordering::Relaxed)))
    }
}

/// Feeds every frame of `reader` (over `bytes`) to a task started by
/// `feed.start`, the first point moved to `feed.zero`.
pub(super) fn frames(
    feed: &Feed<'_>,
    reader: &mut FrameReader<'_>,
    bytes: &Arc<Vec<u8>>,
    filter: TaskFilter,
) -> Result<Fed, String> {
    let mut shared = Shared {
        bytes: bytes.clone(),
        decoder: Mutex::default(),
        filter,
        shift: 0,
        fed: AtomicU64::new(0),
        failure: Mutex::default(),
        path: feed.path.to_string(),
    };
    let Some(mut instance) = start(feed, reader, &mut shared)? else {
        return Ok(Fed {
            instance: None,
            shared: Arc::new(shared),
        });
    };
    let shared = Arc::new(shared);
    while let Some(frame) = next_frame(feed, reader)? {
        shared.failure()?;
        let on_worker = shared.clone();
        instance.push_deferred(frame.points as usize, move || {
            on_worker.points(&frame).unwrap_or_else(|e| {
                let mut failure = on_worker.failure.lock().unwrap_or_else(|e| e.into_inner());
                failure.get_or_insert(e);
                PointBatch {
                    dbrp: DbRp::new("", ""),
                    points: Vec::new(),
                }
            })
        })?;
        let read = reader.valid_len() as f64 / bytes.len().max(1) as f64;
        (feed.progress)(shared.fed.load(Ordering::Relaxed), read)?;
    }
    Ok(Fed {
        instance: Some(instance),
        shared,
    })
}

fn next_frame(feed: &Feed<'_>, reader: &mut FrameReader<'_>) -> Result<Option<Frame>, String> {
    reader
        .next_frame()
        .map_err(|e| format!("recording {}: {e}", feed.path))
}

/// Decodes frames here until the first point, which sets the task's clock
/// (and the shift of every time), and starts the task with them; `None`
/// when there is no point.
fn start(
    feed: &Feed<'_>,
    reader: &mut FrameReader<'_>,
    shared: &mut Shared,
) -> Result<Option<Instance>, String> {
    let mut first = Vec::new();
    while let Some(frame) = next_frame(feed, reader)? {
        let dbrp = shared.decode(&frame, &mut first)?;
        let Some(p) = first.first() else { continue };
        shared.shift = feed.zero.map_or(0, |z| z - p.time);
        let mut instance = (feed.start)(p.time + shared.shift)?;
        for p in &mut first {
            p.time += shared.shift;
        }
        shared.filter.retain(&dbrp, &mut first);
        shared.fed.fetch_add(first.len() as u64, Ordering::Relaxed);
        instance.push_all(&dbrp, &mut first)?;
        return Ok(Some(instance));
    }
    Ok(None)
}
