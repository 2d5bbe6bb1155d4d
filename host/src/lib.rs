//! The task host: where every task of kapacitord runs.
//!
//! A task is its DAG, its inbox and a clock ([`Runner`]). A fixed [`Pool`]
//! of worker threads runs all tasks: a task is scheduled when its inbox has
//! work or its timer is due, never runs on two workers at once (so the
//! order of its input is kept), and yields after a bounded slice so one hot
//! task cannot starve the rest. A defined but idle task costs its DAG and a
//! few hundred bytes, not a thread.
//!
//! The same [`Runner`] serves the live daemon (wall clock), `kapacitor test`
//! and replays (the data's own time, as fast as the machine allows).
//!
//! What this crate does not own: building a DAG from a script (`pipeline`),
//! routing points to tasks (`pipeline::Router`, which offers to a task's
//! [`Inbox`]), and the effects a task's nodes hand off (alert handlers,
//! outputs), which live with the daemon.

mod inbox;
mod pool;
mod runner;

pub use inbox::{Inbox, InboxCounts, Input};
pub use pool::{Failure, Pool, TaskHandle, Unit, blocking};
pub use runner::{ClockMode, Runner, TaskKind};

/// The wall clock, in ns since the Unix epoch.
pub fn wall_clock_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
