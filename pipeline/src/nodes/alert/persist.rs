//! Alert state that outlives a task: what a restarted task needs to go on
//! where the old one stopped, so a restart neither repeats an alert that is
//! still standing (under `stateChangesOnly`) nor loses its recovery.
//!
//! The node asks once per alert id, when the id is first seen, and tells of
//! every event it sends. Storing is the implementer's business and must not
//! block: the node calls these on the data path.

use super::event::Level;

/// What is kept of one alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavedAlert {
    pub level: Level,
    /// When the alert left OK (the start of its duration), ns.
    pub since: i64,
    /// When its last event was sent, ns.
    pub last_event: i64,
}

/// Where a task's alert node keeps its states across restarts.
pub trait AlertStateStore: Send + Sync {
    /// The state alert `id` was left in, if not OK.
    fn load(&self, id: &str) -> Option<SavedAlert>;
    /// Alert `id` sent an event: `state.level` is its level now.
    fn save(&self, id: &str, state: SavedAlert);
}
