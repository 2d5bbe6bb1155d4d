//! The router: decides, once per point, which tasks receive it.
//!
//! Tasks arrive in a later step; until then the router accepts every batch
//! and counts what nobody consumed, so a daemon with no tasks still accepts
//! and counts writes.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::PointBatch;

/// Where listeners hand decoded points. Implemented by the [`Router`]; tests
/// and benchmarks may use their own.
pub trait PointSink: Send + Sync + 'static {
    /// Takes a batch. Must not block on slow consumers: a full queue drops and
    /// counts rather than stalls ingest.
    fn write(&self, batch: PointBatch);
}

/// Routes points to the tasks that want them.
#[derive(Debug, Default)]
pub struct Router {
    unrouted_points: AtomicU64,
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// Points that no task wanted.
    pub fn unrouted_points(&self) -> u64 {
        self.unrouted_points.load(Ordering::Relaxed)
    }
}

impl PointSink for Router {
    fn write(&self, batch: PointBatch) {
        self.unrouted_points.fetch_add(batch.points.len() as u64, Ordering::Relaxed);
    }
}
