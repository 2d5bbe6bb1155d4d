//! The step every listener shares: decode a chunk of line protocol, count it,
//! and hand the good points to the sink.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use model::LimitBreaches;
use pipeline::{DbRp, Held, Point, PointBatch, PointSink};

use crate::lp::{DecodeOptions, Decoder, LineError, Precision};
use crate::stats::DbRpCounters;

/// The longest list of bad lines an error message carries; the rest are
/// counted, not listed, so an all-bad 25 MB body does not echo back 25 MB.
const MAX_LISTED_ERRORS: usize = 20;

/// What decoding one chunk produced.
#[derive(Debug, Default)]
pub struct WriteOutcome {
    pub points: usize,
    /// The first bad lines (up to `ingest.max_parse_errors`).
    pub errors: Vec<LineError>,
    /// Every bad line, listed in `errors` or not.
    pub bad_lines: usize,
    /// The points, when a task that must not lose them had no room:
    /// nothing of them was handed over yet ([`wait_for_room`]).
    pub held: Option<Held>,
}

impl WriteOutcome {
    /// The error text InfluxDB 1.x answers with: `partial write: …
    /// dropped=N` when some lines were kept, the bare list when none was.
    /// `None` when every line parsed.
    pub fn error_message(&self) -> Option<String> {
        if self.bad_lines == 0 {
            return None;
        }
        let mut msg = String::new();
        for (i, e) in self.errors.iter().take(MAX_LISTED_ERRORS).enumerate() {
            if i > 0 {
                msg.push('\n');
            }
            msg.push_str(&format!("line {}: {e}", e.line));
        }
        let listed = self.errors.len().min(MAX_LISTED_ERRORS);
        if self.bad_lines > listed {
            msg.push_str(&format!(
                "\n(and {} more bad lines)",
                self.bad_lines - listed
            ));
        }
        Some(if self.points > 0 {
            format!("partial write: {msg} dropped={}", self.bad_lines)
        } else {
            msg
        })
    }
}

/// Decoding settings a listener applies to everything it receives.
#[derive(Clone, Copy, Debug)]
pub struct LineSettings {
    pub accept_unsigned: bool,
    /// `ingest.backpressure_timeout`.
    pub backpressure_timeout: std::time::Duration,
    /// `ingest.max_*`: line length, fields, tags, errors kept.
    pub limits: crate::lp::LineLimits,
}

thread_local! {
    // One decoder per thread keeps its series caches warm across requests
    // without a lock; decoding never awaits, so a request never moves threads
    // mid-decode.
    static DECODER: RefCell<Decoder> = RefCell::new(Decoder::new());
}

/// The current time in nanoseconds, the timestamp of lines that carry none.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Decodes `body` with this thread's decoder, counts it (lines refused for
/// a limit in `breaches`) and hands the good points to `sink`.
pub fn decode_and_route(
    sink: &Arc<dyn PointSink>,
    counters: &DbRpCounters,
    breaches: &Arc<LimitBreaches>,
    dbrp: &DbRp,
    body: &[u8],
    precision: Precision,
    settings: LineSettings,
) -> WriteOutcome {
    let run = |decoder: &mut Decoder| {
        if !decoder
            .breaches
            .as_ref()
            .is_some_and(|b| Arc::ptr_eq(b, breaches))
        {
            decoder.breaches = Some(breaches.clone());
        }
        decode_with(decoder, sink, counters, dbrp, body, precision, settings)
    };
    DECODER.with(|d| match d.try_borrow_mut() {
        Ok(mut decoder) => run(&mut decoder),
        // Only reachable if a sink re-entered ingest on this thread; a fresh
        // decoder is slower but correct.
        Err(_) => run(&mut Decoder::new()),
    })
}

/// Like [`decode_and_route`], with a decoder the caller owns (one per TCP
/// connection or UDP socket).
pub fn decode_with(
    decoder: &mut Decoder,
    sink: &Arc<dyn PointSink>,
    counters: &DbRpCounters,
    dbrp: &DbRp,
    body: &[u8],
    precision: Precision,
    settings: LineSettings,
) -> WriteOutcome {
    let opts = DecodeOptions {
        precision,
        now_ns: now_ns(),
        accept_unsigned: settings.accept_unsigned,
    };
    let mut points: Vec<Point> = Vec::new();
    let mut errors = Vec::new();
    decoder.limits = settings.limits;
    let bad_lines = decoder.decode(body, &opts, &mut points, &mut errors);
    counters.record(body.len(), points.len(), bad_lines);
    let mut outcome = WriteOutcome {
        points: points.len(),
        errors,
        bad_lines,
        held: None,
    };
    if !points.is_empty() {
        outcome.held = sink
            .try_write(PointBatch {
                dbrp: dbrp.clone(),
                points,
            })
            .err();
    }
    outcome
}

/// Waits, without holding a thread, for the tasks that must not lose a
/// write's points to have room for them, and hands them over; `Err` with
/// the number of points when `timeout` passes first. Then the sink counts
/// them as refused when `writer_told` (the caller answers 503), else as
/// dropped.
pub async fn wait_for_room(
    sink: &Arc<dyn PointSink>,
    mut held: Held,
    timeout: std::time::Duration,
    writer_told: bool,
) -> Result<(), usize> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(sink.refuse(held, writer_told));
        }
        tokio::time::sleep(pause.min(left)).await;
        // Tasks drain in slices of milliseconds: no point asking more often.
        pause = (pause * 2).min(std::time::Duration::from_millis(20));
        match sink.retry(held) {
            Ok(()) => return Ok(()),
            Err(back) => held = back,
        }
    }
}
